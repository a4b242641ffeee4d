package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Dynamic consistency boundaries (docs/dcb.md). SQLite has one writer at
// a time: every write runs in a BEGIN IMMEDIATE transaction, so a
// condition checked in the transaction that appends holds until its
// commit, and positions are given in commit order. Nothing else is needed
// to order conditional appends; the tags table makes the check and the
// reads cost in proportion to the events of the query's tags.

// tagged reports whether any event of a batch has tags: such a batch is
// appended by appendTagged, which writes the tags table too.
func tagged(events []store.Event) bool {
	for _, e := range events {
		if len(e.Tags) > 0 {
			return true
		}
	}
	return false
}

// decodeTags reads the tags column: NULL for an event without tags.
func decodeTags(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var tags []string
	err := json.Unmarshal(b, &tags)
	return tags, err
}

// dcbStatements caches the statements of tagged appends and queries, one
// per SQL text: a query's SQL depends on the shape of the query (how many
// items, tags and types), and applications use few shapes.
type dcbStatements struct {
	mu    sync.Mutex
	stmts map[dcbKey]*sql.Stmt
}

type dcbKey struct {
	db  *sql.DB
	sql string
}

// maxCachedStatements bounds the cache of query shapes; shapes beyond it
// are prepared for each use. The two statements of a tagged append are
// kept whatever the count, as its callers do not close them.
const maxCachedStatements = 256

// stmt returns the statement of query prepared on db, and whether the
// caller must close it after use (when the cache is full).
func (c *dcbStatements) stmt(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := dcbKey{db, query}
	if st, ok := c.stmts[k]; ok {
		return st, false, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, err
	}
	if len(c.stmts) >= maxCachedStatements && query != insertTaggedSQL && query != insertTagSQL {
		return st, true, nil // a query's shape; the appends' own two are always kept
	}
	if c.stmts == nil {
		c.stmts = map[dcbKey]*sql.Stmt{}
	}
	c.stmts[k] = st
	return st, false, nil
}

func (c *dcbStatements) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

const (
	insertTaggedSQL = `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata, tags)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING position`
	insertTagSQL = `INSERT INTO annals_event_tags (tag, position, type) VALUES (?, ?, ?)`
)

// itemSQL returns a SELECT of the positions of the tagged events that
// match it after a position, in order, at most a number of them, and
// appends its arguments (after and limit last) to args.
func itemSQL(it store.QueryItem, all bool, after int64, limit int, args []any) (string, []any) {
	var b strings.Builder
	in := func(col string, values []string) {
		b.WriteString(" AND " + col + " IN (")
		for i, v := range values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, v)
		}
		b.WriteString(")")
	}
	switch {
	case all:
		b.WriteString(`SELECT position FROM annals_events WHERE tags IS NOT NULL AND position > ? ORDER BY position LIMIT ?`)
		return b.String(), append(args, after, limit)
	case len(it.Tags) == 0:
		b.WriteString(`SELECT position FROM annals_events WHERE tags IS NOT NULL`)
		in("type", it.Types)
	default:
		// The first tag drives the scan, in position order; every other
		// tag is a probe of the primary key.
		b.WriteString(`SELECT t0.position AS position FROM annals_event_tags t0`)
		for i, tag := range it.Tags[1:] {
			fmt.Fprintf(&b, ` JOIN annals_event_tags t%d ON t%d.tag = ? AND t%d.position = t0.position`, i+1, i+1, i+1)
			args = append(args, tag)
		}
		b.WriteString(` WHERE t0.tag = ?`)
		args = append(args, it.Tags[0])
		if len(it.Types) > 0 {
			in("t0.type", it.Types)
		}
		b.WriteString(` AND t0.position > ? ORDER BY t0.position LIMIT ?`)
		return b.String(), append(args, after, limit)
	}
	b.WriteString(` AND position > ? ORDER BY position LIMIT ?`)
	return b.String(), append(args, after, limit)
}

// querySQL returns the SELECT of a page of records matching q after a
// position: the union of its items' positions, each limited to the page,
// joined to the events.
func querySQL(q store.Query, after int64, limit int) (string, []any) {
	var args []any
	var b strings.Builder
	b.WriteString(`SELECT ` + prefixed("e.", recordColumns) + ` FROM (`)
	if len(q.Items) == 0 {
		var sub string
		sub, args = itemSQL(store.QueryItem{}, true, after, limit, args)
		b.WriteString(sub)
	} else {
		for i, it := range q.Items {
			if i > 0 {
				b.WriteString(` UNION `)
			}
			var sub string
			sub, args = itemSQL(it, false, after, limit, args)
			b.WriteString(`SELECT position FROM (` + sub + `)`)
		}
	}
	b.WriteString(`) m JOIN annals_events e ON e.position = m.position ORDER BY m.position LIMIT ?`)
	return b.String(), append(args, limit)
}

// conditionSQL returns a SELECT of the index of each item of q that
// matches an event after a position, with the first such position, in
// item order: one row per item that moved.
func conditionSQL(q store.Query, after int64) (string, []any) {
	var args []any
	var b strings.Builder
	items := q.Items
	all := len(items) == 0
	if all {
		items = []store.QueryItem{{}}
	}
	for i, it := range items {
		if i > 0 {
			b.WriteString(` UNION ALL `)
		}
		var sub string
		sub, args = itemSQL(it, all, after, 1, args)
		idx := i
		if all {
			idx = -1
		}
		fmt.Fprintf(&b, `SELECT %d AS item, position FROM (%s)`, idx, sub)
	}
	// The head, read in the same statement under the write lock, which no
	// append can move: SQLite numbers the log from its rows, so a head
	// read before may have gone back since (the log's end deleted by hand,
	// a file restored), and a condition's position past it is refused.
	fmt.Fprintf(&b, ` UNION ALL SELECT %d AS item, coalesce(max(position), 0) FROM annals_events`, headItem)
	return b.String(), args
}

// headItem is the item of conditionSQL's row that holds the head.
const headItem = -2

// prefixed puts prefix before each column of a comma-separated list.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = prefix + c
	}
	return strings.Join(cols, ", ")
}

// queryPage is how many records ReadQuery reads per query.
const queryPage = 512

// ReadQuery implements [store.DCB]. It reads in pages, each in its own
// short read transaction, like ReadStream: positions are given at commit,
// in commit order, so a page after the last position of the one before
// misses nothing. Each record the tag index finds is checked against q:
// one that does not match it (the index changed by hand) fails the read
// with [store.ErrCorrupt]. A row deleted from the index cannot be seen
// this way; [Store.VerifyIndexes] finds both.
func (s *Store) ReadQuery(ctx context.Context, q store.Query, after int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		if err := check.ReadQuery(q, after); err != nil {
			yield(store.Record{}, err)
			return
		}
		for {
			if err := s.usable(ctx); err != nil {
				yield(store.Record{}, err)
				return
			}
			page, err := s.queryPage(ctx, q, after)
			if err != nil {
				yield(store.Record{}, s.fail(fmt.Errorf("read query %v after %d: %w", q, after, err)))
				return
			}
			for _, r := range page {
				if err := ctx.Err(); err != nil {
					yield(store.Record{}, err)
					return
				}
				// The tag index found it: an index changed by hand can
				// find an event the query does not match.
				if !q.Matches(r.Type, r.Tags) {
					yield(store.Record{}, fmt.Errorf("read query %v after %d: the tag index (annals_event_tags) finds the event at position %d (%s, tags %q), which does not match the query: the index was changed by hand; run `annals verify` to find every such place: %w",
						q, after, r.Position, r.Type, r.Tags, store.ErrCorrupt))
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

func (s *Store) queryPage(ctx context.Context, q store.Query, after int64) ([]store.Record, error) {
	query, args := querySQL(q, after, queryPage)
	return s.readPage(func(db *sql.DB) ([]store.Record, error) {
		st, temporary, err := s.dcb.stmt(ctx, db, query)
		if err != nil {
			return nil, err
		}
		if temporary {
			defer st.Close()
		}
		return s.query(ctx, st, nil, args...)
	})
}

// AppendIf implements [store.DCB]: in the write transaction, it checks the
// condition, then appends as Append does.
func (s *Store) AppendIf(ctx context.Context, streamID string, expected int64, events []store.Event, cond store.AppendCondition) (int64, error) {
	if err := check.AppendIf(streamID, expected, events, cond); err != nil {
		return 0, err
	}
	if err := s.writable(ctx); err != nil {
		return 0, err
	}
	return s.appendTagged(ctx, streamID, expected, events, &cond)
}

// appendTagged appends events, some of them tagged, in one write
// transaction: with cond, only if no event matches it after its position.
// Each event is one INSERT, and each tag one more: the batch-insert of
// Append is for the common case of untagged events.
func (s *Store) appendTagged(ctx context.Context, streamID string, expected int64, events []store.Event, cond *store.AppendCondition) (int64, error) {
	type row struct {
		args []any
		tags []string
		typ  string
	}
	now := time.Now().UnixNano()
	rows := make([]row, len(events))
	var meta metadataEncoder
	for i, e := range events {
		id := e.ID
		if id == uuid.Nil {
			var err error
			if id, err = uuid.NewV7(); err != nil {
				return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
			}
		}
		data := e.Data
		if data == nil {
			data = []byte{}
		}
		m, err := meta.encode(e.Metadata)
		if err != nil {
			return 0, fmt.Errorf("append to stream %q: event %d metadata: %w", streamID, i, err)
		}
		var tags any // NULL
		if len(e.Tags) > 0 {
			b, err := json.Marshal(e.Tags)
			if err != nil {
				return 0, fmt.Errorf("append to stream %q: event %d tags: %w", streamID, i, err)
			}
			tags = string(b)
		}
		rows[i] = row{
			args: []any{id[:], streamID, nil, e.Type, int64(max(e.SchemaVersion, 1)), now, data, e.Encoding, m, tags},
			tags: e.Tags, typ: e.Type,
		}
	}
	// Every statement is prepared before the transaction holds the
	// writer connection, which is the only one.
	var condStmt *sql.Stmt
	var condArgs []any
	if cond != nil {
		var query string
		query, condArgs = conditionSQL(cond.FailIfEventsMatch, cond.After)
		var temporary bool
		var err error
		if condStmt, temporary, err = s.dcb.stmt(ctx, s.w, query); err != nil {
			return 0, s.fail(fmt.Errorf("append to stream %q: prepare the condition: %w", streamID, notStored(ctx, err)))
		}
		if temporary {
			defer condStmt.Close()
		}
	}
	insert, _, err := s.dcb.stmt(ctx, s.w, insertTaggedSQL)
	if err == nil {
		var tagStmt *sql.Stmt
		if tagStmt, _, err = s.dcb.stmt(ctx, s.w, insertTagSQL); err == nil {
			var version int64
			err = s.write(ctx, func(tx *sql.Tx) error {
				if cond != nil {
					if err := checkCondition(ctx, tx, condStmt, condArgs, streamID, *cond); err != nil {
						return err
					}
				}
				actual, err := s.version(ctx, tx, streamID)
				if err != nil {
					return err
				}
				if err := check.Expected(streamID, expected, actual); err != nil {
					return err
				}
				ins, tag := tx.StmtContext(ctx, insert), tx.StmtContext(ctx, tagStmt)
				for i, r := range rows {
					r.args[2] = actual + int64(i) + 1
					var pos int64
					if err := ins.QueryRowContext(ctx, r.args...).Scan(&pos); err != nil {
						if isUniqueEventID(err) {
							return duplicateTagged(ctx, tx, i, r.args[0].([]byte))
						}
						return fmt.Errorf("insert: %w", err)
					}
					for _, t := range r.tags {
						if _, err := tag.ExecContext(ctx, t, pos, r.typ); err != nil {
							return fmt.Errorf("insert tag: %w", err)
						}
					}
				}
				version = actual + int64(len(rows))
				return nil
			})
			if err == nil {
				if len(events) > 0 {
					s.notify()
				}
				return version, nil
			}
		}
	}
	var ce *store.ConditionError
	if errors.As(err, &ce) || errors.As(err, new(*store.ConflictError)) {
		return 0, err
	}
	if past, ok := errors.AsType[*pastHead](err); ok {
		return 0, past.err
	}
	return 0, s.fail(fmt.Errorf("append to stream %q: %w", streamID, notStored(ctx, err)))
}

// pastHead carries out of the write transaction the refusal of a
// condition whose position is past the head, said as it is.
type pastHead struct{ err error }

func (e *pastHead) Error() string { return e.err.Error() }
func (e *pastHead) Unwrap() error { return e.err }

// checkCondition returns a [*store.ConditionError] when an event matching
// cond's query is after its position, running st, conditionSQL's
// statement, in tx; or, when the position is past the head, its refusal
// (a *pastHead).
func checkCondition(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args []any, streamID string, cond store.AppendCondition) error {
	rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("check condition: %w", err)
	}
	defer rows.Close()
	found := false
	head := int64(-1)
	ce := &store.ConditionError{StreamID: streamID, Condition: cond}
	for rows.Next() {
		var item, pos int64
		if err := rows.Scan(&item, &pos); err != nil {
			return fmt.Errorf("check condition: %w", err)
		}
		switch {
		case item == headItem:
			head = pos
		case !found || int(item) < ce.Item:
			ce.Item, ce.Position, found = int(item), pos, true
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check condition: %w", err)
	}
	if head < 0 {
		return fmt.Errorf("check condition: the head of the log was not read")
	}
	if err := check.ConditionPosition(streamID, cond.After, head); err != nil {
		return &pastHead{err}
	}
	if found {
		return ce
	}
	return nil
}

// duplicateTagged names the event of a refused batch whose ID is already
// stored.
func duplicateTagged(ctx context.Context, tx *sql.Tx, i int, id []byte) error {
	var stored string
	if err := tx.QueryRowContext(ctx, `SELECT stream_id FROM annals_events WHERE event_id = ?`, id).Scan(&stored); err != nil {
		return fmt.Errorf("event %d: its ID %v is already stored: %w", i, uuid.UUID(id), store.ErrDuplicateEvent)
	}
	return fmt.Errorf("event %d has ID %v, already stored in stream %q: %w", i, uuid.UUID(id), stored, store.ErrDuplicateEvent)
}

// VerifyIndexes implements [store.IndexVerifier]: it checks the tag
// index, annals_event_tags, against the tags of the events, both ways.
// A row missing from it makes a query of the tag miss the event, and a
// condition on it let an append through; a row too many, or of another
// type, makes a query find an event that does not match it (which
// ReadQuery refuses). Tags that do not decode are the log's reads' to
// report, not this walk's.
func (s *Store) VerifyIndexes(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := s.usable(ctx); err != nil {
			yield("", err)
			return
		}
		checks := []struct {
			query string
			say   func(position int64, tag, typ string) string
		}{{
			`SELECT e.position, j.value, e.type FROM annals_events e, json_each(e.tags) j
			WHERE e.tags IS NOT NULL AND json_valid(e.tags) AND json_type(e.tags) = 'array'
				AND NOT EXISTS (SELECT 1 FROM annals_event_tags t WHERE t.tag = j.value AND t.position = e.position AND t.type = e.type)
			ORDER BY e.position, j.value`,
			func(position int64, tag, typ string) string {
				return fmt.Sprintf("the tag index (annals_event_tags) has no row for tag %q of the event at position %d (%s): queries of the tag miss the event, and conditions on it do not see it", tag, position, typ)
			},
		}, {
			`SELECT t.position, t.tag, t.type FROM annals_event_tags t LEFT JOIN annals_events e ON e.position = t.position
			WHERE e.position IS NULL OR e.type <> t.type OR NOT (e.tags IS NOT NULL AND json_valid(e.tags) AND json_type(e.tags) = 'array'
				AND EXISTS (SELECT 1 FROM json_each(e.tags) j WHERE j.value = t.tag))
			ORDER BY t.position, t.tag`,
			func(position int64, tag, typ string) string {
				return fmt.Sprintf("the tag index (annals_event_tags) has a row for tag %q and type %q at position %d, which the event there does not have: queries of the tag find an event that does not match them", tag, typ, position)
			},
		}}
		for _, c := range checks {
			more, err := s.eachIndexProblem(ctx, c.query, func(position int64, tag, typ string) bool {
				return yield(c.say(position, tag, typ), nil)
			})
			if err != nil {
				yield("", fmt.Errorf("verify the tag index: %w", err))
				return
			}
			if !more {
				return
			}
		}
	}
}

// eachIndexProblem calls f with each row (position, tag, type) query
// finds, until f returns false, and reports whether f asked for more.
func (s *Store) eachIndexProblem(ctx context.Context, query string, f func(position int64, tag, typ string) bool) (bool, error) {
	rows, err := s.r.QueryContext(ctx, query)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var position int64
		var tag, typ string
		if err := rows.Scan(&position, &tag, &typ); err != nil {
			return false, err
		}
		if !f(position, tag, typ) {
			return false, nil
		}
	}
	return true, rows.Err()
}
