package postgres

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Dynamic consistency boundaries: reads by query and conditional appends.
// docs/dcb.md says why it works this way and what it costs; in short:
//
//   - A tagged event keeps its tags in the tags column (text[]), indexed
//     by a GIN index for query items with tags, and by a btree on type
//     for items of types alone (on (type, position) at migration 6; no
//     index holds the position since migration 7, so that numbering is a
//     HOT update). Both indexes are partial, on the tagged events: an
//     event without tags costs nothing more than before. A query finds
//     its events through them and keeps those after its position.
//   - A conditional append takes transaction-scoped advisory locks, in
//     sorted order, before it checks its condition in a statement of its
//     own, whose snapshot then sees every append it waited for: exclusive
//     locks on a key per query item (a tag of the item, or its types), and
//     shared locks on the keys of the events it appends (each tag, its
//     type, and a key that every tagged append shares). Two appends
//     conflict only when one's query item can match the other's events;
//     appends that share no tag take no common exclusive lock and run in
//     parallel.
//   - The condition counts events committed but not yet numbered
//     (position IS NULL, a filter on the rows the query's index found,
//     not an index): they will be numbered after every position read so
//     far, so they are "after" any position a reader could pass.

var _ store.DCB = (*Store)(nil)

// migration6 adds the tags of events and their indexes. Adding a column
// with no default rewrites nothing; the indexes are built on the tagged
// events, of which there are none yet. Migration 7 makes the second one
// an index on type alone.
func migration6(n names) string {
	return `
ALTER TABLE ` + n.events + ` ADD COLUMN tags text[];
CREATE INDEX ` + n.constraint("events_tags") + ` ON ` + n.events + ` USING gin (tags) WITH (fastupdate = off) WHERE tags IS NOT NULL;
CREATE INDEX ` + n.constraint("events_tagged_type") + ` ON ` + n.events + ` (type, position) WHERE tags IS NOT NULL;
`
}

// tagged reports whether any event of a batch has tags: such a batch is
// appended by appendTagged, which takes the locks that order it with the
// conditional appends it could break.
func tagged(events []store.Event) bool {
	return slices.ContainsFunc(events, func(e store.Event) bool { return len(e.Tags) > 0 })
}

// maxLockKeys bounds the advisory locks of one append; an append that
// would need more locks the table instead (see locks).
const maxLockKeys = 64

// locks are the locks an append takes before it checks and inserts:
// advisory locks on keys, sorted, each shared or exclusive; and, for a
// condition that no key can stand for, the table in SHARE ROW EXCLUSIVE
// mode, taken after the keys.
type locks struct {
	keys      []int64
	exclusive []bool
	table     bool
}

// lockPlan returns the locks of an append of events with cond (nil for
// none). The events take their tags' keys, shared; each query item with
// tags takes the key of one of them, exclusive: every event it matches
// carries that tag, so the two meet. A query item of types alone, or a
// query of every tagged event, has no key that all its events share: the
// append locks the table, which orders it with every writer, since a
// writer holds the table (ROW EXCLUSIVE) from before the snapshot of its
// insert, whose statement checks its condition, until it commits.
func (n names) lockPlan(cond *store.AppendCondition, events []store.Event) locks {
	type lock struct {
		key       int64
		exclusive bool
	}
	var l locks
	keys := make([]lock, 0, 8)
	for _, e := range events {
		for _, t := range e.Tags {
			keys = append(keys, lock{n.dcbKey(t), false})
		}
	}
	if cond != nil {
		items := cond.FailIfEventsMatch.Items
		l.table = len(items) == 0
		for _, it := range items {
			if len(it.Tags) == 0 {
				l.table = true
				continue
			}
			keys = append(keys, lock{n.dcbKey(slices.Min(it.Tags)), true})
		}
	}
	// Each key once, exclusive if any asks for it so.
	slices.SortFunc(keys, func(a, b lock) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(btoi(b.exclusive), btoi(a.exclusive))
	})
	keys = slices.CompactFunc(keys, func(a, b lock) bool { return a.key == b.key })
	if len(keys) > maxLockKeys {
		return locks{table: true}
	}
	l.keys = make([]int64, len(keys))
	l.exclusive = make([]bool, len(keys))
	for i, k := range keys {
		l.keys[i], l.exclusive[i] = k.key, k.exclusive
	}
	return l
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// dcbKey is the advisory lock key of a tag in the store's schema and
// prefix: the 64-bit FNV-1a hash of them, computed without building the
// string. Two tags whose keys collide only make appends wait for each
// other needlessly.
func (n names) dcbKey(tag string) int64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, part := range [...]string{"dcb tag", n.schema, n.prefix, tag} {
		for i := 0; i < len(part); i++ {
			h = (h ^ uint64(part[i])) * prime
		}
		h *= prime // the NUL between the parts: h ^ 0 is h
	}
	return int64(h)
}

// The parameters of the conditional insert, before those of the query
// items.
const (
	dcbStream = iota + 1
	dcbExpected
	dcbIDs
	dcbTypes
	dcbSchemas
	dcbData
	dcbEncodings
	dcbCorrelations
	dcbCausations
	dcbExtras
	dcbTags
	dcbTagFrom
	dcbTagTo
	dcbAfter
	dcbFixedParams = dcbAfter
)

// dcbLockSQL takes the advisory locks of an append, in the order of the
// array, which is sorted. With $3, an interval such as '450ms', it first
// lowers lock_timeout to it for the transaction (never raises it), so
// that the server gives up waiting before the caller's deadline: an
// answer, which says that nothing was stored, rather than a cut
// connection, which cannot.
//
// It also makes the statements of the transaction use their generic
// plans: the insert's plan is the same whatever its parameters (each
// query item is answered by its index), and planning it anew for each
// append, as PostgreSQL would when its estimates differ, costs more than
// running it.
const dcbLockSQL = `WITH t AS MATERIALIZED (
	SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
		CASE WHEN $3::text IS NOT NULL AND (current_setting('lock_timeout')::interval = interval '0'
		OR $3::interval < current_setting('lock_timeout')::interval) THEN set_config('lock_timeout', $3, true) END
)
SELECT count(CASE WHEN k.exclusive THEN pg_advisory_xact_lock(k.key)::text ELSE pg_advisory_xact_lock_shared(k.key)::text END)
FROM t, unnest($1::bigint[], $2::bool[]) AS k(key, exclusive)`

// smallLocks is how many advisory locks an append takes at most with a
// lock statement written for their number and modes (lockSQL) rather
// than dcbLockSQL's arrays. Most appends take one to three: a tag of the
// condition, exclusive, and the tags of the event, shared.
const smallLocks = 4

// lockSQLs are the lock statements of appends of up to smallLocks keys,
// indexed by lockShape.
type lockSQLs [2][2<<smallLocks - 1]string

// newLockSQLs writes the lock statement of every shape.
func newLockSQLs() *lockSQLs {
	var l lockSQLs
	for timeout := range 2 {
		for n := 0; n <= smallLocks; n++ {
			for mask := 0; mask < 1<<n; mask++ {
				exclusive := make([]bool, n)
				for i := range exclusive {
					exclusive[i] = mask&(1<<i) != 0
				}
				l[timeout][1<<n-1+mask] = lockSQL(exclusive, timeout == 1)
			}
		}
	}
	return &l
}

// lockShape returns the index in lockSQLs of the statement that takes
// keys in the modes of exclusive, with a timeout or not.
func lockShape(exclusive []bool, timeout bool) (int, int) {
	mask := 0
	for i, x := range exclusive {
		mask |= btoi(x) << i
	}
	return btoi(timeout), 1<<len(exclusive) - 1 + mask
}

// lockSQL is dcbLockSQL for len(exclusive) keys in those modes, passed as
// one bigint parameter each, then the timeout when there is one: a
// statement of one row and no table, which costs the server a fraction
// of unnesting arrays and counting. The target list is evaluated in
// order: the timeout first, then the locks in the keys' sorted order.
func lockSQL(exclusive []bool, timeout bool) string {
	var b strings.Builder
	b.WriteString("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
	if timeout {
		t := "$" + strconv.Itoa(len(exclusive)+1) + "::text"
		b.WriteString(", CASE WHEN current_setting('lock_timeout')::interval = interval '0' OR " + t +
			"::interval < current_setting('lock_timeout')::interval THEN set_config('lock_timeout', " + t + ", true) END")
	}
	for i, x := range exclusive {
		fn := "pg_advisory_xact_lock_shared"
		if x {
			fn = "pg_advisory_xact_lock"
		}
		b.WriteString(", " + fn + "($" + strconv.Itoa(i+1) + "::bigint)::text")
	}
	return b.String()
}

// lockTimeout returns the lock timeout for an append under ctx: a little
// less than the time left before its deadline, or nil without one.
func lockTimeout(ctx context.Context) *string {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	left := time.Until(deadline)
	left -= max(left/10, 20*time.Millisecond)
	timeout := fmt.Sprintf("%dms", max(left.Milliseconds(), 1))
	return &timeout
}

// itemSQL returns the condition of a query item on a row of the events
// table, adding its parameters to args. An item with tags is answered by
// the tags' GIN index; its types are then a filter, written as an array
// containment so that the planner cannot take the type index for it
// instead, which holds every tagged event of those types: without
// statistics, as on a new table, it would, and read them all.
func itemSQL(it store.QueryItem, args *[]any) string {
	return itemCond(it, args, false)
}

// itemCond is itemSQL; with hidden, each parameter is read through a
// subquery, whose value the planner does not look at: see readQuerySQL.
func itemCond(it store.QueryItem, args *[]any, hidden bool) string {
	param := func(v []string) string {
		*args = append(*args, v)
		if hidden {
			return "(SELECT $" + strconv.Itoa(len(*args)) + "::text[])::text[]"
		}
		return "$" + strconv.Itoa(len(*args)) + "::text[]"
	}
	if len(it.Tags) == 0 {
		return "type = ANY(" + param(it.Types) + ")"
	}
	cond := "tags @> " + param(it.Tags)
	if len(it.Types) > 0 {
		cond += " AND ARRAY[type] <@ " + param(it.Types)
	}
	return cond
}

// movedSQL returns a query of the items of q that match an event after
// the position in parameter $after, or not numbered yet, each with the
// first such position (NULL when only unnumbered events match): the rows
// of the items whose condition fails. Item -1 stands for a query with no
// items.
func (n names) movedSQL(q store.Query, after int, args *[]any) string {
	pos := fmt.Sprintf("(position > $%d OR position IS NULL)", after)
	if len(q.Items) == 0 {
		return `(SELECT -1 AS item, position FROM ` + n.events + ` WHERE tags IS NOT NULL AND ` + pos + ` ORDER BY position NULLS LAST LIMIT 1)`
	}
	// Each item's events are found by its index alone, fenced off by
	// OFFSET 0 from the condition on positions: otherwise the planner may
	// look among the events after the position, or among those not
	// numbered yet, which are as many as appends since a reader last came.
	parts := make([]string, len(q.Items))
	for i, it := range q.Items {
		parts[i] = fmt.Sprintf(`(SELECT %d AS item, position FROM (SELECT position FROM %s WHERE tags IS NOT NULL AND %s OFFSET 0) m WHERE %s ORDER BY position NULLS LAST LIMIT 1)`,
			i, n.events, itemSQL(it, args), pos)
	}
	return strings.Join(parts, "\nUNION ALL ")
}

// insertSQL returns the statement that checks cond (when not nil) and
// the expected version, and inserts the events with their tags, in a
// transaction whose advisory locks dcbLockSQL took in a statement before,
// so that its snapshot sees every append it waited for. guarded: it
// inserts only if it gets the wait lock in shared mode, as Append does.
// It returns one row of text: whether it got the wait lock, how many
// events it inserted, the last version, and the first item whose
// condition failed with its first position.
func (n names) insertSQL(cond *store.AppendCondition, anyVersion, guarded bool, args *[]any) string {
	guard := "true"
	if guarded {
		guard = "pg_try_advisory_xact_lock_shared(" + strconv.FormatInt(n.waitLock, 10) + ")"
	}
	moved := fmt.Sprintf(`SELECT NULL::int AS item, NULL::bigint AS position WHERE $%d::bigint IS NULL`, dcbAfter)
	if cond != nil {
		moved = n.movedSQL(cond.FailIfEventsMatch, dcbAfter, args)
	}
	p := func(i int) string { return "$" + strconv.Itoa(i) }
	version, from, check := p(dcbExpected)+"::bigint", "", `($2::bigint = 0 OR EXISTS (SELECT 1 FROM `+n.events+` WHERE stream_id = $1 AND version = $2::bigint))`
	if anyVersion {
		version = "h.v"
		from = `(SELECT coalesce(max(version), 0) AS v FROM ` + n.events + ` WHERE stream_id = $1 AND $2::bigint = -1) h, `
		check = "true"
	}
	return `WITH guard AS MATERIALIZED (SELECT ` + guard + ` AS free),
moved AS MATERIALIZED (` + moved + `),
ins AS (
	INSERT INTO ` + n.events + ` (` + insertColumns + `, tags)
	SELECT $1, ` + version + ` + e.ord, e.id, e.type, e.schema_version, e.data, e.encoding, e.correlation_id, e.causation_id, e.extra::jsonb,
		CASE WHEN e.tag_to >= e.tag_from THEN (` + p(dcbTags) + `::text[])[e.tag_from:e.tag_to] END
	FROM guard, ` + from + `unnest($3::uuid[], $4::text[], $5::int[], $6::bytea[], $7::text[], $8::text[], $9::text[], $10::text[], $12::int[], $13::int[])
		WITH ORDINALITY AS e(id, type, schema_version, data, encoding, correlation_id, causation_id, extra, tag_from, tag_to, ord)
	WHERE guard.free AND NOT EXISTS (SELECT 1 FROM moved) AND ` + check + `
	RETURNING version
)
SELECT (SELECT free FROM guard)::text, (SELECT count(*) FROM ins)::text, (SELECT coalesce(max(version), 0) FROM ins)::text,
	(SELECT item FROM moved ORDER BY item LIMIT 1)::text, (SELECT position FROM moved ORDER BY item LIMIT 1)::text`
}

// dcbArgs returns the fixed parameters of insertSQL.
func dcbArgs(streamID string, expected int64, events []store.Event, after int64) ([]any, error) {
	// With AnyVersion, appendArgs gives arrays even for one event.
	args, err := appendArgs(streamID, store.AnyVersion, events)
	if err != nil {
		return nil, err
	}
	args[1] = expected
	var tags []string
	from := make([]int32, len(events))
	to := make([]int32, len(events))
	for i, e := range events {
		from[i] = int32(len(tags) + 1)
		tags = append(tags, e.Tags...)
		to[i] = int32(len(tags))
	}
	if tags == nil {
		tags = []string{}
	}
	return append(args, tags, from, to, after), nil
}

// AppendIf implements [store.DCB].
func (s *Store) AppendIf(ctx context.Context, streamID string, expected int64, events []store.Event, cond store.AppendCondition) (int64, error) {
	if err := s.refuseClosed(); err != nil {
		return 0, err
	}
	if err := check.AppendIf(streamID, expected, events, cond); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.horizon.ConditionAfter(ctx, streamID, cond.After, s.Head); err != nil {
		return 0, err
	}
	return s.appendTagged(ctx, streamID, expected, events, &cond)
}

// appendTagged appends events, with cond when it is not nil, in one
// transaction and one round trip: a pipeline of the lock statement and
// the insert, then Sync, which commits. When a consumer waits (the wait
// lock is taken), it appends again without the guard and notifies, as
// Append does.
func (s *Store) appendTagged(ctx context.Context, streamID string, expected int64, events []store.Event, cond *store.AppendCondition) (int64, error) {
	if len(events) == 0 {
		return s.checkOnly(ctx, streamID, expected, *cond)
	}
	var after int64
	if cond != nil {
		after = cond.After
	}
	plan := s.n.lockPlan(cond, events)
	anyVersion := expected == store.AnyVersion
	if len(events) == 1 && !anyVersion {
		return s.appendOneTagged(ctx, streamID, expected, events[0], cond, after, plan)
	}
	args, err := dcbArgs(streamID, expected, events, after)
	if err != nil {
		return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
	}
	for attempt := 1; ; attempt++ {
		guarded := true
		res, err := s.appendTaggedOnce(ctx, cond, anyVersion, guarded, plan, args)
		if err == nil && !res.free {
			guarded = false
			res, err = s.appendTaggedOnce(ctx, cond, anyVersion, guarded, plan, args)
		}
		if err != nil {
			if anyVersion && s.lostVersionRace(err) && attempt < maxAnyVersionAttempts && ctx.Err() == nil {
				continue
			}
			if _, ok := ctx.Deadline(); ok && isLockTimeout(err) {
				return 0, fmt.Errorf("append to stream %q: waited for appends that share its tags until the deadline: %w; nothing was stored (%w)",
					streamID, context.DeadlineExceeded, err)
			}
			return 0, s.appendError(ctx, streamID, expected, err)
		}
		switch {
		case res.moved:
			return 0, &store.ConditionError{StreamID: streamID, Condition: *cond, Item: res.item, Position: res.position}
		case res.inserted == int64(len(events)) && anyVersion:
			return res.last, nil
		case res.inserted == int64(len(events)):
			return expected + res.inserted, nil
		case res.inserted == 0 && !anyVersion:
			return 0, s.conflict(ctx, streamID, expected)
		}
		return 0, fmt.Errorf("append to stream %q: inserted %d of %d events", streamID, res.inserted, len(events))
	}
}

// taggedResult is what the insert of appendTaggedOnce reports.
type taggedResult struct {
	free           bool // it got the wait lock (or did not try)
	inserted, last int64
	moved          bool // the condition failed: item moved, first at position
	item           int
	position       int64
}

func (s *Store) appendTaggedOnce(ctx context.Context, cond *store.AppendCondition, anyVersion, guarded bool, plan locks, fixed []any) (taggedResult, error) {
	args := slices.Clone(fixed)
	insert := statement{sql: s.n.insertSQL(cond, anyVersion, guarded, &args), args: args}
	row, _, err := s.lockedInsert(ctx, plan, insert, !guarded)
	if err != nil {
		return taggedResult{}, err
	}
	res, err := parseTagged(row)
	if err != nil {
		return taggedResult{}, outcomeUnknown(ctx, err)
	}
	return res, nil
}

// lockedInsert runs, in one transaction and one round trip, the lock
// statement and then insert, whose snapshot is taken after the locks were
// granted; with notify, a notification in a transaction of its own after
// the commit. It returns the insert's last row and how many rows it
// changed, or an error as writeError says.
func (s *Store) lockedInsert(ctx context.Context, plan locks, insert statement, notify bool) ([][]byte, int64, error) {
	return s.lockedInsertEncoded(ctx, plan, func(conn *pgx.Conn) (encoded, error) {
		sd, params, formats, err := prepare(ctx, conn, insert)
		return encoded{sd, params, formats}, err
	}, notify)
}

// encoded is a prepared statement with its parameters encoded.
type encoded struct {
	sd      *pgconn.StatementDescription
	params  [][]byte
	formats []int16
}

// lockedInsertEncoded is lockedInsert with an insert that encode prepares
// and encodes on the connection.
func (s *Store) lockedInsertEncoded(ctx context.Context, plan locks, encode func(*pgx.Conn) (encoded, error), notify bool) ([][]byte, int64, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, 0, writeError(ctx, err, false)
	}
	defer c.Release()
	conn := c.Conn()
	stmts := make([]encoded, 2, 3)
	if stmts[0], err = s.encodeLock(ctx, conn, plan.keys, plan.exclusive, lockTimeout(ctx)); err != nil {
		return nil, 0, writeError(ctx, err, false)
	}
	if stmts[1], err = encode(conn); err != nil {
		return nil, 0, writeError(ctx, err, false)
	}
	if plan.table {
		// In a DO block, because LOCK refuses an implicit transaction at
		// the top level; the lock lasts until the commit all the same.
		lockTable := `DO ` + quoteLiteral(`BEGIN LOCK TABLE `+s.n.events+` IN SHARE ROW EXCLUSIVE MODE; END`)
		sd, err := conn.Prepare(ctx, lockTable, lockTable)
		if err != nil {
			return nil, 0, writeError(ctx, err, false)
		}
		// After the advisory locks, before the insert.
		stmts = append(stmts[:1], encoded{sd: sd}, stmts[1])
	}
	if !notify {
		return runBatch(ctx, conn.PgConn(), stmts)
	}
	notifySD, err := conn.Prepare(ctx, s.sql.notify, s.sql.notify)
	if err != nil {
		return nil, 0, writeError(ctx, err, false)
	}
	// One implicit transaction up to the Sync, which commits it.
	pl := conn.PgConn().StartPipeline(ctx)
	defer pl.Close()
	for _, st := range stmts {
		pl.SendQueryStatement(st.sd, st.params, st.formats, nil)
	}
	pl.SendPipelineSync()
	pl.SendQueryStatement(notifySD, nil, nil, nil)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		return nil, 0, writeError(ctx, err, true)
	}
	var row [][]byte
	var affected int64
	for range stmts {
		got, err := pl.GetResults()
		if err != nil {
			return nil, 0, writeError(ctx, err, true)
		}
		rr, ok := got.(*pgconn.ResultReader)
		if !ok {
			return nil, 0, outcomeUnknown(ctx, fmt.Errorf("pipeline: got %T, want a statement result", got))
		}
		row = nil
		for rr.NextRow() {
			row = slices.Clone(rr.Values())
			for j := range row {
				row[j] = slices.Clone(row[j])
			}
		}
		tag, err := rr.Close()
		if err != nil {
			return nil, 0, writeError(ctx, err, true)
		}
		affected = tag.RowsAffected()
	}
	// ReadyForQuery after the Sync confirms the commit.
	if err := readSync(pl); err != nil {
		return nil, 0, writeError(ctx, err, true)
	}
	// An error of the notification is not the append's: see appendOnce.
	return row, affected, nil
}

// runBatch runs stmts in one implicit transaction and one round trip,
// which the Sync at its end commits: lockedInsertEncoded without a
// notification, in fewer messages and allocations than a pipeline. It
// returns the last statement's last row and how many rows it changed.
func runBatch(ctx context.Context, conn *pgconn.PgConn, stmts []encoded) ([][]byte, int64, error) {
	var batch pgconn.Batch
	for _, st := range stmts {
		batch.ExecStatement(st.sd, st.params, st.formats, nil)
	}
	mrr := conn.ExecBatch(ctx, &batch)
	var row [][]byte
	var affected int64
	results := 0
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			if results == len(stmts)-1 { // only the last statement's row is wanted
				row = slices.Clone(rr.Values())
				for j := range row {
					row[j] = slices.Clone(row[j])
				}
			}
		}
		tag, err := rr.Close()
		if err != nil {
			mrr.Close()
			return nil, 0, writeError(ctx, err, true)
		}
		affected = tag.RowsAffected()
		results++
	}
	// ReadyForQuery after the Sync confirms the commit.
	if err := mrr.Close(); err != nil {
		return nil, 0, writeError(ctx, err, true)
	}
	if results != len(stmts) {
		return nil, 0, outcomeUnknown(ctx, fmt.Errorf("batch of %d statements returned %d results", len(stmts), results))
	}
	return row, affected, nil
}

func parseTagged(row [][]byte) (taggedResult, error) {
	if len(row) != 5 {
		return taggedResult{}, fmt.Errorf("conditional insert returned %d columns, want 5", len(row))
	}
	var res taggedResult
	var err error
	res.free = string(row[0]) == "true"
	if res.inserted, err = strconv.ParseInt(string(row[1]), 10, 64); err != nil {
		return res, err
	}
	if res.last, err = strconv.ParseInt(string(row[2]), 10, 64); err != nil {
		return res, err
	}
	if row[3] != nil {
		res.moved = true
		item, err := strconv.Atoi(string(row[3]))
		if err != nil {
			return res, err
		}
		res.item = item
		if row[4] != nil {
			if res.position, err = strconv.ParseInt(string(row[4]), 10, 64); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// checkOnly is AppendIf with no events: it checks the condition and the
// version and writes nothing, so it takes no lock.
func (s *Store) checkOnly(ctx context.Context, streamID string, expected int64, cond store.AppendCondition) (int64, error) {
	if err := s.checkCondition(ctx, streamID, cond); err != nil {
		return 0, err
	}
	return s.checkVersion(ctx, streamID, expected)
}

// checkCondition returns a [*store.ConditionError] when an event matching
// cond's query is after its position or not numbered yet, in a statement
// of its own. Once true, that stays true: events are never removed, and
// one not numbered yet is numbered after every position read so far.
func (s *Store) checkCondition(ctx context.Context, streamID string, cond store.AppendCondition) error {
	args := []any{cond.After}
	query := `SELECT item, position FROM (` + s.n.movedSQL(cond.FailIfEventsMatch, 1, &args) + `) m ORDER BY item LIMIT 1`
	var item *int32
	var pos *int64
	err := s.retry(ctx, func() error {
		err := s.pool.QueryRow(ctx, query, args...).Scan(&item, &pos)
		if errors.Is(err, pgx.ErrNoRows) {
			item, err = nil, nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("append to stream %q: check the condition: %w", streamID, notStored(ctx, err))
	}
	if item == nil {
		return nil
	}
	ce := &store.ConditionError{StreamID: streamID, Condition: cond, Item: int(*item)}
	if pos != nil {
		ce.Position = *pos
	}
	return ce
}

// shape names the form of a condition's SQL: the parameters each item
// takes, in order. Conditions of one shape share their SQL.
func shape(cond *store.AppendCondition, guarded bool) string {
	var b strings.Builder
	b.WriteByte("ug"[btoi(guarded)])
	switch {
	case cond == nil:
		b.WriteByte('-')
	case len(cond.FailIfEventsMatch.Items) == 0:
		b.WriteByte('*')
	}
	if cond != nil {
		for _, it := range cond.FailIfEventsMatch.Items {
			b.WriteByte("0ybt"[btoi(len(it.Types) > 0)+2*btoi(len(it.Tags) > 0)])
		}
	}
	return b.String()
}

// itemArgs appends the parameters of a query item, in the order in which
// itemSQL numbers them.
func itemArgs(it store.QueryItem, args []any) []any {
	if len(it.Tags) == 0 {
		return append(args, it.Types)
	}
	args = append(args, it.Tags)
	if len(it.Types) > 0 {
		args = append(args, it.Types)
	}
	return args
}

// insertOneSQL returns the statement that inserts one tagged event if
// cond (when not nil) and the expected version hold: appendOne's, with
// the tags and the condition. It inserts nothing when a check fails, and
// says no more; the caller then finds out which.
func (n names) insertOneSQL(cond *store.AppendCondition, guarded bool, args *[]any) string {
	var where strings.Builder
	if guarded {
		where.WriteString("pg_try_advisory_xact_lock_shared(" + strconv.FormatInt(n.waitLock, 10) + ") AND ")
	}
	where.WriteString(`($2::bigint = 0 OR EXISTS (SELECT 1 FROM ` + n.events + ` WHERE stream_id = $1 AND version = $2::bigint))`)
	pos := "(position > $12 OR position IS NULL)"
	switch {
	case cond == nil:
		where.WriteString(" AND $12::bigint IS NOT NULL")
	case len(cond.FailIfEventsMatch.Items) == 0:
		where.WriteString(` AND NOT EXISTS (SELECT 1 FROM ` + n.events + ` WHERE tags IS NOT NULL AND ` + pos + `)`)
	default:
		for _, it := range cond.FailIfEventsMatch.Items {
			where.WriteString(` AND NOT EXISTS (SELECT 1 FROM (SELECT position FROM ` + n.events + ` WHERE tags IS NOT NULL AND ` +
				itemSQL(it, args) + ` OFFSET 0) m WHERE ` + pos + `)`)
		}
	}
	return `INSERT INTO ` + n.events + ` (` + insertColumns + `, tags)
SELECT $1, $2::bigint + 1, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::text[]
WHERE ` + where.String()
}

// appendOneTagged appends one tagged event at an expected version, the
// common case of a decision, with a statement of scalar parameters. When
// it inserts nothing, it finds out why: the condition, the version, or a
// consumer waiting (then it appends again without the guard, and
// notifies, as Append does).
func (s *Store) appendOneTagged(ctx context.Context, streamID string, expected int64, e store.Event, cond *store.AppendCondition, after int64, plan locks) (int64, error) {
	one, err := newOneEvent(streamID, expected, e)
	if err != nil {
		return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
	}
	// The first ten parameters are appendOne's, which encodeOne encodes
	// without going through pgx's type map; then the tags, the position
	// and the query items' tags and types.
	var items []store.QueryItem
	if cond != nil {
		items = cond.FailIfEventsMatch.Items
	}
	rest := make([]any, 2, 2+2*len(items))
	rest[0], rest[1] = e.Tags, after
	if cond != nil {
		for _, it := range items {
			rest = itemArgs(it, rest)
		}
	}
	guarded := true
	for range 3 {
		key := "1" + shape(cond, guarded)
		sql, ok := s.dcbSQL.Load(key)
		if !ok {
			args := make([]any, len(oneEventOIDs)+2) // the items' parameters follow
			sql, _ = s.dcbSQL.LoadOrStore(key, s.n.insertOneSQL(cond, guarded, &args))
		}
		encode := func(conn *pgx.Conn) (encoded, error) {
			sd, err := conn.Prepare(ctx, sql.(string), sql.(string))
			if err != nil {
				return encoded{}, err
			}
			if len(sd.ParamOIDs) != len(oneEventOIDs)+len(rest) {
				return encoded{}, fmt.Errorf("statement takes %d parameters, want %d", len(sd.ParamOIDs), len(oneEventOIDs)+len(rest))
			}
			head, tail := *sd, *sd
			head.ParamOIDs, tail.ParamOIDs = sd.ParamOIDs[:len(oneEventOIDs)], sd.ParamOIDs[len(oneEventOIDs):]
			params, formats, ok := encodeOne(&head, &one)
			if !ok {
				return encoded{}, fmt.Errorf("statement %q does not take the parameters of one event first", sql)
			}
			more, moreFormats, ok := encodeRest(&tail, e.Tags, after, rest[2:])
			if !ok {
				var err error
				if more, moreFormats, err = encodeParams(conn, &tail, rest); err != nil {
					return encoded{}, err
				}
			}
			return encoded{sd, append(params, more...), append(slices.Clip(formats), moreFormats...)}, nil
		}
		_, inserted, err := s.lockedInsertEncoded(ctx, plan, encode, !guarded)
		if err != nil {
			if _, ok := ctx.Deadline(); ok && isLockTimeout(err) {
				return 0, fmt.Errorf("append to stream %q: waited for appends that share its tags until the deadline: %w; nothing was stored (%w)",
					streamID, context.DeadlineExceeded, err)
			}
			return 0, s.appendError(ctx, streamID, expected, err)
		}
		if inserted == 1 {
			return expected + 1, nil
		}
		if cond != nil {
			if err := s.checkCondition(ctx, streamID, *cond); err != nil {
				return 0, err
			}
		}
		actual, err := s.streamVersion(ctx, streamID)
		if err != nil {
			return 0, fmt.Errorf("append to stream %q: nothing inserted, then reading the version: %w", streamID, notStored(ctx, err))
		}
		if actual != expected {
			return 0, &store.ConflictError{StreamID: streamID, Expected: expected, Actual: actual}
		}
		guarded = false // a consumer waits, holding the wait lock
	}
	return 0, fmt.Errorf("append to stream %q: nothing inserted, though the condition and the version held", streamID)
}

// queryPage is how many records ReadQuery reads per query.
const queryPage = 512

// readQuerySQL returns the query of a page of the events matching q after
// position $1, at most $2, with whether matching events wait for a
// position.
//
// The query items' tags and types are read through subqueries, so that
// the planner estimates the same rows whatever their values: otherwise,
// on a table of tens of thousands of tagged events, the plan for
// given tags (a few rows) looks far cheaper than the plan for any tags
// (a share of the table), and PostgreSQL plans each read anew, which
// costs several times as much as running it. The plan is the same
// either way: each item is answered by the tags' index.
func (n names) readQuerySQL(q store.Query, args *[]any) string {
	var match string
	if len(q.Items) > 0 {
		conds := make([]string, len(q.Items))
		for i, it := range q.Items {
			conds[i] = "(" + itemCond(it, args, true) + ")"
		}
		match = " AND (" + strings.Join(conds, " OR ") + ")"
	}
	cols := strings.Split(recordColumns, ", ")
	for i, c := range cols {
		cols[i] = "e." + c
	}
	// The matching events are found by the tags' indexes alone, fenced
	// off by OFFSET 0 from the condition on positions, so that the cost
	// is that of the events that match, wherever they are in the log.
	// A query of every tagged event reads the log after the position.
	//
	// Whether the read must wait for numbering is a question about the
	// matching events alone: a matching event the snapshot sees without
	// a position is pending, and the step numbers it after every position
	// read so far. Events that do not match may wait for a position
	// without holding up the read: so reads whose queries share nothing
	// with the appends in flight never run the step, which is one at a
	// time across the store.
	if match == "" {
		// A query of every tagged event reads the log after the
		// position, and asks whether anything waits for a position.
		matching := `SELECT ` + recordColumns + ` FROM ` + n.events + ` WHERE tags IS NOT NULL AND position > $1`
		return `SELECT p.pending, ` + strings.Join(cols, ", ") + `
FROM (SELECT ` + pendingSQL(n, "(SELECT horizon FROM "+n.logHead+")", "(SELECT inflight FROM "+n.logHead+")") + ` AS pending) p
LEFT JOIN LATERAL (
	SELECT * FROM (` + matching + `) m
	ORDER BY position
	LIMIT $2
) e ON true`
	}
	matching := `SELECT ` + recordColumns + ` FROM ` + n.events + ` WHERE tags IS NOT NULL` + match
	return `WITH m AS MATERIALIZED (` + matching + `)
SELECT p.pending, ` + strings.Join(cols, ", ") + `
FROM (SELECT EXISTS (SELECT 1 FROM m WHERE position IS NULL) AS pending) p
LEFT JOIN LATERAL (
	SELECT * FROM m
	WHERE position > $1
	ORDER BY position
	LIMIT $2
) e ON true`
}

// ReadQuery implements [store.DCB]. Like ReadLog, it learns with each
// page whether committed events that match wait for a position; when
// they do and the page ends short, it runs the sequencing step and reads
// on, so that every matching event committed before the call is yielded.
func (s *Store) ReadQuery(ctx context.Context, q store.Query, after int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		if err := check.ReadQuery(q, after); err != nil {
			yield(store.Record{}, err)
			return
		}
		args := make([]any, 2, 2+2*len(q.Items))
		args[0], args[1] = int64(0), queryPage
		for _, it := range q.Items {
			args = itemArgs(it, args)
		}
		// The SQL depends on the shape of the query alone.
		key := "r" + shape(&store.AppendCondition{FailIfEventsMatch: q}, false)
		query, ok := s.dcbSQL.Load(key)
		if !ok {
			params := make([]any, 2) // the position and the limit come first
			query, _ = s.dcbSQL.LoadOrStore(key, s.n.readQuerySQL(q, &params))
		}
		for {
			if err := ctx.Err(); err != nil {
				yield(store.Record{}, err)
				return
			}
			var page []store.Record
			err := s.retry(ctx, func() error {
				page = page[:0]
				next := after
				for {
					args[0], args[1] = next, queryPage-len(page)
					pending, err := s.readQueryPage(ctx, query.(string), args, &page)
					if err != nil || !pending || len(page) == queryPage {
						return err
					}
					if _, pending, err = s.sequenceLog(ctx, s.batch); err != nil {
						return err
					}
					if len(page) > 0 {
						next = page[len(page)-1].Position
					}
					if !pending {
						// Numbered: one more read finds the rest.
						args[0], args[1] = next, queryPage-len(page)
						_, err := s.readQueryPage(ctx, query.(string), args, &page)
						return err
					}
				}
			})
			if err != nil {
				yield(store.Record{}, fmt.Errorf("read query %v after %d: %w", q, after, err))
				return
			}
			if len(page) > 0 {
				s.horizon.Saw(page[len(page)-1].Position)
			}
			for _, r := range page {
				if err := ctx.Err(); err != nil {
					yield(store.Record{}, err)
					return
				}
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < queryPage {
				return
			}
			after = page[len(page)-1].Position
		}
	}
}

func (s *Store) readQueryPage(ctx context.Context, query string, args []any, out *[]store.Record) (pending bool, err error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	sc := newRecordScanner(&pending)
	for rows.Next() {
		r, ok, err := sc.scan(rows)
		if err != nil {
			return false, err
		}
		if ok {
			*out = append(*out, r)
		}
	}
	return pending, rows.Err()
}

// The parameters of the lock statement and of the insert of one event,
// beyond appendOne's, are encoded here rather than through pgx's type
// map: a conditional append is a few dozen microseconds of work on the
// server, and as many allocations on the client weigh on it.

// encodeLock prepares the lock statement on conn and encodes its
// parameters: the keys (int8[]), their modes (bool[]) and the timeout
// (text, or NULL).
func (s *Store) encodeLock(ctx context.Context, conn *pgx.Conn, keys []int64, exclusive []bool, timeout *string) (encoded, error) {
	if len(keys) <= smallLocks {
		return s.encodeSmallLock(ctx, conn, keys, exclusive, timeout)
	}
	sd, err := conn.Prepare(ctx, dcbLockSQL, dcbLockSQL)
	if err != nil {
		return encoded{}, err
	}
	if !slices.Equal(sd.ParamOIDs, []uint32{pgtype.Int8ArrayOID, pgtype.BoolArrayOID, pgtype.TextOID}) {
		params, formats, err := encodeParams(conn, sd, []any{keys, exclusive, timeout})
		return encoded{sd, params, formats}, err
	}
	buf := make([]byte, 0, 2*20+len(keys)*(4+8+4+1)+16)
	params := make([][]byte, 3)
	start := len(buf)
	buf = appendArray(buf, pgtype.Int8OID, len(keys), func(b []byte, i int) []byte { return binary.BigEndian.AppendUint64(b, uint64(keys[i])) })
	params[0] = buf[start:len(buf):len(buf)]
	start = len(buf)
	buf = appendArray(buf, pgtype.BoolOID, len(exclusive), func(b []byte, i int) []byte { return append(b, byte(btoi(exclusive[i]))) })
	params[1] = buf[start:len(buf):len(buf)]
	if timeout != nil {
		start = len(buf)
		buf = append(buf, *timeout...)
		params[2] = buf[start:len(buf):len(buf)]
	}
	return encoded{sd, params, binaryParams[:3]}, nil
}

// encodeSmallLock prepares the lock statement of the shape of keys (see
// lockSQL) and encodes its parameters: each key (int8), then the timeout
// (text) if there is one.
func (s *Store) encodeSmallLock(ctx context.Context, conn *pgx.Conn, keys []int64, exclusive []bool, timeout *string) (encoded, error) {
	t, i := lockShape(exclusive, timeout != nil)
	sql := s.lockSQL[t][i]
	sd, err := conn.Prepare(ctx, sql, sql)
	if err != nil {
		return encoded{}, err
	}
	n := len(keys) + t
	if len(sd.ParamOIDs) != n || n > len(binaryParams) {
		return encoded{}, fmt.Errorf("lock statement takes %d parameters, want %d", len(sd.ParamOIDs), n)
	}
	buf := make([]byte, 0, 8*len(keys)+16)
	params := make([][]byte, n)
	for i, k := range keys {
		if sd.ParamOIDs[i] != pgtype.Int8OID {
			return encoded{}, fmt.Errorf("lock statement takes type %d for key %d, want bigint", sd.ParamOIDs[i], i+1)
		}
		buf = binary.BigEndian.AppendUint64(buf, uint64(k))
		params[i] = buf[len(buf)-8 : len(buf) : len(buf)]
	}
	if timeout != nil {
		start := len(buf)
		buf = append(buf, *timeout...)
		params[n-1] = buf[start:len(buf):len(buf)]
	}
	return encoded{sd, params, binaryParams[:n]}, nil
}

// binaryParams are the formats of parameters all sent in binary; never
// written to.
var binaryParams = []int16{pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode,
	pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode}

// encodeRest encodes the parameters of insertOneSQL after appendOne's:
// the tags (text[]), the position (int8), and the query items' tags and
// types (text[] each). It reports false when the statement takes other
// types.
func encodeRest(sd *pgconn.StatementDescription, tags []string, after int64, items []any) ([][]byte, []int16, bool) {
	if len(sd.ParamOIDs) != 2+len(items) || sd.ParamOIDs[0] != pgtype.TextArrayOID || sd.ParamOIDs[1] != pgtype.Int8OID {
		return nil, nil, false
	}
	params := make([][]byte, len(sd.ParamOIDs))
	formats := make([]int16, len(sd.ParamOIDs))
	var buf []byte
	text := func(values []string) []byte {
		start := len(buf)
		buf = appendArray(buf, pgtype.TextOID, len(values), func(b []byte, i int) []byte { return append(b, values[i]...) })
		return buf[start:len(buf):len(buf)]
	}
	params[0] = text(tags)
	start := len(buf)
	buf = binary.BigEndian.AppendUint64(buf, uint64(after))
	params[1] = buf[start:len(buf):len(buf)]
	for i, v := range items {
		values, ok := v.([]string)
		if !ok || sd.ParamOIDs[2+i] != pgtype.TextArrayOID {
			return nil, nil, false
		}
		params[2+i] = text(values)
	}
	for i := range formats {
		formats[i] = pgx.BinaryFormatCode
	}
	return params, formats, true
}

// appendArray appends a one-dimensional array of n elements of type oid,
// without NULLs, in PostgreSQL's binary format; elem appends element i.
func appendArray(b []byte, oid uint32, n int, elem func(b []byte, i int) []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
	b = binary.BigEndian.AppendUint32(b, oid)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	for i := range n {
		at := len(b)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = elem(b, i)
		binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	return b
}
