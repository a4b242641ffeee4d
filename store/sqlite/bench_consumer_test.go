package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/view"
)

// catchUpEvents is how many events each catch-up of BenchmarkCatchUp
// handles: benchStreams streams of catchUpEvents/benchStreams events.
const catchUpEvents = 20_000

// seedLog opens a store on a new file holding catchUpEvents events.
func seedLog(b *testing.B) *Store {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "log.db"), WithSynchronous(SyncNormal))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	per := catchUpEvents / benchStreams
	for round := range 4 {
		for i := range benchStreams {
			if _, err := s.Append(ctx, fmt.Sprintf("dog-%d", i), store.AnyVersion, benchEvents(per/4)); err != nil {
				b.Fatal(err)
			}
		}
		_ = round
	}
	return s
}

// The CatchUp benchmarks measure a consumer reading the whole global log
// and handling every event, against baselines in the same run. One
// operation is a catch-up of all catchUpEvents events; compare the
// events/s of each with raw-read, which reads the same rows in pages of
// DefaultBatchSize through database/sql by hand, and the projections that
// write a row per event with raw-read-insert, which does the same inserts
// in one hand-made transaction per page:
//
//	go test -run '^$' -bench CatchUp -benchtime 5x -count 3 ./store/sqlite
func BenchmarkCatchUp(b *testing.B) {
	const page = store.DefaultBatchSize
	ctx := context.Background()
	s := seedLog(b)

	b.Run("raw-read", func(b *testing.B) {
		st, err := s.r.PrepareContext(ctx, `SELECT `+recordColumns+` FROM annals_events WHERE position > ? ORDER BY position LIMIT ?`)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchCatchUp(b, func() int { return rawRead(b, st, page, nil) })
	})
	b.Run("readlog", func(b *testing.B) {
		benchCatchUp(b, func() int {
			n := 0
			for after := int64(0); ; {
				recs, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: page})
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) == 0 {
					return n
				}
				n += len(recs)
				after = recs[len(recs)-1].Position
			}
		})
	})
	b.Run("projection-sql-noop", func(b *testing.B) {
		p := store.NewProjection(s, s.SQL(), "noop", func(context.Context, *sql.Tx, store.Record) error { return nil })
		benchCatchUp(b, func() int { return rebuild(b, p, func(context.Context, *sql.Tx) error { return nil }) })
	})

	createSeen := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS seen (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL);
			DELETE FROM seen`)
		return err
	}
	b.Run("raw-read-insert", func(b *testing.B) {
		st, err := s.r.PrepareContext(ctx, `SELECT `+recordColumns+` FROM annals_events WHERE position > ? ORDER BY position LIMIT ?`)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchCatchUp(b, func() int {
			tx, err := s.w.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := createSeen(ctx, tx); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			return rawRead(b, st, page, func(rows []rawRow) {
				tx, err := s.w.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				ins, err := tx.PrepareContext(ctx, `INSERT INTO seen (position, stream, version) VALUES (?, ?, ?)`)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range rows {
					if _, err := ins.ExecContext(ctx, r.position, r.stream, r.version); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO annals_checkpoints (consumer, position, recorded_at) VALUES ('raw', ?, ?)
					ON CONFLICT (consumer) DO UPDATE SET position = excluded.position`, rows[len(rows)-1].position, time.Now().UnixNano()); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			})
		})
	})
	b.Run("projection-sql-insert", func(b *testing.B) {
		var cur *sql.Tx
		var ins *sql.Stmt
		p := store.NewProjection(s, s.SQL(), "insert", func(ctx context.Context, tx *sql.Tx, r store.Record) error {
			if tx != cur {
				var err error
				if ins, err = tx.PrepareContext(ctx, `INSERT INTO seen (position, stream, version) VALUES (?, ?, ?)`); err != nil {
					return err
				}
				cur = tx
			}
			_, err := ins.ExecContext(ctx, r.Position, r.StreamID, r.Version)
			return err
		})
		benchCatchUp(b, func() int { return rebuild(b, p, createSeen) })
	})
	b.Run("view-projection", func(b *testing.B) {
		type trick struct {
			Trick string `json:"trick"`
		}
		codec := store.NewJSONCodec[trick]().Register("TrickAdded", trick{})
		count := view.View[int, trick]{Evolve: func(n int, _ trick) int { return n + 1 }}
		p := store.NewViewProjection(s, "tricks", count, codec, func(r store.Record, _ trick) (string, bool) { return r.StreamID, true })
		benchCatchUp(b, func() int {
			return rebuild(b, p.Projection, func(ctx context.Context, tx store.StateTx) error { return tx.DeleteStates(ctx, "tricks") })
		})
	})
}

func benchCatchUp(b *testing.B, catchUp func() int) {
	b.ReportAllocs()
	defer reportCPU(b)()
	start := time.Now()
	events := 0
	for b.Loop() {
		n := catchUp()
		if n != catchUpEvents {
			b.Fatalf("caught up %d events, want %d", n, catchUpEvents)
		}
		events += n
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}

func rebuild[T any](b *testing.B, p *store.Projection[T], reset func(context.Context, T) error) int {
	n := 0
	err := p.Rebuild(context.Background(), reset, func(pr store.Progress) { n = pr.Events })
	if err != nil {
		b.Fatal(err)
	}
	return n
}

type rawRow struct {
	position, version int64
	stream            string
}

// rawRead reads the log in pages as the store does, scanning every column
// of the records, and hands each page to handle.
func rawRead(b *testing.B, st *sql.Stmt, page int, handle func([]rawRow)) int {
	ctx := context.Background()
	n := 0
	rows := make([]rawRow, 0, page)
	for after := int64(0); ; {
		rs, err := st.QueryContext(ctx, after, page)
		if err != nil {
			b.Fatal(err)
		}
		rows = rows[:0]
		for rs.Next() {
			var (
				r                  rawRow
				id, data, meta     []byte
				typ, encoding      string
				schema, recordedAt int64
			)
			if err := rs.Scan(&r.position, &id, &r.stream, &r.version, &typ, &schema, &recordedAt, &data, &encoding, &meta); err != nil {
				b.Fatal(err)
			}
			if _, err := uuid.FromBytes(id); err != nil {
				b.Fatal(err)
			}
			rows = append(rows, r)
		}
		if err := rs.Err(); err != nil {
			b.Fatal(err)
		}
		rs.Close()
		if len(rows) == 0 {
			return n
		}
		if handle != nil {
			handle(rows)
		}
		n += len(rows)
		after = rows[len(rows)-1].position
	}
}

// BenchmarkSnapshot saves and loads a snapshot of about 1 KiB, through the
// store and by hand with the same statements on the same connections.
func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "snap.db"), WithSynchronous(SyncNormal))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	snap := snapshot.Snapshot{StreamID: "account-1", Type: "Account", SchemaVersion: 1, Time: time.Now().UTC(), Data: make([]byte, 1024)}
	var version int64
	b.Run("save/store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			version++
			snap.Version = version
			if err := s.SaveSnapshot(ctx, snap); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("save/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			version++
			if _, err := s.saveSnapshot.ExecContext(ctx, snap.StreamID, version, snap.Type, int64(1), snap.Time.UnixNano(), snap.Data, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load/store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := s.LatestSnapshot(ctx, "account-1"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("load/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v, sv int64
			var typ, enc string
			var taken sql.NullInt64
			var data []byte
			if err := s.latestSnapshot.QueryRowContext(ctx, "account-1").Scan(&v, &typ, &sv, &taken, &data, &enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
