package annals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/annals-dev/annals/store"
	"github.com/samber/lo"
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

// A StateKeeper is a consumer that may keep states in the store under
// its own name, as view states: a [ViewProjection] does, and a
// [SagaRunner] of [NewProcess] (its instances' states); a stateless saga
// of [NewSaga] does not, nor does a [Projection], whose read model is
// its handler's to write. Those states are the fold of the events up to
// the consumer's checkpoint: a checkpoint moved back to 0 must delete
// them in the same commit ([store.StateTx.DeleteStates] of the
// consumer's name), or the replay would evolve them again from what
// they hold, a view counting each event twice and a process reacting to
// its first events from its last states. Package ops does so.
type StateKeeper interface {
	Consumer
	// KeepsStates reports whether the store keeps the consumer's
	// states under its name.
	KeepsStates() bool
}

// onStore is implemented by the consumers of this package, so that a
// system refuses one built on another store, and knows the log of one
// that reads it from elsewhere (source is not nil; see [WithSource]).
type onStore interface {
	notMade() error
	storeHandle() *Store
	source() store.Log
}

// cursored is implemented by a consumer that remembers where its last
// commit left its checkpoint, to skip reading it while it catches up.
type cursored interface{ forgetCursor() }

// Mode says how a [System] runs its consumers.
type Mode int

const (
	// Sync runs every consumer in the goroutine that appended, after each
	// append, until the system has caught up: when a command returns,
	// every view shows it and every command a saga sent because of it has
	// been handled, with all that followed. For tests, examples and
	// single-process programs such as serverless functions; several
	// instances may share one durable store.
	Sync Mode = iota
	// Async leaves appends alone; [System.Run] runs each consumer in its
	// own goroutine, following the log, and several processes may run
	// the same system on one durable store: each consumer works in one of
	// them at a time.
	Async
)

// String returns "sync" or "async".
func (m Mode) String() string {
	if m == Async {
		return "async"
	}
	return "sync"
}

// A System wires deciders, views and sagas over one store, and runs them
// in one of two modes with the same results: [Sync], in the goroutine that
// appends, or [Async], concurrently and across processes.
//
// A system attaches itself to its store: every runner built on that store,
// before or after the system, is part of it, so the same application code
// runs in both modes and no append can bypass the system:
//
//	s, err := annals.Open(ctx, os.Getenv(annals.EnvVar))
//	sys, err := annals.NewSystem(s, annals.Sync)
//	orders := annals.NewRunner(s, order.Decider, order.Codec())
//	err = sys.Add(annals.NewViewProjection(s, "order-summary", …))
//	go sys.Run(ctx) // Async only
//
// # What a command is told in Sync mode
//
// The events of a command are stored before any consumer sees them, so a
// consumer's failure never unstores them. When a consumer fails on an
// event that the command's append led to, the command gets its result and
// an error that matches [ErrStored] (a [*StoredError]): do not retry it.
// The consumer stops at that event (see [ConsumerError]); later commands
// still succeed, and each tries the stopped consumer again, so a passing
// fault heals by itself. [System.Status] and [System.WaitQuiet] report a
// stopped consumer until it has caught up. A consumer that fails between
// events (a lost connection, a commit that failed), or on an event with
// a passing failure (one that matches [store.ErrUnavailable],
// [store.ErrOutcomeUnknown] or [ErrTransient]), is not stopped: the
// command is told as above, the consumers after it still run, and the
// next command steps it again. A checkpoint that another instance moved
// is that instance's progress, never an error.
//
// One goroutine of a process settles at a time, so that a command returns
// only once its own consequences are handled, whatever other goroutines
// do. A saga's dispatcher hands its commands the context it was given, or
// the options of its [Cause] (both, as the examples do): while the
// dispatcher runs, either tells the append that the settle running the
// saga will handle its events (a command handled once the dispatcher has
// returned, by a goroutine it left running, waits for that settle and
// settles itself). A command with neither
// would wait for that settle to end, which waits for the dispatcher: it
// waits until its own context ends and then returns an error that matches
// [ErrStored] and says so, or, with a context that never ends, for good,
// and the log warns of it after ten seconds.
type System struct {
	store     *Store
	mode      Mode
	mu        sync.Mutex // guards consumers, stopped and retried
	consumers []Consumer
	stopped   map[string]error
	// retried holds, for a consumer that stopped under Run, the channel
	// that Run waits on and that is closed when the consumer no longer is
	// stopped (Retry caught it up): Run then follows the log with it again.
	retried map[string]chan struct{}
	// running names the consumers a Run of this system runs.
	running map[string]bool
	// stepping holds a lock per consumer, a channel of one token, taken
	// by Retry and by Run's retry of a stopped consumer when the log
	// moves, so that this process never steps one consumer twice at once.
	stepping map[string]chan struct{}
	// settle holds a token while a goroutine settles: one at a time.
	settle chan struct{}
	// dispatching counts the saga dispatchers a settle is running, for
	// the error of an append that waited for that settle in vain.
	dispatching atomic.Int32
	onError     func(consumer string, err error)
}

// settleWarnAfter is how long an append waits for another goroutine's
// settle, while that settle runs a saga's dispatcher, before a warning is
// logged: the wait may be for good (see [System]).
var settleWarnAfter = 10 * time.Second

// lockSettle waits for the turn to settle until ctx is done or the store
// is closed.
func (sys *System) lockSettle(ctx context.Context) error {
	select {
	case sys.settle <- struct{}{}:
		return nil
	default:
	}
	warn := time.NewTimer(settleWarnAfter)
	defer warn.Stop()
	const hint = "a saga's dispatcher is running in that settle: if this command is one it sends, hand it the ctx the dispatcher was given or cause.Options(), else it waits for the settle that waits for it"
	for {
		select {
		case sys.settle <- struct{}{}:
			return nil
		case <-warn.C:
			if sys.dispatching.Load() > 0 {
				slog.Warn("annals: a command has waited "+settleWarnAfter.String()+" for another goroutine to settle the system's consumers; "+hint, "store", sys.store.name)
			}
		case <-sys.store.done:
			return fmt.Errorf("wait for another goroutine to settle the system's consumers: %w", store.ErrClosed)
		case <-ctx.Done():
			if sys.dispatching.Load() > 0 {
				return fmt.Errorf("wait for another goroutine to settle the system's consumers (%s): %w", hint, context.Cause(ctx))
			}
			return fmt.Errorf("wait for another goroutine to settle the system's consumers: %w", context.Cause(ctx))
		}
	}
}

// unlockSettle ends a turn that lockSettle began.
func (sys *System) unlockSettle() { <-sys.settle }

// settlingKey is the key of the [settleMark] of a consumer's context.
type settlingKey struct{}

// settleMark marks the context of a consumer while a Sync system's settle
// steps it, and, inside a saga, the context and the cause of a dispatcher
// while it runs: an append made with it then (a saga's command) is
// settled by that settle, which steps every consumer again once a round
// saw an append, not by a nested one, which would wait for it. The mark
// ends when the step or the dispatcher returns or panics, before the
// round looks for appends: an append made with it later (by a goroutine
// a dispatcher left running) settles itself.
type settleMark struct {
	sys  *System
	over atomic.Bool
}

// settleMarkOf returns the mark of ctx, or nil.
func settleMarkOf(ctx context.Context) *settleMark {
	m, _ := ctx.Value(settlingKey{}).(*settleMark)
	return m
}

// inRound reports whether ctx is the context of a consumer that a round
// of a settle of sys is stepping now.
func (sys *System) inRound(ctx context.Context) bool {
	m := settleMarkOf(ctx)
	return m != nil && m.sys == sys && !m.over.Load()
}

// NewSystem returns a system over s that runs its consumers in mode, and
// attaches it to s. A store has at most one system: a second fails with
// an error that matches [store.ErrInvalid], as does a mode other than
// [Sync] and [Async].
func NewSystem(s *Store, mode Mode) (*System, error) {
	if s.notMade() != nil {
		return nil, fmt.Errorf("new system: nil store: give the store its runners and consumers are built on, from annals.Open or annals.New: %w", store.ErrInvalid)
	}
	if mode != Sync && mode != Async {
		return nil, fmt.Errorf("new system: mode %d is neither annals.Sync nor annals.Async: %w", mode, store.ErrInvalid)
	}
	sys := &System{store: s, mode: mode, stopped: map[string]error{}, running: map[string]bool{}, settle: make(chan struct{}, 1)}
	sys.onError = sys.logFailure
	if !s.system.CompareAndSwap(nil, sys) {
		return nil, fmt.Errorf("store %s already has a system: build one system per store and add every consumer to it: %w", s.name, store.ErrInvalid)
	}
	return sys, nil
}

// logFailure is a system's default [System.OnError]: it logs the
// failure with log/slog, and the stack of a panic beside it. A consumer
// that stopped (a [*ConsumerError]) is logged as stopped, with how it
// resumes in the system's mode; other failures are retried by the system.
func (sys *System) logFailure(consumer string, err error) {
	attrs := []any{"consumer", consumer, "error", err}
	if pe := (*PanicError)(nil); errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.Stack))
	}
	if ahead := (*schemaAhead)(nil); errors.As(err, &ahead) && sys.mode == Async {
		slog.Error("consumer stopped", append(attrs, "resume", "it is tried again every few seconds, and resumes once its read model's schema is one this program knows: run the program that migrated it, or take the schema back as the error says")...)
		return
	}
	if ce := (*ConsumerError)(nil); !errors.As(err, &ce) {
		slog.Error("consumer failed; retrying", attrs...)
		return
	}
	resume := "it is run again at that event each time the log moves on (at most once a second), and resumes once the cause is fixed; System.Retry or 'ops replay " + consumer + "' runs it at once, and so does a restart of its process"
	if sys.mode == Sync {
		resume = "it is run again at that event by the next command and by System.Settle, and resumes once the cause is fixed"
	}
	slog.Error("consumer stopped", append(attrs, "resume", resume)...)
}

// Store returns the store the system runs over.
func (sys *System) Store() *Store {
	if sys == nil {
		return nil
	}
	return sys.store
}

// Mode returns the mode the system runs in.
func (sys *System) Mode() Mode {
	if sys == nil {
		return Sync
	}
	return sys.mode
}

// notMade returns the error of a call on sys when NewSystem did not make
// it.
func (sys *System) notMade() error {
	if sys == nil || sys.store == nil {
		return errNotMade("System", makeSystem)
	}
	return nil
}

// OnError sets what the system does with a consumer's failure: in Async
// mode before Run retries it (infrastructure errors) or stops that
// consumer (a [*ConsumerError]); in Sync mode when a consumer stops. The
// default logs it with log/slog, and the stack of a [*PanicError] beside
// it.
func (sys *System) OnError(f func(consumer string, err error)) {
	if err := sys.notMade(); err != nil {
		panic("annals: " + err.Error())
	}
	sys.onError = f
}

// Add adds consumers to the system. A nil consumer, one built on another
// store, one whose name the system already has, or, in Sync mode, one that
// reads the log from another source ([WithSource]), is refused with an
// error that matches [store.ErrInvalid], and none of consumers is added.
// A [System.Run] runs the consumers the system had when it began: run one
// added later with another Run that names it.
func (sys *System) Add(consumers ...Consumer) error {
	if err := sys.notMade(); err != nil {
		return err
	}
	sys.mu.Lock()
	defer sys.mu.Unlock()
	names := lo.SliceToMap(sys.consumers, func(c Consumer) (string, bool) { return c.Name(), true })
	for i, c := range consumers {
		if on, ok := c.(onStore); ok && on.notMade() != nil {
			return fmt.Errorf("add consumers: consumer %d: %w", i, on.notMade())
		}
		if lo.IsNil(c) {
			return fmt.Errorf("add consumers: consumer %d is nil: %w", i, store.ErrInvalid)
		}
		if on, ok := c.(onStore); ok && on.storeHandle() != sys.store {
			return fmt.Errorf("add consumer %q: it was built on another store than the system's (%s): build it on the store the system was made with: %w", c.Name(), sys.store.name, store.ErrInvalid)
		}
		if sourceOf(c) != nil && sys.mode == Sync {
			return fmt.Errorf("add consumer %q: it reads the log from another source (WithSource), which the appends a Sync system settles do not move: add it to an Async system, or run it by itself: %w", c.Name(), store.ErrInvalid)
		}
		if names[c.Name()] {
			return fmt.Errorf("add consumer %q: the system already has a consumer of that name: %w", c.Name(), store.ErrInvalid)
		}
		names[c.Name()] = true
	}
	sys.consumers = append(sys.consumers, consumers...)
	return nil
}

func (sys *System) snapshot() []Consumer {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	return append([]Consumer(nil), sys.consumers...)
}

// steppingLock returns the lock that Retry and Run's retries of the
// consumer named name take: a send takes it, a receive gives it back. A
// channel rather than a mutex, so that a Retry waiting for it ends with
// its context.
func (sys *System) steppingLock(name string) chan struct{} {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	if sys.stepping == nil {
		sys.stepping = map[string]chan struct{}{}
	}
	lock, ok := sys.stepping[name]
	if !ok {
		lock = make(chan struct{}, 1)
		sys.stepping[name] = lock
	}
	return lock
}

// clearStopped forgets that consumer stopped, as setStopped(consumer,
// nil) does, if stop is still the stop it is stopped by (not a later
// one).
func (sys *System) clearStopped(consumer string, stop *ConsumerError) {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	var cur *ConsumerError
	if errors.As(sys.stopped[consumer], &cur) && cur == stop {
		sys.unstopLocked(consumer)
	}
}

func (sys *System) setStopped(name string, err error) {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	if err == nil {
		sys.unstopLocked(name)
	} else {
		sys.stopped[name] = err
	}
}

// unstopLocked forgets that the consumer named name stopped, and lets a
// Run waiting for it go on. sys.mu is held.
func (sys *System) unstopLocked(name string) {
	delete(sys.stopped, name)
	if ch, ok := sys.retried[name]; ok {
		close(ch)
		delete(sys.retried, name)
	}
}

// stoppedPoll is how often Run reads the checkpoint of a consumer that
// stopped, to see whether another process moved it on (ops replay or
// reset, run from another process of the application).
const stoppedPoll = time.Second

// awaitRetry waits, for Run, until the consumer c, stopped at the event
// at position at, is caught up by [System.Retry] in this process or its
// checkpoint moves: past that event (another process retried it, or
// skipped the event), or back (ops reset to 0, to handle the log again,
// or a rebuild), and reports whether it did; false when ctx ends or the
// store is closed first. Meanwhile, each time the log it reads has moved
// on (read every stoppedPoll), it steps c once, as a Sync system's next
// command does (see retryStopped): a passing fault heals by itself.
func (sys *System) awaitRetry(ctx context.Context, c Consumer, at int64) bool {
	name := c.Name()
	stoppedAt, err := c.Position(ctx) // where the stop left the checkpoint
	if err != nil {
		stoppedAt = -1 // unknown: only a move past the event counts
	}
	log := sys.logOf(c)
	// The log moved on if it holds anything after the event c stopped at:
	// the failing step may have read the head before the last append,
	// and a fresh read now would take that append for seen.
	seen := at
	sys.mu.Lock()
	if sys.stopped[name] == nil { // retried already
		sys.mu.Unlock()
		return true
	}
	ch, ok := sys.retried[name]
	if !ok {
		ch = make(chan struct{})
		if sys.retried == nil {
			sys.retried = map[string]chan struct{}{}
		}
		sys.retried[name] = ch
	}
	sys.mu.Unlock()
	tick := time.NewTicker(stoppedPoll)
	defer tick.Stop()
	for {
		select {
		case <-ch:
			return true
		case <-ctx.Done():
			return false
		case <-sys.store.done:
			return false
		case <-tick.C:
			// A retry that stopped again, later on, stopped it there.
			var again *ConsumerError
			if errors.As(sys.stoppedErr(name), &again) {
				at = max(at, again.Position)
			}
			if pos, err := c.Position(ctx); err == nil && (pos >= at || stoppedAt >= 0 && pos < stoppedAt) {
				sys.setStopped(name, nil)
				return true
			}
			head, err := log.Head(ctx)
			switch {
			case err != nil:
			case head > seen:
				before := at
				if sys.retryStopped(ctx, c, &at) {
					return true
				}
				// What the retry itself appended (a saga's command before
				// it failed) is no move of the log to retry for.
				seen = head
				if h, err := log.Head(ctx); err == nil {
					seen = max(seen, h)
				}
				if pos, err := c.Position(ctx); err == nil && at != before {
					stoppedAt = pos // where the new stop left the checkpoint
				}
			}
		}
	}
}

// schemaPoll is how often Run tries a projection again whose read
// model's schema is newer than its migrations.
var schemaPoll = 5 * time.Second

// awaitSchema waits, for Run, until the projection c, whose read model's
// schema is newer than the migrations it knows, steps again: its schema
// was taken back (its tables and schema checkpoint dropped). It steps c
// every schemaPoll, unless a Retry steps it meanwhile, without the
// lease, which a step that fails before it reads the log has no use for
// and which an instance that knows the schema may hold. A step that
// passes ends the wait, and so does one that stops at an event, which
// becomes the stop; one that fails in passing leaves c stopped as it
// was, for the next tick. It reports false, c still stopped, when ctx
// ends or the store is closed first.
func (sys *System) awaitSchema(ctx context.Context, c Consumer) bool {
	tick := time.NewTicker(schemaPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-sys.store.done:
			return false
		case <-tick.C:
		}
		if ctx.Err() != nil || sys.store.closed.Load() {
			return false // both were ready, and select took the tick
		}
		stepped, err := sys.stepAlone(ctx, c)
		var ahead *schemaAhead
		var stopped *ConsumerError
		switch {
		case !stepped || errors.As(err, &ahead):
		case ctx.Err() != nil || sys.store.closed.Load():
			return false // the step was cut short: still stopped
		case err == nil:
			sys.setStopped(c.Name(), nil)
			return true
		case errors.As(err, &stopped):
			// Past its schema, stopped at an event: Run stops there
			// too, and says so.
			sys.setStopped(c.Name(), err)
			return true
		}
		// Still ahead, stepped by a Retry meanwhile, or a passing
		// failure: stopped as it was, tried at the next tick.
	}
}

// stepAlone steps c once, unless a Retry steps it meanwhile; stepped
// says whether it did.
func (sys *System) stepAlone(ctx context.Context, c Consumer) (bool, error) {
	lock := sys.steppingLock(c.Name())
	select {
	case lock <- struct{}{}:
		defer func() { <-lock }()
	default:
		return false, nil
	}
	_, err := c.Step(ctx)
	return true, err
}

// retryStopped steps c, stopped at the event at position *at, once, and
// reports whether it passed that event: it is no longer stopped, and Run
// follows the log with it again. A stop at the same event again is not
// reported (OnError is not called again, as a Sync system's settle does
// not report it); a stop at another event is, and *at becomes its
// position. Another error (another instance's progress, a lost
// connection) leaves c stopped, to be tried again when the log moves.
// While Retry steps c in this process, or an instance holds c's lease
// (it runs c, and would take this step's commit for a lost lease), it is
// not stepped here.
func (sys *System) retryStopped(ctx context.Context, c Consumer, at *int64) bool {
	lock := sys.steppingLock(c.Name())
	select {
	case lock <- struct{}{}:
		defer func() { <-lock }()
	default:
		return false // Retry is at it
	}
	if leases, ok := sys.store.adapter.(store.LeaseInspector); ok {
		if _, held, err := leases.LeaseHolder(ctx, LeaseName(c.Name())); err != nil || held {
			return false
		}
	}
	if cur, ok := c.(cursored); ok {
		cur.forgetCursor() // from the checkpoint the store holds, as Retry does
	}
	_, err := c.Step(ctx)
	var stopped *ConsumerError
	switch {
	case err == nil:
		sys.setStopped(c.Name(), nil)
		return true
	case errors.As(err, &stopped):
		if stopped.Position != *at {
			sys.onError(c.Name(), err)
			*at = stopped.Position
		}
		sys.setStopped(c.Name(), err)
	default:
		slog.Debug("annals: retry of a stopped consumer failed; it is tried again when the log moves", "consumer", c.Name(), "error", err)
	}
	return false
}

func (sys *System) stoppedErr(name string) error {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	return sys.stopped[name]
}

// stoppedErrors returns the errors of the stopped consumers, joined.
func (sys *System) stoppedErrors() error {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	var errs []error
	for _, c := range sys.consumers {
		if err := sys.stopped[c.Name()]; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// forgetPassed forgets that a consumer stopped when its checkpoint has
// since passed the event it stopped at: another instance handled the
// event, or, in Async mode, Run did after a Retry of this process had
// stopped there; either is progress. A checkpoint it cannot read leaves
// the consumer stopped.
func (sys *System) forgetPassed(ctx context.Context) {
	for _, c := range sys.snapshot() {
		if sys.stoppedErr(c.Name()) == nil {
			continue
		}
		if pos, err := c.Position(ctx); err == nil {
			sys.passed(c.Name(), pos)
		}
	}
}

// passed forgets that consumer stopped if pos, its checkpoint, is at or
// after the event it stopped at, and lets a Run waiting for it go on.
func (sys *System) passed(consumer string, pos int64) {
	var stopped *ConsumerError
	if errors.As(sys.stoppedErr(consumer), &stopped) && pos >= stopped.Position {
		sys.clearStopped(consumer, stopped)
	}
}

// maxSettleRounds bounds how many rounds a settle makes while other
// instances keep moving the checkpoints it is working on.
const maxSettleRounds = 10_000

// settleAfter runs the consumers after an append that took stream from
// version from to version to, until none has anything left to do. A
// consumer that fails on an event of that append, or that was running
// until now, makes it return a [*StoredError]; one that was already
// stopped and fails again is left stopped and not reported.
func (sys *System) settleAfter(ctx context.Context, stream string, from, to int64) error {
	if sys.inRound(ctx) {
		return nil // a saga's command: the settle that runs the saga settles it
	}
	if err := sys.lockSettle(ctx); err != nil {
		return &StoredError{StreamID: stream, Version: to, Err: err}
	}
	defer sys.unlockSettle()
	err := sys.settleLocked(ctx, "", func(ce *ConsumerError, wasStopped bool) bool {
		return !wasStopped || (ce.StreamID == stream && ce.Version > from && ce.Version <= to)
	})
	if err != nil {
		return &StoredError{StreamID: stream, Version: to, Err: err}
	}
	return nil
}

// Settle runs every consumer in the caller's goroutine until none has
// anything left to do, and returns the errors of the consumers that are
// stopped. A Sync system settles after every append by itself; Settle is
// for a program that appended some other way, or to retry stopped
// consumers.
func (sys *System) Settle(ctx context.Context) error {
	if err := sys.notMade(); err != nil {
		return err
	}
	if sys.inRound(ctx) {
		return nil
	}
	if err := sys.lockSettle(ctx); err != nil {
		return err
	}
	defer sys.unlockSettle()
	if err := sys.settleLocked(ctx, "", func(*ConsumerError, bool) bool { return true }); err != nil {
		return err
	}
	return sys.stoppedErrors()
}

// advancer is a consumer of this package: its step also says whether it
// reached the head it read.
type advancer interface {
	advance(ctx context.Context) (n int, at int64, caughtUp bool, err error)
}

// stepToHead steps c, and says whether it has caught up with every event
// appended before the step.
func stepToHead(ctx context.Context, c Consumer) (int, bool, error) {
	if a, ok := c.(advancer); ok {
		n, _, caughtUp, err := a.advance(ctx)
		return n, caughtUp, err
	}
	n, err := c.Step(ctx)
	return n, n == 0 && err == nil, err
}

// settleLocked steps every consumer until every one has caught up with
// the events appended before its step and no consumer appended meanwhile.
// report says whether a consumer's failure is returned; a consumer that
// failed is not stepped again in this settle, and the one named skip (a
// retried consumer that stopped again) is not stepped at all.
func (sys *System) settleLocked(ctx context.Context, skip string, report func(ce *ConsumerError, wasStopped bool) bool) error {
	consumers := sys.snapshot()
	failed := lo.Map(consumers, func(c Consumer, _ int) bool { return c.Name() == skip })
	var reported []error
	for range maxSettleRounds {
		appends := sys.store.appends.Load()
		settled := true
		for i, c := range consumers {
			if failed[i] {
				continue
			}
			caughtUp, err := sys.stepMarked(ctx, c)
			var ce *ConsumerError
			switch {
			case err == nil:
				if sys.stoppedErr(c.Name()) != nil {
					sys.setStopped(c.Name(), nil) // past the event it stopped at
				}
			case errors.As(err, &ce):
				failed[i] = true
				prev := sys.stoppedErr(c.Name())
				var before *ConsumerError
				// A stop at the event it had stopped at already (another
				// goroutine's settle met it first) is told to the command
				// whose event it is, but reported to OnError once.
				again := errors.As(prev, &before) && before.Position == ce.Position
				sys.setStopped(c.Name(), err)
				if report(ce, prev != nil) {
					if !again {
						sys.onError(c.Name(), err)
					}
					reported = append(reported, err)
				}
				continue
			case errors.Is(err, store.ErrConflict) && ctx.Err() == nil:
				// another instance moved the checkpoint: its progress
			case ctx.Err() != nil:
				return errors.Join(append(reported, consumerErr(c.Name(), err))...)
			default:
				// Not at an event (a lost connection, a commit that
				// failed): returned to the command, not a stop, and not
				// stepped again in this settle; the consumers after it
				// still run.
				failed[i] = true
				reported = append(reported, consumerErr(c.Name(), err))
				continue
			}
			settled = settled && err == nil && caughtUp
		}
		// A consumer that appended (a saga's command) made events the
		// others may not have seen. Each step's mark ended before this
		// look, so that an append made with it after the look settles
		// itself.
		if settled && sys.store.appends.Load() == appends {
			return errors.Join(reported...)
		}
	}
	return errors.Join(append(reported, fmt.Errorf("consumers still moving after %d rounds: other instances keep appending", maxSettleRounds))...)
}

// stepMarked steps c to the head with a context that marks it as stepped
// by a settle of sys (see settleMark), until the step returns or panics.
func (sys *System) stepMarked(ctx context.Context, c Consumer) (caughtUp bool, err error) {
	mark := &settleMark{sys: sys}
	defer mark.over.Store(true)
	_, caughtUp, err = stepToHead(context.WithValue(ctx, settlingKey{}, mark), c)
	return caughtUp, err
}

// ConsumerStatus is where a consumer of a system stands.
type ConsumerStatus struct {
	// Name is the consumer's name.
	Name string
	// Checkpoint is the position of the last event it has handled, or -1
	// when it could not be read (see Unread).
	Checkpoint int64
	// Head is the position of the last event in the log it reads (the
	// store's, or its source's; see [WithSource]) when the status was
	// read, or -1 when it could not be read (see Unread).
	Head int64
	// Lag is how many positions of the log it has yet to handle, or -1
	// when the checkpoint or the head could not be read: a lag that was
	// not measured is never reported as 0.
	Lag int64
	// Stopped is the error that stopped it, nil while it works.
	Stopped error
	// Unread is why its checkpoint or the head of its log could not be
	// read, such as a source that does not answer; nil when both were.
	Unread error
	// Log is the log it reads: the store's adapter, or its source.
	Log store.Log
}

// Status returns each consumer's checkpoint, the head of the log it
// reads, the lag between them and the error that stopped the consumer,
// if any, in the order the consumers were added.
//
// A checkpoint or head that cannot be read, the store's or a consumer's
// source's, makes Status return an error that says which and why. It
// still returns every consumer's status then: those it could not read
// have Unread set and -1 in place of what is unknown, so one source that
// does not answer hides no other consumer from an operator.
func (sys *System) Status(ctx context.Context) ([]ConsumerStatus, error) {
	if err := sys.notMade(); err != nil {
		return nil, err
	}
	heads := sys.headReader()
	consumers := sys.snapshot()
	out := make([]ConsumerStatus, 0, len(consumers))
	var unread []error
	for _, c := range consumers {
		st := ConsumerStatus{Name: c.Name(), Checkpoint: -1, Head: -1, Lag: -1, Stopped: sys.stoppedErr(c.Name()), Log: sys.logOf(c)}
		head, herr := heads(ctx, c)
		pos, perr := c.Position(ctx)
		if perr != nil {
			perr = fmt.Errorf("consumer %q: its checkpoint: %w", c.Name(), perr)
		}
		if herr == nil {
			st.Head = head
		}
		if perr == nil {
			st.Checkpoint = pos
			sys.passed(c.Name(), pos)
		}
		if st.Unread = errors.Join(herr, perr); st.Unread == nil {
			st.Lag = max(head-pos, 0)
		} else {
			unread = append(unread, st.Unread)
		}
		out = append(out, st)
	}
	if len(unread) > 0 {
		return out, fmt.Errorf("system status: %w", errors.Join(unread...))
	}
	return out, nil
}

// logOf returns the log c reads: its source, or the store's adapter.
func (sys *System) logOf(c Consumer) store.Log {
	if src := sourceOf(c); src != nil {
		return src
	}
	return sys.store.Adapter()
}

// sourceOf returns the log c reads instead of the store's (see
// [WithSource]), or nil.
func sourceOf(c Consumer) store.Log {
	if on, ok := c.(onStore); ok {
		return on.source()
	}
	return nil
}

// headReader returns a function that reads the head of the log a
// consumer reads: the store's, read once for all the consumers that read
// it (a failure too is read once), or the consumer's own source's (see
// [WithSource]).
func (sys *System) headReader() func(context.Context, Consumer) (int64, error) {
	var (
		storeHead int64
		storeErr  error
		read      bool
	)
	return func(ctx context.Context, c Consumer) (int64, error) {
		if src := sourceOf(c); src != nil {
			head, err := src.Head(ctx)
			if err != nil {
				return 0, fmt.Errorf("consumer %q: the head of its source: %w", c.Name(), err)
			}
			return head, nil
		}
		if !read {
			storeHead, storeErr = sys.store.Head(ctx)
			if storeErr != nil {
				storeErr = fmt.Errorf("the head of the store: %w", storeErr)
			}
			read = true
		}
		return storeHead, storeErr
	}
}

// quiet reports whether every consumer's checkpoint has reached the head
// of its log, and no head moved while the checkpoints were read, and
// every read model's migrations have run. A saga
// appends the commands it dispatches before it moves its checkpoint past
// the event that caused them, so an append that the first head missed,
// by a consumer whose checkpoint then looked caught up, shows in the
// second.
func (sys *System) quiet(ctx context.Context) (bool, error) {
	consumers := sys.snapshot()
	first, again := sys.headReader(), sys.headReader()
	heads := make([]int64, len(consumers))
	for i, c := range consumers {
		if sys.mode == Async { // a Sync system migrates on its first settle
			if ready, err := schemaReady(ctx, c); err != nil || !ready {
				return false, err
			}
		}
		head, err := first(ctx, c)
		if err != nil {
			return false, err
		}
		pos, err := c.Position(ctx)
		if err != nil || pos < head {
			return false, err
		}
		heads[i] = head
	}
	for i, c := range consumers {
		head, err := again(ctx, c)
		if err != nil || head != heads[i] {
			return false, err
		}
	}
	return true, nil
}

// schemaReady reports whether c's read model has had its migrations
// ([WithSchema]); a consumer without any has.
func schemaReady(ctx context.Context, c Consumer) (bool, error) {
	m, ok := c.(interface {
		schemaReady(context.Context) (bool, error)
	})
	if !ok {
		return true, nil
	}
	return m.schemaReady(ctx)
}

// WaitQuiet blocks until every consumer's checkpoint has reached the head
// of the log and the head has stopped moving, and, on an Async system,
// every read model's migrations ([WithSchema]) have run, so that its
// tables exist even on a new store whose empty log its projection has
// nothing to catch up with (a Sync system runs them on its first
// settle). It returns at once, with their errors, when consumers have
// stopped, since they do not catch up while the cause lasts; and when
// ctx ends first, it says which consumers were behind and where. A
// consumer whose Run fails otherwise, before or between events (a read
// model's migration that fails, a lost connection), is not stopped:
// [System.Run] retries it with a growing pause and reports each failure
// through [System.OnError], and WaitQuiet waits for it, so give it a ctx
// with a deadline. The exception is a projection whose read model's
// schema a newer program migrated past the migrations it knows
// ([WithSchema]): no retry can pass that, so Run shows it stopped,
// reports it once, and tries it again every five seconds, until the
// schema is taken back. It is how a test of an Async system waits for the
// consequences of its commands.
func (sys *System) WaitQuiet(ctx context.Context) error {
	if err := sys.notMade(); err != nil {
		return err
	}
	for {
		sys.forgetPassed(ctx)
		if err := sys.stoppedErrors(); err != nil {
			return fmt.Errorf("wait for the system: consumers stopped: %w", err)
		}
		quiet, err := sys.quiet(ctx)
		if err == nil && quiet {
			return nil
		}
		if err == nil {
			err = sleep(ctx, 5*time.Millisecond)
		}
		if err != nil {
			return sys.behind(ctx, err)
		}
	}
}

// behind wraps err, the reason a wait ended, with the consumers that were
// behind, read with a context of its own.
func (sys *System) behind(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	status, _ := sys.Status(rctx) // what it could read
	var lagging, unmigrated []string
	for _, s := range status {
		if s.Lag > 0 {
			lagging = append(lagging, fmt.Sprintf("%s at %d of %d", s.Name, s.Checkpoint, s.Head))
		}
	}
	for _, c := range sys.snapshot() {
		if ready, rerr := schemaReady(rctx, c); sys.mode == Async && rerr == nil && !ready {
			lagging = append(lagging, c.Name()+" before its read model's migrations")
			unmigrated = append(unmigrated, c.Name())
		}
	}
	if len(lagging) == 0 {
		return err
	}
	if done := ctx.Err(); errors.Is(err, done) {
		// The wait ran out of time: what it was reading then (a
		// consumer's checkpoint, say) is not the reason.
		err = done
	}
	var idle []string
	if sys.mode == Async {
		sys.mu.Lock()
		for _, s := range status {
			if (s.Lag > 0 || slices.Contains(unmigrated, s.Name)) && !sys.running[s.Name] {
				idle = append(idle, s.Name)
			}
		}
		sys.mu.Unlock()
	}
	hint := ""
	if len(idle) > 0 {
		hint = fmt.Sprintf("; no Run of this Async system runs %s: call go sys.Run(ctx), unless another process runs them", strings.Join(idle, ", "))
	}
	return fmt.Errorf("wait for the system: consumers behind (%s)%s: %w", strings.Join(lagging, ", "), hint, err)
}

// Run runs the consumers named (all when none is named) concurrently, each
// following the log, until ctx is done. A consumer whose handler fails (a
// [*ConsumerError]) stops while the others go on, until it passes the
// event it stopped at: Run then follows the log with it again. As a Sync
// system's next command does, Run steps a stopped consumer once each
// time the log it reads has moved on (read every second), so that a
// passing fault heals by itself; a stop at the same event again is not
// passed to [System.OnError] again, one at a later event is.
// [System.Retry] catches it up at once, and so does a move of its
// checkpoint past the event or back (ops replay, or ops reset, run by
// another process; read every second). Retry holds the consumer's lease
// while it steps it: Run follows the log with the consumer again once the
// Retry (in this process, or an ops replay in another) has let go of it,
// from where it left the checkpoint. A stopped consumer lets go of its
// lease while it waits, so another instance may take it up, and stop at
// the same event; the steps of a stopped consumer take no lease, as a
// Sync system's take none, and are not taken while an instance holds it.
// Other errors, such as a lost connection, are retried with a growing
// pause. Run returns the failures of the consumers still stopped, joined,
// once ctx is done; or once the store is closed, with an error matching
// [store.ErrClosed] for each consumer still running then. A consumer runs
// under one Run of a system at a time: a Run that names one another Run
// runs fails at once with an error matching [store.ErrInvalid] (two Runs
// of different consumers go on side by side; instances of a consumer
// belong in processes of their own).
//
// On a [Sync] system, and with no consumer to run, Run runs nothing and
// waits until ctx is done (nil) or the store is closed (an error matching
// [store.ErrClosed]), so that a program's main runs alike in both modes:
// a Sync system runs its consumers in the goroutines that append.
func (sys *System) Run(ctx context.Context, names ...string) error {
	if err := sys.notMade(); err != nil {
		return err
	}
	consumers := sys.snapshot()
	if len(names) > 0 {
		byName := lo.KeyBy(consumers, Consumer.Name)
		consumers = consumers[:0:0]
		for _, n := range lo.Uniq(names) { // a name given twice runs once
			c, ok := byName[n]
			if !ok {
				return fmt.Errorf("run system: no consumer named %q: %w", n, store.ErrNotFound)
			}
			consumers = append(consumers, c)
		}
	}
	if sys.mode == Sync || len(consumers) == 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-sys.store.done:
			return fmt.Errorf("run system: %w", store.ErrClosed)
		}
	}
	if err := sys.startRunning(consumers); err != nil {
		return err
	}
	defer sys.stopRunning(consumers)
	var wg sync.WaitGroup
	errs := make([]error, len(consumers))
	for i, c := range consumers {
		wg.Go(func() { errs[i] = sys.keepRunning(ctx, c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startRunning marks consumers as run by a Run, or fails when a Run
// already runs one of them.
func (sys *System) startRunning(consumers []Consumer) error {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	if c, ok := lo.Find(consumers, func(c Consumer) bool { return sys.running[c.Name()] }); ok {
		return fmt.Errorf("run system: consumer %q already runs under another Run of this system: call Run once (with no names, it runs every consumer), or once per consumer: %w", c.Name(), store.ErrInvalid)
	}
	for _, c := range consumers {
		sys.running[c.Name()] = true
	}
	return nil
}

func (sys *System) stopRunning(consumers []Consumer) {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	for _, c := range consumers {
		delete(sys.running, c.Name())
	}
}

// keepRunning runs c until ctx is done or the store is closed. When its
// handler fails, it waits until c is retried (see awaitRetry), and then
// runs it again.
func (sys *System) keepRunning(ctx context.Context, c Consumer) error {
	// A stop for a schema ahead of the program's, left by an earlier
	// Run, is for this Run to find again: its first step fails at once
	// if the schema is still ahead.
	var ahead *schemaAhead
	if errors.As(sys.stoppedErr(c.Name()), &ahead) {
		sys.setStopped(c.Name(), nil)
	}
	lost := 0 // Runs in a row that ended in another's progress
	for attempt := 1; ; attempt++ {
		err := c.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// On a closed store nothing will succeed again: stop rather than
		// retry.
		if errors.Is(err, store.ErrClosed) {
			return consumerErr(c.Name(), err)
		}
		if sys.store.closed.Load() {
			return fmt.Errorf("consumer %q: %w: %v", c.Name(), store.ErrClosed, err)
		}
		if lostCommit(ctx, err) {
			// Another's progress, not a failure: a rebuild or reset
			// moved the checkpoint under the lease (neither takes it), or
			// an instance run without the lease committed first. Run
			// again from the checkpoint it set, after a short pause
			// (growing to 100ms should it happen again and again).
			slog.Debug("annals: consumer's checkpoint was moved by another; it goes on from there", "consumer", c.Name(), "error", err)
			attempt, lost = 0, lost+1
			if err := sleep(ctx, JitterBackoff(lost)); err != nil {
				return nil
			}
			continue
		}
		lost = 0
		sys.onError(c.Name(), err)
		if errors.As(err, &ahead) {
			// No step can pass until the read model's schema is taken
			// back: stopped, as at an event, and told once.
			sys.setStopped(c.Name(), err)
			if !sys.awaitSchema(ctx, c) {
				return sys.stoppedErr(c.Name())
			}
			attempt = 0
			continue
		}
		var stopped *ConsumerError
		if errors.As(err, &stopped) {
			sys.setStopped(c.Name(), err)
			if !sys.awaitRetry(ctx, c, stopped.Position) {
				return sys.stoppedErr(c.Name())
			}
			attempt = 0
			continue
		}
		if err := sleep(ctx, min(time.Duration(attempt)*100*time.Millisecond, 5*time.Second)); err != nil {
			return nil
		}
	}
}

// Consumer returns the system's consumer named name, and false when it
// has none.
func (sys *System) Consumer(name string) (Consumer, bool) {
	if sys == nil {
		return nil, false
	}
	return lo.Find(sys.snapshot(), func(c Consumer) bool { return c.Name() == name })
}

// retryLeaseWait bounds how long a Retry waits to take a consumer's
// lease that no instance held when it looked: the time to take a free one
// (on PostgreSQL, a connection of its own). A lease still not taken then
// was taken by an instance meanwhile, which runs the consumer.
var retryLeaseWait = 5 * time.Second

// retryLease takes, for a Retry, the lease of the consumer named name
// that its Run takes (see [LeaseName]), so that no Run of another
// instance follows the log with it beside the Retry; nil on a store that
// grants none. A lease an instance holds fails with an error that
// matches [ErrRunning]: Retry does not wait for it.
func (sys *System) retryLease(ctx context.Context, name string) (store.Lease, error) {
	locker := sys.store.locker
	if locker == nil {
		return nil, nil
	}
	inspector, _ := sys.store.adapter.(store.LeaseInspector)
	running := func() error {
		if inspector == nil {
			return nil
		}
		holder, held, err := inspector.LeaseHolder(ctx, LeaseName(name))
		if err != nil {
			return fmt.Errorf("look up its lease: %w", err)
		}
		if held {
			dead := ""
			if !holder.Expires.IsZero() {
				// A lease renewed by its holder: one that died holds
				// it until then.
				dead = fmt.Sprintf("; a process that died while it ran it holds it until it expires, in %v", time.Until(holder.Expires).Round(time.Second))
			}
			return fmt.Errorf("an instance holds its lease (%s) and runs it: Retry is for a consumer that stopped, which holds no lease%s: %w", holder.Holder, dead, ErrRunning)
		}
		return nil
	}
	if err := running(); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, retryLeaseWait)
	defer cancel()
	lease, err := locker.Lock(lctx, LeaseName(name))
	switch {
	case err == nil:
		return lease, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("take its lease: %w", context.Cause(ctx))
	case lctx.Err() != nil:
		if rerr := running(); rerr != nil {
			return nil, rerr
		}
		if inspector == nil {
			return nil, fmt.Errorf("its lease was not free within %v: an instance holds it and runs it: %w", retryLeaseWait, ErrRunning)
		}
	}
	return nil, fmt.Errorf("take its lease: %w", err)
}

// Retry catches the consumer named name up with the log in the caller's
// goroutine, and returns how many events it handled: the retry of a
// consumer that stopped, once the cause is fixed. The consumer's stopped
// error is cleared when it catches up, and replaced when it stops again.
// Retry is for an operator's command (see package ops) or a program, once
// the cause is fixed; a consumer that stopped under [System.Run] waits
// there, and Run follows the log with it again once Retry has caught it
// up. Retry begins at the checkpoint the store holds, so that it begins
// where an operator moved it (ops reset). In Sync mode the other
// consumers then handle what the retried one appended (a saga's
// commands), as after any append. A name the system does not have fails
// with an error that matches [store.ErrNotFound]. A consumer whose lease
// an instance holds (its Run follows the log with it, in this process or
// another) is not stepped: Retry fails with an error that matches
// [ErrRunning], since stepping it beside that Run would hand the same
// events over twice (a relay's to its broker, a saga's commands). For
// the same reason, on a store that grants leases, Retry takes that lease
// itself and holds it until it has stepped the consumer: a Run that would
// follow the log with it meanwhile (the Run it stopped under, once
// Retry's first commit has moved its checkpoint past the event, in this
// process or another) waits for the lease, and goes on from where Retry
// left the checkpoint. A lease lost meanwhile ends Retry with an error
// that matches [store.ErrLeaseLost]. A Run of a consumer built
// [WithoutLease] takes no lease, and is not kept out.
func (sys *System) Retry(ctx context.Context, name string) (int, error) {
	if err := sys.notMade(); err != nil {
		return 0, err
	}
	c, ok := sys.Consumer(name)
	if !ok {
		return 0, fmt.Errorf("retry consumer %q: the system has no consumer of that name: %w", name, store.ErrNotFound)
	}
	settle := sys.mode == Sync && !sys.inRound(ctx)
	stepCtx := ctx
	var mark *settleMark
	if settle {
		// Settled once below, not by each append of the consumer.
		if err := sys.lockSettle(ctx); err != nil {
			return 0, fmt.Errorf("retry consumer %q: %w", name, err)
		}
		defer sys.unlockSettle()
		mark = &settleMark{sys: sys}
		stepCtx = context.WithValue(ctx, settlingKey{}, mark)
	}
	lock := sys.steppingLock(name)
	select {
	case lock <- struct{}{}:
		defer func() { <-lock }()
	case <-ctx.Done():
		return 0, fmt.Errorf("retry consumer %q: waiting for this process's retry of it to end: %w", name, ctx.Err())
	case <-sys.store.done:
		return 0, fmt.Errorf("retry consumer %q: %w", name, store.ErrClosed)
	}
	lease, err := sys.retryLease(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("retry consumer %q: %w", name, err)
	}
	if cur, ok := c.(cursored); ok {
		cur.forgetCursor()
	}
	n, err := func() (int, error) {
		if mark != nil {
			defer mark.over.Store(true)
		}
		leased := stepCtx
		if lease != nil {
			defer lease.Release()
			if lost := lease.Lost(); lost != nil {
				// Stop stepping once another instance may hold it.
				var cancel context.CancelCauseFunc
				leased, cancel = context.WithCancelCause(stepCtx)
				defer cancel(nil)
				go func() {
					select {
					case <-lost:
						cancel(store.ErrLeaseLost)
					case <-leased.Done():
					}
				}()
			}
		}
		n, err := catchUp(leased, c.Step)
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(leased), store.ErrLeaseLost) {
			err = fmt.Errorf("its lease was lost, and another instance may run it: %w: %w", store.ErrLeaseLost, err)
		}
		return n, err
	}()
	var stopped *ConsumerError
	switch {
	case err == nil:
		sys.setStopped(name, nil)
	case errors.As(err, &stopped):
		sys.setStopped(name, err)
	}
	if settle {
		// What the consumer appended before it stopped again, if it did,
		// is settled too, without stepping it again; a consumer that was
		// running and fails on it is reported, as after any append.
		skip := ""
		if err != nil {
			skip = name
		}
		serr := sys.settleLocked(ctx, skip, func(ce *ConsumerError, wasStopped bool) bool { return !wasStopped || ce.Consumer == name })
		err = errors.Join(err, serr)
	}
	return n, err
}
