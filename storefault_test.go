package annals_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// failureLog holds what a system reported to OnError.
type failureLog struct {
	mu   sync.Mutex
	errs []error
}

// logFailures makes sys report its failures to a new failureLog.
func logFailures(sys *annals.System) *failureLog {
	l := &failureLog{}
	sys.OnError(func(_ string, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.errs = append(l.errs, err)
	})
	return l
}

func (l *failureLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

// runUntilQuiet runs sys until WaitQuiet returns, stops it, and fails
// the test with WaitQuiet's error.
func runUntilQuiet(t *testing.T, ctx context.Context, sys *annals.System) {
	t.Helper()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- sys.Run(runCtx) }()
	err := sys.WaitQuiet(ctx)
	stop()
	<-ran
	if err != nil {
		t.Fatal(err)
	}
}

// caughtUp fails the test unless every consumer of sys is caught up
// and none is stopped.
func caughtUp(t *testing.T, ctx context.Context, sys *annals.System) {
	t.Helper()
	for _, st := range must(sys.Status(ctx)) {
		if st.Stopped != nil || st.Lag != 0 {
			t.Fatalf("status %+v: want caught up, not stopped", st)
		}
	}
}

// countIs fails the test unless the view counts want events of stream id.
func countIs(t *testing.T, ctx context.Context, counts *annals.ViewProjection[int, incremented], id string, want int) {
	t.Helper()
	if n, err := counts.Get(ctx, id); err != nil || n != want {
		t.Fatalf("view state of %s = %d, %v; want %d", id, n, err, want)
	}
}

// flakyStates is a memory store whose loads of consumers' states fail
// once each with an unexpected EOF, as over a connection that broke:
// inside a commit (a view's batch) and outside one (a process's batch).
type flakyStates struct {
	*memory.Store
	inCommit, outside atomic.Int32 // the failures left
}

func (f *flakyStates) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	if f.outside.Add(-1) >= 0 {
		return nil, fmt.Errorf("load states of view %q: %w", view, io.ErrUnexpectedEOF)
	}
	return f.Store.LoadStates(ctx, view, keys)
}

func (f *flakyStates) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	return f.Store.Commit(ctx, consumer, from, to, func(tx store.StateTx) error {
		return fn(flakyTx{tx.(store.StateBatchTx), f})
	})
}

type flakyTx struct {
	store.StateBatchTx
	f *flakyStates
}

func (tx flakyTx) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	if tx.f.inCommit.Add(-1) >= 0 {
		return nil, fmt.Errorf("load states of view %q: %w", view, io.ErrUnexpectedEOF)
	}
	return tx.StateBatchTx.LoadStates(ctx, view, keys)
}

// The store's failure to load a consumer's states is not the event's: a
// view and a process whose first state load fails are not stopped at an
// event, the system retries their batch with its pause, and every event
// is handled once.
func TestAStoreFailureInABatchIsRetriedNotStopped(t *testing.T) {
	const streams, perStream = 3, 4
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	flaky := &flakyStates{Store: memory.New()}
	flaky.inCommit.Store(1)
	flaky.outside.Store(1)
	s := annals.New(flaky)
	sys := must(annals.NewSystem(s, annals.Async))
	failures := logFailures(sys)
	counts := annals.NewViewProjection(s, "counts", view.View[int, incremented]{Evolve: func(n int, _ incremented) int { return n + 1 }},
		counterCodec(), func(r store.Record, _ incremented) (string, bool) { return r.StreamID, true })
	var mu sync.Mutex
	sent := map[string]int{}
	echo := annals.NewProcess(s, "echo", saga.Process[int, incremented, increment]{
		Evolve: func(_ int, e incremented) int { return e.To },
		React:  func(_ int, e incremented) []increment { return []increment{{Limit: e.To}} },
	}, counterCodec(), func(r store.Record, _ incremented) (string, bool) { return r.StreamID, true },
		func(_ context.Context, c increment, cause annals.Cause) error {
			mu.Lock()
			defer mu.Unlock()
			sent[fmt.Sprintf("%s/%d", cause.Instance, c.Limit)]++
			return nil
		})
	if err := sys.Add(counts, echo); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	for i := range streams * perStream {
		if _, err := r.Handle(ctx, fmt.Sprintf("c-%d", i%streams), increment{}); err != nil {
			t.Fatal(err)
		}
	}
	runUntilQuiet(t, ctx, sys)

	if flaky.inCommit.Load() >= 0 || flaky.outside.Load() >= 0 {
		t.Fatalf("the faults were not met: %d, %d left", flaky.inCommit.Load(), flaky.outside.Load())
	}
	if len(failures.all()) != 2 {
		t.Fatalf("failures reported: %v; want the two loads that failed", failures.all())
	}
	for _, err := range failures.all() {
		if ce := (*annals.ConsumerError)(nil); errors.As(err, &ce) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("failure %v: want the store's, retried, not a consumer stopped at an event", err)
		}
	}
	caughtUp(t, ctx, sys)
	for i := range streams {
		id := fmt.Sprintf("c-%d", i)
		countIs(t, ctx, counts, id, perStream)
		for v := 1; v <= perStream; v++ {
			if k := fmt.Sprintf("%s/%d", id, v); sent[k] != 1 {
				t.Fatalf("command for %s sent %d times, want once (sent: %v)", k, sent[k], sent)
			}
		}
	}
}

// movedUnder is a memory store on which, once armed, the next commits of
// consumer "counts" find that another committed their batch just before
// them, as a rebuild run from another process does (it takes no lease):
// each conflicts.
type movedUnder struct {
	*memory.Store
	armed atomic.Int32 // the commits left to move under
	moved atomic.Int32
}

func (m *movedUnder) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if consumer == "counts" && m.armed.Add(-1) >= 0 {
		if err := m.Store.Commit(ctx, consumer, from, to, fn); err != nil {
			return err
		}
		m.moved.Add(1)
	}
	return m.Store.Commit(ctx, consumer, from, to, fn)
}

// A running consumer whose checkpoint another moved (a rebuild or reset
// from another process, which takes no lease) goes on from where it was
// moved: no failure is reported, and the read model ends as a fold of
// the log.
func TestACheckpointMovedUnderARunningConsumerIsNoFailure(t *testing.T) {
	const streams, perStream = 3, 30
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	moved := &movedUnder{Store: memory.New()}
	s := annals.New(moved)
	sys := must(annals.NewSystem(s, annals.Async))
	failures := logFailures(sys)
	counts := annals.NewViewProjection(s, "counts", view.View[int, incremented]{Evolve: func(n int, _ incremented) int { return n + 1 }},
		counterCodec(), func(r store.Record, _ incremented) (string, bool) { return r.StreamID, true }, annals.WithBatchSize(10))
	if err := sys.Add(counts); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	for i := range streams * perStream {
		if _, err := r.Handle(ctx, fmt.Sprintf("c-%d", i%streams), increment{}); err != nil {
			t.Fatal(err)
		}
	}
	// Twice in a row: a projection starts once more from the moved
	// checkpoint by itself, and returns from Run on the second.
	moved.armed.Store(2)
	runUntilQuiet(t, ctx, sys)
	if moved.moved.Load() != 2 {
		t.Fatalf("the checkpoint was moved %d times under the consumer; want twice", moved.moved.Load())
	}
	if len(failures.all()) > 0 {
		t.Fatalf("failures reported: %v; want none: the checkpoint moved by another is its progress", failures.all())
	}
	for i := range streams {
		id := fmt.Sprintf("c-%d", i)
		countIs(t, ctx, counts, id, perStream)
	}
}

// A running consumer takes up a checkpoint that another moved while it
// waited for the log (an ops reset from another process), though nothing
// is appended: a view reset to 0 with its states deleted is rebuilt, and
// a saga reset to 0 handles its events again.
func TestACheckpointMovedWhileAConsumerWaitsIsTakenUp(t *testing.T) {
	const streams, perStream = 3, 4
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Async))
	failures := logFailures(sys)
	counts := annals.NewViewProjection(s, "counts", view.View[int, incremented]{Evolve: func(n int, _ incremented) int { return n + 1 }},
		counterCodec(), func(r store.Record, _ incremented) (string, bool) { return r.StreamID, true })
	var sent atomic.Int32
	echo := annals.NewSaga(s, "echo", saga.Saga[incremented, increment]{
		React: func(incremented) []increment { return []increment{{}} },
	}, counterCodec(), func(context.Context, increment, annals.Cause) error { sent.Add(1); return nil })
	if err := sys.Add(counts, echo); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	for i := range streams * perStream {
		if _, err := r.Handle(ctx, fmt.Sprintf("c-%d", i%streams), increment{}); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- sys.Run(runCtx) }()
	if err := sys.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sent.Load(); n != streams*perStream {
		t.Fatalf("the saga sent %d commands; want %d", n, streams*perStream)
	}
	// Another handle on the store, as an operator's process: both
	// checkpoints back to 0, the view's states with it.
	other := annals.New(s.Adapter())
	head := must(other.Head(ctx))
	if err := other.Commit(ctx, "counts", head, 0, func(tx store.StateTx) error { return tx.DeleteStates(ctx, "counts") }); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctx, "echo", head, 0, func(store.StateTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := counts.Get(ctx, "c-0")
		if err == nil && n == perStream && sent.Load() == 2*streams*perStream {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the reset, with nothing appended: view state of c-0 = %d, %v (want %d), the saga sent %d commands (want %d)",
				n, err, perStream, sent.Load(), 2*streams*perStream)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-ran
	for i := range streams {
		countIs(t, ctx, counts, fmt.Sprintf("c-%d", i), perStream)
	}
	if got := failures.all(); len(got) > 0 {
		t.Fatalf("failures reported: %v; want none", got)
	}
}
