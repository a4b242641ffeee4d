package annals_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// errRefused is the error of a call that could not reach the server.
var errRefused = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

// downStore is a memory store whose appends to the streams "t-…" fail:
// first refused times before anything is stored (the server could not be
// reached), then unknown times after the events were stored (the answer
// was lost). Its leases and the commits of its committer for read models
// (see SQL) are refused while leases and commits are left. It tells the
// refusals apart as unavailability, as the SQL adapters tell theirs.
type downStore struct {
	*memory.Store
	refused, unknown, leases, commits, reads atomic.Int32 // the failures left
}

func (d *downStore) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	if d.reads.Add(-1) >= 0 {
		return func(yield func(store.Record, error) bool) {
			yield(store.Record{}, fmt.Errorf("read stream %q: %w", streamID, errRefused))
		}
	}
	return d.Store.ReadStream(ctx, streamID, from)
}

func (d *downStore) Lock(ctx context.Context, name string) (store.Lease, error) {
	if d.leases.Add(-1) >= 0 {
		return nil, fmt.Errorf("lock %q: %w", name, errRefused)
	}
	return d.Store.Lock(ctx, name)
}

// SQL is the committer a projection of the store's transactions writes
// with, as the SQL adapters hand one to read models in their own tables.
func (d *downStore) SQL() store.Committer[downTx] { return downCommitter{d} }

// downTx is the transaction of downStore's committer for read models.
type downTx struct{ store.StateTx }

type downCommitter struct{ d *downStore }

func (c downCommitter) Commit(ctx context.Context, consumer string, from, to int64, fn func(downTx) error) error {
	if c.d.commits.Add(-1) >= 0 {
		return fmt.Errorf("commit: %w", errRefused)
	}
	return c.d.Store.Commit(ctx, consumer, from, to, func(tx store.StateTx) error { return fn(downTx{tx}) })
}

func (d *downStore) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	if strings.HasPrefix(streamID, "t-") {
		if d.refused.Add(-1) >= 0 {
			return 0, fmt.Errorf("append to stream %q: %w", streamID, errRefused)
		}
		if d.unknown.Add(-1) >= 0 {
			if _, err := d.Store.Append(ctx, streamID, expected, events); err != nil {
				return 0, err
			}
			return 0, fmt.Errorf("append to stream %q: commit: %w (%w)", streamID, store.ErrOutcomeUnknown, io.ErrUnexpectedEOF)
		}
	}
	return d.Store.Append(ctx, streamID, expected, events)
}

func (d *downStore) Unavailable(err error) bool { return errors.Is(err, errRefused) }

// flakyMapper is a mapper whose first left decodings fail as a codec that
// reads the store (a data subject's key) fails when the store is down.
type flakyMapper[E any] struct {
	codec.Mapper[E]
	left atomic.Int32
}

func (m *flakyMapper[E]) FromRecord(ctx context.Context, rec store.Record) (E, error) {
	if m.left.Add(-1) >= 0 {
		var zero E
		return zero, fmt.Errorf("the key of subject %q: %w", rec.StreamID, store.Unavailable(errRefused))
	}
	return m.Mapper.FromRecord(ctx, rec)
}

// The handle marks an adapter's error as store.ErrUnavailable when the
// adapter, a store.FaultClassifier, says it is, and leaves its message
// and every other error as they were.
func TestTheHandleMarksWhatTheAdapterCallsUnavailable(t *testing.T) {
	ctx := context.Background()
	down := &downStore{Store: memory.New()}
	down.refused.Store(1)
	s := annals.New(down)
	_, err := s.Append(ctx, "t-1", store.NoStream, []store.Event{{Type: "E", Data: []byte(`{}`)}})
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errRefused) {
		t.Fatalf("append refused by the server: %v; want it to match store.ErrUnavailable and the adapter's error", err)
	}
	if want := fmt.Sprintf("append to stream %q: %v", "t-1", errRefused); err.Error() != want {
		t.Fatalf("message %q; want the adapter's, %q", err, want)
	}
	if _, err := s.Append(ctx, "t-1", store.NoStream, []store.Event{{Type: "E", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(ctx, "t-1", store.NoStream, []store.Event{{Type: "E", Data: []byte(`{}`)}})
	if !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("conflict: %v; want store.ErrConflict, not unavailable", err)
	}
	down.unknown.Store(1)
	_, err = s.Append(ctx, "t-2", store.NoStream, []store.Event{{Type: "E", Data: []byte(`{}`)}})
	if !errors.Is(err, store.ErrOutcomeUnknown) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("lost answer: %v; want store.ErrOutcomeUnknown only, as the adapter said", err)
	}
	// Reads too: a runner's load, and the handle's own.
	down.reads.Store(2)
	r := annals.NewRunner(s, counter, counterCodec())
	if _, _, err := r.Load(ctx, "t-1"); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errRefused) {
		t.Fatalf("load refused by the server: %v; want it to match store.ErrUnavailable and the adapter's error", err)
	}
	for _, err := range s.ReadStream(ctx, "t-1", 1) {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("read refused by the server: %v; want it to match store.ErrUnavailable", err)
		}
	}
	if left := down.reads.Load(); left != 0 {
		t.Fatalf("%d refused reads left; want both met", left)
	}
	// An adapter that tells nothing apart has nothing marked.
	plain := annals.New(memory.New())
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Head(ctx); errors.Is(err, store.ErrUnavailable) || !errors.Is(err, store.ErrClosed) {
		t.Fatalf("head of a closed store: %v; want store.ErrClosed, not unavailable", err)
	}
}

// A store that could not take a call while a consumer handled an event is
// the store's passing failure, not the event's: a process whose
// dispatcher's command could not be stored (refused, or stored with its
// answer lost), and a view and a process whose codec could not read the
// store, are not stopped at the event. The system retries them with its
// pause, with no new event in the log to wake it, and each command is
// stored once.
func TestAnUnavailableStoreDoesNotStopAConsumer(t *testing.T) {
	const streams, perStream = 3, 4
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	down := &downStore{Store: memory.New()}
	s := annals.New(down)
	sys := must(annals.NewSystem(s, annals.Async))
	failures := logFailures(sys)
	viewCodec := &flakyMapper[incremented]{Mapper: counterCodec()}
	processCodec := &flakyMapper[incremented]{Mapper: counterCodec()}
	sources := func(r store.Record, _ incremented) (string, bool) {
		return r.StreamID, strings.HasPrefix(r.StreamID, "c-")
	}
	counts := annals.NewViewProjection(s, "counts", view.View[int, incremented]{Evolve: func(n int, _ incremented) int { return n + 1 }}, viewCodec, sources)
	r := annals.NewRunner(s, counter, counterCodec())
	echo := annals.NewProcess(s, "echo", saga.Process[int, incremented, increment]{
		Evolve: func(_ int, e incremented) int { return e.To },
		React:  func(_ int, e incremented) []increment { return []increment{{}} },
	}, processCodec, sources,
		func(ctx context.Context, c increment, cause annals.Cause) error {
			_, err := r.Handle(ctx, "t-"+cause.Instance, c, cause.Options()...)
			return err
		})
	rows := must(annals.NewRecordProjection(s, "rows", func(ctx context.Context, tx downTx, rec store.Record) error {
		return tx.SaveState(ctx, "rows", fmt.Sprint(rec.Position), []byte(rec.StreamID))
	}))
	if err := sys.Add(counts, echo, rows); err != nil {
		t.Fatal(err)
	}
	for i := range streams * perStream {
		if _, err := r.Handle(ctx, fmt.Sprintf("c-%d", i%streams), increment{}); err != nil {
			t.Fatal(err)
		}
	}
	viewCodec.left.Store(1)
	processCodec.left.Store(1)
	down.refused.Store(2)
	down.unknown.Store(1)
	down.leases.Store(1)
	down.commits.Store(1)
	runUntilQuiet(t, ctx, sys)

	if viewCodec.left.Load() >= 0 || processCodec.left.Load() >= 0 || down.refused.Load() >= 0 || down.unknown.Load() >= 0 || down.leases.Load() >= 0 || down.commits.Load() >= 0 {
		t.Fatalf("the faults were not all met: codecs %d, %d, refusals %d, lost answers %d, leases %d, commits %d left",
			viewCodec.left.Load(), processCodec.left.Load(), down.refused.Load(), down.unknown.Load(), down.leases.Load(), down.commits.Load())
	}
	if len(failures.all()) < 6 {
		t.Fatalf("failures reported: %v; want at least the six the store caused", failures.all())
	}
	for _, err := range failures.all() {
		if ce := (*annals.ConsumerError)(nil); errors.As(err, &ce) {
			t.Fatalf("failure %v: want the store's, retried, not a consumer stopped at an event", err)
		}
		if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, store.ErrOutcomeUnknown) {
			t.Fatalf("failure %v: want it to say the store was unavailable or the outcome unknown", err)
		}
	}
	caughtUp(t, ctx, sys)
	for i := range streams {
		id := fmt.Sprintf("c-%d", i)
		countIs(t, ctx, counts, id, perStream)
		if n, v, err := r.Load(ctx, "t-"+id); err != nil || n != perStream || v != perStream {
			t.Fatalf("stream t-%s holds %d events (state %d), %v; want each of the %d commands stored once", id, v, n, err, perStream)
		}
	}
}

// A Sync system tells the command whose consequences met the unavailable
// store that its events are stored and that a consumer failed, without
// stopping the consumer at an event; the next settle catches it up.
func TestAnUnavailableStoreDoesNotStopASyncConsumer(t *testing.T) {
	ctx := context.Background()
	down := &downStore{Store: memory.New()}
	s := annals.New(down)
	sys := must(annals.NewSystem(s, annals.Sync))
	sys.OnError(func(string, error) {})
	r := annals.NewRunner(s, counter, counterCodec())
	echo := annals.NewProcess(s, "echo", saga.Process[int, incremented, increment]{
		Evolve: func(_ int, e incremented) int { return e.To },
		React:  func(int, incremented) []increment { return []increment{{}} },
	}, counterCodec(), func(r store.Record, _ incremented) (string, bool) {
		return r.StreamID, strings.HasPrefix(r.StreamID, "c-")
	},
		func(ctx context.Context, c increment, cause annals.Cause) error {
			_, err := r.Handle(ctx, "t-"+cause.Instance, c, cause.Options()...)
			return err
		})
	if err := sys.Add(echo); err != nil {
		t.Fatal(err)
	}
	down.refused.Store(1)
	_, err := r.Handle(ctx, "c-1", increment{})
	if !errors.Is(err, annals.ErrStored) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("command whose saga met an unavailable store: %v; want annals.ErrStored and store.ErrUnavailable", err)
	}
	if ce := (*annals.ConsumerError)(nil); errors.As(err, &ce) {
		t.Fatalf("command whose saga met an unavailable store: %v; want no consumer stopped at an event", err)
	}
	for _, st := range must(sys.Status(ctx)) {
		if st.Stopped != nil {
			t.Fatalf("status %+v: want not stopped", st)
		}
	}
	if err := sys.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if n, v, err := r.Load(ctx, "t-c-1"); err != nil || n != 1 || v != 1 {
		t.Fatalf("stream t-c-1 at version %d (state %d), %v; want the saga's command stored once", v, n, err)
	}
}

// A consumer's own failure marked annals.ErrTransient, such as a payment
// gateway's refusal for now met by a saga's dispatcher or a search index
// that timed out in a read model's handler, passes as the store's do: the
// consumer is not stopped at the event and runs again from it, with no
// new event to wake it, and each command is stored once.
func TestAFailureMarkedTransientDoesNotStopAConsumer(t *testing.T) {
	const streams, perStream = 2, 3
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	down := &downStore{Store: memory.New()}
	s := annals.New(down)
	sys := must(annals.NewSystem(s, annals.Async))
	failures := logFailures(sys)
	r := annals.NewRunner(s, counter, counterCodec())
	var gateway, index atomic.Int32 // the failures left
	pay := annals.NewProcess(s, "pay", saga.Process[int, incremented, increment]{
		Evolve: func(_ int, e incremented) int { return e.To },
		React:  func(int, incremented) []increment { return []increment{{}} },
	}, counterCodec(), func(r store.Record, _ incremented) (string, bool) {
		return r.StreamID, strings.HasPrefix(r.StreamID, "c-")
	},
		func(ctx context.Context, c increment, cause annals.Cause) error {
			if gateway.Add(-1) >= 0 {
				return fmt.Errorf("payment gateway: 503 Service Unavailable: %w", annals.ErrTransient)
			}
			_, err := r.Handle(ctx, "t-"+cause.Instance, c, cause.Options()...)
			return err
		})
	rows := must(annals.NewRecordProjection(s, "rows", func(ctx context.Context, tx downTx, rec store.Record) error {
		if index.Add(-1) >= 0 {
			return fmt.Errorf("search index: timed out: %w", annals.ErrTransient)
		}
		return tx.SaveState(ctx, "rows", fmt.Sprint(rec.Position), []byte(rec.StreamID))
	}))
	if err := sys.Add(pay, rows); err != nil {
		t.Fatal(err)
	}
	for i := range streams * perStream {
		if _, err := r.Handle(ctx, fmt.Sprintf("c-%d", i%streams), increment{}); err != nil {
			t.Fatal(err)
		}
	}
	gateway.Store(3)
	index.Store(2)
	runUntilQuiet(t, ctx, sys)

	if gateway.Load() >= 0 || index.Load() >= 0 {
		t.Fatalf("the failures were not all met: gateway %d, index %d left", gateway.Load(), index.Load())
	}
	if len(failures.all()) < 5 {
		t.Fatalf("failures reported: %v; want at least the five the handlers made", failures.all())
	}
	for _, err := range failures.all() {
		if ce := (*annals.ConsumerError)(nil); errors.As(err, &ce) || !errors.Is(err, annals.ErrTransient) {
			t.Fatalf("failure %v: want the handler's transient failure, retried, not a consumer stopped at an event", err)
		}
	}
	caughtUp(t, ctx, sys)
	for i := range streams {
		id := fmt.Sprintf("c-%d", i)
		if n, v, err := r.Load(ctx, "t-"+id); err != nil || n != perStream || v != perStream {
			t.Fatalf("stream t-%s holds %d events (state %d), %v; want each of the %d commands stored once", id, v, n, err, perStream)
		}
	}
}
