package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

var (
	_ store.Exporter       = (*Store)(nil)
	_ store.Importer       = (*Store)(nil)
	_ store.LeaseInspector = (*Store)(nil)
)

// Inventory implements [store.Exporter]. It counts every row, so it
// reads every table through.
func (s *Store) Inventory(ctx context.Context) (store.Inventory, error) {
	if err := ctx.Err(); err != nil {
		return store.Inventory{}, err
	}
	var inv store.Inventory
	q := `SELECT (SELECT count(*) FROM ` + s.n.events + `), (SELECT count(*) FROM ` + s.n.checkpoints + `),
		(SELECT count(*) FROM ` + s.n.snapshots + `), (SELECT count(*) FROM ` + s.n.states + `),
		(SELECT count(*) FROM ` + s.n.subjectKeys + `)`
	err := s.retry(ctx, func() error {
		return s.pool.QueryRow(ctx, q).Scan(&inv.Events, &inv.Checkpoints, &inv.Snapshots, &inv.States, &inv.SubjectKeys)
	})
	if err != nil {
		return store.Inventory{}, fmt.Errorf("count what the store holds: %w", err)
	}
	return inv, nil
}

// export yields the rows of one query, streamed as the caller iterates,
// in one snapshot of the database. The queries order by COLLATE "C",
// the byte order that store.Exporter promises, whatever the database's
// collation.
func export[T any](ctx context.Context, s *Store, what, query string, scan func(pgx.Rows) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if err := ctx.Err(); err != nil {
			yield(zero, err)
			return
		}
		if err := s.refuseClosedRead(); err != nil {
			yield(zero, fmt.Errorf("export %s: %w", what, err))
			return
		}
		rows, err := s.pool.Query(ctx, query)
		if err != nil {
			yield(zero, fmt.Errorf("export %s: %w", what, s.closedRead(err)))
			return
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				yield(zero, fmt.Errorf("export %s: %w", what, s.closedRead(err)))
				return
			}
			if !yield(v, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(zero, fmt.Errorf("export %s: %w", what, s.closedRead(err)))
		}
	}
}

// ExportCheckpoints implements [store.Exporter].
func (s *Store) ExportCheckpoints(ctx context.Context) iter.Seq2[store.Checkpoint, error] {
	return export(ctx, s, "checkpoints", `SELECT consumer, position, updated_at FROM `+s.n.checkpoints+` ORDER BY consumer COLLATE "C"`,
		func(rows pgx.Rows) (store.Checkpoint, error) {
			var c store.Checkpoint
			err := rows.Scan(&c.Consumer, &c.Position, &c.Time)
			c.Time = c.Time.UTC()
			return c, err
		})
}

// ExportSnapshots implements [store.Exporter].
func (s *Store) ExportSnapshots(ctx context.Context) iter.Seq2[snapshot.Snapshot, error] {
	return export(ctx, s, "snapshots", `SELECT stream_id, version, type, schema_version, taken_at, data, encoding FROM `+s.n.snapshots+` ORDER BY stream_id COLLATE "C"`,
		func(rows pgx.Rows) (snapshot.Snapshot, error) {
			var snap snapshot.Snapshot
			var schema int32
			var taken pgtype.Timestamptz
			err := rows.Scan(&snap.StreamID, &snap.Version, &snap.Type, &schema, &taken, &snap.Data, &snap.Encoding)
			snap.SchemaVersion, snap.Time = int(schema), taken.Time.UTC()
			if snap.Data == nil {
				snap.Data = []byte{}
			}
			return snap, err
		})
}

// ExportStates implements [store.Exporter].
func (s *Store) ExportStates(ctx context.Context) iter.Seq2[store.State, error] {
	return export(ctx, s, "view states", `SELECT view_name, state_key, data FROM `+s.n.states+` ORDER BY view_name COLLATE "C", state_key COLLATE "C"`,
		func(rows pgx.Rows) (store.State, error) {
			var st store.State
			err := rows.Scan(&st.View, &st.Key, &st.Data)
			if st.Data == nil {
				st.Data = []byte{}
			}
			return st, err
		})
}

// ExportSubjectKeys implements [store.Exporter].
func (s *Store) ExportSubjectKeys(ctx context.Context) iter.Seq2[store.SubjectKey, error] {
	return export(ctx, s, "subject keys", `SELECT subject, key_id, wrapped FROM `+s.n.subjectKeys+` ORDER BY subject COLLATE "C"`,
		func(rows pgx.Rows) (store.SubjectKey, error) {
			var k store.SubjectKey
			err := rows.Scan(&k.Subject, &k.KeyID, &k.Wrapped)
			return k, err
		})
}

// importedTags is the tags column of an imported record: NULL for one
// without tags, as an append leaves it.
func importedTags(tags []string) any {
	if len(tags) == 0 {
		return nil
	}
	return tags
}

// importColumns are the columns of the events table that ImportEvents
// writes; txid takes its default.
var importColumns = []string{"position", "stream_id", "version", "event_id", "type", "schema_version", "recorded_at",
	"data", "encoding", "correlation_id", "causation_id", "extra", "tags"}

// ImportEvents implements [store.Importer]. One transaction takes the
// sequencer lock, reads the head from log_head, checks that the records
// continue it, writes them with their positions (COPY) and their ranges
// of the log, and moves log_head past them; after the commit a
// notification wakes waiting consumers. Holding the sequencer lock, it numbers events as the
// sequencing step would, so appends by others meanwhile are numbered
// after them. Times are truncated to microseconds, PostgreSQL's
// resolution.
func (s *Store) ImportEvents(ctx context.Context, records []store.Record) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	rows := make([][]any, len(records))
	for i, r := range records {
		var extra any
		if len(r.Metadata.Extra) > 0 {
			b, err := json.Marshal(r.Metadata.Extra)
			if err != nil {
				return fmt.Errorf("import event %s@%d: metadata: %w", r.StreamID, r.Version, err)
			}
			extra = b
		}
		if r.SchemaVersion > 1<<31-1 {
			return fmt.Errorf("import event %s@%d: schema version %d does not fit the integer column: %w", r.StreamID, r.Version, r.SchemaVersion, store.ErrInvalid)
		}
		data := r.Data
		if data == nil {
			data = []byte{}
		}
		// The ID as [16]byte: pgx encodes it directly, where a uuid.UUID
		// goes through its driver.Valuer, a string.
		rows[i] = []any{r.Position, r.StreamID, r.Version, [16]byte(r.ID), r.Type, int32(r.SchemaVersion), r.Time.Truncate(time.Microsecond),
			data, r.Encoding, r.Metadata.CorrelationID, r.Metadata.CausationID, extra, importedTags(r.Tags)}
	}
	last := records[len(records)-1].Position
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var head int64
		if err := tx.QueryRow(ctx, `SELECT pg_advisory_xact_lock($1), (SELECT position FROM `+s.n.logHead+`)`, s.n.sequenceLock).Scan(nil, &head); err != nil {
			return fmt.Errorf("take the sequencer lock: %w", err)
		}
		if err := check.Records(records, head); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.n.schema, s.n.prefix + "events"}, importColumns, pgx.CopyFromRows(rows)); err != nil {
			return s.importError(err)
		}
		if _, err := tx.Exec(ctx, s.n.importRangesSQL()); err != nil {
			return fmt.Errorf("write the ranges of the log: %w", err)
		}
		if _, err := tx.Exec(ctx, s.n.importHeadSQL(), last); err != nil {
			return fmt.Errorf("move the head: %w", err)
		}
		return nil
	})
	if err != nil {
		s.dropDeadConnections(ctx, err)
		return fmt.Errorf("import %d events at positions %d to %d: %w", len(records), records[0].Position, last, err)
	}
	// Committed: a failed notification only delays waiting consumers
	// until their recheck (see defaultRecheck).
	_, _ = s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.n.channel, fmt.Sprint(last))
	return nil
}

// importRangesSQL writes the ranges of the log (see migration7) of the
// events the transaction imported, which it finds by its own id.
func (n names) importRangesSQL() string {
	return rangesOf(n, `(SELECT txid, stream_id, version, position FROM `+n.events+
		` WHERE txid = pg_current_xact_id()) AS u(txid, stream_id, version, n)`)
}

// importHeadSQL moves the head to $1, past the imported events, and the
// horizon past the importing transaction, whose events have positions:
// the pending events are those of the transactions at or above the
// horizon or in inflight, and none of those may have a position (see
// migration7). The transactions between the old horizon and the
// importing one that may have pending events join inflight: those in
// progress, in one snapshot with those committed with events. The
// sequencer lock, held, keeps every step out meanwhile.
func (n names) importHeadSQL() string {
	return `UPDATE ` + n.logHead + ` SET position = $1,
	horizon = greatest(horizon, (pg_current_xact_id()::text::numeric + 1)::text::xid8),
	inflight = ARRAY(
		SELECT x FROM unnest(inflight) x WHERE x <> pg_current_xact_id()
		UNION
		SELECT x FROM pg_snapshot_xip(pg_current_snapshot()) x WHERE x >= horizon AND x < pg_current_xact_id()
		UNION
		SELECT txid FROM ` + n.events + ` WHERE txid >= horizon AND txid < pg_current_xact_id()
		ORDER BY 1)`
}

// importError names what a failed import collided with.
func (s *Store) importError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case s.n.eventIDKey:
			return fmt.Errorf("an event ID is already stored (%s): %w", pgErr.Detail, store.ErrDuplicateEvent)
		case s.n.pkey:
			return fmt.Errorf("a stream version is already stored (%s): %w", pgErr.Detail, store.ErrConflict)
		}
	}
	return err
}

// importRows runs one statement over arrays of the items' columns, in a
// transaction of its own.
func (s *Store) importRows(ctx context.Context, what string, n int, query string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, query, args...); err != nil {
		s.dropDeadConnections(ctx, err)
		return fmt.Errorf("import %d %s: %w", n, what, err)
	}
	return nil
}

// ImportCheckpoints implements [store.Importer]. A checkpoint without a
// time gets the current time.
func (s *Store) ImportCheckpoints(ctx context.Context, cps []store.Checkpoint) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	names, positions, times := make([]string, len(cps)), make([]int64, len(cps)), make([]*time.Time, len(cps))
	for i, c := range cps {
		if err := check.ImportCheckpoint(c); err != nil {
			return err
		}
		names[i], positions[i] = c.Consumer, c.Position
		if !c.Time.IsZero() {
			t := c.Time
			times[i] = &t
		}
	}
	return s.importRows(ctx, "checkpoints", len(cps), `INSERT INTO `+s.n.checkpoints+` AS c (consumer, position, updated_at)
SELECT n, p, coalesce(t, now()) FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS u(n, p, t)
ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`, names, positions, times)
}

// DeleteCheckpoints implements [store.Importer].
func (s *Store) DeleteCheckpoints(ctx context.Context, consumers []string) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	for _, c := range consumers {
		if err := check.Consumer(c); err != nil {
			return fmt.Errorf("delete checkpoints: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(consumers) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.n.checkpoints+` WHERE consumer = ANY($1::text[])`, consumers); err != nil {
		s.dropDeadConnections(ctx, err)
		return fmt.Errorf("delete %d checkpoints: %w", len(consumers), err)
	}
	return nil
}

// ImportSnapshots implements [store.Importer].
func (s *Store) ImportSnapshots(ctx context.Context, snaps []snapshot.Snapshot) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	n := len(snaps)
	ids, versions, types, schemas := make([]string, n), make([]int64, n), make([]string, n), make([]int32, n)
	times, data, encodings := make([]time.Time, n), make([][]byte, n), make([]string, n)
	for i, snap := range snaps {
		if err := check.Snapshot(snap); err != nil {
			return err
		}
		if snap.SchemaVersion > 1<<31-1 {
			return fmt.Errorf("snapshot of stream %q: schema version %d does not fit the integer column: %w", snap.StreamID, snap.SchemaVersion, store.ErrInvalid)
		}
		ids[i], versions[i], types[i], schemas[i] = snap.StreamID, snap.Version, snap.Type, int32(snap.SchemaVersion)
		times[i], data[i], encodings[i] = snap.Time.UTC().Truncate(time.Microsecond), snap.Data, snap.Encoding
		if data[i] == nil {
			data[i] = []byte{}
		}
	}
	return s.importRows(ctx, "snapshots", n, `INSERT INTO `+s.n.snapshots+` (stream_id, version, type, schema_version, taken_at, data, encoding)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::timestamptz[], $6::bytea[], $7::text[])
ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, type = excluded.type,
	schema_version = excluded.schema_version, taken_at = excluded.taken_at, data = excluded.data, encoding = excluded.encoding`,
		ids, versions, types, schemas, times, data, encodings)
}

// ImportStates implements [store.Importer].
func (s *Store) ImportStates(ctx context.Context, states []store.State) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	views, keys, data := make([]string, len(states)), make([]string, len(states)), make([][]byte, len(states))
	for i, st := range states {
		if err := check.State(st.View, st.Key); err != nil {
			return err
		}
		views[i], keys[i], data[i] = st.View, st.Key, st.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
	}
	return s.importRows(ctx, "view states", len(states), `INSERT INTO `+s.n.states+` (view_name, state_key, data)
SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
ON CONFLICT (view_name, state_key) DO UPDATE SET data = excluded.data, updated_at = now()`, views, keys, data)
}

// ImportSubjectKeys implements [store.Importer].
func (s *Store) ImportSubjectKeys(ctx context.Context, keys []store.SubjectKey) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	subjects, ids, wrapped := make([]string, len(keys)), make([]string, len(keys)), make([][]byte, len(keys))
	for i, k := range keys {
		if err := check.SubjectKey(k); err != nil {
			return err
		}
		subjects[i], ids[i], wrapped[i] = k.Subject, k.KeyID, k.Wrapped
	}
	return s.importRows(ctx, "subject keys", len(keys), `INSERT INTO `+s.n.subjectKeys+` (subject, key_id, wrapped)
SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
ON CONFLICT (subject) DO UPDATE SET key_id = excluded.key_id, wrapped = excluded.wrapped`, subjects, ids, wrapped)
}

// TimePrecision implements [store.Importer]: timestamptz keeps
// microseconds.
func (s *Store) TimePrecision() time.Duration { return time.Microsecond }

// LeaseHolder implements [store.LeaseInspector]: the session that holds
// the lease's advisory lock, from pg_locks and pg_stat_activity. Without
// the pg_read_all_stats role, PostgreSQL hides the application name and
// address of other users' sessions; the process ID is always shown.
func (s *Store) LeaseHolder(ctx context.Context, name string) (store.LeaseHolder, bool, error) {
	if err := check.Consumer(name); err != nil {
		return store.LeaseHolder{}, false, fmt.Errorf("lease holder: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return store.LeaseHolder{}, false, err
	}
	k1, k2 := s.n.leaseKey(name)
	var (
		pid         int32
		app, client string
		since       pgtype.Timestamptz
	)
	err := s.retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT l.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), ''), a.backend_start
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
	AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND l.classid::bigint = $1 AND l.objid::bigint = $2
LIMIT 1`, int64(uint32(k1)), int64(uint32(k2))).Scan(&pid, &app, &client, &since)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.LeaseHolder{}, false, nil
	}
	if err != nil {
		return store.LeaseHolder{}, false, fmt.Errorf("read lease %q: %w", name, err)
	}
	parts := []string{fmt.Sprintf("session pid %d", pid)}
	if app != "" {
		parts = append(parts, "application "+app)
	}
	if client != "" {
		parts = append(parts, "from "+client)
	}
	h := store.LeaseHolder{Holder: strings.Join(parts, ", ")}
	if since.Valid {
		h.Since = since.Time.UTC()
	}
	return h, true, nil
}

// Exists reports whether the database a URL names holds a store's tables
// (of the schema and prefix the URL gives: its record of schema steps or
// its events table), without creating anything:
// [Open] creates them, so a tool that only inspects a store asks first.
// It connects once, outside any pool.
func Exists(ctx context.Context, rawURL string) (bool, error) {
	connURL, c, err := parseURL(rawURL)
	if err != nil {
		return false, err
	}
	n, err := newNames(c.schema, c.prefix)
	if err != nil {
		return false, err
	}
	// The URL is a pool's: its pool settings (pool_max_conns…) are the
	// pool's to read, and a lone connection would send them to the
	// server as settings of its session, which refuses them.
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		return false, fmt.Errorf("postgres store: %v: %w", err, store.ErrInvalid)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return false, connectErr(unknownParam(fmt.Errorf("postgres store: %w", err)))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	// The events table alone counts: Open then says what is wrong with a
	// store whose record of steps is gone, rather than the caller that
	// there is no store.
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL OR to_regclass($2) IS NOT NULL`, n.migrations, n.events).Scan(&exists); err != nil {
		return false, fmt.Errorf("postgres store: look for the store's tables: %w", err)
	}
	return exists, nil
}
