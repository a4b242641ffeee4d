package proptest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/annals-dev/annals/store"
)

// InstanceStore is what the checks of several instances on one database
// run on: an adapter that keeps view states, as every adapter of this
// module does.
type InstanceStore interface {
	store.Store
	store.StateStore
}

// step is a call of the store that a fault can hit.
type step string

const (
	stepAppend     step = "Append"
	stepReadStream step = "ReadStream"
	stepReadLog    step = "ReadLog"
	stepHead       step = "Head"
	stepCheckpoint step = "Checkpoint"
	stepCommit     step = "Commit" // of a consumer's batch
)

// faultKind is what a fault does to the call it hits.
type faultKind string

const (
	// failBefore fails the call before it reaches the database.
	failBefore faultKind = "fail before"
	// cancelBefore makes the call with a context that has ended.
	cancelBefore faultKind = "cancel before"
	// cancelDuring ends the call's context while the call runs: the
	// adapter must tell what became of a write.
	cancelDuring faultKind = "cancel during"
	// delay makes the call late.
	delay faultKind = "delay"
	// failAfter lets a write commit, then loses its answer: the caller
	// hears store.ErrOutcomeUnknown.
	failAfter faultKind = "fail after commit"
	// lostWrite loses a write and its answer: the caller hears
	// store.ErrOutcomeUnknown, and nothing is stored.
	lostWrite faultKind = "lost write"
	// failMidway breaks a stream's reading after its first record.
	failMidway faultKind = "fail midway"
)

// kinds are the faults each step can suffer.
var kinds = map[step][]faultKind{
	stepAppend:     {failBefore, cancelBefore, cancelDuring, delay, failAfter, lostWrite},
	stepReadStream: {failBefore, cancelBefore, cancelDuring, delay, failMidway},
	stepReadLog:    {failBefore, cancelBefore, cancelDuring, delay},
	stepHead:       {failBefore, cancelBefore, cancelDuring, delay},
	stepCheckpoint: {failBefore, cancelBefore, cancelDuring, delay},
	stepCommit:     {failBefore, cancelBefore, cancelDuring, delay, failAfter, lostWrite},
}

// fault hits the nth call of a step, once.
type fault struct {
	Step  step
	Kind  faultKind
	Nth   int
	After time.Duration // how long a call runs before cancelDuring ends it
}

func (f fault) String() string {
	if f.Step == "" {
		return "no fault"
	}
	return fmt.Sprintf("%s on call %d of %s", f.Kind, f.Nth, f.Step)
}

// makesUnknown reports whether a fault that fired may leave a write's
// outcome unknown.
func (f fault) makesUnknown() bool {
	return f.Step == stepAppend && (f.Kind == failAfter || f.Kind == lostWrite || f.Kind == cancelDuring)
}

var errInjected = errors.New("injected fault")

// faulty is an adapter wrapped so that an armed fault hits one of its
// calls; given to annals.New, it stands for a database that fails.
type faulty struct {
	InstanceStore
	mu    sync.Mutex
	armed fault
	seen  int
	fired bool
}

// arm makes f hit the calls to come.
func (s *faulty) arm(f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed, s.seen, s.fired = f, 0, false
}

// disarm stops the armed fault and reports whether it fired.
func (s *faulty) disarm() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	fired := s.fired
	s.armed, s.fired = fault{}, false
	return fired
}

// hit counts a call of st and returns the fault it suffers, if any.
func (s *faulty) hit(st step) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.armed.Step != st || s.fired {
		return fault{}, false
	}
	s.seen++
	if s.seen < s.armed.Nth {
		return fault{}, false
	}
	s.fired = true
	return s.armed, true
}

func injected(st step) error {
	return fmt.Errorf("%s: connection refused (%w)", st, errInjected)
}

func unknown(st step) error {
	return fmt.Errorf("%s: connection lost after the request was sent (%w): %w", st, errInjected, store.ErrOutcomeUnknown)
}

// perturb returns the context a call runs with under f, for the faults
// that only change its timing or its context.
func perturb(ctx context.Context, f fault) (context.Context, context.CancelFunc) {
	switch f.Kind {
	case cancelBefore:
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		return ctx, cancel
	case cancelDuring:
		return context.WithTimeout(ctx, f.After)
	case delay:
		time.Sleep(time.Millisecond)
	}
	return ctx, func() {}
}

func (s *faulty) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	f, ok := s.hit(stepAppend)
	switch {
	case ok && f.Kind == failBefore:
		return 0, injected(stepAppend)
	case ok && f.Kind == lostWrite:
		return 0, unknown(stepAppend)
	case ok && f.Kind == failAfter:
		if _, err := s.InstanceStore.Append(ctx, streamID, expected, events); err != nil {
			return 0, err
		}
		return 0, unknown(stepAppend)
	}
	ctx, cancel := perturb(ctx, f)
	defer cancel()
	return s.InstanceStore.Append(ctx, streamID, expected, events)
}

func (s *faulty) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		f, ok := s.hit(stepReadStream)
		if ok && f.Kind == failBefore {
			yield(store.Record{}, injected(stepReadStream))
			return
		}
		ctx, cancel := perturb(ctx, f)
		defer cancel()
		n := 0
		for rec, err := range s.InstanceStore.ReadStream(ctx, streamID, from) {
			if err == nil && ok && f.Kind == failMidway && n == 1 {
				yield(store.Record{}, injected(stepReadStream))
				return
			}
			n++
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

func (s *faulty) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	f, ok := s.hit(stepReadLog)
	if ok && f.Kind == failBefore {
		return nil, injected(stepReadLog)
	}
	ctx, cancel := perturb(ctx, f)
	defer cancel()
	return s.InstanceStore.ReadLog(ctx, q)
}

func (s *faulty) Head(ctx context.Context) (int64, error) {
	f, ok := s.hit(stepHead)
	if ok && f.Kind == failBefore {
		return 0, injected(stepHead)
	}
	ctx, cancel := perturb(ctx, f)
	defer cancel()
	return s.InstanceStore.Head(ctx)
}

func (s *faulty) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	f, ok := s.hit(stepCheckpoint)
	if ok && f.Kind == failBefore {
		return 0, injected(stepCheckpoint)
	}
	ctx, cancel := perturb(ctx, f)
	defer cancel()
	return s.InstanceStore.Checkpoint(ctx, consumer)
}

func (s *faulty) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	f, ok := s.hit(stepCommit)
	switch {
	case ok && f.Kind == failBefore:
		return injected(stepCommit)
	case ok && f.Kind == lostWrite:
		return unknown(stepCommit)
	case ok && f.Kind == failAfter:
		if err := s.InstanceStore.Commit(ctx, consumer, from, to, fn); err != nil {
			return err
		}
		return unknown(stepCommit)
	}
	ctx, cancel := perturb(ctx, f)
	defer cancel()
	return s.InstanceStore.Commit(ctx, consumer, from, to, fn)
}

// Close leaves the database to the test that opened it.
func (s *faulty) Close() error { return nil }
