// Package sqlite is a [store.Store] in one SQLite database file, on
// modernc.org/sqlite (pure Go, no cgo). It behaves exactly as the memory
// store does, as the store contract in package proptest proves, and
// several processes on one machine may share the file.
//
// Importing the package registers the URL scheme "sqlite" with
// [store.Open]:
//
//	sqlite:///var/lib/app/events.db   a file, by absolute path (three slashes)
//	sqlite::memory:                   a private in-memory database
//	sqlite:///var/lib/app/events.db?busy_timeout=10s&synchronous=normal
//
// The query parameters are busy_timeout and poll_interval (Go durations
// such as 10s or 250ms) and synchronous (full or normal); they match
// [WithBusyTimeout], [WithPollInterval] and [WithSynchronous]. Anything
// else in the URL — a relative path, a host, an unknown parameter — is
// refused with [store.ErrInvalid] and a message that shows the form to
// write. [Open] takes a path and options directly.
//
// # The global log
//
// Every append is one transaction, begun with BEGIN IMMEDIATE: it takes
// the database's write lock first, then reads the stream's version, checks
// the expected version and inserts the batch with multi-row INSERTs. The
// global position is the table's INTEGER PRIMARY KEY, which SQLite assigns
// as the largest key plus one. Because the write lock is held from before
// the first insert until the commit, appends happen one after another:
// positions are given in commit order, each batch's positions are
// contiguous, and no transaction can commit a lower position after a
// reader has seen a higher one. Readers see only committed snapshots, so a
// consumer that reads after the last position it saw never skips an event
// and never sees one twice. This is a gap-free log by a lock held from
// insert to commit; SQLite allows one writer at a time anyway, so the lock
// costs no concurrency that the database would otherwise give. Events are never
// deleted, so positions are never reused and AUTOINCREMENT is not needed.
//
// # Connections
//
// Writes go through a single connection. Writers of one process queue for
// it in Go, woken in turn, instead of in SQLite's busy handler, which
// sleeps and retries; the busy timeout ([DefaultBusyTimeout]) bounds only
// the wait for another process that holds the write lock. The write
// statements are prepared once on that connection. Reads use a pool of
// query-only connections, which the write-ahead log lets read while a
// write is in progress. An in-memory database lives in one connection,
// which then serves reads and writes alike; ReadStream reads a stream in
// pages, each query finished before records are handed to the caller, so
// a caller may append while it iterates.
//
// Every connection has journal_mode=WAL (for files), foreign_keys=ON, so
// that tables added by later migrations can rely on them, and the busy
// timeout.
//
// # Durability
//
// The default is synchronous=FULL: every commit flushes the write-ahead
// log to the disk, so an append that returned survives a power failure or
// an operating-system crash. An event store is the system of record: a
// command that was acknowledged must not vanish. [SyncNormal] trades that
// for speed on slow disks: it flushes only at checkpoints, so the appends
// of the last moments before a power failure can be lost, though never
// torn, and a crash of the program alone loses nothing. A writer killed
// in the middle of a batch leaves the batch whole or absent in either
// mode; a test kills writer processes with SIGKILL to prove it.
//
// The write-ahead log needs shared memory between the processes that
// open the file: they must run on the same machine, and the file must not
// be on a network file system.
//
// # Waiting
//
// [Store.Wait] returns at once when an append through the same Store
// commits: the append closes a channel that waiters hold. Appends by other
// processes, or by another Store on the same file, are found by reading
// the head every poll interval ([DefaultPollInterval], at least
// [MinPollInterval]). The polling runs inside the Wait call, in the
// caller's goroutine; an in-memory database, which no one else can write,
// is never polled.
//
// # Schema
//
// The tables are created when a file is first opened, by numbered
// migrations recorded in annals_schema_migrations and applied in one
// write transaction, so processes that open a new file together apply
// each step once; a file whose schema is newer than the program is
// refused. Table names start with annals_, so that an application may keep
// its own tables, such as read models, in the same file.
//
//	annals_events       position (INTEGER PRIMARY KEY), event_id (16-byte
//	                    BLOB, UNIQUE), stream_id, version (UNIQUE with
//	                    stream_id), type, schema_version, recorded_at (Unix
//	                    nanoseconds, UTC), data (BLOB), encoding, metadata
//	                    (JSON text, NULL when empty)
//	annals_checkpoints  consumer (PRIMARY KEY), position, recorded_at
//
// A stream's version is the largest version of its events, read through
// the (stream_id, version) index, so no separate table of streams has to
// be written on every append. The log is not indexed by type: a read of
// the log filtered by type scans forward from its position until it has
// its page, which suits consumers that take a fair share of the events.
//
// A checkpoint moves in one statement that updates the row only when the
// new position is not lower, so racing consumers can never move it back.
package sqlite
