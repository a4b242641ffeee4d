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
// Package store runs deciders against a database; this package knows
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
// part alone; Many keeps keys independent; Neutral changes nothing) that
// the tests of this package check as properties.
package decider
