// Package snapshot defines snapshots of aggregate state, the policies that
// say when to take one, and the interface of a snapshot store.
//
// An aggregate with a long history is loaded from its latest snapshot plus
// the events after it, instead of from all its events:
//
//	state(v) = fold(snapshot state at s, events s+1 … v)
//
// which must equal the fold of every event from the initial state. The
// Runner of package annals does this when it is given a snapshot store, a
// [Policy] and a codec for the state (annals.WithSnapshots).
//
// # What a snapshot records
//
// A [Snapshot] holds the state as bytes together with the state's type
// name and schema version, written by the state codec, and the encoding
// applied after it (compression, encryption), exactly like an event. When
// the state type changes, bump its schema version: a snapshot of an older
// version is upcast if an upcaster for the state's type name is registered
// (package upcast), and otherwise ignored, so the stream is replayed in
// full and a fresh snapshot is taken. A snapshot is never decoded as a type
// or version other than the one that wrote it. Bump the version as well
// when Evolve changes what a state means without changing its shape.
//
// # Policies
//
// [Every] takes a snapshot once n events have been appended since the
// snapshot the state was loaded from; any func(Info) bool is a [Policy].
// Snapshots are a cache: taking one never fails or blocks a command beyond
// its time limit, and a snapshot that cannot be read is ignored.
//
// # Stores
//
// A [Store] keeps the latest snapshot of each stream, in the same database
// as the events. Every adapter of this module implements it, and
// proptest.SnapshotStoreContract checks an implementation.
package snapshot
