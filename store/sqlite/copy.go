package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

var (
	_ store.Exporter       = (*Store)(nil)
	_ store.Importer       = (*Store)(nil)
	_ store.LeaseInspector = (*Store)(nil)
)

// exportPage is how many rows an export reads per query. Each page is a
// query of its own, finished before its rows are handed out, so that no
// read transaction stays open while the caller works, and a caller may
// write to the store while it iterates (on an in-memory database, whose
// one connection does everything, it must).
const exportPage = 512

// Inventory implements [store.Exporter].
func (s *Store) Inventory(ctx context.Context) (store.Inventory, error) {
	if err := s.usable(ctx); err != nil {
		return store.Inventory{}, err
	}
	var inv store.Inventory
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM annals_events),
		(SELECT count(*) FROM annals_checkpoints),
		(SELECT count(*) FROM annals_snapshots),
		(SELECT count(*) FROM annals_view_states),
		(SELECT count(*) FROM annals_subject_keys)`).
		Scan(&inv.Events, &inv.Checkpoints, &inv.Snapshots, &inv.States, &inv.SubjectKeys)
	if err != nil {
		return store.Inventory{}, s.fail(fmt.Errorf("count what the store holds: %w", err))
	}
	return inv, nil
}

// exportPages yields the rows of a keyset-paged query: page(after) reads
// the rows after the cursor after and returns them with the cursor of
// the last one. The first cursor is the zero value, below every name,
// since names are never empty. Text columns compare in SQLite's BINARY
// collation, the byte order that store.Exporter promises.
func exportPages[T any, C any](ctx context.Context, s *Store, what string, page func(after C) ([]T, C, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		var cursor C
		for {
			if err := s.usable(ctx); err != nil {
				yield(zero, err)
				return
			}
			rows, next, err := page(cursor)
			if err != nil {
				yield(zero, s.fail(fmt.Errorf("export %s: %w", what, err)))
				return
			}
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
			}
			if len(rows) < exportPage {
				return
			}
			cursor = next
		}
	}
}

// ExportCheckpoints implements [store.Exporter].
func (s *Store) ExportCheckpoints(ctx context.Context) iter.Seq2[store.Checkpoint, error] {
	return exportPages(ctx, s, "checkpoints", func(after string) ([]store.Checkpoint, string, error) {
		rows, err := s.r.QueryContext(ctx, `SELECT consumer, position, recorded_at FROM annals_checkpoints
			WHERE consumer > ? ORDER BY consumer LIMIT ?`, after, exportPage)
		if err != nil {
			return nil, "", err
		}
		defer rows.Close()
		var out []store.Checkpoint
		for rows.Next() {
			var c store.Checkpoint
			var ns int64
			if err := rows.Scan(&c.Consumer, &c.Position, &ns); err != nil {
				return nil, "", err
			}
			c.Time = nanoTime(ns)
			out = append(out, c)
			after = c.Consumer
		}
		return out, after, rows.Err()
	})
}

// ExportSnapshots implements [store.Exporter].
func (s *Store) ExportSnapshots(ctx context.Context) iter.Seq2[snapshot.Snapshot, error] {
	return exportPages(ctx, s, "snapshots", func(after string) ([]snapshot.Snapshot, string, error) {
		rows, err := s.r.QueryContext(ctx, `SELECT stream_id, version, type, schema_version, taken_at, data, encoding FROM annals_snapshots
			WHERE stream_id > ? ORDER BY stream_id LIMIT ?`, after, exportPage)
		if err != nil {
			return nil, "", err
		}
		defer rows.Close()
		var out []snapshot.Snapshot
		for rows.Next() {
			var snap snapshot.Snapshot
			var taken sql.NullInt64
			if err := rows.Scan(&snap.StreamID, &snap.Version, &snap.Type, &snap.SchemaVersion, &taken, &snap.Data, &snap.Encoding); err != nil {
				return nil, "", err
			}
			if taken.Valid {
				snap.Time = time.Unix(0, taken.Int64).UTC()
			}
			if snap.Data == nil {
				snap.Data = []byte{}
			}
			out = append(out, snap)
			after = snap.StreamID
		}
		return out, after, rows.Err()
	})
}

// ExportStates implements [store.Exporter].
func (s *Store) ExportStates(ctx context.Context) iter.Seq2[store.State, error] {
	type cursor struct{ view, key string }
	return exportPages(ctx, s, "view states", func(after cursor) ([]store.State, cursor, error) {
		rows, err := s.r.QueryContext(ctx, `SELECT view_name, state_key, data FROM annals_view_states
			WHERE (view_name, state_key) > (?, ?) ORDER BY view_name, state_key LIMIT ?`, after.view, after.key, exportPage)
		if err != nil {
			return nil, after, err
		}
		defer rows.Close()
		var out []store.State
		for rows.Next() {
			var st store.State
			if err := rows.Scan(&st.View, &st.Key, &st.Data); err != nil {
				return nil, after, err
			}
			if st.Data == nil {
				st.Data = []byte{}
			}
			out = append(out, st)
			after = cursor{st.View, st.Key}
		}
		return out, after, rows.Err()
	})
}

// ExportSubjectKeys implements [store.Exporter].
func (s *Store) ExportSubjectKeys(ctx context.Context) iter.Seq2[store.SubjectKey, error] {
	return exportPages(ctx, s, "subject keys", func(after string) ([]store.SubjectKey, string, error) {
		rows, err := s.r.QueryContext(ctx, `SELECT subject, key_id, wrapped FROM annals_subject_keys
			WHERE subject > ? ORDER BY subject LIMIT ?`, after, exportPage)
		if err != nil {
			return nil, "", err
		}
		defer rows.Close()
		var out []store.SubjectKey
		for rows.Next() {
			var k store.SubjectKey
			if err := rows.Scan(&k.Subject, &k.KeyID, &k.Wrapped); err != nil {
				return nil, "", err
			}
			out = append(out, k)
			after = k.Subject
		}
		return out, after, rows.Err()
	})
}

// nanoTime reads a time stored as Unix nanoseconds; 0 is the zero time.
func nanoTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// timeNanos is the inverse of nanoTime, and refuses a time that Unix
// nanoseconds in an int64 cannot hold.
func timeNanos(what string, t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	if err := check.Time(t); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return t.UnixNano(), nil
}

// importColumns are the columns ImportEvents writes, position included.
const (
	importColumns = `position, event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata`
	importParams  = 10
	// importRows caps the rows of one INSERT: a statement is prepared
	// per import, and fewer, larger statements cost less to prepare and
	// run (SQLite takes up to 32,766 parameters).
	importRows = 1000
)

// ImportEvents implements [store.Importer]. One write transaction reads
// the head, checks that the records continue it, and inserts them with
// their positions, in multi-row INSERTs.
func (s *Store) ImportEvents(ctx context.Context, records []store.Record) error {
	if err := s.writable(ctx); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	// The rows' parameters are ready before the write lock is taken.
	args := make([]any, 0, len(records)*importParams)
	var meta metadataEncoder
	for _, r := range records {
		ns, err := timeNanos(fmt.Sprintf("import event %s@%d", r.StreamID, r.Version), r.Time)
		if err != nil {
			return err
		}
		if r.Time.IsZero() {
			return fmt.Errorf("import event %s@%d: it has no time: %w", r.StreamID, r.Version, store.ErrInvalid)
		}
		m, err := meta.encode(r.Metadata)
		if err != nil {
			return fmt.Errorf("import event %s@%d: metadata: %w", r.StreamID, r.Version, err)
		}
		data := r.Data
		if data == nil {
			data = []byte{}
		}
		id := r.ID
		args = append(args, r.Position, id[:], r.StreamID, r.Version, r.Type, int64(r.SchemaVersion), ns, data, r.Encoding, m)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var head int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM annals_events`).Scan(&head); err != nil {
			return fmt.Errorf("read the head: %w", err)
		}
		if err := check.Records(records, head); err != nil {
			return err
		}
		var stmt *sql.Stmt
		stmtRows := 0
		for start := 0; start < len(records); start += importRows {
			n := min(len(records)-start, importRows)
			if n != stmtRows {
				if stmt != nil {
					stmt.Close()
				}
				var err error
				if stmt, err = tx.PrepareContext(ctx, `INSERT INTO annals_events (`+importColumns+`) VALUES `+
					strings.Repeat(",(?,?,?,?,?,?,?,?,?,?)", n)[1:]); err != nil {
					return err
				}
				stmtRows = n
			}
			if _, err := stmt.ExecContext(ctx, args[start*importParams:(start+n)*importParams]...); err != nil {
				stmt.Close()
				return importError(err, records[start:start+n])
			}
		}
		if err := stmt.Close(); err != nil {
			return err
		}
		return importTags(ctx, tx, records)
	})
	if err != nil {
		return s.fail(fmt.Errorf("import %d events at positions %d to %d: %w", len(records), records[0].Position, records[len(records)-1].Position, err))
	}
	s.notify()
	return nil
}

// importTags keeps the tags of the imported records that have some, as
// an append of them would: on the event's row and in the tags table.
func importTags(ctx context.Context, tx *sql.Tx, records []store.Record) error {
	for _, r := range records {
		if len(r.Tags) == 0 {
			continue
		}
		tags, err := json.Marshal(r.Tags)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE annals_events SET tags = ? WHERE position = ?`, string(tags), r.Position); err != nil {
			return fmt.Errorf("import the tags of event %s@%d: %w", r.StreamID, r.Version, err)
		}
		for _, tag := range r.Tags {
			if _, err := tx.ExecContext(ctx, insertTagSQL, tag, r.Position, r.Type); err != nil {
				return fmt.Errorf("import the tags of event %s@%d: %w", r.StreamID, r.Version, err)
			}
		}
	}
	return nil
}

// importError names what a failed import insert collided with.
func importError(err error, records []store.Record) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return err
	}
	first, last := records[0], records[len(records)-1]
	switch msg := se.Error(); {
	case strings.Contains(msg, "annals_events.event_id"):
		return fmt.Errorf("an event ID of %s@%d … %s@%d is already stored: %w", first.StreamID, first.Version, last.StreamID, last.Version, store.ErrDuplicateEvent)
	case strings.Contains(msg, "annals_events.stream_id"):
		return fmt.Errorf("a stream version of %s@%d … %s@%d is already stored: %w", first.StreamID, first.Version, last.StreamID, last.Version, store.ErrConflict)
	}
	return err
}

// importEach runs query once per item in one write transaction, with the
// arguments args returns.
func importEach[T any](ctx context.Context, s *Store, what string, items []T, query string, args func(T) ([]any, error)) error {
	if err := s.writable(ctx); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, it := range items {
			a, err := args(it)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, a...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(fmt.Errorf("import %d %s: %w", len(items), what, err))
	}
	return nil
}

// ImportCheckpoints implements [store.Importer]. A checkpoint without a
// time gets the current time.
func (s *Store) ImportCheckpoints(ctx context.Context, cps []store.Checkpoint) error {
	now := time.Now()
	return importEach(ctx, s, "checkpoints", cps, `INSERT INTO annals_checkpoints (consumer, position, recorded_at, generation) VALUES (?1, ?2, ?3, 1)
		ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, recorded_at = excluded.recorded_at,
			generation = annals_checkpoints.generation + 1`,
		func(c store.Checkpoint) ([]any, error) {
			if err := check.ImportCheckpoint(c); err != nil {
				return nil, err
			}
			t := c.Time
			if t.IsZero() {
				t = now
			}
			ns, err := timeNanos(fmt.Sprintf("checkpoint of consumer %q", c.Consumer), t)
			return []any{c.Consumer, c.Position, ns}, err
		})
}

// DeleteCheckpoints implements [store.Importer].
func (s *Store) DeleteCheckpoints(ctx context.Context, consumers []string) error {
	for _, c := range consumers {
		if err := check.Consumer(c); err != nil {
			return fmt.Errorf("delete checkpoints: %w", err)
		}
	}
	if err := s.writable(ctx); err != nil {
		return err
	}
	if len(consumers) == 0 {
		return nil
	}
	names, err := json.Marshal(consumers)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM annals_checkpoints WHERE consumer IN (SELECT value FROM json_each(?))`, string(names))
		return err
	})
	if err != nil {
		return s.fail(fmt.Errorf("delete %d checkpoints: %w", len(consumers), err))
	}
	return nil
}

// ImportSnapshots implements [store.Importer].
func (s *Store) ImportSnapshots(ctx context.Context, snaps []snapshot.Snapshot) error {
	return importEach(ctx, s, "snapshots", snaps, `INSERT INTO annals_snapshots (stream_id, version, type, schema_version, taken_at, data, encoding)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
		ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, type = excluded.type,
			schema_version = excluded.schema_version, taken_at = excluded.taken_at, data = excluded.data, encoding = excluded.encoding`,
		func(snap snapshot.Snapshot) ([]any, error) {
			if err := check.Snapshot(snap); err != nil {
				return nil, err
			}
			var taken any // NULL for the zero time
			if !snap.Time.IsZero() {
				ns, err := timeNanos(fmt.Sprintf("snapshot of stream %q", snap.StreamID), snap.Time)
				if err != nil {
					return nil, err
				}
				taken = ns
			}
			data := snap.Data
			if data == nil {
				data = []byte{}
			}
			return []any{snap.StreamID, snap.Version, snap.Type, int64(snap.SchemaVersion), taken, data, snap.Encoding}, nil
		})
}

// ImportStates implements [store.Importer].
func (s *Store) ImportStates(ctx context.Context, states []store.State) error {
	return importEach(ctx, s, "view states", states, `INSERT INTO annals_view_states (view_name, state_key, data) VALUES (?1, ?2, ?3)
		ON CONFLICT (view_name, state_key) DO UPDATE SET data = excluded.data`,
		func(st store.State) ([]any, error) {
			if err := check.State(st.View, st.Key); err != nil {
				return nil, err
			}
			data := st.Data
			if data == nil {
				data = []byte{}
			}
			return []any{st.View, st.Key, data}, nil
		})
}

// ImportSubjectKeys implements [store.Importer].
func (s *Store) ImportSubjectKeys(ctx context.Context, keys []store.SubjectKey) error {
	now := time.Now().UnixNano()
	return importEach(ctx, s, "subject keys", keys, `INSERT INTO annals_subject_keys (subject, key_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (subject) DO UPDATE SET key_id = excluded.key_id, wrapped = excluded.wrapped`,
		func(k store.SubjectKey) ([]any, error) {
			if err := check.SubjectKey(k); err != nil {
				return nil, err
			}
			return []any{k.Subject, k.KeyID, k.Wrapped, now}, nil
		})
}

// TimePrecision implements [store.Importer]: SQLite keeps times as Unix
// nanoseconds.
func (s *Store) TimePrecision() time.Duration { return time.Nanosecond }

// LeaseHolder implements [store.LeaseInspector]. A lease is held by the
// random token of the Store value that took it, and lasts until it
// expires unrenewed; the file does not record which process that is.
func (s *Store) LeaseHolder(ctx context.Context, name string) (store.LeaseHolder, bool, error) {
	if err := s.usable(ctx); err != nil {
		return store.LeaseHolder{}, false, err
	}
	var owner []byte
	var expires int64
	err := s.r.QueryRowContext(ctx, `SELECT owner, expires_at FROM annals_leases WHERE name = ? AND expires_at > ?`,
		name, time.Now().UnixNano()).Scan(&owner, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.LeaseHolder{}, false, nil
	}
	if err != nil {
		return store.LeaseHolder{}, false, s.fail(fmt.Errorf("read lease %q: %w", name, err))
	}
	token, err := uuid.FromBytes(owner)
	if err != nil {
		return store.LeaseHolder{}, false, fmt.Errorf("read lease %q: owner token: %w", name, err)
	}
	return store.LeaseHolder{Holder: "token " + token.String(), Expires: time.Unix(0, expires).UTC()}, true, nil
}
