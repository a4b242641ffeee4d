package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

var _ store.KeyStore = (*Store)(nil)

// maxKeyCreateAttempts bounds how often CreateSubjectKey looks again for
// a key that another session created and then deleted at once.
const maxKeyCreateAttempts = 10

// CreateSubjectKey implements [store.KeyStore]. The first key stored for
// a subject wins: the insert does nothing when a key exists (waiting for
// a concurrent creator to commit), and then the stored key is read in a
// statement of its own, whose snapshot includes the winner.
func (s *Store) CreateSubjectKey(ctx context.Context, k store.SubjectKey) (store.SubjectKey, error) {
	if err := s.refuseClosed(); err != nil {
		return store.SubjectKey{}, err
	}
	if err := check.SubjectKey(k); err != nil {
		return store.SubjectKey{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.SubjectKey{}, err
	}
	stored := store.SubjectKey{Subject: k.Subject}
	// Both statements are safe to repeat on a dead connection: an insert
	// that committed unseen is found by the next try, as any first key is.
	for range maxKeyCreateAttempts {
		created := false
		err := s.writeStatement(ctx, func() error {
			err := s.pool.QueryRow(ctx, s.sql.createKey, k.Subject, k.KeyID, k.Wrapped).Scan(&stored.KeyID, &stored.Wrapped)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // another session's key was there first
			}
			created = err == nil
			return err
		})
		if err == nil && !created {
			err = s.retry(ctx, func() error {
				return s.pool.QueryRow(ctx, s.sql.subjectKey, k.Subject).Scan(&stored.KeyID, &stored.Wrapped)
			})
			if errors.Is(err, pgx.ErrNoRows) {
				continue // and was deleted since: try again
			}
			if err != nil {
				// The insert stored nothing: the key was another's.
				err = notStored(ctx, err)
			}
		}
		if err != nil {
			return store.SubjectKey{}, fmt.Errorf("create key of data subject %q: %w", k.Subject, err)
		}
		return stored, nil
	}
	return store.SubjectKey{}, fmt.Errorf("create key of data subject %q: the key was created and deleted by others %d times in a row", k.Subject, maxKeyCreateAttempts)
}

// SubjectKey implements [store.KeyStore].
func (s *Store) SubjectKey(ctx context.Context, subject string) (store.SubjectKey, error) {
	if err := check.Subject(subject); err != nil {
		return store.SubjectKey{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.SubjectKey{}, err
	}
	k := store.SubjectKey{Subject: subject}
	err := s.retry(ctx, func() error {
		return s.pool.QueryRow(ctx, s.sql.subjectKey, subject).Scan(&k.KeyID, &k.Wrapped)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SubjectKey{}, fmt.Errorf("key of data subject %q: %w", subject, store.ErrNotFound)
	}
	if err != nil {
		return store.SubjectKey{}, fmt.Errorf("key of data subject %q: %w", subject, err)
	}
	return k, nil
}

// DeleteSubjectKey implements [store.KeyStore]. The row is deleted at
// once; see the package documentation for what remains of it on disk
// until the table is vacuumed, in the WAL and in backups.
func (s *Store) DeleteSubjectKey(ctx context.Context, subject string) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	if err := check.Subject(subject); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Deleting is idempotent, so a delete that met a dead connection is
	// safe to repeat.
	err := s.writeStatement(ctx, func() error {
		_, err := s.pool.Exec(ctx, s.sql.deleteKey, subject)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete key of data subject %q: %w", subject, err)
	}
	return nil
}

// PurgeDeletedSubjectKeys rewrites the table of subject keys (VACUUM
// FULL), so that the bytes of the keys deleted by [Store.DeleteSubjectKey]
// are no longer in its files: a DELETE only marks a row dead, and a plain
// VACUUM, autovacuum's included, frees its space for reuse without
// overwriting it. See the package documentation for the copies this
// cannot reach (WAL, replicas' and backups' files).
//
// The rewrite holds an exclusive lock on the key table while it runs,
// so reads and writes of keys wait; it takes time in proportion to the
// number of keys stored. A key deleted while a transaction that started
// before the delete is still running survives the rewrite; purge when no
// long transaction runs. It needs the privileges of the table's owner.
func (s *Store) PurgeDeletedSubjectKeys(ctx context.Context) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "VACUUM (FULL) "+s.n.subjectKeys); err != nil {
		return fmt.Errorf("purge deleted subject keys: %w", err)
	}
	return nil
}

// PurgeDeletedStates rewrites the table of view states (VACUUM FULL), so
// that the states a view deleted or replaced are no longer in its files.
// A view's states are plain JSON, personal fields included: after a
// subject is forgotten and its views rebuilt (ops rebuild deletes every
// state of a view and writes them again), the old states are dead rows
// until a rewrite, as deleted keys are (see
// [Store.PurgeDeletedSubjectKeys], whose limits it shares). It holds an
// exclusive lock on the states table while it runs, so every view of the
// store waits.
func (s *Store) PurgeDeletedStates(ctx context.Context) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "VACUUM (FULL) "+s.n.states); err != nil {
		return fmt.Errorf("purge deleted view states: %w", err)
	}
	return nil
}
