// Package saga defines [Saga], a reaction as a pure value: events in,
// commands out, and [Process], a saga that remembers what it has seen.
//
//	react : event -> commands
//
// A saga coordinates deciders: when an order is placed, ask for payment;
// when the payment is received, ship. It decides nothing itself and does
// no I/O; package annals runs sagas over the global log and dispatches the
// commands they return, each exactly once in effect.
//
// # Processes
//
// Some reactions depend on more than one event: ship only when both the
// payment and the stock reservation have arrived, in whichever order. A
// [Process] keeps a state for that, folded from the events it sees like a
// view, and reacts to each event in the state before it:
//
//	evolve : state, event -> state
//	react  : state, event -> commands
//
// # Composition
//
// [Combine] runs two sagas over [decider.Either] events and commands,
// [Merge] runs two sagas on the same events, and [MapEvent] and
// [MapCommand] adapt either side. Their laws are checked as properties by
// this package's tests.
package saga
