package annals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/internal/storefault"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
	"github.com/annals-dev/annals/view"
	"github.com/samber/lo"
)

// A ViewProjection runs a [view.View] over the global log and keeps one
// state per key in the store, as JSON, committed with its checkpoint:
// a materialised read model that needs no tables of its own.
//
// Events whose type the mapper does not know are skipped, so a view reads
// only the events it registered, from a log that holds every aggregate's.
type ViewProjection[S, E any] struct {
	*Projection[store.StateTx]
	states store.StateStore
	view   view.View[S, E]
}

// NewViewProjection returns a projection named name that folds v over the
// events of the log that mapper decodes. key says which state an event
// evolves; it returns false for an event the view ignores. The states live
// under the view name name; S must encode as JSON.
//
// It panics when s, v's Evolve, mapper or key is nil, when mapper reports
// an error of its own (see [NewRunner]), when name is not a
// consumer's (see [NewProjection]), or when JSON would
// lose the content of S (a struct whose fields are all unexported would
// be stored as {}; see [codec.JSONCheck]), with a message that says what
// to do: these are mistakes of the program, found when it starts rather
// than when a state is first saved.
func NewViewProjection[S, E any](s *Store, name string, v view.View[S, E], mapper codec.Mapper[E], key func(store.Record, E) (string, bool), opts ...ConsumerOption) *ViewProjection[S, E] {
	ctor := fmt.Sprintf("annals.NewViewProjection(%q)", name)
	mustGive(ctor, giveStore(s),
		given{v.Evolve == nil, "view's Evolve", "a view whose Evolve folds an event into a state"},
		given{lo.IsNil(mapper), "mapper", "the codec of the events it reads, such as a *codec.JSON"},
		given{key == nil, "key function", "the function that says which state an event evolves"})
	noNilOptions(ctor, opts)
	usableMapper(ctor, mapper)
	if err := checkConsumerName(name); err != nil {
		panic(fmt.Sprintf("annals: NewViewProjection: %v", err))
	}
	stateJSON := newStateJSON[S](fmt.Sprintf("view %q: state", name))
	opts = append(typesOf(mapper), opts...)
	cache := newViewCache[S]()
	type keyed struct {
		at    int // the index of its record in the batch
		key   string
		event E
	}
	var events []keyed // of the batch being committed, decoded before its transaction
	decode := func(ctx context.Context, recs []store.Record) (int, error) {
		events = events[:0]
		for i, r := range recs {
			var (
				e  E
				k  string
				ok bool
			)
			err := recovered(func() (err error) {
				if e, err = mapper.FromRecord(ctx, r); err == nil {
					k, ok = key(r, e)
				}
				return err
			})
			if errors.Is(err, codec.ErrUnknownEventType) {
				continue
			}
			if err != nil {
				return i, err
			}
			if ok {
				// A key that cannot be stored stops the view at its own
				// event, not at the first of the batch.
				if err := check.State(name, k); err != nil {
					return i, fmt.Errorf("view %q: the key function's key for this event: %w", name, err)
				}
				events = append(events, keyed{i, k, e})
			}
		}
		return len(recs), nil
	}
	apply := func(ctx context.Context, tx store.StateTx, recs []store.Record) (int, error) {
		events := lo.Filter(events, func(ke keyed, _ int) bool { return ke.at < len(recs) })
		keys := lo.Uniq(lo.Map(events, func(ke keyed, _ int) string { return ke.key }))
		states, missing := cache.lookup(keys)
		loaded, err := loadStates(ctx, tx, name, missing, v)
		if err != nil {
			return 0, err
		}
		maps.Copy(states, loaded)
		for _, ke := range events {
			if err := recovered(func() error { states[ke.key] = v.Evolve(states[ke.key], ke.event); return nil }); err != nil {
				return ke.at, err
			}
		}
		cache.stage(states)
		for _, k := range keys {
			// A state that cannot be saved stops the view at the first
			// event of the batch that evolved it: the events before are
			// committed, and the view resumes there.
			firstOf := func() int {
				return lo.FindOrElse(events, keyed{}, func(ke keyed) bool { return ke.key == k }).at
			}
			data, err := stateJSON.encode(states[k])
			if err != nil {
				return firstOf(), fmt.Errorf("view %q key %q: %w", name, k, err)
			}
			if err := tx.SaveState(ctx, name, k, data); err != nil {
				return firstOf(), fmt.Errorf("view %q key %q: %w", name, k, err)
			}
		}
		return len(recs), nil
	}
	return &ViewProjection[S, E]{
		Projection: &Projection[store.StateTx]{name: name, store: s, committer: s, apply: apply, decode: decode, cfg: newConsumerConfig(opts), watcher: cache},
		states:     s,
		view:       v,
	}
}

// maxCachedStates bounds how many states a view keeps in memory.
const maxCachedStates = 4096

// viewCache keeps the states a view committed, so that the next batch
// need not load them back. They are the stored states for as long as
// nobody else commits for the view: a batch whose commit moves the
// checkpoint from the position of the view's own last commit (compared
// and set in the commit) finds them current. Any other batch, or a failed
// commit, empties it.
type viewCache[S any] struct {
	mu      sync.Mutex
	at      int64 // the checkpoint the states are current at; -1 when none
	states  map[string]S
	valid   bool         // for the batch being committed
	pending map[string]S // what the batch being committed writes
}

func newViewCache[S any]() *viewCache[S] {
	return &viewCache[S]{at: -1, states: map[string]S{}}
}

func (c *viewCache[S]) begin(from int64) {
	c.mu.Lock()
	c.valid = from == c.at
	c.pending = nil
}

func (c *viewCache[S]) end(to int64, err error) {
	defer c.mu.Unlock()
	if err != nil || !c.valid && c.at != -1 && len(c.states) > 0 {
		clear(c.states)
	}
	if err != nil {
		c.at = -1
		return
	}
	if len(c.states)+len(c.pending) > maxCachedStates {
		clear(c.states)
	}
	maps.Copy(c.states, c.pending)
	c.at, c.pending = to, nil
}

func (c *viewCache[S]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = -1
	clear(c.states)
}

// lookup returns the cached states of keys, and the keys it does not
// hold. It is called inside a commit, between begin and end.
func (c *viewCache[S]) lookup(keys []string) (map[string]S, []string) {
	found := make(map[string]S, len(keys))
	if !c.valid {
		return found, keys
	}
	var missing []string
	for _, k := range keys {
		if st, ok := c.states[k]; ok {
			found[k] = st
		} else {
			missing = append(missing, k)
		}
	}
	return found, missing
}

// stage records what the batch being committed writes.
func (c *viewCache[S]) stage(states map[string]S) { c.pending = states }

// loadStates returns the states of keys, the initial state for those with
// none stored, in one round trip when tx is a [store.StateBatchTx]. The
// store's failure to read them is marked as the store's (see
// storefault): it says nothing of the events, and the batch is retried;
// a stored state that does not decode stops the view.
func loadStates[S, E any](ctx context.Context, tx store.StateTx, name string, keys []string, v view.View[S, E]) (map[string]S, error) {
	states := make(map[string]S, len(keys))
	if len(keys) == 0 {
		return states, nil
	}
	batch, ok := tx.(store.StateBatchTx)
	if !ok {
		for _, k := range keys {
			st, err := loadState(ctx, tx, name, k, v)
			if err != nil {
				return nil, err
			}
			states[k] = st
		}
		return states, nil
	}
	stored, err := batch.LoadStates(ctx, name, keys)
	if err != nil {
		return nil, storefault.Mark(err)
	}
	for _, k := range keys {
		data, ok := stored[k]
		if !ok {
			states[k] = v.InitialState()
			continue
		}
		if states[k], err = decodeState[S](name, k, data); err != nil {
			return nil, err
		}
	}
	return states, nil
}

// decodeState decodes the state of view (or process) name under key. A
// state that is not JSON was changed since it was written, and matches
// [store.ErrCorrupt]; one that does not decode into S was written by
// another state type. Either way the error says what to do.
func decodeState[S any](name, key string, data []byte) (S, error) {
	return decodeStateOf[S]("view", name, key, data)
}

// decodeStateOf is decodeState for a consumer of kind what, "view" or
// "process", whose remedies differ: a view's states are rebuilt from the
// log, a process's are not (its commands were sent).
func decodeStateOf[S any](what, name, key string, data []byte) (S, error) {
	var st S
	err := json.Unmarshal(data, &st)
	if err == nil {
		return st, nil
	}
	var zero S // not the part of st that decoded before the error
	st = zero
	remedy := fmt.Sprintf("a view's states are rebuilt from the log with 'ops rebuild %s'", name)
	if what == "process" {
		remedy = "a process's state is not rebuilt from the log, since its commands were sent: restore the store from a backup"
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || !json.Valid(data) {
		return st, fmt.Errorf("%s %q key %q: the stored state is not JSON (%w), so it was changed since it was written; %s: %w", what, name, key, err, remedy, store.ErrCorrupt)
	}
	if what == "process" {
		remedy = "a process's state type must keep reading the states it stored (a field's type changed, say): change it back, or read both forms"
	}
	return st, fmt.Errorf("%s %q key %q: the stored state does not decode into %T (%w): it was written by another state type; %s", what, name, key, st, err, remedy)
}

type stateLoader interface {
	LoadState(ctx context.Context, view, key string) ([]byte, bool, error)
}

func loadState[S, E any](ctx context.Context, from stateLoader, name, key string, v view.View[S, E]) (S, error) {
	data, ok, err := from.LoadState(ctx, name, key)
	if err != nil || !ok {
		return v.InitialState(), storefault.Mark(err)
	}
	return decodeState[S](name, key, data)
}

// Get returns the committed state of key. When no event has evolved it,
// Get returns the view's initial state and an error that matches
// [store.ErrNotFound], so that a query can answer "no such order". A
// stored state that does not decode gives the zero S and an error that
// says what to do.
func (p *ViewProjection[S, E]) Get(ctx context.Context, key string) (S, error) {
	if err := p.notMade(); err != nil {
		var zero S
		return zero, err
	}
	data, ok, err := p.states.LoadState(ctx, p.name, key)
	if err != nil {
		return p.view.InitialState(), fmt.Errorf("view %q key %q: %w", p.name, key, err)
	}
	if !ok {
		return p.view.InitialState(), fmt.Errorf("view %q has no state for key %q: %w", p.name, key, store.ErrNotFound)
	}
	return decodeState[S](p.name, key, data)
}

// KeepsStates reports that the store keeps the view's states under its
// name: it is always true (see [StateKeeper]).
func (p *ViewProjection[S, E]) KeepsStates() bool { return true }

// Rebuild deletes every state of the view and rebuilds them from the start
// of the log; see [Projection.Rebuild].
func (p *ViewProjection[S, E]) Rebuild(ctx context.Context, progress func(Progress)) error {
	if err := p.notMade(); err != nil {
		return err
	}
	return p.Projection.Rebuild(ctx, func(ctx context.Context, tx store.StateTx) error {
		return tx.DeleteStates(ctx, p.name)
	}, progress)
}

// The methods of the embedded Projection, which a nil *ViewProjection
// could not reach: theirs would panic where the one of a nil pointer
// returns the error of notMade.

// Name returns the view's name.
func (p *ViewProjection[S, E]) Name() string {
	if p == nil {
		return ""
	}
	return p.Projection.Name()
}

// Position returns the view's checkpoint; see [Projection.Position].
func (p *ViewProjection[S, E]) Position(ctx context.Context) (int64, error) {
	if err := p.notMade(); err != nil {
		return 0, err
	}
	return p.Projection.Position(ctx)
}

// Step handles the next batch of events; see [Projection.Step].
func (p *ViewProjection[S, E]) Step(ctx context.Context) (int, error) {
	if err := p.notMade(); err != nil {
		return 0, err
	}
	return p.Projection.Step(ctx)
}

// CatchUp handles batches until the view has reached the head of the
// log; see [Projection.CatchUp].
func (p *ViewProjection[S, E]) CatchUp(ctx context.Context) (int, error) {
	if err := p.notMade(); err != nil {
		return 0, err
	}
	return p.Projection.CatchUp(ctx)
}

// Run catches up, then follows the log; see [Projection.Run].
func (p *ViewProjection[S, E]) Run(ctx context.Context) error {
	if err := p.notMade(); err != nil {
		return err
	}
	return p.Projection.Run(ctx)
}

// notMade returns the error of a call on p when NewViewProjection did
// not make it.
func (p *ViewProjection[S, E]) notMade() error {
	if p == nil || p.Projection.notMade() != nil || p.states == nil {
		return errNotMade("ViewProjection", makeView)
	}
	return nil
}

// typesOf returns the option that makes a consumer read only the types m
// decodes, when m can list them (a [codec.JSON] or a [codec.Pipeline] around
// one). A type filter is what keeps a consumer from reading and skipping
// every other aggregate's events.
func typesOf[E any](m codec.Mapper[E]) []ConsumerOption {
	types := m.Types()
	if len(types) == 0 {
		return nil
	}
	return []ConsumerOption{WithTypes(types...)}
}

// stateJSON encodes the states of a view or process as JSON.
type stateJSON struct {
	check codec.JSONCheck
}

// newStateJSON returns the encoder of states of type S, and panics when
// JSON would lose the content of S: the mistake is the program's, and
// found when it starts.
func newStateJSON[S any](doing string) *stateJSON {
	j := &stateJSON{}
	var zero S
	if err := j.check.Check(doing, zero); err != nil {
		panic("annals: " + err.Error())
	}
	return j
}

// encode encodes st, refusing a state that holds, in a field of type
// any, a value whose content JSON would lose, or a string that is not
// valid UTF-8, which JSON would store changed.
func (j *stateJSON) encode(st any) ([]byte, error) {
	return j.check.Marshal("encode the state", st)
}
