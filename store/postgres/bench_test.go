package postgres_test

import (
	"context"
	"fmt"
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
//   - library: Store.Append, which checks the expected version and
//     sequences the global log after commit;
//   - plain-insert: INSERT of the same row into a table of the same shape
//     with a bigserial position, which checks nothing and whose position
//     order a tailing reader can skip events in;
//   - table-lock: the same INSERT under LOCK TABLE … IN EXCLUSIVE MODE,
//     held until commit, as Python eventsourcing does (BEGIN, LOCK,
//     INSERT, COMMIT: four round trips);
//   - table-lock-pipelined: the same four statements sent in one round
//     trip, the fastest a table lock can be.
//
// Compare ns/op between sub-benchmarks of one run. On a machine shared
// with other work, BenchmarkConcurrentAppendsInterleaved gives steadier
// ratios.
func BenchmarkConcurrentAppends(b *testing.B) {
	for _, v := range appendVariants(b) {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			if err := writers(b.N, v.write); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkConcurrentAppendsInterleaved runs the variants of
// BenchmarkConcurrentAppends in turns of 800 appends each, so that load
// from elsewhere falls on all of them alike, and reports each variant's
// ns per append and the throughput ratios of the library to the
// baselines (above 1: the library is faster).
func BenchmarkConcurrentAppendsInterleaved(b *testing.B) {
	const turn = 800
	variants := appendVariants(b)
	spent := make([]time.Duration, len(variants))
	b.ResetTimer()
	for range b.N {
		for i, v := range variants {
			start := time.Now()
			if err := writers(turn, v.write); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(start)
		}
	}
	b.StopTimer()
	perOp := func(i int) float64 { return float64(spent[i].Nanoseconds()) / float64(b.N*turn) }
	for i, v := range variants {
		b.ReportMetric(perOp(i), v.name+"-ns/append")
	}
	for i, v := range variants[1:] {
		b.ReportMetric(perOp(i+1)/perOp(0), "library/"+v.name)
	}
}

type appendVariant struct {
	name  string
	write func(w int, version int64) error
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
	lib, plain, lock, lockp := streams("lib"), streams("plain"), streams("lock"), streams("lockp")
	plainSQL, lockSQL := fmt.Sprintf(insert, "plain_events"), fmt.Sprintf(insert, "locked_events")
	return []appendVariant{
		{"library", func(w int, version int64) error {
			id, _ := uuid.NewV7()
			_, err := s.Append(ctx, lib(w, version), version-1, []store.Event{{
				ID: id, Type: "TrickAdded", Data: benchPayload,
				Metadata: store.Metadata{CorrelationID: "corr", CausationID: "cause"},
			}})
			return err
		}},
		{"plain-insert", func(w int, version int64) error {
			_, err := pool.Exec(ctx, plainSQL, insertArgs(plain(w, version), version)...)
			return err
		}},
		{"table-lock", func(w int, version int64) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "LOCK TABLE locked_events IN EXCLUSIVE MODE"); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, lockSQL, insertArgs(lock(w, version), version)...)
				return err
			})
		}},
		{"table-lock-pipelined", func(w int, version int64) error {
			batch := &pgx.Batch{}
			batch.Queue("BEGIN")
			batch.Queue("LOCK TABLE locked_events IN EXCLUSIVE MODE")
			batch.Queue(lockSQL, insertArgs(lockp(w, version), version)...)
			batch.Queue("COMMIT")
			return pool.SendBatch(ctx, batch).Close()
		}},
	}
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
