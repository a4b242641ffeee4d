package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
)

// The Append benchmarks compare the store with a baseline that writes the
// same rows through database/sql by hand: the same file schema, pragmas and
// BEGIN IMMEDIATE transactions, a prepared INSERT (one multi-row INSERT for
// a batch), a fresh UUIDv7 per event and the JSON metadata encoded once per
// batch. What the store adds is its work: validation, the expected-version
// check in the transaction, and waking waiters. Compare ns/op of store and raw in the
// same run, and cpu-ns/op, the processor time per append, which other
// work on the machine disturbs less:
//
//	go test -run '^$' -bench Append -benchtime 2000x -count 3 ./store/sqlite
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []Synchronous{SyncFull, SyncNormal} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d/store", sync, batch), func(b *testing.B) { benchStore(b, sync, batch) })
			b.Run(fmt.Sprintf("sync=%s/batch=%d/raw", sync, batch), func(b *testing.B) { benchRaw(b, sync, batch) })
		}
	}
}

// reportCPU reports the processor time the process spent per operation,
// user and system, as cpu-ns/op. On a machine shared with other work it
// varies much less than the elapsed time. Call it after the setup:
// defer reportCPU(b)().
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchStreams is how many streams the single-event benchmarks spread
// their appends over, as command handling spreads over aggregates.
const benchStreams = 1000

var (
	benchData = []byte(`{"dog_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","name":"Fido","breed":"border collie","trick":"roll over"}`)
	benchMeta = store.Metadata{CorrelationID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", CausationID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"}
)

func benchEvents(n int) []store.Event {
	events := make([]store.Event, n)
	for i := range events {
		events[i] = store.Event{Type: "TrickAdded", SchemaVersion: 1, Data: benchData, Metadata: benchMeta}
	}
	return events
}

func benchStore(b *testing.B, sync Synchronous, batch int) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), WithSynchronous(sync))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	events := benchEvents(batch)
	versions := make([]int64, benchStreams)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	for i := range b.N {
		stream, expected := benchStream(i, batch, versions)
		v, err := s.Append(ctx, stream, expected, events)
		if err != nil {
			b.Fatal(err)
		}
		if batch == 1 {
			versions[i%benchStreams] = v
		}
	}
}

func benchStream(i, batch int, versions []int64) (string, int64) {
	if batch == 1 {
		return fmt.Sprintf("dog-%d", i%benchStreams), versions[i%benchStreams]
	}
	return fmt.Sprintf("dog-%d", i), store.NoStream
}

func benchRaw(b *testing.B, sync Synchronous, batch int) {
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.synchronous = sync
	db, err := sql.Open("sqlite", cfg.dsn(filepath.Join(b.TempDir(), "raw.db"), true))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	rows := strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?),", batch), ",")
	ins, err := db.PrepareContext(ctx, `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata) VALUES `+rows)
	if err != nil {
		b.Fatal(err)
	}
	defer ins.Close()
	events := benchEvents(batch)
	versions := make([]int64, benchStreams)
	args := make([]any, 0, 9*batch)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	for i := range b.N {
		stream, version := benchStream(i, batch, versions)
		now := time.Now().UnixNano()
		// The events of a batch share their metadata, as those of one
		// command do: it is encoded once.
		metaJSON, err := json.Marshal(events[0].Metadata)
		if err != nil {
			b.Fatal(err)
		}
		var meta any = string(metaJSON)
		args = args[:0]
		for _, e := range events {
			id, err := uuid.NewV7()
			if err != nil {
				b.Fatal(err)
			}
			version++
			args = append(args, id[:], stream, version, e.Type, int64(e.SchemaVersion), now, e.Data, e.Encoding, meta)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.StmtContext(ctx, ins).ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if batch == 1 {
			versions[i%benchStreams] = version
		}
	}
}
