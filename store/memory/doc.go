// Package memory is an in-memory [store.Store], for tests, examples and
// single-process programs that need no durability. A Store is also a
// [snapshot.Store] and a [store.KeyStore], as every adapter is.
//
// It keeps payloads as bytes, copied in and out, exactly as a database
// would: nothing works here only because a Go value was shared. It
// registers the URL scheme "memory:"; every Open returns a new, empty store.
// The URL is memory: alone: one with a path, a host or parameters, such as
// memory:///var/app.db, is refused with [store.ErrInvalid], since the
// store would use none of it and keeps nothing once the program ends.
//
// # Deadlines and cancellation
//
// A write in memory is never cut half-way, so its outcome is always
// known: nil means stored, and an error means that nothing was stored;
// no error matches [store.ErrOutcomeUnknown]. Each write checks its
// context last while it holds the store's lock, right before it writes:
// a write whose context ended, also while it waited for the lock,
// returns the context's error (context.DeadlineExceeded or
// context.Canceled) and stores nothing.
package memory
