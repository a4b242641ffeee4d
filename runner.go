package annals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// DefaultRetries is how many times [Runner.Handle] and [DCBRunner.Handle]
// catch up and decide again after a conflict, unless [WithRetries] says
// otherwise. Commands of one process on one stream or boundary take
// turns and do not conflict; the retries are for other processes, such
// as the instances of a serverless function. Four processes of eight
// writers each deciding on one boundary of a SQLite file failed 2.7% of
// their commands with 3 retries, 0.16% with 6, none with 8 or 10. With
// [JitterBackoff], 8 retries pause at most about a third of a second in
// all.
const DefaultRetries = 8

// Runner handles commands for one kind of aggregate: it loads a stream's
// state, decides, and appends the events with the version it loaded. On a
// conflict it catches up from the stream and decides afresh, a bounded
// number of times.
//
// With [WithSnapshots], it loads a stream from its latest snapshot and the
// events after it, and saves a snapshot after an append when the policy
// says so.
//
// A Runner is safe for concurrent use. Its commands on one stream take
// turns: a command waits for the one before it on the stream to have
// appended, and then decides on the state that one left, so commands of
// one runner never conflict with each other (conflicts still come from
// other processes and other runners). The commands queued when a turn
// ends are decided one after the other and their events appended
// together, each answered as if handled alone, and each seen by an
// [Observer] as an append of its own events; those with an idempotency
// key are appended one by one (docs/architecture.md). Commands on
// different streams run at once. A command whose context ends while it
// waits returns the context's error, having stored nothing.
type Runner[C, E, S any] struct {
	store   *Store
	decider decider.Decider[C, E, S]
	events  codec.Mapper[E]
	retries int
	backoff func(attempt int) time.Duration
	cache   *stateCache[S]
	snaps   *snapshots[S]
	tags    func(streamID string, e E) []string // see WithTags
	logger  *slog.Logger
	turns   turns
	keyed   codec.JSONCheck // the commands fingerprinted for idempotency keys
}

// RunnerOption configures a [Runner].
type RunnerOption func(*runnerConfig)

type runnerConfig struct {
	retries         int
	backoff         func(int) time.Duration
	cacheSize       int
	snapshots       any // a *snapshotConfig[S], checked by NewRunner
	tags            any // a func(E) []string, or a func(string, E) []string from NewInstances; checked by NewRunner; see WithTags
	snapshotTimeout time.Duration
	logger          *slog.Logger
}

// WithCache keeps the state and version of up to size recently used
// streams in memory. A command on a cached stream is decided on the cached
// state and appended at the cached version without reading the stream
// first: one round trip. When another writer appended meanwhile, the
// append conflicts, and the runner reads the events after the cached
// version and decides again (a fast-forward, which does not count as a
// retry). A command that a cached state would reject, or that would
// append nothing, is decided again on the stream as it is before the
// answer is given, so a stale cache never turns a command down. It
// requires Evolve to be pure, since cached states are shared. A stream's
// versions only grow, so a cached version is never taken back: stop the
// processes before restoring the store from a backup (docs/operations.md).
func WithCache(size int) RunnerOption {
	return func(c *runnerConfig) { c.cacheSize = size }
}

// WithRetries sets how many times a command is decided again after a
// conflict before Handle gives up with [store.ErrConflict]. 0 (or less)
// means never.
func WithRetries(n int) RunnerOption {
	return func(c *runnerConfig) { c.retries = max(n, 0) }
}

// WithBackoff sets the pause before retry number attempt (1-based). The
// default waits a random time up to 1ms·2^attempt, capped at 100ms, so that
// writers that collided do not collide again in step.
func WithBackoff(f func(attempt int) time.Duration) RunnerOption {
	return func(c *runnerConfig) { c.backoff = f }
}

// WithLogger sets the logger of what the runner does not fail a command
// for: a snapshot that could not be saved, read or used. The default is
// slog.Default() at the time of logging.
func WithLogger(l *slog.Logger) RunnerOption {
	return func(c *runnerConfig) { c.logger = l }
}

// JitterBackoff is the default backoff of [WithBackoff].
func JitterBackoff(attempt int) time.Duration {
	ceiling := min(time.Millisecond<<min(attempt, 10), 100*time.Millisecond)
	return rand.N(ceiling) + 1
}

// NewRunner returns a Runner for decider d on store s, with mapper m for
// its events: a [*codec.JSON] for plain JSON, or a [codec.NewMapper] pipeline. It
// panics, naming what is missing, when s is nil or a zero Store, when
// d's Decide or Evolve, m or an option is nil, when m reports an error of
// its own (the Err of a mapper whose registration was refused, with which
// every encode and decode fails), and when a [WithSnapshots] option's
// state type is not S.
func NewRunner[C, E, S any](s *Store, d decider.Decider[C, E, S], m codec.Mapper[E], opts ...RunnerOption) *Runner[C, E, S] {
	mustGive("annals.NewRunner", giveStore(s),
		given{d.Decide == nil, "decider's Decide", "a decider whose Decide returns the events a command decides"},
		given{d.Evolve == nil, "decider's Evolve", "a decider whose Evolve folds an event into the state"},
		given{lo.IsNil(m), "mapper", "the codec of the events, such as a *codec.JSON, or a codec.NewMapper pipeline"})
	noNilOptions("annals.NewRunner", opts)
	usableMapper("annals.NewRunner", m)
	cfg := runnerConfig{retries: DefaultRetries, backoff: JitterBackoff, snapshotTimeout: DefaultSnapshotTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	r := &Runner[C, E, S]{store: s, decider: d, events: m, retries: cfg.retries, backoff: cfg.backoff, logger: cfg.logger}
	if cfg.cacheSize > 0 {
		r.cache = newStateCache[S](cfg.cacheSize)
	}
	if cfg.snapshots != nil {
		sc, ok := cfg.snapshots.(*snapshotConfig[S])
		if !ok {
			panic(fmt.Sprintf("annals: annals.NewRunner: WithSnapshots was given a snapshot mapper of %v states, and the runner's state is a %v; give each runner, and each part of a composite, options of its own",
				cfg.snapshots.(interface{ stateType() reflect.Type }).stateType(), reflect.TypeFor[S]()))
		}
		r.snaps = &snapshots[S]{snapshotConfig: *sc, timeout: cfg.snapshotTimeout}
	}
	switch tags := cfg.tags.(type) {
	case nil:
	case func(E) []string:
		r.tags = func(_ string, e E) []string { return tags(e) }
	case func(string, E) []string: // from NewInstances, which knows each stream's key
		r.tags = tags
	default:
		panic(fmt.Sprintf("annals: annals.NewRunner: WithTags was given a %T, want a func(%v) []string of the runner's events; give each runner, and each part of a composite, options of its own", cfg.tags, reflect.TypeFor[E]()))
	}
	return r
}

// Result is what a handled command did.
type Result[E, S any] struct {
	// Events are the events appended; empty when the command decided none.
	// For a Duplicate, they are the events the command appended when it
	// was first handled.
	Events []E
	// State is the stream's state after the events. With [WithCache] it
	// is the cached state itself, shared with later commands: read it,
	// and do not change what it refers to (a map, a slice's elements).
	State S
	// Version is the stream's version after the events.
	Version int64
	// Duplicate reports that a command handled with an idempotency key
	// (see [WithIdempotencyKey]) had already been handled: its events were
	// stored before, and nothing was appended this time. Events holds
	// them, as the first call's Result did; State and Version are the
	// stream's now, after whatever was appended since.
	Duplicate bool
}

// HandleOption configures one call of [Runner.Handle].
type HandleOption func(*handleConfig)

type handleConfig struct {
	meta        store.Metadata
	key         string
	keyed       bool // WithIdempotencyKey was given, key perhaps empty
	fingerprint string
	during      *settleMark // from Cause.Options
}

// settling returns ctx, marked as the context of a consumer that a round
// of a Sync system's settle steps when the command is one that a saga's
// dispatcher sends while that round runs it (whatever context it was
// handled with): the settle handles its events.
func (c handleConfig) settling(ctx context.Context) context.Context {
	if m := c.during; m != nil && !m.over.Load() && !m.sys.inRound(ctx) {
		return context.WithValue(ctx, settlingKey{}, m)
	}
	return ctx
}

// place returns where the i-th event of a command's append goes, on
// stream after version, and its metadata: with an idempotency key, the
// event's ID is derived from the key and the first event's metadata
// holds the command's fingerprint.
func (c handleConfig) place(stream string, version int64, i int) (codec.Placement, store.Metadata) {
	at := codec.Placement{StreamID: stream, Version: version + int64(i) + 1}
	meta := c.meta
	if c.key != "" {
		at.ID = EventID(c.key, i)
		if i == 0 {
			meta.Extra = maps.Clone(meta.Extra)
			if meta.Extra == nil {
				meta.Extra = map[string]string{}
			}
			meta.Extra[idempotencyExtra] = c.fingerprint
		}
	}
	return at, meta
}

// newHandleConfig applies opts. The options get a pointer, which escapes:
// without options nothing is allocated.
func newHandleConfig(opts []HandleOption) handleConfig {
	if len(opts) == 0 {
		return handleConfig{}
	}
	cfg := new(handleConfig)
	for _, o := range opts {
		o(cfg)
	}
	return *cfg
}

// WithMetadata sets the metadata stored with every event of the command.
// The Extra entry "annals.idempotency" is the library's (see
// [WithIdempotencyKey]): metadata that sets it is refused with an error
// matching [store.ErrInvalid], and nothing is stored.
func WithMetadata(m store.Metadata) HandleOption {
	return func(c *handleConfig) { c.meta = m }
}

// WithIdempotencyKey makes the command take effect at most once per key:
// the IDs of the events it appends derive from the key, the store refuses
// an event ID it already holds, and Handle reports such a repeat as a
// [Result] with Duplicate set instead of appending again. Sagas key each
// command by the event that caused it (see [Cause]). A repeat is found
// by looking the key's event IDs up (every adapter of this module is a
// [store.EventFinder]), so it costs a few lookups however long the
// stream; like any command, it also loads the stream's state, which on
// a long stream wants [WithSnapshots] or [WithCache]. A repeat whose
// append conflicts (others append to the stream, or to a DCB decision's
// boundary, meanwhile) is looked up too, before deciding again, so that a
// busy stream answers it Duplicate rather than with a conflict. The
// events bind the key: a command that appended none leaves no trace of
// it, so its repeat is decided afresh, and the key is free to use again.
//
// A repeat is told from another command by the command's type (as "%T"
// writes it, or as its [CommandNamer] method names it) and its content as
// JSON. "%T" writes the package's name, not its import path, so that a
// module or a directory renamed keeps its keys; two command types of one
// name in packages of one name (v1/orders.Cancel and v2/orders.Cancel)
// are one type to it, and need CommandName methods that tell them apart.
// The same key with a command of another type or content, or on
// another stream, fails with [ErrIdempotencyKey], whatever deciding would
// say (on a store that is not a [store.EventFinder], on another stream
// only when the command appends). So a keyed command must be one JSON encodes
// whole: Handle refuses, with an error matching [codec.ErrUnencodable]
// and storing nothing, a command whose fields are all unexported, one of
// the program's own module with an unexported field that holds data
// beside exported ones (left out of the fingerprint, so commands that
// differ only there would be taken for one), one that holds a channel or
// a function in an exported field, or one that holds a string that is
// not valid UTF-8 (JSON replaces its bytes, so two such commands could
// not be told apart: keep bytes in a []byte). An unexported channel or
// function (a reply channel) passes; tag an exported one json:"-" to
// leave it out of the comparison. A command of a sum type of package
// decider (the commands of a combined decider) is told by the case it
// holds and that case's command. An empty key, or one of white space
// only, is refused with an error matching [store.ErrInvalid], storing
// nothing: it is a key
// that went missing (a request without its header), and the command
// would otherwise run as often as it is sent. So is a key longer than
// [MaxIdempotencyKeyLen] bytes.
//
// The comparison keeps a fingerprint of the command (a hash of its type
// and JSON) in the metadata of its first event, in clear: forgetting a
// data subject (codec.ForgetSubject) does not remove it, and a guessed
// command can be checked against it. Keep personal data out of keyed
// commands; carry an ID, and put the data in the events' personal fields.
func WithIdempotencyKey(key string) HandleOption {
	return func(c *handleConfig) { c.key, c.keyed = key, true }
}

// check refuses an idempotency key given empty or too long, and metadata
// that sets the entry of a keyed command's fingerprint.
func (c handleConfig) check() error {
	if _, ok := c.meta.Extra[idempotencyExtra]; ok {
		return fmt.Errorf("the metadata sets %q, the entry in which a command with an idempotency key keeps its fingerprint: leave it out (copied from an event's metadata, it is that event's command's), and name an entry of your own otherwise: %w", idempotencyExtra, store.ErrInvalid)
	}
	if c.keyed && strings.TrimSpace(c.key) == "" {
		return fmt.Errorf("the idempotency key is empty (%q): pass the key the request carries, or no WithIdempotencyKey for a command that may take effect twice: %w", c.key, store.ErrInvalid)
	}
	if len(c.key) > MaxIdempotencyKeyLen {
		return fmt.Errorf("the idempotency key %.32q… is %d bytes, the limit is %d: pass a shorter key, such as a hash of this one: %w", c.key, len(c.key), MaxIdempotencyKeyLen, store.ErrInvalid)
	}
	return nil
}

// MaxIdempotencyKeyLen is the longest idempotency key a command may carry,
// in bytes: room for a request ID, or a saga's name and the event it
// reacted to, and short enough to quote in an error.
const MaxIdempotencyKeyLen = 1024

// idempotentIDs is the namespace of the event IDs derived from
// idempotency keys.
var idempotentIDs = uuid.MustParse("6f1c1e9a-3b0e-4c52-9d5e-2a7f4c8b9e10")

// EventID returns the ID of the i-th event appended by a command handled
// with idempotency key key.
func EventID(key string, i int) uuid.UUID {
	return uuid.NewSHA1(idempotentIDs, []byte(key+"/"+strconv.Itoa(i)))
}

// rejection is the error of a command that Decide rejected: Decide's
// error, matching ErrRejected too. stream is the stream it was decided
// on, "" for a decision on no stream (a DCB runner's), which a saga's
// log of the rejection names: the error says why, not where.
type rejection struct {
	err    error
	stream string
}

func (r rejection) Error() string   { return r.err.Error() }
func (r rejection) Unwrap() []error { return []error{r.err, ErrRejected} }

// Handle decides cmd on the current state of the stream and appends the
// events. What it returns is one of the outcomes listed at [ErrStored]:
//
//   - the events were stored: a nil error, or one that matches
//     [ErrStored] when something after the append failed; the Result
//     holds the events, the state and the version after them;
//   - the outcome is unknown (store.ErrOutcomeUnknown): retry with the
//     same idempotency key to find out;
//   - nothing was stored: a business-rule rejection from Decide is
//     returned as it is (errors.Is matches Decide's error and
//     [ErrRejected]) with the Result's State and Version those it was
//     decided on; a conflict is retried from the caught-up state, and one
//     that outlasts the retries returns an error matching
//     [store.ErrConflict], with the State and Version the last attempt
//     was decided on.
//
// With [WithIdempotencyKey], a command whose key was already handled on
// the stream returns the current state with Duplicate set, whatever
// deciding again would say, and in a [Sync] system once the consumers
// have handled the command, as a first success does (an error that
// matches [ErrStored] says one failed on it); a key first used on another
// stream or with another command fails with [ErrIdempotencyKey] (on
// another stream, only when deciding there appends: a store cannot be
// asked for the key's stream, and a rejection there stores nothing).
func (r *Runner[C, E, S]) Handle(ctx context.Context, streamID string, cmd C, opts ...HandleOption) (Result[E, S], error) {
	if err := r.notMade(); err != nil {
		return Result[E, S]{}, err
	}
	o := r.store.observing()
	if o == nil {
		return r.handle(ctx, streamID, cmd, opts...)
	}
	cfg := newHandleConfig(opts)
	start := CommandStart{StreamID: streamID, Command: cmd, Metadata: cfg.meta, IdempotencyKey: cfg.key}
	return observeCommand(ctx, o, start, func(ctx context.Context) (Result[E, S], error) {
		return r.handle(ctx, streamID, cmd, opts...)
	}, func(res Result[E, S], end *CommandEnd) {
		end.Events, end.Version, end.Duplicate = appended(len(res.Events), res.Duplicate), res.Version, res.Duplicate
	})
}

func (r *Runner[C, E, S]) handle(ctx context.Context, streamID string, cmd C, opts ...HandleOption) (Result[E, S], error) {
	if err := check.StreamID(streamID); err != nil {
		// Before the stream's ID is quoted in any error: it may be long.
		return Result[E, S]{}, fmt.Errorf("handle command: %w", err)
	}
	if m := r.store.inHandler(ctx); m != nil {
		return Result[E, S]{}, m.refuse(fmt.Sprintf("handle a command on stream %q", streamID))
	}
	cfg := newHandleConfig(opts)
	if err := cfg.check(); err != nil {
		return Result[E, S]{}, fmt.Errorf("handle command on stream %q: %w", streamID, err)
	}
	if cfg.key != "" {
		var err error
		if cfg.fingerprint, err = fingerprint(&r.keyed, cmd); err != nil {
			return Result[E, S]{}, fmt.Errorf("handle command on stream %q: idempotency key %q: %w", streamID, cfg.key, err)
		}
	}
	// A command that finds its stream's turn free leads at once, and
	// lives on its Handle's stack; one that queues is reached by the
	// command ahead of it, through its ticket, and lives on the heap.
	c := command[C, E, S]{ctx: ctx, cmd: cmd, cfg: cfg}
	if r.turns.take(streamID) {
		r.leadTurn(ctx, streamID, &c)
	} else {
		q := new(command[C, E, S])
		*q = c
		q.ticket.job = q
		lead, err := r.turns.enter(ctx, streamID, &q.ticket)
		if err != nil {
			return Result[E, S]{}, waitedTooLong(streamID, err)
		}
		if lead {
			r.leadTurn(ctx, streamID, q)
		}
		c = *q
	}
	if c.panicked {
		panic(c.panicValue)
	}
	if c.err == nil && c.then.to > 0 {
		c.err = r.store.settle(cfg.settling(ctx), streamID, c.then.from, c.then.to)
	}
	return c.res, c.err
}

// leadTurn handles c, which holds its stream's turn, and the commands
// queued behind it that join it (none for a command with an idempotency
// key), passes the turn on, and then saves the snapshots that their
// appends call for.
func (r *Runner[C, E, S]) leadTurn(ctx context.Context, streamID string, c *command[C, E, S]) {
	var appended []settlement[S]
	var group []*ticket
	if c.cfg.key == "" {
		group = r.turns.gather(streamID, maxTogether, joins[C, E, S])
	}
	if group == nil {
		appended = r.lead(streamID, c, nil)
	} else {
		// In a group, each command is reached through its ticket: the
		// leader too, from the heap rather than the stack of its Handle.
		lc := new(command[C, E, S])
		*lc = *c
		lc.ticket.job, lc.ticket.state = lc, leading
		group[0] = &lc.ticket
		appended = r.lead(streamID, lc, group)
		*c = *lc
	}
	// Out of the turn: saving a snapshot takes a write of its own, and a
	// Sync system's consumers may handle commands on this stream.
	for _, a := range appended {
		r.snapshotAfter(ctx, streamID, a)
	}
}

// maxTogether bounds the commands that a command holding its stream's
// turn takes along (see turns.gather).
const maxTogether = 128

// command is a command handled in its stream's turn, and its outcome,
// set by the command that leads the turn (see turns).
type command[C, E, S any] struct {
	ticket ticket // its place at the stream's turn
	ctx    context.Context
	cmd    C
	cfg    handleConfig

	res  Result[E, S]
	then settled // the consumers' part of its settlement
	err  error
	// panicked says that Decide or Evolve panicked on the command, with
	// panicValue; the command's own Handle panics with it.
	panicked   bool
	panicValue any
}

// settled is the part of a settlement that Handle keeps after the
// turn: the versions a Sync system's consumers run over, after from up
// to to. The command holds only these, not the state and records, which
// would make every command's allocation larger.
type settled struct{ from, to int64 }

// joins says whether a queued command, the job of a ticket, joins the
// commands its turn's leader gathers: those with an idempotency key are
// handled alone (see decideAndAppend).
func joins[C, E, S any](job any) bool {
	return job.(*command[C, E, S]).cfg.key == ""
}

// waitedTooLong is the error of a command whose context ended while it
// waited for its stream's turn.
func waitedTooLong(streamID string, err error) error {
	return fmt.Errorf("handle command on stream %q: waiting for the command before it on the stream: %w", streamID, err)
}

// lead handles c, which holds its stream's turn, and the commands of
// group that it gathered (nil for none), then passes the turn on, and
// returns what each append stored, for snapshots (alone, only when the
// runner takes snapshots). Alone, c is handled by
// decideAndAppend in c's goroutine, and a panic of its Decide or Evolve
// unwinds it as it is, once the turn has been passed on.
func (r *Runner[C, E, S]) lead(streamID string, c *command[C, E, S], group []*ticket) (appended []settlement[S]) {
	defer r.turns.pass(streamID, group)
	if group != nil {
		defer panicUnanswered[C, E, S](group)
		return r.decideInTurn(streamID, group)
	}
	var then settlement[S]
	c.res, then, c.err = r.decideAndAppend(c.ctx, streamID, c.cmd, c.cfg)
	c.then = settled{from: then.from, to: then.to}
	if then.records != nil && r.snaps != nil { // only snapshots need it
		appended = []settlement[S]{then}
	}
	return appended
}

// panicUnanswered recovers a panic of the work the commands of group
// share, such as loading their stream (a mapper, an upcaster or Evolve
// panicking on a stored event), or their append, and gives it to each
// command not yet answered, so that each panics in its own Handle: none
// is told it succeeded, and none is told it failed while its outcome is
// unknown. A command's answer is set only once its outcome is known, so
// one without an error when the panic unwinds has none.
func panicUnanswered[C, E, S any](group []*ticket) {
	v := recover()
	if v == nil {
		return
	}
	for _, t := range group {
		if c := t.job.(*command[C, E, S]); !c.panicked && c.err == nil {
			c.panicked, c.panicValue = true, v
		}
	}
}

// decideInTurn handles the commands of group, the leader first, in the
// stream's turn, and returns what each append stored. Those whose
// context has ended are told so; the others are decided one after the
// other and appended together (decideTogether), or, when one is left,
// handled alone.
func (r *Runner[C, E, S]) decideInTurn(streamID string, group []*ticket) []settlement[S] {
	live := make([]*command[C, E, S], 0, len(group))
	for _, t := range group {
		c := t.job.(*command[C, E, S])
		if err := c.ctx.Err(); err != nil {
			c.err = waitedTooLong(streamID, err)
			continue
		}
		live = append(live, c)
	}
	if len(live) > 1 {
		return r.decideTogether(streamID, live)
	}
	return r.decideAlone(streamID, live)
}

// decideAlone handles each of cs on its own, in order, with
// decideAndAppend, and returns what their appends stored.
func (r *Runner[C, E, S]) decideAlone(streamID string, cs []*command[C, E, S]) []settlement[S] {
	var appended []settlement[S]
	for _, c := range cs {
		if then, ok := r.decideOne(streamID, c); ok {
			appended = append(appended, then)
		}
	}
	return appended
}

// decideOne handles c on its own with decideAndAppend, and returns what
// its append stored, if it appended. A panic of Decide or Evolve is
// recorded in c, not let unwind the goroutine of the command that leads
// the turn.
func (r *Runner[C, E, S]) decideOne(streamID string, c *command[C, E, S]) (appended settlement[S], ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.panicked, c.panicValue = true, v
		}
	}()
	var then settlement[S]
	c.res, then, c.err = r.decideAndAppend(c.ctx, streamID, c.cmd, c.cfg)
	c.then = settled{from: then.from, to: then.to}
	return then, then.records != nil
}

// capturePanic runs f, and records a panic of f in c instead of letting
// it unwind the goroutine of the command that leads the turn.
func capturePanic[C, E, S any](c *command[C, E, S], f func()) {
	defer func() {
		if v := recover(); v != nil {
			c.panicked, c.panicValue = true, v
		}
	}()
	f()
}

// decision is what Decide said on one command of decideTogether, on the
// state the commands before it left at version from.
type decision[E, S any] struct {
	events   []E
	err      error // a rejection
	state    S     // after the events
	from, to int64 // the versions before and after the events
}

// decideTogether handles cs, commands without idempotency keys queued on
// one stream, with one append: it decides each on the state the ones
// before it left, and appends all their events at once, at the version
// the first was decided on. Each command keeps its own answer: a
// rejection is a rejection of that command alone, on the state it was
// decided on, and is given once that state is known to be the stream's,
// as with decideAndAppend. A conflict catches up and decides them all
// again. When the append fails otherwise, the commands are handled one
// by one, so that one that cannot be stored fails alone; the outcome
// unknown is the answer of those that appended, as it is for a command
// handled alone.
func (r *Runner[C, E, S]) decideTogether(streamID string, cs []*command[C, E, S]) []settlement[S] {
	ctx := cs[0].ctx
	cur, verified, err := r.loadForCommand(ctx, streamID)
	if err != nil {
		return r.decideAlone(streamID, cs)
	}
	o := r.store.observing() // the queue's appends end with the observer they start with
	for attempt := 0; ; attempt++ {
		state, version := cur.state, cur.version
		var records []store.Event
		var parts []appendPart // for an observer: whose records are which
		decided := make([]decision[E, S], 0, len(cs))
		in := cs[:0:0] // the commands still decided together, with decided
		for _, c := range cs {
			d := decision[E, S]{state: state, from: version, to: version}
			var recs []store.Event
			capturePanic(c, func() {
				d.events, d.err = r.decider.Decide(c.cmd, state)
				if d.err != nil || len(d.events) == 0 {
					d.events = nil
					return
				}
				if recs, c.err = r.encode(c.ctx, streamID, version, d.events, c.cfg); c.err != nil {
					return
				}
				d.state, d.to = r.decider.Fold(state, d.events), version+int64(len(d.events))
			})
			if c.panicked || c.err != nil {
				continue // answered: nothing of it is stored
			}
			in, decided = append(in, c), append(decided, d)
			records = append(records, recs...)
			if o != nil && len(recs) > 0 {
				parts = append(parts, appendPart{ctx: c.ctx, expected: d.from, n: len(recs)})
			}
			state, version = d.state, d.to
		}
		cs = in
		if len(cs) == 0 {
			return nil
		}
		if len(records) == 0 {
			if !verified {
				// Rejections and commands that append nothing are answered
				// only on the stream as it is.
				if cur, err = r.catchUp(ctx, streamID, cur); err != nil {
					return r.decideAlone(streamID, cs)
				}
				verified, attempt = true, attempt-1
				continue
			}
			r.answerTogether(streamID, cs, decided)
			return nil
		}
		next, err := r.store.appendTogether(ctx, o, streamID, cur.version, records, parts)
		if err == nil {
			after := loaded[S]{state: state, version: next, snapVersion: cur.snapVersion}
			if r.cache != nil {
				r.cache.put(streamID, after)
			}
			r.answerTogether(streamID, cs, decided)
			return []settlement[S]{{after: after, records: records}}
		}
		if errors.Is(err, store.ErrConflict) && (!verified || attempt < r.retries) {
			if verified {
				if err := sleep(ctx, r.backoff(attempt+1)); err != nil {
					return r.decideAlone(streamID, cs)
				}
			} else {
				verified, attempt = true, attempt-1 // a stale cache does not spend a retry
			}
			if cur, err = r.catchUp(ctx, streamID, cur); err != nil {
				return r.decideAlone(streamID, cs)
			}
			continue
		}
		if !errors.Is(err, store.ErrOutcomeUnknown) {
			// Nothing was stored: each on its own, so that what failed
			// the append fails only the command it comes from.
			return r.decideAlone(streamID, cs)
		}
		var again []*command[C, E, S]
		for i, c := range cs {
			if decided[i].events != nil {
				c.err = fmt.Errorf("handle command on stream %q: %w", streamID, err)
			} else {
				again = append(again, c) // its answer depended on the unknown
			}
		}
		return r.decideAlone(streamID, again)
	}
}

// answerTogether gives each of cs its answer from decided, once the
// states they were decided on are known to be the stream's.
func (r *Runner[C, E, S]) answerTogether(streamID string, cs []*command[C, E, S], decided []decision[E, S]) {
	for i, c := range cs {
		d := decided[i]
		c.res = Result[E, S]{Events: d.events, State: d.state, Version: d.to}
		switch {
		case d.err != nil:
			c.err = rejection{d.err, streamID}
		case d.events != nil:
			c.then = settled{from: d.from, to: d.to}
		}
	}
}

// snapshotAfter saves a snapshot after an append that brought the stream
// to a.after, if the policy says so.
func (r *Runner[C, E, S]) snapshotAfter(ctx context.Context, streamID string, a settlement[S]) {
	if r.snaps == nil {
		return
	}
	before := a.after.snapVersion
	a.after.snapVersion = r.snaps.afterAppend(ctx, r.log(), streamID, a.after, a.records)
	if r.cache != nil && a.after.snapVersion != before {
		r.cache.put(streamID, a.after) // keeps a later state, takes the snapshot's version
	}
}

// settlement is what Handle does once a command's turn on its stream is
// over: run a Sync system's consumers up to what followed from the
// stream's events after version from up to version to (none when to is
// 0), and, after an append of records that brought the stream to after,
// save a snapshot if the policy says so.
type settlement[S any] struct {
	from, to int64
	after    loaded[S]
	records  []store.Event
}

// decideAndAppend is Handle's work within the stream's turn (see turns).
func (r *Runner[C, E, S]) decideAndAppend(ctx context.Context, streamID string, cmd C, cfg handleConfig) (Result[E, S], settlement[S], error) {
	cur, verified, err := r.loadForCommand(ctx, streamID)
	if err != nil {
		return Result[E, S]{}, settlement[S]{}, err
	}
	for attempt := 0; ; attempt++ {
		events, err := r.decider.Decide(cmd, cur.state)
		if (err != nil || len(events) == 0) && !verified {
			// A cached state may be stale: an answer that appends
			// nothing is given only on the stream as it is.
			if cur, err = r.catchUp(ctx, streamID, cur); err != nil {
				return Result[E, S]{}, settlement[S]{}, fmt.Errorf("handle command on stream %q: reading what its cached state lacks: %w; nothing was stored", streamID, err)
			}
			verified, attempt = true, attempt-1
			continue
		}
		if err != nil || len(events) == 0 {
			if cfg.key != "" {
				if res, settle, done, kerr := r.alreadyDone(ctx, streamID, cur, cfg, false); done || kerr != nil {
					return res, settle, kerr
				}
			}
			if err != nil {
				return Result[E, S]{State: cur.state, Version: cur.version}, settlement[S]{}, rejection{err, streamID}
			}
			return Result[E, S]{State: cur.state, Version: cur.version}, settlement[S]{}, nil
		}
		records, err := r.encode(ctx, streamID, cur.version, events, cfg)
		if err != nil {
			return Result[E, S]{}, settlement[S]{}, err
		}
		// Evolve runs before the write, as Decide does: one that panics
		// on the command's events stores nothing.
		state := r.decider.Fold(cur.state, events)
		next, err := r.store.appendUnsettled(ctx, streamID, cur.version, records)
		if err == nil {
			after := loaded[S]{state: state, version: next, snapVersion: cur.snapVersion}
			if r.cache != nil {
				r.cache.put(streamID, after)
			}
			return Result[E, S]{Events: events, State: after.state, Version: next},
				settlement[S]{from: cur.version, to: next, after: after, records: records}, nil
		}
		if cfg.key != "" && refusedForKey(err, false) {
			res, settle, _, kerr := r.alreadyDone(ctx, streamID, cur, cfg, true)
			return res, settle, kerr
		}
		if cfg.key != "" && errors.Is(err, store.ErrConflict) {
			// The store checks the version before the event IDs, so a
			// command stored before, retried while others append to
			// the stream, conflicts on every attempt: the key answers
			// first, and only a key not found here decides again.
			if res, settle, done, kerr := r.alreadyDone(ctx, streamID, cur, cfg, false); done || kerr != nil {
				return res, settle, kerr
			}
		}
		if errors.Is(err, store.ErrConflict) && !verified {
			// The cached state was stale: fast-forward and decide again,
			// without spending a retry.
			if cur, err = r.catchUp(ctx, streamID, cur); err != nil {
				return Result[E, S]{}, settlement[S]{}, fmt.Errorf("handle command on stream %q: reading what its cached state lacks after a version conflict: %w; nothing was stored", streamID, err)
			}
			verified, attempt = true, attempt-1
			continue
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= r.retries {
			if errors.Is(err, store.ErrConflict) {
				return Result[E, S]{State: cur.state, Version: cur.version}, settlement[S]{},
					fmt.Errorf("handle command on stream %q: gave up after %s, another writer appending first each time (the commands of one Runner take turns on a stream: share one Runner per decider, or allow more tries with WithRetries): %w", streamID, attempts(attempt+1), err)
			}
			return Result[E, S]{}, settlement[S]{}, fmt.Errorf("handle command on stream %q: %w", streamID, err)
		}
		if err := sleep(ctx, r.backoff(attempt+1)); err != nil {
			return Result[E, S]{}, settlement[S]{}, fmt.Errorf("handle command on stream %q: waiting to try again after a version conflict: %w; nothing was stored", streamID, err)
		}
		if cur, err = r.catchUp(ctx, streamID, cur); err != nil {
			return Result[E, S]{}, settlement[S]{}, fmt.Errorf("handle command on stream %q: reading it again after a version conflict: %w; nothing was stored", streamID, err)
		}
	}
}

// loadForCommand returns the state a command is decided on, and whether
// it was read from the store: a stream the cache holds is taken as cached,
// without a read, and appended to at its cached version; a conflict then
// catches up (see [WithCache]).
func (r *Runner[C, E, S]) loadForCommand(ctx context.Context, streamID string) (loaded[S], bool, error) {
	if r.cache != nil {
		if l, ok := r.cache.get(streamID); ok {
			return l, false, nil
		}
	}
	l, err := r.loadCurrent(ctx, streamID)
	return l, true, err
}

// catchUp evolves cur by the stream's events after its version.
func (r *Runner[C, E, S]) catchUp(ctx context.Context, streamID string, cur loaded[S]) (loaded[S], error) {
	var err error
	cur.state, cur.version, err = r.LoadFrom(ctx, streamID, cur.state, cur.version)
	if err == nil && r.cache != nil {
		r.cache.put(streamID, cur)
	}
	return cur, err
}

// idempotencyExtra is the metadata entry, on the first event a command
// with an idempotency key appends, that binds the key to the command's
// fingerprint.
const idempotencyExtra = "annals.idempotency"

// alreadyDone looks for the first event of a command with cfg's key in the
// stream. Found with the command's fingerprint, the command was handled:
// done, with the current state and Duplicate set. Found with another
// fingerprint, or, when the store refused the key's event ID (refused),
// not found in this stream, the key was used for something else.
func (r *Runner[C, E, S]) alreadyDone(ctx context.Context, streamID string, cur loaded[S], cfg handleConfig, refused bool) (Result[E, S], settlement[S], bool, error) {
	first, last, err := r.keyedEvents(ctx, streamID, cfg)
	if err != nil {
		return Result[E, S]{}, settlement[S]{}, false, err
	}
	if first == 0 {
		if refused {
			return Result[E, S]{}, settlement[S]{}, false, fmt.Errorf("handle command on stream %q: idempotency key %q was first used on another stream; give each command a key of its own: %w", streamID, cfg.key, ErrIdempotencyKey)
		}
		return Result[E, S]{}, settlement[S]{}, false, nil
	}
	state, version, err := r.LoadFrom(ctx, streamID, cur.state, cur.version)
	if err != nil {
		return Result[E, S]{}, settlement[S]{}, false, err
	}
	// The call that stored the command may never have heard so (its
	// answer was lost: store.ErrOutcomeUnknown), and then a Sync system
	// has not run its consumers on the events: Handle runs them, so that
	// a duplicate, like a first success, returns once the views and
	// sagas have handled the command, and says so if one fails on it.
	events, err := r.appendedBy(ctx, streamID, first, last)
	if err != nil {
		return Result[E, S]{}, settlement[S]{}, false, err
	}
	res := Result[E, S]{Events: events, State: state, Version: version, Duplicate: true}
	return res, settlement[S]{from: first - 1, to: last}, true, nil
}

// appendedBy returns the events of the stream from version first to last:
// those that the command a duplicate repeats appended, so that the retry
// is told what the first call was.
func (r *Runner[C, E, S]) appendedBy(ctx context.Context, streamID string, first, last int64) ([]E, error) {
	events := make([]E, 0, last-first+1)
	for rec, err := range r.store.readStream(ctx, streamID, first) {
		if err != nil {
			return nil, fmt.Errorf("load stream %q: %w", streamID, r.store.fault(err))
		}
		if rec.Version > last {
			break
		}
		e, err := r.events.FromRecord(ctx, rec)
		if err != nil {
			return nil, fmt.Errorf("load stream %q version %d: %w", streamID, rec.Version, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// keyedEvents returns the versions of the first and last events that the
// command with cfg's key appended to the stream (0 and 0 when it appended
// none there), and an error when the key's first event holds another
// command's fingerprint. It looks the key's event IDs up in the store's
// index when the adapter is a [store.EventFinder], so that a retry costs
// a few lookups however long the stream, and reads the stream otherwise.
func (r *Runner[C, E, S]) keyedEvents(ctx context.Context, streamID string, cfg handleConfig) (first, last int64, err error) {
	lookupErr := func(err error) error {
		return fmt.Errorf("handle command on stream %q: look up idempotency key %q: %w", streamID, cfg.key, err)
	}
	fingerprinted := func(rec store.Record) error {
		if got := rec.Metadata.Extra[idempotencyExtra]; got != "" && got != cfg.fingerprint {
			return fmt.Errorf("handle command on stream %q: idempotency key %q was first used with another command (version %d), of another type or content: %w", streamID, cfg.key, rec.Version, ErrIdempotencyKey)
		}
		return nil
	}
	if r.store.finder != nil {
		rec, ok, err := r.store.findEvent(ctx, EventID(cfg.key, 0))
		if err != nil {
			return 0, 0, lookupErr(err)
		}
		if !ok {
			return 0, 0, nil
		}
		if rec.StreamID != streamID {
			// Found elsewhere: told whether or not the command appends,
			// as a store without a finder tells it only when it does.
			return 0, 0, fmt.Errorf("handle command on stream %q: idempotency key %q was first used on stream %q; give each command a key of its own: %w", streamID, cfg.key, rec.StreamID, ErrIdempotencyKey)
		}
		if err := fingerprinted(rec); err != nil {
			return 0, 0, err
		}
		first, last = rec.Version, rec.Version
		for i := 1; ; i++ {
			next, ok, err := r.store.findEvent(ctx, EventID(cfg.key, i))
			if err != nil {
				return 0, 0, lookupErr(err)
			}
			if !ok || next.StreamID != streamID || next.Version != last+1 {
				return first, last, nil
			}
			last = next.Version
		}
	}
	id := EventID(cfg.key, 0)
	for rec, err := range r.store.readStream(ctx, streamID, 1) {
		if err != nil {
			return 0, 0, lookupErr(r.store.fault(err))
		}
		if first > 0 {
			if rec.ID != EventID(cfg.key, int(rec.Version-first)) {
				break
			}
			last = rec.Version
			continue
		}
		if rec.ID != id {
			continue
		}
		if err := fingerprinted(rec); err != nil {
			return 0, 0, err
		}
		first, last = rec.Version, rec.Version
	}
	return first, last, nil
}

// fingerprint identifies a command by its type (see [CommandNamer]) and
// its content as JSON, so that an idempotency key reused for another
// command is caught. A
// command whose content JSON would lose, whole or in part, is refused:
// two commands could not be told apart ({} for a struct whose fields are
// all unexported, or strings that differ only in bytes that are not
// valid UTF-8, which JSON replaces alike), or a retry could not be told
// from the first (a reply channel), and a stored write would be answered
// as another's. A command of a sum type ([decider.Either] and the other
// sums of package decider, the commands of a combined decider), whose
// fields JSON does not see, is identified by the cases it holds, one
// within another, and the command in the last.
func fingerprint(check *codec.JSONCheck, cmd any) (string, error) {
	var cases []byte
	for {
		s, ok := cmd.(decider.Sum)
		if !ok || lo.IsNil(s) {
			break
		}
		i, v := s.Case()
		cases = fmt.Appendf(cases, "\x00case %d", i)
		cmd = v
	}
	data, err := check.MarshalFingerprint("fingerprint the command", cmd)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(slices.Concat([]byte(commandName(cmd)), cases, []byte{0}, data))
	return hex.EncodeToString(sum[:16]), nil
}

// CommandNamer is implemented by a command that names its own type for
// the fingerprints of idempotency keys (see [WithIdempotencyKey]), in
// place of the type as "%T" writes it ("payments.Request"). A command
// type moved to another package, or renamed, keeps the keys stored
// before by returning the name it had then:
//
//	func (Request) CommandName() string { return "payments.Request" }
type CommandNamer interface {
	CommandName() string
}

// commandName names cmd's type in its fingerprint.
func commandName(cmd any) string {
	if n, ok := cmd.(CommandNamer); ok {
		return n.CommandName()
	}
	return fmt.Sprintf("%T", cmd)
}

func (r *Runner[C, E, S]) encode(ctx context.Context, streamID string, version int64, events []E, cfg handleConfig) ([]store.Event, error) {
	out := make([]store.Event, len(events))
	for i, e := range events {
		at, meta := cfg.place(streamID, version, i)
		ev, err := r.events.ToEvent(ctx, at, e, meta)
		if err != nil {
			return nil, fmt.Errorf("handle command on stream %q: encode event %d: %w", streamID, i, err)
		}
		if r.tags != nil {
			ev.Tags = r.tags(streamID, e)
		}
		out[i] = ev
	}
	return out, nil
}

// loaded is a stream's state at a version, and the version of the
// snapshot it was loaded from (0 for none).
type loaded[S any] struct {
	state       S
	version     int64
	snapVersion int64
}

// Load returns the current state and version of a stream. A stream with no
// events is in the initial state at version 0.
func (r *Runner[C, E, S]) Load(ctx context.Context, streamID string) (S, int64, error) {
	if err := r.notMade(); err != nil {
		var zero S
		return zero, 0, err
	}
	l, err := r.loadCurrent(ctx, streamID)
	return l.state, l.version, err
}

func (r *Runner[C, E, S]) loadCurrent(ctx context.Context, streamID string) (loaded[S], error) {
	if r.cache != nil {
		if l, ok := r.cache.get(streamID); ok {
			var err error
			if l.state, l.version, err = r.LoadFrom(ctx, streamID, l.state, l.version); err != nil {
				return l, err
			}
			r.cache.put(streamID, l)
			return l, nil
		}
	}
	l, err := r.loadFresh(ctx, streamID, math.MaxInt64, keepAll)
	if err == nil && r.cache != nil {
		r.cache.put(streamID, l)
	}
	return l, err
}

// loadFresh loads a stream up to version upTo, from its latest snapshot at
// or below upTo when there is a usable one, and from the start otherwise.
func (r *Runner[C, E, S]) loadFresh(ctx context.Context, streamID string, upTo int64, keep func(store.Record) bool) (loaded[S], error) {
	if r.snaps != nil {
		state, version, ok, err := r.snaps.load(ctx, r.log(), streamID, upTo)
		if err != nil {
			return loaded[S]{state: r.decider.InitialState()}, err
		}
		if ok {
			state, v, err := r.fold(ctx, streamID, state, version, keep, true)
			if err == nil {
				return loaded[S]{state: state, version: v, snapVersion: version}, nil
			}
			if !errors.Is(err, errSnapshotAhead) {
				return loaded[S]{state: r.decider.InitialState()}, err
			}
			r.log().WarnContext(ctx, "annals: snapshot ignored: the stream has no event at its version; replaying the stream",
				"stream", streamID, "snapshot_version", version)
		}
	}
	state, version, err := r.fold(ctx, streamID, r.decider.InitialState(), 0, keep, false)
	return loaded[S]{state: state, version: version}, err
}

// LoadFrom evolves state, known to be the state at version, by the events
// of the stream after version, and returns the new state and version.
func (r *Runner[C, E, S]) LoadFrom(ctx context.Context, streamID string, state S, version int64) (S, int64, error) {
	if err := r.notMade(); err != nil {
		return state, version, err
	}
	return r.fold(ctx, streamID, state, version, keepAll, false)
}

// LoadAt returns the state of a stream as it was at version: the fold of
// its first version events. A version beyond the end loads everything;
// a version of 0 or below loads nothing, and returns the initial state
// at version 0. A snapshot at or below version is used when there is one.
func (r *Runner[C, E, S]) LoadAt(ctx context.Context, streamID string, version int64) (S, int64, error) {
	if err := r.notMade(); err != nil {
		var zero S
		return zero, 0, err
	}
	l, err := r.loadFresh(ctx, streamID, version, func(rec store.Record) bool { return rec.Version <= version })
	return l.state, l.version, err
}

// LoadAsOf returns the state of a stream as it was at time t: the fold of
// the events recorded at or before t. It replays from the start.
func (r *Runner[C, E, S]) LoadAsOf(ctx context.Context, streamID string, t time.Time) (S, int64, error) {
	if err := r.notMade(); err != nil {
		var zero S
		return zero, 0, err
	}
	return r.fold(ctx, streamID, r.decider.InitialState(), 0, func(rec store.Record) bool { return !rec.Time.After(t) }, false)
}

func keepAll(store.Record) bool { return true }

// notMade returns the error of a call on r when NewRunner did not make it.
func (r *Runner[C, E, S]) notMade() error {
	if r == nil || r.store == nil {
		return errNotMade("Runner", makeRunner)
	}
	return nil
}

// errSnapshotAhead reports a snapshot of a version the stream does not have.
var errSnapshotAhead = errors.New("snapshot is ahead of the stream")

// fold evolves state, the state at version, by the stream's events after
// version that keep accepts. With verify, it first checks that the stream
// has an event at version, and fails with errSnapshotAhead if not.
func (r *Runner[C, E, S]) fold(ctx context.Context, streamID string, state S, version int64, keep func(store.Record) bool, verify bool) (S, int64, error) {
	if err := check.StreamID(streamID); err != nil {
		// Before the stream's ID is quoted in any error: it may be long.
		return state, version, fmt.Errorf("load: %w", err)
	}
	from := version + 1
	if verify {
		from = version
	}
	// The body of a range over a function is a closure: what it changes
	// lives in one variable, allocated once, and it leaves by break, not
	// return, whose results would be allocated too.
	f := struct {
		state   S
		version int64
		verify  bool
		err     error
	}{state: state, version: version, verify: verify}
	for rec, err := range r.store.readStream(ctx, streamID, from) {
		if err != nil {
			f.err = fmt.Errorf("load stream %q: %w", streamID, r.store.fault(err))
			break
		}
		if f.verify {
			if rec.Version != f.version {
				f.err = errSnapshotAhead
				break
			}
			f.verify = false
			continue
		}
		if !keep(rec) {
			break
		}
		if rec.Version != f.version+1 {
			// A decision on such a state would be made on events that are
			// not the stream's, and appended after a gap.
			f.err = fmt.Errorf("load stream %q: version %d follows version %d, where every stream's versions run 1, 2, 3…; run `annals verify` to find every such place: %w", streamID, rec.Version, f.version, store.ErrCorrupt)
			break
		}
		e, err := r.events.FromRecord(ctx, rec)
		if err != nil {
			f.err = fmt.Errorf("load stream %q version %d: %w", streamID, rec.Version, err)
			break
		}
		f.state = r.decider.Evolve(f.state, e)
		f.version = rec.Version
	}
	if f.err == nil && f.verify {
		f.err = errSnapshotAhead
	}
	return f.state, f.version, f.err
}

func (r *Runner[C, E, S]) log() *slog.Logger {
	if r.logger != nil {
		return r.logger
	}
	return slog.Default()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempts says how many attempts n is: "1 attempt", "3 attempts".
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}
