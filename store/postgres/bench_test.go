package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

const benchWriters = 8

var benchPayload = []byte(`{"dog":"Fido","trick":"roll over","at":"2026-11-22T20:00:00Z"}`)

// BenchmarkConcurrentAppends has 8 writers append one event per
// transaction, each to a stream of its own, with the library and with raw
// pgx baselines in the same schema:
//
//   - lib: Store.Append, which checks the expected version and tries the
//     wait lock in the statement that inserts (no consumer waits here, so
//     it gets it: one statement, one round trip);
//   - raw: INSERT of the same row into a table of the same shape and
//     indexes with a bigserial position, which checks nothing and whose
//     position order a tailing reader can skip events in;
//   - lock: the same INSERT under LOCK TABLE … IN EXCLUSIVE MODE, held
//     until commit, as Python eventsourcing does (BEGIN, LOCK, INSERT,
//     COMMIT: four round trips);
//   - lock-pipelined: the same four statements sent in one round trip, the
//     fastest a table lock can be.
//
// Each reports events/op (1) for internal/benchtable. On a machine shared
// with other work, BenchmarkConcurrentAppendsInterleaved gives steadier
// ratios. Set ANNALS_TEST_POSTGRES_DURABLE=1 to run them on a cluster with
// PostgreSQL's default durability (see internal/pgtest).
func BenchmarkConcurrentAppends(b *testing.B) {
	for _, v := range appendVariants(b) {
		if v.tail {
			continue
		}
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			if err := writers(b.N, v.write); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(1, "events/op")
		})
	}
}

// BenchmarkConcurrentAppendsInterleaved runs the variants of
// BenchmarkConcurrentAppends in rounds, each variant a turn of 800
// appends in every round, so that load from elsewhere falls on all of
// them alike. It reports each variant's median ns per append over the
// rounds, and the median over the rounds of the throughput ratio of the
// library to each baseline in the same round (above 1: the library is
// faster). It also runs lib-tailed: the library's appends while a
// consumer tails the log (ReadLog, and Wait when it has read everything),
// the turn ending when the consumer has read the turn's events, so that
// numbering the log and waking the consumer are part of the work; its
// ratio is to raw.
func BenchmarkConcurrentAppendsInterleaved(b *testing.B) {
	const turn = 800
	variants := appendVariants(b)
	spent := make([][]float64, len(variants)) // ns per append, per round
	b.ResetTimer()
	for range b.N {
		for i, v := range variants {
			start := time.Now()
			if err := v.run(turn); err != nil {
				b.Fatal(err)
			}
			spent[i] = append(spent[i], float64(time.Since(start).Nanoseconds())/turn)
		}
	}
	b.StopTimer()
	for i, v := range variants {
		b.ReportMetric(median(spent[i]), v.name+"-ns/append")
	}
	ratio := func(lib, base int) float64 {
		r := make([]float64, b.N)
		for round := range r {
			r[round] = spent[base][round] / spent[lib][round]
		}
		return median(r)
	}
	for i, v := range variants {
		switch {
		case i == 0:
		case v.tail:
			b.ReportMetric(ratio(i, 1), v.name+"/raw")
		default:
			b.ReportMetric(ratio(0, i), "lib/"+v.name)
		}
	}
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

type appendVariant struct {
	name  string
	write func(w int, version int64) error
	tail  bool // with a consumer tailing the log
	run   func(n int) error
}

// appendVariants sets up a schema with the store's tables and the
// baselines' tables, and returns the ways to append to them.
func appendVariants(b *testing.B) []appendVariant {
	ctx := context.Background()
	db := pgtest.New(b)
	s, err := postgres.Open(ctx, db.URL+"&pool_max_conns=16", postgres.WithSchema(db.Schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	pool, err := pgxpool.New(ctx, db.URL+"&pool_max_conns=16")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	for _, table := range []string{"plain_events", "locked_events"} {
		if _, err := pool.Exec(ctx, `CREATE TABLE `+table+` (
			position       bigserial   PRIMARY KEY,
			stream_id      text        NOT NULL,
			version        bigint      NOT NULL,
			event_id       uuid        NOT NULL UNIQUE,
			type           text        NOT NULL,
			schema_version integer     NOT NULL,
			recorded_at    timestamptz NOT NULL DEFAULT now(),
			data           bytea       NOT NULL,
			encoding       text        NOT NULL,
			correlation_id text        NOT NULL,
			causation_id   text        NOT NULL,
			extra          jsonb,
			UNIQUE (stream_id, version))`); err != nil {
			b.Fatal(err)
		}
	}
	const insert = `INSERT INTO %s (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
		VALUES ($1, $2, $3, 'TrickAdded', 1, $4, '', 'corr', 'cause')`
	insertArgs := func(stream string, version int64) []any {
		id, _ := uuid.NewV7()
		return []any{stream, version, id, benchPayload}
	}
	// Each call of a write function starts new streams, so that a
	// benchmark can run its variants many times on the same tables.
	streams := func(kind string) func(w int, version int64) string {
		var mu sync.Mutex
		names := map[int]string{}
		return func(w int, version int64) string {
			mu.Lock()
			defer mu.Unlock()
			if version == 1 || names[w] == "" {
				names[w] = kind + "-" + uuid.NewString()
			}
			return names[w]
		}
	}
	lib, tailed, plain, lock, lockp := streams("lib"), streams("tailed"), streams("plain"), streams("lock"), streams("lockp")
	plainSQL, lockSQL := fmt.Sprintf(insert, "plain_events"), fmt.Sprintf(insert, "locked_events")
	appendTo := func(s *postgres.Store, stream func(int, int64) string) func(w int, version int64) error {
		return func(w int, version int64) error {
			id, _ := uuid.NewV7()
			_, err := s.Append(ctx, stream(w, version), version-1, []store.Event{{
				ID: id, Type: "TrickAdded", Data: benchPayload,
				Metadata: store.Metadata{CorrelationID: "corr", CausationID: "cause"},
			}})
			return err
		}
	}
	// The tailed store has tables of its own, so that its consumer
	// numbers only the events of its own turns.
	st, err := postgres.Open(ctx, db.URL+"&pool_max_conns=16", postgres.WithSchema(db.Schema), postgres.WithPrefix("tailed_"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	variants := []appendVariant{
		{name: "lib", write: appendTo(s, lib)},
		{name: "raw", write: func(w int, version int64) error {
			_, err := pool.Exec(ctx, plainSQL, insertArgs(plain(w, version), version)...)
			return err
		}},
		{name: "lock", write: func(w int, version int64) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "LOCK TABLE locked_events IN EXCLUSIVE MODE"); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, lockSQL, insertArgs(lock(w, version), version)...)
				return err
			})
		}},
		{name: "lock-pipelined", write: func(w int, version int64) error {
			batch := &pgx.Batch{}
			batch.Queue("BEGIN")
			batch.Queue("LOCK TABLE locked_events IN EXCLUSIVE MODE")
			batch.Queue(lockSQL, insertArgs(lockp(w, version), version)...)
			batch.Queue("COMMIT")
			return pool.SendBatch(ctx, batch).Close()
		}},
		{name: "lib-tailed", write: appendTo(st, tailed), tail: true},
	}
	for i := range variants {
		v := &variants[i]
		v.run = func(n int) error { return writers(n, v.write) }
		if v.tail {
			v.run = func(n int) error { return tailWhileWriting(ctx, st, n, v.write) }
		}
	}
	return variants
}

// tailWhileWriting runs n appends with writers while a consumer reads the
// log from its head in pages of 500, waiting whenever it has read all
// there is, and returns when the writers are done and the consumer has
// read their n events.
func tailWhileWriting(ctx context.Context, s *postgres.Store, n int, write func(w int, version int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start, err := s.Head(ctx)
	if err != nil {
		return err
	}
	read := make(chan error, 1)
	go func() {
		for after := start; after < start+int64(n); {
			page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 500})
			if err != nil {
				read <- err
				return
			}
			if len(page) > 0 {
				after = page[len(page)-1].Position
				continue
			}
			if err := s.Wait(ctx, after); err != nil {
				read <- err
				return
			}
		}
		read <- nil
	}()
	if err := writers(n, write); err != nil {
		return err
	}
	return <-read
}

// writers runs n appends spread over benchWriters goroutines, each
// calling write with its number and the version it appends (1, 2, …).
func writers(n int, write func(w int, version int64) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	for w := range benchWriters {
		mine := n / benchWriters
		if w < n%benchWriters {
			mine++
		}
		wg.Go(func() {
			for v := int64(1); v <= int64(mine); v++ {
				if err := write(w, v); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
