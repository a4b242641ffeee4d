package annals_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// counters is a small system: counter streams, a tally view of every
// stream, and the mirror saga bumping "b-x" when "a-x" reaches a multiple
// of 3.
type counters struct {
	sys    *annals.System
	runner *annals.Runner[increment, incremented, int]
	tally  *annals.ViewProjection[tally, incremented]
}

func newCounters(s annals.ConsumerStore, mode annals.Mode) *counters {
	sys := annals.NewSystem(s, mode)
	r := annals.NewRunner(sys.Store(), counter, counterCodec())
	c := &counters{sys: sys, runner: r, tally: newTally(s)}
	sys.Add(c.tally, annals.NewSaga(s, "mirror", mirrorSaga(0), counterCodec(), dispatchTo(r, "b")))
	return c
}

// outcome is everything a script leads to: each stream's state and view.
func (c *counters) outcome(t *rapid.T, streams []string) map[string]string {
	ctx := context.Background()
	out := map[string]string{}
	for _, id := range streams {
		for _, prefix := range []string{"a-", "b-"} {
			state, version, err := c.runner.Load(ctx, prefix+id)
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.tally.Get(ctx, prefix+id)
			if err != nil {
				t.Fatal(err)
			}
			out[prefix+id] = fmt.Sprintf("state %d version %d view %+v", state, version, v)
		}
	}
	return out
}

func TestSyncAndAsyncSystemsAgree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		streams := []string{"1", "2", "3"}
		script := rapid.SliceOfN(rapid.SampledFrom(streams), 0, 30).Draw(t, "script")

		sync := newCounters(memory.New(), annals.Sync)
		for i, id := range script {
			if _, err := sync.runner.Handle(ctx, "a-"+id, increment{}); err != nil {
				t.Fatal(err)
			}
			// In Sync mode the consequences are there when Handle returns.
			n := 0
			for _, prev := range script[:i+1] {
				if prev == id {
					n++
				}
			}
			v, err := sync.tally.Get(ctx, "b-"+id)
			if err != nil {
				t.Fatal(err)
			}
			if v.Count != n/3 {
				t.Fatalf("after command %d the view of b-%s counts %d, want %d", i, id, v.Count, n/3)
			}
		}

		async := newCounters(memory.New(), annals.Async)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- async.sys.Run(runCtx) }()
		for _, id := range script {
			if _, err := async.runner.Handle(ctx, "a-"+id, increment{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := async.sys.WaitQuiet(ctx); err != nil {
			t.Fatal(err)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("async system: %v", err)
		}
		if got, want := async.outcome(t, streams), sync.outcome(t, streams); !maps.Equal(got, want) {
			t.Fatalf("async outcome %v\nsync outcome  %v", got, want)
		}
	})
}

// A consumer that fails in a Sync system makes the append that triggered
// it return the failure, though the events were stored.
func TestSyncSystemReportsConsumerFailure(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	sys := annals.NewSystem(s, annals.Sync)
	boom := errors.New("read model down")
	sys.Add(annals.NewProjection(s, s, "down", func(context.Context, store.StateTx, store.Record) error { return boom }))
	r := annals.NewRunner(sys.Store(), counter, counterCodec())
	_, err := r.Handle(ctx, "c", increment{})
	if !errors.Is(err, boom) {
		t.Fatalf("Handle = %v, want the consumer's failure", err)
	}
	if head, _ := s.Head(ctx); head != 1 {
		t.Fatalf("head = %d, want the stored event", head)
	}
}

// Run keeps the other consumers going when one fails, and returns the
// failure once stopped.
func TestAsyncSystemIsolatesFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := memory.New()
	sys := annals.NewSystem(s, annals.Async)
	var reported []string
	sys.OnError(func(consumer string, err error) { reported = append(reported, consumer) })
	boom := errors.New("read model down")
	good := newTally(s)
	sys.Add(annals.NewProjection(s, s, "down", func(context.Context, store.StateTx, store.Record) error { return boom }), good)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	appendN(t, annals.NewRunner(sys.Store(), counter, counterCodec()), "c", 4)
	for {
		if v, _ := good.Get(ctx, "c"); v.Count == 4 {
			break
		}
		runtimeYield()
	}
	stop()
	err := <-done
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Consumer != "down" || !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the failed consumer's error", err)
	}
	if len(reported) != 1 || reported[0] != "down" {
		t.Fatalf("OnError saw %v, want one report for down", reported)
	}
	if err := sys.Run(ctx, "nosuch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Run of an unknown consumer: %v, want store.ErrNotFound", err)
	}
}
