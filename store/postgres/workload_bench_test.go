package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/internal/workload"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/view"
)

// The benchmarks of this file run the workloads of docs/benchmarks.md on
// the store ("lib") and on baselines written with pgx alone ("raw"), in
// the same schema of the same server, on a pool with the same session
// settings: the baselines read the store's own tables, with the same
// columns, and write into tables made LIKE the store's (same columns,
// defaults, constraints and indexes). Nothing of the library is in the
// timed work of a baseline.
//
//	go test -run '^$' -bench . -benchmem -count 6 ./store/postgres

// bench is a schema with a store and a baseline's pool.
type bench struct {
	s      *postgres.Store
	pool   *pgxpool.Pool
	schema string
}

func newBench(b testing.TB) bench {
	b.Helper()
	ctx := context.Background()
	db := pgtest.New(b)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = postgres.DefaultLockTimeout
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = postgres.DefaultIdleInTransactionTimeout
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return bench{s: s, pool: pool, schema: db.Schema}
}

// table returns the quoted name of a table in the bench's schema.
func (bn bench) table(name string) string { return pgx.Identifier{bn.schema, name}.Sanitize() }

func (bn bench) exec(b *testing.B, sql string) {
	b.Helper()
	if _, err := bn.pool.Exec(context.Background(), sql); err != nil {
		b.Fatal(err)
	}
}

// rawEvents creates a table like the store's events table for a
// baseline to write, and returns its quoted name.
func (bn bench) rawEvents(b *testing.B) string {
	b.Helper()
	t := bn.table("raw_events")
	bn.exec(b, `CREATE TABLE `+t+` (LIKE `+bn.table("annals_events")+` INCLUDING ALL)`)
	return t
}

// The columns a baseline reads: those the store reads for a record.
const rawColumns = `position, stream_id, version, event_id, type, schema_version, recorded_at, data, encoding, correlation_id, causation_id, extra`

// rawEvent is a row as a baseline reads it, with its payload decoded.
type rawEvent struct {
	position, version      int64
	stream                 string
	id                     uuid.UUID
	at                     time.Time
	correlation, causation string
	event                  workload.Event
	encoding, typ          string
	schema                 int32
	extra                  map[string]string
	data                   []byte
}

// scanEvents reads rows of rawColumns, decodes each payload into the
// workload's structs, and hands each event to visit.
func scanEvents(rows pgx.Rows, visit func(*rawEvent)) (last int64, n int, err error) {
	defer rows.Close()
	var r rawEvent
	var position *int64
	var extra []byte
	var id [16]byte
	dest := []any{&position, &r.stream, &r.version, &id, &r.typ, &r.schema, &r.at, &r.data, &r.encoding, &r.correlation, &r.causation, &extra}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, 0, err
		}
		r.id, r.position = id, 0
		if position != nil {
			r.position = *position
		}
		r.extra = nil
		if extra != nil {
			if err := json.Unmarshal(extra, &r.extra); err != nil {
				return 0, 0, err
			}
		}
		if r.event, err = workload.DecodeEvent(r.typ, r.data); err != nil {
			return 0, 0, err
		}
		visit(&r)
		last, n = r.position, n+1
	}
	return last, n, rows.Err()
}

// BenchmarkAppend appends pre-encoded events, one per append to 1,000
// streams in turn, or a batch of 100 to a new stream. The baseline
// inserts the same rows, a fresh UUIDv7 per event, in one statement of
// its own transaction (a multi-row INSERT from arrays for a batch), and
// checks nothing.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	const streams = 1000
	for _, n := range []int{1, workload.BatchSize} {
		events, err := workload.Events(ctx, "account", 1, n+1)
		if err != nil {
			b.Fatal(err)
		}
		meta := store.Metadata{CorrelationID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", CausationID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"}
		for i := range events {
			events[i].Metadata = meta
		}
		stream := func(i int, versions []int64) (string, int64) {
			if n == 1 {
				return workload.StreamID(i%streams, 1), versions[i%streams]
			}
			return workload.StreamID(i, 1), 0
		}
		b.Run(fmt.Sprintf("postgres/events=%d/lib", n), func(b *testing.B) {
			bn := newBench(b)
			versions := make([]int64, streams)
			workload.Loop(b, n, func(i int) error {
				id, expected := stream(i, versions)
				v, err := bn.s.Append(ctx, id, expected, events)
				if n == 1 {
					versions[i%streams] = v
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("postgres/events=%d/raw", n), func(b *testing.B) {
			bn := newBench(b)
			t := bn.rawEvents(b)
			versions := make([]int64, streams)
			one := `INSERT INTO ` + t + ` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
			many := `INSERT INTO ` + t + ` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
				SELECT $1, $2::bigint + e.ord, e.id, e.type, 1, e.data, '', $3, $4
				FROM unnest($5::uuid[], $6::text[], $7::bytea[]) WITH ORDINALITY AS e(id, type, data, ord)`
			ids := make([]uuid.UUID, n)
			types := make([]string, n)
			data := make([][]byte, n)
			workload.Loop(b, n, func(i int) error {
				id, version := stream(i, versions)
				if n == 1 {
					eventID, err := uuid.NewV7()
					if err != nil {
						return err
					}
					e := events[0]
					versions[i%streams] = version + 1
					_, err = bn.pool.Exec(ctx, one, id, version+1, eventID, e.Type, int32(1), e.Data, "", meta.CorrelationID, meta.CausationID)
					return err
				}
				for j, e := range events {
					var err error
					if ids[j], err = uuid.NewV7(); err != nil {
						return err
					}
					types[j], data[j] = e.Type, e.Data
				}
				_, err := bn.pool.Exec(ctx, many, id, version, meta.CorrelationID, meta.CausationID, ids, types, data)
				return err
			})
		})
	}
}

// BenchmarkHandle handles one command per operation, end to end: load
// the stream, decide, encode, append with the version loaded. Each
// command goes to a new stream (per-stream=1), or the commands go ten to
// a stream (per-stream=10). The baseline reads the stream's rows, decodes
// and folds them, decides, encodes the event and inserts it with the
// version loaded plus one in a statement of its own: the primary key
// (stream_id, version) refuses a concurrent writer's duplicate.
func BenchmarkHandle(b *testing.B) {
	ctx := context.Background()
	for _, perStream := range []int{1, workload.CommandsPerAgg} {
		b.Run(fmt.Sprintf("postgres/per-stream=%d/lib", perStream), func(b *testing.B) {
			r := annals.NewRunner(annals.New(newBench(b).s), workload.Decider(), workload.Codec())
			workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
		})
		b.Run(fmt.Sprintf("postgres/per-stream=%d/raw", perStream), func(b *testing.B) {
			bn := newBench(b)
			t := bn.rawEvents(b)
			load := `SELECT ` + rawColumns + ` FROM ` + t + ` WHERE stream_id = $1 ORDER BY version`
			insert := `INSERT INTO ` + t + ` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
				VALUES ($1, $2, $3, $4, 1, $5, '', '', '')`
			workload.Loop(b, 1, func(i int) error {
				stream := workload.StreamID(i, perStream)
				rows, err := bn.pool.Query(ctx, load, stream)
				if err != nil {
					return err
				}
				var a workload.Account
				var version int64
				if _, _, err := scanEvents(rows, func(r *rawEvent) { a, version = workload.Evolve(a, r.event), r.version }); err != nil {
					return err
				}
				events, err := workload.Decide(workload.CommandFor(i%perStream), a)
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
				_, err = bn.pool.Exec(ctx, insert, stream, version+1, id, typ, data)
				return err
			})
		})
	}
}

// BenchmarkHandleCached handles ten commands to a stream, one stream after
// another, as BenchmarkHandle's per-stream=10 does, with the runner's
// state cache (lib) and without it (uncached), in one run: a cached
// stream is appended to at its cached version without being read, one
// round trip instead of two.
func BenchmarkHandleCached(b *testing.B) {
	ctx := context.Background()
	perStream := workload.CommandsPerAgg
	b.Run(fmt.Sprintf("postgres/per-stream=%d/lib", perStream), func(b *testing.B) {
		r := annals.NewRunner(annals.New(newBench(b).s), workload.Decider(), workload.Codec(), annals.WithCache(1024))
		workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
	})
	b.Run(fmt.Sprintf("postgres/per-stream=%d/uncached", perStream), func(b *testing.B) {
		r := annals.NewRunner(annals.New(newBench(b).s), workload.Decider(), workload.Codec())
		workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
	})
}

// BenchmarkSyncHandle handles commands, one per stream of 1,000 in turn,
// in a Sync system with one view projection of the accounts: each command
// returns once the view shows it. The baseline is the bare runner on the
// same store, without the system: the ratio is what a Sync system with a
// view costs a command.
func BenchmarkSyncHandle(b *testing.B) {
	ctx := context.Background()
	perStream := workload.CommandsPerAgg
	b.Run("postgres/lib", func(b *testing.B) {
		s := annals.New(newBench(b).s)
		sys, err := annals.NewSystem(s, annals.Sync)
		if err != nil {
			b.Fatal(err)
		}
		byStream := func(r store.Record, _ workload.Event) (string, bool) { return r.StreamID, true }
		accounts := annals.NewViewProjection(s, "accounts", view.View[workload.Account, workload.Event]{Evolve: workload.Evolve}, workload.Codec(), byStream)
		if err := sys.Add(accounts); err != nil {
			b.Fatal(err)
		}
		r := annals.NewRunner(s, workload.Decider(), workload.Codec())
		workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
		if head, err := s.Head(ctx); err != nil || head == 0 {
			b.Fatalf("head %d, %v", head, err)
		}
		if at, err := accounts.Position(ctx); err != nil || at != int64(b.N) {
			b.Fatalf("the view is at %d after %d commands (%v)", at, b.N, err)
		}
	})
	b.Run("postgres/bare-runner", func(b *testing.B) {
		r := annals.NewRunner(annals.New(newBench(b).s), workload.Decider(), workload.Codec())
		workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
	})
}

// seededLog returns a bench whose store holds the global log of the read
// workloads, and what reading it must see.
func seededLog(b *testing.B) (bench, workload.Total) {
	b.Helper()
	n := workload.Size(b, workload.LogEvents)
	streams := min(workload.LogStreams, n)
	bn := newBench(b)
	if err := workload.SeedLog(context.Background(), bn.s, streams, n/streams); err != nil {
		b.Fatal(err)
	}
	// Appends leave the log to be numbered by its first reader; number it
	// now, so that every variant reads the same numbered log
	// (BenchmarkLogFirstRead measures what numbering costs).
	if head, err := bn.s.Head(context.Background()); err != nil || head != int64(n) {
		b.Fatalf("head %d, %v; want %d", head, err, n)
	}
	bn.exec(b, `VACUUM ANALYZE `+bn.table("annals_events"))
	// The raw reads read the same events from a plain log: a table like
	// the store's, in position order, whose primary key is the position.
	bn.exec(b, `CREATE TABLE `+bn.table("raw_log")+` (LIKE `+bn.table("annals_events")+` INCLUDING DEFAULTS)`)
	bn.exec(b, `INSERT INTO `+bn.table("raw_log")+` SELECT * FROM `+bn.table("annals_events")+` ORDER BY position`)
	bn.exec(b, `ALTER TABLE `+bn.table("raw_log")+` ADD PRIMARY KEY (position), ADD UNIQUE (stream_id, version), ADD UNIQUE (event_id)`)
	bn.exec(b, `VACUUM ANALYZE `+bn.table("raw_log"))
	return bn, workload.ExpectedLog(streams, n/streams)
}

// rawReadLog reads the global log in pages, decoding every event, from
// a plain log of the same events whose primary key is the position (the
// store's table has no index on the position; see docs/global-log.md).
func (bn bench) rawReadLog(ctx context.Context, visit func(*rawEvent)) (workload.Total, error) {
	page := `SELECT ` + rawColumns + ` FROM ` + bn.table("raw_log") + ` WHERE position > $1 ORDER BY position LIMIT $2`
	var t workload.Total
	for after := int64(0); ; {
		rows, err := bn.pool.Query(ctx, page, after, workload.Page)
		if err != nil {
			return t, err
		}
		last, n, err := scanEvents(rows, func(r *rawEvent) {
			t.Add(r.event)
			if visit != nil {
				visit(r)
			}
		})
		if err != nil || n < workload.Page {
			return t, err
		}
		after = last
	}
}

// BenchmarkReadLog reads the whole global log of 100,000 events into typed
// events, in pages of 500: ReadLog and the codec, against the same pages
// read and decoded by hand.
func BenchmarkReadLog(b *testing.B) {
	ctx := context.Background()
	bn, want := seededLog(b)
	codec := workload.Codec()
	b.Run(fmt.Sprintf("postgres/events=%d/lib", want.Events), func(b *testing.B) {
		workload.Loop(b, want.Events, func(int) error {
			t, err := workload.ReadLog(ctx, bn.s, codec)
			if err != nil {
				return err
			}
			return workload.Check("ReadLog", t, want)
		})
	})
	b.Run(fmt.Sprintf("postgres/events=%d/raw", want.Events), func(b *testing.B) {
		workload.Loop(b, want.Events, func(int) error {
			t, err := bn.rawReadLog(ctx, nil)
			if err != nil {
				return err
			}
			return workload.Check("raw read", t, want)
		})
	})
}

// rawLoad folds the events of the store's stream after version from into a.
func (bn bench) rawLoad(ctx context.Context, stream string, a workload.Account, from int64) (workload.Account, error) {
	rows, err := bn.pool.Query(ctx, `SELECT `+rawColumns+` FROM `+bn.table("annals_events")+` WHERE stream_id = $1 AND version > $2 ORDER BY version`, stream, from)
	if err != nil {
		return a, err
	}
	_, _, err = scanEvents(rows, func(r *rawEvent) { a = workload.Evolve(a, r.event) })
	return a, err
}

// BenchmarkLoadStream loads a stream of 10,000 events into a state:
// Runner.Load, against the rows read, decoded and folded by hand.
func BenchmarkLoadStream(b *testing.B) {
	ctx := context.Background()
	n := workload.Size(b, workload.StreamEvents)
	bn := newBench(b)
	if err := workload.SeedAccount(ctx, bn.s, nil, "account", n); err != nil {
		b.Fatal(err)
	}
	want := workload.AccountAt(n)
	b.Run(fmt.Sprintf("postgres/events=%d/lib", n), func(b *testing.B) {
		r := annals.NewRunner(annals.New(bn.s), workload.Decider(), workload.Codec())
		workload.Loop(b, n, workload.Load(ctx, r, "account", n))
	})
	b.Run(fmt.Sprintf("postgres/events=%d/raw", n), func(b *testing.B) {
		workload.Loop(b, n, func(int) error {
			a, err := bn.rawLoad(ctx, "account", workload.Account{}, 0)
			if err != nil {
				return err
			}
			return workload.CheckAccount(a, want)
		})
	})
}

// BenchmarkLoadAggregate loads an aggregate of 1,000 and of 100,000
// events, from its latest snapshot (50 events behind the head) and the
// events after it, and by replaying every event. The snapshot baseline
// reads the snapshot's row, decodes the state and folds the rows after it.
func BenchmarkLoadAggregate(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{workload.SmallAggregate, workload.LargeAggregate} {
		n := workload.Size(b, size)
		bn := newBench(b)
		if err := workload.SeedAccount(ctx, bn.s, bn.s, "account", n); err != nil {
			b.Fatal(err)
		}
		bn.exec(b, `VACUUM ANALYZE `+bn.table("annals_events"))
		tail := n - workload.SnapshotVersion(n)
		want := workload.AccountAt(n)
		b.Run(fmt.Sprintf("postgres/events=%d/snapshots/lib", n), func(b *testing.B) {
			r := annals.NewRunner(annals.New(bn.s), workload.Decider(), workload.Codec(), annals.WithSnapshots(bn.s, nil, workload.StateCodec()))
			workload.Loop(b, tail, workload.Load(ctx, r, "account", n))
		})
		b.Run(fmt.Sprintf("postgres/events=%d/snapshots/raw", n), func(b *testing.B) {
			snap := `SELECT version, type, schema_version, taken_at, data, encoding FROM ` + bn.table("annals_snapshots") + ` WHERE stream_id = $1`
			workload.Loop(b, tail, func(int) error {
				var (
					a             workload.Account
					version       int64
					schema        int32
					typ, encoding string
					taken         time.Time
					data          []byte
				)
				err := bn.pool.QueryRow(ctx, snap, "account").Scan(&version, &typ, &schema, &taken, &data, &encoding)
				switch {
				case errors.Is(err, pgx.ErrNoRows): // replay from the start
				case err != nil:
					return err
				default:
					if err := json.Unmarshal(data, &a); err != nil {
						return err
					}
				}
				if a, err = bn.rawLoad(ctx, "account", a, version); err != nil {
					return err
				}
				return workload.CheckAccount(a, want)
			})
		})
		b.Run(fmt.Sprintf("postgres/events=%d/replay/lib", n), func(b *testing.B) {
			r := annals.NewRunner(annals.New(bn.s), workload.Decider(), workload.Codec())
			workload.Loop(b, n, workload.Load(ctx, r, "account", n))
		})
		b.Run(fmt.Sprintf("postgres/events=%d/replay/raw", n), func(b *testing.B) {
			workload.Loop(b, n, func(int) error {
				a, err := bn.rawLoad(ctx, "account", workload.Account{}, 0)
				if err != nil {
					return err
				}
				return workload.CheckAccount(a, want)
			})
		})
	}
}

// BenchmarkCatchUp rebuilds read models over the global log of 100,000
// events, in pages of 500 with the checkpoint committed per page:
//
//   - decode: a annals.Projection whose handler decodes each event and
//     writes nothing, against reading the log raw (raw-read);
//   - view: a annals.ViewProjection keeping each account's state in the
//     store, against raw-read and raw-states, which per page reads the
//     states the page touches in one query, folds the events, and upserts
//     the states in one statement with the checkpoint, in one transaction;
//   - process: a annals.SagaRunner of a process whose events go to 500
//     instances in turn, so that each page meets 500 stored states, and
//     that sends no command (workload.CatchUpProcess), against raw-read;
//   - sql: a annals.Projection through Store.SQL inserting a row per event
//     into the application's table, against raw-read and raw-insert,
//     which does the same inserts and checkpoint per page by hand.
func BenchmarkCatchUp(b *testing.B) {
	ctx := context.Background()
	bn, want := seededLog(b)
	perStream := want.Events / min(workload.LogStreams, want.Events)
	name := func(model, variant string) string {
		return fmt.Sprintf("postgres/events=%d/%s/%s", want.Events, model, variant)
	}
	rawRead := func(b *testing.B) {
		workload.Loop(b, want.Events, func(int) error {
			t, err := bn.rawReadLog(ctx, nil)
			if err != nil {
				return err
			}
			return workload.Check("raw read", t, want)
		})
	}
	states, deposits, checkpoints := bn.table("raw_states"), bn.table("deposits"), bn.table("raw_checkpoints")
	bn.exec(b, `CREATE TABLE `+states+` (LIKE `+bn.table("annals_states")+` INCLUDING ALL)`)
	bn.exec(b, `CREATE TABLE `+checkpoints+` (LIKE `+bn.table("annals_checkpoints")+` INCLUDING ALL)`)
	bn.exec(b, `CREATE TABLE `+deposits+` (position bigint PRIMARY KEY, stream text NOT NULL, amount bigint NOT NULL)`)
	insertDeposit := `INSERT INTO ` + deposits + ` (position, stream, amount) VALUES ($1, $2, $3)`
	checkpoint := `INSERT INTO ` + checkpoints + ` AS c (consumer, position) VALUES ($1, $2)
		ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = now()`
	// rawPages reads the log raw and hands each page to apply.
	rawPages := func(apply func([]rawEvent) error) (workload.Total, error) {
		var events []rawEvent
		var err error
		t, rerr := bn.rawReadLog(ctx, func(r *rawEvent) {
			events = append(events, *r)
			if len(events) == workload.Page {
				err = errors.Join(err, apply(events))
				events = events[:0]
			}
		})
		if err == nil && len(events) > 0 {
			err = apply(events)
		}
		return t, errors.Join(err, rerr)
	}

	b.Run(name("decode", "lib"), func(b *testing.B) {
		catchUp := workload.CatchUpDecode(ctx, annals.New(bn.s))
		workload.Loop(b, want.Events, func(int) error {
			t, err := catchUp()
			if err != nil {
				return err
			}
			return workload.Check("projection", t, want)
		})
	})
	b.Run(name("decode", "raw-read"), rawRead)

	b.Run(name("view", "lib"), func(b *testing.B) {
		catchUp := workload.CatchUpView(ctx, annals.New(bn.s), perStream)
		workload.Loop(b, want.Events, func(int) error { return catchUp() })
	})
	b.Run(name("view", "raw-read"), rawRead)
	b.Run(name("view", "raw-states"), func(b *testing.B) {
		wantState := workload.AccountAt(perStream)
		load := `SELECT state_key, data FROM ` + states + ` WHERE view_name = 'accounts' AND state_key = ANY($1)`
		save := `INSERT INTO ` + states + ` (view_name, state_key, data)
			SELECT 'accounts', k, d FROM unnest($1::text[], $2::bytea[]) AS s(k, d)
			ON CONFLICT (view_name, state_key) DO UPDATE SET data = excluded.data, updated_at = now()`
		workload.Loop(b, want.Events, func(int) error {
			if _, err := bn.pool.Exec(ctx, `DELETE FROM `+states); err != nil {
				return err
			}
			t, err := rawPages(func(events []rawEvent) error {
				return pgx.BeginFunc(ctx, bn.pool, func(tx pgx.Tx) error {
					accounts := map[string]workload.Account{}
					var keys []string
					for _, r := range events {
						if _, ok := accounts[r.stream]; !ok {
							accounts[r.stream] = workload.Account{}
							keys = append(keys, r.stream)
						}
					}
					rows, err := tx.Query(ctx, load, keys)
					if err != nil {
						return err
					}
					var key string
					var data []byte
					if _, err := pgx.ForEachRow(rows, []any{&key, &data}, func() error {
						var a workload.Account
						err := json.Unmarshal(data, &a)
						accounts[key] = a
						return err
					}); err != nil {
						return err
					}
					for _, r := range events {
						accounts[r.stream] = workload.Evolve(accounts[r.stream], r.event)
					}
					encoded := make([][]byte, len(keys))
					for i, k := range keys {
						if encoded[i], err = json.Marshal(accounts[k]); err != nil {
							return err
						}
					}
					if _, err := tx.Exec(ctx, save, keys, encoded); err != nil {
						return err
					}
					_, err = tx.Exec(ctx, checkpoint, "raw-accounts", events[len(events)-1].position)
					return err
				})
			})
			if err != nil {
				return err
			}
			var data []byte
			if err := bn.pool.QueryRow(ctx, `SELECT data FROM `+states+` WHERE state_key = $1`, workload.StreamID(0, 1)).Scan(&data); err != nil {
				return err
			}
			var a workload.Account
			if err := json.Unmarshal(data, &a); err != nil {
				return err
			}
			if err := workload.CheckAccount(a, wantState); err != nil {
				return err
			}
			return workload.Check("raw states", t, want)
		})
	})

	b.Run(name("process", "lib"), func(b *testing.B) {
		catchUp := workload.CatchUpProcess(ctx, annals.New(bn.s), want.Events)
		workload.Loop(b, want.Events, func(int) error { return catchUp() })
	})
	b.Run(name("process", "raw-read"), rawRead)

	b.Run(name("sql", "lib"), func(b *testing.B) {
		codec := workload.Codec()
		p := must(annals.NewRecordProjection(annals.New(bn.s), "deposits", func(ctx context.Context, tx pgx.Tx, r store.Record) error {
			e, err := codec.FromRecord(ctx, r)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, insertDeposit, r.Position, r.StreamID, amount(e))
			return err
		}, annals.WithoutLease()))
		workload.Loop(b, want.Events, func(int) error {
			return p.Rebuild(ctx, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM `+deposits)
				return err
			}, nil)
		})
	})
	b.Run(name("sql", "raw-read"), rawRead)
	b.Run(name("sql", "raw-insert"), func(b *testing.B) {
		workload.Loop(b, want.Events, func(int) error {
			if _, err := bn.pool.Exec(ctx, `DELETE FROM `+deposits); err != nil {
				return err
			}
			t, err := rawPages(func(events []rawEvent) error {
				return pgx.BeginFunc(ctx, bn.pool, func(tx pgx.Tx) error {
					for _, r := range events {
						if _, err := tx.Exec(ctx, insertDeposit, r.position, r.stream, amount(r.event)); err != nil {
							return err
						}
					}
					_, err := tx.Exec(ctx, checkpoint, "raw-deposits", events[len(events)-1].position)
					return err
				})
			})
			if err != nil {
				return err
			}
			return workload.Check("raw inserts", t, want)
		})
	})
}

func amount(e workload.Event) int64 {
	if d, ok := e.(workload.Deposited); ok {
		return d.Amount
	}
	return 0
}

// BenchmarkConcurrentHandle handles commands from 1, 8, 32 and 128
// goroutines at once, each on streams of its own, ten commands to a
// stream, as BenchmarkHandle does from one: load, decide, encode, append.
//
//   - lib: a store opened from a URL without pool settings, so with the
//     store's default pool (see postgres.Open);
//   - raw: the same commands by hand, one transaction per command (the
//     INSERT alone), on a pgx pool of the same size with the same session
//     settings;
//   - pgx-pool: the library on pgx's own default pool, max(4, CPUs)
//     connections, which the store used before it chose its own.
func BenchmarkConcurrentHandle(b *testing.B) {
	ctx := context.Background()
	for _, goroutines := range workload.Goroutines {
		b.Run(fmt.Sprintf("postgres/goroutines=%d/lib", goroutines), func(b *testing.B) {
			r := annals.NewRunner(annals.New(newBench(b).s), workload.Decider(), workload.Codec())
			workload.Concurrent(b, goroutines, workload.HandleConcurrent(ctx, r))
		})
		b.Run(fmt.Sprintf("postgres/goroutines=%d/pgx-pool", goroutines), func(b *testing.B) {
			db := pgtest.New(b)
			s, err := postgres.Open(ctx, db.URL+fmt.Sprintf("&pool_max_conns=%d", max(4, runtime.NumCPU())), postgres.WithSchema(db.Schema))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			r := annals.NewRunner(annals.New(s), workload.Decider(), workload.Codec())
			workload.Concurrent(b, goroutines, workload.HandleConcurrent(ctx, r))
		})
		b.Run(fmt.Sprintf("postgres/goroutines=%d/raw", goroutines), func(b *testing.B) {
			bn := newBench(b)
			// The baseline's pool is as large as the store's.
			cfg := bn.pool.Config()
			cfg.MaxConns = bn.s.Pool().Config().MaxConns
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			t := bn.rawEvents(b)
			load := `SELECT ` + rawColumns + ` FROM ` + t + ` WHERE stream_id = $1 ORDER BY version`
			insert := `INSERT INTO ` + t + ` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
				VALUES ($1, $2, $3, $4, 1, $5, '', '', '')`
			workload.Concurrent(b, goroutines, func(g, j int) error {
				stream := workload.ConcurrentStream(g, j)
				rows, err := pool.Query(ctx, load, stream)
				if err != nil {
					return err
				}
				var a workload.Account
				var version int64
				if _, _, err := scanEvents(rows, func(r *rawEvent) { a, version = workload.Evolve(a, r.event), r.version }); err != nil {
					return err
				}
				events, err := workload.Decide(workload.ConcurrentCommand(j), a)
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
				_, err = pool.Exec(ctx, insert, stream, version+1, id, typ, data)
				return err
			})
		})
	}
}
