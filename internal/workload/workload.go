package workload

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/view"
)

// EnvScale names the environment variable that multiplies every workload
// size: unset means 1, the sizes docs/benchmarks.md reports; 0.01 makes a
// smoke run.
const EnvScale = "ANNALS_BENCH_SCALE"

// Sizes of the workloads at scale 1.
const (
	LogEvents      = 100_000 // events of the global log read, and caught up by projections
	LogStreams     = 1_000   // streams those events belong to
	StreamEvents   = 10_000  // events of the stream loaded into a state
	SmallAggregate = 1_000   // events of the short aggregate loaded with and without snapshots
	LargeAggregate = 100_000 // events of the long one
	BatchSize      = 100     // events of an appended batch
	CommandsPerAgg = 10      // commands per stream in the second command workload
	SnapshotEvery  = 100     // events between snapshots of the aggregates
	Page           = annals.DefaultBatchSize
)

// Size returns n multiplied by the scale in ANNALS_BENCH_SCALE, at least 1.
// An unparsable or non-positive scale fails b.
func Size(b testing.TB, n int) int {
	b.Helper()
	v := os.Getenv(EnvScale)
	if v == "" {
		return n
	}
	scale, err := strconv.ParseFloat(v, 64)
	if err != nil || scale <= 0 || math.IsInf(scale, 0) || math.IsNaN(scale) {
		b.Fatalf("%s=%q: want a positive number, such as 0.01 for a smoke run", EnvScale, v)
	}
	return max(int(math.Round(float64(n)*scale)), 1)
}

// Loop runs op once per iteration of b.Loop, numbering iterations from 0,
// and reports that each handles events events, and the processor time
// the process spent per operation (see CPUTime). Setup done before Loop
// is not timed. It fails b on the first error.
func Loop(b *testing.B, events int, op func(i int) error) {
	b.Helper()
	b.ReportAllocs()
	var cpu time.Duration
	i := 0
	for b.Loop() {
		if i == 0 {
			cpu = CPUTime(b)
		}
		if err := op(i); err != nil {
			b.Fatalf("operation %d: %v", i, err)
		}
		i++
	}
	b.ReportMetric(float64(CPUTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(events), "events/op")
}

// CPUTime returns the processor time the process has spent, user and
// system. Per operation, as the cpu-ns/op metric of Loop, it varies much
// less than the elapsed time on a machine shared with other work; for the
// in-process stores it is the whole cost of an operation but the waits
// for the disk, and for PostgreSQL only the client's part.
func CPUTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Total is what a reader of account events saw: how many events and the
// sum of the amounts deposited. Library and baselines compare theirs with
// the one expected, so that each is known to have read every event.
type Total struct {
	Events int
	Amount int64
}

// Add counts e.
func (t *Total) Add(e Event) {
	t.Events++
	if d, ok := e.(Deposited); ok {
		t.Amount += d.Amount
	}
}

// ExpectedLog is the Total of the log that SeedLog writes.
func ExpectedLog(streams, perStream int) Total {
	var t Total
	for v := 1; v <= perStream; v++ {
		t.Add(HistoryEvent(v))
	}
	return Total{Events: t.Events * streams, Amount: t.Amount * int64(streams)}
}

// Check returns an error when got is not want.
func Check(what string, got, want Total) error {
	if got != want {
		return fmt.Errorf("%s read %+v, want %+v", what, got, want)
	}
	return nil
}

// Events returns the events of versions from to to-1 of an account's
// history, encoded by the library's codec for appending.
func Events(ctx context.Context, stream string, from, to int) ([]store.Event, error) {
	m := Codec()
	out := make([]store.Event, 0, to-from)
	for v := from; v < to; v++ {
		e, err := m.ToEvent(ctx, codec.Placement{StreamID: stream, Version: int64(v)}, HistoryEvent(v), store.Metadata{})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// SeedLog appends the histories of streams accounts of perStream events
// each, interleaved in batches of up to BatchSize events, as many writers
// would leave the log.
func SeedLog(ctx context.Context, s store.Store, streams, perStream int) error {
	for from := 1; from <= perStream; from += BatchSize {
		to := min(from+BatchSize, perStream+1)
		for i := range streams {
			stream := StreamID(i, 1)
			events, err := Events(ctx, stream, from, to)
			if err != nil {
				return err
			}
			if _, err := s.Append(ctx, stream, int64(from-1), events); err != nil {
				return fmt.Errorf("seed %s: %w", stream, err)
			}
		}
	}
	return nil
}

// SeedAccount appends an account's history of n events to stream and, when
// snaps is not nil, saves a snapshot at versions 50, 150, 250…, so that the
// latest one is SnapshotEvery/2 events behind the head on average, as with a
// snapshot every SnapshotEvery events.
func SeedAccount(ctx context.Context, s store.Store, snaps snapshot.Store, stream string, n int) error {
	states := StateCodec()
	var a Account
	from := 1
	for v := 1; v <= n; v++ {
		a = Evolve(a, HistoryEvent(v))
		snap := snaps != nil && v%SnapshotEvery == SnapshotEvery/2
		if !snap && v-from+1 < SnapshotEvery && v < n {
			continue
		}
		events, err := Events(ctx, stream, from, v+1)
		if err != nil {
			return err
		}
		if _, err := s.Append(ctx, stream, int64(from-1), events); err != nil {
			return fmt.Errorf("seed %s: %w", stream, err)
		}
		from = v + 1
		if snap {
			sn, err := states.ToSnapshot(ctx, stream, int64(v), a)
			if err != nil {
				return err
			}
			if err := snaps.SaveSnapshot(ctx, sn); err != nil {
				return err
			}
		}
	}
	return nil
}

// SnapshotVersion is the version of the latest snapshot SeedAccount saves
// for n events, 0 for none.
func SnapshotVersion(n int) int {
	v := (n/SnapshotEvery)*SnapshotEvery + SnapshotEvery/2
	if v > n {
		v -= SnapshotEvery
	}
	return max(v, 0)
}

// Handle returns the library side of command handling: operation i handles
// command i%perStream of stream i/perStream through r.
func Handle(ctx context.Context, r *annals.Runner[Command, Event, Account], perStream int) func(i int) error {
	return func(i int) error {
		res, err := r.Handle(ctx, StreamID(i, perStream), CommandFor(i%perStream))
		if err == nil && res.Version != int64(i%perStream+1) {
			return fmt.Errorf("command %d left the stream at version %d", i, res.Version)
		}
		return err
	}
}

// ReadLog is the library side of reading the global log into typed
// events: pages of Page records, each decoded by m.
func ReadLog(ctx context.Context, s store.Log, m codec.Mapper[Event]) (Total, error) {
	var t Total
	for after := int64(0); ; {
		recs, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: Page})
		if err != nil {
			return t, err
		}
		for _, r := range recs {
			e, err := m.FromRecord(ctx, r)
			if err != nil {
				return t, err
			}
			t.Add(e)
		}
		if len(recs) < Page {
			return t, nil
		}
		after = recs[len(recs)-1].Position
	}
}

// Load is the library side of loading an aggregate: r.Load, checked
// against the state folded without the library.
func Load(ctx context.Context, r *annals.Runner[Command, Event, Account], stream string, n int) func(int) error {
	want := AccountAt(n)
	return func(int) error {
		a, v, err := r.Load(ctx, stream)
		if err != nil {
			return err
		}
		if v != int64(n) || a != want {
			return fmt.Errorf("loaded %+v at version %d, want %+v at %d", a, v, want, n)
		}
		return nil
	}
}

// CheckAccount returns an error when a state is not the one expected.
func CheckAccount(a, want Account) error {
	if a != want {
		return fmt.Errorf("loaded %+v, want %+v", a, want)
	}
	return nil
}

// CatchUpDecode returns the library side of a projection's catch-up that
// decodes every event and writes nothing but its checkpoint: a rebuild
// of a annals.Projection committed through s, which returns the events it
// saw.
func CatchUpDecode(ctx context.Context, s *annals.Store) func() (Total, error) {
	var t Total
	p, err := annals.NewProjection(s, "decode", Codec(), func(ctx context.Context, _ store.StateTx, ev annals.Envelope[Event]) error {
		t.Add(ev.Event)
		return nil
	}, annals.WithoutLease())
	return func() (Total, error) {
		if err != nil {
			return Total{}, err
		}
		t = Total{}
		err := p.Rebuild(ctx, func(context.Context, store.StateTx) error { return nil }, nil)
		return t, err
	}
}

// CatchUpView returns the library side of a view's catch-up: a rebuild of
// a annals.ViewProjection that keeps each account's state in s, checked
// against the state folded without the library.
func CatchUpView(ctx context.Context, s *annals.Store, perStream int) func() error {
	accounts := view.View[Account, Event]{Evolve: Evolve}
	byStream := func(r store.Record, _ Event) (string, bool) { return r.StreamID, true }
	p := annals.NewViewProjection(s, "accounts", accounts, Codec(), byStream, annals.WithoutLease())
	want := AccountAt(perStream)
	return func() error {
		if err := p.Rebuild(ctx, nil); err != nil {
			return err
		}
		a, err := p.Get(ctx, StreamID(0, 1))
		if err != nil {
			return err
		}
		return CheckAccount(a, want)
	}
}

// CatchUpProcess returns the library side of a process's catch-up over a
// log of events events: a saga.Process that keeps a state per instance in
// s, each event going to the instance of its position modulo Page, so
// that every page of the log meets as many instances as it has events,
// each with a state stored by the page before. It sends no command:
// what it measures is what a batch of a process costs besides its
// dispatches, reading its instances' states and committing them with the
// checkpoint. Each run starts again from the start of the log.
func CatchUpProcess(ctx context.Context, s *annals.Store, events int) func() error {
	const name = "process"
	process := saga.Process[Total, Event, struct{}]{
		Evolve: func(t Total, e Event) Total { t.Add(e); return t },
		React:  func(Total, Event) []struct{} { return nil },
	}
	instance := func(r store.Record, _ Event) (string, bool) {
		return "instance-" + strconv.FormatInt(r.Position%Page, 10), true
	}
	p := annals.NewProcess(s, name, process, Codec(), instance, func(context.Context, struct{}, annals.Cause) error { return nil })
	want := (events-1)/Page + 1 // the events of instance-1: positions 1, Page+1, …
	return func() error {
		at, err := p.Position(ctx)
		if err != nil {
			return err
		}
		if err := s.Commit(ctx, name, at, 0, func(tx store.StateTx) error { return tx.DeleteStates(ctx, name) }); err != nil {
			return err
		}
		if _, err := p.CatchUp(ctx); err != nil {
			return err
		}
		t, err := p.State(ctx, "instance-1")
		if err == nil && t.Events != want {
			err = fmt.Errorf("instance-1 counted %d events, want %d", t.Events, want)
		}
		return err
	}
}

// Goroutines are the numbers of goroutines of the concurrent workloads:
// one, a few, and many more than the machine has cores.
var Goroutines = []int{1, 8, 32, 128}

// Concurrent runs b.N operations spread over goroutines goroutines, each
// taking the next operation while any is left, and reports, as Loop does,
// the processor time per operation and that each handles one event. op
// is called with the goroutine's number g and how many operations that
// goroutine did before (j), so that each goroutine can work on streams of
// its own. It fails b on the first error.
func Concurrent(b *testing.B, goroutines int, op func(g, j int) error) {
	b.Helper()
	b.ReportAllocs()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	cpu := CPUTime(b)
	b.ResetTimer()
	for g := range goroutines {
		wg.Go(func() {
			for j := 0; next.Add(1) <= int64(b.N); j++ {
				if err := op(g, j); err != nil {
					once.Do(func() { first = fmt.Errorf("goroutine %d, operation %d: %w", g, j, err) })
					next.Store(int64(b.N)) // the others stop
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if first != nil {
		b.Fatal(first)
	}
	b.ReportMetric(float64(CPUTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(1, "events/op")
}

// ConcurrentStream names the stream of operation j of goroutine g in the
// concurrent command workload: each goroutine has streams of its own,
// CommandsPerAgg commands to a stream.
func ConcurrentStream(g, j int) string {
	return "account-" + strconv.Itoa(g) + "-" + strconv.Itoa(j/CommandsPerAgg)
}

// ConcurrentCommand is the command of operation j of a goroutine of the
// concurrent command workload.
func ConcurrentCommand(j int) Command { return CommandFor(j % CommandsPerAgg) }

// HandleConcurrent returns the library side of the concurrent command
// workload: operation j of goroutine g handles ConcurrentCommand(j) on
// ConcurrentStream(g, j) through r.
func HandleConcurrent(ctx context.Context, r *annals.Runner[Command, Event, Account]) func(g, j int) error {
	return func(g, j int) error {
		res, err := r.Handle(ctx, ConcurrentStream(g, j), ConcurrentCommand(j))
		if err == nil && res.Version != int64(j%CommandsPerAgg+1) {
			return fmt.Errorf("command %d of goroutine %d left the stream at version %d", j, g, res.Version)
		}
		return err
	}
}
