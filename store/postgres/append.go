package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/annals-dev/annals/store"
)

// statements are the store's SQL, with its table names filled in.
type statements struct {
	appendOne, appendMany, appendAny string
	sequence, sequenceAfterAppend    string
	version                          string
	readLog, readLogTypes            string
	readStream                       string
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

const recordColumns = `position, stream_id, version, event_id, type, schema_version, recorded_at, data, encoding, correlation_id, causation_id, extra`

const insertColumns = `stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, extra`

func newStatements(n names) statements {
	// pendingAndPage returns one row even when the page is empty, so
	// that the reader learns in one round trip whether committed events
	// are waiting for a position.
	pendingAndPage := func(filter string) string {
		return `SELECT p.pending, e.position, e.stream_id, e.version, e.event_id, e.type, e.schema_version, e.recorded_at, e.data, e.encoding, e.correlation_id, e.causation_id, e.extra
FROM (SELECT EXISTS (SELECT 1 FROM ` + n.events + ` WHERE position IS NULL) AS pending) p
LEFT JOIN LATERAL (
	SELECT ` + recordColumns + ` FROM ` + n.events + `
	WHERE position > $1` + filter + `
	ORDER BY position
	LIMIT $2
) e ON true`
	}
	// The expected version is checked by the statement that inserts: the
	// version expected must exist (unless it is 0), and the next one
	// must not, which the primary key (stream_id, version) enforces
	// against concurrent writers too. A failed check inserts nothing.
	expectedExists := `($2::bigint = 0 OR EXISTS (SELECT 1 FROM ` + n.events + ` WHERE stream_id = $1 AND version = $2::bigint))`
	unnest := `unnest($3::uuid[], $4::text[], $5::int[], $6::bytea[], $7::text[], $8::text[], $9::text[], $10::text[])
		WITH ORDINALITY AS e(id, type, schema_version, data, encoding, correlation_id, causation_id, extra, ord)`
	return statements{
		appendOne: `INSERT INTO ` + n.events + ` (` + insertColumns + `)
SELECT $1, $2::bigint + 1, $3, $4, $5, $6, $7, $8, $9, $10::jsonb
WHERE ` + expectedExists,
		appendMany: `INSERT INTO ` + n.events + ` (` + insertColumns + `)
SELECT $1, $2::bigint + e.ord, e.id, e.type, e.schema_version, e.data, e.encoding, e.correlation_id, e.causation_id, e.extra::jsonb
FROM ` + unnest + `
WHERE ` + expectedExists,
		// $2 is unused but keeps the parameters of appendMany.
		appendAny: `INSERT INTO ` + n.events + ` (` + insertColumns + `)
SELECT $1, h.v + e.ord, e.id, e.type, e.schema_version, e.data, e.encoding, e.correlation_id, e.causation_id, e.extra::jsonb
FROM (SELECT coalesce(max(version), 0) AS v FROM ` + n.events + ` WHERE stream_id = $1 AND $2::bigint = -1) h,
	` + unnest + `
RETURNING version`,
		sequence:            `SELECT ` + n.sequence + `(true)`,
		sequenceAfterAppend: `SELECT ` + n.sequence + `(false)`,
		version:             `SELECT coalesce(max(version), 0) FROM ` + n.events + ` WHERE stream_id = $1`,
		readLog:             pendingAndPage(""),
		readLogTypes:        pendingAndPage(" AND type = ANY($3)"),
		readStream: `SELECT ` + recordColumns + ` FROM ` + n.events + `
WHERE stream_id = $1 AND version >= $2 ORDER BY version`,
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
// checks the expected version, in a transaction of its own; the
// sequencing step that gives them their log positions runs after it
// commits, as a second transaction sent in the same round trip.
func (s *Store) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	if err := store.ValidateAppend(streamID, expected, events); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return s.checkVersion(ctx, streamID, expected)
	}
	sql := s.sql.appendMany
	switch {
	case expected == store.AnyVersion:
		sql = s.sql.appendAny
	case len(events) == 1:
		sql = s.sql.appendOne
	}
	args, err := appendArgs(streamID, expected, events)
	if err != nil {
		return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
	}
	for attempt := 1; ; attempt++ {
		inserted, last, err := s.appendOnce(ctx, sql, args)
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
	var actual int64
	if err := s.retry(ctx, func() error { return s.pool.QueryRow(ctx, s.sql.version, streamID).Scan(&actual) }); err != nil {
		return 0, fmt.Errorf("append to stream %q: read its version: %w", streamID, err)
	}
	if err := store.CheckExpected(streamID, expected, actual); err != nil {
		return 0, err
	}
	return actual, nil
}

// conflict reads the stream's version for the error of a failed check.
func (s *Store) conflict(ctx context.Context, streamID string, expected int64) error {
	var actual int64
	if err := s.retry(ctx, func() error { return s.pool.QueryRow(ctx, s.sql.version, streamID).Scan(&actual) }); err != nil {
		return fmt.Errorf("append to stream %q: version conflict, then reading the version: %w", streamID, err)
	}
	return &store.ConflictError{StreamID: streamID, Expected: expected, Actual: actual}
}

// maxAnyVersionAttempts bounds the retries of an AnyVersion append that
// keeps losing the race for the stream's next version.
const maxAnyVersionAttempts = 100

func (s *Store) lostVersionRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == s.n.pkey
}

// appendError turns a failed append into the error callers branch on.
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
	s.dropDeadConnections(err)
	if ctx.Err() != nil {
		return fmt.Errorf("append to stream %q: %w", streamID, errors.Join(ctx.Err(), err))
	}
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

// appendOnce runs an append statement and, after it commits, the
// sequencing step, in one round trip: a pipeline with a Sync after each,
// so that each runs in a transaction of its own. It returns how many
// events were inserted and the highest version it returned, if any. An error
// of the sequencing step is not the append's: its events are committed,
// and the next sequencing step, of any writer or reader, stamps them.
func (s *Store) appendOnce(ctx context.Context, sql string, args []any) (inserted, last int64, err error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer c.Release()
	conn := c.Conn()
	appendSD, err := conn.Prepare(ctx, sql, sql)
	if err != nil {
		return 0, 0, err
	}
	sequenceSD, err := conn.Prepare(ctx, s.sql.sequenceAfterAppend, s.sql.sequenceAfterAppend)
	if err != nil {
		return 0, 0, err
	}
	params, formats, err := encodeParams(conn, appendSD, args)
	if err != nil {
		return 0, 0, err
	}
	binaryResults := []int16{pgx.BinaryFormatCode}

	pl := conn.PgConn().StartPipeline(ctx)
	defer pl.Close()
	pl.SendQueryStatement(appendSD, params, formats, binaryResults)
	pl.SendPipelineSync()
	pl.SendQueryStatement(sequenceSD, nil, nil, binaryResults)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		return 0, 0, err
	}
	result, err := readResult(pl)
	if err != nil {
		return 0, 0, err
	}
	inserted = result.CommandTag.RowsAffected()
	for _, row := range result.Rows {
		if len(row) == 1 && len(row[0]) == 8 {
			last = max(last, int8Value(row[0]))
		}
	}
	// ReadyForQuery after the Sync confirms the commit.
	if err := readSync(pl); err != nil {
		return 0, 0, err
	}
	return inserted, last, nil
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

// readResult reads the result of one statement in a pipeline.
func readResult(pl *pgconn.Pipeline) (*pgconn.Result, error) {
	res, err := pl.GetResults()
	if err != nil {
		return nil, err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return nil, fmt.Errorf("pipeline: got %T, want a statement result", res)
	}
	result := rr.Read()
	return result, result.Err
}

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
