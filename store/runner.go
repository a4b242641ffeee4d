package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/decider"
)

// DefaultRetries is how many times [Runner.Handle] catches up and decides
// again after a conflict, unless [WithRetries] says otherwise.
const DefaultRetries = 3

// Runner handles commands for one kind of aggregate: it loads a stream's
// state, decides, and appends the events with the version it loaded. On a
// conflict it catches up from the stream and decides afresh, a bounded
// number of times.
//
// A Runner is safe for concurrent use.
type Runner[C, E, S any] struct {
	store   Store
	decider decider.Decider[C, E, S]
	codec   Codec[E]
	retries int
	backoff func(attempt int) time.Duration
	cache   *stateCache[S]
}

// RunnerOption configures a [Runner].
type RunnerOption func(*runnerConfig)

type runnerConfig struct {
	retries   int
	backoff   func(int) time.Duration
	cacheSize int
}

// WithCache keeps the state and version of up to size recently used
// streams in memory, so that a command reads only the events appended
// since the stream was last used. Events appended by other processes are
// still read: the cache only saves reading what this runner already folded.
// It requires Evolve to be pure, since cached states are shared.
func WithCache(size int) RunnerOption {
	return func(c *runnerConfig) { c.cacheSize = size }
}

// WithRetries sets how many times a command is decided again after a
// conflict before Handle gives up with [ErrConflict]. 0 means never.
func WithRetries(n int) RunnerOption {
	return func(c *runnerConfig) { c.retries = max(n, 0) }
}

// WithBackoff sets the pause before retry number attempt (1-based). The
// default waits a random time up to 1ms·2^attempt, capped at 100ms, so that
// writers that collided do not collide again in step.
func WithBackoff(f func(attempt int) time.Duration) RunnerOption {
	return func(c *runnerConfig) { c.backoff = f }
}

// JitterBackoff is the default backoff of [WithBackoff].
func JitterBackoff(attempt int) time.Duration {
	ceiling := min(time.Millisecond<<min(attempt, 10), 100*time.Millisecond)
	return rand.N(ceiling) + 1
}

// NewRunner returns a Runner for decider d on store s, with codec c for its
// events.
func NewRunner[C, E, S any](s Store, d decider.Decider[C, E, S], c Codec[E], opts ...RunnerOption) *Runner[C, E, S] {
	cfg := runnerConfig{retries: DefaultRetries, backoff: JitterBackoff}
	for _, o := range opts {
		o(&cfg)
	}
	r := &Runner[C, E, S]{store: s, decider: d, codec: c, retries: cfg.retries, backoff: cfg.backoff}
	if cfg.cacheSize > 0 {
		r.cache = newStateCache[S](cfg.cacheSize)
	}
	return r
}

// Result is what a handled command did.
type Result[E, S any] struct {
	// Events are the events appended; empty when the command decided none.
	Events []E
	// State is the stream's state after the events.
	State S
	// Version is the stream's version after the events.
	Version int64
	// Duplicate reports that a command handled with an idempotency key
	// (see [WithIdempotencyKey]) had already been handled: its events were
	// stored before, and nothing was appended this time.
	Duplicate bool
}

// HandleOption configures one call of [Runner.Handle].
type HandleOption func(*handleConfig)

type handleConfig struct {
	meta Metadata
	key  string
}

// WithMetadata sets the metadata stored with every event of the command.
func WithMetadata(m Metadata) HandleOption {
	return func(c *handleConfig) { c.meta = m }
}

// WithIdempotencyKey makes the command take effect at most once per key:
// the IDs of the events it appends derive from the key, the store refuses
// an event ID it already holds, and Handle reports such a repeat as a
// [Result] with Duplicate set instead of appending again. Sagas key each
// command by the event that caused it (see [Cause]).
func WithIdempotencyKey(key string) HandleOption {
	return func(c *handleConfig) { c.key = key }
}

// idempotentIDs is the namespace of the event IDs derived from
// idempotency keys.
var idempotentIDs = uuid.MustParse("6f1c1e9a-3b0e-4c52-9d5e-2a7f4c8b9e10")

// EventID returns the ID of the i-th event appended by a command handled
// with idempotency key key.
func EventID(key string, i int) uuid.UUID {
	return uuid.NewSHA1(idempotentIDs, []byte(key+"/"+strconv.Itoa(i)))
}

// ErrRejected matches every business-rule rejection that [Runner.Handle]
// returns: the error of Decide, which errors.Is also matches.
var ErrRejected = errors.New("command rejected")

type rejection struct{ err error }

func (r rejection) Error() string   { return r.err.Error() }
func (r rejection) Unwrap() []error { return []error{r.err, ErrRejected} }

// Handle decides cmd on the current state of the stream and appends the
// events. A business-rule rejection from Decide is returned as it is
// (errors.Is matches Decide's error and [ErrRejected]) and stores nothing.
// A conflict is retried from the caught-up state; one that outlasts the
// retries returns an error matching [ErrConflict].
func (r *Runner[C, E, S]) Handle(ctx context.Context, streamID string, cmd C, opts ...HandleOption) (Result[E, S], error) {
	var cfg handleConfig
	for _, o := range opts {
		o(&cfg)
	}
	state, version, err := r.Load(ctx, streamID)
	if err != nil {
		return Result[E, S]{}, err
	}
	for attempt := 0; ; attempt++ {
		events, err := r.decider.Decide(cmd, state)
		if err != nil {
			return Result[E, S]{}, rejection{err}
		}
		if len(events) == 0 {
			return Result[E, S]{State: state, Version: version}, nil
		}
		records, err := r.encode(events, cfg)
		if err != nil {
			return Result[E, S]{}, err
		}
		next, err := r.store.Append(ctx, streamID, version, records)
		if err == nil {
			state = r.decider.Fold(state, events)
			if r.cache != nil {
				r.cache.put(streamID, state, next)
			}
			return Result[E, S]{Events: events, State: state, Version: next}, nil
		}
		if cfg.key != "" && errors.Is(err, ErrDuplicateEvent) {
			state, version, err := r.Load(ctx, streamID)
			return Result[E, S]{State: state, Version: version, Duplicate: true}, err
		}
		if !errors.Is(err, ErrConflict) || attempt >= r.retries {
			if errors.Is(err, ErrConflict) {
				return Result[E, S]{}, fmt.Errorf("handle command on stream %q: gave up after %d attempts: %w", streamID, attempt+1, err)
			}
			return Result[E, S]{}, fmt.Errorf("handle command on stream %q: %w", streamID, err)
		}
		if err := sleep(ctx, r.backoff(attempt+1)); err != nil {
			return Result[E, S]{}, err
		}
		if state, version, err = r.LoadFrom(ctx, streamID, state, version); err != nil {
			return Result[E, S]{}, err
		}
	}
}

func (r *Runner[C, E, S]) encode(events []E, cfg handleConfig) ([]Event, error) {
	out := make([]Event, len(events))
	for i, e := range events {
		name, version, data, err := r.codec.Encode(e)
		if err != nil {
			return nil, err
		}
		out[i] = Event{Type: name, SchemaVersion: version, Data: data, Metadata: cfg.meta}
		if cfg.key != "" {
			out[i].ID = EventID(cfg.key, i)
		}
	}
	return out, nil
}

// Load returns the current state and version of a stream. A stream with no
// events is in the initial state at version 0.
func (r *Runner[C, E, S]) Load(ctx context.Context, streamID string) (S, int64, error) {
	if r.cache == nil {
		return r.LoadFrom(ctx, streamID, r.decider.InitialState(), 0)
	}
	state, version, ok := r.cache.get(streamID)
	if !ok {
		state = r.decider.InitialState()
	}
	state, version, err := r.LoadFrom(ctx, streamID, state, version)
	if err == nil {
		r.cache.put(streamID, state, version)
	}
	return state, version, err
}

// LoadFrom evolves state, known to be the state at version, by the events
// of the stream after version, and returns the new state and version.
func (r *Runner[C, E, S]) LoadFrom(ctx context.Context, streamID string, state S, version int64) (S, int64, error) {
	return r.load(ctx, streamID, state, version, func(Record) bool { return true })
}

// LoadAt returns the state of a stream as it was at version: the fold of
// its first version events. A version beyond the end loads everything.
func (r *Runner[C, E, S]) LoadAt(ctx context.Context, streamID string, version int64) (S, int64, error) {
	return r.load(ctx, streamID, r.decider.InitialState(), 0, func(rec Record) bool { return rec.Version <= version })
}

// LoadAsOf returns the state of a stream as it was at time t: the fold of
// the events recorded at or before t.
func (r *Runner[C, E, S]) LoadAsOf(ctx context.Context, streamID string, t time.Time) (S, int64, error) {
	return r.load(ctx, streamID, r.decider.InitialState(), 0, func(rec Record) bool { return !rec.Time.After(t) })
}

func (r *Runner[C, E, S]) load(ctx context.Context, streamID string, state S, version int64, keep func(Record) bool) (S, int64, error) {
	for rec, err := range r.store.ReadStream(ctx, streamID, version+1) {
		if err != nil {
			return state, version, fmt.Errorf("load stream %q: %w", streamID, err)
		}
		if !keep(rec) {
			break
		}
		e, err := r.codec.Decode(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			return state, version, fmt.Errorf("load stream %q version %d: %w", streamID, rec.Version, err)
		}
		state = r.decider.Evolve(state, e)
		version = rec.Version
	}
	return state, version, nil
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
