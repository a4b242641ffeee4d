package annals_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// bump asks to increment stream Target, up to Limit (0: no limit).
type bump struct {
	Target string
	Limit  int
}

// mirrorSaga bumps "b-x" whenever "a-x" reaches a multiple of 3.
func mirrorSaga(limit int) saga.Saga[incremented, bump] {
	return saga.Saga[incremented, bump]{React: func(e incremented) []bump {
		if e.To%3 != 0 {
			return nil
		}
		return []bump{{Limit: limit}}
	}}
}

// dispatchTo routes a bump of "a-x" to prefix+"-x": a saga over bare
// events cannot see the stream, so the dispatcher routes by cause.
func dispatchTo(r *annals.Runner[increment, incremented, int], prefix string) annals.Dispatcher[bump] {
	return func(ctx context.Context, c bump, cause annals.Cause) error {
		target := c.Target
		if target == "" {
			target = prefix + strings.TrimPrefix(cause.Event.StreamID, "a")
		}
		_, err := r.Handle(ctx, target, increment{Limit: c.Limit}, cause.Options()...)
		return err
	}
}

// flakyCommit loses the connection when committing, after the saga has
// dispatched its commands: the worst moment for exactly-once.
type flakyCommit struct {
	*memory.Store
	failures int
}

func (s *flakyCommit) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if s.failures > 0 {
		s.failures--
		return errors.New("connection lost")
	}
	return s.Store.Commit(ctx, consumer, from, to, fn)
}

func TestSagaCommandTakesEffectOnceWhenReplayed(t *testing.T) {
	ctx := context.Background()
	s := &flakyCommit{Store: memory.New()}
	r := annals.NewRunner(annals.New(s), counter, counterCodec())
	appendN(t, r, "a-1", 9)
	appendN(t, r, "a-2", 6)
	sg := annals.NewSaga(annals.New(s), "mirror", mirrorSaga(0), counterCodec(), dispatchTo(r, "b"), annals.WithConsumerOptions[bump](annals.WithTypes("Incremented")))

	s.failures = 3
	for attempt := 0; ; attempt++ {
		_, err := sg.CatchUp(ctx)
		if err == nil {
			break
		}
		if attempt > 5 || !strings.Contains(err.Error(), "connection lost") {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	for id, want := range map[string]int{"b-1": 3, "b-2": 2} {
		got, _, err := r.Load(ctx, id)
		if err != nil || got != want {
			t.Fatalf("%s = %d, %v after replays; want %d: every command once", id, got, err, want)
		}
	}
	// The bumps carry their cause.
	var causes []string
	for rec, err := range s.ReadStream(ctx, "b-1", 0) {
		if err != nil {
			t.Fatal(err)
		}
		causes = append(causes, rec.Metadata.CausationID)
		if rec.Metadata.CorrelationID != rec.Metadata.CausationID {
			t.Errorf("correlation %q, want the causing event %q (it had none of its own)", rec.Metadata.CorrelationID, rec.Metadata.CausationID)
		}
	}
	var want []string
	for rec := range s.ReadStream(ctx, "a-1", 0) {
		if rec.Version%3 == 0 {
			want = append(want, rec.ID.String())
		}
	}
	if strings.Join(causes, ",") != strings.Join(want, ",") {
		t.Fatalf("b-1 caused by %v, want the a-1 events %v", causes, want)
	}
}

func TestSagaRejections(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(annals.New(s), counter, counterCodec())
	appendN(t, r, "a-1", 6) // two bumps, the second over the limit of 1

	var rejected []error
	sg := annals.NewSaga(annals.New(s), "lenient", mirrorSaga(1), counterCodec(), dispatchTo(r, "b"),
		annals.WithRejections(func(_ context.Context, _ bump, _ annals.Cause, err error) error {
			rejected = append(rejected, err)
			return nil
		}))
	if _, err := sg.CatchUp(ctx); err != nil {
		t.Fatalf("a rejection stopped a saga told to go on: %v", err)
	}
	if len(rejected) != 1 || !errors.Is(rejected[0], errLimit) || !errors.Is(rejected[0], annals.ErrRejected) {
		t.Fatalf("rejections reported: %v, want the one limit error", rejected)
	}

	strict := annals.NewSaga(annals.New(s), "strict", mirrorSaga(1), counterCodec(), dispatchTo(r, "c"),
		annals.WithRejections(func(_ context.Context, _ bump, _ annals.Cause, err error) error { return err }))
	_, err := strict.CatchUp(ctx)
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Position != 6 || !errors.Is(err, errLimit) || !errors.Is(err, annals.ErrRejected) {
		t.Fatalf("strict saga: %v, want a ConsumerError at the 6th event wrapping the rejection", err)
	}
	if pos, _ := strict.Position(ctx); pos != 5 {
		t.Fatalf("strict saga checkpoint %d, want 5", pos)
	}
	// Two sagas reacting to the same event send two commands: the
	// idempotency keys include the saga's name.
	if b, _, _ := r.Load(ctx, "b-1"); b != 1 {
		t.Fatalf("b-1 = %d, want the lenient saga's one bump", b)
	}
	if c, _, _ := r.Load(ctx, "c-1"); c != 1 {
		t.Fatalf("c-1 = %d, want the strict saga's one bump", c)
	}
}

// A process remembers across events and across restarts of its runner:
// it bumps "b-x" on every second event of "a-x".
func TestProcessStateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(annals.New(s), counter, counterCodec())
	everySecond := saga.Process[int, incremented, bump]{
		Evolve: func(n int, _ incremented) int { return n + 1 },
		React: func(n int, _ incremented) []bump {
			if n%2 == 1 {
				return []bump{{}}
			}
			return nil
		},
	}
	onlyA := func(rec store.Record, _ incremented) (string, bool) {
		return rec.StreamID, strings.HasPrefix(rec.StreamID, "a-")
	}
	newProcess := func() *annals.SagaRunner[int, incremented, bump] {
		return annals.NewProcess(annals.New(s), "pairs", everySecond, counterCodec(), onlyA, dispatchTo(r, "b"), annals.WithConsumerOptions[bump](annals.WithBatchSize(2)))
	}
	appendN(t, r, "a-1", 3)
	if _, err := newProcess().CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := newProcess().State(ctx, "a-1"); err != nil || n != 3 {
		t.Fatalf("process state for a-1 = %d, %v; want 3", n, err)
	}
	appendN(t, r, "a-1", 1)
	if _, err := newProcess().CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Bumps after the 2nd and the 4th event: the 4th was counted from the
	// state a previous runner committed.
	if got, _, _ := r.Load(ctx, "b-1"); got != 2 {
		t.Fatalf("b-1 = %d, want 2", got)
	}
}

// A rejected command is logged by the command it holds and the keys of
// its instances, not by the sum a composite's command is.
func TestDescribeCommandLooksThroughSumsAndKeys(t *testing.T) {
	var composite decider.Either[decider.Keyed[string, bump], decider.Keyed[int, decider.Either[increment, bump]]]
	var inner decider.Either[increment, bump]
	if err := inner.SetCase(0, increment{Limit: 2}); err != nil {
		t.Fatal(err)
	}
	if err := composite.SetCase(1, decider.Keyed[int, decider.Either[increment, bump]]{Key: 7, Value: inner}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cmd  any
		name string
		keys []string
	}{
		{composite, "annals_test.increment", []string{"7"}},
		{decider.Keyed[string, bump]{Key: "b-1"}, "annals_test.bump", []string{"b-1"}},
		{bump{}, "annals_test.bump", nil},
	} {
		name, keys := annals.DescribeCommand(c.cmd)
		if name != c.name || !slices.Equal(keys, c.keys) {
			t.Errorf("DescribeCommand(%T) = %q, %q; want %q, %q", c.cmd, name, keys, c.name, c.keys)
		}
	}
}

// The events of a process that ships an order on its last charge, and
// sends a note for every note.
type (
	raceOrdered struct {
		Order string
		Items int
	}
	raceCharged struct{ Order string }
	raceNoted   struct{ Order string }
	raceShip    struct{ Order string }
	raceShipped struct{ Order string }
	raceState   struct{ Items, Charged int }
)

// Two instances of one process, one of them a batch behind (an operator's
// replay beside the application): the instance whose batch began first
// must not react to an event on a state that the other committed with
// that event already counted. It did, and sent the order's shipment a
// second time, under another event's idempotency key.
func TestAProcessBatchDoesNotReactOnAStateCommittedPastIt(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	events := codec.NewJSON[any]().Register("Ordered", raceOrdered{}).Register("Charged", raceCharged{}).Register("Noted", raceNoted{})
	ships := annals.NewRunner(s, decider.Decider[raceShip, raceShipped, int]{
		Decide: func(c raceShip, _ int) ([]raceShipped, error) { return []raceShipped{{c.Order}}, nil },
		Evolve: func(n int, _ raceShipped) int { return n + 1 },
	}, codec.NewJSON[raceShipped]().Register("Shipped", raceShipped{}))
	process := saga.Process[raceState, any, raceShip]{
		React: func(st raceState, e any) []raceShip {
			switch e := e.(type) {
			case raceCharged:
				if st.Charged+1 == st.Items {
					return []raceShip{{e.Order}}
				}
			case raceNoted:
				return []raceShip{{"note-" + e.Order}}
			}
			return nil
		},
		Evolve: func(st raceState, e any) raceState {
			switch e := e.(type) {
			case raceOrdered:
				st.Items = e.Items
			case raceCharged:
				st.Charged++
			}
			return st
		},
	}
	key := func(_ store.Record, e any) (string, bool) {
		switch e := e.(type) {
		case raceOrdered:
			return e.Order, true
		case raceCharged:
			return e.Order, true
		case raceNoted:
			return e.Order, true
		}
		return "", false
	}
	entered, release := make(chan struct{}), make(chan struct{})
	dispatch := func(pause bool) annals.Dispatcher[raceShip] {
		return func(ctx context.Context, c raceShip, cause annals.Cause) error {
			if pause && c.Order == "note-x" {
				close(entered)
				<-release
			}
			_, err := ships.Handle(ctx, "ship-"+c.Order, c, cause.Options()...)
			return err
		}
	}
	first := annals.NewProcess(s, "ship", process, events, key, dispatch(true))
	second := annals.NewProcess(s, "ship", process, events, key, dispatch(false), annals.WithConsumerOptions[raceShip](annals.WithBatchSize(2)))
	put := func(stream string, e any) {
		t.Helper()
		ev, err := events.ToEvent(ctx, codec.Placement{StreamID: stream}, e, store.Metadata{})
		if err == nil {
			_, err = s.Append(ctx, stream, store.AnyVersion, []store.Event{ev})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	put("o1", raceOrdered{"o1", 2})
	if _, err := second.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	put("x", raceNoted{"x"})
	put("c1", raceCharged{"o1"})
	put("c2", raceCharged{"o1"})
	done := make(chan error, 1)
	go func() { // its batch is 2..4, and it waits in the dispatch for 2
		_, err := first.Step(ctx)
		done <- err
	}()
	<-entered
	if _, err := second.Step(ctx); err != nil { // 2 and 3, and o1's state with one charge
		t.Fatal(err)
	}
	close(release)
	// Lost when it read the state, not only when it committed after
	// sending on it.
	if err := <-done; !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), `read the state of "o1"`) {
		t.Fatalf("the batch that began first: %v, want it lost to the other instance's commit when it read o1's state", err)
	}
	for _, p := range []*annals.SagaRunner[raceState, any, raceShip]{second, first} {
		if _, err := p.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	shipped, _, err := ships.Load(ctx, "ship-o1")
	if err != nil || shipped != 1 {
		t.Fatalf("order o1 shipped %d times (%v), want once", shipped, err)
	}
}
