// Package proptest is test support built on [rapid] for applications and
// adapters of this module.
//
// For the pure algebra:
//
//   - [ReplayEqualsLive] checks, for commands drawn from a generator or
//     from a function of the current state ([Commands]), that the state
//     reached live equals the replay of every event emitted, and runs the
//     check of [EvolveIsPure] at every step; [Length] bounds a run.
//   - [EvolveIsPure] and [ViewEvolveIsPure] evolve one state twice and
//     require neither result to change the other.
//   - [For], [ForView], [ForSaga] and [ForProcess] start given/when/then
//     specifications that print values with %#v and fail a test that
//     gives them no Then.
//
// For stores:
//
//   - [StoreContract] runs the behaviour every [store.Store] must have;
//     each adapter of this module runs it, and a third-party adapter can
//     run it from its own tests.
//   - [ConsumerContract], [SnapshotStoreContract] and [KeyStoreContract] do
//     the same for the view states and leases, the snapshot store and the
//     key store of personal data that every adapter of this module also
//     implements.
//   - [DCBContract] does it for reads by query and conditional appends
//     ([store.DCB]): reading by query equals filtering the log, a
//     condition fails exactly when a matching event came after its
//     position, and writers racing on overlapping and disjoint queries
//     never both pass conditions they would break together.
//   - [SnapshotEqualsReplay] checks, for any history and snapshot
//     interval, that loading from snapshots equals a full replay, on a
//     given store with given mappers.
//
// [rapid]: https://pkg.go.dev/pgregory.net/rapid
package proptest
