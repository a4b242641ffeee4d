package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/annals-dev/annals/internal/staged"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

var (
	_ store.StateBatchTx    = (*stateTx)(nil)
	_ store.StateBatchStore = (*Store)(nil)
	_ store.Locker          = (*Store)(nil)
)

// consumers holds what the store keeps for consumers of the log besides
// checkpoints: view states and leases.
type consumers struct {
	commit sync.Mutex                   // serialises Commit, like a database's write lock
	states map[string]map[string][]byte // view → key → state, guarded by Store.mu
	leases map[string]chan struct{}     // held lease → closed on release, guarded by Store.mu
}

// Commit implements [store.Committer] for view states.
func (s *Store) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if err := check.Commit(consumer, from, to, fn == nil); err != nil {
		return err
	}
	s.consumers.commit.Lock()
	defer s.consumers.commit.Unlock()
	if err := s.checkCheckpoint(ctx, consumer, from); err != nil {
		return err
	}
	tx := &stateTx{s: s}
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(ctx); err != nil {
		return err
	}
	// Commits are serialised, but SetCheckpoint is not: check again.
	if err := check.Checkpoint(consumer, from, s.checkpoints[consumer]); err != nil {
		return err
	}
	for _, view := range tx.Cleared() {
		delete(s.consumers.states, view)
	}
	_ = tx.Each(func(view, key string, data []byte) error {
		states := s.consumers.states[view]
		if data == nil {
			delete(states, key)
			return nil
		}
		if states == nil {
			states = map[string][]byte{}
			s.consumers.states[view] = states
		}
		states[key] = data
		return nil
	})
	s.checkpoints[consumer] = to
	return nil
}

func (s *Store) checkCheckpoint(ctx context.Context, consumer string, from int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return check.Checkpoint(consumer, from, s.checkpoints[consumer])
}

// LoadState implements [store.StateStore].
func (s *Store) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	if err := check.State(view, key); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable(fmt.Sprintf("load state %q of view %q", key, view)); err != nil {
		return nil, false, err
	}
	data, ok := s.consumers.states[view][key]
	return clone(data), ok, nil
}

// LoadStates implements [store.StateBatchStore].
func (s *Store) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	if err := check.States(view, keys); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable(fmt.Sprintf("load states of view %q", view)); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if data, ok := s.consumers.states[view][k]; ok {
			out[k] = clone(data)
		}
	}
	return out, nil
}

// stateTx stages writes until Commit applies them all at once.
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

// LoadStates implements [store.StateBatchTx].
func (tx *stateTx) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		data, ok, err := tx.LoadState(ctx, view, k)
		if err != nil {
			return nil, err
		}
		if ok {
			out[k] = data
		}
	}
	return out, nil
}

// Lock implements [store.Locker] within the process: the store is the
// only thing its leases guard.
func (s *Store) Lock(ctx context.Context, name string) (store.Lease, error) {
	if err := check.Consumer(name); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, fmt.Errorf("lock %q: %w", name, errClosed)
		}
		held, busy := s.consumers.leases[name]
		if !busy {
			released := make(chan struct{})
			s.consumers.leases[name] = released
			s.mu.Unlock()
			return &lease{s: s, name: name, released: released}, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-held:
		}
	}
}

type lease struct {
	s        *Store
	name     string
	released chan struct{}
	once     sync.Once
}

// Lost never fires: a lease in memory lasts as long as the process.
func (l *lease) Lost() <-chan struct{} { return nil }

func (l *lease) Release() error {
	l.once.Do(func() {
		l.s.mu.Lock()
		delete(l.s.consumers.leases, l.name)
		l.s.mu.Unlock()
		close(l.released)
	})
	return nil
}
