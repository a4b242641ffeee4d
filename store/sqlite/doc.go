// Package sqlite is a [store.Store] in one SQLite database file, on
// modernc.org/sqlite (pure Go, no cgo). It behaves exactly as the memory
// store does, as the contracts in package proptest prove, and several
// processes on one machine may share the file. Beside the events, the
// same file keeps snapshots ([snapshot.Store]), data subjects' keys
// ([store.KeyStore]), view states committed with consumer checkpoints
// ([store.StateStore]) and leases ([store.Locker]); [Store.SQL] commits
// read models in the application's own tables.
//
// Importing the package registers the URL scheme "sqlite" with
// [store.Open]:
//
//	sqlite:///var/lib/app/events.db   a file, by absolute path (three slashes)
//	sqlite::memory:                   a private in-memory database
//	sqlite:///var/lib/app/events.db?busy_timeout=10s&synchronous=normal
//
// The query parameters are busy_timeout, lease_duration and
// poll_interval (Go durations such as 10s or 250ms), synchronous (full
// or normal), checkpoint_pages (a number of pages) and create (true or
// false); they match [WithBusyTimeout], [WithLeaseDuration],
// [WithPollInterval], [WithSynchronous], [WithCheckpointPages] and
// [WithCreate]. With create=false a path that names no file, or a file
// that holds no store, is an error matching [store.ErrNotFound] and
// nothing is created: tools that only inspect a store use it, so that a
// mistyped path does not leave an empty store behind. Anything
// else in the URL — a relative path, a host, an unknown parameter — is
// refused with [store.ErrInvalid] and a message that shows the form to
// write. [Open] takes a path and options directly.
//
// # The global log
//
// Every append runs in a write transaction, begun with BEGIN IMMEDIATE:
// it takes the database's write lock first, then reads the stream's
// version, checks the expected version and inserts the batch with
// multi-row INSERTs; the append of a single event, the commonest, checks
// the version in the INSERT itself (INSERT … SELECT … WHERE the stream's
// highest version is the one expected), one statement instead of two.
// The global position is the table's INTEGER PRIMARY KEY, which SQLite
// assigns as the largest key plus one. Because the write lock is held
// from before the first insert until the commit, transactions happen one
// after another: positions are given in commit order, each batch's
// positions are contiguous, and no transaction can commit a lower
// position after a reader has seen a higher one. Readers see only
// committed snapshots, so a consumer that reads after the last position
// it saw never skips an event and never sees one twice. This is a
// gap-free log by a lock held from insert to commit; SQLite allows one
// writer at a time anyway, so the lock costs no concurrency that the
// database would otherwise give. Events are never deleted, so positions
// are never reused and AUTOINCREMENT is not needed.
//
// # Group commit
//
// With synchronous=FULL a commit waits for the disk to flush the
// write-ahead log, which takes longer than the inserts. Appends of one
// Store that arrive while another is being written therefore share the
// next transaction and its flush: the first of them to be woken, the
// leader, takes the writer connection and every append queued behind it
// (up to 256 appends, or 8,192 events), runs each one's statements in a
// savepoint of its own (a single statement needs none: SQLite undoes a
// failed statement by itself), takes in whatever queued meanwhile, up to
// the same bounds, commits once, and then tells each caller its outcome.
// A lone writer waits for nobody: it finds the queue empty and commits
// at once. There is no timer; a group is whatever queued while the
// previous one was written or while it is, so groups grow with the load.
// A leader whose previous group held several appends yields the
// processor once before it takes its group, so that the writers of that
// group, woken together, can queue again first rather than split into a
// group of one and a group of the rest.
//
// Each append of a group keeps what it would have alone. Its expected
// version is checked in the transaction, after the appends before it in
// the group; a conflict, an event ID already stored, or any other error
// of its statements rolls back its savepoint only, and only it fails,
// having stored nothing. Nobody hears success before the COMMIT has
// returned, and a COMMIT that fails fails every append of the group
// (see Deadlines and cancellation for the outcome each is told). The
// group's statements run under no caller's context, since SQLite
// interrupts a statement whose context ends and an interrupted INSERT
// rolls back the whole transaction; deadlines are checked between
// statements instead (below).
//
// A conflict with an append before it in the same group is answered at
// once, without a statement and before the group commits: the stream is
// at the version that append left it at, which is what the check in the
// transaction would read. A writer told so decides again and appends at
// that version, and if the group is still taking appends, its second
// append joins it and shares its COMMIT. On a hot stream, where many
// writers read the same version, a group thus stores a chain of their
// appends instead of one of them, and their conflicts cost neither
// statements nor a place in the group (the bound of 256 counts only the
// appends the group writes). The version named is the group's, not yet
// committed: should the COMMIT then fail, an append at that version is
// told the stream's true one, and nothing wrong is stored.
//
// Appends through several Store values, or
// several processes, on one file each form their own groups and take
// the write lock in turn. A test kills a process of 32 writers with
// SIGKILL inside a group, before and after its COMMIT, and finds every
// acknowledged append stored, every append whole or absent, and the log
// without a gap.
//
// # Connections
//
// Writes go through a single connection. Writers of one process queue for
// it in Go, woken in turn, instead of in SQLite's busy handler, which
// sleeps and retries; the busy timeout ([DefaultBusyTimeout]) bounds only
// the wait for another process that holds the write lock. The write
// statements are prepared once on that connection. Reads use a pool of
// query-only connections, which the write-ahead log lets read while a
// write is in progress, with one exception: a stream read (ReadStream,
// and a read by query of a [store.DCB]) borrows the writer connection
// when it is idle, nothing else waits for it, and appends have been
// coming one at a time. SQLite empties a connection's page cache when
// another connection has committed since its last read, so a reader
// fetches every page of a stream again after each append, while the
// writer's cache still holds them: a lone writer's command, a read then
// an append, runs 10–15% faster. An append that arrives during a
// borrowed read waits for that one query, as it would for a group. A read
// made inside a projection's handler, which holds the writer, goes to a
// reader. An in-memory database lives in one connection,
// which then serves reads and writes alike; ReadStream reads a stream in
// pages, each query finished before records are handed to the caller, so
// a caller may append while it iterates.
//
// Every connection has journal_mode=WAL (for files), foreign_keys=ON, so
// that tables added by later migrations can rely on them, and the busy
// timeout; the writer also has secure_delete=ON (see Forgetting). With
// [WithCheckpointPages] one more connection, query-only like the
// readers, copies the write-ahead log into the database file, and the
// writer has wal_autocheckpoint=0 (see Checkpoints).
//
// # Deadlines and cancellation
//
// Every write ends in one of three outcomes, told apart with errors.Is:
//
//   - nil: committed, even when the context ended meanwhile.
//   - an error matching [store.ErrOutcomeUnknown]: SQLite failed the
//     COMMIT with an I/O error, which can come after the commit record
//     reached the log; the next open may find the write committed. Such
//     an error never matches [store.ErrConflict].
//   - any other error: nothing was stored.
//
// A deadline or a cancellation never leaves the outcome unknown: SQLite
// runs in the process, so its answer cannot be cut off on the way. An
// append whose context ends while it waits to join a group leaves the
// queue; one whose group has not begun its transaction leaves the group;
// one whose context ends while its group is being written is taken out
// before the COMMIT (the group rolls back and is written again without
// it, since later appends may have depended on it): each is told that
// nothing was stored, the first two at once, the last as soon as the
// group's statements have run and been rolled back. Once the COMMIT has
// begun, the caller hears its outcome, even if its context ended
// meanwhile.
//
// A group that waits for another process's write lock waits for it on
// behalf of all its appends, whatever their deadlines; an append whose
// context ends meanwhile, the group's leader included, is told at once
// that nothing was stored, and is not written. When the leader leaves,
// the next append of the group leads it and goes on waiting. Each append
// waits up to the busy timeout in all, counted from when it arrived,
// however many leaders wait in turn: then it fails with an error that
// says the lock was held longer than the busy timeout, nothing stored,
// and the appends that arrived after it go on waiting. [Store.Unavailable]
// tells such an error, and any other of SQLite's busy or locked answers,
// apart: the handle of package annals marks it as [store.ErrUnavailable],
// and a System's consumers retry the event that met one rather than stop
// at it.
//
// Every other write, even of one statement, runs in a transaction of its
// own (BEGIN IMMEDIATE … COMMIT), whose wait for another process's write
// lock ends with its context: when the context ends before the COMMIT,
// database/sql rolls the transaction back and SQLite interrupts the
// statement running; a COMMIT that the context interrupts has not
// committed, and one that finished reports success. (A statement outside
// a transaction would not tell: the driver reports the context's error
// for a statement it interrupted even when the statement and its
// implicit commit had finished.) A write whose context ended returns an
// error that matches context.DeadlineExceeded or context.Canceled, and
// says that nothing was stored, whatever met it first: the wait for the
// writer connection, the rollback, or the interruption.
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
// # Checkpoints
//
// Commits go to the write-ahead log, and SQLite copies the log into the
// database file now and then (a checkpoint) so that the log can start
// again from its beginning. By default SQLite does it on the commit that
// takes the log past 1,000 pages (4 MiB), before that commit returns:
// every few hundred appends, one waits for the copy and a flush of the
// database file, and under many concurrent writers so do the appends
// queued behind it, which is most of the tail of their latency above the
// 95th percentile.
//
// [WithCheckpointPages] (checkpoint_pages=10000 in a URL) takes the
// copying off the commit path: a connection of the store's own copies
// the log every n pages while appends go on, and the writer then copies
// what was committed meanwhile, a short checkpoint between two groups,
// so that the log can start again. On the project's benchmark machine,
// in the steady state of a store that has been running, n = 10,000 cut
// the 99th percentile of appends and commands from 8 and 32 writers by a
// third to two thirds, at 0.92–1.44 of the default's throughput, and a
// lone writer's commands ran as fast as by default. The price: the log
// file is about n pages (4 KiB each), and Open writes it to that size
// (a file that grows with the commits is slower to flush), which took
// 66–85 ms for 40 MB against 8–27 ms for an Open by default, and Close
// 15 ms more, to delete it (docs/benchmarks.md has the runs). Choose it
// for a process that runs for long with concurrent appends; the default
// suits short-lived processes, such as serverless functions, and a lone
// writer. Every process that opens the file should use the same
// setting: a process with SQLite's own checkpoints copies the whole log
// on its commits once the log passes 1,000 pages. Checkpoints never
// lose data: one that fails, or is cut short by a crash, leaves the log
// whole, and the next one copies it.
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
// migrations recorded in annals_schema_migrations. Open reads the
// schema's version first, in a read transaction, which writes nothing and
// waits for no writer: a file whose schema is current opens without the
// write lock, at once even while another process holds it (a long
// migration, a long write), and a file that the process may not write
// opens for reading (see Read-only files). Only a file that lacks steps
// takes the write lock, reads the version again under it and applies the
// missing steps in that one transaction, so processes that open a new
// file together apply each step once. Their race to switch the file to
// WAL and to create the schema can make SQLite answer busy at once,
// without waiting: Open tries again, after short random pauses, for up to
// the busy timeout. A file whose schema is newer than the program is
// refused. Table names start with annals_, so that an application may
// keep its own tables, such as read models, in the same file.
//
//	annals_events       position (INTEGER PRIMARY KEY), event_id (16-byte
//	                    BLOB, UNIQUE), stream_id, version (UNIQUE with
//	                    stream_id), type, schema_version, recorded_at (Unix
//	                    nanoseconds, UTC), data (BLOB), encoding, metadata
//	                    (JSON text, NULL when empty)
//	annals_checkpoints  consumer (PRIMARY KEY), position, recorded_at,
//	                    generation (how many Commits moved it)
//	annals_snapshots    stream_id (UNIQUE), version, type, schema_version,
//	                    taken_at (Unix nanoseconds, NULL for the zero
//	                    time), data, encoding: the latest snapshot per stream
//	annals_subject_keys subject (PRIMARY KEY), key_id, wrapped, created_at;
//	                    annals_subject_keys_scratch, of the same columns, is
//	                    empty but while a key is deleted
//	annals_view_states  view_name, state_key (PRIMARY KEY together), data
//	annals_leases       name (PRIMARY KEY), owner (16 random bytes),
//	                    expires_at (Unix nanoseconds)
//
// A stream's version is the largest version of its events, read through
// the (stream_id, version) index, so no separate table of streams has to
// be written on every append. The log is not indexed by type: a read of
// the log filtered by type scans forward from its position until it has
// its page, which suits consumers that take a fair share of the events.
//
// A checkpoint moves in one statement that updates the row only when the
// new position is not lower, so racing consumers can never move it back.
//
// # Read-only files
//
// A file that the process may not write — its permissions, another
// user's file, a read-only file system, a backup kept read-only — opens
// when its schema is current, and reads work: the annals tool inspects
// and verifies such a file. Every write fails with an error that says the
// file is read-only to the process, having stored nothing. A file whose
// schema lacks steps cannot be brought up to date, and its open fails
// saying so.
//
// SQLite reads a database in WAL mode only with its -wal and -shm files
// beside it, through which readers learn what writers in other processes
// are doing: they exist while some process has the store open (the last
// to close it removes them), and a process that may write the directory
// creates them. A read-only file, closed everywhere, in a directory the
// process may not write, therefore cannot be read: SQLite could read it
// as immutable, but that is safe only if no process writes it meanwhile,
// which the store cannot know. Open then fails with an error that says
// so and what to do: open a copy in a directory the process may write,
// or open it as a user who may write its directory.
//
// # Snapshots
//
// A stream has one row of annals_snapshots, its latest snapshot: a save
// replaces it in one statement unless the stored one has a higher
// version, so writers that save out of order keep the newest. Loading a
// snapshot is one read of that row by its unique index.
//
// # Forgetting
//
// [Store.DeleteSubjectKey] (through [codec.ForgetSubject]) removes a data
// subject's key from the file, not only from the table, so that someone
// who later holds both a copy of the file and the master key still cannot
// read the subject's personal data. SQLite alone does not promise that:
// a deleted row's bytes stay in the page's free space, and even with
// secure_delete, which overwrites deleted rows and freed pages with zeros,
// copies that the b-tree left behind when it moved rows between pages
// stay in the pages' unused space. So the writer connection runs with
// secure_delete, and a delete rewrites the key table in its transaction:
// it copies the other keys to annals_subject_keys_scratch, empties the
// key table at once (its pages are freed and zeroed), copies the keys
// back and empties the scratch table the same way. The delete then
// checkpoints the write-ahead log into the database file and truncates
// the log, which still holds the pages as they were.
//
// What is guaranteed once DeleteSubjectKey has returned nil: the bytes of
// the key are in neither the database file nor its -wal file. A test
// searches both for every piece of deleted keys after any sequence of
// creates, deletes and appends. Not covered: copies made before (backups,
// copies of the file, a replica), blocks that the file system or an SSD
// freed but did not erase, and writes by other programs that open the
// file without secure_delete. A delete costs time in proportion to the
// number of keys stored, since it rewrites them all; forgetting is rare.
// When readers in other connections keep the log from being truncated
// within the busy timeout, DeleteSubjectKey deletes the key but returns
// an error that says so; calling it again finishes the job.
//
// View states are plain JSON, personal fields included: after forgetting
// a subject and rebuilding the views that held its data,
// [Store.PurgeDeletedStates] rewrites the states table the same way and
// truncates the log, so that the old states are in neither file.
//
// # View states and the application's tables
//
// [Store.Commit] commits view states with a consumer's checkpoint, for
// [annals.ViewProjection] and the saga runners. The function that folds the
// batch runs before the write transaction, with its writes staged in
// memory and its reads of committed states, so that the write lock is
// held only while the staged writes are applied. To know that no other
// instance committed while it worked, Commit reads the checkpoint and its
// generation before and compares both in the write transaction, which
// also catches a checkpoint moved away and back by a rebuild; a conflict
// fails with [store.ErrConflict]. A view's states should be written by
// one consumer.
//
// [Store.SQL] is the committer of read models in the application's own
// tables: its Commit hands the handler the *sql.Tx of the write
// transaction that also moves the checkpoint. The handler may read and
// write any table through that transaction, create tables, and read the
// store's own; it must not commit or roll back the transaction, write the
// annals_ tables or change the connection's settings. It holds the
// store's only writer connection and the database's write lock until it
// returns, so it must not call the store, not even to append: every
// write of the store waits for that connection, and would wait forever;
// on an in-memory database, where one connection does everything, so
// would every read. [Store.ReadDB] is a pool of query-only connections
// for reading the application's tables.
//
// # Leases
//
// [Store.Lock] grants leases among all the processes that share the file:
// a lease is a row of annals_leases with its holder's random token and
// its expiry. Lock takes the row when there is none or it has expired,
// and otherwise waits: a release in the same Store wakes it at once,
// other processes' releases and expiries are seen every poll interval.
// The lease renews itself in a goroutine of its own, three times per
// lease duration ([DefaultLeaseDuration], see [WithLeaseDuration]),
// until Release deletes the row. Its Lost channel is closed when a
// renewal finds the row taken over, or when the lease expires before a
// renewal succeeds (another process held the write lock too long, the
// process was paused, the store was closed). A process that dies stops
// renewing, and another takes the lease over once it has expired: a test
// kills a holding process with SIGKILL and takes its lease over. Expiry
// times are Unix times of the machine's clock, which the processes share;
// a step of the clock moves every expiry with it. Correctness never
// depends on a lease: checkpoints are compared and set.
package sqlite
