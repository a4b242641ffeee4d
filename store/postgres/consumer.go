package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/internal/staged"
	"github.com/annals-dev/annals/internal/storefault"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

var (
	_ store.StateBatchTx    = (*stateTx)(nil)
	_ store.StateBatchStore = (*Store)(nil)
)

// rollbackTimeout bounds the ROLLBACK of a consumer's transaction that
// failed, which runs even when the caller's context is done.
const rollbackTimeout = 5 * time.Second

// Commit implements [store.Committer] for view states kept in the store.
// The transaction starts with the compared-and-set checkpoint (see
// [Store.SQL]); the states fn saves or deletes are kept in memory until fn
// returns, and then written in one round trip, as one multi-row statement
// each for cleared views, deleted states and saved states. Reads inside
// fn see fn's own writes.
func (s *Store) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if err := check.Commit(consumer, from, to, fn == nil); err != nil {
		return err
	}
	if err := s.refuseClosed(); err != nil {
		return err
	}
	return s.commit(ctx, consumer, from, to, func(tx pgx.Tx) error {
		st := &stateTx{tx: tx, sql: &s.sql}
		if err := fn(st); err != nil {
			return err
		}
		if err := st.flush(ctx); err != nil {
			return fmt.Errorf("consumer %q: write view states: %w", consumer, err)
		}
		return nil
	})
}

// SQL returns the committer for read models in the application's own
// tables, in the store's database: its Commit runs fn in the transaction
// that moves consumer's checkpoint, and passes fn that transaction, so
// that what fn writes and the checkpoint commit together or not at all.
// annals.NewProjection reaches it through the application's handle:
//
//	p, err := annals.NewProjection(s, "order-table", events, func(ctx context.Context, tx pgx.Tx, ev annals.Envelope[Event]) error {
//		_, err := tx.Exec(ctx, "INSERT INTO orders …", …)
//		return err
//	})
//
// fn may run any statement in tx, including savepoints (tx.Begin). It
// must not commit or roll back tx (both fail with an error: return an
// error from fn to roll back), and must not append to the store or use
// another connection of its pool for what must commit with the batch:
// those commit on their own, whatever becomes of the batch, and an append
// waiting for a pool connection while fn holds one can wait forever. The
// package documentation says more.
func (s *Store) SQL() store.Committer[pgx.Tx] { return sqlCommitter{s} }

type sqlCommitter struct{ s *Store }

func (c sqlCommitter) Commit(ctx context.Context, consumer string, from, to int64, fn func(pgx.Tx) error) error {
	if err := check.Commit(consumer, from, to, fn == nil); err != nil {
		return err
	}
	if err := c.s.refuseClosed(); err != nil {
		return err
	}
	return c.s.commit(ctx, consumer, from, to, func(tx pgx.Tx) error {
		err := fn(handlerTx{tx})
		if err != nil && tx.Conn().IsClosed() {
			// The connection broke under the handler: whatever it
			// returned, the batch could not commit, and is the store's
			// to run again, not the event's to stop at.
			return storefault.Mark(err)
		}
		return err
	})
}

// errHandlerEndsTx is the error of a handler that tries to end the
// transaction Commit gave it.
var errHandlerEndsTx = errors.New("the transaction of a consumer's batch is committed or rolled back by Commit, not by its handler: return nil to commit, an error to roll back")

// handlerTx is the transaction a handler gets: the store's own, whose end
// the store decides.
type handlerTx struct{ pgx.Tx }

func (handlerTx) Commit(context.Context) error   { return errHandlerEndsTx }
func (handlerTx) Rollback(context.Context) error { return errHandlerEndsTx }

// commit runs fn in a transaction that first moves consumer's checkpoint
// from from to to, compared and set in one statement (an UPDATE with the
// expected position as its predicate). That statement also locks the
// checkpoint's row until the transaction ends: another instance's commit
// waits for it, then finds the checkpoint moved and fails with
// [store.ErrConflict] before its fn runs. fn's error is returned as it
// is, except that it also matches ctx.Err() once ctx has ended. Only an
// error of the COMMIT can leave the outcome unknown (see writeError).
func (s *Store) commit(ctx context.Context, consumer string, from, to int64, fn func(pgx.Tx) error) error {
	if err := check.Commit(consumer, from, to, fn == nil); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var tx pgx.Tx
	// Nothing has run yet when the first statement meets a dead
	// connection: it is safe to start again on another.
	err := s.retry(ctx, func() (err error) {
		tx, err = s.beginConsumer(ctx, consumer, from, to)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return err
		}
		return fmt.Errorf("consumer %q: begin the commit from %d to %d: %w", consumer, from, to, writeError(ctx, err, false))
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(ctx) // a no-op after Commit
	}()
	if err := fn(tx); err != nil {
		// As it is, but for the context's error once it has ended:
		// the COMMIT was not sent, so nothing was stored.
		return writeError(ctx, err, false)
	}
	if err := tx.Commit(ctx); err != nil {
		s.dropDeadConnections(ctx, err)
		return fmt.Errorf("consumer %q: commit from %d to %d: %w", consumer, from, to, writeError(ctx, err, true))
	}
	return nil
}

// beginConsumer begins a transaction and moves the checkpoint in it.
func (s *Store) beginConsumer(ctx context.Context, consumer string, from, to int64) (pgx.Tx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	rollback := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(ctx)
	}
	cas := s.sql.casCheckpoint
	if from == 0 {
		cas = s.sql.casFirstCheckpoint
	}
	tag, err := tx.Exec(ctx, cas, consumer, from, to)
	if err != nil {
		rollback()
		return nil, err
	}
	if tag.RowsAffected() == 1 {
		return tx, nil
	}
	var actual int64
	err = tx.QueryRow(ctx, s.sql.checkpoint, consumer).Scan(&actual)
	rollback()
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("consumer %q: checkpoint is not at %d; reading it: %w", consumer, from, err)
	}
	if err := check.Checkpoint(consumer, from, actual); err != nil {
		return nil, err
	}
	// It moved away from from and back between the two statements.
	return nil, fmt.Errorf("consumer %q: checkpoint moved from %d while the commit began (another instance moved it): %w", consumer, from, store.ErrConflict)
}

// LoadState implements [store.StateStore]: it reads the committed state.
func (s *Store) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	if err := check.State(view, key); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	var data []byte
	err := s.retry(ctx, func() error { return s.pool.QueryRow(ctx, s.sql.loadState, view, key).Scan(&data) })
	return stateResult(view, key, data, err)
}

// LoadStates implements [store.StateBatchStore]: it reads the committed
// states of keys in one query.
func (s *Store) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	if err := check.States(view, keys); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.refuseClosedRead(); err != nil {
		return nil, fmt.Errorf("load states of view %q: %w", view, err)
	}
	out := make(map[string][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	err := s.retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, s.sql.loadStates, view, keys)
		if err == nil {
			err = scanStates(rows, out)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load states of view %q: %w", view, err)
	}
	return out, nil
}

// scanStates reads rows of keys and states into out.
func scanStates(rows pgx.Rows, out map[string][]byte) error {
	var key string
	var data []byte
	_, err := pgx.ForEachRow(rows, []any{&key, &data}, func() error {
		if data == nil {
			data = []byte{}
		}
		out[key] = data // a new slice each row
		return nil
	})
	return err
}

func stateResult(view, key string, data []byte, err error) ([]byte, bool, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load state %q of view %q: %w", key, view, err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, true, nil
}

// stateTx keeps the writes of a consumer's batch until its handler
// returns, then writes them all in one round trip. Reads look at the
// pending writes first, then at the database, in the transaction.
type stateTx struct {
	staged.Writes
	tx  pgx.Tx
	sql *statements
}

func (t *stateTx) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	if err := check.State(view, key); err != nil {
		return nil, false, err
	}
	if data, ok, decided := t.Staged(view, key); decided {
		return data, ok, nil
	}
	var data []byte
	err := t.tx.QueryRow(ctx, t.sql.loadState, view, key).Scan(&data)
	return stateResult(view, key, data, err)
}

// LoadStates implements [store.StateBatchTx]: the keys the batch has not
// written are read in one query.
func (t *stateTx) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	if err := check.States(view, keys); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	var missing []string
	for _, k := range keys {
		data, ok, decided := t.Staged(view, k)
		if !decided {
			missing = append(missing, k)
		} else if ok {
			out[k] = data
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := t.tx.Query(ctx, t.sql.loadStates, view, missing)
	if err == nil {
		err = scanStates(rows, out)
	}
	if err != nil {
		return nil, fmt.Errorf("load states of view %q: %w", view, err)
	}
	return out, nil
}

// flush writes the pending changes: cleared views first, then the
// deleted and the saved states, which the clearing did not cancel. Rows
// are written in key order, so that two transactions writing the same
// states lock them in the same order and cannot deadlock.
func (t *stateTx) flush(ctx context.Context) error {
	b := &pgx.Batch{}
	if views := t.Cleared(); len(views) > 0 {
		b.Queue(t.sql.clearStates, views)
	}
	var delViews, delKeys, saveViews, saveKeys []string
	var saveData [][]byte
	_ = t.EachInOrder(func(view, key string, data []byte) error {
		if data == nil {
			delViews, delKeys = append(delViews, view), append(delKeys, key)
		} else {
			saveViews, saveKeys, saveData = append(saveViews, view), append(saveKeys, key), append(saveData, data)
		}
		return nil
	})
	if len(delKeys) > 0 {
		b.Queue(t.sql.deleteStates, delViews, delKeys)
	}
	if len(saveKeys) > 0 {
		b.Queue(t.sql.saveStates, saveViews, saveKeys, saveData)
	}
	if b.Len() == 0 {
		return nil
	}
	return t.tx.SendBatch(ctx, b).Close()
}
