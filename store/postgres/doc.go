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
// checkpoints, schema_migrations, and the function sequence_log. Both are
// quoted wherever they appear, and refused with [store.ErrInvalid] when
// PostgreSQL would truncate a name made from them (63 bytes), rather than
// let two long names meet.
//
// Opening a store brings its tables to the current version: the
// migrations not yet recorded in schema_migrations run in order, in one
// transaction, under an advisory lock, so processes that start together
// do not race. When the tables are current, opening costs one query and
// needs no privilege beyond reading and writing them.
//
// # Appends
//
// One statement inserts an append's events and checks the expected
// version: the version expected must exist (unless it is 0) and the next
// must not, which the primary key (stream_id, version) enforces against
// concurrent writers. The unique event_id enforces [store.ErrDuplicateEvent].
// A failed check writes nothing.
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
// The sequencing step is the function sequence_log. It takes a
// transaction-scoped advisory lock, then reads the events that have no
// position (the unique index on position holds the NULLs too), orders them
// by (transaction id, stream, version), and numbers them on from the
// counter in log_head. Because the function runs in READ COMMITTED, each
// of its statements gets a fresh snapshot, taken after the lock was
// granted: it sees all that the previous holder stamped, and a position is
// never given twice. Every event committed before a step took the lock is
// stamped by that step or an earlier one; one transaction's events are
// stamped together, so the events of one append are contiguous. A reader
// reads only stamped events, whose positions commit at once: it can never
// see position n+1 before n.
//
// Who runs the step:
//
//   - Every append, right after it commits, as a second transaction sent
//     in the same round trip (a pipeline with two Syncs). A writer never
//     waits for the lock: if another session holds it, the writer leaves
//     its events to that session, or to the next step.
//   - [Store.ReadLog], when its page reaches the end of the stamped log and
//     committed events still lack a position (one query tells both), and
//     [Store.Head]. They wait for the lock, so they see every event
//     committed before they were called. A writer that died between its
//     commit and its step leaves its events invisible only until then.
//   - [Store.Wait] (below).
//
// [Store.ReadStream] does not run the step, and may yield Position 0 for
// an event committed but not sequenced yet.
//
// The costs: each event is written twice (inserted, then updated with its
// position, leaving a dead row version for autovacuum), each append
// carries a second, short transaction, and sequencing steps run one at a
// time, each stamping every event committed since the previous one, so a
// busier log gets bigger batches. docs/global-log.md has the measurements.
//
// # Waiting
//
// Every sequencing step that held the lock ends with pg_notify on a
// channel named after the schema and prefix, carrying the new head, even
// when it stamped nothing. [Store.Wait] LISTENs on one connection it holds
// for the duration of the call, runs the step, and sleeps until a
// notification. It returns when the notified head is past its position;
// otherwise it runs the step again: a writer that found the lock taken
// left its events to the holder, whose snapshot may have missed them, and
// the holder's notification is the cue to look. Waiters do not poll; they
// look once every few seconds on their own only in case a writer died
// between its commit and its step. A NOTIFY in the writers' own
// transactions would also wake waiters, but PostgreSQL serialises the
// commits of all transactions that notify, which is the table lock again.
//
// # Connections
//
// [Open] sets lock_timeout ([DefaultLockTimeout]) and
// idle_in_transaction_session_timeout ([DefaultIdleInTransactionTimeout])
// on the pool's connections unless the URL sets them. When the server
// closes the store's connections (a restart, pg_terminate_backend), the
// call that meets a dead connection drops the pool's other idle
// connections, which are dead too; reads then retry once, appends fail
// once. An append whose connection breaks returns an error and has
// committed all its events or none; a read of the stream tells which.
//
// The pool (pgxpool) runs its own health-check goroutine while the store
// is open; [Store.Close] stops it when the store opened the pool.
package postgres
