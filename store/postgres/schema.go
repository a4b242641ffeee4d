package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals/store"
)

// Defaults for where the store keeps its tables.
const (
	DefaultSchema = "public"
	DefaultPrefix = "annals_"
)

// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1: longer identifiers are
// silently truncated, so two long names could end up naming one table.
const maxIdentifierLen = 63

// objectSuffixes are the names, after the prefix, of every table, index,
// constraint and function the migrations create. A prefix is valid only if
// every one of them fits in maxIdentifierLen bytes. Migrations that add
// objects add their names here.
var objectSuffixes = []string{
	"schema_migrations", "schema_migrations_pkey",
	"events", "events_pkey", "events_event_id_key", "events_position_key",
	"log_head", "log_head_pkey", "log_head_one_check", "sequence_log",
	"checkpoints", "checkpoints_pkey",
	"snapshots", "snapshots_pkey",
	"subject_keys", "subject_keys_pkey",
	"states", "states_pkey",
	"events_pending", "sequence_batch",
	"events_tags", "events_tagged_type",
	"events_txid", "log_ranges", "log_ranges_pkey",
	"events_version_check",
}

// names holds the quoted, schema-qualified names the SQL uses, and what is
// derived from the schema and prefix: lock keys and the notification
// channel, which are per database in PostgreSQL and must not collide
// between two stores sharing one.
type names struct {
	schema, prefix string

	events, logHead, checkpoints, migrations, sequence string // quoted
	snapshots, subjectKeys, states                     string // quoted
	sequenceBatch, logRanges                           string // quoted

	pkey, eventIDKey string // unquoted constraint names, to classify errors

	channel       string // unquoted; its quoted form is listen
	listen        string
	sequenceLock  int64
	waitLock      int64 // held by waiting consumers, tried by writers
	migrationLock int64
}

func newNames(schema, prefix string) (names, error) {
	if err := validIdentifier("schema", schema); err != nil {
		return names{}, err
	}
	if schema == "information_schema" || strings.HasPrefix(schema, "pg_") {
		return names{}, fmt.Errorf("postgres store: schema %q is PostgreSQL's own (pg_catalog, pg_toast, information_schema…), which holds no application's tables; name a schema of your own: %w", schema, store.ErrInvalid)
	}
	if !utf8.ValidString(prefix) || strings.ContainsRune(prefix, 0) {
		return names{}, fmt.Errorf("postgres store: table prefix %q is not valid UTF-8 or contains a NUL byte: %w", prefix, store.ErrInvalid)
	}
	for _, suffix := range objectSuffixes {
		if name := prefix + suffix; len(name) > maxIdentifierLen {
			return names{}, fmt.Errorf("postgres store: table prefix %q is %d bytes: the name %q would be %d bytes, over PostgreSQL's limit of %d, which truncates it; use a prefix of at most %d bytes: %w",
				prefix, len(prefix), name, len(name), maxIdentifierLen, maxIdentifierLen-longestSuffix(), store.ErrInvalid)
		}
	}
	q := func(suffix string) string { return pgx.Identifier{schema, prefix + suffix}.Sanitize() }
	id := schema + "\x00" + prefix
	channel := fmt.Sprintf("annals_%016x", hash64("channel\x00"+id))
	return names{
		schema: schema, prefix: prefix,
		events: q("events"), logHead: q("log_head"), checkpoints: q("checkpoints"),
		migrations: q("schema_migrations"), sequence: q("sequence_log"),
		snapshots: q("snapshots"), subjectKeys: q("subject_keys"), states: q("states"),
		sequenceBatch: q("sequence_batch"), logRanges: q("log_ranges"), pkey: prefix + "events_pkey", eventIDKey: prefix + "events_event_id_key",
		channel: channel, listen: pgx.Identifier{channel}.Sanitize(),
		sequenceLock:  int64(hash64("sequence\x00" + id)),
		waitLock:      int64(hash64("wait\x00" + id)),
		migrationLock: int64(hash64("migrate\x00" + id)),
	}, nil
}

func validIdentifier(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("postgres store: %s name is empty: %w", what, store.ErrInvalid)
	case len(s) > maxIdentifierLen:
		return fmt.Errorf("postgres store: %s name %q is %d bytes, over PostgreSQL's limit of %d, which truncates it: %w", what, s, len(s), maxIdentifierLen, store.ErrInvalid)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return fmt.Errorf("postgres store: %s name %q is not valid UTF-8 or contains a NUL byte: %w", what, s, store.ErrInvalid)
	}
	return nil
}

func longestSuffix() int {
	n := 0
	for _, s := range objectSuffixes {
		n = max(n, len(s))
	}
	return n
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// A migration changes the database from version-1 to version. Migrations
// are applied in order, each once, in one transaction with the row that
// records it; the list only ever grows.
type migration struct {
	version     int
	description string
	sql         func(names) string
}

var migrations = []migration{
	{1, "events, the global log sequencer, consumer checkpoints", migration1},
	{2, "snapshots", migration2},
	{3, "subject keys", migration3},
	{4, "view states", migration4},
	{5, "sequencing in bounded batches, off the write path", migration5},
	{6, "tags, for reads by query and conditional appends", migration6}, // dcb.go
	{7, "numbering in place, and ranges of the log for readers", migration7},
	{8, "versions from 1", migration8},
}

// versionCheckMigration is the migration that adds the CHECK on events'
// versions, which migrateTo validates once it has committed.
const versionCheckMigration = 8

// migration8 refuses an event version below 1, which no append writes,
// as SQLite's table does: a hand's UPDATE that would make a stream read
// as shorter than it is fails. The constraint is added NOT VALID, which
// reads no row and holds the table's lock for a moment only, however big
// the table; migrateTo then validates it in a transaction of its own,
// which reads the table without keeping writers or readers out.
func migration8(n names) string {
	return `
ALTER TABLE ` + n.events + ` ADD CONSTRAINT ` + n.constraint("events_version_check") + ` CHECK (version >= 1) NOT VALID;
`
}

// validateVersionCheck validates migration 8's constraint on the rows
// written before it, once, after the migration committed. It does its
// best and fails nothing: a NOT VALID constraint refuses every new row
// below 1 all the same, and what it leaves unchecked, rows written by
// hand before the upgrade, is what reads of their streams report with
// store.ErrCorrupt and annals verify lists, for which the store must
// open. So rows below 1, or a statement timeout on a big table, leave it
// NOT VALID, and the store opens.
func validateVersionCheck(ctx context.Context, pool *pgxpool.Pool, n names) {
	_, _ = pool.Exec(ctx, `ALTER TABLE `+n.events+` VALIDATE CONSTRAINT `+n.constraint("events_version_check"))
}

// migration1 creates the event table, the sequencer and checkpoints. See
// the package documentation for why events are inserted without a
// position and stamped by sequence_log after they commit.
func migration1(n names) string {
	r := strings.NewReplacer(
		"{events}", n.events, "{log_head}", n.logHead, "{checkpoints}", n.checkpoints,
		"{sequence}", n.sequence, "{channel}", quoteLiteral(n.channel),
		"{lock}", fmt.Sprint(n.sequenceLock),
		"{events_pkey}", pgx.Identifier{n.prefix + "events_pkey"}.Sanitize(),
		"{events_event_id_key}", pgx.Identifier{n.prefix + "events_event_id_key"}.Sanitize(),
		"{events_position_key}", pgx.Identifier{n.prefix + "events_position_key"}.Sanitize(),
		"{log_head_pkey}", pgx.Identifier{n.prefix + "log_head_pkey"}.Sanitize(),
		"{log_head_one_check}", pgx.Identifier{n.prefix + "log_head_one_check"}.Sanitize(),
		"{checkpoints_pkey}", pgx.Identifier{n.prefix + "checkpoints_pkey"}.Sanitize(),
	)
	return r.Replace(`
CREATE TABLE {events} (
	position       bigint,
	stream_id      text        NOT NULL,
	version        bigint      NOT NULL,
	event_id       uuid        NOT NULL,
	type           text        NOT NULL,
	schema_version integer     NOT NULL,
	recorded_at    timestamptz NOT NULL DEFAULT now(),
	data           bytea       NOT NULL,
	encoding       text        NOT NULL,
	correlation_id text        NOT NULL,
	causation_id   text        NOT NULL,
	extra          jsonb,
	txid           xid8        NOT NULL DEFAULT pg_current_xact_id(),
	CONSTRAINT {events_pkey} PRIMARY KEY (stream_id, version),
	CONSTRAINT {events_event_id_key} UNIQUE (event_id),
	-- Also finds the rows still to be sequenced: NULLs are indexed.
	CONSTRAINT {events_position_key} UNIQUE (position)
);

CREATE TABLE {log_head} (
	one      boolean NOT NULL DEFAULT true,
	position bigint  NOT NULL,
	CONSTRAINT {log_head_pkey} PRIMARY KEY (one),
	CONSTRAINT {log_head_one_check} CHECK (one)
);
INSERT INTO {log_head} (one, position) VALUES (true, 0);

CREATE TABLE {checkpoints} (
	consumer   text        NOT NULL,
	position   bigint      NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT {checkpoints_pkey} PRIMARY KEY (consumer)
);

-- sequence_log gives the committed events that have no position yet the
-- next positions of the global log, and returns the log's head. The
-- package documentation says why this never skips an event; in short:
--
-- A stamper holds the sequencer lock until it commits, and looks for
-- rows to stamp only after it took the lock: in READ COMMITTED each
-- statement of a function gets a fresh snapshot, so it sees all that
-- earlier stampers stamped. Positions come from the counter in log_head,
-- never reused. Rows of one transaction get consecutive positions, in
-- version order, so the events of one append are contiguous in the log.
--
-- Writers call it with wait = false after their append committed, and
-- never wait: if another session holds the lock, they leave, and that
-- session's commit notifies. Every stamper notifies, even when it found
-- nothing, so that a waiting reader wakes and stamps whatever committed
-- while the lock was held. Readers call it with wait = true: they queue
-- for the lock, so that on return everything committed before the call
-- has a position.
CREATE FUNCTION {sequence}(wait boolean) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
	head bigint;
	tids tid[];
	stamped bigint;
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'annals: the global log is sequenced in READ COMMITTED only, not in %', current_setting('transaction_isolation')
			USING HINT = 'do not set default_transaction_isolation on the store''s connections';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM {events} WHERE position IS NULL) THEN
		RETURN (SELECT position FROM {log_head});
	END IF;
	IF wait THEN
		PERFORM pg_advisory_xact_lock({lock});
	ELSIF NOT pg_try_advisory_xact_lock({lock}) THEN
		RETURN 0;
	END IF;
	SELECT position INTO head FROM {log_head};
	SELECT array_agg(ctid ORDER BY txid, stream_id, version) INTO tids
	FROM {events} WHERE position IS NULL;
	IF tids IS NOT NULL THEN
		-- A TID join: cheap whatever the statistics say about NULLs.
		UPDATE {events} e SET position = head + u.n
		FROM unnest(tids) WITH ORDINALITY AS u(tid, n)
		WHERE e.ctid = u.tid;
		GET DIAGNOSTICS stamped = ROW_COUNT;
		IF stamped <> cardinality(tids) THEN
			RAISE EXCEPTION 'annals: sequencing found % events but stamped %', cardinality(tids), stamped;
		END IF;
		head := head + stamped;
		UPDATE {log_head} SET position = head;
	END IF;
	PERFORM pg_notify({channel}, head::text);
	RETURN head;
END
$fn$;
`)
}

// constraint returns the quoted name of a constraint or index of the
// store's, made from the prefix like its tables'.
func (n names) constraint(suffix string) string {
	return pgx.Identifier{n.prefix + suffix}.Sanitize()
}

// migration2 creates the snapshot table: the latest snapshot of each
// stream, one row per stream, replaced by an upsert that keeps the
// highest version.
func migration2(n names) string {
	return `
CREATE TABLE ` + n.snapshots + ` (
	stream_id      text        NOT NULL,
	version        bigint      NOT NULL,
	type           text        NOT NULL,
	schema_version integer     NOT NULL,
	taken_at       timestamptz NOT NULL,
	data           bytea       NOT NULL,
	encoding       text        NOT NULL,
	CONSTRAINT ` + n.constraint("snapshots_pkey") + ` PRIMARY KEY (stream_id)
);
`
}

// migration3 creates the table of data subjects' keys, each wrapped by a
// master key. Deleting a row is how a subject is forgotten; autovacuum is
// told to clean the table after any deletion (rather than after 50 rows
// and a fifth of the table), so that a deleted key does not linger as a
// dead row version in the table's pages longer than needed. The package
// documentation says what a deletion does and does not erase.
func migration3(n names) string {
	return `
CREATE TABLE ` + n.subjectKeys + ` (
	subject    text        NOT NULL,
	key_id     text        NOT NULL,
	wrapped    bytea       NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT ` + n.constraint("subject_keys_pkey") + ` PRIMARY KEY (subject)
) WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0);
`
}

// migration4 creates the table of view states: a payload under a view
// name and a key, written in the transaction that moves a consumer's
// checkpoint.
func migration4(n names) string {
	return `
CREATE TABLE ` + n.states + ` (
	view_name  text        NOT NULL,
	state_key  text        NOT NULL,
	data       bytea       NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT ` + n.constraint("states_pkey") + ` PRIMARY KEY (view_name, state_key)
);
`
}

// migration5 takes the sequencing step off the write path: appends no
// longer run it, readers do, in batches of bounded size
// (docs/global-log.md says why and proves it). It changes no event and no
// position.
//
//   - The unique index on position holds the numbered events only; the
//     events still to be numbered have an index of their own, on the
//     transaction that wrote them, which is the order they are numbered
//     in. An insert still writes three index entries.
//   - sequence_batch is the sequencing step, numbering at least max_events
//     events (whole transactions) a call when that many are pending, so
//     that no call holds the sequencer lock long, however much is pending.
//   - sequence_log keeps its signature and its behaviour (number all that
//     is pending, notify the head) for programs of earlier versions that
//     share the database during an upgrade.
func migration5(n names) string {
	r := strings.NewReplacer(
		"{events}", n.events, "{log_head}", n.logHead,
		"{sequence}", n.sequence, "{sequence_batch}", n.sequenceBatch,
		"{channel}", quoteLiteral(n.channel), "{lock}", fmt.Sprint(n.sequenceLock),
		"{events_position_key}", n.constraint("events_position_key"),
		"{events_pending}", n.constraint("events_pending"),
	)
	return r.Replace(`
ALTER TABLE {events} DROP CONSTRAINT {events_position_key};
CREATE UNIQUE INDEX {events_position_key} ON {events} (position) WHERE position IS NOT NULL;
CREATE INDEX {events_pending} ON {events} (txid) WHERE position IS NULL;

-- sequence_batch gives committed events that have no position yet the
-- next positions of the global log: those of the transactions with the
-- lowest ids, whole transactions, at least max_events events when that
-- many are pending (fewer only when fewer are). It returns the log's head
-- and whether more events were pending when it looked.
--
-- It holds the sequencer lock until it commits, and looks for events only
-- after it took the lock: in READ COMMITTED each statement of a function
-- gets a fresh snapshot, so it sees all that earlier calls numbered.
-- Positions come from the counter in log_head, never reused. A
-- transaction's events get consecutive positions, in version order, so
-- the events of one append are contiguous. Successive appends to one
-- stream are numbered in version order: the later one began after the
-- earlier one committed, so it has the higher transaction id, and is
-- never numbered first.
--
-- With wait = false it does not queue for the lock: if another session
-- holds it, it returns new_head = 0.
CREATE FUNCTION {sequence_batch}(wait boolean, max_events bigint, OUT new_head bigint, OUT more boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
	cutoff xid8;
	tids tid[];
	stamped bigint;
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'annals: the global log is sequenced in READ COMMITTED only, not in %', current_setting('transaction_isolation')
			USING HINT = 'do not set default_transaction_isolation on the store''s connections';
	END IF;
	more := false;
	IF NOT EXISTS (SELECT 1 FROM {events} WHERE position IS NULL) THEN
		new_head := (SELECT position FROM {log_head});
		RETURN;
	END IF;
	IF wait THEN
		PERFORM pg_advisory_xact_lock({lock});
	ELSIF NOT pg_try_advisory_xact_lock({lock}) THEN
		new_head := 0;
		more := true;
		RETURN;
	END IF;
	SELECT position INTO new_head FROM {log_head};
	SELECT txid INTO cutoff FROM {events} WHERE position IS NULL
	ORDER BY txid OFFSET greatest(max_events, 1) - 1 LIMIT 1;
	IF cutoff IS NULL THEN
		SELECT array_agg(ctid ORDER BY txid, stream_id, version) INTO tids
		FROM {events} WHERE position IS NULL;
	ELSE
		SELECT array_agg(ctid ORDER BY txid, stream_id, version) INTO tids
		FROM {events} WHERE position IS NULL AND txid <= cutoff;
		more := EXISTS (SELECT 1 FROM {events} WHERE position IS NULL AND txid > cutoff);
	END IF;
	IF tids IS NOT NULL THEN
		-- A TID join: cheap whatever the statistics say about NULLs.
		UPDATE {events} e SET position = new_head + u.n
		FROM unnest(tids) WITH ORDINALITY AS u(tid, n)
		WHERE e.ctid = u.tid;
		GET DIAGNOSTICS stamped = ROW_COUNT;
		IF stamped <> cardinality(tids) THEN
			RAISE EXCEPTION 'annals: sequencing found % events but stamped %', cardinality(tids), stamped;
		END IF;
		new_head := new_head + stamped;
		UPDATE {log_head} SET position = new_head;
	END IF;
END
$fn$;

-- sequence_log, for programs of earlier versions: numbers everything
-- pending, in batches, and notifies the head when it held the lock.
CREATE OR REPLACE FUNCTION {sequence}(wait boolean) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
	head bigint;
	pending boolean;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM {events} WHERE position IS NULL) THEN
		RETURN (SELECT position FROM {log_head});
	END IF;
	IF wait THEN
		PERFORM pg_advisory_xact_lock({lock});
	ELSIF NOT pg_try_advisory_xact_lock({lock}) THEN
		RETURN 0;
	END IF;
	LOOP
		SELECT b.new_head, b.more INTO head, pending FROM {sequence_batch}(true, 10000) b;
		EXIT WHEN NOT pending;
	END LOOP;
	PERFORM pg_notify({channel}, head::text);
	RETURN head;
END
$fn$;
`)
}

// rangeEvents is how many events a range of the log (see migration7)
// holds at most, but for one transaction's events, which a range holds
// whole: a reader that starts inside a range reads the events before its
// start in that range too.
const rangeEvents = 64

// rangesSQL returns the INSERT of the ranges of events numbered
// contiguously: from yields rows (txid, stream_id, version, n), n the
// position minus offset, and straggler tells, of a row of runs, whether
// its transaction is found by its id alone. The events of a transaction
// of more than rangeEvents events get a range per run of one stream's
// versions, found by stream and version, so that a reader never reads a
// long transaction whole to find a page of it; the other transactions
// are grouped into ranges of about rangeEvents events, found by
// transaction id.
//
// The sequencing step numbers a transaction's events to one stream
// together, so each of them is one run. With islands, a run is instead
// every maximal stretch of consecutive positions holding consecutive
// versions of one stream in one transaction, whatever wrote the events:
// an import writes many streams, interleaved, in one transaction.
func rangesSQL(n names, from, offset, straggler string, islands bool) string {
	runs := `FROM ` + from + `
				GROUP BY u.txid, u.stream_id`
	if islands {
		runs = `FROM (SELECT u.*, u.n - row_number() OVER (PARTITION BY u.txid, u.stream_id, u.version - u.n ORDER BY u.n) AS island
					FROM ` + from + `) u
				GROUP BY u.txid, u.stream_id, u.version - u.n, u.island`
	}
	return strings.NewReplacer("{log_ranges}", n.logRanges, "{offset}", offset, "{straggler}", straggler,
		"{range_events}", fmt.Sprint(rangeEvents), "{runs}", runs).Replace(`
	INSERT INTO {log_ranges} (first_position, last_position, lo, hi, extra, stream_id, first_version)
	SELECT {offset} + min(t.first_n), {offset} + max(t.last_n),
		min(t.txid) FILTER (WHERE NOT t.big AND NOT t.straggler),
		max(t.txid) FILTER (WHERE NOT t.big AND NOT t.straggler),
		array_agg(DISTINCT t.txid) FILTER (WHERE t.straggler AND NOT t.big),
		min(t.stream_id) FILTER (WHERE t.big),
		min(t.first_version) FILTER (WHERE t.big)
	FROM (
		SELECT *, sum(CASE WHEN big OR prev_big THEN 1 ELSE 0 END) OVER (ORDER BY first_n) AS bigs,
			(first_n - 1) / {range_events} AS window_no, {straggler} AS straggler
		FROM (
			SELECT *, coalesce(lag(big) OVER (ORDER BY first_n), false) AS prev_big
			FROM (
				-- Runs of one transaction's events to one stream, in order.
				SELECT u.txid, u.stream_id, min(u.n) AS first_n, max(u.n) AS last_n, min(u.version) AS first_version,
					sum(count(*)) OVER (PARTITION BY u.txid) > {range_events} AS big
				{runs}
			) runs
		) r
	) t
	GROUP BY t.bigs, CASE WHEN t.big THEN -1 ELSE t.window_no END`)
}

// rangesOf returns rangesSQL for events that already have positions, in
// any arrangement (the numbered log at migration 7, an import): runs
// found as islands, and a transaction found by its id alone when a
// transaction before it in the log, not a long one, has a higher id, so
// that the id ranges of the others stay narrow.
func rangesOf(n names, events string) string {
	return rangesSQL(n, events, "0", `coalesce(r.txid < max(r.txid) FILTER (WHERE NOT r.big)
				OVER (ORDER BY r.first_n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false)`, true)
}

// pendingSQL returns a boolean expression that is true when events with
// no position may be waiting: some transaction at or above horizon, or in
// inflight, has events. No event of those has a position (see
// migration7), so the expression needs no look at a row, and each of its
// parts is one an index answers whatever the planner's statistics say.
func pendingSQL(n names, horizon, inflight string) string {
	return `(coalesce((SELECT max(txid) FROM ` + n.events + `) >= ` + horizon + `, false)
		OR EXISTS (SELECT 1 FROM unnest(` + inflight + `) x WHERE EXISTS (SELECT 1 FROM ` + n.events + ` WHERE txid = x)))`
}

// migration7 halves what numbering the log writes (docs/global-log.md
// has the figures and the argument). Numbering stays an UPDATE of each
// event's position, but no index holds the position any more, so the
// update is a HOT update: a new version of the row on the same page and
// no new index entry, which the write-ahead log records in a few dozen
// bytes. Readers find the events of a stretch of positions through the
// new table log_ranges, one row per range of at most rangeEvents
// numbered events (but for one transaction's), which says which events
// hold the range's positions: those of the transactions whose ids lie
// between lo and hi or are in extra, or, for the events of a transaction
// of more than rangeEvents events, one stream's versions from
// first_version (such a transaction has a range per stream).
// The index on txid, which every event now has, finds them.
//
// What is still to be numbered is no longer indexed by position IS NULL
// (that index would block the HOT update): log_head keeps a horizon and
// a list of transaction ids, inflight, such that every committed event
// of a transaction below the horizon and not in the list has a position,
// and no event of a transaction at or above it, or in the list, has one.
// The events of the transactions at or above the horizon, or in the
// list, are found through the txid index. The list holds the
// transactions that were in progress when the horizon was taken, however
// long they run, so a long transaction elsewhere in the database neither
// stalls numbering nor makes it look at more events.
//
// The tagged events' index on (type, position) of migration 6 becomes
// one on type alone, for the same reason: the query items of types alone
// find their events through it, and filter them by position, as the
// items with tags do through the GIN index (see dcb.go).
//
// The table's fillfactor leaves half of each page free for the numbered
// version of its rows, which a HOT update needs on the same page.
func migration7(n names) string {
	r := strings.NewReplacer(
		"{events}", n.events, "{log_head}", n.logHead, "{log_ranges}", n.logRanges,
		"{sequence_batch}", n.sequenceBatch, "{lock}", fmt.Sprint(n.sequenceLock),
		"{sequence}", n.sequence, "{channel}", quoteLiteral(n.channel),
		"{events_position_key}", pgx.Identifier{n.schema, n.prefix + "events_position_key"}.Sanitize(),
		"{events_pending}", pgx.Identifier{n.schema, n.prefix + "events_pending"}.Sanitize(),
		"{events_tagged_type_old}", pgx.Identifier{n.schema, n.prefix + "events_tagged_type"}.Sanitize(),
		"{events_tagged_type}", n.constraint("events_tagged_type"),
		"{events_txid}", n.constraint("events_txid"),
		"{log_ranges_pkey}", n.constraint("log_ranges_pkey"),
		"{pending}", pendingSQL(n, "horizon_", "inflight_"),
		"{existing_ranges}", rangesOf(n, `(SELECT txid, stream_id, version, position FROM `+n.events+
			` WHERE position IS NOT NULL) AS u(txid, stream_id, version, n)`),
		"{new_ranges}", rangesSQL(n, `unnest(txids, streams, versions) WITH ORDINALITY AS u(txid, stream_id, version, n)`,
			"new_head", "txid = ANY (inflight_)", false),
	)
	return r.Replace(`
-- The table first, in the mode that waits for every session using it
-- and keeps every other out until the migration commits: appends in
-- progress finish, so that the step below sees them committed, and none
-- commits between that step and the horizon taken after it. Then every
-- event pending gets a position from the step of version 5, so that the
-- ranges below cover every committed event, and the horizon every event
-- numbered.
LOCK TABLE {events} IN ACCESS EXCLUSIVE MODE;
ALTER TABLE {events} SET (fillfactor = 50);
SELECT {sequence_batch}(true, 9223372036854775807);
CREATE INDEX {events_txid} ON {events} (txid);

-- The ranges of the log: positions first_position to last_position are
-- held by the events of the transactions whose ids are between lo and hi
-- or in extra, or, when stream_id is set, by that stream's versions from
-- first_version.
CREATE TABLE {log_ranges} (
	first_position bigint NOT NULL,
	last_position  bigint NOT NULL,
	lo             xid8,
	hi             xid8,
	extra          xid8[],
	stream_id      text,
	first_version  bigint,
	CONSTRAINT {log_ranges_pkey} PRIMARY KEY (first_position)
);
{existing_ranges};

-- No index reads the position any more, in its columns or its predicate.
DROP INDEX {events_position_key};
DROP INDEX {events_pending};
DROP INDEX {events_tagged_type_old};
CREATE INDEX {events_tagged_type} ON {events} (type) WHERE tags IS NOT NULL;

-- Two things are true of horizon and inflight after every step: every
-- committed event of a transaction below horizon and not in inflight has
-- a position, and no event of a transaction at or above horizon, or in
-- inflight, has one. Every event has a position now; the transactions in
-- progress now are in inflight, and those that start later are above
-- the horizon.
ALTER TABLE {log_head} ADD COLUMN horizon xid8, ADD COLUMN inflight xid8[] NOT NULL DEFAULT '{}';
UPDATE {log_head} SET
	horizon = pg_snapshot_xmax(pg_current_snapshot()),
	inflight = ARRAY(SELECT pg_snapshot_xip(pg_current_snapshot()));
ALTER TABLE {log_head} ALTER COLUMN horizon SET NOT NULL;

-- sequence_batch, as in migration 5: it numbers the lowest pending
-- transactions, whole, at least max_events events when that many are
-- pending, and returns the head and whether more were pending. It now
-- finds them by horizon and inflight, and writes their ranges. Its
-- statements run their generic plans: each is one an index answers
-- whatever its parameters, and planning them anew for every call, as
-- PostgreSQL otherwise does when its estimates differ, costs more than
-- running them.
CREATE OR REPLACE FUNCTION {sequence_batch}(wait boolean, max_events bigint, OUT new_head bigint, OUT more boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
	horizon_ xid8;
	inflight_ xid8[];
	snap pg_snapshot;
	tids tid[];
	txids xid8[];
	streams text[];
	versions bigint[];
	top xid8;
	stamped bigint;
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'annals: the global log is sequenced in READ COMMITTED only, not in %', current_setting('transaction_isolation')
			USING HINT = 'do not set default_transaction_isolation on the store''s connections';
	END IF;
	more := false;
	SELECT h.position, h.horizon, h.inflight INTO new_head, horizon_, inflight_ FROM {log_head} h;
	IF NOT {pending} THEN
		RETURN;
	END IF;
	IF wait THEN
		PERFORM pg_advisory_xact_lock({lock});
	ELSIF NOT pg_try_advisory_xact_lock({lock}) THEN
		new_head := 0;
		more := true;
		RETURN;
	END IF;
	-- Each statement from here has a snapshot of its own, taken after the
	-- lock was granted, so it sees what every earlier step numbered.
	SELECT h.position, h.horizon, h.inflight INTO new_head, horizon_, inflight_ FROM {log_head} h;
	-- One statement, so one snapshot, which snap is: the lowest pending
	-- transactions, whole, at least max_events events when that many are
	-- pending. Those of inflight are all below the horizon. Each query
	-- is one an index answers whatever the planner's statistics say:
	-- the txid index by equality, by a range with both ends, or in
	-- order with a LIMIT; max() from the end of the index. OFFSET 0
	-- keeps the look-ups of inflight's transactions from being
	-- flattened into a hash join over a scan of the table, which the
	-- planner prefers on a small table, and MATERIALIZED makes the
	-- cutoff's subqueries run once rather than once per use.
	WITH cutoff AS MATERIALIZED (
		SELECT (SELECT c.txid FROM (
			(SELECT e.txid FROM unnest(inflight_) x CROSS JOIN LATERAL (SELECT txid FROM {events} WHERE txid = x OFFSET 0) e)
			UNION ALL
			(SELECT txid FROM {events} WHERE txid >= horizon_ ORDER BY txid LIMIT greatest(max_events, 1))
		) c ORDER BY c.txid OFFSET greatest(max_events, 1) - 1 LIMIT 1) AS txid,
		(SELECT max(txid) FROM {events}) AS last
	)
	SELECT array_agg(p.ctid ORDER BY p.txid, p.stream_id, p.version) FILTER (WHERE p.ctid IS NOT NULL),
		array_agg(p.txid ORDER BY p.txid, p.stream_id, p.version) FILTER (WHERE p.ctid IS NOT NULL),
		array_agg(p.stream_id ORDER BY p.txid, p.stream_id, p.version) FILTER (WHERE p.ctid IS NOT NULL),
		array_agg(p.version ORDER BY p.txid, p.stream_id, p.version) FILTER (WHERE p.ctid IS NOT NULL),
		max(p.txid),
		c.txid IS NOT NULL AND (c.last >= horizon_ AND c.last > c.txid OR EXISTS (SELECT 1 FROM unnest(inflight_) x WHERE x > c.txid
			AND EXISTS (SELECT 1 FROM {events} WHERE txid = x))),
		pg_current_snapshot()
	INTO tids, txids, streams, versions, top, more, snap
	FROM cutoff c LEFT JOIN LATERAL (
		SELECT e.ctid, e.txid, e.stream_id, e.version
		FROM unnest(inflight_) x CROSS JOIN LATERAL (SELECT ctid, txid, stream_id, version FROM {events} WHERE txid = x OFFSET 0) e
		WHERE c.txid IS NULL OR e.txid <= c.txid
		UNION ALL
		SELECT ctid, txid, stream_id, version FROM {events}
		WHERE txid BETWEEN horizon_ AND coalesce(c.txid, c.last)
	) p ON true
	GROUP BY c.txid, c.last;
	IF tids IS NULL THEN
		-- Nothing pending that this snapshot sees: the step that held the
		-- lock before numbered the events that made the check above
		-- look, and moved the horizon past them. Writing nothing keeps
		-- the steps that queued behind it read-only, which matters when
		-- many readers wait for the lock at once.
		more := false;
		RETURN;
	END IF;
	-- A TID join: cheap whatever the statistics say. No index holds the
	-- position: a HOT update, in place.
	UPDATE {events} e SET position = new_head + u.n
	FROM unnest(tids) WITH ORDINALITY AS u(tid, n)
	WHERE e.ctid = u.tid;
	GET DIAGNOSTICS stamped = ROW_COUNT;
	IF stamped <> cardinality(tids) THEN
		RAISE EXCEPTION 'annals: sequencing found % events but stamped %', cardinality(tids), stamped;
	END IF;
	{new_ranges};
	new_head := new_head + stamped;
	-- The new horizon and list, true of what this step numbered (every
	-- event snap shows, or those of the transactions up to top, every one
	-- below snap's xmax): see the comment on log_head above.
	IF NOT more THEN
		horizon_ := pg_snapshot_xmax(snap);
		inflight_ := ARRAY(SELECT pg_snapshot_xip(snap));
	ELSIF top >= horizon_ THEN
		horizon_ := (top::text::numeric + 1)::text::xid8;
		inflight_ := ARRAY(SELECT x FROM pg_snapshot_xip(snap) x WHERE x < horizon_);
	ELSE
		-- Cut among the transactions of inflight: those numbered leave it;
		-- those above top, and those below it still in progress, stay.
		inflight_ := ARRAY(SELECT x FROM unnest(inflight_) x WHERE x <> ALL (txids));
	END IF;
	UPDATE {log_head} SET position = new_head, horizon = horizon_, inflight = inflight_;
END
$fn$;

-- sequence_log, for programs of version 4: as in migration 5, but it
-- looks for pending events as sequence_batch does.
CREATE OR REPLACE FUNCTION {sequence}(wait boolean) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
	head bigint;
	horizon_ xid8;
	inflight_ xid8[];
	pending boolean;
BEGIN
	SELECT h.position, h.horizon, h.inflight INTO head, horizon_, inflight_ FROM {log_head} h;
	IF NOT {pending} THEN
		RETURN head;
	END IF;
	IF wait THEN
		PERFORM pg_advisory_xact_lock({lock});
	ELSIF NOT pg_try_advisory_xact_lock({lock}) THEN
		RETURN 0;
	END IF;
	LOOP
		SELECT b.new_head, b.more INTO head, pending FROM {sequence_batch}(true, 10000) b;
		EXIT WHEN NOT pending;
	END LOOP;
	PERFORM pg_notify({channel}, head::text);
	RETURN head;
END
$fn$;
`)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// migrate brings the store's tables to the latest version. It is cheap
// when they are: one query, no lock, no DDL, so a store opens with the
// privileges to read and write its tables only. Otherwise it applies the
// missing migrations in one transaction under an advisory lock, so that
// processes starting together do not race.
func migrate(ctx context.Context, pool *pgxpool.Pool, n names) error {
	return migrateTo(ctx, pool, n, migrations[len(migrations)-1].version)
}

// migrateTo applies the migrations up to version target; the tests use it
// to make tables as an older program left them.
func migrateTo(ctx context.Context, pool *pgxpool.Pool, n names, target int) error {
	latest := target
	var current int
	err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+n.migrations).Scan(&current)
	switch {
	case err == nil && current == latest:
		return nil
	case err == nil && current > latest:
		return errNewerSchema(n, current, latest)
	case err != nil && !isUndefined(err):
		return fmt.Errorf("postgres store: read schema version: %w", err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// A migration cut by statement_timeout rolls back, and the next Open
	// faces the same work: the store would never open. Its wait for the
	// lock is lock_timeout's to bound.
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", n.migrationLock); err != nil {
		return fmt.Errorf("postgres store: migrate: take the migration lock: %w", err)
	}
	var schemaExists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", n.schema).Scan(&schemaExists); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	if !schemaExists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{n.schema}.Sanitize()); err != nil {
			return fmt.Errorf("postgres store: migrate: create schema %q: %w", n.schema, err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+n.migrations+` (
		version     integer     NOT NULL,
		description text        NOT NULL,
		applied_at  timestamptz NOT NULL DEFAULT now(),
		CONSTRAINT `+pgx.Identifier{n.prefix + "schema_migrations_pkey"}.Sanitize()+` PRIMARY KEY (version))`); err != nil {
		return fmt.Errorf("postgres store: migrate: create %s: %w", n.migrations, err)
	}
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+n.migrations).Scan(&current); err != nil {
		return fmt.Errorf("postgres store: read schema version: %w", err)
	}
	if current > latest {
		return errNewerSchema(n, current, latest)
	}
	if current == 0 {
		// No step recorded: a new store, unless its events table is
		// there, which a step made and recorded.
		var taken bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", n.events).Scan(&taken); err != nil {
			return fmt.Errorf("postgres store: migrate: %w", err)
		}
		if taken {
			return fmt.Errorf("postgres store: schema %q holds a table %s, but no record of the store's schema steps (table %s is missing or empty): it is another application's table, or a store's whose record was dropped by hand, and nothing was changed; give the store a schema or table prefix of its own (the URL's schema= and prefix=), or restore the store from a backup that passes `annals verify`: %w",
				n.schema, n.events, n.migrations, store.ErrCorrupt)
		}
	}
	for _, m := range migrations[current:latest] {
		if _, err := tx.Exec(ctx, m.sql(n)); err != nil {
			return fmt.Errorf("postgres store: migration %d (%s): %w", m.version, m.description, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+n.migrations+" (version, description) VALUES ($1, $2)", m.version, m.description); err != nil {
			return fmt.Errorf("postgres store: record migration %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres store: migrate: commit: %w", err)
	}
	if current < versionCheckMigration && latest >= versionCheckMigration {
		validateVersionCheck(ctx, pool, n)
	}
	return nil
}

func errNewerSchema(n names, current, latest int) error {
	return fmt.Errorf("postgres store: the tables in schema %q with prefix %q are at version %d, newer than this program knows (%d); upgrade the program: %w",
		n.schema, n.prefix, current, latest, store.ErrInvalid)
}

// isUndefined reports a missing table or schema.
func isUndefined(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000")
}
