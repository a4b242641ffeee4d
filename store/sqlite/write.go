package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

// isReadOnly reports whether err is SQLite's refusal to write a database
// that this process may only read: SQLITE_READONLY, with any of its
// extended codes.
func isReadOnly(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_READONLY
}

// explainReadOnly adds to the error of a write that SQLite refused, the
// file being read-only, what that means; other errors are returned as
// they are.
func explainReadOnly(err error, path string) error {
	if !isReadOnly(err) {
		return err
	}
	return fmt.Errorf("the database file %s is read-only to this process (its permissions, another user's file, or a read-only file system): the store can be read, not written: %w", path, err)
}

// explainUnreadable adds what to do to the error of the first read of a
// database file that SQLite could not open for reading because this
// process may not write it and its -wal and -shm files are missing.
// SQLite reads a database in WAL mode that it may not write only when
// those files exist beside it or it can create them, since the -shm file
// is how readers learn what writers in other processes are doing; it
// could read the file alone as immutable, but that is unsafe if another
// process may write it meanwhile, which the store cannot rule out. Other
// errors are returned as they are.
func explainUnreadable(err error, path string) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY_DIRECTORY, sqlite3.SQLITE_READONLY_CANTINIT:
	default:
		return err
	}
	if _, serr := os.Stat(path); serr != nil {
		return err
	}
	if _, serr := os.Stat(path + "-wal"); !errors.Is(serr, os.ErrNotExist) {
		return err
	}
	return fmt.Errorf("SQLite cannot read %s safely: the file is read-only to this process, and a database in WAL mode is read only with its -wal and -shm files beside it, which do not exist (no process has the store open) and cannot be created in %s (not writable to this process, or a read-only file system); copy the file to a directory you can write and open the copy, or open it as a user who may write that directory: %w",
		path, filepath.Dir(path), err)
}
