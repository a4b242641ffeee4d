package annals_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/sqlite"
	"github.com/annals-dev/annals/upcast"
	"github.com/annals-dev/annals/view"
)

// A small domain of seats: a slot holds three seats, a slot's own stream
// can close it, and a seat is taken by a decision whose boundary is the
// slot's events.

type seatEvent interface{ slot() string }

type seatTaken struct{ Slot, Who string }
type slotClosed struct{ Slot string }

func (e seatTaken) slot() string  { return e.Slot }
func (e slotClosed) slot() string { return e.Slot }

type takeSeat struct{ Slot, Who string }

type seats struct {
	Taken  []string
	Closed bool
}

const seatCapacity = 3

var (
	errSlotFull   = errors.New("slot full")
	errSlotClosed = errors.New("slot closed")
)

var seatDecider = decider.Decider[takeSeat, seatEvent, seats]{
	Decide: func(c takeSeat, s seats) ([]seatEvent, error) {
		switch {
		case s.Closed:
			return nil, errSlotClosed
		case slices.Contains(s.Taken, c.Who):
			return nil, nil
		case len(s.Taken) >= seatCapacity:
			return nil, fmt.Errorf("%w: %d of %d taken", errSlotFull, len(s.Taken), seatCapacity)
		}
		return []seatEvent{seatTaken(c)}, nil
	},
	Evolve: func(s seats, e seatEvent) seats {
		switch e := e.(type) {
		case seatTaken:
			s.Taken = append(slices.Clip(s.Taken), e.Who)
		case slotClosed:
			s.Closed = true
		}
		return s
	},
}

func seatCodec() *codec.JSON[seatEvent] {
	return codec.NewJSON[seatEvent]().Register("SeatTaken", seatTaken{}).Register("SlotClosed", slotClosed{})
}

var seatDCB = annals.DCBDecider[takeSeat, seatEvent, seats]{
	Decider: seatDecider,
	Name:    "seat",
	Query: func(c takeSeat) store.Query {
		return store.QueryItems(store.QueryItem{Types: []string{"SeatTaken", "SlotClosed"}, Tags: []string{"slot:" + c.Slot}})
	},
	Tags: seatTags,
}

func seatTags(e seatEvent) []string {
	if t, ok := e.(seatTaken); ok {
		return []string{"slot:" + t.Slot, "who:" + t.Who}
	}
	return []string{"slot:" + e.slot()}
}

// The slot's own stream, handled by a stream-based Runner: closing it.
type closeSlot struct{ Slot string }

var slotDecider = decider.Decider[closeSlot, seatEvent, bool]{
	Decide: func(c closeSlot, closed bool) ([]seatEvent, error) {
		if closed {
			return nil, nil
		}
		return []seatEvent{slotClosed(c)}, nil
	},
	Evolve: func(bool, seatEvent) bool { return true },
}

func newSeats(s *annals.Store, opts ...annals.RunnerOption) *annals.DCBRunner[takeSeat, seatEvent, seats] {
	return annals.NewDCBRunner(s, seatDCB, seatCodec(), opts...)
}

func TestDCBRunnerDecidesOnItsQuery(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := newSeats(s)
	for i, who := range []string{"ada", "bob", "cy"} {
		res, err := r.Handle(ctx, takeSeat{"a", who})
		if err != nil {
			t.Fatalf("take seat %d: %v", i, err)
		}
		if len(res.Events) != 1 || len(res.State.Taken) != i+1 || res.Position != int64(i) || !strings.HasPrefix(res.StreamID, "seat/") {
			t.Fatalf("take seat %d: %+v", i, res)
		}
		recs, err := collectRecords(s.ReadStream(ctx, res.StreamID, 0))
		if err != nil || len(recs) != 1 || !slices.Equal(recs[0].Tags, []string{"slot:a", "who:" + who}) {
			t.Fatalf("the decision's stream holds %+v, %v; want its event, tagged", recs, err)
		}
	}
	res, err := r.Handle(ctx, takeSeat{"a", "dee"})
	if !errors.Is(err, errSlotFull) || !errors.Is(err, annals.ErrRejected) || len(res.State.Taken) != 3 || res.Position != 3 {
		t.Fatalf("a fourth seat: %+v, %v; want a rejection on the three seats at position 3", res, err)
	}
	// Taking a seat one holds decides nothing and appends nothing.
	if res, err := r.Handle(ctx, takeSeat{"a", "bob"}); err != nil || len(res.Events) != 0 || res.StreamID != "" {
		t.Fatalf("bob again: %+v, %v", res, err)
	}
	// Another slot is another boundary.
	if _, err := r.Handle(ctx, takeSeat{"b", "dee"}); err != nil {
		t.Fatalf("a seat in slot b: %v", err)
	}
	state, pos, err := r.Load(ctx, takeSeat{Slot: "a"})
	if err != nil || len(state.Taken) != 3 || pos != 3 {
		t.Fatalf("load slot a: %+v at %d, %v", state, pos, err)
	}
}

// A writer that appends between a decision's read and its append makes
// the append fail; the runner reads what was appended and decides again,
// on the state with it.
func TestDCBRunnerDecidesAfreshAfterAConflict(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := newSeats(s)
	for _, who := range []string{"ada", "bob"} {
		if _, err := r.Handle(ctx, takeSeat{"a", who}); err != nil {
			t.Fatal(err)
		}
	}
	decisions := 0
	sneaky := seatDCB
	sneaky.Decide = func(c takeSeat, st seats) ([]seatEvent, error) {
		decisions++
		if decisions == 1 { // another writer takes the last seat meanwhile
			if _, err := s.Append(ctx, "other", store.NoStream, []store.Event{{Type: "SeatTaken", Data: []byte(`{"Slot":"a","Who":"cy"}`), Tags: []string{"slot:a"}}}); err != nil {
				t.Fatal(err)
			}
		}
		return seatDecider.Decide(c, st)
	}
	res, err := annals.NewDCBRunner(s, sneaky, seatCodec()).Handle(ctx, takeSeat{"a", "dee"})
	if !errors.Is(err, errSlotFull) || decisions != 2 || !slices.Equal(res.State.Taken, []string{"ada", "bob", "cy"}) {
		t.Fatalf("take a seat while another is taken: %+v, %v after %d decisions; want full, decided twice", res, err, decisions)
	}

	// With no retries, the conflict is the answer, and says what moved.
	decisions = 0
	sneaky.Decide = func(c takeSeat, st seats) ([]seatEvent, error) {
		if _, err := s.Append(ctx, fmt.Sprint("closer-", decisions), store.NoStream, []store.Event{{Type: "SlotClosed", Data: []byte(`{"Slot":"b"}`), Tags: []string{"slot:b"}}}); err != nil {
			t.Fatal(err)
		}
		decisions++
		return seatDecider.Decide(c, st)
	}
	_, err = annals.NewDCBRunner(s, sneaky, seatCodec(), annals.WithRetries(0)).Handle(ctx, takeSeat{"b", "eve"})
	var ce *store.ConditionError
	if !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "slot:b") {
		t.Fatalf("with no retries: %v, want the condition error naming slot:b", err)
	}
}

// Many writers race for the seats of a slot: no more than its capacity
// are taken, and every other command is told why.
func TestDCBRunnerRacesForTheLastSeats(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := newSeats(s, annals.WithRetries(50))
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = r.Handle(ctx, takeSeat{"a", fmt.Sprint("w", i)})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, errSlotFull):
			t.Errorf("a writer was told %v, want a seat or slot full", err)
		}
	}
	state, _, err := r.Load(ctx, takeSeat{Slot: "a"})
	if err != nil || ok != seatCapacity || len(state.Taken) != seatCapacity {
		t.Fatalf("%d writers got a seat and the slot holds %v (%v); want %d", ok, state.Taken, err, seatCapacity)
	}
}

func TestDCBRunnerIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := newSeats(s)
	first, err := r.Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("req-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("req-1"))
	if err != nil || !again.Duplicate || again.StreamID != first.StreamID || len(again.State.Taken) != 1 {
		t.Fatalf("the same command again: %+v, %v; want a duplicate of %s", again, err, first.StreamID)
	}
	for _, who := range []string{"bob", "cy"} {
		if _, err := r.Handle(ctx, takeSeat{"a", who}); err != nil {
			t.Fatal(err)
		}
	}
	// Full now, but the command was handled: a duplicate, not a rejection.
	if again, err := r.Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("req-1")); err != nil || !again.Duplicate {
		t.Fatalf("the same command on a full slot: %+v, %v; want a duplicate", again, err)
	}
	if _, err := r.Handle(ctx, takeSeat{"b", "bob"}, annals.WithIdempotencyKey("req-1")); !errors.Is(err, annals.ErrIdempotencyKey) {
		t.Fatalf("the key with another command: %v, want ErrIdempotencyKey", err)
	}
	if _, err := r.Handle(ctx, takeSeat{"c", "cy"}, annals.WithIdempotencyKey("")); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "idempotency key is empty") {
		t.Fatalf("an empty key: %v, want ErrInvalid saying the key is empty", err)
	}
	if head, err := s.Head(ctx); err != nil || head != 3 {
		t.Fatalf("head = %d, %v; want 3", head, err)
	}
}

// A key that a decider's decision took is refused to another decider,
// whatever deciding would say: appending (the store refuses the key's
// event ID), appending nothing, or rejecting. A store without
// store.EventFinder tells only the first, since finding the key costs a
// read of each decider's stream of it otherwise.
func TestDCBIdempotencyKeyOfAnotherDecider(t *testing.T) {
	for name, adapter := range map[string]func() store.Store{
		"finder": func() store.Store { return memory.New() },
		"no finder": func() store.Store {
			m := memory.New()
			return struct {
				store.Store
				store.DCB
			}{m, m}
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := annals.New(adapter())
			_, finder := adapter().(store.EventFinder)
			r := newSeats(s)
			otherDCB := seatDCB
			otherDCB.Name = "other-seat"
			other := annals.NewDCBRunner(s, otherDCB, seatCodec())
			if _, err := r.Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("k")); err != nil {
				t.Fatal(err)
			}
			for _, who := range []string{"bob", "cy"} {
				if _, err := r.Handle(ctx, takeSeat{"a", who}); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct {
				what     string
				cmd      takeSeat
				detected bool // without a finder
			}{
				{"that appends", takeSeat{"b", "ada"}, true},
				{"that appends nothing", takeSeat{"a", "ada"}, false},
				{"that deciding rejects", takeSeat{"a", "dee"}, false},
			} {
				res, err := other.Handle(ctx, c.cmd, annals.WithIdempotencyKey("k"))
				if !finder && !c.detected {
					if errors.Is(err, annals.ErrIdempotencyKey) {
						t.Errorf("without a finder, the key with another decider's command %s = %v, which it cannot tell", c.what, err)
					}
					continue
				}
				if !errors.Is(err, annals.ErrIdempotencyKey) || res.Duplicate || errors.Is(err, annals.ErrRejected) {
					t.Errorf("the key with another decider's command %s = %+v, %v; want ErrIdempotencyKey", c.what, res, err)
				}
			}
			if head, err := s.Head(ctx); err != nil || head != 3 {
				t.Fatalf("head = %d, %v; want 3: the refused commands stored nothing", head, err)
			}
		})
	}
}

// A stream-based runner whose events carry tags and a DCB runner share a
// store and a Sync system: the DCB decision sees the stream's tagged
// events, and the system's view has handled a DCB append when Handle
// returns.
func TestStreamAndDCBRunnersInOneSyncSystem(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		t.Fatal(err)
	}
	perSlot := view.View[int, seatEvent]{Evolve: func(n int, e seatEvent) int {
		if _, ok := e.(seatTaken); ok {
			return n + 1
		}
		return n
	}}
	if err := sys.Add(annals.NewViewProjection(s, "seats-per-slot", perSlot, seatCodec(), func(_ store.Record, e seatEvent) (string, bool) { return e.slot(), true })); err != nil {
		t.Fatal(err)
	}
	slots := annals.NewRunner(s, slotDecider, seatCodec(), annals.WithTags(func(e seatEvent) []string { return []string{"slot:" + e.slot()} }))
	seatRunner := newSeats(s)

	if _, err := seatRunner.Handle(ctx, takeSeat{"a", "ada"}); err != nil {
		t.Fatal(err)
	}
	data, ok, err := s.LoadState(ctx, "seats-per-slot", "a")
	if err != nil || !ok || string(data) != "1" {
		t.Fatalf("view after a DCB append in a Sync system: %q, %v, %v; want 1", data, ok, err)
	}
	if _, err := slots.Handle(ctx, "slot-a", closeSlot{"a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := seatRunner.Handle(ctx, takeSeat{"a", "bob"}); !errors.Is(err, errSlotClosed) {
		t.Fatalf("a seat in a slot closed by its stream: %v, want errSlotClosed", err)
	}
}

func collectRecords(seq func(func(store.Record, error) bool)) ([]store.Record, error) {
	var out []store.Record
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Decisions on one boundary in one process take turns: with no retries
// at all, twenty writers racing for a slot on a SQLite file through two
// runners each get a seat or "slot full", never a conflict. In a Sync
// system, a saga that reacts to a seat with another decision on the same
// slot runs after the turn is passed on, or it would wait for itself.
func TestDCBDecisionsInOneProcessTakeTurns(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "seats.db"))
	if err != nil {
		t.Fatal(err)
	}
	s := annals.New(db)
	defer s.Close()
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		t.Fatal(err)
	}
	runners := []*annals.DCBRunner[takeSeat, seatEvent, seats]{newSeats(s, annals.WithRetries(0)), newSeats(s, annals.WithRetries(0))}
	guest := annals.NewSaga(s, "guest", saga.Saga[seatEvent, takeSeat]{React: func(e seatEvent) []takeSeat {
		if taken, ok := e.(seatTaken); ok && taken.Who == "w0" {
			return []takeSeat{{Slot: taken.Slot, Who: "guest of w0"}}
		}
		return nil
	}}, seatCodec(), func(ctx context.Context, c takeSeat, _ annals.Cause) error {
		_, err := runners[0].Handle(ctx, c)
		if errors.Is(err, annals.ErrRejected) {
			return nil // full
		}
		return err
	})
	if err := sys.Add(guest); err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = runners[i%2].Handle(hctx, takeSeat{"a", fmt.Sprint("w", i)})
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, errSlotFull):
			t.Errorf("writer w%d was told %v; want a seat or slot full", i, err)
		}
	}
	state, _, err := runners[1].Load(ctx, takeSeat{Slot: "a"})
	if err != nil || len(state.Taken) != seatCapacity || ok > seatCapacity {
		t.Fatalf("%d writers got a seat and the slot holds %v (%v); want %d in all", ok, state.Taken, err, seatCapacity)
	}
}

// A decision waits for the turn of a decision on its boundary, and only
// for that: Decide is not called while the other holds it, a decision on
// another slot goes ahead, and a context that ends while it waits ends
// the wait with nothing stored.
func TestADCBDecisionWaitsForTheTurnOfItsBoundary(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	entered, release := make(chan string, 4), make(chan struct{})
	blocking := seatDCB
	blocking.Decide = func(c takeSeat, st seats) ([]seatEvent, error) {
		entered <- c.Who
		if c.Who == "holder" {
			<-release
		}
		return seatDecider.Decide(c, st)
	}
	r := annals.NewDCBRunner(s, blocking, seatCodec())
	held := make(chan error, 1)
	go func() {
		_, err := r.Handle(ctx, takeSeat{"a", "holder"})
		held <- err
	}()
	if who := <-entered; who != "holder" {
		t.Fatalf("%s decided first", who)
	}
	if _, err := r.Handle(ctx, takeSeat{"b", "elsewhere"}); err != nil {
		t.Fatalf("a decision on another slot while slot a's turn is held: %v", err)
	}
	<-entered
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := r.Handle(wctx, takeSeat{"a", "waiter"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a decision on slot a while its turn is held, with a context that ends: %v; want the context's error", err)
	}
	select {
	case who := <-entered:
		t.Fatalf("%s decided while the holder held the slot's turn", who)
	default:
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if _, err := r.Handle(ctx, takeSeat{"a", "after"}); err != nil {
		t.Fatalf("a decision after the turn was passed on: %v", err)
	}
	state, _, err := r.Load(ctx, takeSeat{Slot: "a"})
	if err != nil || !slices.Equal(state.Taken, []string{"holder", "after"}) {
		t.Fatalf("slot a holds %v (%v); want the holder and the one after it, not the waiter", state.Taken, err)
	}
}

// A panic while a decision holds its turn (in Decide, Evolve, Tags or
// the mapper) reaches the caller, as a Runner's does, and passes the
// turn on: the next decision on the boundary goes ahead.
func TestAPanicInADCBDecisionPassesItsTurnOn(t *testing.T) {
	ctx := context.Background()
	for name, spoil := range map[string]func(*annals.DCBDecider[takeSeat, seatEvent, seats]){
		"Decide": func(d *annals.DCBDecider[takeSeat, seatEvent, seats]) {
			d.Decide = func(c takeSeat, s seats) ([]seatEvent, error) {
				if c.Who == "bad" {
					panic("bad command")
				}
				return seatDecider.Decide(c, s)
			}
		},
		"Tags": func(d *annals.DCBDecider[takeSeat, seatEvent, seats]) {
			d.Tags = func(e seatEvent) []string {
				if t, ok := e.(seatTaken); ok && t.Who == "bad" {
					panic("bad tags")
				}
				return seatTags(e)
			}
		},
		"Evolve": func(d *annals.DCBDecider[takeSeat, seatEvent, seats]) {
			d.Evolve = func(s seats, e seatEvent) seats {
				if t, ok := e.(seatTaken); ok && t.Who == "bad" {
					panic("bad event")
				}
				return seatDecider.Evolve(s, e)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			d := seatDCB
			spoil(&d)
			s := annals.New(memory.New())
			r := annals.NewDCBRunner(s, d, seatCodec())
			func() {
				defer func() {
					if recover() == nil {
						t.Error("the panic did not reach the caller")
					}
				}()
				_, _ = r.Handle(ctx, takeSeat{"a", "bad"})
			}()
			// Decide, Tags and Evolve run before the write.
			if head, err := s.Head(ctx); err != nil || head != 0 {
				t.Fatalf("head after the panic = %d, %v; want nothing stored", head, err)
			}
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := r.Handle(hctx, takeSeat{"a", "good"}); err != nil {
				t.Fatalf("a decision on the boundary after a panic: %v; want its turn passed on", err)
			}
		})
	}
}

// racingDCB lets another writer append an event that every seat query of
// slot a matches just before each conditional append, so every attempt
// of a decision on slot a fails its condition.
type racingDCB struct {
	*memory.Store
	races int
}

func (s *racingDCB) AppendIf(ctx context.Context, stream string, expected int64, events []store.Event, cond store.AppendCondition) (int64, error) {
	s.races++
	rival := store.Event{Type: "SeatTaken", Data: fmt.Appendf(nil, `{"Slot":"a","Who":"rival-%d"}`, s.races), Tags: []string{"slot:a"}}
	if _, err := s.Store.Append(ctx, "rival", store.AnyVersion, []store.Event{rival}); err != nil {
		return 0, err
	}
	return s.Store.AppendIf(ctx, stream, expected, events, cond)
}

// A keyed decision retried while its query's events keep coming fails
// its condition on every attempt, which the store checks before the key's
// stream: the key answers at the first failure, Duplicate for the same
// decider's command and ErrIdempotencyKey for another decider's, rather
// than a conflict after the retries, which says nothing stored.
func TestAKeyedDCBRetryOnAMovingBoundaryIsAnsweredByItsKey(t *testing.T) {
	ctx := context.Background()
	always := seatDCB // takes a seat whoever holds one: the retry decides to append again
	always.Decider.Decide = func(c takeSeat, _ seats) ([]seatEvent, error) { return []seatEvent{seatTaken(c)}, nil }
	mem := memory.New()
	first, err := annals.NewDCBRunner(annals.New(mem), always, seatCodec()).Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	racing := &racingDCB{Store: mem}
	s := annals.New(racing)
	noWait := []annals.RunnerOption{annals.WithRetries(3), annals.WithBackoff(func(int) time.Duration { return 0 })}
	res, err := annals.NewDCBRunner(s, always, seatCodec(), noWait...).Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("k"))
	if err != nil || !res.Duplicate || res.StreamID != first.StreamID || !reflect.DeepEqual(res.Events, first.Events) {
		t.Fatalf("the decision retried on a moving boundary = %+v, %v; want a duplicate of %s with its events %v", res, err, first.StreamID, first.Events)
	}
	if racing.races != 1 {
		t.Errorf("%d attempts, want 1: the key answers at the first failed condition", racing.races)
	}
	other := always
	other.Name = "other-seat"
	if _, err := annals.NewDCBRunner(s, other, seatCodec(), noWait...).Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("k")); !errors.Is(err, annals.ErrIdempotencyKey) || errors.Is(err, store.ErrConflict) {
		t.Fatalf("the key with another decider on a moving boundary = %v; want ErrIdempotencyKey", err)
	}
}

// twoSeatsTakenInV1 returns a store whose slot a has two seats taken,
// stored under the type name SeatTaken.
func twoSeatsTakenInV1(t *testing.T) *annals.Store {
	s := annals.New(memory.New())
	v1 := codec.NewJSON[seatEvent]().Register("SeatTaken", seatTaken{}).Register("SlotClosed", slotClosed{})
	old := annals.NewDCBRunner(s, seatDCB, v1)
	for _, who := range []string{"ada", "bob"} {
		if _, err := old.Handle(context.Background(), takeSeat{"a", who}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// A type renamed through the upcaster: the decision, its query written
// with the new name, still counts the records stored under the old one,
// and its evolver sees them under the new name.
func TestADCBQueryOfARenamedTypeReadsItsOldRecords(t *testing.T) {
	ctx := context.Background()
	s := twoSeatsTakenInV1(t)
	// v2 calls the event SeatBooked.
	v2 := codec.NewMapper(codec.NewJSON[seatEvent]().Register("SeatBooked", seatTaken{}).Register("SlotClosed", slotClosed{}),
		codec.WithUpcaster(upcast.New().Rename("SeatTaken", "SeatBooked")))
	booked := seatDCB
	booked.Query = func(c takeSeat) store.Query {
		return store.QueryItems(store.QueryItem{Types: []string{"SeatBooked", "SlotClosed"}, Tags: []string{"slot:" + c.Slot}})
	}
	r := annals.NewDCBRunner(s, booked, v2)
	state, pos, err := r.Load(ctx, takeSeat{Slot: "a"})
	if err != nil || len(state.Taken) != 2 || pos != 2 {
		t.Fatalf("load by the new name: %+v at %d, %v; want the two seats stored under the old name", state, pos, err)
	}
	// A combined decider routes each event to the parts whose queries
	// match it by the name the mapper reads it as.
	both := annals.NewDCBRunner(s, annals.CombineDCB(booked, booked), v2)
	if pair, _, err := both.Load(ctx, takeSeat{Slot: "a"}); err != nil || len(pair.First.Taken) != 2 || len(pair.Second.Taken) != 2 {
		t.Fatalf("a combined decider's parts: %+v, %v; want two seats in each", pair, err)
	}
	if _, err := r.Handle(ctx, takeSeat{"a", "cy"}); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Handle(ctx, takeSeat{"a", "dee"}); !errors.Is(err, errSlotFull) {
		t.Fatalf("a fourth seat, two of three stored under the old name: %+v, %v; want the slot full", res, err)
	}
}

// The same rename in a part of a sum, the events of a combined decider:
// plain, and keyed inside a nested sum, the sum widens the query by the
// part's old names as a pipeline does. Without, the decision reads none
// of the seats stored under the old name and overfills the slot.
func TestADCBQueryOfATypeRenamedInAPartOfASumReadsItsOldRecords(t *testing.T) {
	type memo struct{ Text string }
	type event = decider.Either[seatEvent, memo]
	ctx := context.Background()
	s := twoSeatsTakenInV1(t)
	renamed := func() *codec.Pipeline[seatEvent] {
		return codec.NewMapper(codec.NewJSON[seatEvent]().Register("SeatBooked", seatTaken{}).Register("SlotClosed", slotClosed{}),
			codec.WithUpcaster(upcast.New().Rename("SeatTaken", "SeatBooked")))
	}
	memos := func() *codec.JSON[memo] { return codec.NewJSON[memo]().Register("Memo", memo{}) }
	booked := annals.DCBDecider[takeSeat, event, seats]{
		Decider: decider.MapEvent(seatDecider, decider.Left[seatEvent, memo], func(e event) seatEvent {
			l, _ := e.Left()
			return l
		}),
		Name: "seat",
		Query: func(c takeSeat) store.Query {
			return store.QueryItems(store.QueryItem{Types: []string{"SeatBooked", "SlotClosed"}, Tags: []string{"slot:" + c.Slot}})
		},
		Tags: func(e event) []string {
			if l, ok := e.Left(); ok {
				return seatTags(l)
			}
			return nil
		},
	}
	// A keyed part, in a sum nested in another, has the rename too; its
	// streams are not the decisions', so the sum reads none of them here.
	type keyedEvent = decider.Either[decider.Keyed[string, seatEvent], memo]
	nested := codec.NewSum[decider.Either[keyedEvent, memo]](
		codec.NewSum[keyedEvent](codec.NewKeyed(codec.StreamPrefix[string]("room-"), renamed()), codec.NewJSON[memo]().Register("Note", memo{})), memos())
	if got, want := nested.Sources("SeatBooked"), []string{"SeatBooked", "SeatTaken"}; !slices.Equal(got, want) {
		t.Errorf("a nested sum's sources of a keyed part's renamed type = %v, want %v", got, want)
	}
	if got := nested.Sources("Memo"); !slices.Equal(got, []string{"Memo"}) {
		t.Errorf("sources of a type no part renamed = %v, want the name alone", got)
	}
	r := annals.NewDCBRunner(s, booked, codec.NewSum[event](renamed(), memos()))
	state, pos, err := r.Load(ctx, takeSeat{Slot: "a"})
	if err != nil || len(state.Taken) != 2 || pos != 2 {
		t.Fatalf("load by the new name through a sum: %+v at %d, %v; want the two seats stored under the old name", state, pos, err)
	}
	if _, err := r.Handle(ctx, takeSeat{"a", "cy"}); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Handle(ctx, takeSeat{"a", "dee"}); !errors.Is(err, errSlotFull) {
		t.Fatalf("a fourth seat, two of three stored under the old name: %+v, %v; want the slot full", res, err)
	}
}

// A query that names a type its mapper does not read is refused, on
// Handle and Load, before anything is read or stored: the records of a
// misspelt type would be skipped, and every decision pass as if the
// slot were empty.
func TestADCBQueryOfATypeTheMapperDoesNotReadIsRefused(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	typo := seatDCB
	typo.Query = func(c takeSeat) store.Query {
		return store.QueryItems(store.QueryItem{Types: []string{"SeatTakn", "SlotClosed"}, Tags: []string{"slot:" + c.Slot}})
	}
	r := annals.NewDCBRunner(s, typo, seatCodec())
	_, err := r.Handle(ctx, takeSeat{"a", "ada"})
	if !errors.Is(err, store.ErrInvalid) || errors.Is(err, annals.ErrStored) || !strings.Contains(err.Error(), `"SeatTakn"`) || !strings.Contains(err.Error(), "SeatTaken") {
		t.Fatalf("a decision whose query misspells a type = %v; want store.ErrInvalid naming it and the types the mapper reads", err)
	}
	if _, _, err := r.Load(ctx, takeSeat{Slot: "a"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("loading by a query that misspells a type = %v; want store.ErrInvalid", err)
	}
	if head, err := s.Head(ctx); err != nil || head != 0 {
		t.Fatalf("head = %d, %v; want nothing stored", head, err)
	}
	// The right name, and an item of tags alone, pass.
	if _, err := annals.NewDCBRunner(s, seatDCB, seatCodec()).Handle(ctx, takeSeat{"a", "ada"}); err != nil {
		t.Fatal(err)
	}
}

// A query left with a type's name from before a rename, the likeliest
// stale name, is refused too: it would read only the records stored
// under the old name and miss every one stored since, plain or inside
// CombineDCB. Naming both, as a query built by hand may, passes.
func TestADCBQueryOfATypeByItsNameBeforeARenameIsRefused(t *testing.T) {
	ctx := context.Background()
	s := twoSeatsTakenInV1(t)
	v2 := codec.NewMapper(codec.NewJSON[seatEvent]().Register("SeatBooked", seatTaken{}).Register("SlotClosed", slotClosed{}),
		codec.WithUpcaster(upcast.New().Rename("SeatTaken", "SeatBooked")))
	stale := seatDCB // its query still says SeatTaken
	if _, _, err := annals.NewDCBRunner(s, stale, v2).Load(ctx, takeSeat{Slot: "a"}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `"SeatBooked"`) {
		t.Errorf("a query by the old name = %v; want store.ErrInvalid naming the new name", err)
	}
	both := annals.NewDCBRunner(s, annals.CombineDCB(stale, stale), v2)
	if _, err := both.Handle(ctx, takeSeat{"a", "cy"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a combined decider whose parts query by the old name = %v; want store.ErrInvalid", err)
	}
	if head, err := s.Head(ctx); err != nil || head != 2 {
		t.Fatalf("head = %d, %v; want nothing stored after the two seats", head, err)
	}
	byHand := seatDCB
	byHand.Query = func(c takeSeat) store.Query {
		return store.QueryItems(store.QueryItem{Types: []string{"SeatTaken", "SeatBooked", "SlotClosed"}, Tags: []string{"slot:" + c.Slot}})
	}
	if st, _, err := annals.NewDCBRunner(s, byHand, v2).Load(ctx, takeSeat{Slot: "a"}); err != nil || len(st.Taken) != 2 {
		t.Fatalf("a query naming both names = %+v, %v; want the two seats", st, err)
	}
}

// What cannot make a decision is refused when the runner is built, not
// at its first command: a part of CombineDCB without a function (the
// combined decider's own are never nil), a Name that cannot start a
// stream ID, and the options of a stream's runner, which a DCBRunner
// would otherwise ignore.
func TestADCBRunnerRefusesWhatCannotDecideWhenBuilt(t *testing.T) {
	s := annals.New(memory.New())
	noQuery, noDecide, noEvolve := seatDCB, seatDCB, seatDCB
	noQuery.Query, noDecide.Decide, noEvolve.Evolve = nil, nil, nil
	long := strings.Repeat("n", store.MaxStreamIDLen-len("/")-36)
	for name, c := range map[string]struct {
		build func()
		says  string // "" when it builds
	}{
		"second part without Query":  {func() { annals.CombineDCB(seatDCB, noQuery) }, "nil second part's Query"},
		"first part without Decide":  {func() { annals.CombineDCB(noDecide, seatDCB) }, "nil first part's Decide"},
		"second part without Evolve": {func() { annals.CombineDCB(seatDCB, noEvolve) }, "nil second part's Evolve"},
		"Name one byte too long": {func() {
			d := seatDCB
			d.Name = long + "n"
			annals.NewDCBRunner(s, d, seatCodec())
		}, "at most 218 bytes"},
		"Name with a NUL": {func() {
			d := seatDCB
			d.Name = "seat\x00"
			annals.NewDCBRunner(s, d, seatCodec())
		}, "without NUL"},
		"WithCache":  {func() { annals.NewDCBRunner(s, seatDCB, seatCodec(), annals.WithCache(10)) }, "WithCache is an option of a stream's Runner"},
		"WithTags":   {func() { annals.NewDCBRunner(s, seatDCB, seatCodec(), annals.WithTags(seatTags)) }, "WithTags is an option"},
		"WithLogger": {func() { annals.NewDCBRunner(s, seatDCB, seatCodec(), annals.WithLogger(slog.Default())) }, "WithLogger is an option"},
		"WithRetries and WithBackoff": {func() {
			annals.NewDCBRunner(s, seatDCB, seatCodec(), annals.WithRetries(1), annals.WithBackoff(func(int) time.Duration { return 0 }))
		}, ""},
		"parts with all their functions": {func() { annals.CombineDCB(seatDCB, seatDCB) }, ""},
	} {
		msg, panicked := panics(c.build)
		if c.says == "" {
			if panicked {
				t.Errorf("%s: panicked with %q, want it built", name, msg)
			}
		} else if !panicked || !strings.Contains(msg, c.says) {
			t.Errorf("%s: panicked %v with %q; want a panic saying %q", name, panicked, msg, c.says)
		}
	}
	// The longest Name that fits makes decisions whose streams the store
	// takes.
	d := seatDCB
	d.Name = long
	res, err := annals.NewDCBRunner(s, d, seatCodec()).Handle(context.Background(), takeSeat{"a", "ada"}, annals.WithIdempotencyKey("k"))
	if err != nil || len(res.StreamID) != store.MaxStreamIDLen {
		t.Fatalf("a decision under a Name of %d bytes: %+v, %v; want it stored in a stream of %d bytes", len(long), res, err, store.MaxStreamIDLen)
	}
}
