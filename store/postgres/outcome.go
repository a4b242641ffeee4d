package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// writeError returns the error of a write that failed with err, saying
// which of the three outcomes of the package documentation it had.
// committing tells whether err came from the request that commits the
// write: its only statement, run outside a transaction, or the COMMIT of
// its transaction. Such a request may have committed on the server when
// it was sent and the answer did not come back (the deadline or a
// cancellation cut the connection, or the connection broke): the error
// then matches [store.ErrOutcomeUnknown]. An error before that request,
// or one the server answered it with, means that nothing was stored. When
// ctx has ended, the error matches ctx.Err() too, in either case.
//
// Every write of the store ends here: appends (appendOnce), consumers'
// commits (commit), and the writes of one statement (writeStatement).
func writeError(ctx context.Context, err error, committing bool) error {
	if committing && !answered(err) {
		return outcomeUnknown(ctx, err)
	}
	return notStored(ctx, err)
}

// outcomeUnknown returns the error of a write that may have committed.
func outcomeUnknown(ctx context.Context, err error) error {
	if done := ctx.Err(); done != nil && !errors.Is(err, done) {
		return fmt.Errorf("%w: %w (%w)", done, store.ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("%w (%w)", store.ErrOutcomeUnknown, err)
}

// notStored returns the error of a write that did not commit. When ctx
// has ended, the error matches ctx.Err() and says that nothing was
// stored; the database's own answers (a conflict, a duplicate event ID, a
// checkpoint moved backwards) are returned as they are.
//
// An error that is neither the server's nor the store's answer (the
// connection broke, or could not be had, before the write was sent) says
// that nothing was stored too: "unexpected EOF" alone reads as if the
// write could have committed.
func notStored(ctx context.Context, err error) error {
	answer := isAnswer(err)
	var pgErr *pgconn.PgError
	if !answer && ctx.Err() == nil && !errors.As(err, &pgErr) {
		return check.NothingStored(err)
	}
	return check.NotStored(ctx, err, answer)
}

// answered reports whether err tells for sure that the request it failed
// did not commit: none of the request left (pgx says it is safe to
// retry), or the server answered it with an error of its own (a
// constraint, a lock timeout, a COMMIT that rolled back). An error that
// ends the session (57P0x, such as an administrator's termination, or
// 08xxx) is not an answer: it can come after the commit. Nor is one of
// severity FATAL or PANIC, whatever its code: a PANIC (pg_wal's disk
// full, say) crashes the server, whose recovery then replays the commits
// already in the WAL, and the backend that flushed its own commit record
// may have flushed others' too before the write that failed.
//
// Nor is pgx's "conn closed" (pgconn.ErrConnClosed), though pgx says it
// is safe to retry: a reader of several results (a batch, and the
// simple-protocol COMMIT of a transaction) that loses the connection
// while it waits for the next result reports that error, not the
// connection's, after the request was sent. The store sends a committing
// request only on a connection whose every earlier request of the write
// succeeded, so the error cannot mean that the connection was closed
// before it.
func answered(err error) bool {
	if errors.Is(err, pgconn.ErrConnClosed) {
		return false
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, pgx.ErrTxCommitRollback) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	severity := pgErr.SeverityUnlocalized // from PostgreSQL 9.6; Severity may be translated
	if severity == "" {
		severity = pgErr.Severity
	}
	return severity != "FATAL" && severity != "PANIC" &&
		!strings.HasPrefix(pgErr.Code, "57P0") && !strings.HasPrefix(pgErr.Code, "08")
}

// isAnswer reports whether err is the store's answer to a write, which
// the database gave before anything cut the write short.
func isAnswer(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrDuplicateEvent) ||
		errors.Is(err, store.ErrCheckpointBackwards)
}

// writeStatement runs fn, a write of one statement outside a transaction
// that is safe to repeat (an upsert, a delete), and runs it once more when
// the first try met a connection the server had closed. It returns nil
// when a try succeeded, and otherwise an error as writeError says, whose
// outcome is unknown when the outcome of either try is.
func (s *Store) writeStatement(ctx context.Context, fn func() error) error {
	err := fn()
	if err == nil {
		return nil
	}
	unknown := !answered(err)
	if connectionLost(err) && ctx.Err() == nil {
		s.dropDeadConnections(ctx, err)
		if err = fn(); err == nil {
			return nil
		}
		unknown = unknown || !answered(err)
	}
	s.dropDeadConnections(ctx, err)
	if unknown {
		return outcomeUnknown(ctx, err)
	}
	return notStored(ctx, err)
}
