package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Dynamic consistency boundaries: reads by query and conditional appends.
// docs/dcb.md says why it works this way and what it costs; in short:
//
//   - A tagged event keeps its tags in the tags column (text[]), indexed
//     by a GIN index for query items with tags, and by a btree on (type,
//     position) for items of types alone. Both indexes are partial, on the
//     tagged events: an event without tags costs nothing more than before.
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
//     (position IS NULL): they will be numbered after every position read
//     so far, so they are "after" any position a reader could pass.

var _ store.DCB = (*Store)(nil)

// migration6 adds the tags of events and their indexes. Adding a column
// with no default rewrites nothing; the indexes are built on the tagged
// events, of which there are none yet.
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
// would need more takes the key that every tagged append shares, in
// exclusive mode, which orders it with all of them.
const maxLockKeys = 64

// lockKeys returns the advisory lock keys of an append, sorted, and for
// each whether it is taken in exclusive mode: exclusive for the query
// items of the condition (none when cond is nil), shared for the events.
func (n names) lockKeys(cond *store.AppendCondition, events []store.Event) ([]int64, []bool) {
	modes := map[int64]bool{}
	take := func(k int64, exclusive bool) { modes[k] = modes[k] || exclusive }
	for _, e := range events {
		if len(e.Tags) == 0 {
			continue
		}
		take(n.dcbKey("all", ""), false)
		take(n.dcbKey("type", e.Type), false)
		for _, t := range e.Tags {
			take(n.dcbKey("tag", t), false)
		}
	}
	if cond != nil {
		items := cond.FailIfEventsMatch.Items
		if len(items) == 0 {
			take(n.dcbKey("all", ""), true)
		}
		for _, it := range items {
			if len(it.Tags) > 0 {
				// Every event the item matches has all its tags: locking
				// one of them meets every such event's shared lock.
				take(n.dcbKey("tag", slices.Min(it.Tags)), true)
				continue
			}
			for _, typ := range it.Types {
				take(n.dcbKey("type", typ), true)
			}
		}
	}
	if len(modes) > maxLockKeys {
		modes = map[int64]bool{n.dcbKey("all", ""): true}
	}
	keys := slices.Sorted(maps.Keys(modes))
	exclusive := make([]bool, len(keys))
	for i, k := range keys {
		exclusive[i] = modes[k]
	}
	return keys, exclusive
}

// dcbKey is the advisory lock key of a tag, a type or all tagged events
// (kind "tag", "type", "all") in the store's schema and prefix. Two keys
// that collide only make two appends wait for each other needlessly.
func (n names) dcbKey(kind, value string) int64 {
	return int64(hash64("dcb\x00" + n.schema + "\x00" + n.prefix + "\x00" + kind + "\x00" + value))
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
const dcbLockSQL = `WITH t AS MATERIALIZED (
	SELECT CASE WHEN $3::text IS NOT NULL AND (current_setting('lock_timeout')::interval = interval '0'
		OR $3::interval < current_setting('lock_timeout')::interval) THEN set_config('lock_timeout', $3, true) END
)
SELECT count(CASE WHEN k.exclusive THEN pg_advisory_xact_lock(k.key)::text ELSE pg_advisory_xact_lock_shared(k.key)::text END)
FROM t, unnest($1::bigint[], $2::bool[]) AS k(key, exclusive)`

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
// table, adding its parameters to args.
func itemSQL(it store.QueryItem, args *[]any) string {
	var conds []string
	if len(it.Tags) > 0 {
		*args = append(*args, it.Tags)
		conds = append(conds, "tags @> $"+strconv.Itoa(len(*args))+"::text[]")
	}
	if len(it.Types) > 0 {
		*args = append(*args, it.Types)
		conds = append(conds, "type = ANY($"+strconv.Itoa(len(*args))+"::text[])")
	}
	return strings.Join(conds, " AND ")
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
	parts := make([]string, len(q.Items))
	for i, it := range q.Items {
		parts[i] = fmt.Sprintf(`(SELECT %d AS item, position FROM %s WHERE tags IS NOT NULL AND %s AND %s ORDER BY position NULLS LAST LIMIT 1)`,
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
	if err := check.AppendIf(streamID, expected, events, cond); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
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
	args, err := dcbArgs(streamID, expected, events, after)
	if err != nil {
		return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
	}
	keys, exclusive := s.n.lockKeys(cond, events)
	anyVersion := expected == store.AnyVersion
	for attempt := 1; ; attempt++ {
		guarded := true
		res, err := s.appendTaggedOnce(ctx, cond, anyVersion, guarded, keys, exclusive, args)
		if err == nil && !res.free {
			guarded = false
			res, err = s.appendTaggedOnce(ctx, cond, anyVersion, guarded, keys, exclusive, args)
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

func (s *Store) appendTaggedOnce(ctx context.Context, cond *store.AppendCondition, anyVersion, guarded bool, keys []int64, exclusive []bool, fixed []any) (taggedResult, error) {
	args := slices.Clone(fixed)
	insert := statement{sql: s.n.insertSQL(cond, anyVersion, guarded, &args), args: args}
	lock := statement{sql: dcbLockSQL, args: []any{keys, exclusive, lockTimeout(ctx)}}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return taggedResult{}, writeError(ctx, err, false)
	}
	defer c.Release()
	conn := c.Conn()
	type prepared struct {
		sd      *pgconn.StatementDescription
		params  [][]byte
		formats []int16
	}
	var stmts []prepared
	for _, st := range []statement{lock, insert} {
		sd, params, formats, err := prepare(ctx, conn, st)
		if err != nil {
			return taggedResult{}, writeError(ctx, err, false)
		}
		stmts = append(stmts, prepared{sd, params, formats})
	}
	var notify *pgconn.StatementDescription
	if !guarded {
		if notify, err = conn.Prepare(ctx, s.sql.notify, s.sql.notify); err != nil {
			return taggedResult{}, writeError(ctx, err, false)
		}
	}
	// One implicit transaction up to the Sync: the lock statement, then
	// the insert, whose snapshot is taken after the locks were granted.
	pl := conn.PgConn().StartPipeline(ctx)
	defer pl.Close()
	for _, st := range stmts {
		pl.SendQueryStatement(st.sd, st.params, st.formats, nil)
	}
	pl.SendPipelineSync()
	if notify != nil {
		pl.SendQueryStatement(notify, nil, nil, nil)
		pl.SendPipelineSync()
	}
	if err := pl.Flush(); err != nil {
		return taggedResult{}, writeError(ctx, err, true)
	}
	var res taggedResult
	for i := range stmts {
		got, err := pl.GetResults()
		if err != nil {
			return taggedResult{}, writeError(ctx, err, true)
		}
		rr, ok := got.(*pgconn.ResultReader)
		if !ok {
			return taggedResult{}, outcomeUnknown(ctx, fmt.Errorf("pipeline: got %T, want a statement result", got))
		}
		var row [][]byte
		for rr.NextRow() {
			row = slices.Clone(rr.Values())
			for j := range row {
				row[j] = slices.Clone(row[j])
			}
		}
		if _, err := rr.Close(); err != nil {
			return taggedResult{}, writeError(ctx, err, true)
		}
		if i == 1 {
			if res, err = parseTagged(row); err != nil {
				return taggedResult{}, outcomeUnknown(ctx, err)
			}
		}
	}
	// ReadyForQuery after the Sync confirms the commit.
	if err := readSync(pl); err != nil {
		return taggedResult{}, writeError(ctx, err, true)
	}
	// An error of the notification is not the append's: see appendOnce.
	return res, nil
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
		return 0, fmt.Errorf("append to stream %q: check the condition: %w", streamID, notStored(ctx, err))
	}
	if item != nil {
		ce := &store.ConditionError{StreamID: streamID, Condition: cond, Item: int(*item)}
		if pos != nil {
			ce.Position = *pos
		}
		return 0, ce
	}
	return s.checkVersion(ctx, streamID, expected)
}

// queryPage is how many records ReadQuery reads per query.
const queryPage = 512

// readQuerySQL returns the query of a page of the events matching q after
// position $1, at most $2, with whether events wait for a position.
func (n names) readQuerySQL(q store.Query, args *[]any) string {
	var match string
	if len(q.Items) > 0 {
		conds := make([]string, len(q.Items))
		for i, it := range q.Items {
			conds[i] = "(" + itemSQL(it, args) + ")"
		}
		match = " AND (" + strings.Join(conds, " OR ") + ")"
	}
	cols := strings.Split(recordColumns, ", ")
	for i, c := range cols {
		cols[i] = "e." + c
	}
	return `SELECT p.pending, ` + strings.Join(cols, ", ") + `
FROM (SELECT EXISTS (SELECT 1 FROM ` + n.events + ` WHERE position IS NULL) AS pending) p
LEFT JOIN LATERAL (
	SELECT ` + recordColumns + ` FROM ` + n.events + `
	WHERE position > $1 AND tags IS NOT NULL` + match + `
	ORDER BY position
	LIMIT $2
) e ON true`
}

// ReadQuery implements [store.DCB]. Like ReadLog, it learns with each
// page whether committed events wait for a position; when they do and the
// page ends short, it runs the sequencing step and reads on, so that
// every matching event committed before the call is yielded.
func (s *Store) ReadQuery(ctx context.Context, q store.Query, after int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		if err := check.ReadQuery(q, after); err != nil {
			yield(store.Record{}, err)
			return
		}
		args := []any{int64(0), queryPage}
		query := s.n.readQuerySQL(q, &args)
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
					pending, err := s.readQueryPage(ctx, query, args, &page)
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
						_, err := s.readQueryPage(ctx, query, args, &page)
						return err
					}
				}
			})
			if err != nil {
				yield(store.Record{}, fmt.Errorf("read query %v after %d: %w", q, after, err))
				return
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
