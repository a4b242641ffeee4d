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
//   - [SnapshotStoreContract] and [KeyStoreContract] do the same for the
//     snapshot store and the key store of personal data that every
//     adapter also implements.
//   - [SnapshotEqualsReplay] checks, for any history and snapshot
//     interval, that loading from snapshots equals a full replay, on a
//     given store with given mappers.
//
// For several instances of an application on one database, each adapter
// opening its stores with an [OpenInstances]:
//
//   - [OutcomeContract] checks that every command tells its caller what
//     the store holds afterwards (stored, nothing stored, or unknown)
//     while faults hit the store's calls and another instance races.
//   - [InstancesMisreportNothing] runs many instances at once, each with
//     its own Sync system, and checks that no command was misreported.
//   - [CatchUpRace] checks that instances of a projection, a view and a
//     saga catching up at once all succeed and apply each event once.
//
// [rapid]: https://pkg.go.dev/pgregory.net/rapid
package proptest
