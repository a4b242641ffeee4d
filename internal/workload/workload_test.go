package workload_test

import (
	"context"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/workload"
	"github.com/annals-dev/annals/store/memory"
)

// The expectations the benchmarks check their reads against are those of
// the seeded data, read back through the library.
func TestSeedsMatchExpectations(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	if err := workload.SeedLog(ctx, s, 7, 230); err != nil {
		t.Fatal(err)
	}
	got, err := workload.ReadLog(ctx, s, workload.Codec())
	if err != nil {
		t.Fatal(err)
	}
	if err := workload.Check("ReadLog", got, workload.ExpectedLog(7, 230)); err != nil {
		t.Fatal(err)
	}
	if got.Events != 7*230 || got.Amount == 0 {
		t.Fatalf("read %+v, want 1610 events and deposits", got)
	}

	for _, n := range []int{1, 49, 50, 51, 150, 1234} {
		s := annals.New(memory.New())
		if err := workload.SeedAccount(ctx, s, s, "account", n); err != nil {
			t.Fatal(err)
		}
		snap, ok, err := s.LatestSnapshot(ctx, "account")
		if err != nil {
			t.Fatal(err)
		}
		if want := workload.SnapshotVersion(n); snap.Version != int64(want) || ok != (want > 0) {
			t.Errorf("%d events: latest snapshot at %d (%v), want %d", n, snap.Version, ok, want)
		}
		for _, opts := range [][]annals.RunnerOption{nil, {annals.WithSnapshots(s, nil, workload.StateCodec())}} {
			r := annals.NewRunner(annals.New(s), workload.Decider(), workload.Codec(), opts...)
			if err := workload.Load(ctx, r, "account", n)(0); err != nil {
				t.Errorf("%d events: %v", n, err)
			}
		}
	}
}

// Commands handled through the runner decide the events of the history.
func TestHandleFollowsHistory(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(annals.New(s), workload.Decider(), workload.Codec())
	handle := workload.Handle(ctx, r, 10)
	for i := range 25 {
		if err := handle(i); err != nil {
			t.Fatal(err)
		}
	}
	for _, stream := range []int{0, 10, 20} {
		n := min(10, 25-stream)
		if err := workload.Load(ctx, r, workload.StreamID(stream, 10), n)(0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSize(t *testing.T) {
	t.Setenv(workload.EnvScale, "0.01")
	if got := workload.Size(t, 100_000); got != 1000 {
		t.Errorf("Size(100000) at scale 0.01 = %d, want 1000", got)
	}
	if got := workload.Size(t, 10); got != 1 {
		t.Errorf("Size(10) at scale 0.01 = %d, want 1", got)
	}
	t.Setenv(workload.EnvScale, "")
	if got := workload.Size(t, 100_000); got != 100_000 {
		t.Errorf("Size(100000) unscaled = %d", got)
	}
}
