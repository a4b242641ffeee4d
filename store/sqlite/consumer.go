package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/annals-dev/annals/internal/staged"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Commit implements [store.Committer] for view states kept in the store.
//
// fn runs before the write transaction begins, so that the write lock is
// not held while a view folds its events: the states it saves and
// deletes are staged in memory, and its reads see the committed states
// with its own writes over them. Then one write transaction checks that
// neither the consumer's checkpoint nor its generation (a count of its
// commits) has changed since fn started, applies the staged writes and
// moves the checkpoint. A commit of another instance in between, even
// one that moved the checkpoint away and back, fails this one with
// [store.ErrConflict].
func (s *Store) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if err := check.Commit(consumer, from, to, fn == nil); err != nil {
		return err
	}
	if err := s.writable(ctx, &s.consumerReads, &s.consumerWrites); err != nil {
		return err
	}
	// The generation fn's reads start from.
	var pos, gen int64
	err := s.checkpointAndGen.QueryRowContext(ctx, consumer).Scan(&pos, &gen)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.fail(fmt.Errorf("consumer %q: read checkpoint: %w", consumer, notStored(ctx, err)))
	}
	if err := check.Checkpoint(consumer, from, pos); err != nil {
		return err
	}
	tx := &stateTx{s: s}
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.commit(ctx, consumer, from, to, gen, func(sqlTx *sql.Tx) error {
		for _, view := range tx.Cleared() {
			if _, err := sqlTx.StmtContext(ctx, s.deleteStates).ExecContext(ctx, view); err != nil {
				return fmt.Errorf("delete the states of view %q: %w", view, err)
			}
		}
		// A statement is bound to the transaction once, not per state.
		var save, del *sql.Stmt
		return tx.Each(func(view, key string, data []byte) error {
			var err error
			if data == nil {
				if del == nil {
					del = sqlTx.StmtContext(ctx, s.deleteState)
				}
				_, err = del.ExecContext(ctx, view, key)
			} else {
				if save == nil {
					save = sqlTx.StmtContext(ctx, s.saveState)
				}
				_, err = save.ExecContext(ctx, view, key, data)
			}
			if err != nil {
				return fmt.Errorf("write state %q of view %q: %w", key, view, err)
			}
			return nil
		})
	})
}

// anyGeneration makes commit compare the checkpoint alone: the function
// it runs is inside the transaction.
const anyGeneration = -1

// commit runs fn in a write transaction that first checks consumer's
// checkpoint (and, unless gen is anyGeneration, its generation) and
// finally moves it to to.
func (s *Store) commit(ctx context.Context, consumer string, from, to, gen int64, fn func(*sql.Tx) error) error {
	var handlerErr error
	err := s.write(ctx, func(tx *sql.Tx) error {
		var pos, nowGen int64
		err := tx.StmtContext(ctx, s.txCheckpoint).QueryRowContext(ctx, consumer).Scan(&pos, &nowGen)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		if err := check.Checkpoint(consumer, from, pos); err != nil {
			return err
		}
		if gen != anyGeneration && gen != nowGen {
			return fmt.Errorf("consumer %q: checkpoint is %d as expected, but another instance committed while this one worked (generation %d, expected %d): %w",
				consumer, pos, nowGen, gen, store.ErrConflict)
		}
		if handlerErr = fn(tx); handlerErr != nil {
			return handlerErr
		}
		if _, err := tx.StmtContext(ctx, s.putCheckpoint).ExecContext(ctx, consumer, to, time.Now().UnixNano()); err != nil {
			if errors.Is(err, sql.ErrTxDone) && ctx.Err() == nil {
				return fmt.Errorf("the handler committed or rolled back the transaction itself; it must leave that to Commit: %w", err)
			}
			return fmt.Errorf("move checkpoint: %w", err)
		}
		return nil
	})
	if err == nil || handlerErr != nil || errors.Is(err, store.ErrConflict) {
		// The handler's error is returned as it is, as Committer
		// promises; write adds only the context's, once it has ended.
		return err
	}
	return s.fail(fmt.Errorf("consumer %q: commit from %d to %d: %w", consumer, from, to, err))
}

// LoadState implements [store.StateStore]. It reads the committed state.
func (s *Store) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	if err := check.State(view, key); err != nil {
		return nil, false, err
	}
	if err := s.usable(ctx, &s.consumerReads); err != nil {
		return nil, false, err
	}
	var data []byte
	err := s.loadState.QueryRowContext(ctx, view, key).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.fail(fmt.Errorf("load state %q of view %q: %w", key, view, err))
	}
	if data == nil {
		data = []byte{}
	}
	return data, true, nil
}

// LoadStates implements [store.StateBatchStore]: it reads the committed
// states of keys in one query, which takes them as a JSON array.
func (s *Store) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	if err := check.States(view, keys); err != nil {
		return nil, err
	}
	if err := s.usable(ctx, &s.consumerReads); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("load states of view %q: %w", view, err)
	}
	if err := s.scanStates(ctx, view, string(list), out); err != nil {
		return nil, s.fail(fmt.Errorf("load states of view %q: %w", view, err))
	}
	return out, nil
}

func (s *Store) scanStates(ctx context.Context, view, keys string, out map[string][]byte) error {
	rows, err := s.loadStates.QueryContext(ctx, view, keys)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var data []byte
		if err := rows.Scan(&key, &data); err != nil {
			return err
		}
		if data == nil {
			data = []byte{}
		}
		out[key] = data
	}
	return rows.Err()
}

// stateTx stages the writes of a Commit until its write transaction.
type stateTx struct {
	staged.Writes
	s *Store
}

func (tx *stateTx) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	if err := check.State(view, key); err != nil {
		return nil, false, err
	}
	if data, ok, decided := tx.Staged(view, key); decided {
		return data, ok, nil
	}
	return tx.s.LoadState(ctx, view, key)
}

// SQL returns the committer of read models in the application's own
// tables of the database: its Commit runs the handler with the
// *sql.Tx of the write transaction that then moves the consumer's
// checkpoint, so the handler's writes and the checkpoint commit together
// or not at all. annals.NewProjection reaches it through the
// application's handle:
//
//	p, err := annals.NewProjection(s, "trick-counts", events, func(ctx context.Context, tx *sql.Tx, ev annals.Envelope[Event]) error {
//		_, err := tx.ExecContext(ctx, `UPDATE dogs SET tricks = tricks + 1 WHERE id = ?`, ev.StreamID)
//		return err
//	})
//
// The handler may read and write any table through tx, create tables, and
// read the store's tables; it must not commit or roll back tx, nor write
// the annals_ tables, nor change the connection's settings (PRAGMA). The
// transaction holds the store's only writer connection and the database's
// write lock until the handler returns, so the handler must not call the
// store (an append, a snapshot, another commit: each would wait for the
// connection the handler holds, forever; on an in-memory database every
// call would), and it should be quick: other writers wait meanwhile.
// tx.ExecContext prepares its statement on every call; a handler that
// runs one statement per event is faster with tx.PrepareContext once per
// transaction.
func (s *Store) SQL() store.Committer[*sql.Tx] { return sqlCommitter{s} }

type sqlCommitter struct{ s *Store }

func (c sqlCommitter) Commit(ctx context.Context, consumer string, from, to int64, fn func(*sql.Tx) error) error {
	if err := check.Commit(consumer, from, to, fn == nil); err != nil {
		return err
	}
	if err := c.s.writable(ctx, &c.s.consumerWrites); err != nil {
		return err
	}
	return c.s.commit(ctx, consumer, from, to, anyGeneration, fn)
}

// ReadDB returns the store's pool of query-only connections, for the
// queries of read models kept in the application's own tables (see
// [Store.SQL]). Do not close it; [Store.Close] does. On an in-memory
// database it is the store's only connection, which can also write: use
// it only to read, and close each query's rows before calling the store
// again.
func (s *Store) ReadDB() *sql.DB { return s.r }
