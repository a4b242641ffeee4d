package annals

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// ReadQuery yields the tagged events that match q after position after,
// in log order; see [store.DCB]. A store whose adapter does not read by
// query yields one error matching [store.ErrUnsupported].
func (s *Store) ReadQuery(ctx context.Context, q store.Query, after int64) iter.Seq2[store.Record, error] {
	if err := s.notMade(); err != nil {
		return failed(err)
	}
	if s.dcb == nil {
		return failed(s.unsupported("reads by query", "store.DCB"))
	}
	return s.faultRead(s.readQuery(ctx, q, after))
}

// AppendIf appends events to a stream if no event matching cond's query
// was appended after its position; see [store.DCB]. Like [Store.Append],
// under a [System] in [Sync] mode it then runs the system's consumers
// until they have handled what followed from the append.
func (s *Store) AppendIf(ctx context.Context, streamID string, expected int64, events []store.Event, cond store.AppendCondition) (int64, error) {
	if err := s.notMade(); err != nil {
		return 0, err
	}
	if m := s.inHandler(ctx); m != nil {
		return 0, m.refuse(fmt.Sprintf("append to stream %q", streamID))
	}
	v, err := s.appendIfUnsettled(ctx, streamID, expected, events, cond)
	if err != nil || len(events) == 0 {
		return v, err
	}
	return v, s.settle(ctx, streamID, v-int64(len(events)), v)
}

// appendIfUnsettled is AppendIf without running a Sync system's
// consumers, which its caller runs with settle.
func (s *Store) appendIfUnsettled(ctx context.Context, streamID string, expected int64, events []store.Event, cond store.AppendCondition) (int64, error) {
	if s.dcb == nil {
		return 0, s.unsupported("conditional appends", "store.DCB")
	}
	v, err := s.appendIf(ctx, streamID, expected, events, cond)
	if err == nil && len(events) > 0 {
		s.appends.Add(1)
	}
	return v, err
}

// enterBoundary waits until the decision on q holds the turns of its
// boundary in this process, and returns what ends them: one turn for the
// tags of each of q's items (all of them: an item {course:c1, round:2}
// has a turn of its own, which {course:c1, round:3} does not wait for),
// and for each type of an item that names no tag ("*" for a query of
// every event), taken in sorted order so that two decisions never wait
// for each other.
//
// Decisions that would collide in one process, such as two bookings of
// one class, then take turns instead of racing: without them, each would
// read the same position, all but one would conflict, and with more
// decisions than retries some would fail though nothing else wrote.
// Turns are an ordering within the process, no more: the append
// condition still settles what they cannot see, decisions of other
// processes, and events whose tags the query does not name. A context
// that ends while the decision waits ends the wait, with nothing held.
func (s *Store) enterBoundary(ctx context.Context, q store.Query) (func(), error) {
	var keys []string
	for _, item := range q.Items {
		switch {
		case len(item.Tags) > 0:
			keys = append(keys, "tags\x00"+strings.Join(slices.Sorted(slices.Values(item.Tags)), "\x00"))
		case len(item.Types) > 0:
			keys = append(keys, lo.Map(item.Types, func(typ string, _ int) string { return "type\x00" + typ })...)
		default:
			keys = append(keys, "*")
		}
	}
	if len(q.Items) == 0 {
		keys = append(keys, "*")
	}
	keys = lo.Uniq(keys)
	slices.Sort(keys)
	leave := func(held []string) {
		for _, key := range slices.Backward(held) {
			s.boundaries.pass(key, nil)
		}
	}
	for i, key := range keys {
		if _, err := s.boundaries.enter(ctx, key, &ticket{}); err != nil {
			leave(keys[:i])
			return nil, err
		}
	}
	return func() { leave(keys) }, nil
}

// A DCBDecider is a decider that carries its consistency boundary: for
// each command, the query of the events the command is decided on, and
// for each event, the tags by which later queries find it. It belongs
// beside its codec, and a [DCBRunner] runs it on a store (dynamic
// consistency boundaries, docs/dcb.md).
//
// The embedded decider's Decide and Evolve stay pure: Evolve sees the
// events the command's query matches, in log order. [CombineDCB] joins
// deciders that decide the same commands, ORing their queries and
// keeping each one's state folded from its own query's events.
type DCBDecider[C, E, S any] struct {
	decider.Decider[C, E, S]
	// Query returns the query of the events cmd is decided on: its
	// consistency boundary.
	Query func(cmd C) store.Query
	// Tags returns the tags of an event: at least one. An event must
	// carry the tags by which the queries of the decisions it affects
	// find it.
	Tags func(e E) []string
	// Name starts the stream IDs of the decisions: the events of each
	// command go to a stream of their own, Name + "/" + an ID of the
	// decision. Empty means "decision".
	Name string

	// evolver, set by CombineDCB, routes each event of a command's
	// decision to the parts whose queries match it.
	evolver func(cmd C) Evolver[E, S]
}

// union is q OR r without the items of r that q already has: two parts
// that read the same events make one item of the condition, not two.
func union(q, r store.Query) store.Query {
	u := q.Or(r)
	if len(u.Items) == 0 {
		return u
	}
	key := func(it store.QueryItem) string {
		return strings.Join(it.Types, "\x00") + "\x01" + strings.Join(it.Tags, "\x00")
	}
	u.Items = lo.UniqBy(u.Items, key)
	return u
}

// unionTags returns the tags that a and b give an event, a's first; a
// part without a Tags function gives none.
func unionTags[E any](a, b func(E) []string) func(E) []string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(e E) []string { return lo.Union(a(e), b(e)) }
}

// An Evolver evolves a decision's state by one event that the decision's
// query matched: typ is the event's type name in the store and tags its
// tags. See [DCBDecider.Evolver].
type Evolver[E, S any] func(s S, typ string, tags []string, e E) S

// Evolver returns what evolves the state that cmd is decided on by each
// event its query matches. For a decider made by [CombineDCB] it evolves
// each part by the events that part's own query matches, so that a part
// never sees what another part's query brought in; for any other it is
// Evolve.
func (d DCBDecider[C, E, S]) Evolver(cmd C) Evolver[E, S] {
	if d.evolver != nil {
		return d.evolver(cmd)
	}
	return func(s S, _ string, _ []string, e E) S { return d.Evolve(s, e) }
}

// CombineDCB returns the decider that decides each command with a and b
// together, on one consistency boundary: its query is the OR of theirs,
// so one append condition covers every event either reads; its state is
// the pair of theirs, each part folded from the events its own query
// matches (see [DCBDecider.Evolver]); its decision is a's events and then
// b's, and is rejected when either part rejects the command, with a's
// rule checked first. An event's tags are the union of what a and b give
// it, in a's order then b's new ones (a part without a Tags function
// gives none). Its Name is a's, or b's when a has
// none: it shares idempotency keys with the part of that Name (see
// [DCBRunner.Handle]). It panics when a or b has no Decide, Evolve or
// Query function.
//
// Combine rules that guard one decision: a course's seats and a
// student's course limit, say, where the first part decides the
// subscription and the second decides no event but may reject. Nest
// CombineDCB for more than two parts.
//
// The combined decider's own Evolve evolves both parts by every event:
// without the command it cannot tell which part's query an event
// matches. The [DCBRunner] and [DCBDecider.Evolver] route by query;
// proptest.ForDCB specifies combined deciders the same way.
func CombineDCB[C, E, S1, S2 any](a DCBDecider[C, E, S1], b DCBDecider[C, E, S2]) DCBDecider[C, E, decider.Pair[S1, S2]] {
	mustGive("annals.CombineDCB",
		given{a.Decide == nil, "first part's Decide", "a decider whose Decide returns the events a command decides"},
		given{a.Evolve == nil, "first part's Evolve", "a decider whose Evolve folds an event into the state"},
		given{a.Query == nil, "first part's Query", "a decider whose Query says which events a command's decision reads"},
		given{b.Decide == nil, "second part's Decide", "a decider whose Decide returns the events a command decides"},
		given{b.Evolve == nil, "second part's Evolve", "a decider whose Evolve folds an event into the state"},
		given{b.Query == nil, "second part's Query", "a decider whose Query says which events a command's decision reads"})
	type pair = decider.Pair[S1, S2]
	name := a.Name
	if name == "" {
		name = b.Name
	}
	return DCBDecider[C, E, pair]{
		Decider: decider.Decider[C, E, pair]{
			Decide: func(c C, s pair) ([]E, error) {
				first, err := a.Decide(c, s.First)
				if err != nil {
					return nil, err
				}
				second, err := b.Decide(c, s.Second)
				if err != nil {
					return nil, err
				}
				return append(slices.Clip(first), second...), nil
			},
			Evolve: func(s pair, e E) pair {
				return pair{First: a.Evolve(s.First, e), Second: b.Evolve(s.Second, e)}
			},
			Initial: func() pair { return pair{First: a.InitialState(), Second: b.InitialState()} },
		},
		Query: func(c C) store.Query { return union(a.Query(c), b.Query(c)) },
		Tags:  unionTags(a.Tags, b.Tags),
		Name:  name,
		evolver: func(c C) Evolver[E, pair] {
			qa, qb := a.Query(c), b.Query(c)
			ea, eb := a.Evolver(c), b.Evolver(c)
			return func(s pair, typ string, tags []string, e E) pair {
				if qa.Matches(typ, tags) {
					s.First = ea(s.First, typ, tags, e)
				}
				if qb.Matches(typ, tags) {
					s.Second = eb(s.Second, typ, tags, e)
				}
				return s
			}
		},
	}
}

// DCBRunner handles commands whose consistency boundary is a query rather
// than a stream (dynamic consistency boundaries, docs/dcb.md): it reads
// the events of the command's query, folds them into a state, decides,
// tags the events, and appends them on the condition that no event
// matching the query was appended after the last one it read. On a
// conflict it reads the events appended since, and decides afresh, a
// bounded number of times, as [Runner] does.
//
// Each decision's events go to a stream of their own (see
// [DCBDecider].Name),
// which they are alone in: the condition, not a stream version, is what
// orders decisions. Stream-based [Runner]s and DCBRunners share a store
// and a [System]; an event that a Runner appends with tags is seen by
// the queries that match it.
//
// The decider's state is what the command's query shows: Evolve sees the
// matching events that the mapper decodes (those of its types), in log
// order; records of other types that the query matches are skipped.
//
// A DCBRunner is safe for concurrent use. The decisions of a process on
// one boundary take turns: a decision holds a turn for each item of its
// query, named by the item's tags (by its types, for an item without
// tags), from its first read to its append, and the decisions whose
// queries hold an item with the same tags, by any DCBRunner of the
// store handle, wait for it. So they do not conflict with each other;
// conflicts still come from other processes, from queries whose items
// overlap without being the same, and from tagged appends that take no
// turn ([Runner]s built [WithTags], [Store.AppendIf] called directly).
type DCBRunner[C, E, S any] struct {
	store   *Store
	decider DCBDecider[C, E, S]
	events  codec.Mapper[E]
	types   []string // the mapper's types, sorted; nil decodes every record
	// renamed maps a name that records were stored under before a rename
	// to the name the mapper reads them as (see widen).
	renamed map[string]string
	retries int
	backoff func(attempt int) time.Duration
	keyed   codec.JSONCheck // the commands fingerprinted for idempotency keys
}

// NewDCBRunner returns a DCBRunner for decider d on store s, with mapper
// m for its events. Of the [RunnerOption]s it takes [WithRetries] and
// [WithBackoff]. It panics when s or m is nil, when d has no Decide,
// Evolve, Query or Tags function, when m reports an error of its own (see
// [NewRunner]), when d's Name cannot start a stream ID
// (more than 218 bytes, not UTF-8, or with a NUL), and when given another
// option, such as [WithCache], that has no meaning for it.
func NewDCBRunner[C, E, S any](s *Store, d DCBDecider[C, E, S], m codec.Mapper[E], opts ...RunnerOption) *DCBRunner[C, E, S] {
	mustGive("annals.NewDCBRunner", giveStore(s),
		given{lo.IsNil(m), "mapper", "the codec of the events, such as a *codec.JSON, or a codec.NewMapper pipeline"},
		given{d.Decide == nil, "decider's Decide", "a decider whose Decide returns the events a command decides"},
		given{d.Evolve == nil, "decider's Evolve", "a decider whose Evolve folds an event into the state"},
		given{d.Query == nil, "decider's Query", "a decider whose Query says which events a command's decision reads"},
		given{d.Tags == nil, "decider's Tags", "a decider whose Tags says which tags an event carries"})
	noNilOptions("annals.NewDCBRunner", opts)
	usableMapper("annals.NewDCBRunner", m)
	if d.Name == "" {
		d.Name = "decision"
	}
	// A decision's stream is the Name, a slash and a UUID of 36 bytes.
	if err := check.StreamID(d.Name + "/" + uuid.Nil.String()); err != nil {
		panic(fmt.Sprintf("annals: annals.NewDCBRunner: decider's Name %.64q cannot start the stream IDs of its decisions (%v); give a Name of at most %d bytes of UTF-8 without NUL",
			d.Name, err, store.MaxStreamIDLen-len("/")-len(uuid.Nil.String())))
	}
	cfg := runnerConfig{retries: DefaultRetries, backoff: JitterBackoff}
	for _, o := range opts {
		o(&cfg)
	}
	// The options of a stream's runner have no meaning for a decision on
	// a query: refuse them rather than ignore them.
	for _, o := range []struct {
		given bool
		name  string
	}{{cfg.cacheSize != 0, "WithCache"}, {cfg.snapshots != nil, "WithSnapshots"}, {cfg.tags != nil, "WithTags"}, {cfg.logger != nil, "WithLogger"}} {
		if o.given {
			panic(fmt.Sprintf("annals: annals.NewDCBRunner: %s is an option of a stream's Runner, which a DCBRunner does not take (its state is a query's, its events are tagged by the decider's Tags): leave it out; a DCBRunner takes WithRetries and WithBackoff", o.name))
		}
	}
	r := &DCBRunner[C, E, S]{store: s, decider: d, events: m, retries: cfg.retries, backoff: cfg.backoff}
	if types := m.Types(); types != nil {
		r.types = slices.Sorted(slices.Values(types))
	}
	if src, ok := m.(interface{ Sources(string) []string }); ok {
		for _, name := range r.types {
			for _, old := range src.Sources(name) {
				if old == name {
					continue
				}
				if r.renamed == nil {
					r.renamed = map[string]string{}
				}
				r.renamed[old] = name
			}
		}
	}
	return r
}

// widen adds to each item of q that names types the names those types'
// records were stored under before a rename, so that a query written
// with today's names reads, and its condition guards, the records
// stored under yesterday's: a renamed type's history counts in the
// decision, and a writer still appending under the old name conflicts.
func (r *DCBRunner[C, E, S]) widen(q store.Query) store.Query {
	if len(r.renamed) == 0 {
		return q
	}
	items := slices.Clone(q.Items)
	for i, it := range items {
		var olds []string
		for old, name := range r.renamed {
			if slices.Contains(it.Types, name) && !slices.Contains(it.Types, old) {
				olds = append(olds, old)
			}
		}
		if len(olds) > 0 {
			slices.Sort(olds)
			items[i].Types = append(slices.Clone(it.Types), olds...)
		}
	}
	return store.Query{Items: items}
}

// DCBResult is what a command handled by a [DCBRunner] did.
type DCBResult[E, S any] struct {
	// Events are the events appended; empty when the command decided none.
	// For a Duplicate, they are the events the command appended when it
	// was first handled.
	Events []E
	// State is the state the command's query shows after the events.
	State S
	// Position is the position of the last event the decision read: the
	// position of its append condition. 0 when it read none.
	Position int64
	// StreamID is the stream the events were appended to; empty when
	// the command appended nothing.
	StreamID string
	// Duplicate reports that a command handled with an idempotency key
	// (see [WithIdempotencyKey]) had already been handled: nothing was
	// appended this time. Events holds what the first call appended;
	// State and Position are what the query shows now.
	Duplicate bool
}

// Handle decides cmd on the events of its query and appends the events it
// decides, tagged, on the condition that no event matching the query was
// appended since the decision read. Its outcomes are those of
// [Runner.Handle]: stored (nil, or an error matching [ErrStored]); unknown
// (store.ErrOutcomeUnknown); or nothing stored — a rejection from Decide
// (matching [ErrRejected] and Decide's error) with the State and Position
// it was decided on, or a conflict that outlasted the retries (matching
// store.ErrConflict, a [*store.ConditionError] naming the query item that
// kept moving) with the State and Position the last attempt was decided
// on. A query that names an event type the mapper does not read
// is refused with [store.ErrInvalid], and nothing is read or stored.
//
// With [WithIdempotencyKey], the decision's stream and event IDs derive
// from the key and the decider's Name, so a command handled before is
// answered with Duplicate set, the events it appended and the current
// state; a key first used with another command, by a decider of another
// Name or by a [Runner] fails with [ErrIdempotencyKey], whatever deciding
// would say (on a store that is not a [store.EventFinder], only when the
// decision appends). Deciders of one Name share their keys. The key is
// bound by the events stored under it: a decision that appended none
// leaves no trace, and the same key is decided afresh, and free to use
// again.
//
// An [Observer] of the store sees the command as it sees one of
// [Runner.Handle], with the query for a stream (see [CommandStart]),
// and within it the decision's reads by query and conditional append.
func (r *DCBRunner[C, E, S]) Handle(ctx context.Context, cmd C, opts ...HandleOption) (DCBResult[E, S], error) {
	if err := r.notMade(); err != nil {
		return DCBResult[E, S]{}, err
	}
	q := r.widen(r.decider.Query(cmd))
	o := r.store.observing()
	if o == nil {
		return r.handle(ctx, cmd, q, opts...)
	}
	cfg := newHandleConfig(opts)
	start := CommandStart{Query: &q, Command: cmd, Metadata: cfg.meta, IdempotencyKey: cfg.key}
	return observeCommand(ctx, o, start, func(ctx context.Context) (DCBResult[E, S], error) {
		return r.handle(ctx, cmd, q, opts...)
	}, func(res DCBResult[E, S], end *CommandEnd) {
		end.StreamID, end.Events, end.Position, end.Duplicate = res.StreamID, appended(len(res.Events), res.Duplicate), res.Position, res.Duplicate
	})
}

// handle is Handle's work, for cmd, whose query is q.
func (r *DCBRunner[C, E, S]) handle(ctx context.Context, cmd C, q store.Query, opts ...HandleOption) (DCBResult[E, S], error) {
	if m := r.store.inHandler(ctx); m != nil {
		return DCBResult[E, S]{}, m.refuse(fmt.Sprintf("handle %T", cmd))
	}
	if err := r.readable(q); err != nil {
		return DCBResult[E, S]{}, fmt.Errorf("handle %T: %w", cmd, err)
	}
	cfg := newHandleConfig(opts)
	if err := cfg.check(); err != nil {
		return DCBResult[E, S]{}, fmt.Errorf("handle %T: %w", cmd, err)
	}
	if cfg.key != "" {
		var err error
		if cfg.fingerprint, err = fingerprint(&r.keyed, cmd); err != nil {
			return DCBResult[E, S]{}, fmt.Errorf("handle %T: idempotency key %q: %w", cmd, cfg.key, err)
		}
	}
	evolve := r.decider.Evolver(cmd)
	leave, err := r.store.enterBoundary(ctx, q)
	if err != nil {
		return DCBResult[E, S]{}, fmt.Errorf("handle command on %v: wait for its turn: %w", q, err)
	}
	res, to, err := func() (DCBResult[E, S], int64, error) {
		defer leave() // a panic of Decide, Evolve, Tags or the mapper too
		return r.decide(ctx, cmd, q, evolve, cfg)
	}()
	if err != nil || to == 0 {
		return res, err
	}
	return res, r.store.settle(cfg.settling(ctx), res.StreamID, 0, to)
}

// decide is Handle's work while the decision holds its turns: it reads,
// decides and appends, again after each conflict, and returns the
// version its append left the decision's stream at (0 when it appended
// nothing), for Handle to run a Sync system's consumers once the turns
// are passed on, since they may decide on the same boundary.
func (r *DCBRunner[C, E, S]) decide(ctx context.Context, cmd C, q store.Query, evolve Evolver[E, S], cfg handleConfig) (DCBResult[E, S], int64, error) {
	state, pos, err := r.fold(ctx, q, evolve, r.decider.InitialState(), 0)
	if err != nil {
		return DCBResult[E, S]{}, 0, err
	}
	for attempt := 0; ; attempt++ {
		events, err := r.decider.Decide(cmd, state)
		if err != nil || len(events) == 0 {
			if cfg.key != "" {
				if res, done, kerr := r.alreadyDone(ctx, q, evolve, state, pos, cfg, false); done || kerr != nil {
					return res, 0, kerr
				}
			}
			if err != nil {
				return DCBResult[E, S]{State: state, Position: pos}, 0, rejection{err: err}
			}
			return DCBResult[E, S]{State: state, Position: pos}, 0, nil
		}
		stream, err := r.stream(cfg)
		if err != nil {
			return DCBResult[E, S]{}, 0, err
		}
		records, err := r.encode(ctx, stream, events, cfg)
		if err != nil {
			return DCBResult[E, S]{}, 0, err
		}
		// Evolve runs before the write, as Decide does: one that panics
		// on the decision's events stores nothing.
		after := state
		for i, rec := range records {
			if q.Matches(rec.Type, rec.Tags) {
				after = evolve(after, rec.Type, rec.Tags, events[i])
			}
		}
		v, err := r.store.appendIfUnsettled(ctx, stream, store.NoStream, records, store.AppendCondition{FailIfEventsMatch: q, After: pos})
		if err == nil {
			return DCBResult[E, S]{Events: events, State: after, Position: pos, StreamID: stream}, v, nil
		}
		if cfg.key != "" && refusedForKey(err, true) {
			// The key's stream or event IDs are taken: the command was
			// handled before, or the key was used for something else.
			// The refusal is the key's answer, not a conflict with
			// another writer: the command's observer does not count it.
			uncountConflict(ctx, err)
			res, _, kerr := r.alreadyDone(ctx, q, evolve, state, pos, cfg, true)
			return res, 0, kerr
		}
		if cfg.key != "" && errors.Is(err, store.ErrConflict) {
			// The condition is checked before the key's stream, so a
			// command handled before, retried while others append
			// events its query matches, fails it on every attempt: the
			// key answers first, and only a key not found decides again.
			if res, done, kerr := r.alreadyDone(ctx, q, evolve, state, pos, cfg, false); done || kerr != nil {
				return res, 0, kerr
			}
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= r.retries {
			if errors.Is(err, store.ErrConflict) {
				return DCBResult[E, S]{State: state, Position: pos}, 0,
					fmt.Errorf("handle command on %v: gave up after %s: %w", q, attempts(attempt+1), err)
			}
			return DCBResult[E, S]{}, 0, fmt.Errorf("handle command on %v: %w", q, err)
		}
		if err := sleep(ctx, r.backoff(attempt+1)); err != nil {
			return DCBResult[E, S]{}, 0, fmt.Errorf("handle command on %v: waiting to try again after a conflict: %w; nothing was stored", q, err)
		}
		if state, pos, err = r.fold(ctx, q, evolve, state, pos); err != nil {
			return DCBResult[E, S]{}, 0, fmt.Errorf("handle command on %v: reading it again after a conflict: %w; nothing was stored", q, err)
		}
	}
}

// Load returns the state that cmd would be decided on now, and the
// position of the last event of its query: what Handle would read.
func (r *DCBRunner[C, E, S]) Load(ctx context.Context, cmd C) (S, int64, error) {
	if err := r.notMade(); err != nil {
		var zero S
		return zero, 0, err
	}
	q := r.widen(r.decider.Query(cmd))
	if err := r.readable(q); err != nil {
		var zero S
		return zero, 0, fmt.Errorf("load %T: %w", cmd, err)
	}
	return r.fold(ctx, q, r.decider.Evolver(cmd), r.decider.InitialState(), 0)
}

// readable refuses a query, widened, that names a type the mapper does
// not read: its records would be skipped and never reach the state, so a
// misspelt name would let every decision pass as if none were stored.
// It refuses as well an item that names a type by the name it had before
// a rename and not by the name the mapper reads it as: the item would
// miss every record stored since the rename.
func (r *DCBRunner[C, E, S]) readable(q store.Query) error {
	if r.types == nil {
		return nil
	}
	for _, it := range q.Items {
		for _, t := range it.Types {
			if _, ok := slices.BinarySearch(r.types, t); !ok {
				return fmt.Errorf("the query of DCB decider %q names event type %q, which its mapper does not read (it reads %s): its records would never reach the state; correct the name in the decider's Query, or register the type with the mapper: %w",
					r.decider.Name, t, strings.Join(r.types, ", "), store.ErrInvalid)
			}
			if now, ok := r.renamed[t]; ok && !slices.Contains(it.Types, now) {
				return fmt.Errorf("the query of DCB decider %q names event type %q, which its mapper's upcaster renamed to %q: the query would miss every record stored under %q; name %q in the decider's Query (the records stored under %q are read with it): %w",
					r.decider.Name, t, now, now, now, t, store.ErrInvalid)
			}
		}
	}
	return nil
}

// notMade returns the error of a call on r when NewDCBRunner did not
// make it.
func (r *DCBRunner[C, E, S]) notMade() error {
	if r == nil || r.store == nil {
		return errNotMade("DCBRunner", makeDCBRunner)
	}
	return nil
}

// fold evolves state, the state at position after, by the events of q
// after it.
func (r *DCBRunner[C, E, S]) fold(ctx context.Context, q store.Query, evolve Evolver[E, S], state S, after int64) (S, int64, error) {
	f := struct {
		state S
		pos   int64
		err   error
	}{state: state, pos: after}
	for rec, err := range r.store.ReadQuery(ctx, q, after) {
		if err != nil {
			f.err = fmt.Errorf("read %v: %w", q, err)
			break
		}
		f.pos = rec.Position
		if r.types != nil {
			if _, ok := slices.BinarySearch(r.types, rec.Type); !ok {
				continue // another decider's event that the query matches
			}
		}
		e, err := r.events.FromRecord(ctx, rec)
		if err != nil {
			f.err = fmt.Errorf("read %v: position %d: %w", q, rec.Position, err)
			break
		}
		f.state = evolve(f.state, lo.ValueOr(r.renamed, rec.Type, rec.Type), rec.Tags, e)
	}
	return f.state, f.pos, f.err
}

// idempotentStreams is the namespace of the decision IDs derived from
// idempotency keys.
var idempotentStreams = uuid.MustParse("3d0f6c52-9a51-4f0e-8a43-5b7e0c1d2f96")

// stream returns the stream of a decision: derived from the idempotency
// key when there is one, new otherwise.
func (r *DCBRunner[C, E, S]) stream(cfg handleConfig) (string, error) {
	if cfg.key != "" {
		return r.decider.Name + "/" + uuid.NewSHA1(idempotentStreams, []byte(cfg.key)).String(), nil
	}
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("handle command: %w", err)
	}
	return r.decider.Name + "/" + id.String(), nil
}

func (r *DCBRunner[C, E, S]) encode(ctx context.Context, stream string, events []E, cfg handleConfig) ([]store.Event, error) {
	out := make([]store.Event, len(events))
	for i, e := range events {
		at, meta := cfg.place(stream, 0, i)
		ev, err := r.events.ToEvent(ctx, at, e, meta)
		if err != nil {
			return nil, fmt.Errorf("handle command: encode event %d: %w", i, err)
		}
		ev.Tags = r.decider.Tags(e)
		out[i] = ev
	}
	return out, nil
}

// alreadyDone looks for the decision of cfg's key: its stream, whose first
// event carries the command's fingerprint. Found with it, the command was
// handled: done, with the state its query shows now. Found with another
// fingerprint, the key's first event found in another stream (another
// decider's decision, or a stream's command), or nothing found when the
// store refused the key's stream or event IDs (refused), the key was used
// for something else.
func (r *DCBRunner[C, E, S]) alreadyDone(ctx context.Context, q store.Query, evolve Evolver[E, S], state S, pos int64, cfg handleConfig, refused bool) (DCBResult[E, S], bool, error) {
	stream, err := r.stream(cfg)
	if err != nil {
		return DCBResult[E, S]{}, false, err
	}
	rec, found, err := r.firstKeyed(ctx, stream, cfg.key)
	switch {
	case err != nil:
		return DCBResult[E, S]{}, false, fmt.Errorf("handle command: look up idempotency key %q: %w", cfg.key, err)
	case !found && !refused:
		return DCBResult[E, S]{}, false, nil
	case !found:
		return DCBResult[E, S]{}, false, fmt.Errorf("handle command of DCB decider %q: idempotency key %q was first used on another stream, by another decider or a stream's command; give each command a key of its own: %w", r.decider.Name, cfg.key, ErrIdempotencyKey)
	case rec.StreamID != stream:
		return DCBResult[E, S]{}, false, fmt.Errorf("handle command of DCB decider %q: idempotency key %q was first used on stream %q, not on this decider's %q; give each command a key of its own: %w", r.decider.Name, cfg.key, rec.StreamID, stream, ErrIdempotencyKey)
	case rec.ID != EventID(cfg.key, 0) || rec.Metadata.Extra[idempotencyExtra] != cfg.fingerprint:
		return DCBResult[E, S]{}, false, fmt.Errorf("handle command of DCB decider %q: idempotency key %q was first used with another command, of another type or content: %w", r.decider.Name, cfg.key, ErrIdempotencyKey)
	}
	state, pos, err = r.fold(ctx, q, evolve, state, pos)
	if err != nil {
		return DCBResult[E, S]{}, false, err
	}
	events, err := r.appendedBy(ctx, stream)
	if err != nil {
		return DCBResult[E, S]{}, false, err
	}
	return DCBResult[E, S]{Events: events, State: state, Position: pos, StreamID: stream, Duplicate: true}, true, nil
}

// appendedBy returns the events of a keyed decision's stream, which holds
// only the events that the decision appended, so that a duplicate is told
// what the first call was.
func (r *DCBRunner[C, E, S]) appendedBy(ctx context.Context, stream string) ([]E, error) {
	var events []E
	for rec, err := range r.store.readStream(ctx, stream, 1) {
		if err != nil {
			return nil, fmt.Errorf("handle command: read stream %q: %w", stream, r.store.fault(err))
		}
		e, err := r.events.FromRecord(ctx, rec)
		if err != nil {
			return nil, fmt.Errorf("handle command: read stream %q version %d: %w", stream, rec.Version, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// firstKeyed returns the first event appended with key: looked up by its
// ID when the adapter is a [store.EventFinder], wherever it is, and
// otherwise the first event of stream, the key's decision.
func (r *DCBRunner[C, E, S]) firstKeyed(ctx context.Context, stream, key string) (store.Record, bool, error) {
	if r.store.finder != nil {
		return r.store.findEvent(ctx, EventID(key, 0))
	}
	for rec, err := range r.store.readStream(ctx, stream, 1) {
		return rec, err == nil, r.store.fault(err)
	}
	return store.Record{}, false, nil
}

// WithTags makes a [Runner] tag the events it appends with what tags
// returns for each, so that the queries of [DCBRunner]s see the events of
// a stream-based decider: a course's stream, say, whose events carry the
// course's tag. NewRunner panics when E is not the runner's event type.
// With [NewInstances], E may also be decider.Keyed[K, E], the event with
// the key of its instance's stream, for events that do not hold their key.
// It panics when tags is nil.
func WithTags[E any](tags func(E) []string) RunnerOption {
	mustGive("annals.WithTags", given{tags == nil, "tags function", "the function that returns an event's tags, or leave the option out"})
	return func(c *runnerConfig) { c.tags = tags }
}
