package annals_test

import (
	"context"
	"errors"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// A consumer that stopped is found by name and retried once the fault
// has passed: it catches up and no longer reports the failure.
func TestRetryCatchesUpAStoppedConsumer(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	boom := errors.New("read model down")
	failing := true
	down := must(annals.NewRecordProjection(s, "down", func(context.Context, store.StateTx, store.Record) error {
		if failing {
			return boom
		}
		return nil
	}))
	if err := sys.Add(down); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	for range 2 {
		if _, err := r.Handle(ctx, "c", increment{}); !errors.Is(err, annals.ErrStored) && err != nil {
			t.Fatal(err)
		}
	}
	if c, ok := sys.Consumer("down"); !ok || c != annals.Consumer(down) {
		t.Fatalf("Consumer(down) = %v, %v", c, ok)
	}
	if _, ok := sys.Consumer("up"); ok {
		t.Fatal("Consumer(up) found a consumer the system does not have")
	}

	n, err := sys.Retry(ctx, "down")
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Position != 1 || n != 0 {
		t.Fatalf("Retry while failing = %d, %v; want it stopped at position 1", n, err)
	}
	failing = false
	if n, err := sys.Retry(ctx, "down"); err != nil || n != 2 {
		t.Fatalf("Retry after the fix = %d, %v; want the 2 events handled", n, err)
	}
	status := must(sys.Status(ctx))
	if status[0].Stopped != nil || status[0].Lag != 0 {
		t.Fatalf("status after Retry = %+v, want caught up and not stopped", status[0])
	}
	if _, err := sys.Retry(ctx, "up"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Retry(up) = %v, want ErrNotFound", err)
	}
}

// In a Sync system, what a retried saga sends is handled by the other
// consumers before Retry returns, and sent once.
func TestRetryOfASagaSettlesWhatItSent(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	sys.OnError(func(string, error) {})
	r := annals.NewRunner(s, counter, counterCodec())
	down := true
	dispatch := dispatchTo(r, "b")
	mirror := annals.NewSaga(s, "mirror", mirrorSaga(0), counterCodec(), func(ctx context.Context, c bump, cause annals.Cause) error {
		if down {
			return errors.New("b is down")
		}
		return dispatch(ctx, c, cause)
	})
	totals := newTally(s)
	if err := sys.Add(mirror, totals); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := r.Handle(ctx, "a-1", increment{}); err != nil && !errors.Is(err, annals.ErrStored) {
			t.Fatal(err)
		}
	}
	down = false
	if n, err := sys.Retry(ctx, "mirror"); err != nil || n != 2 {
		t.Fatalf("Retry(mirror) = %d, %v; want the third increment and the bump it sent handled", n, err)
	}
	if got, err := totals.Get(ctx, "b-1"); err != nil || got != (tally{Count: 1, Last: 1}) {
		t.Fatalf("tally of b-1 after Retry = %+v, %v; want the one bump the saga sent", got, err)
	}
	if err := sys.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
}
