package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// CreateSubjectKey implements [store.KeyStore]. One statement inserts the
// key or, when the subject has one, returns that one, so concurrent
// creators in any process agree on the first.
func (s *Store) CreateSubjectKey(ctx context.Context, k store.SubjectKey) (store.SubjectKey, error) {
	if err := check.SubjectKey(k); err != nil {
		return store.SubjectKey{}, err
	}
	if err := s.writable(ctx, &s.keyWrites); err != nil {
		return store.SubjectKey{}, err
	}
	stored := store.SubjectKey{Subject: k.Subject}
	now := time.Now().UnixNano()
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.StmtContext(ctx, s.createKey).QueryRowContext(ctx, k.Subject, k.KeyID, k.Wrapped, now).Scan(&stored.KeyID, &stored.Wrapped)
	})
	if err != nil {
		return store.SubjectKey{}, s.fail(fmt.Errorf("create key of data subject %q: %w", k.Subject, err))
	}
	return stored, nil
}

// SubjectKey implements [store.KeyStore].
func (s *Store) SubjectKey(ctx context.Context, subject string) (store.SubjectKey, error) {
	if err := check.Subject(subject); err != nil {
		return store.SubjectKey{}, err
	}
	if err := s.usable(ctx, &s.keyReads); err != nil {
		return store.SubjectKey{}, err
	}
	k := store.SubjectKey{Subject: subject}
	err := s.subjectKey.QueryRowContext(ctx, subject).Scan(&k.KeyID, &k.Wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SubjectKey{}, fmt.Errorf("key of data subject %q: %w", subject, store.ErrNotFound)
	}
	if err != nil {
		return store.SubjectKey{}, s.fail(fmt.Errorf("read key of data subject %q: %w", subject, err))
	}
	return k, nil
}

// DeleteSubjectKey implements [store.KeyStore]. In one write
// transaction it deletes the key's row and rewrites the rest of the key
// table, so that no copy of the key is left anywhere in the table's pages
// (see the package documentation); then it checkpoints the write-ahead
// log into the database file and truncates it, so that no older copy of
// those pages is left in the log. The rewrite takes time in proportion to
// the number of keys stored. When other connections' reads keep the log
// from being truncated within the busy timeout, the key is deleted all
// the same but DeleteSubjectKey returns an error that says so; calling it
// again, as deleting is idempotent, finishes the job.
func (s *Store) DeleteSubjectKey(ctx context.Context, subject string) error {
	if err := check.Subject(subject); err != nil {
		return err
	}
	if err := s.writable(ctx, &s.keyWrites); err != nil {
		return err
	}
	if err := s.write(ctx, func(tx *sql.Tx) error { return s.deleteKey(ctx, tx, subject) }); err != nil {
		return s.fail(fmt.Errorf("delete key of data subject %q: %w", subject, err))
	}
	if s.path == Memory {
		return nil // no file holds it
	}
	if err := s.truncateLog(ctx, "DeleteSubjectKey"); err != nil {
		if done := ctx.Err(); done != nil && !errors.Is(err, done) {
			err = fmt.Errorf("%w: %w", done, err)
		}
		return s.fail(fmt.Errorf("key of data subject %q deleted, but %w", subject, err))
	}
	return nil
}

// deleteKey deletes the key of subject in tx and rewrites the key table.
func (s *Store) deleteKey(ctx context.Context, tx *sql.Tx, subject string) error {
	res, err := tx.StmtContext(ctx, s.deleteKeyRow).ExecContext(ctx, subject)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	for _, st := range []*sql.Stmt{s.copyKeys, s.clearKeys, s.restoreKeys, s.clearScratch} {
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx); err != nil {
			return fmt.Errorf("rewrite the key table: %w", err)
		}
	}
	return nil
}

// truncateLog copies every page of the write-ahead log into the database
// file and truncates the log to zero bytes. again names the method to call
// again when readers kept it from doing so.
func (s *Store) truncateLog(ctx context.Context, again string) error {
	defer s.ckpt.hold()()
	var busy, frames, done int
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		return fmt.Errorf("checkpointing the write-ahead log failed: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("readers in other connections kept the write-ahead log from being checkpointed and truncated within the busy timeout (%v), so older copies of its bytes may remain in %s-wal until the next checkpoint; call %s again", s.cfg.busyTimeout, s.path, again)
	}
	return nil
}

// PurgeDeletedStates rewrites the table of view states and truncates the
// write-ahead log, so that the states a view deleted or replaced are in
// neither the database file nor its -wal file. A view's states are plain
// JSON, personal fields included: after a subject is forgotten and its
// views rebuilt (ops rebuild deletes every state of a view and writes
// them again), secure_delete has zeroed the rows deleted, but copies the
// b-tree left when it moved rows between pages may remain in the pages'
// unused space, and the log holds the pages as they were until it is
// checkpointed and truncated. So, in one write transaction, it copies
// the states to a scratch table in the same file (not to a temporary
// table, which SQLite may keep in a file of its own, elsewhere), empties
// the states table, whose pages are freed and zeroed, copies the states
// back, and empties and drops the scratch table the same way; then it
// truncates the log as
// [Store.DeleteSubjectKey] does, with the same limits and the same
// error when readers keep the log from being truncated. It takes time in
// proportion to the states stored, and holds the writer while it runs.
func (s *Store) PurgeDeletedStates(ctx context.Context) error {
	if err := s.writable(ctx); err != nil {
		return err
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`CREATE TABLE main.annals_view_states_purge AS SELECT view_name, state_key, data FROM main.annals_view_states`,
			`DELETE FROM main.annals_view_states`,
			`INSERT INTO main.annals_view_states (view_name, state_key, data) SELECT view_name, state_key, data FROM main.annals_view_states_purge`,
			`DELETE FROM main.annals_view_states_purge`,
			`DROP TABLE main.annals_view_states_purge`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(fmt.Errorf("purge deleted view states: %w", err))
	}
	if s.path == Memory {
		return nil // no file holds them
	}
	if err := s.truncateLog(ctx, "PurgeDeletedStates"); err != nil {
		if done := ctx.Err(); done != nil && !errors.Is(err, done) {
			err = fmt.Errorf("%w: %w", done, err)
		}
		return s.fail(fmt.Errorf("view states purged, but %w", err))
	}
	return nil
}
