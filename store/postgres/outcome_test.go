package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/annals-dev/annals/store"
)

// The error of the request that commits a write is an answer, telling
// that nothing was stored, only when the server answered the request
// itself: a FATAL or PANIC ends the session, or the server, and may come
// after the commit record was flushed, whatever its code. Found with
// pg_wal on a full disk: the backend flushing its commit PANICked with
// 53100 on the next segment, and recovery replayed the commit.
func TestOnlyTheServersOwnAnswerSaysNothingStored(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		err     error
		unknown bool
	}{
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "23505"}, false},
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "55P03"}, false},
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "53100"}, false},
		{&pgconn.PgError{Severity: "PANIC", SeverityUnlocalized: "PANIC", Code: "53100"}, true},
		{&pgconn.PgError{Severity: "PANIK", SeverityUnlocalized: "PANIC", Code: "58030"}, true},
		{&pgconn.PgError{Severity: "PANIC", Code: "XX000"}, true},
		{&pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "53100"}, true},
		{&pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01"}, true},
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "08006"}, true},
		{fmt.Errorf("commit: %w", pgconn.ErrConnClosed), true},
		{errors.New("read: connection reset by peer"), true},
	} {
		err := writeError(ctx, fmt.Errorf("append: %w", c.err), true)
		if got := errors.Is(err, store.ErrOutcomeUnknown); got != c.unknown {
			t.Errorf("committing request failed with %v: %v; want outcome unknown = %v", c.err, err, c.unknown)
		}
		if err := writeError(ctx, c.err, false); errors.Is(err, store.ErrOutcomeUnknown) {
			t.Errorf("a request before the commit failed with %v: %v; want nothing stored", c.err, err)
		}
	}
}
