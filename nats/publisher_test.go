package annalsnats_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	annalsnats "github.com/annals-dev/annals/nats"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// The types and stream IDs of the events of the tests: some no subject
// token or header could hold as they are.
var (
	types   = []string{"OrderPlaced", "order.placed v2", "*", ">", "a.b.>", "100%"}
	streams = []string{"order-1", " order 2\r\nX-Forged: yes ", "ørder/3%"}
)

// appendEvents appends n events to s, spread over streams and types,
// with every field of an event set on some of them, and returns the log.
func appendEvents(t testing.TB, s *annals.Store, n int) []store.Record {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		e := store.Event{
			Type:          types[i%len(types)],
			SchemaVersion: 1 + i%3,
			Data:          fmt.Appendf(nil, `{"n":%d}`, i),
			Metadata:      store.Metadata{CorrelationID: "corr-" + strconv.Itoa(i/4)},
		}
		if i%7 == 0 {
			e.Data = nil
		}
		if i%4 == 0 {
			e.Encoding = "gzip"
		}
		if i%3 == 1 {
			e.Metadata.CausationID = " cause\t" + strconv.Itoa(i)
			e.Metadata.Extra = map[string]string{"tenant": "t1", "note": "two\r\nlines ", "": "é"}
		}
		if i%5 == 2 {
			e.Tags = []string{"course:c1", "student:s" + strconv.Itoa(i)}
		}
		if _, err := s.Append(ctx, streams[i%len(streams)], store.AnyVersion, []store.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	log, err := s.ReadLog(ctx, store.LogQuery{Limit: n + 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != n {
		t.Fatalf("the log holds %d events, want %d", len(log), n)
	}
	return log
}

func openMemory(t testing.TB) *annals.Store {
	t.Helper()
	s, err := annals.Open(context.Background(), "memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkStream fails unless stream holds log, each record once and in
// its order, on the subject of its type under prefix.
func checkStream(t tester, stream jetstream.Stream, prefix string, log []store.Record) {
	t.Helper()
	msgs := messages(t, stream)
	if len(msgs) != len(log) {
		t.Fatalf("the stream holds %d messages, want the log's %d", len(msgs), len(log))
	}
	for i, m := range msgs {
		rec, err := annalsnats.Record(m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if diff := sameRecord(rec, log[i]); diff != "" {
			t.Fatalf("message %d is not the log's record at position %d: %s", i, log[i].Position, diff)
		}
		if want := prefix + "." + annalsnats.SubjectToken(rec.Type); m.Subject() != want {
			t.Fatalf("message %d has subject %q, want %q", i, m.Subject(), want)
		}
	}
}

// A relay publishes the log to JetStream, each event once, in the log's
// order, and a subscriber rebuilds each record as the store holds it.
func TestRelayPublishesTheLogInOrder(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	stream := b.stream(t, "ANNALS", annalsnats.DefaultSubjectPrefix, jetstream.StreamConfig{})
	s := openMemory(t)
	const n = 40
	log := appendEvents(t, s, n)

	pub, err := annalsnats.NewPublisher(b.js)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := annals.NewRelay(s, "to-nats", pub, annals.WithBatchSize(7))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := relay.CatchUp(ctx); err != nil || got != n {
		t.Fatalf("CatchUp = %d, %v; want %d, nil", got, err, n)
	}
	if at, err := relay.Position(ctx); err != nil || at != log[n-1].Position {
		t.Fatalf("the relay's checkpoint is %d, %v; want %d", at, err, log[n-1].Position)
	}
	if got, err := relay.CatchUp(ctx); err != nil || got != 0 {
		t.Fatalf("CatchUp again = %d, %v; want 0, nil", got, err)
	}
	checkStream(t, stream, annalsnats.DefaultSubjectPrefix, log)

	// The subject of a type holds that type's events, and no other.
	typ := "order.placed v2"
	c, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{annalsnats.DefaultSubjectPrefix + "." + annalsnats.SubjectToken(typ)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, r := range log {
		if r.Type == typ {
			want = append(want, r.Position)
		}
	}
	batch, err := c.FetchNoWait(len(want) + 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for m := range batch.Messages() {
		rec, err := annalsnats.Record(m)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != typ {
			t.Errorf("the subject of %q holds an event of type %q", typ, rec.Type)
		}
		got = append(got, rec.Position)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the subject of %q holds positions %v, want %v", typ, got, want)
	}
}

var errCrash = errors.New("the process stopped")

// crashing is a store whose SetCheckpoint fails while crash is set: the
// relay stops after the broker acknowledged a batch, before its
// checkpoint moved.
type crashing struct {
	store.Store
	crash atomic.Bool
}

func (c *crashing) SetCheckpoint(ctx context.Context, consumer string, position int64) error {
	if c.crash.Load() {
		return errCrash
	}
	return c.Store.SetCheckpoint(ctx, consumer, position)
}

// cut publishes the first n records of a batch, then stops.
type cut struct {
	pub annals.Publisher
	n   int
}

func (c cut) Publish(ctx context.Context, recs []store.Record) error {
	if err := c.pub.Publish(ctx, recs[:min(c.n, len(recs))]); err != nil {
		return err
	}
	return errCrash
}

// Whatever a relay published before it stopped, between appends and
// however often, and however it is restarted (a new connection, a new
// publisher, a new relay), the stream ends up holding each event once,
// in the log's order.
func TestEachEventOnceAcrossCrashes(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	var run atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		i := run.Add(1)
		prefix := fmt.Sprintf("p%d", i)
		stream := b.stream(rt, fmt.Sprintf("P%d", i), prefix, jetstream.StreamConfig{})
		defer b.js.DeleteStream(ctx, fmt.Sprintf("P%d", i))
		adapter := &crashing{Store: memory.New()}
		s := annals.New(adapter)
		defer s.Close()
		batch := rapid.IntRange(1, 6).Draw(rt, "batch")

		// step runs a relay of a process of its own, publishing through
		// wrap(its publisher), for one batch, or until it catches up.
		step := func(wrap func(annals.Publisher) annals.Publisher, catchUp bool) (int, error) {
			nc, js := b.dial(rt)
			defer nc.Close()
			pub, err := annalsnats.NewPublisher(js, annalsnats.WithSubjectPrefix(prefix))
			if err != nil {
				rt.Fatal(err)
			}
			relay, err := annals.NewRelay(s, "to-nats", wrap(pub), annals.WithBatchSize(batch))
			if err != nil {
				rt.Fatal(err)
			}
			if catchUp {
				return relay.CatchUp(ctx)
			}
			return relay.Step(ctx)
		}
		same := func(p annals.Publisher) annals.Publisher { return p }

		appended := 0
		for k := range rapid.IntRange(1, 12).Draw(rt, "steps") {
			before, err := s.Checkpoint(ctx, "to-nats")
			if err != nil {
				rt.Fatal(err)
			}
			head, err := s.Head(ctx)
			if err != nil {
				rt.Fatal(err)
			}
			var n int
			switch what := rapid.SampledFrom([]string{"append", "relay", "crash before the checkpoint", "crash while publishing"}).Draw(rt, fmt.Sprintf("step %d", k)); what {
			case "append":
				events := make([]store.Event, rapid.IntRange(1, 5).Draw(rt, "events"))
				for j := range events {
					events[j] = store.Event{Type: types[(appended+j)%len(types)], Data: fmt.Appendf(nil, "%d", appended+j)}
				}
				if _, err := s.Append(ctx, rapid.SampledFrom(streams).Draw(rt, "stream"), store.AnyVersion, events); err != nil {
					rt.Fatal(err)
				}
				appended += len(events)
				continue
			case "relay":
				if n, err = step(same, true); err != nil || int64(n) != head-before {
					rt.Fatalf("CatchUp = %d, %v; want %d, nil", n, err, head-before)
				}
				continue
			case "crash before the checkpoint":
				adapter.crash.Store(true)
				n, err = step(same, false)
				adapter.crash.Store(false)
			case "crash while publishing":
				keep := rapid.IntRange(0, batch).Draw(rt, "published before the crash")
				n, err = step(func(p annals.Publisher) annals.Publisher { return cut{p, keep} }, false)
			}
			after, cerr := s.Checkpoint(ctx, "to-nats")
			if cerr != nil {
				rt.Fatal(cerr)
			}
			if head == before {
				if n != 0 || err != nil {
					rt.Fatalf("a relay that had caught up: Step = %d, %v; want 0, nil", n, err)
				}
			} else if !errors.Is(err, errCrash) || n != 0 || after != before {
				rt.Fatalf("Step = %d, %v, checkpoint %d → %d; want the crash, and the checkpoint left", n, err, before, after)
			}
		}
		if _, err := step(same, true); err != nil {
			rt.Fatal(err)
		}
		log, err := s.ReadLog(ctx, store.LogQuery{Limit: appended + 1})
		if err != nil {
			rt.Fatal(err)
		}
		checkStream(rt, stream, prefix, log)
	})
}

// A batch that JetStream does not acknowledge leaves the relay's
// checkpoint where it was, and the error names the first record that
// failed.
func TestAFailedPublishLeavesTheCheckpoint(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	relayThrough := func(t *testing.T, s *annals.Store, opts ...annalsnats.Option) *annals.Relay {
		t.Helper()
		pub, err := annalsnats.NewPublisher(b.js, opts...)
		if err != nil {
			t.Fatal(err)
		}
		relay, err := annals.NewRelay(s, "to-nats", pub)
		if err != nil {
			t.Fatal(err)
		}
		return relay
	}
	checkpointAt := func(t *testing.T, relay *annals.Relay, want int64) {
		t.Helper()
		if at, err := relay.Position(ctx); err != nil || at != want {
			t.Fatalf("the relay's checkpoint is %d, %v; want %d", at, err, want)
		}
	}

	t.Run("no stream has the subject", func(t *testing.T) {
		s := openMemory(t)
		appendEvents(t, s, 3)
		relay := relayThrough(t, s, annalsnats.WithSubjectPrefix("nowhere"))
		n, err := relay.CatchUp(ctx)
		if n != 0 || !errors.Is(err, jetstream.ErrNoStreamResponse) || !strings.Contains(err.Error(), "position 1 ") {
			t.Fatalf("CatchUp = %d, %v; want 0 and no response for position 1", n, err)
		}
		checkpointAt(t, relay, 0)
	})

	t.Run("the stream refuses a record in the middle", func(t *testing.T) {
		stream := b.stream(t, "FULL", "full", jetstream.StreamConfig{MaxMsgs: 2, Discard: jetstream.DiscardNew})
		s := openMemory(t)
		log := appendEvents(t, s, 5)
		relay := relayThrough(t, s, annalsnats.WithSubjectPrefix("full"))
		n, err := relay.CatchUp(ctx)
		var apiErr *jetstream.APIError
		if n != 0 || !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "position 3 ") {
			t.Fatalf("CatchUp = %d, %v; want 0 and the stream's refusal of position 3", n, err)
		}
		checkpointAt(t, relay, 0)
		checkStream(t, stream, "full", log[:2])

		// Once the stream takes them, the relay publishes the batch
		// again: the stream drops the records it has.
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cfg := info.Config
		cfg.MaxMsgs = -1
		if _, err := b.js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if n, err := relay.CatchUp(ctx); n != 5 || err != nil {
			t.Fatalf("CatchUp = %d, %v; want 5, nil", n, err)
		}
		checkpointAt(t, relay, log[4].Position)
		checkStream(t, stream, "full", log)
	})

	t.Run("no acknowledgement comes", func(t *testing.T) {
		// A subscriber that is not a stream, and answers nothing.
		sub, err := b.nc.Subscribe("silent.>", func(*nats.Msg) {})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		s := openMemory(t)
		appendEvents(t, s, 3)
		relay := relayThrough(t, s, annalsnats.WithSubjectPrefix("silent"), annalsnats.WithAckWait(100*time.Millisecond))
		n, err := relay.CatchUp(ctx)
		if n != 0 || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "position 1 ") {
			t.Fatalf("CatchUp = %d, %v; want 0 and no acknowledgement of position 1", n, err)
		}
		checkpointAt(t, relay, 0)
	})

	t.Run("the context ends", func(t *testing.T) {
		stream := b.stream(t, "ENDED", "ended", jetstream.StreamConfig{})
		s := openMemory(t)
		appendEvents(t, s, 3)
		relay := relayThrough(t, s, annalsnats.WithSubjectPrefix("ended"))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if n, err := relay.Step(cctx); n != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("Step = %d, %v; want 0, context.Canceled", n, err)
		}
		checkpointAt(t, relay, 0)
		checkStream(t, stream, "ended", nil)
	})

	t.Run("a record has no subject to publish to", func(t *testing.T) {
		stream := b.stream(t, "BAD", "bad", jetstream.StreamConfig{})
		s := openMemory(t)
		log := appendEvents(t, s, 5)
		relay := relayThrough(t, s, annalsnats.WithSubject(func(r store.Record) string {
			if r.Position == log[2].Position {
				return "bad.two words"
			}
			return "bad.ok"
		}))
		n, err := relay.CatchUp(ctx)
		var stopped *annals.ConsumerError
		if n != 2 || !errors.Is(err, store.ErrInvalid) || !errors.As(err, &stopped) || stopped.Position != log[2].Position {
			t.Fatalf("CatchUp = %d, %v; want 2 and the relay stopped at position %d for its invalid subject", n, err, log[2].Position)
		}
		// The records before it are published and passed; the rest wait.
		checkpointAt(t, relay, log[1].Position)
		msgs := messages(t, stream)
		if len(msgs) != 2 {
			t.Fatalf("the stream holds %d messages, want the 2 before the refused record", len(msgs))
		}
		for i, m := range msgs {
			if rec, err := annalsnats.Record(m); err != nil || sameRecord(rec, log[i]) != "" {
				t.Fatalf("message %d is not the log's record at position %d: %v %s", i, log[i].Position, err, sameRecord(rec, log[i]))
			}
		}
	})

	t.Run("the stream refuses a record for good", func(t *testing.T) {
		stream := b.stream(t, "SMALL", "small", jetstream.StreamConfig{MaxMsgSize: 1024})
		s := openMemory(t)
		for i, size := range []int{10, 10, 2048, 10, 10} {
			if _, err := s.Append(ctx, fmt.Sprint("s-", i), store.NoStream, []store.Event{{Type: "Sized", Data: bytes.Repeat([]byte("x"), size)}}); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.ReadLog(ctx, store.LogQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		log := slices.Delete(slices.Clone(all), 2, 3) // all but the large one
		relay := relayThrough(t, s, annalsnats.WithSubjectPrefix("small"))
		n, err := relay.CatchUp(ctx)
		var stopped *annals.ConsumerError
		var refused *annals.RefusedError
		if n != 2 || !errors.As(err, &stopped) || stopped.Position != 3 || !errors.As(err, &refused) || !errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
			t.Fatalf("CatchUp = %d, %v; want 2 and the relay stopped at position 3, too large for the stream", n, err)
		}
		checkpointAt(t, relay, 2)
		// The server judged each message: those after the refused one
		// in its batch are stored, and the relay stays stopped there.
		checkStream(t, stream, "small", log)
		if n, err := relay.CatchUp(ctx); n != 0 || !errors.As(err, &stopped) || stopped.Position != 3 {
			t.Fatalf("CatchUp again = %d, %v; want 0 and the relay stopped at position 3 again", n, err)
		}
	})
}

// Bad options, and a nil JetStream, fail NewPublisher with
// store.ErrInvalid.
func TestNewPublisherRefuses(t *testing.T) {
	b := newBroker(t)
	var nilJS jetstream.JetStream
	if _, err := annalsnats.NewPublisher(nilJS); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("NewPublisher(nil) = %v; want store.ErrInvalid", err)
	}
	cases := map[string]annalsnats.Option{
		"an empty prefix":               annalsnats.WithSubjectPrefix(""),
		"a prefix with an empty token":  annalsnats.WithSubjectPrefix("a..b"),
		"a prefix ending in a dot":      annalsnats.WithSubjectPrefix("a."),
		"a prefix with a wildcard":      annalsnats.WithSubjectPrefix("a.*"),
		"a prefix with a full wildcard": annalsnats.WithSubjectPrefix(">"),
		"a prefix with a space":         annalsnats.WithSubjectPrefix("a b"),
		"a prefix with a line break":    annalsnats.WithSubjectPrefix("a\nb"),
		"a nil subject function":        annalsnats.WithSubject(nil),
		"no ack wait":                   annalsnats.WithAckWait(0),
		"a nil option":                  nil,
	}
	for name, opt := range cases {
		if _, err := annalsnats.NewPublisher(b.js, opt); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: NewPublisher = %v; want store.ErrInvalid", name, err)
		}
	}
	if _, err := annalsnats.NewPublisher(b.js, annalsnats.WithSubjectPrefix("app.events-1"), annalsnats.WithAckWait(time.Second)); err != nil {
		t.Errorf("NewPublisher with good options: %v", err)
	}
}
