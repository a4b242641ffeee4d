package storecopy_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/internal/workload"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// copyEvents is the size of the log the copy benchmark copies, at scale 1.
const copyEvents = 20_000

// BenchmarkCopy copies a SQLite store of copyEvents events (in 1,000
// streams, with metadata) to a new store: "lib" is storecopy.Copy, which
// reads the source, writes the target and verifies the copy by reading
// both logs again; "raw" is the baseline, the same records, read from the
// source beforehand, inserted into the target's event table with the
// driver alone, in batches of the same size, one transaction each, as
// the fastest bulk insert of that driver does it (COPY for PostgreSQL,
// multi-row INSERT for SQLite). Creating each empty target is not
// timed. Both report the processor time of the process (cpu-ns/op),
// which a machine shared with other work disturbs less than the elapsed
// time; for PostgreSQL it leaves out the server's.
func BenchmarkCopy(b *testing.B) {
	ctx := context.Background()
	n := workload.Size(b, copyEvents)
	src := open(b, "sqlite://"+filepath.Join(b.TempDir(), "src.db")+"?synchronous=normal")
	const streams = 1000
	per := map[string]int64{}
	for i := 0; i < n; {
		id := fmt.Sprintf("account-%04d", (i/10)%streams)
		batch := make([]store.Event, min(10, n-i))
		for j := range batch {
			batch[j] = store.Event{Type: "Deposited", Data: fmt.Appendf(nil, `{"account":%q,"amount":%d,"note":"a deposit of the benchmark"}`, id, i+j),
				Metadata: store.Metadata{CorrelationID: fmt.Sprint("corr-", i), CausationID: fmt.Sprint("cause-", i)}}
		}
		v, err := src.Append(ctx, id, per[id], batch)
		if err != nil {
			b.Fatal(err)
		}
		per[id] = v
		i += len(batch)
	}
	var recs []store.Record
	for after := int64(0); ; {
		page, err := src.ReadLog(ctx, store.LogQuery{After: after, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		recs = append(recs, page...)
		after = page[len(page)-1].Position
	}

	targets := []struct {
		name string
		new  func(b *testing.B) (url string, raw func([]store.Record) error)
	}{
		{"sqlite", func(b *testing.B) (string, func([]store.Record) error) {
			url := "sqlite://" + filepath.Join(b.TempDir(), fmt.Sprint("dst-", b.N, ".db"))
			s := open(b, url) // creates the tables
			s.Close()
			db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://")+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=5000")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return url, func(batch []store.Record) error { return rawSQLite(ctx, db, batch) }
		}},
		{"postgres", func(b *testing.B) (string, func([]store.Record) error) {
			d := pgtest.New(b)
			url := d.URL + "&schema=" + d.Schema
			s, err := postgres.Open(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return url, func(batch []store.Record) error { return rawPostgres(ctx, s.Pool(), d.Schema, batch) }
		}},
	}
	for _, target := range targets {
		b.Run(target.name+"/from-sqlite/lib", func(b *testing.B) {
			var cpu time.Duration
			for range b.N {
				b.StopTimer()
				url, _ := target.new(b)
				dst := open(b, url)
				b.StartTimer()
				start := workload.CPUTime(b)
				if _, err := storecopy.Copy(ctx, src, dst, storecopy.Options{}); err != nil {
					b.Fatal(err)
				}
				cpu += workload.CPUTime(b) - start
			}
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(n), "events/op")
		})
		b.Run(target.name+"/from-sqlite/raw", func(b *testing.B) {
			var cpu time.Duration
			for range b.N {
				b.StopTimer()
				_, raw := target.new(b)
				b.StartTimer()
				start := workload.CPUTime(b)
				for start := 0; start < len(recs); start += storecopy.DefaultBatch {
					if err := raw(recs[start:min(start+storecopy.DefaultBatch, len(recs))]); err != nil {
						b.Fatal(err)
					}
				}
				cpu += workload.CPUTime(b) - start
			}
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(n), "events/op")
		})
	}
}

// rawSQLite inserts records into annals_events with multi-row INSERTs of
// up to 256 rows, in one transaction.
func rawSQLite(ctx context.Context, db *sql.DB, recs []store.Record) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for start := 0; start < len(recs); start += 256 {
		chunk := recs[start:min(start+256, len(recs))]
		args := make([]any, 0, 10*len(chunk))
		for _, r := range chunk {
			meta, err := json.Marshal(r.Metadata)
			if err != nil {
				return err
			}
			args = append(args, r.Position, r.ID[:], r.StreamID, r.Version, r.Type, r.SchemaVersion, r.Time.UnixNano(), r.Data, r.Encoding, string(meta))
		}
		q := `INSERT INTO annals_events (position, event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata) VALUES ` +
			strings.Repeat(",(?,?,?,?,?,?,?,?,?,?)", len(chunk))[1:]
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// rawPostgres inserts records into the events table with COPY, in one
// transaction.
func rawPostgres(ctx context.Context, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, schema string, recs []store.Record) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	rows := make([][]any, len(recs))
	for i, r := range recs {
		rows[i] = []any{r.Position, r.StreamID, r.Version, [16]byte(r.ID), r.Type, int32(r.SchemaVersion), r.Time, r.Data, r.Encoding,
			r.Metadata.CorrelationID, r.Metadata.CausationID, nil}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, "annals_events"}, []string{"position", "stream_id", "version", "event_id", "type",
		"schema_version", "recorded_at", "data", "encoding", "correlation_id", "causation_id", "extra"}, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
