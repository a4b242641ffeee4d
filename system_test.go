package annals_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samber/lo"
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

func newCounters(s *annals.Store, mode annals.Mode) *counters {
	sys := must(annals.NewSystem(s, mode))
	r := annals.NewRunner(s, counter, counterCodec())
	c := &counters{sys: sys, runner: r, tally: newTally(s)}
	if err := sys.Add(c.tally, annals.NewSaga(s, "mirror", mirrorSaga(0), counterCodec(), dispatchTo(r, "b"))); err != nil {
		panic(err)
	}
	return c
}

// syncMirror returns counters on a Sync system over a new memory store
// whose mirror saga dispatches with dispatch, and whose failures are not
// logged.
func syncMirror(t *testing.T, dispatch annals.Dispatcher[bump]) *counters {
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	sys.OnError(func(string, error) {})
	c := &counters{sys: sys, runner: annals.NewRunner(s, counter, counterCodec()), tally: newTally(s)}
	if err := sys.Add(c.tally, annals.NewSaga(s, "mirror", mirrorSaga(0), counterCodec(), dispatch)); err != nil {
		t.Fatal(err)
	}
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
			if err != nil && !errors.Is(err, store.ErrNotFound) {
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

		sync := newCounters(annals.New(memory.New()), annals.Sync)
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
			if err != nil && (n/3 > 0 || !errors.Is(err, store.ErrNotFound)) {
				t.Fatal(err)
			}
			if v.Count != n/3 {
				t.Fatalf("after command %d the view of b-%s counts %d, want %d", i, id, v.Count, n/3)
			}
		}

		async := newCounters(annals.New(memory.New()), annals.Async)
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

// A consumer that fails in a Sync system makes the command whose events
// it failed on return its result and an error that says the events were
// stored; a later command, which did not cause the failure, succeeds,
// while the status and WaitQuiet report the stopped consumer.
func TestSyncSystemReportsConsumerFailure(t *testing.T) {
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
	res, err := r.Handle(ctx, "c", increment{})
	if !errors.Is(err, annals.ErrStored) || !errors.Is(err, boom) || errors.Is(err, store.ErrConflict) {
		t.Fatalf("Handle = %v, want ErrStored with the consumer's failure", err)
	}
	if res.Version != 1 || res.State != 1 || len(res.Events) != 1 {
		t.Fatalf("Handle result = %+v, want the stored event, state 1 at version 1", res)
	}
	if head, _ := s.Head(ctx); head != 1 {
		t.Fatalf("head = %d, want the stored event", head)
	}
	res, err = r.Handle(ctx, "c", increment{})
	if err != nil || res.Version != 2 {
		t.Fatalf("a later command = %+v, %v; want success: it did not cause the failure", res, err)
	}
	status := must(sys.Status(ctx))
	if len(status) != 1 || status[0].Stopped == nil || status[0].Lag != 2 {
		t.Fatalf("status = %+v, want down stopped with a lag of 2", status)
	}
	if err := sys.WaitQuiet(ctx); !errors.Is(err, boom) {
		t.Fatalf("WaitQuiet = %v, want the stopped consumer's error at once", err)
	}
	failing = false // the fault passes: the next command heals the consumer
	if _, err := r.Handle(ctx, "c", increment{}); err != nil {
		t.Fatal(err)
	}
	if err := sys.WaitQuiet(ctx); err != nil {
		t.Fatalf("WaitQuiet after the fault passed: %v", err)
	}
}

// A system refuses what would wire past it: a second system on the
// store, a consumer built on another store, a name used twice.
func TestSystemRefusesMiswiring(t *testing.T) {
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	if _, err := annals.NewSystem(s, annals.Async); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("second system on one store: %v, want store.ErrInvalid", err)
	}
	other := annals.New(memory.New())
	if err := sys.Add(newTally(other)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("consumer on another store: %v, want store.ErrInvalid", err)
	}
	if err := sys.Add(newTally(s), newTally(s)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("two consumers named alike: %v, want store.ErrInvalid", err)
	}
	if status := must(sys.Status(context.Background())); len(status) != 0 {
		t.Fatalf("a refused Add added %+v", status)
	}
}

// Run keeps the other consumers going when one fails, and returns the
// failure once stopped.
func TestAsyncSystemIsolatesFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	var reported []string
	sys.OnError(func(consumer string, err error) { reported = append(reported, consumer) })
	boom := errors.New("read model down")
	good := newTally(s)
	if err := sys.Add(must(annals.NewRecordProjection(s, "down", func(context.Context, store.StateTx, store.Record) error { return boom })), good); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 4)
	for {
		// Both must have got there: the good one to the head, the other
		// to its failure (under load it may not have begun yet).
		v, _ := good.Get(ctx, "c")
		if status := must(sys.Status(ctx)); v.Count == 4 && status[0].Stopped != nil {
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

// A consumer whose failure wraps store.ErrConflict (a read model's own
// optimistic lock, say) still makes the command say "stored", never
// "conflict" nor "unknown", which would invite a retry that appends
// twice. A retry with the command's idempotency key needs no new append:
// it answers a duplicate, stored, with the consumer still failing on it;
// a command that did not cause the failure succeeds.
func TestSyncStoredErrorNeverSaysConflict(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	sys.OnError(func(string, error) {})
	failing := true
	if err := sys.Add(must(annals.NewRecordProjection(s, "locked", func(_ context.Context, _ store.StateTx, r store.Record) error {
		if failing && r.StreamID == "c" {
			return fmt.Errorf("row version changed: %w", store.ErrConflict)
		}
		return nil
	}))); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	res, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("k1"))
	var stored *annals.StoredError
	if !errors.As(err, &stored) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrOutcomeUnknown) {
		t.Fatalf("Handle = %v, want a StoredError that matches neither ErrConflict nor ErrOutcomeUnknown", err)
	}
	if stored.StreamID != "c" || stored.Version != 1 || res.Version != 1 || res.State != 1 || len(res.Events) != 1 {
		t.Fatalf("Handle = %+v, %+v; want the stored event at version 1 in both", res, *stored)
	}
	again, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("k1"))
	if !errors.Is(err, annals.ErrStored) || !again.Duplicate || again.Version != 1 {
		t.Fatalf("retry = %+v, %v; want the duplicate, stored, with the consumer's failure", again, err)
	}
	if res, err := r.Handle(ctx, "d", increment{}); err != nil || res.Version != 1 {
		t.Fatalf("a command on another stream = %+v, %v; want success: it did not cause the failure", res, err)
	}
	if head, _ := s.Head(ctx); head != 2 {
		t.Fatalf("head = %d, want 2 events: the retry appended nothing", head)
	}
	failing = false
	if err := sys.Settle(ctx); err != nil {
		t.Fatalf("settle once the fault passed: %v", err)
	}
}

// Two instances of an application, each a handle with its own Sync
// system and the same consumers, on one database: their consumers race
// for the same checkpoints, and a commit that lost to the other instance
// is its progress. No command is told anything but success, and the
// views of both equal the replay.
func TestSyncInstancesReportNoConflict(t *testing.T) {
	ctx := context.Background()
	m := memory.New()
	instances := []*counters{newCounters(annals.New(m), annals.Sync), newCounters(annals.New(m), annals.Sync)}
	var wg sync.WaitGroup
	for g := range 4 {
		c := instances[g%2]
		wg.Go(func() {
			for range 60 {
				if _, err := c.runner.Handle(ctx, fmt.Sprintf("a-%d", g), increment{}); err != nil {
					t.Errorf("instance %d: %v", g%2, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range instances {
		for g := range 4 {
			a, _ := c.tally.Get(ctx, fmt.Sprintf("a-%d", g))
			b, _ := c.tally.Get(ctx, fmt.Sprintf("b-%d", g))
			if a != (tally{Count: 60, Last: 60}) || b != (tally{Count: 20, Last: 20}) {
				t.Fatalf("views of a-%d and b-%d: %+v and %+v; want 60 increments and the saga's 20", g, g, a, b)
			}
		}
	}
}

// WaitQuiet on an Async system returns a consumer's failure as soon as
// the consumer stops, not when the caller's deadline ends: a stopped
// consumer never catches up by itself.
func TestWaitQuietReturnsAStoppedConsumerAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	sys.OnError(func(string, error) {})
	boom := errors.New("read model down")
	if err := sys.Add(newTally(s), must(annals.NewRecordProjection(s, "down", func(_ context.Context, _ store.StateTx, r store.Record) error {
		if r.Position == 3 {
			return boom
		}
		return nil
	}))); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	defer func() { stop(); <-done }()
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 5)
	err := sys.WaitQuiet(ctx)
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Consumer != "down" || stopped.Position != 3 || !errors.Is(err, boom) || ctx.Err() != nil {
		t.Fatalf("WaitQuiet = %v (context: %v), want the stopped consumer's error before the deadline", err, ctx.Err())
	}
}

// A command whose answer was lost was stored before a Sync system's
// consumers ran. Its retry with the same idempotency key answers a
// duplicate, and, like a first success, only once the views show the
// command and the saga has handled it.
func TestDuplicateRunsTheSyncConsumers(t *testing.T) {
	ctx := context.Background()
	m := &lostAnswer{Store: memory.New()}
	c := newCounters(annals.New(m), annals.Sync)
	appendN(t, c.runner, "a-1", 2)
	m.lose = true
	if _, err := c.runner.Handle(ctx, "a-1", increment{}, annals.WithIdempotencyKey("third")); !errors.Is(err, store.ErrOutcomeUnknown) {
		t.Fatalf("Handle = %v, want the outcome unknown", err)
	}
	if v, _ := c.tally.Get(ctx, "a-1"); v.Count != 2 {
		t.Fatalf("view of a-1 = %+v before the retry, want the 2 events the consumers ran on", v)
	}
	res, err := c.runner.Handle(ctx, "a-1", increment{}, annals.WithIdempotencyKey("third"))
	if err != nil || !res.Duplicate || res.State != 3 || res.Version != 3 {
		t.Fatalf("retry = %+v, %v; want a duplicate at state 3, version 3", res, err)
	}
	if v, _ := c.tally.Get(ctx, "a-1"); v != (tally{Count: 3, Last: 3}) {
		t.Fatalf("view of a-1 = %+v after the duplicate, want its 3 events", v)
	}
	if v, _ := c.tally.Get(ctx, "b-1"); v != (tally{Count: 1, Last: 1}) {
		t.Fatalf("view of b-1 = %+v after the duplicate, want the bump the saga sent for the third event", v)
	}
}

// In Sync mode a consumer that stopped in one instance, and whose event
// another instance then handled, is no longer reported stopped: its
// checkpoint moved past the failure, which is progress. WaitQuiet and
// Status of the first instance say so without waiting for its next
// append.
func TestSyncStoppedConsumerPassedByAnotherInstance(t *testing.T) {
	ctx := context.Background()
	m := memory.New()
	instance := func(failing bool) (*annals.System, *annals.Runner[increment, incremented, int]) {
		s := annals.New(m)
		sys := must(annals.NewSystem(s, annals.Sync))
		sys.OnError(func(string, error) {})
		if err := sys.Add(must(annals.NewRecordProjection(s, "p", func(context.Context, store.StateTx, store.Record) error {
			if failing {
				return errors.New("read model down in this instance")
			}
			return nil
		}))); err != nil {
			t.Fatal(err)
		}
		return sys, annals.NewRunner(s, counter, counterCodec())
	}
	sysA, a := instance(true)
	_, b := instance(false)
	if _, err := a.Handle(ctx, "a", increment{}); !errors.Is(err, annals.ErrStored) {
		t.Fatalf("Handle in the failing instance = %v, want ErrStored", err)
	}
	if status := must(sysA.Status(ctx)); status[0].Stopped == nil {
		t.Fatalf("status before the other instance moved on = %+v, want p stopped", status)
	}
	if _, err := b.Handle(ctx, "b", increment{}); err != nil {
		t.Fatal(err)
	}
	if err := sysA.WaitQuiet(ctx); err != nil {
		t.Fatalf("WaitQuiet after the other instance handled the event = %v, want nil", err)
	}
	if status := must(sysA.Status(ctx)); status[0].Stopped != nil || status[0].Lag != 0 {
		t.Fatalf("status = %+v, want p caught up and not stopped", status)
	}
}

// A consumer runs under one Run of a system at a time: a second Run that
// names it fails at once, Runs of other consumers go on side by side,
// and once a Run has returned its consumers may run again.
func TestAConsumerRunsUnderOneRunAtATime(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCounters(annals.New(memory.New()), annals.Async)
	first := make(chan error, 1)
	go func() { first <- c.sys.Run(ctx, "tally") }()
	// The first Run runs once the view shows a command's event.
	if _, err := c.runner.Handle(ctx, "a-1", increment{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if v, err := c.tally.Get(ctx, "a-1"); err == nil && v.Count == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first Run did not run the view")
		}
	}
	err := c.sys.Run(ctx, "mirror", "tally")
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `consumer "tally" already runs under another Run`) {
		t.Fatalf("a second Run of a running consumer: %v, want store.ErrInvalid naming it", err)
	}
	other, stopOther := context.WithCancel(ctx)
	otherDone := make(chan error, 1)
	go func() { otherDone <- c.sys.Run(other, "mirror") }()
	if _, err := c.runner.Handle(ctx, "a-2", increment{}); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := c.sys.WaitQuiet(wctx); err != nil {
		t.Fatalf("Runs of the two consumers side by side: %v", err)
	}
	stopOther()
	if err := <-otherDone; err != nil {
		t.Fatalf("the Run of mirror: %v", err)
	}
	cancel()
	if err := <-first; err != nil {
		t.Fatalf("the first Run: %v", err)
	}
	again, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if err := c.sys.Run(again, "tally"); err != nil {
		t.Fatalf("a Run after the first returned: %v", err)
	}
}

// slowCheckpoint holds the first read of a checkpoint once armed until
// its context ends, and then names the consumer in its error, as an
// adapter does.
type slowCheckpoint struct {
	*memory.Store
	armed *atomic.Bool
}

func (s slowCheckpoint) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	if s.armed.CompareAndSwap(true, false) {
		<-ctx.Done()
		return 0, fmt.Errorf("consumer %q: read checkpoint: %w", consumer, ctx.Err())
	}
	return s.Store.Checkpoint(ctx, consumer)
}

// WaitQuiet on an Async system whose consumers no Run runs says so, and
// that time ran out: not that a consumer's checkpoint could not be read,
// which only the wait's own deadline cut short.
func TestWaitQuietSaysWhenNoRunRuns(t *testing.T) {
	ctx := context.Background()
	slow := slowCheckpoint{Store: memory.New(), armed: new(atomic.Bool)}
	c := newCounters(annals.New(slow), annals.Async)
	if _, err := c.runner.Handle(ctx, "a-1", increment{}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	slow.armed.Store(true) // the wait's deadline ends as it reads a checkpoint
	err := c.sys.WaitQuiet(wctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no Run of this Async system runs") || !strings.Contains(err.Error(), "tally") ||
		strings.Contains(err.Error(), "read checkpoint") {
		t.Fatalf("WaitQuiet without Run: %v, want the deadline and that no Run runs the consumers", err)
	}
}

// A saga's dispatcher that handles its command with a context of its own
// (a timeout from context.Background) and the cause's options does what
// one passing its ctx does: the settle that runs the saga handles the
// command's events. With neither, the command waits for that settle,
// which waits for it, until its context ends: it then says so instead of
// hanging.
func TestSyncDispatcherWithAContextOfItsOwn(t *testing.T) {
	for _, withOptions := range []bool{true, false} {
		t.Run(fmt.Sprintf("options=%v", withOptions), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var r *annals.Runner[increment, incremented, int]
			dispatch := func(_ context.Context, c bump, cause annals.Cause) error {
				own, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				var opts []annals.HandleOption
				if withOptions {
					opts = cause.Options()
				}
				_, err := r.Handle(own, "b"+strings.TrimPrefix(cause.Event.StreamID, "a"), increment{}, opts...)
				return err
			}
			c := syncMirror(t, dispatch)
			r, tl := c.runner, c.tally
			done := make(chan error, 1)
			go func() {
				var err error
				for range 3 {
					if _, err = r.Handle(ctx, "a-1", increment{}); err != nil {
						break
					}
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the command did not return: the dispatcher's command waits for the settle that runs the dispatcher")
			}
			if withOptions {
				if err != nil {
					t.Fatal(err)
				}
				v, err := tl.Get(ctx, "b-1")
				if err != nil || v.Count != 1 {
					t.Fatalf("the view of b-1 when the command returned: %+v, %v; want a count of 1", v, err)
				}
				return
			}
			if !errors.Is(err, annals.ErrStored) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "cause.Options()") {
				t.Fatalf("a dispatcher's command with a context of its own and no cause options: %v; want ErrStored saying to pass ctx or cause.Options()", err)
			}
		})
	}
}

// Run on a Sync system, or with no consumer to run, runs nothing and
// waits until its context ends or the store closes, so that a program's
// main that returns sys.Run(ctx) runs alike in both modes.
func TestRunWaitsWhereItHasNothingToRun(t *testing.T) {
	for _, c := range []struct {
		name string
		mode annals.Mode
		add  bool
	}{{"sync with consumers", annals.Sync, true}, {"sync without", annals.Sync, false}, {"async without", annals.Async, false}} {
		t.Run(c.name, func(t *testing.T) {
			s := annals.New(memory.New())
			sys := must(annals.NewSystem(s, c.mode))
			if c.add {
				if err := sys.Add(newTally(s)); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- sys.Run(ctx) }()
			select {
			case err := <-done:
				t.Fatalf("Run returned before its context ended: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run after its context ended: %v, want nil", err)
			}
			go func() { done <- sys.Run(context.Background()) }()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, store.ErrClosed) {
				t.Fatalf("Run after the store closed: %v, want store.ErrClosed", err)
			}
		})
	}
}

// A command that a dispatcher hands to a goroutine, which handles it
// after the dispatcher returned, with the dispatcher's context or its
// cause's options, is settled by its own Handle: when that returns, the
// consumers have handled it. Only while the dispatcher runs does the
// settle that runs it handle its commands.
func TestSyncCommandHandledAfterItsDispatcherReturnedSettlesItself(t *testing.T) {
	for _, how := range []string{"ctx", "options", "ctx and options"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var r *annals.Runner[increment, incremented, int]
			returned, handled := make(chan struct{}), make(chan error, 1)
			dispatch := func(dctx context.Context, _ bump, cause annals.Cause) error {
				go func() {
					<-returned
					hctx, opts := context.Background(), []annals.HandleOption(nil)
					if how != "options" {
						hctx = dctx
					}
					if how != "ctx" {
						opts = cause.Options()
					}
					_, err := r.Handle(hctx, "b-1", increment{}, opts...)
					handled <- err
				}()
				return nil
			}
			c := syncMirror(t, dispatch)
			r, tl := c.runner, c.tally
			appendN(t, r, "a-1", 3)
			close(returned)
			if err := <-handled; err != nil {
				t.Fatal(err)
			}
			if v, err := tl.Get(ctx, "b-1"); err != nil || v.Count != 1 {
				t.Fatalf("the view of b-1 when the late command returned: %+v, %v; want a count of 1", v, err)
			}
		})
	}
}

// A Sync Retry whose consumer stops again settles what the consumer
// appended before it stopped: the other consumers handle it, as after
// any append.
func TestSyncRetryThatStopsAgainSettlesWhatItAppended(t *testing.T) {
	ctx := context.Background()
	var r *annals.Runner[increment, incremented, int]
	fixed := false
	dispatch := func(ctx context.Context, _ bump, cause annals.Cause) error {
		if !fixed || cause.Event.Version == 6 {
			return errors.New("the payment service is down")
		}
		_, err := r.Handle(ctx, "b-1", increment{}, cause.Options()...)
		return err
	}
	c := syncMirror(t, dispatch)
	r, tl, sys := c.runner, c.tally, c.sys
	for range 6 {
		if _, err := r.Handle(ctx, "a-1", increment{}); err != nil && !errors.Is(err, annals.ErrStored) {
			t.Fatal(err)
		}
	}
	fixed = true
	var stopped *annals.ConsumerError
	if _, err := sys.Retry(ctx, "mirror"); !errors.As(err, &stopped) || stopped.Version != 6 {
		t.Fatalf("retry: %v; want the saga stopped again, at a-1's version 6", err)
	}
	if v, err := tl.Get(ctx, "b-1"); err != nil || v.Count != 1 {
		t.Fatalf("the view of b-1 after the retry: %+v, %v; want a count of 1, the command the retry sent", v, err)
	}
}

// A dispatcher that hands its command a context that never ends, and no
// cause options, makes the command wait for good for the settle that runs
// the dispatcher: the log says so, and what to do, and closing the store
// ends the wait.
func TestSyncDispatcherThatWaitsForGoodIsLogged(t *testing.T) {
	defer annals.SetSettleWarnAfter(annals.SetSettleWarnAfter(20 * time.Millisecond))
	var logged syncBuffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))

	var r *annals.Runner[increment, incremented, int]
	dispatch := func(context.Context, bump, annals.Cause) error {
		_, err := r.Handle(context.Background(), "b-1", increment{})
		return err
	}
	c := syncMirror(t, dispatch)
	r, s := c.runner, c.sys.Store()
	appendN(t, r, "a-1", 2)
	done := make(chan error, 1)
	go func() {
		_, err := r.Handle(context.Background(), "a-1", increment{})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logged.String(), "cause.Options()") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning logged in 10 s; the log holds %q", logged.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, annals.ErrStored) {
			t.Fatalf("the command once the store closed: %v, want ErrStored", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("closing the store did not end the wait")
	}
}

// syncBuffer is a bytes.Buffer that a logger may write while a test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// roundGate is a consumer that, when armed, waits in its step until until
// says to go on, or panics when told to: a consumer that a settle steps
// after a saga, to hold the settle's round open. reached is closed when a
// step begins armed or told to panic: the saga's step, and its
// dispatcher's, have returned by then.
type roundGate struct {
	armed, panics atomic.Bool
	until         func() bool
	reached       chan struct{}
	once          sync.Once
}

func (g *roundGate) Name() string { return "gate" }
func (g *roundGate) Step(context.Context) (int, error) {
	if g.armed.Load() || g.panics.Load() {
		g.once.Do(func() { close(g.reached) })
	}
	if g.panics.Swap(false) {
		panic("the gate panics")
	}
	for deadline := time.Now().Add(10 * time.Second); g.armed.Load() && !g.until() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	g.armed.Store(false)
	return 0, nil
}
func (g *roundGate) Position(context.Context) (int64, error) { return 0, nil }
func (g *roundGate) Run(ctx context.Context) error           { <-ctx.Done(); return nil }

// A command that a goroutine handles after the dispatcher that started it
// returned, while the settle's round still steps other consumers, or
// after a consumer's panic ended the settle, waits for that settle or
// settles itself: when its Handle returns, the consumers have handled it.
func TestSyncLateCommandReturnsSettledWhateverTheRoundDoes(t *testing.T) {
	for _, c := range []struct {
		name   string
		panics bool
		how    string
	}{{"in the round, ctx", false, "ctx"}, {"in the round, options", false, "options"}, {"after a panic, ctx", true, "ctx"}, {"after a panic, options", true, "options"}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := annals.New(memory.New())
			sys := must(annals.NewSystem(s, annals.Sync))
			r := annals.NewRunner(s, counter, counterCodec())
			tl := newTally(s)
			// The gate holds the round until the late command's Handle
			// returned and the view was read, or, if Handle waits for
			// the round, 300 ms after the command's event was stored.
			observed := make(chan struct{})
			var stored time.Time
			g := &roundGate{reached: make(chan struct{}), until: func() bool {
				select {
				case <-observed:
					return true
				default:
				}
				if head, _ := s.Head(ctx); head < 4 { // a-1 three times, then b-1
					return false
				}
				if stored.IsZero() {
					stored = time.Now()
				}
				return time.Since(stored) > 300*time.Millisecond
			}}
			type seen struct {
				err   error
				count int
			}
			late := make(chan seen, 1)
			dispatch := func(dctx context.Context, _ bump, cause annals.Cause) error {
				go func() {
					defer close(observed)
					// Once the dispatcher has returned, which the gate
					// reached says: a command sent while it runs is the
					// settle's to handle, and returns before the settle
					// has handled it.
					<-g.reached
					hctx, opts := dctx, []annals.HandleOption(nil)
					if c.how == "options" {
						hctx, opts = context.Background(), cause.Options()
					}
					_, err := r.Handle(hctx, "b-1", increment{}, opts...)
					v, _ := tl.Get(ctx, "b-1")
					late <- seen{err, v.Count}
				}()
				g.armed.Store(!c.panics)
				g.panics.Store(c.panics)
				return nil
			}
			if err := sys.Add(annals.NewSaga(s, "mirror", mirrorSaga(0), counterCodec(), dispatch), g, tl); err != nil {
				t.Fatal(err)
			}
			appendN(t, r, "a-1", 2)
			func() {
				defer func() {
					if p := recover(); (p != nil) != c.panics {
						t.Fatalf("the third command panicked with %v; want a panic %v", p, c.panics)
					}
				}()
				if _, err := r.Handle(ctx, "a-1", increment{}); err != nil {
					t.Fatal(err)
				}
			}()
			if l := <-late; l.err != nil || l.count != 1 {
				t.Fatalf("the late command: %v, and the view of b-1 counted %d when it returned; want a count of 1", l.err, l.count)
			}
		})
	}
}

// A Sync Retry whose consumer stops again does not step it a second time
// in the settle that follows: its dispatcher runs once per Retry, and the
// consumer stays stopped.
func TestSyncRetryStepsAStoppedConsumerOnce(t *testing.T) {
	ctx := context.Background()
	var r *annals.Runner[increment, incremented, int]
	var calls, failures atomic.Int32
	failures.Store(1 << 20)
	c := syncMirror(t, func(ctx context.Context, _ bump, cause annals.Cause) error {
		calls.Add(1)
		if failures.Add(-1) >= 0 {
			return errors.New("the payment service is down")
		}
		_, err := r.Handle(ctx, "b-1", increment{}, cause.Options()...)
		return err
	})
	r = c.runner
	appendN(t, r, "a-1", 2)
	if _, err := r.Handle(ctx, "a-1", increment{}); !errors.Is(err, annals.ErrStored) {
		t.Fatalf("the command whose saga failed: %v", err)
	}
	calls.Store(0)
	failures.Store(1) // the retry's attempt fails; another would succeed
	if _, err := c.sys.Retry(ctx, "mirror"); err == nil {
		t.Fatal("the retry succeeded, though its dispatcher failed")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the dispatcher ran %d times in one retry, want 1", n)
	}
	st, err := c.sys.Status(ctx)
	if stopped, _ := lo.Find(st, func(s annals.ConsumerStatus) bool { return s.Name == "mirror" }); err != nil || stopped.Stopped == nil {
		t.Fatalf("the saga after a retry that failed: %+v, %v; want it stopped", stopped, err)
	}
}

// A consumer whose lease another instance holds (one that crashed holds
// it until it expires) logs that it waits, once, rather than nothing; and
// takes the lease when it is given up, and says so.
func TestAConsumerWaitingForItsLeaseSaysSo(t *testing.T) {
	defer annals.SetLeaseWaitLogAfter(annals.SetLeaseWaitLogAfter(20 * time.Millisecond))
	var logged syncBuffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := annals.New(memory.New())
	held, err := s.Lock(ctx, annals.LeaseName("tally"))
	if err != nil {
		t.Fatal(err)
	}
	tl := newTally(s)
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "a-1", 2)
	running, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- tl.Run(running) }()
	defer func() { stop(); <-done }()
	for !strings.Contains(logged.String(), "waits for its lease") {
		if ctx.Err() != nil {
			t.Fatalf("nothing logged while the consumer waited; the log holds %q", logged.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if line := logged.String(); !strings.Contains(line, "consumer=tally") || !strings.Contains(line, "annals consumers") {
		t.Fatalf("the log says %q; want the consumer named and where to see the lease's holder", line)
	}
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	for {
		if v, _ := tl.Get(ctx, "a-1"); v.Count == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the consumer did not take the lease once it was given up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := strings.Count(logged.String(), "waits for its lease"); n != 1 {
		t.Fatalf("logged the wait %d times; want once", n)
	}
	// And that it took over, once.
	if n := strings.Count(logged.String(), "took its lease"); n != 1 || !strings.Contains(logged.String(), `runs here" consumer=tally`) {
		t.Fatalf("logged the takeover %d times; want once, naming the consumer: %q", n, logged.String())
	}
}

// The default OnError logs a consumer that stopped as stopped, with how
// it resumes in the system's mode, and another failure as retried.
func TestTheDefaultOnErrorSaysHowAStoppedConsumerResumes(t *testing.T) {
	var logged syncBuffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	stop := &annals.ConsumerError{Consumer: "tally", Position: 7, Err: errors.New("no room")}
	for _, c := range []struct {
		mode annals.Mode
		err  error
		want []string
	}{
		{annals.Async, stop, []string{`msg="consumer stopped"`, "each time the log moves on", "System.Retry", "ops replay tally", "no room"}},
		{annals.Sync, stop, []string{`msg="consumer stopped"`, "next command", "System.Settle", "no room"}},
		{annals.Async, errors.New("connection lost"), []string{`msg="consumer failed; retrying"`, "connection lost"}},
	} {
		logged.Reset()
		sys := must(annals.NewSystem(annals.New(memory.New()), c.mode))
		annals.ReportFailure(sys, "tally", c.err)
		line := logged.String()
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s system, %v: logged %q; want it to say %q", c.mode, c.err, line, w)
			}
		}
	}
}

// When another goroutine's settle meets a failing event first, the
// command whose event it is is still told (ErrStored), but the stop is
// reported to OnError once, as in an Async system.
func TestASyncStopIsReportedOnceWhateverSettleMeetsItFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	var mu sync.Mutex
	reports := map[string]int{}
	sys.OnError(func(consumer string, err error) {
		var ce *annals.ConsumerError
		if errors.As(err, &ce) {
			mu.Lock()
			reports[fmt.Sprintf("%s@%d", consumer, ce.Position)]++
			mu.Unlock()
		}
	})
	entered, release := make(chan struct{}), make(chan struct{})
	slow := must(annals.NewRecordProjection(s, "slow", func(_ context.Context, _ store.StateTx, r store.Record) error {
		if r.StreamID == "z" {
			close(entered)
			<-release
		}
		return nil
	}))
	bad := must(annals.NewRecordProjection(s, "bad", func(_ context.Context, _ store.StateTx, r store.Record) error {
		if r.StreamID == "x" {
			return errors.New("x refused")
		}
		return nil
	}))
	if err := sys.Add(bad, slow); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	errs := make(chan error, 2)
	go func() { _, err := r.Handle(ctx, "z", increment{}); errs <- err }() // its settle holds the turn
	<-entered
	go func() { _, err := r.Handle(ctx, "x", increment{}); errs <- err }() // waits for the turn
	for head := int64(0); head < 2; head, _ = s.Head(ctx) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release) // z's settle goes on, and meets x's event first
	for range 2 {
		if err := <-errs; !errors.Is(err, annals.ErrStored) {
			t.Fatalf("a command = %v, want ErrStored: both met the stop", err)
		}
	}
	if len(reports) != 1 || reports["bad@2"] != 1 {
		t.Fatalf("OnError reports %v, want the stop at 2 once", reports)
	}
}

// failingStep is a consumer whose every step fails with an error that is
// not at an event, as a lost connection or a failed commit is.
type failingStep struct{ steps atomic.Int32 }

func (f *failingStep) Name() string { return "failing" }
func (f *failingStep) Step(context.Context) (int, error) {
	f.steps.Add(1)
	return 0, errors.New("the read model's database is unreachable")
}
func (f *failingStep) Position(context.Context) (int64, error) { return 0, nil }
func (f *failingStep) Run(ctx context.Context) error           { <-ctx.Done(); return nil }

// A consumer that fails other than at an event, in a Sync settle, is
// told to the command and not stepped again in that settle, while the
// consumers after it still run: before, the settle returned at once, and
// a consumer added after it never moved.
func TestSyncAConsumerFailingBetweenEventsDoesNotHoldUpTheOthers(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	f := &failingStep{}
	tl := newTally(s)
	if err := sys.Add(f, tl); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	for i := range 3 {
		_, err := r.Handle(ctx, "a-1", increment{})
		if !errors.Is(err, annals.ErrStored) || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("command %d: %v; want ErrStored saying what failed", i, err)
		}
	}
	if v, err := tl.Get(ctx, "a-1"); err != nil || v.Count != 3 {
		t.Fatalf("the view after the failing consumer: %+v, %v; want a count of 3", v, err)
	}
	if n := f.steps.Load(); n != 3 {
		t.Fatalf("the failing consumer was stepped %d times in 3 settles, want 3: once each", n)
	}
}
