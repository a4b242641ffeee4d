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
