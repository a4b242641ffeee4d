// Package view defines [View], a read model as a pure value: a fold of
// events into a state, and the combinators that build larger views from
// smaller ones.
//
//	evolve : state, event -> state
//	initial:              -> state
//
// A view is the evolve half of a decider without the decide half: it
// answers queries and never rejects an event. Package annals runs views
// over the global log as projections (annals.NewViewProjection), with a
// checkpoint committed together with the view's state.
//
// # Composition
//
// Views compose by explicit routing, like deciders, and share their sum
// and product types ([decider.Either], [decider.Pair], [decider.Keyed]):
//
//   - [Combine] folds two views over [decider.Either] events into a
//     [decider.Pair] of states: each side sees only its own events;
//     [Combine3] to [Combine6] fold three to six over the sums
//     [decider.Sum3] to [decider.Sum6] into the tuples [decider.Tuple3] to
//     [decider.Tuple6], the events and states of a composite of as many
//     deciders ([decider.Combine3]);
//   - [Merge] folds two views over the same events into a pair of states;
//   - [Many] keeps one state per key over [decider.Keyed] events;
//   - [MapEvent] adapts a view to another event type, dropping events
//     that do not map; [MapState] adapts its state.
//
// The laws these obey (a combined view projected on one side equals that
// view alone over its own events; mapping by identity changes nothing;
// mapping composes) are checked as properties by this package's tests.
package view
