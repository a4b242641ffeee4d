package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// write runs fn in a write transaction of the writer connection (BEGIN
// IMMEDIATE) and commits it. Every write of the store but the appends
// goes through it, even one of a single statement, so that every write
// ends the same way, in one of the three outcomes of the package
// documentation; appends share transactions through the group committer
// (group.go), which ends each of them in the same outcomes:
//
//   - nil: committed, even if ctx ended meanwhile;
//   - an error matching [store.ErrOutcomeUnknown]: SQLite failed the
//     COMMIT with an I/O error, which can come after the commit record
//     reached the disk;
//   - any other error: nothing of fn's writes is stored.
//
// When ctx has ended, an error matches ctx.Err() too, whatever met the
// write first: database/sql's rollback of a transaction whose context
// ended (after which the transaction answers [sql.ErrTxDone]), SQLite's
// interruption of a statement, or the wait for the writer connection.
// SQLite runs in the process, so its answer is never cut off: a COMMIT
// that was interrupted has not committed, and one that committed reports
// success, so a deadline alone never leaves the outcome unknown. A single
// statement outside a transaction would be different: the driver reports
// the context's error for a statement it interrupted, even when the
// statement and its implicit commit had finished.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	s.group.outside.Add(1)
	defer s.group.outside.Add(-1)
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return notStored(ctx, explainBusy(err, s.cfg.busyTimeout))
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE, see dsn
	if err != nil {
		return notStored(ctx, explainBusy(err, s.cfg.busyTimeout))
	}
	// When fn panics, the transaction ends here, before the connection
	// goes back: closing a connection whose transaction is open waits for
	// it for good, and the panic would never reach the caller, nor would
	// any later write get the writer. After a commit or a rollback it does
	// nothing.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // it may have been rolled back already
		return notStored(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return commitFailed(ctx, err)
	}
	s.ckpt.committed(conn)
	return nil
}

// notStored returns the error of a write that did not commit. When ctx has
// ended, the error matches ctx.Err() and says that nothing was stored;
// the database's own answers (a conflict, a duplicate event ID, a
// checkpoint moved backwards) are returned as they are.
func notStored(ctx context.Context, err error) error {
	return check.NotStored(ctx, err, isAnswer(err))
}

// isAnswer reports whether err is the store's answer to the write, which
// the database gave before anything cut the write short.
func isAnswer(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrDuplicateEvent) ||
		errors.Is(err, store.ErrCheckpointBackwards)
}

// commitFailed returns the error of a COMMIT that failed. SQLite rolls a
// transaction back when its COMMIT fails (the driver finishes the job
// when SQLite left it open, as after SQLITE_BUSY), except that an I/O
// error may come after the log's commit record was written: the next
// open of the file may find it committed.
func commitFailed(ctx context.Context, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_IOERR {
		if done := ctx.Err(); done != nil {
			return fmt.Errorf("commit: %w: %w: %w", done, store.ErrOutcomeUnknown, err)
		}
		return fmt.Errorf("commit: %w: %w", store.ErrOutcomeUnknown, err)
	}
	return notStored(ctx, fmt.Errorf("commit: %w", err))
}

// exec runs one statement prepared on the writer connection, through
// write, and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, st *sql.Stmt, args ...any) (changed int64, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		changed, err = res.RowsAffected()
		return err
	})
	return changed, err
}
