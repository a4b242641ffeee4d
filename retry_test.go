package annals_test

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/sqlite"
	"github.com/samber/lo"
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

// In an Async system a consumer that stopped waits in Run: Status and
// WaitQuiet report it stopped, and once Retry has caught it up Run
// follows the log with it again, so that WaitQuiet sees it keep up and
// Run ends without its old failure.
func TestRetryReturnsAStoppedConsumerToRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	sys.OnError(func(string, error) {})
	var failing atomic.Bool
	failing.Store(true)
	handled := map[int64]int{}
	down := must(annals.NewRecordProjection(s, "down", func(_ context.Context, _ store.StateTx, r store.Record) error {
		if failing.Load() && r.Position == 2 {
			return errors.New("read model down")
		}
		handled[r.Position]++
		return nil
	}))
	if err := sys.Add(down); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "c", 3)
	var stopped *annals.ConsumerError
	if err := sys.WaitQuiet(ctx); !errors.As(err, &stopped) || stopped.Position != 2 {
		t.Fatalf("WaitQuiet while down = %v, want it stopped at 2", err)
	}

	failing.Store(false)
	if n, err := sys.Retry(ctx, "down"); err != nil || n != 2 {
		t.Fatalf("Retry after the fix = %d, %v; want events 2 and 3 handled", n, err)
	}
	appendN(t, r, "d", 2) // followed by Run, not by a retry
	quiet, end := context.WithTimeout(ctx, 10*time.Second)
	defer end()
	if err := sys.WaitQuiet(quiet); err != nil {
		t.Fatalf("WaitQuiet after the retry = %v, want the consumer running again and caught up", err)
	}
	if status := must(sys.Status(ctx)); status[0].Stopped != nil || status[0].Lag != 0 {
		t.Fatalf("status after the retry = %+v, want it running and caught up", status[0])
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want no failure: the consumer was retried", err)
	}
	// Event 1 is handled again when the batch that failed at 2 is rolled
	// back; from 2 on, Retry and Run took turns without overlap.
	for pos := int64(2); pos <= 5; pos++ {
		if handled[pos] != 1 {
			t.Fatalf("event %d handled %d times, want once: %v", pos, handled[pos], handled)
		}
	}
}

// A consumer that stopped under Run in one process goes on there once
// another process (an operator's ops replay) has caught it up: Run sees
// its checkpoint move past the event it stopped at.
func TestAStoppedConsumerResumesWhenAnotherProcessRetriesIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shared := memory.New()
	var failing atomic.Bool
	failing.Store(true)
	handle := func(_ context.Context, _ store.StateTx, r store.Record) error {
		if failing.Load() && r.Position == 2 {
			return errors.New("read model down")
		}
		return nil
	}

	// The application's process runs the consumer.
	app := annals.New(shared)
	sys := must(annals.NewSystem(app, annals.Async))
	sys.OnError(func(string, error) {})
	if err := sys.Add(must(annals.NewRecordProjection(app, "down", handle))); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	r := annals.NewRunner(app, counter, counterCodec())
	appendN(t, r, "c", 3)
	var stopped *annals.ConsumerError
	if err := sys.WaitQuiet(ctx); !errors.As(err, &stopped) || stopped.Position != 2 {
		t.Fatalf("WaitQuiet while down = %v, want it stopped at 2", err)
	}

	// The operator's process retries it once the cause is fixed.
	failing.Store(false)
	op := annals.New(shared)
	opSys := must(annals.NewSystem(op, annals.Async))
	if err := opSys.Add(must(annals.NewRecordProjection(op, "down", handle))); err != nil {
		t.Fatal(err)
	}
	if n, err := opSys.Retry(ctx, "down"); err != nil || n != 2 {
		t.Fatalf("the operator's Retry = %d, %v; want events 2 and 3 handled", n, err)
	}

	// The application's Run reads the checkpoint once a second.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if status := must(sys.Status(ctx)); status[0].Stopped == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the application still reports the consumer stopped 10 s after the operator's retry")
		}
		time.Sleep(20 * time.Millisecond)
	}
	appendN(t, r, "d", 2)
	quiet, end := context.WithTimeout(ctx, 10*time.Second)
	defer end()
	if err := sys.WaitQuiet(quiet); err != nil {
		t.Fatalf("WaitQuiet in the application after the operator's retry = %v, want its Run following the log again", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want no failure: the consumer was retried", err)
	}
}

// A consumer that stopped under Run in one process goes on there when
// another process moves its checkpoint back (ops reset to 0, to handle
// the whole log again once the cause is fixed): not only a move past the
// event it stopped at counts.
func TestAStoppedConsumerResumesWhenAnotherProcessResetsItToZero(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shared := memory.New()
	var failing atomic.Bool
	failing.Store(true)
	var mu sync.Mutex
	handled := map[int64]int{}
	handle := func(_ context.Context, _ store.StateTx, r store.Record) error {
		if failing.Load() && r.Position == 2 {
			return errors.New("read model down")
		}
		mu.Lock()
		handled[r.Position]++
		mu.Unlock()
		return nil
	}
	app := annals.New(shared)
	sys := must(annals.NewSystem(app, annals.Async))
	sys.OnError(func(string, error) {})
	if err := sys.Add(must(annals.NewRecordProjection(app, "down", handle, annals.WithBatchSize(1)))); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	appendN(t, annals.NewRunner(app, counter, counterCodec()), "c", 3)
	if err := sys.WaitQuiet(ctx); !errors.As(err, new(*annals.ConsumerError)) {
		t.Fatalf("WaitQuiet while down = %v, want it stopped", err)
	}

	// The operator's process resets the checkpoint to 0 once the cause
	// is fixed, as ops reset -yes down 0 does.
	failing.Store(false)
	op := annals.New(shared)
	if err := op.Commit(ctx, "down", 1, 0, func(store.StateTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// The application's Run reads the checkpoint once a second.
	for deadline := time.Now().Add(10 * time.Second); must(sys.Status(ctx))[0].Stopped != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the application still reports the consumer stopped 10 s after the operator's reset to 0")
		}
		time.Sleep(20 * time.Millisecond)
	}
	quiet, end := context.WithTimeout(ctx, 10*time.Second)
	defer end()
	if err := sys.WaitQuiet(quiet); err != nil {
		t.Fatalf("WaitQuiet in the application after the operator's reset to 0 = %v, want its Run following the log again", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want no failure", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if handled[1] != 2 || handled[2] != 1 || handled[3] != 1 {
		t.Fatalf("events handled %v; want event 1 again after the reset, and 2 and 3 once", handled)
	}
}

// A consumer that stopped under an Async system's Run is run again at the
// event it stopped at each time the log moves on, as a Sync system's next
// command runs it: while the fault lasts it stays stopped and its stop is
// reported once; once the fault has passed, the next event appended
// resumes it without Retry, and every event is handled once.
func TestAnAsyncStoppedConsumerIsRunAgainWhenTheLogMoves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	var reports atomic.Int32
	sys.OnError(func(_ string, err error) {
		if errors.As(err, new(*annals.ConsumerError)) {
			reports.Add(1)
		}
	})
	var failing atomic.Bool
	failing.Store(true)
	var mu sync.Mutex
	handled, attempts := map[int64]int{}, 0
	down := must(annals.NewRecordProjection(s, "down", func(_ context.Context, _ store.StateTx, r store.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if r.Position == 2 {
			attempts++
			if failing.Load() {
				return errors.New("read model down")
			}
		}
		handled[r.Position]++
		return nil
	}))
	if err := sys.Add(down); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "c", 3)
	var stopped *annals.ConsumerError
	if err := sys.WaitQuiet(ctx); !errors.As(err, &stopped) || stopped.Position != 2 {
		t.Fatalf("WaitQuiet while down = %v, want it stopped at 2", err)
	}
	attemptsAt := func() int { mu.Lock(); defer mu.Unlock(); return attempts }
	before := attemptsAt()

	// The log moves while the fault lasts: the consumer is run again,
	// stops at the same event, and is not reported again.
	appendN(t, r, "d", 1)
	for deadline := time.Now().Add(15 * time.Second); attemptsAt() == before; {
		if time.Now().After(deadline) {
			t.Fatal("the stopped consumer was not run again after the log moved")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := sys.WaitQuiet(ctx); !errors.As(err, &stopped) || stopped.Position != 2 {
		t.Fatalf("WaitQuiet after a retry while down = %v, want it still stopped at 2", err)
	}
	if n := reports.Load(); n != 1 {
		t.Fatalf("the stop was reported %d times, want once", n)
	}

	// The fault passes; the next event resumes it.
	failing.Store(false)
	appendN(t, r, "e", 1)
	if err := quietWithin(ctx, sys, 20*time.Second); err != nil {
		t.Fatalf("WaitQuiet after the fault passed = %v, want the consumer resumed by the next event", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want no failure: the consumer resumed", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for pos := int64(2); pos <= 5; pos++ {
		if handled[pos] != 1 {
			t.Fatalf("event %d handled %d times, want once: %v", pos, handled[pos], handled)
		}
	}
}

// A stopped saga whose dispatcher appends a command (sent without
// cause.Options, so each send appends) and then fails is not retried
// for the events its own retries append: one move of the log by someone
// else, one retry, as in a Sync system.
func TestARetryIsNotDrivenByWhatItAppends(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	sys.OnError(func(string, error) {})
	r := annals.NewRunner(s, counter, counterCodec())
	var sends atomic.Int32
	echo := annals.NewSaga(s, "echo", saga.Saga[incremented, increment]{React: func(incremented) []increment { return []increment{{}} }},
		counterCodec(), func(ctx context.Context, c increment, cause annals.Cause) error {
			if cause.Event.StreamID != "in" {
				return nil
			}
			sends.Add(1)
			if _, err := r.Handle(ctx, "out", c); err != nil {
				return err
			}
			return errors.New("downstream refused")
		})
	if err := sys.Add(echo); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go sys.Run(runCtx)
	appendN(t, r, "in", 1)
	for sends.Load() == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	appendN(t, r, "other", 1) // someone else moves the log: one retry
	time.Sleep(4 * time.Second)
	if n := sends.Load(); n != 2 {
		t.Fatalf("the dispatcher ran %d times in 4 s after one outside append, want 2: the retries drive themselves", n)
	}
}

// Retry waits for a retry of Run's that is under way in this process,
// but no longer than its context allows.
func TestRetryWaitingForRunsRetryEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	sys.OnError(func(string, error) {})
	var mode atomic.Int32 // 0 fail, 1 block until released
	entered, release := make(chan struct{}, 1), make(chan struct{})
	down := must(annals.NewRecordProjection(s, "down", func(_ context.Context, _ store.StateTx, r store.Record) error {
		if r.Position != 2 {
			return nil
		}
		if mode.Load() == 1 {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return errors.New("read model down")
	}))
	if err := sys.Add(down); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go sys.Run(runCtx)
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "c", 2)
	if err := sys.WaitQuiet(ctx); err == nil {
		t.Fatal("WaitQuiet = nil, want the consumer stopped at 2")
	}
	mode.Store(1)
	appendN(t, r, "d", 1) // Run's retry enters the handler and blocks there
	<-entered
	short, end := context.WithTimeout(ctx, 300*time.Millisecond)
	defer end()
	began := time.Now()
	_, err := sys.Retry(short, "down")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 5*time.Second {
		t.Fatalf("Retry during Run's retry = %v after %v, want its deadline's error at once", err, time.Since(began))
	}
	close(release)
}

// An event appended while the step that stops the consumer runs is a
// move of the log after the stop: the consumer is run again for it, and
// resumes once the fault has passed, though nothing is appended after.
func TestAnAppendDuringTheFailingStepRunsTheConsumerAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	sys.OnError(func(string, error) {})
	var healed atomic.Bool
	entered, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	down := must(annals.NewRecordProjection(s, "down", func(_ context.Context, _ store.StateTx, r store.Record) error {
		if r.Position != 2 || healed.Load() {
			return nil
		}
		once.Do(func() { close(entered) })
		<-proceed
		return errors.New("read model down")
	}))
	if err := sys.Add(down); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "c", 2)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go sys.Run(runCtx)
	<-entered
	appendN(t, r, "d", 1) // while the failing step runs: the last append
	healed.Store(true)
	close(proceed)
	if err := quietWithin(ctx, sys, 15*time.Second); err != nil {
		t.Fatalf("WaitQuiet = %v: the append during the failing step did not run the consumer again", err)
	}
}

// quietWithin calls WaitQuiet until it returns nil, and returns its last
// error once d has passed: a stopped consumer makes WaitQuiet return at
// once, and one that resumes by itself takes a moment to.
func quietWithin(ctx context.Context, sys *annals.System, d time.Duration) error {
	quiet, end := context.WithTimeout(ctx, d)
	defer end()
	for {
		err := sys.WaitQuiet(quiet)
		if err == nil || quiet.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A Retry that stops at an event which another instance's Run then
// handles leaves no stop behind: the checkpoint has passed it, and Status
// and WaitQuiet say the consumer works, as in a Sync system.
func TestAStopThatAnotherInstancePassesIsForgotten(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adapter := memory.New()
	handle := func(context.Context, store.StateTx, annals.Envelope[incremented]) error { return nil }
	// Two processes of one application: a runs the consumer; in b, an
	// operator's retry meets a fault of b's alone at event 3.
	a, b := annals.New(adapter), annals.New(adapter)
	sysA, sysB := must(annals.NewSystem(a, annals.Async)), must(annals.NewSystem(b, annals.Async))
	sysA.OnError(func(string, error) {})
	sysB.OnError(func(string, error) {})
	if err := sysA.Add(must(annals.NewProjection(a, "view", counterCodec(), handle))); err != nil {
		t.Fatal(err)
	}
	inB := failingFor[incremented]{Mapper: counterCodec(), at: 3, fail: func(context.Context) bool { return true }}
	if err := sysB.Add(must(annals.NewProjection(b, "view", inB, handle))); err != nil {
		t.Fatal(err)
	}
	appendN(t, annals.NewRunner(b, counter, counterCodec()), "c", 3)
	if _, err := sysB.Retry(ctx, "view"); !errors.As(err, new(*annals.ConsumerError)) {
		t.Fatalf("Retry in b = %v, want it stopped at event 3", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go sysA.Run(runCtx)
	if err := sysA.WaitQuiet(ctx); err != nil {
		t.Fatalf("a's WaitQuiet = %v", err)
	}
	if err := sysB.WaitQuiet(ctx); err != nil {
		t.Fatalf("b's WaitQuiet = %v, want the stop that a passed forgotten", err)
	}
	if st := must(sysB.Status(ctx)); st[0].Stopped != nil || st[0].Checkpoint != 3 {
		t.Fatalf("b's status %+v, want it at 3 and not stopped", st[0])
	}
}

// failingFor is a mapper that fails to decode the record at position at
// when fail says so for the context of the read.
type failingFor[E any] struct {
	codec.Mapper[E]
	at   int64
	fail func(ctx context.Context) bool
}

func (m failingFor[E]) FromRecord(ctx context.Context, r store.Record) (E, error) {
	if r.Position == m.at && m.fail(ctx) {
		var zero E
		return zero, errors.New("a fault of this read alone")
	}
	return m.Mapper.FromRecord(ctx, r)
}

// A Retry of a consumer that an Async Run runs (it holds its lease) steps
// nothing and says so, rather than publish a relay's batch a second time
// beside Run's: the broker got each record once. Once Run has ended and
// the lease is free, Retry steps it again.
func TestRetryOfARunningConsumerIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	var mu sync.Mutex
	published := map[int64]int{}
	release := make(chan struct{})
	relay := must(annals.NewRelay(s, "out", publishFunc(func(ctx context.Context, recs []store.Record) error {
		select { // Run's first batch waits here while Retry is tried
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			published[r.Position]++
		}
		return nil
	})))
	if err := sys.Add(relay); err != nil {
		t.Fatal(err)
	}
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "a-1", 3)
	running, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(running) }()
	for held := false; !held; {
		_, held, _ = s.Adapter().(store.LeaseInspector).LeaseHolder(ctx, annals.LeaseName("out"))
		time.Sleep(time.Millisecond)
	}
	retried := make(chan error, 1)
	go func() {
		_, err := sys.Retry(ctx, "out")
		retried <- err
	}()
	select {
	case err := <-retried:
		if !errors.Is(err, annals.ErrRunning) {
			t.Fatalf("Retry beside Run: %v, want ErrRunning", err)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("Retry beside Run waited for Run's batch, or published it")
	}
	close(release)
	awaitPosition(t, ctx, relay, 3, "the relay under Run")
	stop()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for pos := int64(1); pos <= 3; pos++ {
		if published[pos] != 1 {
			t.Fatalf("record %d published %d times, want once: %v", pos, published[pos], published)
		}
	}
	if n, err := sys.Retry(ctx, "out"); err != nil || n != 0 {
		t.Fatalf("Retry once Run has ended: %d, %v; want 0 events and no error", n, err)
	}
}

// A Retry (ops replay) from another process holds the consumer's lease
// while it steps, so that the Run of the application's process, which
// the consumer stopped under, does not follow the log with it beside the
// replay once the replay's first commit has moved the checkpoint past the
// event: it waits for the lease, and goes on after the replay. A
// handler's side effects (a relay's publishes, a saga's commands) then
// happen in one process for each event, never in both.
func TestARetryFromAnotherProcessKeepsRunOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() *annals.Store {
		lite, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
		if err != nil {
			t.Fatal(err)
		}
		s := annals.New(lite)
		t.Cleanup(func() { s.Close() })
		return s
	}
	const events = 300
	var mu sync.Mutex
	handledBy := map[int64][]string{}
	reached, goOn := make(chan struct{}), make(chan struct{})
	handler := func(handle string) func(context.Context, store.StateTx, store.Record) error {
		return func(ctx context.Context, _ store.StateTx, r store.Record) error {
			if handle == "app" && r.Position == 2 {
				// The application's process still fails on the event, so
				// that only the replay passes it (not Run's own retry).
				return errors.New("read model down")
			}
			mu.Lock()
			handledBy[r.Position] = append(handledBy[r.Position], handle)
			mu.Unlock()
			if handle == "operator" && r.Position == 10 {
				// Wait until the application's Run has seen the
				// checkpoint pass the event it stopped at.
				close(reached)
				select {
				case <-goOn:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
	}

	app := open()
	sys := must(annals.NewSystem(app, annals.Async))
	sys.OnError(func(string, error) {})
	if err := sys.Add(must(annals.NewRecordProjection(app, "mailer", handler("app"), annals.WithBatchSize(1)))); err != nil {
		t.Fatal(err)
	}
	appendN(t, annals.NewRunner(app, counter, counterCodec()), "c", events)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	var stopped *annals.ConsumerError
	if err := sys.WaitQuiet(ctx); !errors.As(err, &stopped) || stopped.Position != 2 {
		t.Fatalf("WaitQuiet while down = %v, want it stopped at 2", err)
	}

	op := open()
	opSys := must(annals.NewSystem(op, annals.Async))
	if err := opSys.Add(must(annals.NewRecordProjection(op, "mailer", handler("operator"), annals.WithBatchSize(1)))); err != nil {
		t.Fatal(err)
	}
	go func() {
		select {
		case <-reached:
		case <-ctx.Done():
			return
		}
		for must(sys.Status(ctx))[0].Stopped != nil && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // time for Run to step it, if it could
		close(goOn)
	}()
	replayed, err := opSys.Retry(ctx, "mailer")
	if err != nil {
		t.Fatalf("the operator's Retry: %v", err)
	}

	appendN(t, annals.NewRunner(app, counter, counterCodec()), "d", 5)
	quiet, end := context.WithTimeout(ctx, 20*time.Second)
	defer end()
	if err := sys.WaitQuiet(quiet); err != nil {
		t.Fatalf("WaitQuiet in the application after the replay = %v, want its Run following the log again", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want no failure: the consumer was replayed", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var both []int64
	for pos := int64(1); pos <= events+5; pos++ {
		by := lo.Uniq(handledBy[pos])
		if len(by) == 0 {
			t.Fatalf("position %d handled by neither process", pos)
		}
		if len(by) > 1 {
			both = append(both, pos)
		}
	}
	if len(both) > 0 {
		t.Fatalf("%d positions handled by both processes, the first %v: Run stepped the consumer beside the replay", len(both), both[:min(len(both), 10)])
	}
	if replayed != events-1 {
		t.Fatalf("the operator's Retry handled %d events, want events 2 to %d", replayed, events)
	}
}

// A Retry refused because an instance holds the consumer's lease says,
// of a lease that expires unless renewed, that a process that died holds
// it until then, and when that is: ops replay right after a crash is
// refused for that long.
func TestRetryRefusedForALeaseSaysWhenItExpires(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lease.db")
	mine, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(ctx, path) // another process's
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s := annals.New(mine)
	defer s.Close()
	sys := must(annals.NewSystem(s, annals.Async))
	if err := sys.Add(must(annals.NewRecordProjection(s, "ledger", func(context.Context, store.StateTx, store.Record) error { return nil }))); err != nil {
		t.Fatal(err)
	}
	lease, err := other.Lock(ctx, annals.LeaseName("ledger"))
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	_, err = sys.Retry(ctx, "ledger")
	if !errors.Is(err, annals.ErrRunning) || !regexp.MustCompile(`a process that died while it ran it holds it until it expires, in 1[0-5]s`).MatchString(err.Error()) {
		t.Fatalf("Retry of a consumer whose lease another holds: %v, want ErrRunning saying when the lease expires", err)
	}
}
