package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// statements are the store's SQL, with its table names filled in.
type statements struct {
	appendOne, appendMany, appendAny appendSQL
	sequence, sequenceUntimed        string
	notify, waitLock, waitUnlock     string
	version                          string
	readLog, readLogTypes            string
	readStream                       string
	findEvent                        string
	checkpoint, setCheckpoint        string
	listen, unlisten                 string

	saveSnapshot, latestSnapshot string

	createKey, subjectKey, deleteKey string

	casCheckpoint, casFirstCheckpoint string
	loadState                         string
	loadStates                        string
	clearStates, deleteStates         string
	saveStates                        string

	lock, unlock string
}

// appendSQL is an append statement in two forms. The guarded one inserts
// only if it can take the wait lock in shared mode, which it then holds
// until it commits; it is the one every append runs first. The unguarded
// one inserts without the lock; an append runs it when the guarded one
// inserted nothing because a consumer waits, and notifies after it
// commits. docs/global-log.md says why this wakes every waiting consumer.
type appendSQL struct{ guarded, unguarded string }

const recordColumns = `position, stream_id, version, event_id, type, schema_version, recorded_at, data, encoding, correlation_id, causation_id, extra, tags`

const insertColumns = `stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, extra`

func newStatements(n names) statements {
	// pendingAndPage returns one row even when the page is empty, so
	// that the reader learns in one round trip whether committed events
	// are waiting for a position. The page is read through the ranges
	// of the log (see migration7): from the one holding position $1+1
	// on, each range's events, found by transaction id or by stream and
	// version, kept when their position is in the range and in the
	// page. Without a filter the page is positions $1+1 to $1+$2, and
	// the rows come in no particular order (ReadLog sorts them); with
	// one, it is the first $2 events after $1 that pass it, in order.
	//
	// Both parameters are bigint wherever they appear: left to infer
	// them from "$1 + 1", PostgreSQL would make them integer, and a
	// position past 2^31 could not be sent. A version bound subtracts
	// the range's first position before it adds a position, so that no
	// sum passes the largest bigint (ReadLog keeps $1 + $2 below it).
	pendingAndPage := func(filter string) string {
		const after, limit = `$1::bigint`, `$2::bigint`
		columns := strings.ReplaceAll("e."+recordColumns, ", ", ", e.")
		last, order := `least(r.last_position, `+after+` + `+limit+`)`, `
	AND r.first_position <= `+after+` + `+limit
		if filter != "" {
			last, order = `r.last_position`, `
	ORDER BY r.first_position, e.position
	LIMIT `+limit
		}
		return `SELECT p.pending, ` + columns + `
FROM (SELECT ` + pendingSQL(n, "(SELECT horizon FROM "+n.logHead+")", "(SELECT inflight FROM "+n.logHead+")") + ` AS pending) p
LEFT JOIN LATERAL (
	SELECT e.* FROM ` + n.logRanges + ` r CROSS JOIN LATERAL (
		SELECT ` + columns + ` FROM ` + n.events + ` e
		WHERE r.stream_id IS NULL AND (e.txid BETWEEN r.lo AND r.hi OR e.txid = ANY (r.extra))
			AND e.position BETWEEN greatest(r.first_position, ` + after + ` + 1) AND ` + last + filter + `
		UNION ALL
		SELECT ` + columns + ` FROM ` + n.events + ` e
		WHERE r.stream_id IS NOT NULL AND e.stream_id = r.stream_id
			AND e.version BETWEEN r.first_version - r.first_position + greatest(r.first_position, ` + after + ` + 1)
				AND r.first_version - r.first_position + ` + last + filter + `
	) e
	WHERE r.first_position >= (SELECT coalesce(max(first_position), 0) FROM ` + n.logRanges + ` WHERE first_position <= ` + after + ` + 1)` + order + `
) e ON true`
	}
	// The expected version is checked by the statement that inserts: the
	// version expected must exist (unless it is 0), and the next one
	// must not, which the primary key (stream_id, version) enforces
	// against concurrent writers too. A failed check inserts nothing.
	expectedExists := `($2::bigint = 0 OR EXISTS (SELECT 1 FROM ` + n.events + ` WHERE stream_id = $1 AND version = $2::bigint))`
	unnest := `unnest($3::uuid[], $4::text[], $5::int[], $6::bytea[], $7::text[], $8::text[], $9::text[], $10::text[])
		WITH ORDINALITY AS e(id, type, schema_version, data, encoding, correlation_id, causation_id, extra, ord)`
	// The guard is a CTE, evaluated once per statement, so that an
	// append of many events takes or misses the wait lock once for all.
	guard := `WITH guard AS MATERIALIZED (SELECT pg_try_advisory_xact_lock_shared(` + fmt.Sprint(n.waitLock) + `) AS free)
`
	insert := `INSERT INTO ` + n.events + ` (` + insertColumns + `)
`
	oneValues := `SELECT $1, $2::bigint + 1, $3, $4, $5, $6, $7, $8, $9, $10::jsonb
`
	manyValues := `SELECT $1, $2::bigint + e.ord, e.id, e.type, e.schema_version, e.data, e.encoding, e.correlation_id, e.causation_id, e.extra::jsonb
`
	anyValues := `SELECT $1, h.v + e.ord, e.id, e.type, e.schema_version, e.data, e.encoding, e.correlation_id, e.causation_id, e.extra::jsonb
`
	// $2 is unused by appendAny but keeps the parameters of appendMany.
	anyFrom := `(SELECT coalesce(max(version), 0) AS v FROM ` + n.events + ` WHERE stream_id = $1 AND $2::bigint = -1) h,
	` + unnest
	return statements{
		appendOne: appendSQL{
			// One row: the guard in WHERE is evaluated once.
			guarded:   insert + oneValues + `WHERE pg_try_advisory_xact_lock_shared(` + fmt.Sprint(n.waitLock) + `) AND ` + expectedExists,
			unguarded: insert + oneValues + `WHERE ` + expectedExists,
		},
		appendMany: appendSQL{
			guarded:   guard + insert + manyValues + `FROM guard, ` + unnest + ` WHERE guard.free AND ` + expectedExists,
			unguarded: insert + manyValues + `FROM ` + unnest + ` WHERE ` + expectedExists,
		},
		appendAny: appendSQL{
			guarded:   guard + insert + anyValues + `FROM guard, ` + anyFrom + ` WHERE guard.free RETURNING version`,
			unguarded: insert + anyValues + `FROM ` + anyFrom + ` RETURNING version`,
		},
		sequence: `SELECT new_head, more FROM ` + n.sequenceBatch + `(true, $1)`,
		// The step's count of events ends the SQL (see Store.step).
		sequenceUntimed: untimed + `SELECT new_head, more FROM ` + n.sequenceBatch + `(true, `,
		notify:          `SELECT pg_notify(` + quoteLiteral(n.channel) + `, '')`,
		// The lock's wait is lock_timeout's to bound, not statement_timeout's.
		waitLock:     untimed + `SELECT pg_advisory_lock(` + fmt.Sprint(n.waitLock) + `)`,
		waitUnlock:   `SELECT pg_advisory_unlock(` + fmt.Sprint(n.waitLock) + `)`,
		version:      `SELECT max(version) FROM ` + n.events + ` WHERE stream_id = $1`,
		readLog:      pendingAndPage(""),
		readLogTypes: pendingAndPage(" AND e.type = ANY($3)"),
		readStream: `SELECT ` + recordColumns + ` FROM ` + n.events + `
WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`,
		findEvent:  `SELECT ` + recordColumns + ` FROM ` + n.events + ` WHERE event_id = $1`,
		checkpoint: `SELECT position FROM ` + n.checkpoints + ` WHERE consumer = $1`,
		setCheckpoint: `INSERT INTO ` + n.checkpoints + ` AS c (consumer, position) VALUES ($1, $2)
ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = now()
WHERE c.position <= excluded.position
RETURNING position`,
		listen:   `LISTEN ` + n.listen,
		unlisten: `UNLISTEN ` + n.listen,

		// A snapshot replaces the stored one unless that one is of a
		// higher version; ON CONFLICT takes the row lock, so concurrent
		// savers are ordered and the highest version stays.
		saveSnapshot: `INSERT INTO ` + n.snapshots + ` AS s (stream_id, version, type, schema_version, taken_at, data, encoding)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, type = excluded.type,
	schema_version = excluded.schema_version, taken_at = excluded.taken_at, data = excluded.data, encoding = excluded.encoding
WHERE s.version <= excluded.version`,
		latestSnapshot: `SELECT version, type, schema_version, taken_at, data, encoding FROM ` + n.snapshots + ` WHERE stream_id = $1`,

		// The first key of a subject wins: a create that finds one
		// returns no row, and the caller reads the stored key in a new
		// statement, which sees the winner's commit.
		createKey: `INSERT INTO ` + n.subjectKeys + ` (subject, key_id, wrapped) VALUES ($1, $2, $3)
ON CONFLICT (subject) DO NOTHING
RETURNING key_id, wrapped`,
		subjectKey: `SELECT key_id, wrapped FROM ` + n.subjectKeys + ` WHERE subject = $1`,
		deleteKey:  `DELETE FROM ` + n.subjectKeys + ` WHERE subject = $1`,

		// The compared-and-set checkpoint, first in a consumer's
		// transaction: it moves the checkpoint from $2 to $3 only if it
		// is at $2, and keeps the row locked until the transaction ends,
		// so another instance's commit waits and then finds it moved.
		casCheckpoint: `UPDATE ` + n.checkpoints + ` SET position = $3, updated_at = now() WHERE consumer = $1 AND position = $2`,
		// From 0 the row may not exist yet; a row that exists must be at 0.
		casFirstCheckpoint: `INSERT INTO ` + n.checkpoints + ` AS c (consumer, position) VALUES ($1, $3)
ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = now()
WHERE c.position = $2`,
		loadState:   `SELECT data FROM ` + n.states + ` WHERE view_name = $1 AND state_key = $2`,
		loadStates:  `SELECT state_key, data FROM ` + n.states + ` WHERE view_name = $1 AND state_key = ANY($2)`,
		clearStates: `DELETE FROM ` + n.states + ` WHERE view_name = ANY($1::text[])`,
		deleteStates: `DELETE FROM ` + n.states + ` s USING unnest($1::text[], $2::text[]) AS d(view_name, state_key)
WHERE s.view_name = d.view_name AND s.state_key = d.state_key`,
		saveStates: `INSERT INTO ` + n.states + ` (view_name, state_key, data)
SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
ON CONFLICT (view_name, state_key) DO UPDATE SET data = excluded.data, updated_at = now()`,

		lock:   `SELECT pg_advisory_lock($1, $2)`,
		unlock: `SELECT pg_advisory_unlock($1, $2)`,
	}
}

// Append implements [store.Store]. One statement inserts the events and
// checks the expected version, in a transaction of its own, and tries the
// wait lock in shared mode, which it holds until it commits. When a
// consumer waits, holding the lock, that statement inserts nothing; the
// append then inserts without the lock and notifies after it commits,
// which wakes the consumer. The events get their log positions later,
// from whoever reads the log first.
func (s *Store) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	if err := s.refuseClosed(); err != nil {
		return 0, err
	}
	if err := check.Append(streamID, expected, events); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return s.checkVersion(ctx, streamID, expected)
	}
	if tagged(events) {
		return s.appendTagged(ctx, streamID, expected, events, nil) // dcb.go
	}
	sql := s.sql.appendMany
	switch {
	case expected == store.AnyVersion:
		sql = s.sql.appendAny
	case len(events) == 1:
		sql = s.sql.appendOne
	}
	st := statement{sql: sql.guarded}
	if len(events) == 1 && expected != store.AnyVersion {
		one, err := newOneEvent(streamID, expected, events[0])
		if err != nil {
			return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
		}
		st.one = &one
	} else {
		var err error
		if st.args, err = appendArgs(streamID, expected, events); err != nil {
			return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
		}
	}
	for attempt := 1; ; attempt++ {
		st.sql = sql.guarded
		inserted, last, err := s.appendOnce(ctx, st, false)
		if err == nil && inserted == 0 {
			// Either the version check failed or a consumer waits,
			// holding the wait lock: tell which, and in the second case
			// append without the lock and notify after the commit.
			if expected != store.AnyVersion {
				actual, err := s.streamVersion(ctx, streamID)
				if err != nil {
					return 0, fmt.Errorf("append to stream %q: nothing inserted, then reading the version: %w", streamID, notStored(ctx, err))
				}
				if actual != expected {
					return 0, &store.ConflictError{StreamID: streamID, Expected: expected, Actual: actual}
				}
			}
			st.sql = sql.unguarded
			inserted, last, err = s.appendOnce(ctx, st, true)
		}
		if err != nil {
			// With AnyVersion there is no conflict to report: a writer
			// that lost the race for the next version tries again.
			if expected == store.AnyVersion && s.lostVersionRace(err) && attempt < maxAnyVersionAttempts && ctx.Err() == nil {
				continue
			}
			return 0, s.appendError(ctx, streamID, expected, err)
		}
		switch {
		case inserted == int64(len(events)) && expected == store.AnyVersion:
			return last, nil
		case inserted == int64(len(events)):
			return expected + inserted, nil
		case inserted == 0 && expected != store.AnyVersion:
			// The version expected does not exist: the stream is shorter.
			return 0, s.conflict(ctx, streamID, expected)
		}
		return 0, fmt.Errorf("append to stream %q: inserted %d of %d events", streamID, inserted, len(events))
	}
}

// checkVersion is the append of no events: it only checks the version.
func (s *Store) checkVersion(ctx context.Context, streamID string, expected int64) (int64, error) {
	actual, err := s.streamVersion(ctx, streamID)
	if err != nil {
		return 0, fmt.Errorf("append to stream %q: read its version: %w", streamID, notStored(ctx, err))
	}
	if err := check.Expected(streamID, expected, actual); err != nil {
		return 0, err
	}
	return actual, nil
}

// conflict reads the stream's version for the error of a failed check.
func (s *Store) conflict(ctx context.Context, streamID string, expected int64) error {
	actual, err := s.streamVersion(ctx, streamID)
	if err != nil {
		return fmt.Errorf("append to stream %q: version conflict, then reading the version: %w", streamID, notStored(ctx, err))
	}
	return &store.ConflictError{StreamID: streamID, Expected: expected, Actual: actual}
}

// streamVersion reads the version of a stream, 0 when it has no events.
// A highest version below 1 is no head an append may follow: the stream
// was changed by hand, and the error matches [store.ErrCorrupt].
func (s *Store) streamVersion(ctx context.Context, streamID string) (int64, error) {
	var actual pgtype.Int8
	if err := s.retry(ctx, func() error { return s.pool.QueryRow(ctx, s.sql.version, streamID).Scan(&actual) }); err != nil {
		return 0, err
	}
	if actual.Valid {
		if err := check.StoredVersion(streamID, actual.Int64); err != nil {
			return 0, err
		}
	}
	return actual.Int64, nil
}

// maxAnyVersionAttempts bounds the retries of an AnyVersion append that
// keeps losing the race for the stream's next version.
const maxAnyVersionAttempts = 100

func (s *Store) lostVersionRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == s.n.pkey
}

// appendError turns a failed append, whose error appendOnce classified,
// into the error callers branch on.
func (s *Store) appendError(ctx context.Context, streamID string, expected int64, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case s.n.eventIDKey:
			return fmt.Errorf("append to stream %q: an event ID is already stored (%s): %w", streamID, pgErr.Detail, store.ErrDuplicateEvent)
		case s.n.pkey:
			// Another writer appended the next version first.
			return s.conflict(ctx, streamID, expected)
		}
	}
	s.dropDeadConnections(ctx, err)
	return fmt.Errorf("append to stream %q: %w", streamID, err)
}

// appendArgs returns the parameters of the append statements: scalars for
// one event, arrays for several.
func appendArgs(streamID string, expected int64, events []store.Event) ([]any, error) {
	n := len(events)
	ids := make([][16]byte, n)
	types := make([]string, n)
	schemas := make([]int32, n)
	data := make([][]byte, n)
	encodings := make([]string, n)
	correlations := make([]string, n)
	causations := make([]string, n)
	extras := make([]*string, n)
	for i, e := range events {
		id := e.ID
		if id == uuid.Nil {
			var err error
			if id, err = uuid.NewV7(); err != nil {
				return nil, err
			}
		}
		ids[i] = id
		types[i] = e.Type
		schemas[i] = int32(max(e.SchemaVersion, 1))
		data[i] = e.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
		encodings[i] = e.Encoding
		correlations[i] = e.Metadata.CorrelationID
		causations[i] = e.Metadata.CausationID
		if len(e.Metadata.Extra) > 0 {
			b, err := json.Marshal(e.Metadata.Extra)
			if err != nil {
				return nil, err
			}
			s := string(b)
			extras[i] = &s
		}
	}
	if n == 1 && expected != store.AnyVersion {
		return []any{streamID, expected, ids[0], types[0], schemas[0], data[0], encodings[0], correlations[0], causations[0], extras[0]}, nil
	}
	return []any{streamID, expected, ids, types, schemas, data, encodings, correlations, causations, extras}, nil
}

// appendOnce runs an append statement in a transaction of its own, and,
// with notify, then a notification in another, in the same round trip. It
// returns how many events were inserted and the highest version the
// statement returned, if any, or an error as writeError says: the append
// statement commits by itself, so once it has been sent, an answer that
// does not come back leaves the outcome unknown. An error of the
// notification is not the append's: its events are committed, and a
// waiting consumer finds them when it next looks (at the latest after its
// recheck interval, see defaultRecheck).
func (s *Store) appendOnce(ctx context.Context, st statement, notify bool) (inserted, last int64, err error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, 0, writeError(ctx, err, false)
	}
	defer c.Release()
	if !notify {
		// One statement: no pipeline needed.
		sd, params, formats, err := prepare(ctx, c.Conn(), st)
		if err != nil {
			return 0, 0, writeError(ctx, err, false)
		}
		inserted, last, err = readRows(c.Conn().PgConn().ExecPrepared(ctx, sd.Name, params, formats, binaryResults))
		if err != nil {
			return 0, 0, writeError(ctx, err, true)
		}
		return inserted, last, nil
	}
	pl, sent, err := sendEach(ctx, c.Conn(), st, statement{sql: s.sql.notify})
	if err != nil {
		return 0, 0, writeError(ctx, err, sent)
	}
	defer pl.Close()
	res, err := pl.GetResults()
	if err != nil {
		return 0, 0, writeError(ctx, err, true)
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return 0, 0, outcomeUnknown(ctx, fmt.Errorf("pipeline: got %T, want a statement result", res))
	}
	if inserted, last, err = readRows(rr); err != nil {
		return 0, 0, writeError(ctx, err, true)
	}
	// ReadyForQuery after the Sync confirms the commit.
	if err := readSync(pl); err != nil {
		return 0, 0, writeError(ctx, err, true)
	}
	return inserted, last, nil
}

// readRows reads the result of an append statement: how many rows it
// inserted, and the highest version it returned, if it returns any.
func readRows(rr *pgconn.ResultReader) (inserted, last int64, err error) {
	for rr.NextRow() {
		if row := rr.Values(); len(row) == 1 && len(row[0]) == 8 {
			last = max(last, int8Value(row[0]))
		}
	}
	tag, err := rr.Close()
	return tag.RowsAffected(), last, err
}

// statement is a SQL statement with its arguments: args, or, for the
// append of one event, the event, which encodeOne encodes.
type statement struct {
	sql  string
	args []any
	one  *oneEvent
}

// oneEvent is what the append of one event writes: the parameters of
// appendOne, ready to encode.
type oneEvent struct {
	streamID string
	expected int64
	id       uuid.UUID
	schema   int32
	event    store.Event
	extra    []byte // the metadata's extra values in JSON, nil for none
}

func newOneEvent(streamID string, expected int64, e store.Event) (oneEvent, error) {
	one := oneEvent{streamID: streamID, expected: expected, id: e.ID, schema: int32(max(e.SchemaVersion, 1)), event: e}
	if one.id == uuid.Nil {
		var err error
		if one.id, err = uuid.NewV7(); err != nil {
			return oneEvent{}, err
		}
	}
	if len(e.Metadata.Extra) > 0 {
		var err error
		if one.extra, err = json.Marshal(e.Metadata.Extra); err != nil {
			return oneEvent{}, err
		}
	}
	return one, nil
}

// oneEventOIDs are the types of appendOne's parameters, as the server
// describes them, oneEventFormats the formats encodeOne sends them in,
// and binaryResults the result formats the store asks for. None of them
// is ever written to.
var (
	binaryResults   = []int16{pgx.BinaryFormatCode}
	oneEventOIDs    = []uint32{pgtype.TextOID, pgtype.Int8OID, pgtype.UUIDOID, pgtype.TextOID, pgtype.Int4OID, pgtype.ByteaOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.JSONBOID}
	oneEventFormats = []int16{pgx.TextFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.TextFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.TextFormatCode, pgx.TextFormatCode, pgx.TextFormatCode, pgx.TextFormatCode}
)

// encodeOne encodes the parameters of appendOne into one buffer, which
// spares the append of one event most of the allocations of going
// through []any. It reports false when the statement does not take the
// parameters it knows.
func encodeOne(sd *pgconn.StatementDescription, one *oneEvent) ([][]byte, []int16, bool) {
	if !slices.Equal(sd.ParamOIDs, oneEventOIDs) {
		return nil, nil, false
	}
	e := &one.event
	buf := make([]byte, 0, len(one.streamID)+8+16+len(e.Type)+4+len(e.Encoding)+
		len(e.Metadata.CorrelationID)+len(e.Metadata.CausationID)+len(one.extra))
	params := make([][]byte, len(oneEventOIDs))
	add := func(i int, b []byte) {
		start := len(buf)
		buf = append(buf, b...)
		params[i] = buf[start:len(buf):len(buf)]
	}
	addString := func(i int, s string) {
		start := len(buf)
		buf = append(buf, s...)
		params[i] = buf[start:len(buf):len(buf)]
	}
	addString(0, one.streamID)
	// The integers are written into buf itself, not into slices of their
	// own that add would copy.
	start := len(buf)
	buf = binary.BigEndian.AppendUint64(buf, uint64(one.expected))
	params[1] = buf[start:len(buf):len(buf)]
	add(2, one.id[:])
	addString(3, e.Type)
	start = len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(one.schema))
	params[4] = buf[start:len(buf):len(buf)]
	params[5] = e.Data
	if params[5] == nil {
		params[5] = []byte{}
	}
	addString(6, e.Encoding)
	addString(7, e.Metadata.CorrelationID)
	addString(8, e.Metadata.CausationID)
	if one.extra != nil {
		add(9, one.extra)
	}
	return params, oneEventFormats, true
}

// sendEach sends statements to conn in one round trip, each in a
// transaction of its own: a pipeline with a Sync after each, so that each
// commits before the next one starts and takes its snapshot. pgx prepares
// each statement once per connection. The caller reads the results in
// order (GetResults, readSync) and closes the pipeline, which reads and
// drops what it did not read. When it fails, sent tells whether the
// statements may have left.
func sendEach(ctx context.Context, conn *pgx.Conn, stmts ...statement) (_ *pgconn.Pipeline, sent bool, err error) {
	type encoded struct {
		sd      *pgconn.StatementDescription
		params  [][]byte
		formats []int16
	}
	var buf [2]encoded
	enc := buf[:0]
	for _, st := range stmts {
		sd, params, formats, err := prepare(ctx, conn, st)
		if err != nil {
			return nil, false, err
		}
		enc = append(enc, encoded{sd, params, formats})
	}
	pl := conn.PgConn().StartPipeline(ctx)
	for _, e := range enc {
		pl.SendQueryStatement(e.sd, e.params, e.formats, binaryResults)
		pl.SendPipelineSync()
	}
	if err := pl.Flush(); err != nil {
		pl.Close()
		return nil, true, err
	}
	return pl, true, nil
}

// prepare prepares a statement on conn, once per connection, and encodes
// its arguments.
func prepare(ctx context.Context, conn *pgx.Conn, st statement) (*pgconn.StatementDescription, [][]byte, []int16, error) {
	sd, err := conn.Prepare(ctx, st.sql, st.sql)
	if err != nil {
		return nil, nil, nil, err
	}
	if st.one != nil {
		params, formats, ok := encodeOne(sd, st.one)
		if !ok {
			return nil, nil, nil, fmt.Errorf("statement %q does not take the parameters of one event", st.sql)
		}
		return sd, params, formats, nil
	}
	params, formats, err := encodeParams(conn, sd, st.args)
	return sd, params, formats, err
}

// int8Value decodes a bigint in binary format.
func int8Value(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

// encodeParams encodes args for a prepared statement, binary where pgx
// can.
func encodeParams(conn *pgx.Conn, sd *pgconn.StatementDescription, args []any) ([][]byte, []int16, error) {
	if len(args) != len(sd.ParamOIDs) {
		return nil, nil, fmt.Errorf("statement takes %d parameters, got %d", len(sd.ParamOIDs), len(args))
	}
	m := conn.TypeMap()
	params := make([][]byte, len(args))
	formats := make([]int16, len(args))
	for i, arg := range args {
		oid := sd.ParamOIDs[i]
		formats[i] = m.FormatCodeForOID(oid)
		// A non-nil buffer, so that an empty value is not taken for
		// NULL, which Encode returns as nil.
		buf, err := m.Encode(oid, formats[i], arg, make([]byte, 0, 16))
		if err != nil {
			return nil, nil, fmt.Errorf("encode parameter %d: %w", i+1, err)
		}
		params[i] = buf
	}
	return params, formats, nil
}

// readSync reads the end of a transaction in a pipeline.
func readSync(pl *pgconn.Pipeline) error {
	res, err := pl.GetResults()
	if err != nil {
		return err
	}
	if _, ok := res.(*pgconn.PipelineSync); !ok {
		return fmt.Errorf("pipeline: got %T, want the end of a transaction", res)
	}
	return nil
}
