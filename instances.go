package annals

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// Instances runs [decider.Many] of a decider one stream per instance: a
// command addressed to key k is decided by k's instance alone, on the
// state loaded from k's stream, and its events are appended to that
// stream. It is a [Runner] with the stream taken from the command's key,
// so every instance has the runner's optimistic concurrency, retries,
// snapshots and cache, and its results are the instance's.
//
// The stored instances and the pure decider.Many[K](d) agree: the state
// loaded from k's stream is the state of k in the fold of Many over every
// event handled, since Many keeps keys apart as streams do. Unlike Many's
// map, nothing holds every instance in memory, and instances never
// contend: commands for two keys append to two streams.
//
// An Instances is safe for concurrent use.
type Instances[K comparable, C, E, S any] struct {
	runner *Runner[C, E, S]
	events *codec.KeyedMapper[K, E]
}

// NewInstances returns the runner of decider.Many[K](d) on store s, one
// stream per instance: events names each instance's stream from its key
// and stores its events, as [codec.NewKeyed] builds it:
//
//	books := annals.NewInstances(s, book.Decider,
//		codec.NewKeyed(codec.StreamPrefix[string]("book-"), book.Codec()))
//
// It panics as [NewRunner] does, and when events reports an error of its
// own. The options are those of [NewRunner]; a snapshot mapper of
// [WithSnapshots] is one of an instance's state S. [WithTags] takes a
// func(E) []string, which tags an event by itself, or a
// func(decider.Keyed[K, E]) []string, which is given each event with the
// key of its instance: an instance's events rarely hold their key (the
// stream does), and the queries of a [DCBRunner] find them by a tag made
// of it, such as "book:978-0".
func NewInstances[K comparable, C, E, S any](s *Store, d decider.Decider[C, E, S], events *codec.KeyedMapper[K, E], opts ...RunnerOption) *Instances[K, C, E, S] {
	mustGive("annals.NewInstances", given{events == nil || lo.IsNil(events.Events()), "mapper", `a mapper made by codec.NewKeyed, such as codec.NewKeyed(codec.StreamPrefix[string]("book-"), events)`})
	usableMapper("annals.NewInstances", events)
	opts = append(slices.Clip(opts), keyedTags[K, E](events.Streams()))
	return &Instances[K, C, E, S]{runner: NewRunner(s, d, events.Events(), opts...), events: events}
}

// keyedTags turns the func(decider.Keyed[K, E]) []string of a [WithTags]
// option into the runner's tags by stream, giving each event the key of
// its stream.
func keyedTags[K comparable, E any](streams codec.Streams[K]) RunnerOption {
	return func(c *runnerConfig) {
		switch tags := c.tags.(type) {
		case nil, func(E) []string:
		case func(decider.Keyed[K, E]) []string:
			c.tags = func(streamID string, e E) []string {
				key, _ := streams.Key(streamID)
				return tags(decider.Keyed[K, E]{Key: key, Value: e})
			}
		default:
			panic(fmt.Sprintf("annals: annals.NewInstances: WithTags was given a %T, want a func(%v) []string or a func(%v) []string; give each part of a composite options of its own",
				c.tags, reflect.TypeFor[E](), reflect.TypeFor[decider.Keyed[K, E]]()))
		}
	}
}

// Handle decides the command's Value on the current state of the
// instance of its Key, in that instance's stream, and appends the events
// there: it is [Runner.Handle] on the stream [Instances.Stream] names,
// with the same outcomes, and its Result is the instance's: its events,
// its state and its stream's version.
//
// A key that is an empty string or a zero array (uuid.Nil) names no
// instance (an ID left unset) and fails with an error matching
// [store.ErrInvalid], storing nothing.
func (in *Instances[K, C, E, S]) Handle(ctx context.Context, cmd decider.Keyed[K, C], opts ...HandleOption) (Result[E, S], error) {
	if err := in.notMade(); err != nil {
		return Result[E, S]{}, err
	}
	if err := checkKey("handle command", cmd.Key); err != nil {
		return Result[E, S]{}, err
	}
	// The runner stores the events by the instances' inner mapper: the
	// stream must read back as the instance's here.
	stream, err := in.events.Streams().StreamOf(cmd.Key)
	if err != nil {
		return Result[E, S]{}, fmt.Errorf("handle command: %w", err)
	}
	return in.runner.Handle(ctx, stream, cmd.Value, opts...)
}

// Load returns the current state and version of the instance key. An
// instance with no events is in the initial state at version 0. A key
// that is an empty string or a zero array fails as in Handle.
func (in *Instances[K, C, E, S]) Load(ctx context.Context, key K) (S, int64, error) {
	if err := in.notMade(); err != nil {
		var zero S
		return zero, 0, err
	}
	if err := checkKey("load", key); err != nil {
		var zero S
		return zero, 0, err
	}
	return in.runner.Load(ctx, in.Stream(key))
}

// checkKey refuses an instance key that is an empty string or a zero
// array (a UUID's): an ID left unset, which would name the stream of no
// instance ("order-"). A zero number may be an ID, and passes.
func checkKey[K comparable](doing string, key K) error {
	if v := reflect.ValueOf(key); v.IsZero() && (v.Kind() == reflect.String || v.Kind() == reflect.Array) {
		return fmt.Errorf("%s: the instance key is the zero %v, an ID left unset; give the key of the instance the command is for: %w", doing, v.Type(), store.ErrInvalid)
	}
	return nil
}

// Stream returns the stream of the instance key.
func (in *Instances[K, C, E, S]) Stream(key K) string {
	if err := in.notMade(); err != nil {
		panic("annals: " + err.Error())
	}
	return in.events.Streams().Stream(key)
}

// notMade returns the error of a call on in when NewInstances did not
// make it.
func (in *Instances[K, C, E, S]) notMade() error {
	if in == nil || in.runner == nil || in.events == nil {
		return errNotMade("Instances", makeInstances)
	}
	return nil
}

// Runner returns the runner of every instance's stream, for what it does
// beyond Handle and Load, such as loading a stream as of a time.
func (in *Instances[K, C, E, S]) Runner() *Runner[C, E, S] {
	if in == nil {
		return nil
	}
	return in.runner
}

// Events returns the mapper of the instances' events as decider.Many's
// events: a consumer of the log reads them with it, keys and all.
func (in *Instances[K, C, E, S]) Events() *codec.KeyedMapper[K, E] {
	if in == nil {
		return nil
	}
	return in.events
}

func (in *Instances[K, C, E, S]) part() part { return instancesPart[K, C, E, S]{in} }

// instancesPart is an Instances as a part of a Composite: its commands,
// events and state are decider.Many's.
type instancesPart[K comparable, C, E, S any] struct{ in *Instances[K, C, E, S] }

func (p instancesPart[K, C, E, S]) handle(ctx context.Context, cmd any, opts []HandleOption) (partResult, error) {
	c := cmd.(decider.Keyed[K, C])
	res, err := p.in.Handle(ctx, c, opts...)
	if !answered(err) {
		return partResult{}, err
	}
	return partResult{
		answered:  true,
		events:    lo.Map(res.Events, func(e E, _ int) any { return decider.Keyed[K, E]{Key: c.Key, Value: e} }),
		state:     map[K]S{c.Key: res.State},
		version:   res.Version,
		duplicate: res.Duplicate,
	}, err
}

func (p instancesPart[K, C, E, S]) types() (command, event, state reflect.Type) {
	return reflect.TypeFor[decider.Keyed[K, C]](), reflect.TypeFor[decider.Keyed[K, E]](), reflect.TypeFor[map[K]S]()
}

func (p instancesPart[K, C, E, S]) events() codec.Part { return p.in.events }

func (p instancesPart[K, C, E, S]) load(ctx context.Context, like any) (any, error) {
	out := map[K]S{}
	for k := range like.(map[K]S) {
		if err := checkKey("load", k); err != nil {
			return nil, err
		}
		// From the store, never from a cache ([WithCache]): a cached
		// state is the one decided on, and would hide events or states
		// that do not survive the store.
		l, err := p.in.runner.loadFresh(ctx, p.in.Stream(k), math.MaxInt64, keepAll)
		if err != nil {
			return nil, err
		}
		out[k] = l.state
	}
	return out, nil
}

func (p instancesPart[K, C, E, S]) store() *Store { return p.in.runner.store }

// answered reports whether a runner's Result holds an answer along with
// err: a success, a business-rule rejection, a stored write that
// something after it failed, or a conflict that outlasted the retries
// (the state its last attempt was decided on).
func answered(err error) bool {
	return err == nil || errors.Is(err, ErrRejected) || errors.Is(err, ErrStored) || errors.Is(err, store.ErrConflict)
}
