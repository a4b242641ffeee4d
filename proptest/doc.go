// Package proptest is test support built on [rapid] for applications and
// adapters of this module.
//
// For deciders:
//
//   - [ReplayEqualsLive] checks, for any generated sequence of commands,
//     that the state reached by deciding and evolving live equals the fold
//     of every event emitted, from the initial state.
//   - [Spec] is a given/when/then specification of one decision that
//     prints a readable difference when it fails.
//
// For stores:
//
//   - [StoreContract] runs the behaviour every [store.Store] must have;
//     each adapter of this module runs it, and a third-party adapter can
//     run it from its own tests.
//   - [ConsumerContract] does the same for what projections and sagas need
//     of a store: view states committed with compared-and-set checkpoints,
//     and leases ([ConsumerStore]).
//   - [SnapshotStoreContract] and [KeyStoreContract] do the same for the
//     snapshot store and the key store of personal data that every
//     adapter of this module also implements.
//   - [SnapshotEqualsReplay] checks, for any history and snapshot
//     interval, that loading from snapshots equals a full replay, on a
//     given store with given mappers.
//
// [rapid]: https://pkg.go.dev/pgregory.net/rapid
package proptest
