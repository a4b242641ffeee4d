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
// Sagas and processes compose like deciders, by explicit routing:
//
//   - [Combine] runs two sagas over [decider.Either] events and commands,
//     [Merge] runs two sagas on the same events, [Many] runs one saga per
//     key over [decider.Keyed] events, and [MapEvent] and [MapCommand]
//     adapt either side;
//   - [Combine3] to [Combine6] run three to six sagas over the sums
//     [decider.Sum3] to [decider.Sum6], the events and commands of a
//     composite of as many deciders ([decider.Combine3]), so that the
//     commands go to the composite's Handle as they are;
//   - [CombineProcesses], [CombineProcesses3] to [CombineProcesses6],
//     [MergeProcesses], [ManyProcesses], [MapProcessEvent] and
//     [MapProcessCommand] do the same for processes, each part in its own
//     part of the state.
//
// Many and ManyProcesses build each instance from its key, so a keyed
// reaction knows the instance it belongs to (to address its commands by
// it), and Go infers the key type from that function.
//
// Their laws (a combined saga or process reacts to each event as the part
// of its side alone; merged ones answer with the first's commands, then
// the second's; each key's instance behaves as it would alone over that
// key's events; maps compose and keep the rest) are checked as properties
// by this package's tests, each shown able to fail on a deliberately
// broken combinator.
package saga
