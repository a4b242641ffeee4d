package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MigrateTo creates or upgrades the tables of a store in schema with
// prefix to version only, as an older program would have left them.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, schema, prefix string, version int) error {
	n, err := newNames(schema, prefix)
	if err != nil {
		return err
	}
	return migrateTo(ctx, pool, n, version)
}

// SetSequenceBatch makes the sequencing steps of s number batches of at
// least n events, rather than thousands, so that tests of a few events
// take the bounded path.
func SetSequenceBatch(s *Store, n int64) { s.batch = n }

// WaitLockKey returns the key of the advisory lock that waiting consumers
// of s hold, for tests that play a waiter.
func WaitLockKey(s *Store) int64 { return s.n.waitLock }

// SetsParam exposes setsParam to the external tests.
var SetsParam = setsParam

// ParseURL exposes parseURL's connection URL to the external tests.
func ParseURL(rawURL string) (string, error) {
	u, _, err := parseURL(rawURL)
	return u, err
}
