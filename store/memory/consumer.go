package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/annals-dev/annals/store"
)

var (
	_ store.StateBatchTx = (*stateTx)(nil)
	_ store.StateStore   = (*Store)(nil)
	_ store.Locker       = (*Store)(nil)
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
	if err := store.ValidateCommit(consumer, from, to); err != nil {
		return err
	}
	s.consumers.commit.Lock()
	defer s.consumers.commit.Unlock()
	if err := s.checkCheckpoint(ctx, consumer, from); err != nil {
		return err
	}
	tx := &stateTx{s: s, writes: map[stateKey][]byte{}, cleared: map[string]bool{}}
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	// Commits are serialised, but SetCheckpoint is not: check again.
	if err := store.CheckCheckpoint(consumer, from, s.checkpoints[consumer]); err != nil {
		return err
	}
	for view := range tx.cleared {
		delete(s.consumers.states, view)
	}
	for k, data := range tx.writes {
		states := s.consumers.states[k.view]
		if data == nil {
			delete(states, k.key)
			continue
		}
		if states == nil {
			states = map[string][]byte{}
			s.consumers.states[k.view] = states
		}
		states[k.key] = data
	}
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
	return store.CheckCheckpoint(consumer, from, s.checkpoints[consumer])
}

// LoadState implements [store.StateStore].
func (s *Store) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	if err := store.ValidateState(view, key); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	data, ok := s.consumers.states[view][key]
	return clone(data), ok, nil
}

type stateKey struct{ view, key string }

// stateTx stages writes until Commit applies them all at once.
type stateTx struct {
	s       *Store
	writes  map[stateKey][]byte // nil value: deleted
	cleared map[string]bool     // views whose committed states are all deleted
}

func (tx *stateTx) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	if err := store.ValidateState(view, key); err != nil {
		return nil, false, err
	}
	if data, ok := tx.writes[stateKey{view, key}]; ok {
		return clone(data), data != nil, nil
	}
	if tx.cleared[view] {
		return nil, false, nil
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

func (tx *stateTx) SaveState(ctx context.Context, view, key string, data []byte) error {
	if err := store.ValidateState(view, key); err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	tx.writes[stateKey{view, key}] = clone(data)
	return ctx.Err()
}

func (tx *stateTx) DeleteState(ctx context.Context, view, key string) error {
	if err := store.ValidateState(view, key); err != nil {
		return err
	}
	tx.writes[stateKey{view, key}] = nil
	return ctx.Err()
}

func (tx *stateTx) DeleteStates(ctx context.Context, view string) error {
	if err := store.ValidateState(view, ""); err != nil {
		return err
	}
	for k := range tx.writes {
		if k.view == view {
			delete(tx.writes, k)
		}
	}
	tx.cleared[view] = true
	return ctx.Err()
}

// Lock implements [store.Locker] within the process: the store is the
// only thing its leases guard.
func (s *Store) Lock(ctx context.Context, name string) (store.Lease, error) {
	if err := store.ValidateConsumer(name); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		s.mu.Lock()
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
