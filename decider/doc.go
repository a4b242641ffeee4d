// Package decider defines [Decider], an event-sourced aggregate as a pure
// value, and the combinators that build larger deciders from smaller ones.
//
// A decider is three functions and no I/O:
//
//	decide : command, state -> events | rejection
//	evolve : state, event   -> state
//	initial:                -> state
//
// The current state of an aggregate is the fold of evolve over its events
// from the initial state, so the events are the only thing a store keeps.
// Package annals runs deciders against a database; this package knows
// nothing of storage, context or time.
//
// # Composition
//
// Deciders compose by explicit routing, never by inspecting dynamic types:
//
//   - [Combine] runs two deciders side by side over [Either] commands and
//     events and a [Pair] of states;
//   - [Combine3] to [Combine6] run three to six deciders side by side over
//     the flat sums [Sum3] to [Sum6] and the tuples [Tuple3] to [Tuple6];
//   - [Many] runs one decider per key over [Keyed] commands and events,
//     and [FanOut] decides one command as commands for several keys, all
//     or nothing;
//   - [MapCommand], [MapEvent] and [MapState] adapt one side of a decider;
//   - [Neutral] is the identity of Combine.
//
// Combine3 and the others are not written again: each is Combine of the
// first decider and the combination of the rest, flattened by the maps.
// The value they return builds the commands and events of each part from
// the part's own types, so combining three deciders needs no type
// argument, alias or helper in user code:
//
//	home := decider.Combine3(light, bell, heating)
//	events, state, err := home.Step(home.InitialState(), home.Second(Ring{}))
//
// A sum that no combination returns, such as the events of a log that a
// codec reads by their parts, is built with its type's own constructors,
// [Left] and [Right] for an Either, [Sum3First] to [Sum6Sixth] for the
// others, which take its type arguments:
//
//	e := decider.Sum3Second[Switched, Rang, WasSet](Rang{})
//
// Each combinator obeys laws (combining then projecting equals running each
// part alone; a flat combination behaves as the nested one; Many keeps keys
// independent; a fan-out is its parts decided in turn, or nothing;
// Neutral changes nothing; a map by an isomorphism changes only the shape;
// maps compose) that the tests of this package check as properties, each
// shown able to fail on a deliberately broken combinator.
//
// # Printing
//
// The sums and products of this package print short: String gives
// Left(Deposited{Amount:3}) or {First:true Second:2}, with struct values by
// their type name and strings quoted, and GoString (the %#v verb) gives
// the parts in Go syntax, decider.Either{Left:bank.Deposited{Amount:3}}, so
// that a nil slice and an empty one differ in a failure message.
//
// # Persisting sums
//
// A combined decider is a domain concept, not a storage layout: its
// commands and events are sums, and a codec persists a sum by its parts,
// each part by its own registered type. Every sum type of this package
// ([Either], [Sum3] to [Sum6]) implements [Sum], and a pointer to it
// [SumSetter]; that is the whole contract a codec needs:
//
//   - encoding: index, part := v.Case(), then store the part as the
//     mapper of case index stores it alone: the record of a sum event is
//     its part's record, with the part's type name and payload;
//   - decoding: find the case whose mapper reads the record (by its type
//     name, and for a keyed case by its stream), decode the part with it,
//     then p.SetCase(index, part) on a p of type *T;
//   - a part that is itself a sum is persisted the same way, recursively.
//
// Package codec does it: codec.NewSum builds the mapper of a sum from a
// mapper per case, and refuses cases whose records could not be told
// apart. Cases are numbered from 0 in the order of the type's parameters
// (Left is 0 and Right 1; First is 0). CaseTypes depends only on the
// type, so a codec checks when it is built that each part maps its
// case's type. SetCase refuses an index that is not a case and a value
// that the case's type cannot hold, with an error that wraps [ErrCase],
// so a corrupt record is an error, never a sum holding the wrong case.
//
// The products ([Pair], [Tuple3] to [Tuple6], [Keyed]) are plain structs
// with exported fields; a codec persists them field by field. A [Many]
// decider and the composites that contain it are stored one stream per
// instance (annals.Instances and annals.Composite run them): the stream is
// chosen from a command's [Keyed.Key], and the stream holds the
// [Keyed.Value] of each event, which codec.NewKeyed reads back with the
// key from the stream. [Stepper] lets such a runner take a Decider or the
// value Combine3 to Combine6 returns, as it is.
//
// # Terminal states
//
// [Decider.IsTerminal] marks an instance as finished. Combinators carry it
// but never act on it: [Combine] and Combine3 to Combine6 are terminal
// when every part is, [Neutral] is always terminal (so combining with it
// changes nothing), the maps keep the decider's own, and [Many] keeps a
// terminal instance in its state rather than forgetting it, because a
// forgotten key is back in the initial state and its finished instance
// would accept commands again.
package decider
