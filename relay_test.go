package annals_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// broker is a message broker that drops a message whose ID it has seen,
// as JetStream does within its duplicate window. failAfter, when not
// negative, makes the next Publish fail after it has taken that many
// records.
type broker struct {
	mu        sync.Mutex
	seen      map[uuid.UUID]bool
	got       []store.Record
	failAfter int
	meanwhile func() // when set, runs once before the next Publish
}

func newBroker() *broker { return &broker{seen: map[uuid.UUID]bool{}, failAfter: -1} }

func (b *broker) Publish(_ context.Context, recs []store.Record) error {
	if f := b.meanwhile; f != nil {
		b.meanwhile = nil
		f()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, r := range recs {
		if i == b.failAfter {
			b.failAfter = -1
			return fmt.Errorf("the broker went away after %d messages", i)
		}
		if !b.seen[r.ID] {
			b.seen[r.ID] = true
			b.got = append(b.got, r)
		}
	}
	return nil
}

func (b *broker) ids() []uuid.UUID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return lo.Map(b.got, func(r store.Record, _ int) uuid.UUID { return r.ID })
}

// flakyCheckpoints is a store whose next SetCheckpoint fails, when told:
// a relay that stops between the broker's acknowledgement and its
// checkpoint.
type flakyCheckpoints struct {
	*memory.Store
	fail bool
}

func (f *flakyCheckpoints) SetCheckpoint(ctx context.Context, consumer string, position int64) error {
	if f.fail {
		f.fail = false
		return errors.New("the connection broke")
	}
	return f.Store.SetCheckpoint(ctx, consumer, position)
}

// Whatever fails and whenever, a relay run until it catches up has handed
// the broker every event of the types it relays exactly once, in the
// log's order, and its checkpoint is at the head.
func TestARelayHandsEachEventOverOnce(t *testing.T) {
	ctx := context.Background()
	rapid.Check(t, func(rt *rapid.T) {
		adapter := &flakyCheckpoints{Store: memory.New()}
		s := annals.New(adapter)
		b := newBroker()
		opts := []annals.ConsumerOption{annals.WithBatchSize(rapid.IntRange(1, 5).Draw(rt, "batch"))}
		relayed := []string{"A", "B", "C"}
		if rapid.Bool().Draw(rt, "some types") {
			relayed = []string{"A", "C"}
			opts = append(opts, annals.WithTypes(relayed...))
		}
		relay := must(annals.NewRelay(s, "to-broker", b, opts...))
		for range rapid.IntRange(0, 40).Draw(rt, "steps") {
			switch rapid.IntRange(0, 3).Draw(rt, "do") {
			case 0:
				evs := lo.Times(rapid.IntRange(1, 3).Draw(rt, "events"), func(int) store.Event {
					return store.Event{Type: rapid.SampledFrom([]string{"A", "B", "C"}).Draw(rt, "type")}
				})
				if _, err := s.Append(ctx, rapid.SampledFrom([]string{"x", "y"}).Draw(rt, "stream"), store.AnyVersion, evs); err != nil {
					rt.Fatal(err)
				}
			case 1:
				b.failAfter = rapid.IntRange(0, 4).Draw(rt, "fail after")
				_, _ = relay.Step(ctx)
				b.failAfter = -1
			case 2:
				adapter.fail = true
				_, _ = relay.Step(ctx)
				adapter.fail = false
			default:
				if _, err := relay.Step(ctx); err != nil {
					rt.Fatal(err)
				}
			}
		}
		if _, err := relay.CatchUp(ctx); err != nil {
			rt.Fatal(err)
		}
		log := must(s.ReadLog(ctx, store.LogQuery{Limit: 1000, Types: relayed}))
		want := lo.Map(log, func(r store.Record, _ int) uuid.UUID { return r.ID })
		if got := b.ids(); !slices.Equal(got, want) {
			rt.Fatalf("the broker has %d messages %v; the log has %d events to relay %v", len(got), got, len(want), want)
		}
		head := must(s.Head(ctx))
		if at := must(relay.Position(ctx)); at != head {
			rt.Fatalf("the relay's checkpoint is %d; the head is %d", at, head)
		}
	})
}

// A relay whose broker fails keeps its checkpoint before what it could
// not publish, and says which positions failed.
func TestARelayThatCannotPublishStaysBehind(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	must(s.Append(ctx, "x", store.NoStream, []store.Event{{Type: "A"}, {Type: "A"}}))
	b := newBroker()
	b.failAfter = 1
	relay := must(annals.NewRelay(s, "to-broker", b))
	n, err := relay.Step(ctx)
	if err == nil || n != 0 || must(relay.Position(ctx)) != 0 {
		t.Fatalf("Step with a failing broker = %d, %v, checkpoint %d; want 0, an error, 0", n, err, must(relay.Position(ctx)))
	}
	if want := `relay "to-broker": publish positions 1 to 2: the broker went away after 1 messages`; err.Error() != want {
		t.Fatalf("error %q; want %q", err, want)
	}
}

// refusing is a broker that refuses the record at one position for good,
// after it has taken the records before it in the batch.
type refusing struct {
	*broker
	position int64 // 0: refuses nothing
}

func (r *refusing) Publish(ctx context.Context, recs []store.Record) error {
	for i, rec := range recs {
		if rec.Position == r.position {
			if err := r.broker.Publish(ctx, recs[:i]); err != nil {
				return err
			}
			return &annals.RefusedError{Position: rec.Position, Err: fmt.Errorf("position %d: too large for the broker", rec.Position)}
		}
	}
	return r.broker.Publish(ctx, recs)
}

// A record the broker refuses for good stops the relay there, as a
// projection stops at an event its handler fails on: the records before
// it are passed, a System reports it stopped, and once the broker takes
// the record the relay goes on from it.
func TestARelayStopsAtARecordTheBrokerRefusesForGood(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	b := &refusing{broker: newBroker(), position: 3}
	if err := sys.Add(must(annals.NewRelay(s, "to-broker", b))); err != nil {
		t.Fatal(err)
	}
	must(s.Append(ctx, "x", store.NoStream, []store.Event{{Type: "A"}, {Type: "A"}}))
	_, err := s.Append(ctx, "x", 2, []store.Event{{Type: "Big"}, {Type: "A"}})
	var stopped *annals.ConsumerError
	if !errors.Is(err, annals.ErrStored) || !errors.As(err, &stopped) || stopped.Position != 3 || stopped.Consumer != "to-broker" {
		t.Fatalf("append whose event the broker refuses: %v; want ErrStored and the relay stopped at position 3", err)
	}
	if at := must(s.Checkpoint(ctx, "to-broker")); at != 2 || len(b.ids()) != 2 {
		t.Fatalf("checkpoint %d, %d messages; want 2 and 2: the records before the refused one passed", at, len(b.ids()))
	}
	st := must(sys.Status(ctx))
	if len(st) != 1 || st[0].Stopped == nil || !errors.As(st[0].Stopped, &stopped) || stopped.Position != 3 {
		t.Fatalf("status %+v; want the relay reported stopped at position 3", st)
	}
	b.position = 0 // the broker's limit raised
	if _, err := sys.Retry(ctx, "to-broker"); err != nil {
		t.Fatal(err)
	}
	if at := must(s.Checkpoint(ctx, "to-broker")); at != 4 || len(b.ids()) != 4 {
		t.Fatalf("after the retry: checkpoint %d, %d messages; want 4 and 4", at, len(b.ids()))
	}
}

// A relay that cannot move its checkpoint past the records before a
// refused one is not stopped: the batch is published again, the broker
// drops what it has, and the relay then stops at the refused record.
func TestARelayThatCannotPassTheRecordsBeforeARefusedOneTriesAgain(t *testing.T) {
	ctx := context.Background()
	adapter := &flakyCheckpoints{Store: memory.New()}
	s := annals.New(adapter)
	must(s.Append(ctx, "x", store.NoStream, []store.Event{{Type: "A"}, {Type: "A"}, {Type: "Big"}}))
	b := &refusing{broker: newBroker(), position: 3}
	relay := must(annals.NewRelay(s, "to-broker", b))
	adapter.fail = true
	n, err := relay.Step(ctx)
	var stopped *annals.ConsumerError
	if n != 0 || err == nil || errors.As(err, &stopped) || must(relay.Position(ctx)) != 0 {
		t.Fatalf("Step = %d, %v, checkpoint %d; want 0, an error that does not stop the relay, 0", n, err, must(relay.Position(ctx)))
	}
	n, err = relay.Step(ctx)
	if n != 2 || !errors.As(err, &stopped) || stopped.Position != 3 || must(relay.Position(ctx)) != 2 || len(b.ids()) != 2 {
		t.Fatalf("Step again = %d, %v, checkpoint %d, %d messages; want 2, stopped at 3, 2, 2", n, err, must(relay.Position(ctx)), len(b.ids()))
	}
}

// Two instances run without the lease: the one whose checkpoint would
// move back is told it lost to the other (store.ErrConflict), which
// CatchUp takes as the other's progress; the broker has each event once.
func TestARelayThatLostToAnotherInstanceGoesOn(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	must(s.Append(ctx, "x", store.NoStream, []store.Event{{Type: "A"}, {Type: "A"}, {Type: "A"}}))
	b := newBroker()
	slow := must(annals.NewRelay(s, "to-broker", b, annals.WithBatchSize(1)))
	fast := must(annals.NewRelay(s, "to-broker", b))
	b.meanwhile = func() {
		if _, err := fast.CatchUp(ctx); err != nil {
			t.Error(err)
		}
	}
	if n, err := slow.Step(ctx); n != 0 || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Step of the instance that lost = %d, %v; want 0 and store.ErrConflict", n, err)
	}
	if at := must(s.Checkpoint(ctx, "to-broker")); at != 3 {
		t.Fatalf("checkpoint %d; want 3, where the other instance left it", at)
	}
	must(s.Append(ctx, "x", 3, []store.Event{{Type: "A"}}))
	b.meanwhile = func() { must(fast.CatchUp(ctx)) }
	if _, err := slow.CatchUp(ctx); err != nil {
		t.Fatalf("CatchUp of the instance that lost = %v; want the other's progress taken", err)
	}
	if got := len(b.ids()); got != 4 || must(slow.Position(ctx)) != 4 {
		t.Fatalf("the broker has %d messages, the checkpoint is %d; want 4 and 4", got, must(slow.Position(ctx)))
	}
}

// In a Sync system, a command returns once its events are with the broker.
func TestARelayInASyncSystemPublishesBeforeTheCommandReturns(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys := must(annals.NewSystem(s, annals.Sync))
	b := newBroker()
	if err := sys.Add(must(annals.NewRelay(s, "to-broker", b))); err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(s, counter, counterCodec())
	for i := 1; i <= 3; i++ {
		if _, err := r.Handle(ctx, "c1", increment{}); err != nil {
			t.Fatal(err)
		}
		if got := len(b.ids()); got != i {
			t.Fatalf("after command %d the broker has %d messages", i, got)
		}
	}
}

func TestNewRelayRefusesWhatItCannotRun(t *testing.T) {
	s := annals.New(memory.New())
	for name, build := range map[string]func() (*annals.Relay, error){
		"nil publisher": func() (*annals.Relay, error) { return annals.NewRelay(s, "r", nil) },
		"nil store":     func() (*annals.Relay, error) { return annals.NewRelay(nil, "r", newBroker()) },
		"empty name":    func() (*annals.Relay, error) { return annals.NewRelay(s, "", newBroker()) },
		"typed nil":     func() (*annals.Relay, error) { return annals.NewRelay(s, "r", (*broker)(nil)) },
	} {
		if r, err := build(); r != nil || !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, %v; want store.ErrInvalid", name, r, err)
		}
	}
}

// panicking is a publisher that panics.
type panicking struct{}

func (panicking) Publish(context.Context, []store.Record) error { panic("the broker's client blew up") }

// A publisher that panics fails the step with the panic, not the process,
// and the checkpoint stays.
func TestARelayWhosePublisherPanicsStaysBehind(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	must(s.Append(ctx, "x", store.NoStream, []store.Event{{Type: "A"}}))
	relay := must(annals.NewRelay(s, "to-broker", panicking{}))
	_, err := relay.Step(ctx)
	var pe *annals.PanicError
	if !errors.As(err, &pe) || pe.Value != "the broker's client blew up" {
		t.Fatalf("Step with a panicking publisher = %v; want a *annals.PanicError", err)
	}
	if at := must(relay.Position(ctx)); at != 0 {
		t.Fatalf("checkpoint %d after the panic; want 0", at)
	}
}
