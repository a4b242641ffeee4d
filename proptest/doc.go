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
//   - [For], [ForDCB], [ForView], [ForSaga] and [ForProcess] start
//     given/when/then specifications that print values with %#v and fail
//     a test that gives them no Then.
//   - [DecidesAsOnTheWholeLog] checks that a decider whose boundary is a
//     query decides every command on its query's events as its rules,
//     written plainly on the whole log, decide it: a query that misses an
//     event a rule needs (a tag spelt two ways) fails it.
//
// A specification takes a [T], which *testing.T and *rapid.T both are,
// so it can be the body of a property: written inside rapid.Check, it
// takes the property's rt, never the test's t, and rapid shrinks a case
// whose Then fails to the smallest that still fails:
//
//	rapid.Check(t, func(rt *rapid.T) {
//		balance := rapid.Int64Range(0, 100).Draw(rt, "balance")
//		proptest.For(rt, bank.Decider).
//			Given(bank.Opened{Owner: "ada"}, bank.Deposited{Amount: balance}).
//			When(bank.Withdraw{Amount: balance + 1}).
//			ThenError(bank.ErrInsufficientFunds)
//	})
//
// The other specifications take rt alike. The checks that run
// rapid.Check themselves ([ReplayEqualsLive], [EvolveIsPure],
// [ViewEvolveIsPure], [CompositeEqualsPure], [DecidesAsOnTheWholeLog],
// [SnapshotEqualsReplay])
// take the test's t, since each is a whole property; so do the
// contracts, which run subtests.
//
// For stores:
//
//   - [StoreContract] runs the behaviour every [store.Store] must have;
//     each adapter of this module runs it, and a third-party adapter can
//     run it from its own tests. Among it: after Close, every exported
//     method of the store's type that returns an error fails with
//     [store.ErrClosed], whichever interface it belongs to.
//   - [ConsumerContract] does the same for what projections and sagas need
//     of a store: view states committed with compared-and-set checkpoints,
//     and leases ([ConsumerStore]).
//   - [SnapshotStoreContract] and [KeyStoreContract] do the same for the
//     snapshot store and the key store of personal data that every
//     adapter of this module also implements.
//   - [DCBContract] does it for reads by query and conditional appends
//     ([store.DCB]): reading by query equals filtering the log, a
//     condition fails exactly when a matching event came after its
//     position, and writers racing on overlapping and disjoint queries
//     never both pass conditions they would break together.
//   - [SnapshotEqualsReplay] checks, for any history and snapshot
//     interval, that loading from snapshots equals a full replay, on a
//     given store with given mappers.
//   - [CompositeEqualsPure] checks, for any commands, that a composed
//     decider stored one stream per instance (annals.Composite) decides
//     as the pure composition does, and that its instances load back as
//     the pure fold has them.
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
