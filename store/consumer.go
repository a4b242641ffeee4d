package store

import (
	"context"
	"errors"
)

// A Committer commits what a consumer of the global log did with a batch
// of events together with the consumer's checkpoint, in one transaction of
// the store, so that a crash neither loses nor repeats an event. T is what
// the consumer writes through: a [StateTx] for view states kept in the
// store, or an adapter's own transaction type (*sql.Tx, pgx.Tx) for a
// user's SQL tables.
//
// Commit runs fn in a transaction. When fn returns nil, it moves consumer's
// checkpoint from from to to and commits fn's writes with it; when fn
// fails, nothing fn wrote is kept, the checkpoint stays, and Commit returns
// fn's error. The checkpoint is compared and set: when it is not from as
// the transaction starts (another instance of the consumer moved it),
// Commit fails with an error matching [ErrConflict] and fn's writes are not
// kept. to may be lower than from only to rebuild a read model from the
// start (to = 0).
type Committer[T any] interface {
	Commit(ctx context.Context, consumer string, from, to int64, fn func(tx T) error) error
}

// A StateTx reads and writes view states inside a consumer's transaction.
// A state is a payload under a view name and a key, such as one row of a
// read model per order.
type StateTx interface {
	// LoadState returns the state stored under view and key, and false
	// when there is none.
	LoadState(ctx context.Context, view, key string) ([]byte, bool, error)
	// SaveState stores data under view and key, replacing what was there.
	SaveState(ctx context.Context, view, key string, data []byte) error
	// DeleteState removes the state under view and key, if any.
	DeleteState(ctx context.Context, view, key string) error
	// DeleteStates removes every state of view, to rebuild it.
	DeleteStates(ctx context.Context, view string) error
}

// A StateBatchTx is a [StateTx] that loads many states of a view in one
// round trip. A [ViewProjection] loads the states a batch needs with it
// when its store's transaction is one; adapters whose reads are remote
// implement it.
type StateBatchTx interface {
	StateTx
	// LoadStates returns the stored states of the keys that have one.
	LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error)
}

// A StateStore keeps view states beside the events, and commits them with
// consumer checkpoints. Queries read states with LoadState outside any
// transaction; they see only committed states.
type StateStore interface {
	Committer[StateTx]
	LoadState(ctx context.Context, view, key string) ([]byte, bool, error)
}

// A StateBatchStore is a [StateStore] that loads many committed states of
// a view in one round trip, outside any transaction. A process loads the
// states of the instances a batch of events meets with it, when its
// store is one; adapters whose reads are remote implement it.
type StateBatchStore interface {
	StateStore
	// LoadStates returns the committed states of the keys that have one.
	LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error)
}

// A Locker grants exclusive leases by name among the processes that share
// a store, so that only one instance of a projection or saga works at a
// time and another takes over when it dies. Correctness never depends on
// a lease: checkpoints are compared and set. A lease saves the work of
// instances that would only lose the race.
type Locker interface {
	// Lock blocks until the caller holds the lease on name, or ctx is done.
	Lock(ctx context.Context, name string) (Lease, error)
}

// A Lease is held until released or lost.
type Lease interface {
	// Lost is closed when the lease can no longer be guaranteed: the
	// connection that held it broke, or it expired unrenewed. The holder
	// must stop working under it.
	Lost() <-chan struct{}
	// Release gives the lease up; another waiting Lock may then take it.
	Release() error
}

// ErrLeaseLost reports that a consumer stopped because the lease it ran
// under was lost: its connection to the store broke, or the lease expired.
// Another instance may already have taken over; run it again to wait for
// the lease.
var ErrLeaseLost = errors.New("lease lost")
