package annals_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// conflictCounter counts the appends its store refuses for a conflict.
type conflictCounter struct {
	*memory.Store
	conflicts atomic.Int64
}

func (s *conflictCounter) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	v, err := s.Store.Append(ctx, id, expected, events)
	if errors.Is(err, store.ErrConflict) {
		s.conflicts.Add(1)
	}
	return v, err
}

// Commands that one runner handles on one stream at once take turns: none
// of them meets a conflict, whether the runner caches states or reads the
// stream for each command, every command's event is decided on the state
// it is appended to, and what each returns is what the stream holds.
func TestCommandsOfOneRunnerOnAStreamTakeTurns(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		st := &conflictCounter{Store: memory.New()}
		var opts []annals.RunnerOption
		if rapid.Bool().Draw(rt, "cache") {
			opts = append(opts, annals.WithCache(4))
		}
		r := annals.NewRunner(annals.New(st), counter, counterCodec(), append(opts, annals.WithRetries(0))...)
		goroutines := rapid.IntRange(2, 16).Draw(rt, "goroutines")
		streams := rapid.IntRange(1, 3).Draw(rt, "streams")
		perGoroutine := rapid.IntRange(1, 20).Draw(rt, "commands each")
		versions := make([][]int64, goroutines)
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				for i := range perGoroutine {
					stream := fmt.Sprintf("counter-%d", (g+i)%streams)
					res, err := r.Handle(ctx, stream, increment{})
					if err != nil {
						errs <- err
						return
					}
					if res.State != int(res.Version) {
						errs <- fmt.Errorf("%s: state %d at version %d", stream, res.State, res.Version)
						return
					}
					versions[g] = append(versions[g], res.Version)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			rt.Fatal(err) // with no retries, a conflict fails the command
		}
		if n := st.conflicts.Load(); n != 0 {
			rt.Fatalf("%d appends conflicted", n)
		}
		total := 0
		for s := range streams {
			state, version, err := annals.NewRunner(annals.New(st), counter, counterCodec()).Load(ctx, fmt.Sprintf("counter-%d", s))
			if err != nil || state != int(version) {
				rt.Fatalf("stream %d: state %d at version %d (%v)", s, state, version, err)
			}
			total += state
		}
		if total != goroutines*perGoroutine {
			rt.Fatalf("the streams hold %d increments, want %d", total, goroutines*perGoroutine)
		}
		if n := annals.WaitingTurns(r); n != 0 {
			rt.Fatalf("%d streams still have turns after every command returned", n)
		}
	})
}

// A command whose context ends while it waits for its turn returns the
// context's error and stores nothing; the command holding the turn goes
// on, and the next one runs after it.
func TestCommandLeavesTheQueueForItsTurnWhenItsContextEnds(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	holding, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	slow := counter
	slow.Decide = func(c increment, st int) ([]incremented, error) {
		if calls.Add(1) == 1 {
			close(holding)
			<-release
		}
		return counter.Decide(c, st)
	}
	r := annals.NewRunner(s, slow, counterCodec())
	first := make(chan error, 1)
	go func() {
		_, err := r.Handle(ctx, "c", increment{})
		first <- err
	}()
	<-holding
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := r.Handle(waitCtx, "c", increment{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a command waiting for its turn past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("Decide ran %d times, want once: the waiting command decided", calls.Load())
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	res, err := r.Handle(ctx, "c", increment{})
	if err != nil || res.Version != 2 || res.State != 2 {
		t.Fatalf("the next command: %+v, %v; want version 2", res, err)
	}
	if n := annals.WaitingTurns(r); n != 0 {
		t.Fatalf("%d streams still have turns", n)
	}
}

// In a Sync system, the consumers run after the command's turn: a process
// whose command goes to the stream of the event it reacts to, through the
// same runner, is handled, not left waiting for the turn its cause holds.
func TestSyncProcessCommandsTheStreamOfItsCause(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := annals.New(memory.New())
	orders := annals.NewRunner(s, order, orderCodec())
	shipping := annals.NewProcess(s, "shipping", shipWhenReady, orderCodec(),
		func(r store.Record, _ any) (string, bool) { return r.StreamID, true },
		func(ctx context.Context, c ShipOrder, cause annals.Cause) error {
			_, err := orders.Handle(ctx, cause.Instance, c, cause.Options()...)
			return err
		})
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Add(shipping); err != nil {
		t.Fatal(err)
	}
	for _, c := range []any{PackOrder{}, PayOrder{}} {
		if _, err := orders.Handle(ctx, "order-1", c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	state, version, err := orders.Load(ctx, "order-1")
	if err != nil || !state.Shipped || version != 3 {
		t.Fatalf("order-1 is %+v at version %d (%v), want shipped at 3", state, version, err)
	}
}
