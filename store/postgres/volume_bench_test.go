package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// volumePayload is the payload of each event of BenchmarkWriteVolume:
// 256 bytes.
var volumePayload = bytes.Repeat([]byte("x"), 256)

// BenchmarkWriteVolume measures what the global log costs in bytes
// written: 8 writers append b.N events of 256 bytes, one per
// transaction, each to streams of its own, and the variants report the
// write-ahead log written per event (the difference of
// pg_current_wal_lsn() over the run, after a CHECKPOINT, so that each
// starts with full-page images due alike) and the bytes the tables and
// their indexes take per event:
//
//   - lib: Store.Append while a consumer tails the log (ReadLog, and
//     Wait when it has read everything), so that numbering the log is
//     counted with the appends; the log's tables are the event table,
//     log_head and log_ranges;
//   - plain: the same rows inserted with pgx into a table with a
//     bigserial key and the same indexes (unique on stream and version
//     and on event ID; the tagged events' GIN index on tags and index on
//     type), which checks nothing and whose position order a tailing
//     reader can skip events in.
//
// The tagged variants give each event two tags, so that the indexes of
// the tagged events are written too.
//
// The stored bytes are measured again after a VACUUM (the -vacuumed
// metrics), which frees the row versions that numbering left behind.
// Run it on a cluster with the write-ahead log of a production server
// (ANNALS_TEST_POSTGRES_DURABLE=1): the test cluster's wal_level=minimal
// and full_page_writes=off write less.
func BenchmarkWriteVolume(b *testing.B) {
	for _, tagged := range []bool{false, true} {
		name := ""
		if tagged {
			name = "/tagged"
		}
		b.Run("postgres/lib"+name, func(b *testing.B) { volumeLib(b, tagged) })
		b.Run("postgres/plain"+name, func(b *testing.B) { volumePlain(b, tagged) })
	}
}

// volumeTags returns the tags of writer w's append of version, or none.
func volumeTags(tagged bool, w int, version int64) []string {
	if !tagged {
		return nil
	}
	return []string{fmt.Sprintf("account:%d-%d", w, (version-1)/10), fmt.Sprintf("branch:%d", w)}
}

func volumeLib(b *testing.B, tagged bool) {
	ctx := context.Background()
	db := pgtest.New(b)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	streams := volumeStreams()
	measureVolume(b, s.Pool(), db.Schema, func() error {
		return tailWhileWriting(ctx, s, b.N, func(w int, version int64) error {
			id, _ := uuid.NewV7()
			_, err := s.Append(ctx, streams(w, version), volumeVersion(version), []store.Event{{
				ID: id, Type: "Deposited", Data: volumePayload, Tags: volumeTags(tagged, w, version),
				Metadata: store.Metadata{CorrelationID: "corr", CausationID: "cause"},
			}})
			return err
		})
	})
}

func volumePlain(b *testing.B, tagged bool) {
	ctx := context.Background()
	db := pgtest.New(b)
	pool, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	for _, sql := range []string{`CREATE TABLE plain_events (
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
			tags           text[],
			UNIQUE (stream_id, version))`,
		// The tagged events' indexes, as the store has them.
		`CREATE INDEX ON plain_events USING gin (tags) WITH (fastupdate = off) WHERE tags IS NOT NULL`,
		`CREATE INDEX ON plain_events (type) WHERE tags IS NOT NULL`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	streams := volumeStreams()
	const insert = `INSERT INTO plain_events (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, tags)
			VALUES ($1, $2, $3, 'Deposited', 1, $4, '', 'corr', 'cause', $5)`
	measureVolume(b, pool, db.Schema, func() error {
		return writers(b.N, func(w int, version int64) error {
			id, _ := uuid.NewV7()
			_, err := pool.Exec(ctx, insert, streams(w, version), volumeVersion(version)+1, id, volumePayload, volumeTags(tagged, w, version))
			return err
		})
	})
}

// volumeStreams returns the stream of writer w's append of version:
// each writer appends ten events to a stream, then starts another.
func volumeStreams() func(w int, version int64) string {
	return func(w int, version int64) string { return fmt.Sprintf("account-%d-%d", w, (version-1)/10) }
}

// volumeVersion is what volumeStreams' streams are at before writer w's
// append of version.
func volumeVersion(version int64) int64 { return (version - 1) % 10 }

// measureVolume runs write, timed, and reports the write-ahead log it
// wrote per event and the size of the schema's tables and indexes per
// event, before and after a VACUUM.
func measureVolume(b *testing.B, pool *pgxpool.Pool, schema string, write func() error) {
	b.Helper()
	ctx := context.Background()
	var start, end string
	if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
		b.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&start); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := write(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if err := pool.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&end); err != nil {
		b.Fatal(err)
	}
	var wal float64
	if err := pool.QueryRow(ctx, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)", end, start).Scan(&wal); err != nil {
		b.Fatal(err)
	}
	size := func() float64 {
		var n float64
		if err := pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relkind = 'r'`, schema).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	stored := size()
	rows, err := pool.Query(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`, schema)
	if err != nil {
		b.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			b.Fatal(err)
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	for _, t := range tables {
		if _, err := pool.Exec(ctx, "VACUUM "+t); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(wal/n, "wal-B/event")
	b.ReportMetric(stored/n, "stored-B/event")
	b.ReportMetric(size()/n, "vacuumed-B/event")
	b.ReportMetric(1, "events/op")
}
