package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/view"
)

// Sizes of the projection benchmark's log: benchStreams streams of
// benchPerStream events each, read in pages of benchPage.
const (
	benchStreams   = 1000
	benchPerStream = 20
	benchPage      = store.DefaultBatchSize
)

type benchPlaced struct {
	Amount int `json:"amount"`
}

type benchTotal struct {
	Events, Amount int
}

// BenchmarkProjectionCatchUp rebuilds read models over a log of 20,000
// events on 1,000 streams, in turns, so that load from elsewhere falls on
// all variants alike, and reports the ns per event of each and its
// throughput as a fraction of reading the log raw (below 1: slower):
//
//   - raw-read: pgx reading the events table in pages of 500, decoding
//     every column, and nothing else: the most a consumer can go;
//   - library-read: Store.ReadLog over the same pages;
//   - raw-states: pgx reading the pages and, per page in one
//     transaction, reading the states the page touches in one query and
//     upserting them in one statement: a hand-written projection into a
//     table like the store's states;
//   - view: a store.ViewProjection keeping one state per stream in the
//     store's states table, with its checkpoint;
//   - sql: a store.Projection through Store.SQL, upserting one row per
//     event into the application's own table (one statement per event,
//     as a handler of single events does).
func BenchmarkProjectionCatchUp(b *testing.B) {
	ctx := context.Background()
	db := pgtest.New(b)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	codec := store.NewJSONCodec[benchPlaced]().Register("Placed", benchPlaced{})
	for i := range benchStreams {
		events := make([]store.Event, benchPerStream)
		for j := range events {
			events[j] = store.Event{Type: "Placed", Data: fmt.Appendf(nil, `{"amount":%d}`, j)}
		}
		if _, err := s.Append(ctx, fmt.Sprint("order-", i), store.NoStream, events); err != nil {
			b.Fatal(err)
		}
	}
	const total = benchStreams * benchPerStream
	// Appends leave the log to be numbered by its first reader; number it
	// now, so that every variant reads the same numbered log
	// (BenchmarkLogFirstRead measures the numbering).
	if head, err := s.Head(ctx); err != nil || head != total {
		b.Fatalf("head %d, %v; want %d", head, err, total)
	}
	pool := s.Pool()
	q := func(name string) string { return pgx.Identifier{db.Schema, name}.Sanitize() }
	for _, sql := range []string{
		`CREATE TABLE ` + q("raw_states") + ` (view_name text, state_key text, data bytea NOT NULL, PRIMARY KEY (view_name, state_key))`,
		`CREATE TABLE ` + q("order_totals") + ` (order_id text PRIMARY KEY, events int NOT NULL, amount bigint NOT NULL)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}

	rawPage := `SELECT position, stream_id, version, event_id, type, schema_version, recorded_at, data, encoding, correlation_id, causation_id, extra
		FROM ` + q("annals_events") + ` WHERE position > $1 ORDER BY position LIMIT $2`
	readRaw := func(after int64, visit func(stream string, data []byte)) (int64, int, error) {
		rows, err := pool.Query(ctx, rawPage, after, benchPage)
		if err != nil {
			return 0, 0, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var r store.Record
			var extra []byte
			if err := rows.Scan(&r.Position, &r.StreamID, &r.Version, &r.ID, &r.Type, &r.SchemaVersion, &r.Time,
				&r.Data, &r.Encoding, &r.Metadata.CorrelationID, &r.Metadata.CausationID, &extra); err != nil {
				return 0, 0, err
			}
			after, n = r.Position, n+1
			if visit != nil {
				visit(r.StreamID, r.Data)
			}
		}
		return after, n, rows.Err()
	}

	totals := view.View[benchTotal, benchPlaced]{Evolve: func(t benchTotal, e benchPlaced) benchTotal {
		return benchTotal{Events: t.Events + 1, Amount: t.Amount + e.Amount}
	}}
	byStream := func(r store.Record, _ benchPlaced) (string, bool) { return r.StreamID, true }
	viewProjection := store.NewViewProjection(s, "totals", totals, codec, byStream, store.WithoutLease())
	sqlProjection := store.NewProjection(s, s.SQL(), "order-totals", func(ctx context.Context, tx pgx.Tx, r store.Record) error {
		e, err := codec.FromRecord(ctx, r)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+q("order_totals")+` AS t (order_id, events, amount) VALUES ($1, 1, $2)
			ON CONFLICT (order_id) DO UPDATE SET events = t.events + 1, amount = t.amount + excluded.amount`, r.StreamID, e.Amount)
		return err
	}, store.WithoutLease())

	variants := []struct {
		name string
		run  func() error
	}{
		{"raw-read", func() error {
			for after, n := int64(0), 0; ; {
				var err error
				if after, n, err = readRaw(after, nil); err != nil || n < benchPage {
					return err
				}
			}
		}},
		{"library-read", func() error {
			for after := int64(0); ; {
				page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: benchPage})
				if err != nil || len(page) < benchPage {
					return err
				}
				after = page[len(page)-1].Position
			}
		}},
		{"raw-states", func() error {
			if _, err := pool.Exec(ctx, `DELETE FROM `+q("raw_states")); err != nil {
				return err
			}
			for after := int64(0); ; {
				page := map[string]benchPlaced{}
				var order []string
				next, n, err := readRaw(after, func(stream string, data []byte) {
					if _, ok := page[stream]; !ok {
						order = append(order, stream)
					}
					page[stream] = benchPlaced{Amount: page[stream].Amount + len(data)}
				})
				if err != nil || n == 0 {
					return err
				}
				after = next
				err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					rows, err := tx.Query(ctx, `SELECT state_key, data FROM `+q("raw_states")+` WHERE view_name = 'totals' AND state_key = ANY($1)`, order)
					if err != nil {
						return err
					}
					if _, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
						Key  string
						Data []byte
					}]); err != nil {
						return err
					}
					views := make([]string, len(order))
					data := make([][]byte, len(order))
					for i, k := range order {
						views[i], data[i] = "totals", fmt.Appendf(nil, `{"Events":1,"Amount":%d}`, page[k].Amount)
					}
					_, err = tx.Exec(ctx, `INSERT INTO `+q("raw_states")+` (view_name, state_key, data)
						SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
						ON CONFLICT (view_name, state_key) DO UPDATE SET data = excluded.data`, views, order, data)
					return err
				})
				if err != nil || n < benchPage {
					return err
				}
			}
		}},
		{"view", func() error { return viewProjection.Rebuild(ctx, nil) }},
		{"sql", func() error {
			return sqlProjection.Rebuild(ctx, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM `+q("order_totals"))
				return err
			}, nil)
		}},
	}
	spent := make([]time.Duration, len(variants))
	b.ResetTimer()
	for range b.N {
		for i, v := range variants {
			start := time.Now()
			if err := v.run(); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
			spent[i] += time.Since(start)
		}
	}
	b.StopTimer()
	perEvent := func(i int) float64 { return float64(spent[i].Nanoseconds()) / float64(b.N*total) }
	for i, v := range variants {
		b.ReportMetric(perEvent(i), v.name+"-ns/event")
	}
	for i, v := range variants[1:] {
		b.ReportMetric(perEvent(0)/perEvent(i+1), v.name+"/raw-read")
	}
	var got benchTotal
	if got, err = viewProjection.Get(ctx, "order-7"); err != nil || got.Events != benchPerStream {
		b.Fatalf("the view's state of order-7 is %+v (%v), want %d events", got, err, benchPerStream)
	}
}

// BenchmarkLogFirstRead measures what numbering the log costs its first
// reader. Each round appends 20,000 events on 1,000 streams (untimed),
// which leaves them without positions, then reads the log in pages of
// 500 with Store.ReadLog twice: the first read numbers the events as it
// goes, the second only reads. It reports both in ns per event, and
// their difference, the numbering.
func BenchmarkLogFirstRead(b *testing.B) {
	ctx := context.Background()
	db := pgtest.New(b)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	const total = benchStreams * benchPerStream
	readAll := func(after int64) (int64, error) {
		n := 0
		for {
			page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: benchPage})
			if err != nil {
				return after, err
			}
			n += len(page)
			if len(page) < benchPage {
				if n != total {
					return after, fmt.Errorf("read %d events, want %d", n, total)
				}
				return after, nil
			}
			after = page[len(page)-1].Position
		}
	}
	var first, again time.Duration
	var head int64
	b.ResetTimer()
	for round := range b.N {
		b.StopTimer()
		for i := range benchStreams {
			events := make([]store.Event, benchPerStream)
			for j := range events {
				events[j] = store.Event{Type: "Placed", Data: fmt.Appendf(nil, `{"amount":%d}`, j)}
			}
			if _, err := s.Append(ctx, fmt.Sprintf("order-%d-%d", round, i), store.NoStream, events); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		end, err := readAll(head)
		if err != nil {
			b.Fatalf("first read: %v", err)
		}
		first += time.Since(start)
		start = time.Now()
		if _, err := readAll(head); err != nil {
			b.Fatalf("second read: %v", err)
		}
		again += time.Since(start)
		head = end
	}
	b.StopTimer()
	perEvent := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*total) }
	b.ReportMetric(perEvent(first), "first-read-ns/event")
	b.ReportMetric(perEvent(again), "read-ns/event")
	b.ReportMetric(perEvent(first-again), "numbering-ns/event")
}
