package annals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/annals-dev/annals/store"
)

// A Consumer follows the global log: a [Projection], [ViewProjection] or
// [SagaRunner].
type Consumer interface {
	// Name is the consumer's checkpoint name.
	Name() string
	// Step handles the next batch of events and returns how many it
	// handled; 0 means the consumer has caught up.
	Step(ctx context.Context) (int, error)
	// Position returns the consumer's checkpoint.
	Position(ctx context.Context) (int64, error)
	// Run catches up and follows the log until ctx is done or it fails.
	Run(ctx context.Context) error
}

// Mode says how a [System] runs its consumers.
type Mode int

const (
	// Sync runs every consumer in the goroutine that appended, after each
	// append, until the system is quiet: when a command returns, every
	// view shows it and every command a saga sent because of it has been
	// handled, with all that followed. For tests, examples and
	// single-process programs such as serverless functions.
	Sync Mode = iota
	// Async leaves appends alone; [System.Run] runs each consumer in its
	// own goroutine, following the log, and several processes may run
	// the same system on one durable store: each consumer works in one of
	// them at a time.
	Async
)

// A System wires deciders, views and sagas over one store, and runs them in
// one of two modes with the same results: [Sync], in the caller's
// goroutine, or [Async], concurrently and across processes.
//
// Build runners on [System.Store] and consumers on the store itself, then
// add the consumers:
//
//	sys := annals.NewSystem(s, mode)
//	orders := annals.NewRunner(sys.Store(), order.Decider, order.Codec())
//	sys.Add(annals.NewViewProjection(s, "order-summary", …), annals.NewProcess(s, "fulfilment", …))
//	go sys.Run(ctx) // Async only
type System struct {
	base      store.Store
	mode      Mode
	mu        sync.Mutex // guards consumers
	consumers []Consumer
	settling  atomic.Bool
	onError   func(consumer string, err error)
}

// NewSystem returns a system over s that runs its consumers in mode.
func NewSystem(s store.Store, mode Mode) *System {
	return &System{base: s, mode: mode, onError: func(consumer string, err error) {
		slog.Error("consumer failed", "consumer", consumer, "error", err)
	}}
}

// OnError sets what Run does with a consumer's failure, before it retries
// (infrastructure errors) or stops that consumer (a [*ConsumerError]). The
// default logs it with log/slog.
func (sys *System) OnError(f func(consumer string, err error)) { sys.onError = f }

// Add adds consumers to the system.
func (sys *System) Add(consumers ...Consumer) {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	sys.consumers = append(sys.consumers, consumers...)
}

func (sys *System) snapshot() []Consumer {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	return append([]Consumer(nil), sys.consumers...)
}

// Store returns the store that command runners of the system use. In Sync
// mode an append through it returns only once the system has settled
// (see [System.Settle]); a consumer that fails makes the append return its
// error, though the events were stored. In Async mode it is the system's
// store itself.
func (sys *System) Store() store.Store {
	if sys.mode == Async {
		return sys.base
	}
	return settlingStore{Store: sys.base, sys: sys}
}

type settlingStore struct {
	store.Store
	sys *System
}

func (s settlingStore) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	v, err := s.Store.Append(ctx, streamID, expected, events)
	if err != nil || len(events) == 0 {
		return v, err
	}
	if err := s.sys.Settle(ctx); err != nil {
		return v, fmt.Errorf("append to stream %q stored the events, then: %w", streamID, err)
	}
	return v, nil
}

// Settle runs every consumer in the caller's goroutine until none has
// anything left to do. An append that a saga makes while the system
// settles is handled by the same loop: Settle called within Settle
// returns at once.
func (sys *System) Settle(ctx context.Context) error {
	for sys.settling.CompareAndSwap(false, true) {
		err := sys.settleOnce(ctx)
		sys.settling.Store(false)
		if err != nil {
			return err
		}
		// An append by another goroutine while the flag was set did not
		// settle; settle again if the log moved on since.
		if quiet, err := sys.quiet(ctx); err != nil || quiet {
			return err
		}
	}
	return nil
}

func (sys *System) settleOnce(ctx context.Context) error {
	for {
		progress := 0
		for _, c := range sys.snapshot() {
			n, err := c.Step(ctx)
			if err != nil {
				return err
			}
			progress += n
		}
		if progress == 0 {
			return nil
		}
	}
}

// quiet reports whether every consumer's checkpoint has reached the head,
// and the head did not move while the checkpoints were read. A saga
// appends the commands it dispatches before it moves its checkpoint past
// the event that caused them, so an append that the first head missed,
// by a consumer whose checkpoint then looked caught up, shows in the
// second.
func (sys *System) quiet(ctx context.Context) (bool, error) {
	head, err := sys.base.Head(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range sys.snapshot() {
		pos, err := c.Position(ctx)
		if err != nil || pos < head {
			return false, err
		}
	}
	again, err := sys.base.Head(ctx)
	return err == nil && again == head, err
}

// WaitQuiet blocks until every consumer's checkpoint has reached the head
// of the log and the head has stopped moving, or ctx is done. It is how a
// test of an Async system waits for the consequences of its commands.
func (sys *System) WaitQuiet(ctx context.Context) error {
	for {
		quiet, err := sys.quiet(ctx)
		if err != nil {
			return err
		}
		if quiet {
			return nil
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// Run runs the consumers named (all when none is named) concurrently, each
// following the log, until ctx is done. A consumer whose handler fails (a
// [*ConsumerError]) stops while the others go on; other errors, such as a
// lost connection, are retried with a growing pause. Run returns the
// failures of the consumers that stopped, joined, once ctx is done.
func (sys *System) Run(ctx context.Context, names ...string) error {
	consumers := sys.snapshot()
	if len(names) > 0 {
		byName := map[string]Consumer{}
		for _, c := range consumers {
			byName[c.Name()] = c
		}
		consumers = consumers[:0:0]
		for _, n := range names {
			c, ok := byName[n]
			if !ok {
				return fmt.Errorf("run system: no consumer named %q: %w", n, store.ErrNotFound)
			}
			consumers = append(consumers, c)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(consumers))
	for i, c := range consumers {
		wg.Go(func() { errs[i] = sys.keepRunning(ctx, c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// keepRunning runs c until ctx is done or its handler fails.
func (sys *System) keepRunning(ctx context.Context, c Consumer) error {
	for attempt := 1; ; attempt++ {
		err := c.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		sys.onError(c.Name(), err)
		var stopped *ConsumerError
		if errors.As(err, &stopped) {
			return err
		}
		if err := sleep(ctx, min(time.Duration(attempt)*100*time.Millisecond, 5*time.Second)); err != nil {
			return nil
		}
	}
}
