package annals

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/annals-dev/annals/store"
)

// An Observer is told what happens on a store handle: the commands its
// runners handle, the appends and reads of events through it, and the
// batches its projections and sagas commit. It is how telemetry sees a
// store without the store importing any: the module
// github.com/annals-dev/annals/otel turns what an Observer is told into
// OpenTelemetry traces and metrics, and a program may write its own (a
// log, counters in a test). Set one with [Store.Observe].
//
// Each operation is a pair of calls. Start is called before it, with
// the context it was given, and returns the context the operation runs
// with: the place for a span, so that what the operation does nests
// under it (a command's appends and reads, a batch's commands in a
// [Sync] system). End is called once the operation is over, with that
// context and what came of it. Start and End are called in the
// goroutine of the operation, possibly from many goroutines at once,
// and must not call back into the store.
type Observer interface {
	// StartCommand is called when [Runner.Handle] or [DCBRunner.Handle]
	// begins a command, and EndCommand when it returns.
	StartCommand(ctx context.Context, c CommandStart) context.Context
	EndCommand(ctx context.Context, c CommandEnd)
	// StartAppend is called before the handle appends to a stream, with
	// a condition or without ([Store.AppendIf], [Store.Append]), and
	// EndAppend after the adapter answered; a [Sync] system's consumers
	// run after EndAppend. StartAppend takes a pointer so that it can
	// add metadata to the events (see [AppendStart.SetExtra]).
	StartAppend(ctx context.Context, a *AppendStart) context.Context
	EndAppend(ctx context.Context, a AppendEnd)
	// StartRead is called when a read of a stream (a runner loading
	// one), of the global log (a consumer's next batch) or by query (a
	// [DCBRunner] loading a decision's state, [Store.ReadQuery]) begins,
	// and EndRead when it ends. A read of a stream or by query lasts as
	// long as its caller ranges over it: a runner's load includes
	// folding the events.
	StartRead(ctx context.Context, r ReadStart) context.Context
	EndRead(ctx context.Context, r ReadEnd)
	// StartBatch is called before a projection or a saga handles a batch
	// of events it read from the log, and EndBatch once the batch and its
	// checkpoint are committed or it failed. A read that found nothing
	// new is not a batch.
	StartBatch(ctx context.Context, b BatchStart) context.Context
	EndBatch(ctx context.Context, b BatchEnd)
}

// CommandStart is a command that [Runner.Handle] or [DCBRunner.Handle]
// begins.
type CommandStart struct {
	// StreamID is the stream the command is for. A command of a
	// [DCBRunner] is for its Query, not for a stream: its StreamID is
	// empty when it starts, and at its end ([CommandEnd]) it is the
	// stream its decision's events went to ([DCBResult].StreamID), empty
	// when it appended none.
	StreamID string
	// Query is the consistency boundary of a command of a [DCBRunner]:
	// the query its decision reads and its append's condition. It is
	// nil for a command on a stream.
	Query *store.Query
	// Command is the command, as the caller passed it.
	Command any
	// Metadata is the metadata its events will carry ([WithMetadata]):
	// its correlation and causation.
	Metadata store.Metadata
	// IdempotencyKey is the command's idempotency key, if it has one.
	IdempotencyKey string
}

// CommandEnd is what came of a command.
type CommandEnd struct {
	CommandStart
	// Outcome is what the command's error says happened.
	Outcome Outcome
	// Events is how many events the command appended (0 for a
	// Duplicate, which appends none), and Version the
	// stream's version after them (or the version it was decided on).
	// A command of a [DCBRunner] is decided on a query, not on a
	// stream's version: its Version is 0, and Position is the position
	// of the last event of its query that it read, its append's
	// condition ([DCBResult].Position).
	Events   int
	Version  int64
	Position int64
	// Duplicate reports a command whose idempotency key had already been
	// handled.
	Duplicate bool
	// Attempts is how many times the command was decided and appended:
	// 1, and one more for each conflict it caught up from. Conflicts is
	// how many of its appends conflicted.
	Attempts, Conflicts int
	// Err is the error Handle returned. When Handle panics instead of
	// returning (Decide, Evolve or a codec panicked), the command still
	// ends, before the panic goes on: its Outcome is [OutcomeUnknown]
	// and its Err says that it panicked.
	Err error
}

// AppendStart is an append that the handle is about to make.
type AppendStart struct {
	StreamID string
	// Expected is the version the append expects the stream to be at.
	Expected int64
	// Condition is the condition of a conditional append
	// ([Store.AppendIf], a [DCBRunner]'s decision): it fails if an event
	// that matches the condition's query is in the log after its
	// position. It is nil for an append without one.
	Condition *store.AppendCondition
	// Events are the events to append. They belong to the caller: add
	// metadata with SetExtra, never by changing them.
	Events []store.Event
	// Together is how many commands share the one write to the store
	// that these events are part of, this one included: 1 for a write
	// of its own, more when a runner appends the commands queued on a
	// stream together (see [Runner]). Each of those is observed as an
	// append of its own events, at the version it was decided on, within
	// its own command, and Part is its place among them, from 0; the
	// write's duration is each one's. An observer that counts writes
	// counts only Part 0.
	Together, Part int
	extra          map[string]string
}

// SetExtra stores value under key in the metadata (Metadata.Extra) of
// every event of the append, the way a trace context travels with the
// events to the consumers that read them in other processes. The
// caller's events are left as they are: the handle appends copies.
func (a *AppendStart) SetExtra(key, value string) {
	if a.extra == nil {
		a.extra = map[string]string{}
	}
	a.extra[key] = value
}

// AppendEnd is what came of an append.
type AppendEnd struct {
	AppendStart
	// Version is the stream's version after the append.
	Version int64
	// Err is the adapter's error.
	Err error
	// Duplicate reports an append of a command with an idempotency key
	// (see [WithIdempotencyKey]) that the store refused because the
	// key's events are stored already: their IDs
	// ([store.ErrDuplicateEvent], which Err matches) or, for a
	// [DCBRunner]'s decision, the key's stream (a [*store.ConflictError]).
	// It is how the command learns it was handled before, not a failure:
	// the command then ends with Duplicate set, or, when the key turns
	// out to have been used for another command, with
	// [ErrIdempotencyKey], which its end tells.
	Duplicate bool
}

// ReadStart is a read of a stream, of the global log, or by query.
type ReadStart struct {
	// StreamID is the stream read, and From the first version read; ""
	// for a read of the global log or by query.
	StreamID string
	From     int64
	// Log is the query of a read of the global log.
	Log store.LogQuery
	// Query is the query of a read by query ([Store.ReadQuery]), and
	// After the position it reads after; Query is nil for a read of a
	// stream or of the global log.
	Query *store.Query
	After int64
}

// ReadEnd is what a read returned.
type ReadEnd struct {
	ReadStart
	// Records is how many records the read returned; a caller that
	// stops ranging over a stream early reads fewer than it holds.
	Records int
	// Err is the read's error.
	Err error
}

// BatchStart is a batch of the log that a consumer is about to handle.
type BatchStart struct {
	// Consumer is the consumer's name.
	Consumer string
	// From is its checkpoint before the batch.
	From int64
	// Records are the records of the batch, in log order.
	Records []store.Record
}

// BatchEnd is what came of a batch.
type BatchEnd struct {
	BatchStart
	// Handled is how many records were handled and committed, and To the
	// checkpoint after the batch.
	Handled int
	To      int64
	// Err is the batch's error: a [*ConsumerError] when the consumer
	// stopped at an event.
	Err error
}

// Outcome is what a write's error says happened, among the outcomes
// listed at [ErrStored], with the reasons for "nothing stored" that
// callers branch on told apart.
type Outcome int

const (
	// OutcomeOK: stored (or, for a command, nothing to store), with no error.
	OutcomeOK Outcome = iota
	// OutcomeRejected: a business rule refused the command ([ErrRejected]);
	// nothing was stored.
	OutcomeRejected
	// OutcomeConflict: another writer went first, and the retries ran out
	// ([store.ErrConflict]); nothing was stored.
	OutcomeConflict
	// OutcomeStoredWithError: stored, then something after the write failed
	// ([ErrStored]), such as a consumer of a Sync system.
	OutcomeStoredWithError
	// OutcomeUnknown: the outcome is unknown ([store.ErrOutcomeUnknown]),
	// or the command's Handle panicked instead of returning.
	OutcomeUnknown
	// OutcomeFailed: any other error; nothing was stored.
	OutcomeFailed
)

// OutcomeOf returns the outcome that err, the error of a write, says.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrStored):
		return OutcomeStoredWithError
	case errors.Is(err, store.ErrOutcomeUnknown):
		return OutcomeUnknown
	case errors.Is(err, store.ErrConflict):
		return OutcomeConflict
	case errors.Is(err, ErrRejected):
		return OutcomeRejected
	}
	return OutcomeFailed
}

// String returns the outcome's name as telemetry records it: "ok",
// "rejected", "conflict", "stored_with_error", "outcome_unknown" or
// "error".
func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeRejected:
		return "rejected"
	case OutcomeConflict:
		return "conflict"
	case OutcomeStoredWithError:
		return "stored_with_error"
	case OutcomeUnknown:
		return "outcome_unknown"
	}
	return "error"
}

// Observe makes o the observer of the handle: of every runner, projection,
// saga and system built on it, before or after this call. nil stops
// observing. An operation under way when it is called ends with the
// observer it started with. Without an observer, observing costs a
// pointer load per operation.
func (s *Store) Observe(o Observer) {
	if err := s.notMade(); err != nil {
		panic("annals: " + err.Error())
	}
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&observer{o})
}

// observer boxes an Observer for an atomic pointer.
type observer struct{ Observer }

func (s *Store) observing() Observer {
	if o := s.observer.Load(); o != nil {
		return o.Observer
	}
	return nil
}

// errHandlePanicked is the error a command ends with, under an
// observer, when its Handle panics instead of returning.
var errHandlePanicked = fmt.Errorf("the command's Handle panicked instead of returning (see the panic for what happened): %w", store.ErrOutcomeUnknown)

// commandKey marks the context of an observed command with its counts
// of appends and conflicts.
type commandKey struct{}

type commandCounts struct{ appends, conflicts atomic.Int64 }

// observeCommand handles the command that start describes under o:
// handle does the work, with the context the observer gave, and result
// sets what its result says on the command's end. It serves both
// [Runner.Handle] and [DCBRunner.Handle].
func observeCommand[R any](ctx context.Context, o Observer, start CommandStart, handle func(context.Context) (R, error), result func(R, *CommandEnd)) (R, error) {
	counts := new(commandCounts)
	ctx = o.StartCommand(context.WithValue(ctx, commandKey{}, counts), start)
	returned := false
	defer func() {
		if !returned {
			// Handle panics (Decide or Evolve did, say): the command
			// still ends, so that a span is not left open. Nothing is
			// recovered, so the panic goes on with its own stack.
			conflicts := int(counts.conflicts.Load())
			o.EndCommand(ctx, CommandEnd{CommandStart: start, Outcome: OutcomeUnknown, Attempts: conflicts + 1, Conflicts: conflicts, Err: errHandlePanicked})
		}
	}()
	res, err := handle(ctx)
	returned = true
	end := CommandEnd{CommandStart: start, Outcome: OutcomeOf(err), Conflicts: int(counts.conflicts.Load()), Err: err}
	result(res, &end)
	end.Attempts = end.Conflicts + 1
	if end.Outcome == OutcomeConflict {
		end.Attempts = end.Conflicts // it gave up after the last one
	}
	o.EndCommand(ctx, end)
	return res, err
}

// append appends through the adapter, under the observer if there is one.
func (s *Store) append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	o := s.observing()
	if o == nil {
		v, err := s.adapter.Append(ctx, streamID, expected, events)
		return v, s.fault(err)
	}
	return observeAppend(ctx, o, AppendStart{StreamID: streamID, Expected: expected, Events: events}, func(ctx context.Context, events []store.Event) (int64, error) {
		v, err := s.adapter.Append(ctx, streamID, expected, events)
		return v, s.fault(err)
	})
}

// appendIf appends through the adapter's [store.DCB], under the
// observer if there is one.
func (s *Store) appendIf(ctx context.Context, streamID string, expected int64, events []store.Event, cond store.AppendCondition) (int64, error) {
	o := s.observing()
	if o == nil {
		v, err := s.dcb.AppendIf(ctx, streamID, expected, events, cond)
		return v, s.fault(err)
	}
	a := AppendStart{StreamID: streamID, Expected: expected, Events: events, Condition: &cond}
	return observeAppend(ctx, o, a, func(ctx context.Context, events []store.Event) (int64, error) {
		v, err := s.dcb.AppendIf(ctx, streamID, expected, events, cond)
		return v, s.fault(err)
	})
}

// observeAppend makes the append a describes, alone in its write, with
// write, under o: write appends the events it is given, a's with the
// metadata the observer added.
func observeAppend(ctx context.Context, o Observer, a AppendStart, write func(context.Context, []store.Event) (int64, error)) (int64, error) {
	a.Together = 1
	octx := o.StartAppend(ctx, &a)
	if a.extra != nil {
		a.Events = withExtra(a.Events, a.extra)
	}
	v, err := write(octx, a.Events)
	countAppend(ctx, err)
	dup := err != nil && keyed(a.Events) && refusedForKey(err, a.Condition != nil)
	o.EndAppend(octx, AppendEnd{AppendStart: a, Version: v, Err: err, Duplicate: dup})
	return v, err
}

// keyed reports whether events are those of a command with an
// idempotency key: the first holds the command's fingerprint (see
// [handleConfig.place]), an entry that the caller's metadata may not
// set.
func keyed(events []store.Event) bool {
	return len(events) > 0 && events[0].Metadata.Extra[idempotencyExtra] != ""
}

// refusedForKey reports whether err, the error of an append of a
// command with an idempotency key, is the store's refusal of the key's
// events because they are stored already: their IDs are
// ([store.ErrDuplicateEvent]), or, for a DCB decision's conditional
// append, which creates the key's stream, that stream exists. Either
// way the command was handled before, or its key was used for another.
func refusedForKey(err error, conditional bool) bool {
	return errors.Is(err, store.ErrDuplicateEvent) || conditional && errors.As(err, new(*store.ConflictError))
}

// countAppend counts an append, and a conflict, in the counts of the
// observed command ctx is the context of, if it is one.
func countAppend(ctx context.Context, err error) {
	if c, ok := ctx.Value(commandKey{}).(*commandCounts); ok {
		c.appends.Add(1)
		if errors.Is(err, store.ErrConflict) {
			c.conflicts.Add(1)
		}
	}
}

// uncountConflict takes back the conflict that countAppend counted for
// err, an append's refusal that turned out to be an answer rather than
// another writer's: the stream of an idempotency key that exists.
func uncountConflict(ctx context.Context, err error) {
	if c, ok := ctx.Value(commandKey{}).(*commandCounts); ok && errors.Is(err, store.ErrConflict) {
		// Not below 0: an append made while no observer was set (one
		// removed during the command) counted nothing.
		for n := c.conflicts.Load(); n > 0 && !c.conflicts.CompareAndSwap(n, n-1); n = c.conflicts.Load() {
		}
	}
}

// appendPart is the part of an append that holds the events of one of
// the commands appended together: n events decided at version expected
// by the command whose context is ctx.
type appendPart struct {
	ctx      context.Context
	expected int64
	n        int
}

// appendTogether appends events, the events of the commands that parts
// describe in order, in one append at version expected, under ctx, the
// context of the command that leads. Observer o, the one the commands
// were decided under, sees an append of each part, within the part's
// own command, and the metadata it adds for a part goes to that part's
// events only; without an observer, parts is empty.
func (s *Store) appendTogether(ctx context.Context, o Observer, streamID string, expected int64, events []store.Event, parts []appendPart) (int64, error) {
	starts := make([]AppendStart, len(parts))
	octxs := make([]context.Context, len(parts))
	out, at, cloned := events, 0, false
	for i, p := range parts {
		a := &starts[i]
		*a = AppendStart{StreamID: streamID, Expected: p.expected, Events: events[at : at+p.n], Together: len(parts), Part: i}
		octxs[i] = o.StartAppend(p.ctx, a)
		if a.extra != nil {
			if !cloned {
				out, cloned = slices.Clone(events), true // the caller's stay as they are
			}
			copy(out[at:], withExtra(a.Events, a.extra))
			a.Events = out[at : at+p.n]
		}
		at += p.n
	}
	// The adapter's own work nests under no one command's append.
	v, err := s.adapter.Append(ctx, streamID, expected, out)
	err = s.fault(err)
	if err == nil {
		s.appends.Add(1)
	}
	for i, p := range parts {
		countAppend(p.ctx, err)
		end := AppendEnd{AppendStart: starts[i], Err: err}
		if err == nil {
			end.Version = p.expected + int64(p.n)
		}
		o.EndAppend(octxs[i], end)
	}
	return v, err
}

// withExtra returns copies of events whose metadata also holds extra.
func withExtra(events []store.Event, extra map[string]string) []store.Event {
	out := make([]store.Event, len(events))
	for i, e := range events {
		m := maps.Clone(e.Metadata.Extra)
		if m == nil {
			m = make(map[string]string, len(extra))
		}
		maps.Copy(m, extra)
		e.Metadata.Extra = m
		out[i] = e
	}
	return out
}

// readStream reads a stream through the adapter, under the observer if
// there is one. Its errors are the adapter's: a caller marks the one it
// returns with fault (the runners do), and [Store.ReadStream] marks each,
// so that a load pays for no wrapping of the records it reads.
func (s *Store) readStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	o := s.observing()
	if o == nil {
		return s.adapter.ReadStream(ctx, streamID, from)
	}
	return observeRead(ctx, o, ReadStart{StreamID: streamID, From: from}, func(ctx context.Context) iter.Seq2[store.Record, error] {
		return s.adapter.ReadStream(ctx, streamID, from)
	})
}

// observeRead yields what read yields, under o: the read that start
// describes begins when the caller ranges over it, and ends when the
// caller stops.
func observeRead(ctx context.Context, o Observer, start ReadStart, read func(context.Context) iter.Seq2[store.Record, error]) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		r := ReadEnd{ReadStart: start}
		octx := o.StartRead(ctx, r.ReadStart)
		defer func() { o.EndRead(octx, r) }()
		for rec, err := range read(octx) {
			if err != nil {
				r.Err = err
			} else {
				r.Records++
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// readQuery reads the events that match q through the adapter's
// [store.DCB], under the observer if there is one; its errors are the
// adapter's, as readStream's are.
func (s *Store) readQuery(ctx context.Context, q store.Query, after int64) iter.Seq2[store.Record, error] {
	o := s.observing()
	if o == nil {
		return s.dcb.ReadQuery(ctx, q, after)
	}
	return observeRead(ctx, o, ReadStart{Query: &q, After: after}, func(ctx context.Context) iter.Seq2[store.Record, error] {
		return s.dcb.ReadQuery(ctx, q, after)
	})
}

// readLog reads a page of the log through the adapter, under the
// observer if there is one.
func (s *Store) readLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	o := s.observing()
	if o == nil {
		recs, err := s.adapter.ReadLog(ctx, q)
		return recs, s.fault(err)
	}
	start := ReadStart{Log: q}
	octx := o.StartRead(ctx, start)
	recs, err := s.adapter.ReadLog(octx, q)
	err = s.fault(err)
	o.EndRead(octx, ReadEnd{ReadStart: start, Records: len(recs), Err: err})
	return recs, err
}

// startBatch tells the observer, if there is one, that consumer is about
// to handle recs after its checkpoint from, and returns the context to
// handle them with and the function to call with what came of them.
func (s *Store) startBatch(ctx context.Context, consumer string, from int64, recs []store.Record) (context.Context, func(handled int, to int64, err error)) {
	o := s.observing()
	if o == nil || len(recs) == 0 {
		return ctx, endNoBatch
	}
	start := BatchStart{Consumer: consumer, From: from, Records: recs}
	ctx = o.StartBatch(ctx, start)
	return ctx, func(handled int, to int64, err error) {
		o.EndBatch(ctx, BatchEnd{BatchStart: start, Handled: handled, To: to, Err: err})
	}
}

func endNoBatch(int, int64, error) {}

// appended is how many events a command's [CommandEnd] reports: those of
// its Result, none for a duplicate, whose Result holds the events of the
// first call.
func appended(events int, duplicate bool) int {
	if duplicate {
		return 0
	}
	return events
}
