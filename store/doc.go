// Package store runs deciders against an event store.
//
// It defines the [Store] interface that every adapter implements
// (store/memory, store/sqlite, store/postgres), the [Record] of an event as
// stored, the [Codec] that turns typed events into bytes, and the [Runner]
// that handles commands with optimistic concurrency:
//
//	load (state, version) → decide → append(expected = version)
//	    ↺ on ErrConflict: catch up from version, decide again (bounded)
//
// A store is opened from a URL, usually read from the ANNALS_STORE
// environment variable, with the adapter registered for its scheme:
//
//	s, err := store.Open(ctx, os.Getenv(store.EnvVar))
//
// # Concurrency
//
// Every append names the version its writer expects. A stale writer gets
// an error that matches [ErrConflict] and is a [*ConflictError] naming the
// stream, the expected and the actual version; nothing is written. The
// Runner retries such a command from the caught-up state, deciding afresh,
// [DefaultRetries] times unless [WithRetries] says otherwise.
//
// # The global log
//
// Every event also has a position in one global log, read page by page
// with [Store.ReadLog]. A consumer that remembers the last position it saw
// never skips an event and never sees one twice.
package store
