package annals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/view"
)

// Cause is what made a saga dispatch a command: the saga, the event it
// reacted to, the process instance the event belongs to, and the command's
// place among the commands it sent for that event. The event's stream,
// version, position and metadata are in Event:
//
//	func(ctx context.Context, c Command, cause annals.Cause) error {
//		// cause.Instance is the order the process instance is for,
//		// cause.Event.StreamID the stream of the event it reacted to.
//		_, err := payments.Handle(ctx, "payment-"+cause.Instance, c, cause.Options()...)
//		return err
//	}
type Cause struct {
	// Saga is the saga's name.
	Saga string
	// Event is the record of the event the saga reacted to.
	Event store.Record
	// Instance is the key of the process instance that reacted: what the
	// process's key function returned for the event; for a stateless
	// saga, the stream of the event.
	Instance string
	// Index is the command's place among those sent for the event.
	Index int
	// rejected marks the cause a [WithRejections] handler gets: its
	// commands are the rejected command's compensations, whose keys must
	// differ from the rejected command's.
	rejected bool
	// during is the mark of the dispatcher's run, when a Sync system's
	// settle runs it (see SagaRunner.dispatchMarked).
	during *settleMark
}

// IdempotencyKey is the command's idempotency key: the saga's name, the
// causing event's ID and the command's index. A replayed event gives its
// commands the same keys; two sagas reacting to one event give theirs
// different keys. In a [WithRejections] handler it is the rejected
// command's key followed by "/rejected", so that a compensation takes
// effect once without taking the rejected command's key, which the
// replay sends again.
func (c Cause) IdempotencyKey() string {
	key := c.Saga + "/" + c.Event.ID.String() + "/" + strconv.Itoa(c.Index)
	if c.rejected {
		key += "/rejected"
	}
	return key
}

// Options returns the [HandleOption]s with which a dispatched command
// takes effect once however often its event is replayed
// ([WithIdempotencyKey]), and carries its origin: the causing event as
// causation, and the causing event's correlation (or the event itself
// when it has none) as correlation.
func (c Cause) Options() []HandleOption {
	correlation := c.Event.Metadata.CorrelationID
	if correlation == "" {
		correlation = c.Event.ID.String()
	}
	opts := []HandleOption{
		WithMetadata(store.Metadata{CorrelationID: correlation, CausationID: c.Event.ID.String()}),
		WithIdempotencyKey(c.IdempotencyKey()),
	}
	if d := c.during; d != nil {
		opts = append(opts, func(h *handleConfig) { h.during = d })
	}
	return opts
}

// A Dispatcher sends a command to the runner that handles it, with the
// cause's options:
//
//	func(ctx context.Context, c Command, cause annals.Cause) error {
//		switch c := c.(type) {
//		case ChargeCard:
//			_, err := payments.Handle(ctx, c.OrderID, c, cause.Options()...)
//			return err
//		…
//	}
//
// An error that matches [ErrRejected] is a business answer to the command,
// not a failure: the saga reports it (see [WithRejections]) and goes on.
// A passing failure (one that matches [ErrTransient], [store.ErrUnavailable]
// or [store.ErrOutcomeUnknown]) stops nothing: the saga commits the events
// before the causing one and runs again from it, its commands sent again
// under the same keys (a [System] runs it again; a Step or CatchUp of
// its own returns the failure, and the next runs it again). Any other
// error stops the saga at the causing event, to retry it later.
type Dispatcher[C any] func(ctx context.Context, cmd C, cause Cause) error

// SagaRunner runs a [saga.Process] (or a stateless [saga.Saga]) over the
// global log: for each event it dispatches the commands the process
// returns, then commits the process states and its checkpoint.
//
// Each command takes effect exactly once however often an event is
// replayed: a crash between dispatching and committing replays the event
// from the same committed state, so the process returns the same commands
// with the same idempotency keys, and the store refuses their events a
// second time.
type SagaRunner[S, E, C any] struct {
	name       string
	store      *Store
	process    saga.Process[S, E, C]
	mapper     codec.Mapper[E]
	key        func(store.Record, E) (string, bool)
	dispatch   Dispatcher[C]
	stateful   bool
	cfg        consumerConfig
	onRejected func(ctx context.Context, cmd C, cause Cause, err error) error
	// compensates says that onRejected is the application's, which may
	// compensate a rejected command (see compensated).
	compensates bool
	states      *stateJSON
}

// SagaOption configures a [SagaRunner].
type SagaOption[C any] func(*sagaConfig[C])

type sagaConfig[C any] struct {
	consumer   []ConsumerOption
	onRejected func(ctx context.Context, cmd C, cause Cause, err error) error
}

// WithConsumerOptions applies consumer options (batch size, lease) to a
// saga.
func WithConsumerOptions[C any](opts ...ConsumerOption) SagaOption[C] {
	return func(c *sagaConfig[C]) { c.consumer = append(c.consumer, opts...) }
}

// WithRejections calls f when a dispatched command is rejected by a
// business rule. f returning nil goes on with the next command; an error
// stops the saga at the causing event, and the replay dispatches the
// command again, and calls f again if it is rejected again.
//
// A command f sends to compensate takes effect once with cause.Options(),
// as a dispatched command does: the cause f gets gives it a key of its
// own, the rejected command's followed by "/rejected"
// ([Cause.IdempotencyKey]). f that sends several commands gives each a
// key of its own, with [WithIdempotencyKey] after cause.Options() (a later
// option wins): cause.IdempotencyKey() + "/1", and so on, the first under
// cause.IdempotencyKey() itself.
//
// A replay of the event (the saga stopped at it after the compensation,
// on a later command's failure, say) does not send a compensated command
// again: before each command it dispatches, a saga with f looks for the
// first event stored under the key of that command's compensation, and
// finds it when f's first command stored one. Sent again, a command that
// a deposit since made acceptable would take effect beside its
// compensation. A compensation that stores no event, or was sent without
// cause.Options(), leaves nothing to find, and the replay sends the
// command again, as it does a rejected command f did not compensate. The
// lookup is in the saga's own store: store the compensation there (the
// rejected command may go to another), or it is not found either. On an
// adapter that is not a [store.EventFinder] nothing is looked up.
//
// The default logs the rejection with log/slog, at level Warn, and goes
// on: the saga, the command's type (the command a composite's sum holds,
// through its cases and keyed instances), the stream it was decided on
// (when a [Runner] or a [Composite] rejected it), its index among the
// commands of its event ([Cause.Index]), the instances' keys (when it
// went through a keyed instance), the causing event's position and ID,
// and the error:
//
//	WARN saga command rejected saga=overdue command=reminders.Remind stream=reminder-42 index=1 position=28 event=0190… error="reminder already sent"
//
// It logs no command's content, which may be personal data.
func WithRejections[C any](f func(ctx context.Context, cmd C, cause Cause, err error) error) SagaOption[C] {
	return func(c *sagaConfig[C]) { c.onRejected = f }
}

// NewSaga returns a runner named name for a stateless saga. It panics
// when s, sg's React, mapper or dispatch is nil, when mapper reports an
// error of its own (see [NewRunner]), or when name is not a
// consumer's (see [NewProjection]).
func NewSaga[E, C any](s *Store, name string, sg saga.Saga[E, C], mapper codec.Mapper[E], dispatch Dispatcher[C], opts ...SagaOption[C]) *SagaRunner[struct{}, E, C] {
	ctor := fmt.Sprintf("annals.NewSaga(%q)", name)
	mustGive(ctor, giveStore(s),
		given{sg.React == nil, "saga's React", "a saga whose React returns the commands an event leads to"},
		given{lo.IsNil(mapper), "mapper", "the codec of the events it reads, such as a *codec.JSON"}, given{dispatch == nil, "dispatcher", "the function that sends each command, such as one that calls a Runner's Handle with cause.Options()"})
	noNilOptions(ctor, opts)
	usableMapper(ctor, mapper)
	if err := checkConsumerName(name); err != nil {
		panic(fmt.Sprintf("annals: NewSaga: %v", err))
	}
	r := NewProcess(s, name, sg.Process(), mapper, func(rec store.Record, _ E) (string, bool) { return rec.StreamID, true }, dispatch, opts...)
	r.stateful = false
	return r
}

// NewProcess returns a runner named name for a process whose states are
// kept in the store under the view name name, one per key: key says which
// instance an event belongs to (an order ID, say), or false when no
// instance cares. S must encode as JSON: a state that JSON would not
// store whole (see [codec.JSONCheck]) stops the process at the event
// that led to it, before that event's commands are sent, as a
// [*ConsumerError].
//
// It panics when s, p's Evolve or React, mapper, key or dispatch is nil,
// when mapper reports an error of its own (see [NewRunner]),
// when name is not a consumer's (see [NewProjection]), when JSON would
// lose the content of S (see [NewViewProjection]), or when
// S has fields tagged annals:"personal" ([codec.PersonalField]): a
// process's states are plain JSON that no rebuild rewrites, so
// [codec.ForgetSubject] could not reach them. Keep the data subject's ID
// in the state, and take the personal data from the event being handled,
// or read it where the command needs it.
func NewProcess[S, E, C any](s *Store, name string, p saga.Process[S, E, C], mapper codec.Mapper[E], key func(store.Record, E) (string, bool), dispatch Dispatcher[C], opts ...SagaOption[C]) *SagaRunner[S, E, C] {
	ctor := fmt.Sprintf("annals.NewProcess(%q)", name)
	mustGive(ctor, giveStore(s),
		given{p.Evolve == nil, "process's Evolve", "a process whose Evolve folds an event into an instance's state"},
		given{p.React == nil, "process's React", "a process whose React returns the commands an event leads to"},
		given{lo.IsNil(mapper), "mapper", "the codec of the events it reads, such as a *codec.JSON"},
		given{key == nil, "key function", "the function that says which instance an event belongs to"}, given{dispatch == nil, "dispatcher", "the function that sends each command, such as one that calls a Runner's Handle with cause.Options()"})
	noNilOptions(ctor, opts)
	usableMapper(ctor, mapper)
	if err := checkConsumerName(name); err != nil {
		panic(fmt.Sprintf("annals: NewProcess: %v", err))
	}
	if f := codec.PersonalField(reflect.TypeFor[S]()); f != "" {
		panic(fmt.Sprintf("annals: NewProcess(%q): the state's field %s is tagged annals:\"personal\", but a process's states are stored as plain JSON that no rebuild rewrites, so forgetting the data subject would leave it in clear: keep the subject's ID in the state, and take the personal data from the event being handled or read it where the command needs it", name, f))
	}
	var cfg sagaConfig[C]
	for _, o := range opts {
		o(&cfg)
	}
	cfg.consumer = append(typesOf(mapper), cfg.consumer...)
	compensates := cfg.onRejected != nil
	if cfg.onRejected == nil {
		cfg.onRejected = func(ctx context.Context, cmd C, cause Cause, err error) error {
			slog.WarnContext(ctx, "saga command rejected", rejectionAttrs(name, cmd, cause, err)...)
			return nil
		}
	}
	return &SagaRunner[S, E, C]{
		name: name, store: s, process: p, mapper: mapper, key: key, dispatch: dispatch,
		stateful: true, cfg: newConsumerConfig(cfg.consumer), onRejected: cfg.onRejected, compensates: compensates,
		states: newStateJSON[S](fmt.Sprintf("process %q: state", name)),
	}
}

// Name returns the saga's name.
func (r *SagaRunner[S, E, C]) Name() string {
	if r == nil {
		return ""
	}
	return r.name
}

func (r *SagaRunner[S, E, C]) storeHandle() *Store { return r.store }

// notMade returns the error of a call on r when no constructor made it.
func (r *SagaRunner[S, E, C]) notMade() error {
	if r == nil || r.store == nil {
		return errNotMade("SagaRunner", makeSaga)
	}
	return nil
}

func (r *SagaRunner[S, E, C]) source() store.Log { return r.cfg.source }

// Position returns the saga's checkpoint.
func (r *SagaRunner[S, E, C]) Position(ctx context.Context) (int64, error) {
	if err := r.notMade(); err != nil {
		return 0, err
	}
	return r.store.Checkpoint(ctx, r.name)
}

// KeepsStates reports whether the store keeps the instances' states
// under the saga's name: true for a process of [NewProcess], false for a
// stateless saga of [NewSaga] (see [StateKeeper]).
func (r *SagaRunner[S, E, C]) KeepsStates() bool { return r != nil && r.stateful }

// State returns the committed state of the process instance key: the
// initial state, with no error, for an instance the store holds no state
// of, which no event has reached or which finished ([saga.Process]'s
// IsTerminal), unlike [ViewProjection.Get], which says a view has no
// state under a key.
func (r *SagaRunner[S, E, C]) State(ctx context.Context, key string) (S, error) {
	if err := r.notMade(); err != nil {
		var zero S
		return zero, err
	}
	return loadState(ctx, r.store, r.name, key, r.asView())
}

func (r *SagaRunner[S, E, C]) asView() view.View[S, E] {
	return view.View[S, E]{Evolve: r.process.Evolve, Initial: r.process.Initial}
}

// Step handles the next batch of events and returns how many it handled;
// 0 means the saga has caught up.
func (r *SagaRunner[S, E, C]) Step(ctx context.Context) (int, error) {
	if err := r.notMade(); err != nil {
		return 0, err
	}
	n, _, err := r.step(ctx)
	return n, err
}

// CatchUp handles batches until the saga has reached the head of the log.
// Instances racing are handled as in [Projection.CatchUp].
func (r *SagaRunner[S, E, C]) CatchUp(ctx context.Context) (int, error) {
	return catchUp(ctx, r.Step)
}

// Run catches up, then follows the log, like [Projection.Run].
func (r *SagaRunner[S, E, C]) Run(ctx context.Context) error {
	if err := r.notMade(); err != nil {
		return err
	}
	return follow(ctx, r.store, r.name, r.cfg, r.step, nil)
}

func (r *SagaRunner[S, E, C]) step(ctx context.Context) (int, int64, error) {
	n, at, _, err := r.advance(ctx)
	return n, at, err
}

// advance handles the next batch and also says whether it reached the
// head it read.
func (r *SagaRunner[S, E, C]) advance(ctx context.Context) (int, int64, bool, error) {
	from, head, recs, err := nextBatch(ctx, r.store, r.name, r.cfg)
	if err != nil || head <= from {
		return 0, from, err == nil, err
	}
	bctx, endBatch := r.store.startBatch(ctx, r.name, from, recs)
	n, to, caughtUp, err := r.batch(bctx, from, head, recs)
	endBatch(n, to, err)
	return n, to, caughtUp, err
}

// keyedEvent is an event of a batch that a process instance reacts to.
type keyedEvent[E any] struct {
	at    int // the index of its record in the batch
	rec   store.Record
	key   string
	event E
}

// batch handles recs, the batch after the checkpoint from, and commits
// the process states with the checkpoint. Its records are decoded first,
// then the states of the instances they meet are loaded together, then
// the events are handled in order; the first that fails, at any of these
// steps, stops the batch there, with the events before it committed. A
// failure to load the states is the store's, not an event's: the batch
// commits nothing, and runs again. So is an event's failure that the
// store was unavailable (see unavailable): a dispatcher's command that
// could not be stored, say. The events before it are committed, and the
// batch runs again from it, its commands sent again under the same
// idempotency keys, rather than stop there.
func (r *SagaRunner[S, E, C]) batch(ctx context.Context, from, head int64, recs []store.Record) (int, int64, bool, error) {
	events, done, stopped := r.decode(ctx, recs)
	stored, err := r.load(ctx, from, events)
	if err != nil {
		// The store's failure, or another instance's commit: no event's
		// fault, and nothing of the batch is committed; it runs again.
		return 0, from, false, err
	}
	states := map[string]heldState[S]{}
	var order []string
	for _, ev := range events {
		err := recovered(func() error { return r.handle(ctx, ev, stored, states, &order) })
		if panicked, ok := err.(*PanicError); ok {
			err = consumerError(r.name, ev.rec, panicked)
		}
		if err != nil {
			done, stopped = ev.at, err
			break
		}
	}
	to := batchEnd(from, head, recs, r.cfg.batch)
	if done < len(recs) {
		to = from
		if done > 0 {
			to = recs[done-1].Position
		}
	}
	if to != from {
		err := r.store.Commit(ctx, r.name, from, to, func(tx store.StateTx) error {
			for _, k := range order {
				if err := r.save(ctx, tx, k, states[k]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, from, false, prefixUncommitted(fmt.Errorf("saga %q: commit positions %d to %d: %w", r.name, from+1, to, err), stopped)
		}
	}
	return done, to, stopped == nil && len(recs) < r.cfg.batch, stopped
}

// decode maps recs to the events the process reacts to, skipping those
// of types the mapper does not know and those no instance cares about.
// It stops at the first record that fails and returns the events before
// it, its index (len(recs) when none failed) and its error.
func (r *SagaRunner[S, E, C]) decode(ctx context.Context, recs []store.Record) ([]keyedEvent[E], int, error) {
	var events []keyedEvent[E]
	for i, rec := range recs {
		ev := keyedEvent[E]{at: i, rec: rec}
		var ok bool
		err := recovered(func() (err error) {
			if ev.event, err = r.mapper.FromRecord(ctx, rec); err == nil {
				ev.key, ok = r.key(rec, ev.event)
			}
			return err
		})
		if errors.Is(err, codec.ErrUnknownEventType) {
			continue
		}
		if err != nil && unavailable(err) {
			return events, i, notStopped(r.name, rec, err)
		}
		if err != nil {
			return events, i, consumerError(r.name, rec, err)
		}
		if ok {
			events = append(events, ev)
		}
	}
	return events, len(recs), nil
}

// load returns the committed states of the instances that events meet,
// read in one round trip where the store can, and then reads the
// checkpoint once. A stateless saga reads neither.
//
// The states must be the ones committed with the checkpoint the batch
// follows: another instance that committed since (a replay beside the
// application, an instance that took the consumer up) saved states that
// have seen events of this batch, and reacting to them again would send
// their commands under other events' keys. Its commit wins; this batch is
// lost, before anything is sent. Every state is read before the
// checkpoint, so a checkpoint still at from once they are read says that
// none of them came from a later commit.
func (r *SagaRunner[S, E, C]) load(ctx context.Context, from int64, events []keyedEvent[E]) (map[string][]byte, error) {
	if !r.stateful || len(events) == 0 {
		return nil, nil
	}
	keys := lo.Uniq(lo.Map(events, func(ev keyedEvent[E], _ int) string { return ev.key }))
	stored, err := r.store.LoadStates(ctx, r.name, keys)
	if err != nil {
		return nil, fmt.Errorf("saga %q: load the states of %d instances: %w", r.name, len(keys), err)
	}
	at, err := r.store.Checkpoint(ctx, r.name)
	if err != nil {
		return nil, consumerErr(r.name, err)
	}
	if at != from {
		return nil, fmt.Errorf("saga %q: checkpoint is %d, expected %d (another instance moved it while the batch read the states of its %d instances): %w", r.name, at, from, len(keys), store.ErrConflict)
	}
	return stored, nil
}

// handle reacts to one event of the batch: it dispatches the commands and,
// when all went through, records the instance's next state in states. An
// instance the batch has not met yet starts from its stored state, if it
// has one.
func (r *SagaRunner[S, E, C]) handle(ctx context.Context, ev keyedEvent[E], stored map[string][]byte, states map[string]heldState[S], order *[]string) error {
	stop := func(err error) error {
		if unavailable(err) {
			return notStopped(r.name, ev.rec, err)
		}
		return consumerError(r.name, ev.rec, err)
	}
	k := ev.key
	held, seen := states[k]
	st := held.state
	if seen && held.finished {
		// Finished earlier in the batch: its state is deleted at the
		// commit, and a later batch would find none, so this event
		// starts a new instance as it would there.
		st = r.process.InitialState()
	}
	if !seen {
		st = r.process.InitialState()
		if data, ok := stored[k]; ok {
			var err error
			if st, err = decodeStateOf[S]("process", r.name, k, data); err != nil {
				return stop(err)
			}
		}
	}
	commands, next := r.process.Step(st, ev.event)
	// The state is encoded before any command is sent: one that cannot
	// be saved stops the process at this event, as it stops a view, with
	// nothing of the event sent, rather than failing the commit after its
	// commands were sent, for good.
	var data []byte
	if r.stateful && !r.process.Terminal(next) {
		var err error
		if data, err = r.states.encode(next); err != nil {
			return stop(fmt.Errorf("process %q key %q: the state the event leads to cannot be saved: %w", r.name, k, err))
		}
	}
	for i, c := range commands {
		cause := Cause{Saga: r.name, Event: ev.rec, Instance: k, Index: i}
		if done, err := r.compensated(ctx, cause); err != nil {
			return stop(err)
		} else if done {
			continue
		}
		err := r.dispatchMarked(ctx, c, &cause)
		if err != nil && errors.Is(err, ErrRejected) {
			rejected := cause
			rejected.rejected = true
			err = r.onRejected(ctx, c, rejected, err)
		}
		if err != nil {
			command, keys := describeCommand(c)
			if len(keys) > 0 {
				command += " (keys " + strings.Join(keys, ", ") + ")"
			}
			return stop(fmt.Errorf("dispatch %s: %w", command, err))
		}
	}
	if r.stateful {
		if !seen {
			*order = append(*order, k)
		}
		states[k] = heldState[S]{state: next, data: data, finished: r.process.Terminal(next)}
	}
	return nil
}

// heldState is a process instance's state in a batch, and its encoding:
// nil when the state is terminal, which finished says.
type heldState[S any] struct {
	state    S
	data     []byte
	finished bool
}

// compensated reports whether the command of cause was rejected and
// compensated before: the first event of a command sent under the key
// the cause of a rejection gives ([Cause.IdempotencyKey], ending in
// "/rejected") is in the store. A replay of the event then leaves the
// command out, as its first delivery's answer was, rather than send it
// again: accepted this time (a deposit since, say), it would take effect
// beside its compensation. Only a saga with a [WithRejections] handler
// looks, one event ID per command, on an adapter that finds events by ID.
func (r *SagaRunner[S, E, C]) compensated(ctx context.Context, cause Cause) (bool, error) {
	if !r.compensates || r.store.finder == nil {
		return false, nil
	}
	cause.rejected = true
	key := cause.IdempotencyKey()
	_, found, err := r.store.findEvent(ctx, EventID(key, 0))
	if err != nil {
		return false, fmt.Errorf("look up a compensation under key %q: %w", key, err)
	}
	return found, nil
}

// dispatchMarked calls the dispatcher with cmd. Under a Sync system's
// settle, the dispatcher's context and its cause carry a mark of their
// own, which ends when it returns or panics (see settleMark): a command
// it hands to a goroutine that outlives it settles itself.
func (r *SagaRunner[S, E, C]) dispatchMarked(ctx context.Context, cmd C, cause *Cause) error {
	step := settleMarkOf(ctx)
	if step == nil || step.over.Load() {
		return r.dispatch(ctx, cmd, *cause)
	}
	mark := &settleMark{sys: step.sys}
	cause.during = mark
	step.sys.dispatching.Add(1)
	defer func() {
		mark.over.Store(true)
		step.sys.dispatching.Add(-1)
	}()
	return r.dispatch(context.WithValue(ctx, settlingKey{}, mark), cmd, *cause)
}

func (r *SagaRunner[S, E, C]) save(ctx context.Context, tx store.StateTx, key string, h heldState[S]) error {
	if h.data == nil {
		return tx.DeleteState(ctx, r.name, key)
	}
	return tx.SaveState(ctx, r.name, key, h.data)
}

// rejectionAttrs are the attributes of the default log line of a
// rejected command: what tells it from the other commands of its event
// (its type, the stream its runner decided it on, its index among the
// event's commands, the keys of the instances it went through, when it
// went through any), the event, and the rejection. No field of the
// command is logged: it may hold personal data.
func rejectionAttrs(saga string, cmd any, cause Cause, err error) []any {
	command, keys := describeCommand(cmd)
	attrs := []any{"saga", saga, "command", command}
	if rej := (rejection{}); errors.As(err, &rej) && rej.stream != "" {
		attrs = append(attrs, "stream", rej.stream)
	}
	attrs = append(attrs, "index", cause.Index)
	if len(keys) > 0 {
		attrs = append(attrs, "keys", keys)
	}
	return append(attrs, "position", cause.Event.Position, "event", cause.Event.ID, "error", err)
}

// keyedPkg is the package of decider.Keyed, whose instances describeCommand
// looks into.
var keyedPkg = reflect.TypeFor[decider.Keyed[int, int]]().PkgPath()

// describeCommand names cmd for a log: the type of the command it holds
// through the cases of sums and the values of keyed commands, and the
// keys of the instances on the way, outermost first. A composite's
// command is a sum of keyed commands, whose own type says nothing of
// which command it holds.
func describeCommand(cmd any) (string, []string) {
	var keys []string
	for {
		if s, ok := cmd.(decider.Sum); ok {
			_, cmd = s.Case()
			continue
		}
		v := reflect.ValueOf(cmd)
		if v.Kind() == reflect.Struct && v.Type().PkgPath() == keyedPkg && strings.HasPrefix(v.Type().Name(), "Keyed[") {
			keys = append(keys, fmt.Sprint(v.Field(0).Interface()))
			cmd = v.Field(1).Interface()
			continue
		}
		return fmt.Sprintf("%T", cmd), keys
	}
}
