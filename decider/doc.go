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
//   - [Many] runs one decider per key over [Keyed] commands and events;
//   - [MapCommand], [MapEvent] and [MapState] adapt one side of a decider;
//   - [Neutral] is the identity of Combine.
//
// Each combinator obeys laws (combining then projecting equals running each
// part alone; Many keeps keys independent; Neutral changes nothing; a map
// by an isomorphism changes only the shape; maps compose) that the tests
// of this package check as properties, each shown able to fail on a
// deliberately broken combinator.
//
// # Terminal states
//
// [Decider.IsTerminal] marks an instance as finished. Combinators carry it
// but never act on it: [Combine] is terminal when both parts are, [Neutral]
// is always terminal (so combining with it changes nothing), the maps keep
// the decider's own, and [Many] keeps a terminal instance in its state
// rather than forgetting it, because a forgotten key is back in the
// initial state and its finished instance would accept commands again.
package decider
