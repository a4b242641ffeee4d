package annals_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/httplog"
	"github.com/annals-dev/annals/store/memory"
)

// serveLog serves the log of s over HTTP and returns a client of it.
func serveLog(t testing.TB, s *annals.Store, opts ...httplog.HandlerOption) *httplog.Client {
	srv := httptest.NewServer(httplog.NewHandler(s, opts...))
	t.Cleanup(srv.Close)
	return must(httplog.NewClient(srv.URL))
}

// For any interleaving of appends (of the view's events and of types it
// does not read) and steps, a view on another store that reads the log
// over HTTP ends with the states of the same view on the store itself,
// and its checkpoint at the head: no event skipped or handled twice, and
// none read from the log of its own store, which has a life of its own.
func TestAViewOnAServedLogEqualsTheViewOnTheStore(t *testing.T) {
	ctx := context.Background()
	rapid.Check(t, func(rt *rapid.T) {
		origin := annals.New(memory.New())
		local := annals.New(memory.New())
		batch := annals.WithBatchSize(rapid.IntRange(1, 5).Draw(rt, "batch"))
		remote := newTally(local, annals.WithSource(serveLog(t, origin)), batch)
		here := newTally(origin, batch)
		r := annals.NewRunner(origin, counter, counterCodec())
		own := annals.NewRunner(local, counter, counterCodec())
		streams := []string{"a", "b", "c"}
		for range rapid.IntRange(0, 30).Draw(rt, "steps") {
			switch rapid.IntRange(0, 3).Draw(rt, "do") {
			case 0:
				if _, err := remote.Step(ctx); err != nil {
					rt.Fatal(err)
				}
			case 1:
				if _, err := r.Handle(ctx, rapid.SampledFrom(streams).Draw(rt, "stream"), increment{}); err != nil {
					rt.Fatal(err)
				}
			case 2: // an event of the local store, which the view must not see
				if _, err := own.Handle(ctx, rapid.SampledFrom(streams).Draw(rt, "stream"), increment{}); err != nil {
					rt.Fatal(err)
				}
			default: // an event the view does not read
				if _, err := origin.Append(ctx, "noise", store.AnyVersion, []store.Event{{Type: "Noise"}}); err != nil {
					rt.Fatal(err)
				}
			}
		}
		if _, err := remote.CatchUp(ctx); err != nil {
			rt.Fatal(err)
		}
		if _, err := here.CatchUp(ctx); err != nil {
			rt.Fatal(err)
		}
		for _, id := range streams {
			got, gerr := remote.Get(ctx, id)
			want, werr := here.Get(ctx, id)
			if got != want || (gerr == nil) != (werr == nil) {
				rt.Fatalf("stream %s: over HTTP %+v, %v; on the store %+v, %v", id, got, gerr, want, werr)
			}
		}
		head := must(origin.Head(ctx))
		if at := must(remote.Position(ctx)); at != head {
			rt.Fatalf("the remote view's checkpoint is %d; the head is %d", at, head)
		}
		if at := must(origin.Checkpoint(ctx, "tally")); at != head {
			rt.Fatalf("the store's own view is at %d; the head is %d", at, head)
		}
	})
}

// Run follows a served log as writers append to it, each event once,
// through the server's waits running out, until its context ends.
func TestRunFollowsAServedLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	origin := annals.New(memory.New())
	local := annals.New(memory.New())
	p := newTally(local, annals.WithSource(serveLog(t, origin, httplog.WithMaxWait(5*time.Millisecond))), annals.WithBatchSize(3))
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	r := annals.NewRunner(origin, counter, counterCodec())
	var wg sync.WaitGroup
	streams := []string{"a", "b", "c", "d"}
	const each = 25
	for _, id := range streams {
		wg.Go(func() {
			for range each {
				if _, err := r.Handle(ctx, id, increment{}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	head := must(origin.Head(ctx))
	deadline := time.Now().Add(10 * time.Second)
	for must(p.Position(ctx)) < head {
		if time.Now().After(deadline) {
			t.Fatalf("the view reached %d of %d in 10 s", must(p.Position(ctx)), head)
		}
		runtimeYield()
	}
	for _, id := range streams {
		if got := must(p.Get(ctx, id)); got != (tally{Count: each, Last: each}) {
			t.Errorf("stream %s: %+v; want %d increments, the last to %d", id, got, each, each)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after its context ended = %v; want context.Canceled", err)
	}
}

// A Sync system settles its consumers after its own store's appends,
// which do not move another log: it refuses a consumer that reads one.
func TestASyncSystemRefusesAConsumerOfAnotherLog(t *testing.T) {
	origin := annals.New(memory.New())
	local := annals.New(memory.New())
	sys := must(annals.NewSystem(local, annals.Sync))
	remote := newTally(local, annals.WithSource(serveLog(t, origin)))
	if err := sys.Add(remote); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Add of a view that reads another log = %v; want store.ErrInvalid", err)
	}
	if err := sys.Add(newTally(local)); err != nil {
		t.Fatalf("Add of the same view on the store's own log: %v", err)
	}
}

// An Async system runs a consumer of a served log beside one of its own
// store's, through a server that fails the consumer's reads now and
// then: it retries, and its status and WaitQuiet count each consumer
// against the head of the log it reads.
func TestAnAsyncSystemRunsAConsumerOfAServedLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	origin := annals.New(memory.New())
	local := annals.New(memory.New())
	var requests atomic.Int64
	inner := httplog.NewHandler(origin, httplog.WithMaxWait(5*time.Millisecond))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/head" && requests.Add(1)%3 == 0 { // WaitQuiet reads the head too, and would report a failure
			http.Error(w, "the proxy is busy", http.StatusBadGateway)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	sys := must(annals.NewSystem(local, annals.Async))
	sys.OnError(func(string, error) {})
	client := must(httplog.NewClient(srv.URL))
	remote := annals.NewViewProjection(local, "remote", tallyView, counterCodec(), byStream, annals.WithSource(client), annals.WithBatchSize(2))
	own := newTally(local)
	if err := sys.Add(remote, own); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sys.Run(ctx) }()

	theirs := annals.NewRunner(origin, counter, counterCodec())
	ours := annals.NewRunner(local, counter, counterCodec())
	for i := range 10 {
		must(theirs.Handle(ctx, "a", increment{}))
		if i < 3 {
			must(ours.Handle(ctx, "a", increment{}))
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := sys.WaitQuiet(wctx); err != nil {
		t.Fatal(err)
	}
	status := must(sys.Status(ctx))
	want := []annals.ConsumerStatus{{Name: "remote", Checkpoint: 10, Head: 10, Log: client}, {Name: "tally", Checkpoint: 3, Head: 3, Log: local.Adapter()}}
	if !slices.Equal(status, want) {
		t.Fatalf("status %+v; want %+v", status, want)
	}
	if got := must(remote.Get(ctx, "a")); got != (tally{Count: 10, Last: 10}) {
		t.Fatalf("the remote view: %+v; want 10 increments", got)
	}
	if requests.Load() < 3 {
		t.Fatalf("only %d requests: no failure was retried", requests.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
}

// A consumer's batch may be larger than the server's page: the client
// reads it in pages. And a source that cannot be reached is named in the
// consumer's error.
func TestAConsumerReadsBatchesLargerThanTheServersPage(t *testing.T) {
	ctx := context.Background()
	origin := annals.New(memory.New())
	r := annals.NewRunner(origin, counter, counterCodec())
	for range 12 {
		must(r.Handle(ctx, "a", increment{}))
		must(origin.Append(ctx, "noise", store.AnyVersion, []store.Event{{Type: "Noise"}}))
	}
	srv := httptest.NewServer(httplog.NewHandler(origin, httplog.WithMaxLimit(2)))
	src := must(httplog.NewClient(srv.URL, httplog.WithPageLimit(2)))
	p := newTally(annals.New(memory.New()), annals.WithSource(src), annals.WithBatchSize(5))
	if n, err := p.CatchUp(ctx); err != nil || n != 12 || must(p.Position(ctx)) != 24 {
		t.Fatalf("CatchUp = %d, %v, checkpoint %d; want the 12 events it reads, and the checkpoint at 24", n, err, must(p.Position(ctx)))
	}
	if got := must(p.Get(ctx, "a")); got != (tally{Count: 12, Last: 12}) {
		t.Fatalf("state %+v; want 12 increments", got)
	}
	srv.Close()
	if _, err := p.Step(ctx); err == nil || !strings.Contains(err.Error(), `consumer "tally": read the head of the log`) {
		t.Fatalf("Step with the server gone = %v; want an error that names the consumer", err)
	}
}

// A source that does not answer hides no other consumer: Status says
// which head it could not read and why, and still reports every
// consumer, with -1 for what it does not know rather than a lag of 0.
func TestStatusReportsEveryConsumerWhenASourceIsDown(t *testing.T) {
	ctx := context.Background()
	origin := annals.New(memory.New())
	local := annals.New(memory.New())
	srv := httptest.NewServer(httplog.NewHandler(origin))
	client := must(httplog.NewClient(srv.URL))
	sys := must(annals.NewSystem(local, annals.Async))
	remote := annals.NewViewProjection(local, "remote", tallyView, counterCodec(), byStream, annals.WithSource(client))
	own := newTally(local)
	if err := sys.Add(remote, own); err != nil {
		t.Fatal(err)
	}
	must(annals.NewRunner(origin, counter, counterCodec()).Handle(ctx, "a", increment{}))
	ours := annals.NewRunner(local, counter, counterCodec())
	for range 2 {
		must(ours.Handle(ctx, "a", increment{}))
	}
	must(remote.CatchUp(ctx))
	srv.Close()

	status, err := sys.Status(ctx)
	if err == nil || !strings.Contains(err.Error(), `consumer "remote"`) {
		t.Fatalf("Status with the source down: error %v; want one naming the consumer", err)
	}
	if len(status) != 2 {
		t.Fatalf("Status with the source down returned %d consumers; want both: %+v", len(status), status)
	}
	if got := status[0]; got.Name != "remote" || got.Checkpoint != 1 || got.Head != -1 || got.Lag != -1 || got.Unread == nil || got.Log != client {
		t.Errorf("the consumer whose source is down: %+v; want checkpoint 1, head and lag -1, Unread set", got)
	}
	want := annals.ConsumerStatus{Name: own.Name(), Checkpoint: 0, Head: 2, Lag: 2, Log: local.Adapter()}
	if status[1] != want {
		t.Errorf("the consumer of the store: %+v; want %+v", status[1], want)
	}
}
