// Package store is the contract between Annals and the databases it runs
// on: the [Store] interface that every adapter implements (store/memory,
// store/sqlite, store/postgres, or one written elsewhere), the [Record] of
// an event as stored and the [Event] to append, the errors every layer
// matches, the optional interfaces an adapter may implement, and the
// registry of URL schemes.
//
// Applications hold the handle of package annals (annals.Open), which
// opens a store by URL, runs commands, projections and sagas on it, and
// reaches the optional interfaces below without a type assertion. This
// package is what an adapter implements and what the handle returns.
//
// # Streams and concurrency
//
// A stream is a sequence of events with contiguous versions from 1. Every
// append names the version its writer expects ([NoStream] for a new
// stream, [AnyVersion] to skip the check). A stale writer gets an error
// that matches [ErrConflict] and is a [*ConflictError] naming the stream,
// the expected and the actual version; nothing is written. An append is
// atomic, and event IDs are unique in a store: an append of an ID already
// stored fails with [ErrDuplicateEvent], which is what makes an
// idempotency key work.
//
// # The global log
//
// Every event also has a position in one global log, read page by page
// with [Store.ReadLog] and a [LogQuery]. A consumer that remembers the last
// position it saw never skips an event and never sees one twice, whatever
// the writers do; [Store.Wait] blocks until the log grows, and
// [Store.Checkpoint] and [Store.SetCheckpoint] keep consumers' positions.
//
// # Dynamic consistency boundaries
//
// An event may carry tags beside its stream ([Event.Tags]). A store that
// implements [DCB] reads the tagged events that match a [Query] (items
// OR'd, each of types OR'd and tags AND'd) and appends on an
// [AppendCondition]: no event matching a query after a position. A failed
// condition is a [*ConditionError], which matches [ErrConflict]. The
// design, the locking on PostgreSQL and the costs are in docs/dcb.md.
//
// # Optional interfaces
//
// An adapter may implement more than [Store]; the handle of package annals
// finds what it implements once, and a call that needs what it lacks fails
// with an error that matches [ErrUnsupported]:
//
//   - [StateStore]: view states committed with a consumer's checkpoint,
//     compared and set, through a [Committer] of [StateTx] ([StateBatchTx]
//     loads many at once in a transaction, [StateBatchStore] outside
//     one), for view projections and sagas;
//   - [Locker]: named leases ([Lease]), so that one instance of a consumer
//     works at a time;
//   - [KeyStore]: a [SubjectKey] per data subject, for personal data;
//   - snapshot.Store (package snapshot): the latest snapshot per stream;
//   - a method SQL() returning a [Committer] of the database's own
//     transaction type (*sql.Tx, pgx.Tx), for read models in the
//     application's tables.
//
// # Opening by URL
//
// Adapters [Register] a URL scheme from their package's init, as
// database/sql drivers do, so a program links only the adapters it
// imports; [Open] opens the store a URL names, and [Schemes] lists the
// linked ones. [EnvVar] is the environment variable applications read the
// URL from.
//
// # Writing an adapter
//
// An adapter implements [Store] and calls the checks of package
// store/check, so that it refuses what every adapter refuses with the same
// errors; package proptest holds the contracts its tests run (StoreContract,
// ConsumerContract, SnapshotStoreContract, KeyStoreContract).
// docs/architecture.md shows an adapter that implements [Store] alone.
//
// # Operating a store
//
// Tools that copy and inspect stores (cmd/annals) need more than the
// methods above, and every adapter of this module provides it through
// optional interfaces: an [Exporter] reads out all a store keeps
// (checkpoints, snapshots, view states, subject keys, and counts of them),
// an [Importer] writes records exactly as another store holds them (IDs,
// versions, times, encodings, positions), and a [LeaseInspector] tells
// who holds a lease. docs/operations.md shows them at work.
package store
