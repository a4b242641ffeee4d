package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/rawgroup"
	"github.com/annals-dev/annals/internal/workload"
	"github.com/annals-dev/annals/store"
)

// The benchmarks of these files run the workloads of docs/benchmarks.md on
// the store ("lib") and on baselines written with database/sql and the
// driver alone ("raw"): the same schema (made by the store's migrations),
// the same pragmas and connections (one writer connection with BEGIN
// IMMEDIATE transactions, a pool of query-only readers), the same rows and
// the same columns read, encoding/json for payloads and states, and
// nothing of the library in the timed work. Each also reports cpu-ns/op,
// the processor time per operation, which other work on the machine
// disturbs less than the elapsed time:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./store/sqlite

// openStore opens a store on a new file.
func openStore(b *testing.B, sync Synchronous, opts ...Option) *Store {
	b.Helper()
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "lib.db"), append([]Option{WithSynchronous(sync)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// rawDB is a baseline's connections to a database file, set up as the
// store sets up its own.
type rawDB struct {
	w, r *sql.DB
	// commit, when set, runs a command's write through a hand-written
	// group commit (package rawgroup) instead of a transaction of its own.
	commit func(ctx context.Context, fn func(*sql.Tx) error) error
}

// openRaw opens path with the store's writer and reader settings,
// creating the schema with the store's migrations when the file is new.
func openRaw(b *testing.B, path string, sync Synchronous) rawDB {
	b.Helper()
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.synchronous = sync
	w, err := sql.Open("sqlite", cfg.dsn(path, true))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		b.Fatal(err)
	}
	r, err := sql.Open("sqlite", cfg.dsn(path, false))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return rawDB{w: w, r: r}
}

func (db rawDB) prepare(b *testing.B, on *sql.DB, query string) *sql.Stmt {
	b.Helper()
	st, err := on.PrepareContext(context.Background(), query)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// The columns a baseline reads: those the store reads for a record.
const rawColumns = `position, event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata`

// rawEvent is a row as a baseline reads it, with its payload decoded.
type rawEvent struct {
	position, version int64
	id                uuid.UUID
	stream            string
	at                time.Time
	event             workload.Event
}

// scanEvents reads rows of rawColumns, decodes each payload into the
// workload's structs, and hands each event to visit.
func scanEvents(rows *sql.Rows, visit func(rawEvent)) (last int64, n int, err error) {
	defer rows.Close()
	for rows.Next() {
		var (
			r                  rawEvent
			id, data, meta     sql.RawBytes
			typ, encoding      string
			schema, recordedAt int64
		)
		if err := rows.Scan(&r.position, &id, &r.stream, &r.version, &typ, &schema, &recordedAt, &data, &encoding, &meta); err != nil {
			return 0, 0, err
		}
		if r.id, err = uuid.FromBytes(id); err != nil {
			return 0, 0, err
		}
		r.at = time.Unix(0, recordedAt).UTC()
		if r.event, err = workload.DecodeEvent(typ, data); err != nil {
			return 0, 0, err
		}
		visit(r)
		last, n = r.position, n+1
	}
	return last, n, rows.Err()
}

// BenchmarkAppend appends pre-encoded events: one per append to 1,000
// streams in turn, or a batch of 100 to a new stream. The baseline checks
// nothing: it inserts the rows with a prepared multi-row INSERT in a
// transaction, a fresh UUIDv7 per event, and the metadata encoded once.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	const streams = 1000
	for _, sync := range []Synchronous{SyncFull, SyncNormal} {
		for _, n := range []int{1, workload.BatchSize} {
			events, err := workload.Events(ctx, "account", 1, n+1)
			if err != nil {
				b.Fatal(err)
			}
			meta := store.Metadata{CorrelationID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", CausationID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"}
			for i := range events {
				events[i].Metadata = meta
			}
			// Operation i appends to stream i%streams a single event, or
			// a batch to the new stream i.
			stream := func(i int, versions []int64) (string, int64) {
				if n == 1 {
					return workload.StreamID(i%streams, 1), versions[i%streams]
				}
				return workload.StreamID(i, 1), 0
			}
			b.Run(fmt.Sprintf("sqlite/sync=%s/events=%d/lib", sync, n), func(b *testing.B) {
				s := openStore(b, sync)
				versions := make([]int64, streams)
				workload.Loop(b, n, func(i int) error {
					id, expected := stream(i, versions)
					v, err := s.Append(ctx, id, expected, events)
					if n == 1 {
						versions[i%streams] = v
					}
					return err
				})
			})
			b.Run(fmt.Sprintf("sqlite/sync=%s/events=%d/raw", sync, n), func(b *testing.B) {
				db := openRaw(b, filepath.Join(b.TempDir(), "raw.db"), sync)
				rows := strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?),", n), ",")
				ins := db.prepare(b, db.w, `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata) VALUES `+rows)
				versions := make([]int64, streams)
				args := make([]any, 0, 9*n)
				workload.Loop(b, n, func(i int) error {
					id, version := stream(i, versions)
					now := time.Now().UnixNano()
					metaJSON, err := json.Marshal(meta)
					if err != nil {
						return err
					}
					var m any = string(metaJSON)
					args = args[:0]
					for _, e := range events {
						eventID, err := uuid.NewV7()
						if err != nil {
							return err
						}
						version++
						args = append(args, eventID[:], id, version, e.Type, int64(e.SchemaVersion), now, e.Data, e.Encoding, m)
					}
					tx, err := db.w.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					if _, err := tx.StmtContext(ctx, ins).ExecContext(ctx, args...); err != nil {
						tx.Rollback()
						return err
					}
					if n == 1 {
						versions[i%streams] = version
					}
					return tx.Commit()
				})
			})
		}
	}
}

// rawCommand is the raw baselines' command, by hand with the driver:
// read the stream's rows with load, decode and fold them, decide cmd,
// encode the event and insert it with ins, in a transaction of its own,
// at the version read plus one.
func rawCommand(ctx context.Context, db rawDB, load, ins *sql.Stmt, stream string, cmd workload.Command) error {
	rows, err := load.QueryContext(ctx, stream)
	if err != nil {
		return err
	}
	var a workload.Account
	var version int64
	if _, _, err := scanEvents(rows, func(r rawEvent) { a, version = workload.Evolve(a, r.event), r.version }); err != nil {
		return err
	}
	events, err := workload.Decide(cmd, a)
	if err != nil {
		return err
	}
	typ, data, err := workload.EncodeEvent(events[0])
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	insert := func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, ins).ExecContext(ctx, id[:], stream, version+1, typ, int64(1), time.Now().UnixNano(), data, "", nil)
		return err
	}
	if db.commit != nil {
		return db.commit(ctx, insert)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := insert(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// BenchmarkHandle handles one command per operation, end to end: load
// the stream, decide, encode, append with the version loaded. Each
// command goes to a new stream (per-stream=1), or the commands go ten to
// a stream (per-stream=10). The baseline reads the stream's rows, decodes
// and folds them, decides, encodes the event and inserts it in a
// transaction of its own, with the version loaded plus one: the table's
// UNIQUE (stream_id, version) refuses a concurrent writer's duplicate.
func BenchmarkHandle(b *testing.B) {
	ctx := context.Background()
	for _, sync := range []Synchronous{SyncFull, SyncNormal} {
		for _, perStream := range []int{1, workload.CommandsPerAgg} {
			b.Run(fmt.Sprintf("sqlite/sync=%s/per-stream=%d/lib", sync, perStream), func(b *testing.B) {
				r := annals.NewRunner(annals.New(openStore(b, sync)), workload.Decider(), workload.Codec())
				workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
			})
			b.Run(fmt.Sprintf("sqlite/sync=%s/per-stream=%d/raw", sync, perStream), func(b *testing.B) {
				db := openRaw(b, filepath.Join(b.TempDir(), "raw.db"), sync)
				load := db.prepare(b, db.r, `SELECT `+rawColumns+` FROM annals_events WHERE stream_id = ? ORDER BY version`)
				ins := db.prepare(b, db.w, `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata) VALUES (?,?,?,?,?,?,?,?,?)`)
				workload.Loop(b, 1, func(i int) error {
					return rawCommand(ctx, db, load, ins, workload.StreamID(i, perStream), workload.CommandFor(i%perStream))
				})
			})
		}
	}
}

// BenchmarkHandleCached handles ten commands to a stream, one stream after
// another, as BenchmarkHandle's per-stream=10 does, with the runner's
// state cache (lib) and without it (uncached), in one run: a cached
// stream is appended to at its cached version without being read.
func BenchmarkHandleCached(b *testing.B) {
	ctx := context.Background()
	perStream := workload.CommandsPerAgg
	for _, sync := range []Synchronous{SyncFull, SyncNormal} {
		b.Run(fmt.Sprintf("sqlite/sync=%s/per-stream=%d/lib", sync, perStream), func(b *testing.B) {
			r := annals.NewRunner(annals.New(openStore(b, sync)), workload.Decider(), workload.Codec(), annals.WithCache(1024))
			workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
		})
		b.Run(fmt.Sprintf("sqlite/sync=%s/per-stream=%d/uncached", sync, perStream), func(b *testing.B) {
			r := annals.NewRunner(annals.New(openStore(b, sync)), workload.Decider(), workload.Codec())
			workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
		})
	}
}

// BenchmarkConcurrentHandle handles commands from 1 to 128 goroutines at
// once, each on streams of its own, ten commands to a stream, as
// BenchmarkHandle does from one: load, decide, encode, append. The
// library's appends share transactions and syncs (group commit); the
// baseline does the same commands by hand with the same connections, one
// transaction per command, as BenchmarkHandle's does, at the same
// concurrency. With synchronous=FULL most of a lone command's time is the
// flush of the write-ahead log, which a group shares.
func BenchmarkConcurrentHandle(b *testing.B) {
	ctx := context.Background()
	for _, sync := range []Synchronous{SyncFull, SyncNormal} {
		for _, goroutines := range workload.Goroutines {
			b.Run(fmt.Sprintf("sqlite/sync=%s/goroutines=%d/lib", sync, goroutines), func(b *testing.B) {
				r := annals.NewRunner(annals.New(openStore(b, sync)), workload.Decider(), workload.Codec())
				workload.Concurrent(b, goroutines, workload.HandleConcurrent(ctx, r))
			})
			if sync == SyncFull {
				// The store again, with the log checkpointed beside the
				// writer (WithCheckpointPages).
				b.Run(fmt.Sprintf("sqlite/sync=%s/goroutines=%d/lib-checkpoint-pages", sync, goroutines), func(b *testing.B) {
					r := annals.NewRunner(annals.New(openStore(b, sync, WithCheckpointPages(10000))), workload.Decider(), workload.Codec())
					workload.Concurrent(b, goroutines, workload.HandleConcurrent(ctx, r))
				})
			}
			b.Run(fmt.Sprintf("sqlite/sync=%s/goroutines=%d/raw", sync, goroutines), func(b *testing.B) {
				db := openRaw(b, filepath.Join(b.TempDir(), "raw.db"), sync)
				load := db.prepare(b, db.r, `SELECT `+rawColumns+` FROM annals_events WHERE stream_id = ? ORDER BY version`)
				ins := db.prepare(b, db.w, `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata) VALUES (?,?,?,?,?,?,?,?,?)`)
				workload.Concurrent(b, goroutines, func(g, j int) error {
					return rawCommand(ctx, db, load, ins, workload.ConcurrentStream(g, j), workload.ConcurrentCommand(j))
				})
			})
			b.Run(fmt.Sprintf("sqlite/sync=%s/goroutines=%d/grouped", sync, goroutines), func(b *testing.B) {
				db := openRaw(b, filepath.Join(b.TempDir(), "grouped.db"), sync)
				load := db.prepare(b, db.r, `SELECT `+rawColumns+` FROM annals_events WHERE stream_id = ? ORDER BY version`)
				ins := db.prepare(b, db.w, `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata) VALUES (?,?,?,?,?,?,?,?,?)`)
				group := rawgroup.New(db.w)
				b.Cleanup(func() { group.Close() })
				db.commit = func(ctx context.Context, fn func(*sql.Tx) error) error { return group.Do(ctx, fn) }
				workload.Concurrent(b, goroutines, func(g, j int) error {
					return rawCommand(ctx, db, load, ins, workload.ConcurrentStream(g, j), workload.ConcurrentCommand(j))
				})
			})
		}
	}
}
