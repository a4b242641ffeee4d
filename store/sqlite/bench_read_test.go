package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/workload"
)

// seededLog returns a store holding the global log of the read workloads,
// a baseline's connections to the same file, and what reading it must
// see.
func seededLog(b *testing.B) (*Store, rawDB, workload.Total) {
	b.Helper()
	n := workload.Size(b, workload.LogEvents)
	streams := min(workload.LogStreams, n)
	s := openStore(b, SyncFull)
	if err := workload.SeedLog(context.Background(), s, streams, n/streams); err != nil {
		b.Fatal(err)
	}
	return s, openRaw(b, s.path, SyncFull), workload.ExpectedLog(streams, n/streams)
}

// rawReadLog reads the global log in pages with page, a prepared SELECT of
// rawColumns after a position, decoding every event.
func rawReadLog(ctx context.Context, page *sql.Stmt, visit func(rawEvent)) (workload.Total, error) {
	var t workload.Total
	for after := int64(0); ; {
		rows, err := page.QueryContext(ctx, after, workload.Page)
		if err != nil {
			return t, err
		}
		last, n, err := scanEvents(rows, func(r rawEvent) {
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

const rawLogPage = `SELECT ` + rawColumns + ` FROM annals_events WHERE position > ? ORDER BY position LIMIT ?`

// BenchmarkReadLog reads the whole global log of 100,000 events into typed
// events, in pages of 500: ReadLog and the codec, against the same pages
// read and decoded by hand.
func BenchmarkReadLog(b *testing.B) {
	ctx := context.Background()
	s, db, want := seededLog(b)
	codec := workload.Codec()
	b.Run(fmt.Sprintf("sqlite/events=%d/lib", want.Events), func(b *testing.B) {
		workload.Loop(b, want.Events, func(int) error {
			t, err := workload.ReadLog(ctx, s, codec)
			if err != nil {
				return err
			}
			return workload.Check("ReadLog", t, want)
		})
	})
	b.Run(fmt.Sprintf("sqlite/events=%d/raw", want.Events), func(b *testing.B) {
		page := db.prepare(b, db.r, rawLogPage)
		workload.Loop(b, want.Events, func(int) error {
			t, err := rawReadLog(ctx, page, nil)
			if err != nil {
				return err
			}
			return workload.Check("raw read", t, want)
		})
	})
}

// rawLoad folds the events of stream after version from into a, with
// tail, a prepared SELECT of rawColumns by stream and version.
func rawLoad(ctx context.Context, tail *sql.Stmt, stream string, a workload.Account, from int64) (workload.Account, error) {
	rows, err := tail.QueryContext(ctx, stream, from)
	if err != nil {
		return a, err
	}
	_, _, err = scanEvents(rows, func(r rawEvent) { a = workload.Evolve(a, r.event) })
	return a, err
}

const rawStreamTail = `SELECT ` + rawColumns + ` FROM annals_events WHERE stream_id = ? AND version > ? ORDER BY version`

// BenchmarkLoadStream loads a stream of 10,000 events into a state:
// Runner.Load, against the rows read, decoded and folded by hand.
func BenchmarkLoadStream(b *testing.B) {
	ctx := context.Background()
	n := workload.Size(b, workload.StreamEvents)
	s := openStore(b, SyncFull)
	if err := workload.SeedAccount(ctx, s, nil, "account", n); err != nil {
		b.Fatal(err)
	}
	db := openRaw(b, s.path, SyncFull)
	want := workload.AccountAt(n)
	b.Run(fmt.Sprintf("sqlite/events=%d/lib", n), func(b *testing.B) {
		r := annals.NewRunner(annals.New(s), workload.Decider(), workload.Codec())
		workload.Loop(b, n, workload.Load(ctx, r, "account", n))
	})
	b.Run(fmt.Sprintf("sqlite/events=%d/raw", n), func(b *testing.B) {
		tail := db.prepare(b, db.r, rawStreamTail)
		workload.Loop(b, n, func(int) error {
			a, err := rawLoad(ctx, tail, "account", workload.Account{}, 0)
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
		s := openStore(b, SyncFull)
		if err := workload.SeedAccount(ctx, s, s, "account", n); err != nil {
			b.Fatal(err)
		}
		db := openRaw(b, s.path, SyncFull)
		tail := n - workload.SnapshotVersion(n)
		want := workload.AccountAt(n)
		b.Run(fmt.Sprintf("sqlite/events=%d/snapshots/lib", n), func(b *testing.B) {
			r := annals.NewRunner(annals.New(s), workload.Decider(), workload.Codec(), annals.WithSnapshots(s, nil, workload.StateCodec()))
			workload.Loop(b, tail, workload.Load(ctx, r, "account", n))
		})
		b.Run(fmt.Sprintf("sqlite/events=%d/snapshots/raw", n), func(b *testing.B) {
			snap := db.prepare(b, db.r, `SELECT version, type, schema_version, taken_at, data, encoding FROM annals_snapshots WHERE stream_id = ?`)
			events := db.prepare(b, db.r, rawStreamTail)
			workload.Loop(b, tail, func(int) error {
				var (
					a               workload.Account
					version, schema int64
					typ, encoding   string
					taken           sql.NullInt64
					data            []byte
				)
				err := snap.QueryRowContext(ctx, "account").Scan(&version, &typ, &schema, &taken, &data, &encoding)
				switch {
				case errors.Is(err, sql.ErrNoRows): // replay from the start
				case err != nil:
					return err
				default:
					if err := json.Unmarshal(data, &a); err != nil {
						return err
					}
				}
				if a, err = rawLoad(ctx, events, "account", a, version); err != nil {
					return err
				}
				return workload.CheckAccount(a, want)
			})
		})
		b.Run(fmt.Sprintf("sqlite/events=%d/replay/lib", n), func(b *testing.B) {
			r := annals.NewRunner(annals.New(s), workload.Decider(), workload.Codec())
			workload.Loop(b, n, workload.Load(ctx, r, "account", n))
		})
		b.Run(fmt.Sprintf("sqlite/events=%d/replay/raw", n), func(b *testing.B) {
			events := db.prepare(b, db.r, rawStreamTail)
			workload.Loop(b, n, func(int) error {
				a, err := rawLoad(ctx, events, "account", workload.Account{}, 0)
				if err != nil {
					return err
				}
				return workload.CheckAccount(a, want)
			})
		})
	}
}
