package codec

import (
	"context"
	"fmt"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// KeyedMapper is the [Mapper] of the events of a decider.Many stored one
// stream per instance: a [decider.Keyed] event is stored in the stream of
// its Key, as its Value alone, by the Value's own mapper, so that its
// record looks exactly like the record of the instance's decider stored
// alone; reading a record gives the key back from its stream.
//
// It is what annals.NewInstances stores with, and a [Part] of a [Sum], so
// that a view or a process reads the events of every instance, with their
// keys, from the global log.
type KeyedMapper[K comparable, E any] struct {
	streams Streams[K]
	events  Mapper[E]
}

var (
	_ Mapper[decider.Keyed[string, int]] = (*KeyedMapper[string, int])(nil)
	_ Placer[decider.Keyed[string, int]] = (*KeyedMapper[string, int])(nil)
)

// NewKeyed returns the mapper that stores the Value of a [decider.Keyed]
// event with events in the stream that streams names for its Key. It
// panics when events is nil or streams lacks a function: a programming
// error found at start-up.
func NewKeyed[K comparable, E any](streams Streams[K], events Mapper[E]) *KeyedMapper[K, E] {
	switch {
	case lo.IsNil(events):
		panic("annals: codec.NewKeyed: nil mapper: give the mapper of one instance's events, such as a *codec.JSON")
	case streams.Stream == nil || streams.Key == nil:
		panic("annals: codec.NewKeyed: Streams without a Stream or a Key function: give both, or use codec.StreamPrefix[string](\"book-\")")
	}
	return &KeyedMapper[K, E]{streams: streams, events: events}
}

// Streams returns how the mapper names the streams of instances.
func (k *KeyedMapper[K, E]) Streams() Streams[K] {
	if k == nil {
		return Streams[K]{}
	}
	return k.streams
}

// Events returns the mapper of one instance's events, which the records
// of its stream are written with.
func (k *KeyedMapper[K, E]) Events() Mapper[E] {
	if k == nil {
		return nil
	}
	return k.events
}

// Err returns the registration error of the instances' mapper, when it
// reports one as [JSON.Err] does.
func (k *KeyedMapper[K, E]) Err() error {
	if k == nil || k.events == nil {
		return notMade("KeyedMapper", "make one with codec.NewKeyed")
	}
	return errOf(k.events)
}

// ToEvent implements [Mapper]: the Value, as the instances' mapper stores
// it. An event placed in a stream other than its key's fails with an
// error that matches [store.ErrInvalid]: read back, it would belong to
// another instance.
func (k *KeyedMapper[K, E]) ToEvent(ctx context.Context, at Placement, e decider.Keyed[K, E], meta store.Metadata) (store.Event, error) {
	if k == nil || k.events == nil {
		return store.Event{}, k.Err()
	}
	want, err := k.streams.StreamOf(e.Key)
	if err != nil {
		return store.Event{}, fmt.Errorf("encode an event of instance %v: %w", e.Key, err)
	}
	if at.StreamID != want {
		return store.Event{}, fmt.Errorf("encode an event of instance %v: its key is its stream, %q, and it was placed in %q: %w", e.Key, want, at.StreamID, store.ErrInvalid)
	}
	return k.events.ToEvent(ctx, at, e.Value, meta)
}

// FromRecord implements [Mapper]: the record's event, addressed to the
// instance of its stream. A record of a stream that is not an instance's
// fails with an error that matches [ErrUnknownEventType], which a
// consumer of the log skips: it is not one of these events.
func (k *KeyedMapper[K, E]) FromRecord(ctx context.Context, r store.Record) (decider.Keyed[K, E], error) {
	if k == nil || k.events == nil {
		return decider.Keyed[K, E]{}, k.Err()
	}
	key, ok := k.streams.Key(r.StreamID)
	if !ok {
		return decider.Keyed[K, E]{}, fmt.Errorf("decode %q: stream %q is not the stream of an instance: %w", r.Type, r.StreamID, ErrUnknownEventType)
	}
	v, err := k.events.FromRecord(ctx, r)
	if err != nil {
		return decider.Keyed[K, E]{}, err
	}
	return decider.Keyed[K, E]{Key: key, Value: v}, nil
}

// StreamOf implements [Placer]: the stream of e's instance.
func (k *KeyedMapper[K, E]) StreamOf(e decider.Keyed[K, E]) (string, bool) {
	if k == nil || k.events == nil {
		return "", false
	}
	return k.streams.Stream(e.Key), true
}

// Types implements [Mapper]: the type names of the instances' mapper.
func (k *KeyedMapper[K, E]) Types() []string {
	if k == nil || k.events == nil {
		return nil
	}
	return k.events.Types()
}

// Sources returns the Sources of name of the instances' mapper (see
// [Pipeline.Sources]), or name alone when it has none.
func (k *KeyedMapper[K, E]) Sources(name string) []string {
	if k == nil || k.events == nil {
		return []string{name}
	}
	return sourcesOf(k.events, name)
}

func (k *KeyedMapper[K, E]) sumPart() part {
	return keyedPart[K, E]{mapperPart[decider.Keyed[K, E]]{k}, k.streams}
}

// keyedPart is a keyed mapper as a case of a sum: its records are told
// apart from another case's of the same type by their stream.
type keyedPart[K comparable, E any] struct {
	mapperPart[decider.Keyed[K, E]]
	streams Streams[K]
}

func (p keyedPart[K, E]) accepts(streamID, _ string) bool {
	_, ok := p.streams.Key(streamID)
	return ok
}

func (p keyedPart[K, E]) addressed(string) ([]string, bool) {
	if !p.streams.byPrefix {
		return nil, true
	}
	return []string{p.streams.prefix}, true
}
