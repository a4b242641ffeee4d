// Package postgres is a [store.Store] in PostgreSQL (13 or later), on pgx
// and its connection pool.
//
// Open it from a URL, directly or through [store.Open] once the package is
// imported:
//
//	import _ "github.com/annals-dev/annals/store/postgres"
//
//	s, err := store.Open(ctx, "postgres://app@db.internal/app?schema=events&prefix=shop_")
//
// or from Go, on a pool it opens ([Open]) or on the caller's ([New]):
//
//	s, err := postgres.Open(ctx, url, postgres.WithSchema("events"))
//	s, err := postgres.New(ctx, pool, postgres.WithPrefix("shop_"))
//
// # Tables
//
// The store keeps its tables in one schema (default "public"), their
// names starting with one prefix (default "annals_"): events, log_head,
// log_ranges and the functions sequence_batch and sequence_log (the
// global log),
// checkpoints and states (consumers), snapshots, subject_keys, and
// schema_migrations. Both are
// quoted wherever they appear, and refused with [store.ErrInvalid] when
// PostgreSQL would truncate a name made from them (63 bytes), rather than
// let two long names meet.
//
// A Store is a [store.Store], a [snapshot.Store], a [store.KeyStore], a
// [store.StateStore] and a [store.Locker], all in that one schema; two
// stores in one database with another schema or prefix share nothing,
// leases and notifications included. The application's own tables, those
// of its SQL read models, are where their SQL names them: a name without
// a schema resolves through the connection's search_path, which [Open]
// sets to the store's schema alone when it is not public (and the URL
// sets no search_path), so that stores with other schemas do not share
// read models either: a table the store's schema lacks is an error, not
// public's table of that name. Stores that differ only in prefix share
// the application's tables; so do stores on a pool given to [New], whose
// search_path is the pool's.
//
// Opening a store brings its tables to the current version: the
// migrations not yet recorded in schema_migrations run in order, in one
// transaction, under an advisory lock, so processes that start together
// do not race. When the tables are current, opening costs one query and
// needs no privilege beyond reading and writing them.
//
// A CHECK refuses an event version below 1, as SQLite's table does, so
// that a hand's UPDATE cannot make a stream read as shorter than it is.
// Migration 8 adds it NOT VALID, which reads no row, and validates it
// after committing, in a transaction of its own that keeps no reader or
// writer waiting. Should rows below 1 already be there, it stays NOT
// VALID and still refuses new ones; a read of such a stream from its
// start fails with [store.ErrCorrupt] naming the stream and the version,
// no append takes such a version as a stream's head, and `annals verify`
// lists every one.
//
// # Appends
//
// One statement, in one transaction and one round trip, inserts an
// append's events and checks the expected version: the version expected
// must exist (unless it is 0) and the next must not, which the primary key
// (stream_id, version) enforces against concurrent writers. The unique
// event_id enforces [store.ErrDuplicateEvent]. A failed check writes
// nothing. The statement also tries the wait lock (see Waiting) and
// inserts only if it got it. An append does nothing else: its events are
// committed without a position, and get one from whoever reads the log
// first. A writer that dies mid-append leaves the append whole or absent:
// a test kills writer processes with SIGKILL while they append batches of
// up to 800 events, and checks the whole log after each kill.
//
// # The global log: sequencing after commit
//
// A position taken from a sequence at insert (bigserial) is not enough:
// writer A takes position 10, writer B takes 11 and commits, a reader reads
// 11 and moves on, then A commits position 10 behind it, and the reader
// never sees it. The ways to prevent that, and their costs:
//
//   - A table lock held from insert to commit (Python eventsourcing): the
//     positions are contiguous and in commit order, but every writer waits
//     for every other's commit, and with it its disk flush.
//   - A transaction-id horizon (Emmett, watermill-sql): rows carry
//     pg_current_xact_id(), readers take only rows older than the oldest
//     running transaction. Writers stay concurrent, but a reader's
//     checkpoint is a pair (transaction id, position), which
//     [store.Record.Position] is not, and one long transaction anywhere in
//     the database holds every consumer back until it ends.
//   - A high-water mark with a gap timeout (Marten): skips events whose
//     writer was slow. Not acceptable.
//   - Sequencing after commit, what this package does: events are inserted
//     with no position, and a sequencing step gives the committed ones the
//     next positions. Positions are contiguous, in order of sequencing, and
//     nothing outside the store holds readers back.
//
// The sequencing step is the function sequence_batch. It takes a
// transaction-scoped advisory lock, the sequencer lock, then finds the
// committed events that have no position, takes those of the
// transactions with the lowest ids, whole transactions, at least a batch
// of them (10,000 events) when that many are pending, orders them by
// (transaction id, stream, version), and numbers them on from the
// counter in log_head. Because the function runs in READ COMMITTED, each
// of its statements gets a fresh snapshot, taken after the lock was
// granted: it sees all that the previous holder numbered, and a position
// is never given twice. One transaction's events are numbered together,
// so the events of one append are contiguous; appends to one stream are
// numbered in version order, since the later one began after the earlier
// one committed and so has the higher transaction id. A reader reads
// only numbered events, whose positions commit at once: it can never see
// position n+1 before n.
//
// No index holds the position, so that numbering an event is a HOT
// update, in place on its page, with no new index entry: the event table
// leaves half of each page free for it (fillfactor 50). Readers find a
// stretch of positions through log_ranges, which the step writes: one
// row per range of about 64 numbered events, naming the transactions
// whose events hold it (a range of their ids, and a list), or, for a
// transaction of more events, one of its streams and the first version
// it wrote there; an index on every event's transaction id and the
// primary key find them. The events still to be numbered are found by a
// horizon and a list in log_head: every committed event of a transaction
// below the horizon and not in the list has a position, and none of those
// at or above it or in the list has one. The list holds the transactions
// that were in progress when the horizon was taken, however long they
// run, so a long transaction elsewhere in the database holds nothing
// back. [Store.ImportEvents], which writes events with their positions,
// writes their ranges too and moves the horizon past itself. Reads by
// query and conditions (see [Store.AppendIf]) find their events through
// the tagged events' indexes, on tags and on type, neither of which
// holds the position either, and filter them by position.
//
// Readers run the step, writers never:
//
//   - [Store.ReadLog], when its page reaches the end of the numbered log and
//     committed events still lack a position (one query tells both). It
//     runs steps and reads on until its page is full or nothing committed
//     before the call is left without a position.
//   - [Store.Head], until nothing is pending.
//   - [Store.Wait] (below).
//
// They queue for the sequencer lock, so they see every event committed
// before they were called. Events appended while nobody reads wait for a
// position until someone does; the batches keep any one step short
// however many piled up. [Store.ReadStream] does not run the step, and
// yields Position 0 for an event committed but not numbered yet.
//
// The costs: each event is written twice (inserted, then updated in
// place with its position by its first reader, which writes about a
// sixth of what the insert wrote to the write-ahead log), and the event
// table takes about twice the space of a table that is never updated;
// numbering is batched, and paid by readers. Appends pay a version check
// and a shared advisory lock. docs/global-log.md has the measurements,
// and the proofs.
//
// # Waiting
//
// [Store.Wait] LISTENs on a channel named after the schema and prefix, on
// one connection it holds for the duration of the call, and runs the
// sequencing step. When nothing new is there, it takes the wait lock, a
// session-level advisory lock, in exclusive mode, runs the step again, and
// sleeps until a notification, holding the lock; woken, it releases the
// lock and looks again. Every append tries the wait lock in shared mode in
// the statement that inserts, and holds it until it commits. Writers never
// conflict with each other over it. A waiter that asks for the lock while
// an append holds it waits for that append's commit, so the step that
// follows sees its events. An append that did not get it (a consumer
// waits, or queues for the lock) inserts nothing, inserts again without
// the lock, and notifies in a transaction of its own after its commit:
// that notification wakes the waiters. So a waiter never sleeps through
// an event, and writers pay for waking it only while one waits.
//
// Several waiters queue for the lock behind each other; each one that
// holds it releases it when woken. A waiter that queues longer than
// lock_timeout looks without the lock and queues again. Waiters do not
// poll; they look once every few seconds on their own only in case a
// writer died between its commit and its notification. A NOTIFY in the
// writers' own transactions would wake waiters without the lock, but
// PostgreSQL serialises the commits of all transactions that notify,
// flushes included, which is the table lock again; a notification in a
// transaction that writes nothing does not wait for a flush.
//
// # Deadlines, cancellation and broken connections
//
// Every write ends in one of three outcomes, told apart with errors.Is:
//
//   - nil: committed.
//   - an error matching [store.ErrOutcomeUnknown]: the request that
//     commits the write was sent and its answer never came back, because
//     the context's deadline or cancellation cut the connection (pgx
//     closes a connection whose context ends mid-request) or the
//     connection broke, or because the server answered with an error of
//     severity FATAL or PANIC, which ends the session or the server, and
//     can come after the commit (a PANIC on a full pg_wal disk: the
//     recovery replays the commits already written). The server may have
//     committed it, and often
//     has: it runs a statement it has received to the end. Read the
//     stream, or retry with an idempotency key, to find out. Such an
//     error never matches [store.ErrConflict].
//   - any other error: nothing was stored. The write failed before that
//     request left, or the server answered it with an error, or it was a
//     statement of a transaction whose COMMIT was never sent, which the
//     server rolls back. An error that is not the server's (a connection
//     that broke, or could not be opened, before the write was sent) ends
//     in "nothing was stored", so that its log line says so.
//
// When the context has ended, the error also matches its error,
// context.DeadlineExceeded or context.Canceled, in the last two cases
// alike. The request that commits is an append's one statement (its own
// transaction), the COMMIT of a consumer's commit ([Store.Commit], the
// committer of [Store.SQL]), and the one statement of
// [Store.SetCheckpoint], [Store.SaveSnapshot],
// [Store.CreateSubjectKey] and [Store.DeleteSubjectKey]; those last four
// are safe to repeat and are repeated once on a connection that the
// server had closed, which settles the outcome when the second try
// succeeds.
//
// [Store.Unavailable] tells, of any of the store's errors, whether the
// server could not be reached or could not take the call: a connection
// that could not be opened or broke, a server shutting down or starting
// (SQLSTATE 57P0x), a connection exception (08xxx), a server out of
// connections, memory or disk (53xxx). The handle of package annals marks
// such an error as [store.ErrUnavailable], and a System's consumers retry
// the event that met one rather than stop at it. A lost answer matches
// [store.ErrOutcomeUnknown] and may be marked unavailable too: test for
// ErrOutcomeUnknown first.
//
// # Connections
//
// [Open] makes a pool of max(16, CPUs) connections
// ([DefaultMinPoolConns]) unless the URL sets pool_max_conns: commits
// wait on the server's disk, which flushes the commits waiting together
// at once, so a pool of pgx's default size, max(4, CPUs), caps the
// throughput of many writers well below what the disk gives. It sets
// lock_timeout ([DefaultLockTimeout]) and
// idle_in_transaction_session_timeout ([DefaultIdleInTransactionTimeout])
// on the pool's connections unless the URL sets them. When the server
// closes the store's connections (a restart, pg_terminate_backend), the
// call that meets a dead connection drops the pool's other idle
// connections, which are dead too; reads then retry once, appends fail
// once. An append whose connection breaks returns an error matching
// [store.ErrOutcomeUnknown] and has committed all its events or none; a
// read of the stream tells which. A request cut by its own context's
// deadline or cancellation drops its connection alone, and the pool opens
// a new one when it needs one: deadlines shorter than a write takes under
// load cost a connection each.
//
// A statement_timeout, from the URL or the role, is left as it is, and
// applies to the store's statements on the caller's behalf: appends,
// reads, a consumer's commit and the statements of an SQL handler,
// snapshots, subject keys. It does not apply to the work the store does
// for the log as a whole, which a short timeout would cut over and over,
// each try rolled back and the next facing the same work: the
// sequencing step (its work is the backlog's: once statement_timeout
// cuts one, the store runs its steps with the timeout off, each step
// bounded by its batch), a waiter's queue for the wait lock
// (lock_timeout bounds it), the migrations that opening a store runs,
// and a lease (see Leases). A caller's deadline
// still cuts all of them.
//
// The pool (pgxpool) runs its own health-check goroutine while the store
// is open; [Store.Close] stops it when the store opened the pool.
//
// # Snapshots
//
// The snapshots table holds one row per stream, the latest snapshot.
// [Store.SaveSnapshot] is one upsert, INSERT … ON CONFLICT (stream_id) DO
// UPDATE … WHERE the stored version ≤ the new one: the row lock that ON
// CONFLICT takes orders concurrent savers, so the highest version stays
// whatever the order in which they commit.
//
// # Subject keys, and what forgetting erases
//
// The subject_keys table holds one key per data subject, wrapped by a
// master key. [Store.CreateSubjectKey] inserts with ON CONFLICT DO NOTHING
// and then reads the stored key in a statement of its own, so concurrent
// creators all get the first one.
//
// [Store.DeleteSubjectKey] (and [codec.ForgetSubject]) deletes the row:
// once it returns, no transaction that starts later sees the key, so every
// process reading the store reads the subject's personal fields as
// forgotten. The bytes of the key are not erased by the delete:
//
//   - In the table's file, a deleted row is a dead row version until a
//     VACUUM removes it, and VACUUM (autovacuum too) frees its space for
//     reuse without overwriting it: the bytes stay until a new row takes
//     the space. The table is created with autovacuum set to clean it
//     after any deletion. [Store.PurgeDeletedSubjectKeys] (VACUUM FULL)
//     rewrites the table into a new file without them; it locks the
//     table while it runs, needs the table owner's privileges, and cannot
//     drop a row that a transaction older than the delete may still see.
//   - The write-ahead log holds the insert of the key until its segments
//     are recycled, and a WAL archive for as long as it is kept. Streaming
//     replicas apply the delete, and keep the dead row version until they
//     replay a vacuum of it.
//   - Backups (base backups, pg_dump files) taken before the delete hold
//     the key for as long as they are kept, and restoring one brings it
//     back.
//
// A view's states are plain JSON, personal fields included, and a view
// rebuilt after forgetting leaves its old states as dead rows in the
// same way, in clear: [Store.PurgeDeletedStates] rewrites the states
// table, with the same limits. The tables of SQL read models are the
// application's: rewrite them with VACUUM (FULL) after deleting or
// rebuilding a subject's rows.
//
// What those copies hold is the wrapped key, readable only with the
// master key that wrapped it. What an operator should do: at a quiet
// time after forgetting, purge (or VACUUM (FULL) the key table); keep
// WAL archives and backups no longer than the time promised for erasure;
// and keep a record of forgotten subject IDs (they are not personal data,
// for instance an event in the domain) so that they are forgotten again
// after a restore from a backup older than the deletion.
//
// # Consumers: checkpoints, view states and the application's tables
//
// [Store.Commit], and the Commit of the committer that [Store.SQL] returns,
// run the batch of a projection or saga in one transaction that begins
// with the compared-and-set checkpoint: UPDATE checkpoints SET position =
// to WHERE consumer = … AND position = from (from 0, an insert that
// updates only a row at 0). That statement locks the checkpoint's row
// until the transaction ends. Another instance's commit waits for the
// lock, then finds the checkpoint moved and fails with [store.ErrConflict]
// before its handler runs; a [Store.SetCheckpoint] waits likewise. Two
// instances never both commit a batch, and their handlers never write at
// the same time, so they cannot deadlock each other on the application's
// rows.
//
// View states live in the states table, keyed by view name and key. The
// [store.StateTx] of a commit keeps the states its handler saves and
// deletes in memory, answers reads from them first (then from the
// database, in the transaction), and writes them all when the handler
// returns, in one round trip: one multi-row statement each for the views
// cleared, the states deleted and the states saved (unnest of arrays, an
// upsert for the saves), in key order. A batch costs BEGIN, the
// checkpoint, one query per state read that the batch has not written,
// the writes, and COMMIT, whatever its size. pgx prepares each statement
// once per connection and reuses it.
//
// [Store.SQL] hands the handler that transaction itself, a pgx.Tx, for
// read models in the application's own tables in the same database. The
// handler may run any statement that can run in a transaction (not
// VACUUM, not CREATE INDEX CONCURRENTLY), read the store's tables, and use
// savepoints (tx.Begin). It must not:
//
//   - commit or roll back the transaction: both are refused with an
//     error; the handler returns nil to commit, an error to roll back;
//   - append to the store, or write through the pool or any other
//     connection, for anything that must commit with the batch: that
//     commits on its own, whatever becomes of the batch; and a handler
//     that waits for a pool connection while its transaction holds one
//     can wait forever once the pool is exhausted. Commands that follow
//     from events belong in a saga;
//   - do what cannot be undone outside the database (send mail, call a
//     service): a batch that fails is run again, and so is its handler;
//   - take long: the checkpoint's row stays locked, and the server ends
//     a session idle in its transaction for longer than
//     idle_in_transaction_session_timeout (see [DefaultIdleInTransactionTimeout]).
//
// The transaction runs in READ COMMITTED, like every transaction of the
// store. When its connection breaks under the handler, the handler's
// error, whatever it is, is the store's, not the event's: a System runs
// the batch again with its pause, rather than stop the projection at the
// event the handler was at.
//
// # Leases
//
// [Store.Lock] takes a session-level advisory lock, pg_advisory_lock(int,
// int), on a connection of the lease's own, and [store.Lease.Release]
// unlocks it and closes that connection. The connection is opened with the
// pool's settings and hooks, but with lock_timeout and statement_timeout
// off, since Lock waits as long as its context allows. It is not one of
// the pool's: a lease is held for as long as its consumer runs, a system
// runs several consumers, and each also holds a pool connection while it
// waits for new events; leases taken from a pool of four would leave two
// consumers' appends waiting forever for a connection. Count one
// connection per held lease, besides the pool, in max_connections.
//
// A lease ends with its session. A process that dies loses its
// connections; the server ends their sessions and releases their locks,
// and a Lock waiting in another process gets the lease at once, with no
// expiry to wait out. The lease's goroutine, started by Lock and stopped
// by Release, reads the otherwise idle connection: when the server ends
// the session (pg_terminate_backend, a restart, a failover), the read
// fails and [store.Lease.Lost] is closed at once; after five seconds
// without news it pings the server, to find a connection that died
// without a word. After a network partition the server keeps the session,
// and so the lock, until it notices the connection is gone, which its
// tcp_keepalives_* and tcp_user_timeout settings bound; until then no
// other instance takes over, and the holder, whose ping fails, stops.
// Nothing is done twice meanwhile: checkpoints are compared and set.
//
// A lease's key is a 64-bit hash (FNV-1a) of the schema, the prefix and
// the lease name, split into the two 32-bit keys of the two-key form.
// That form has a key space of its own, apart from the one-bigint locks of
// the sequencer, the waiters, the migrations and most applications, so
// stores with other schemas or prefixes in one database hold their leases
// apart. Two names whose hashes are equal would share one lease: one
// consumer would wait for as long as the other runs. The chance that any two of n lease
// names in a database collide is about n²/2⁶⁵, 3·10⁻¹⁴ for a thousand.
// The leases held and awaited are in pg_locks:
//
//	SELECT l.pid, l.granted, a.application_name, a.backend_start
//	FROM pg_locks l JOIN pg_stat_activity a USING (pid)
//	WHERE l.locktype = 'advisory' AND l.objsubid = 2;
//
// Session-level locks (and LISTEN) need the session: connect directly or
// through a pooler in session mode, not in transaction mode.
package postgres
