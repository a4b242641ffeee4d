package annals_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

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

// The default log of a rejected command tells it from the other commands
// of its event: the stream its runner decided it on and its index among
// them. A plain command, which goes through no keyed instance, logs no
// keys.
func TestTheLogOfARejectedCommandNamesItsStreamAndIndex(t *testing.T) {
	var logged syncBuffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "c-1", 1) // at its limit of 1
	appendN(t, r, "a-1", 1)
	twice := saga.Saga[incremented, bump]{React: func(incremented) []bump {
		return []bump{{Target: "b-1", Limit: 1}, {Target: "c-1", Limit: 1}}
	}}
	onA := func(rec store.Record, _ incremented) (string, bool) { return rec.StreamID, rec.StreamID == "a-1" }
	p := annals.NewProcess(s, "remind", twice.Process(), counterCodec(), onA, dispatchTo(r, "unused"))
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	line := logged.String()
	if n := strings.Count(line, "saga command rejected"); n != 1 {
		t.Fatalf("logged %d rejections, want the one of c-1:\n%s", n, line)
	}
	for _, want := range []string{"saga=remind command=annals_test.bump stream=c-1 index=1 position=2 ", `error="limit reached"`} {
		if !strings.Contains(line, want) {
			t.Errorf("logged %q; want it to say %q", line, want)
		}
	}
	if strings.Contains(line, "keys=") {
		t.Errorf("logged %q; want no keys for a command of no keyed instance", line)
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

// A saga that stops on a dispatch names the command it held as its
// rejections' log does: the command's own type and the instances' keys,
// not the composite sum's type, whose name runs to hundreds of
// characters.
func TestAStoppedDispatchNamesTheCommandInsideItsSum(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "a-1", 3)
	sg := annals.NewSaga(s, "keyed", saga.Saga[incremented, decider.Keyed[string, bump]]{
		React: func(incremented) []decider.Keyed[string, bump] { return []decider.Keyed[string, bump]{{Key: "b-1"}} },
	}, counterCodec(), func(context.Context, decider.Keyed[string, bump], annals.Cause) error {
		return errors.New("down")
	})
	_, err := sg.CatchUp(ctx)
	if err == nil || !strings.Contains(err.Error(), "dispatch annals_test.bump (keys b-1): down") || strings.Contains(err.Error(), "decider.Keyed") {
		t.Fatalf("stopped dispatch: %v; want it to name annals_test.bump and its key", err)
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

// pausedLog calls pause once, after the first page of the log it reads.
type pausedLog struct {
	*memory.Store
	once  sync.Once
	pause func()
}

func (s *pausedLog) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	recs, err := s.Store.ReadLog(ctx, q)
	s.once.Do(s.pause)
	return recs, err
}

// Two instances of one process, one of them a batch behind (an operator's
// replay beside the application): the instance whose batch began first
// must not react to an event on a state that the other committed with
// that event already counted. It did, and sent the order's shipment a
// second time, under another event's idempotency key. The other commits
// either after the first read its batch and before it read the states
// (it is lost when it reads them, having sent nothing), or while it
// dispatches (it reacts on the states it read with its batch, and is
// lost when it commits).
func TestAProcessBatchDoesNotReactOnAStateCommittedPastIt(t *testing.T) {
	for during, name := range map[string]string{"read": "the other commits before the states are read", "dispatch": "the other commits during a dispatch"} {
		t.Run(name, func(t *testing.T) { processRace(t, during) })
	}
}

func processRace(t *testing.T, during string) {
	ctx := context.Background()
	adapter := memory.New()
	s := annals.New(adapter)
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
	pause := func() {
		close(entered)
		<-release
	}
	var firstSent atomic.Int64
	dispatch := func(first bool) annals.Dispatcher[raceShip] {
		return func(ctx context.Context, c raceShip, cause annals.Cause) error {
			if first {
				firstSent.Add(1)
				if during == "dispatch" && c.Order == "note-x" {
					pause()
				}
			}
			_, err := ships.Handle(ctx, "ship-"+c.Order, c, cause.Options()...)
			return err
		}
	}
	firstStore := s
	if during == "read" {
		firstStore = annals.New(&pausedLog{Store: adapter, pause: pause})
	}
	first := annals.NewProcess(firstStore, "ship", process, events, key, dispatch(true))
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
	go func() { // its batch is 2..4, and it waits after reading it, or in the dispatch for 2
		_, err := first.Step(ctx)
		done <- err
	}()
	<-entered
	if _, err := second.Step(ctx); err != nil { // 2 and 3, and o1's state with one charge
		t.Fatal(err)
	}
	close(release)
	err := <-done
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the batch that began first: %v, want it lost to the other instance's commit", err)
	}
	// Lost when it read the states, having sent nothing on them, not only
	// when it committed.
	if during == "read" && (!strings.Contains(err.Error(), "while the batch read the states") || firstSent.Load() != 0) {
		t.Fatalf("the batch that began first sent %d commands and then: %v; want it lost when it read the states, having sent none", firstSent.Load(), err)
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

// countingStates counts the reads of states and checkpoints its adapter
// is asked for, and keeps the keys of the last batch load.
type countingStates struct {
	*memory.Store
	loadState, loadStates, checkpoints atomic.Int64
	keys                               []string
}

func (s *countingStates) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	s.loadState.Add(1)
	return s.Store.LoadState(ctx, view, key)
}

func (s *countingStates) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	s.loadStates.Add(1)
	s.keys = slices.Clone(keys)
	return s.Store.LoadStates(ctx, view, keys)
}

func (s *countingStates) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	s.checkpoints.Add(1)
	return s.Store.Checkpoint(ctx, consumer)
}

func (s *countingStates) reset() {
	s.loadState.Store(0)
	s.loadStates.Store(0)
	s.checkpoints.Store(0)
}

// countingProcess counts each instance's events, and sends a command for
// each.
var countingProcess = saga.Process[int, incremented, bump]{
	Evolve: func(n int, _ incremented) int { return n + 1 },
	React:  func(int, incremented) []bump { return []bump{{}} },
}

// A process's batch of events on many instances reads their states in
// one round trip, and the checkpoint once after them: it read each state,
// then the checkpoint again, two round trips per instance on PostgreSQL.
// A stateless saga reads neither.
func TestAProcessBatchLoadsItsStatesAtOnce(t *testing.T) {
	ctx := context.Background()
	const n = 50
	adapter := &countingStates{Store: memory.New()}
	s := annals.New(adapter)
	r := annals.NewRunner(s, counter, counterCodec())
	streams := make([]string, n)
	for i := range streams {
		streams[i] = fmt.Sprintf("a-%d", i)
	}
	appendEach := func() {
		for _, stream := range streams {
			appendN(t, r, stream, 1)
		}
	}
	var sent atomic.Int64
	dispatch := func(context.Context, bump, annals.Cause) error { sent.Add(1); return nil }
	p := annals.NewProcess(s, "counts", countingProcess, counterCodec(), byStream, dispatch)
	for round := 1; round <= 2; round++ { // new instances, then stored ones
		appendEach()
		adapter.reset()
		if done, err := p.Step(ctx); err != nil || done != n {
			t.Fatalf("round %d: the step handled %d events, %v; want %d", round, done, err, n)
		}
		if got := [3]int64{adapter.loadStates.Load(), adapter.loadState.Load(), adapter.checkpoints.Load()}; got != [3]int64{1, 0, 2} {
			t.Fatalf("round %d: %d batch loads, %d single loads and %d checkpoint reads; want 1, 0 and 2 (the batch's start, then the check after the loads)", round, got[0], got[1], got[2])
		}
		if !slices.Equal(adapter.keys, streams) {
			t.Fatalf("round %d: the batch load asked for %q, want each instance once, in order", round, adapter.keys)
		}
		for _, stream := range []string{streams[0], streams[n-1]} {
			if got, err := p.State(ctx, stream); err != nil || got != round {
				t.Fatalf("round %d: state of %s = %d, %v; want %d", round, stream, got, err, round)
			}
		}
	}

	// On an adapter that loads states one by one, the handle loads each,
	// and the checkpoint is still read once.
	oneByOne := annals.New(struct {
		store.Store
		store.StateStore
	}{adapter, adapter})
	appendEach()
	adapter.reset()
	if done, err := annals.NewProcess(oneByOne, "counts", countingProcess, counterCodec(), byStream, dispatch).Step(ctx); err != nil || done != n {
		t.Fatalf("one by one: the step handled %d events, %v; want %d", done, err, n)
	}
	if got := [3]int64{adapter.loadStates.Load(), adapter.loadState.Load(), adapter.checkpoints.Load()}; got != [3]int64{0, n, 2} {
		t.Fatalf("one by one: %d batch loads, %d single loads and %d checkpoint reads; want 0, %d and 2", got[0], got[1], got[2], n)
	}
	if got, err := p.State(ctx, streams[n-1]); err != nil || got != 3 {
		t.Fatalf("one by one: state of %s = %d, %v; want 3", streams[n-1], got, err)
	}

	stateless := annals.NewSaga(s, "mirror", mirrorSaga(0), counterCodec(), func(context.Context, bump, annals.Cause) error { return nil })
	adapter.reset()
	if done, err := stateless.Step(ctx); err != nil || done != 3*n {
		t.Fatalf("the saga's step handled %d events, %v; want %d", done, err, 3*n)
	}
	if sent.Load() != 3*n {
		t.Fatalf("the process sent %d commands, want %d", sent.Load(), 3*n)
	}
	if got := [3]int64{adapter.loadStates.Load(), adapter.loadState.Load(), adapter.checkpoints.Load()}; got != [3]int64{0, 0, 1} {
		t.Fatalf("a stateless saga made %d batch loads, %d single loads and %d checkpoint reads; want only the batch's start", got[0], got[1], got[2])
	}
}

// A record that cannot be mapped (its payload does not decode, or the key
// function panics) stops a process's batch at that record: the events
// before it are handled, their states committed with the checkpoint
// before it, and only their instances' states are read.
func TestAProcessStopsAtARecordItCannotMap(t *testing.T) {
	for name, bad := range map[string]store.Event{
		"payload":      {Type: "Incremented", Data: []byte("not JSON")},
		"key function": {Type: "Incremented", Data: []byte(`{"To":1}`)},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			adapter := &countingStates{Store: memory.New()}
			s := annals.New(adapter)
			r := annals.NewRunner(s, counter, counterCodec())
			for i := range 7 {
				appendN(t, r, fmt.Sprintf("a-%d", i), 1)
			}
			if _, err := s.Append(ctx, "bad", store.NoStream, []store.Event{bad}); err != nil {
				t.Fatal(err)
			}
			appendN(t, r, "a-8", 1)
			key := func(rec store.Record, e incremented) (string, bool) {
				if rec.StreamID == "bad" {
					panic("no key for this one")
				}
				return byStream(rec, e)
			}
			var sent atomic.Int64
			p := annals.NewProcess(s, "counts", countingProcess, counterCodec(), key, func(context.Context, bump, annals.Cause) error { sent.Add(1); return nil })
			done, err := p.Step(ctx)
			var stopped *annals.ConsumerError
			if done != 7 || !errors.As(err, &stopped) || stopped.Position != 8 || stopped.StreamID != "bad" {
				t.Fatalf("the step handled %d events and returned %v; want 7, and a ConsumerError at position 8", done, err)
			}
			var panicked *annals.PanicError
			if name == "key function" && !errors.As(err, &panicked) {
				t.Fatalf("the key function's panic is not a PanicError: %v", err)
			}
			if pos, err := p.Position(ctx); err != nil || pos != 7 || sent.Load() != 7 {
				t.Fatalf("checkpoint %d (%v) after %d commands sent; want 7 and 7", pos, err, sent.Load())
			}
			if got, _ := p.State(ctx, "a-6"); got != 1 {
				t.Fatalf("state of a-6 = %d, want 1, committed", got)
			}
			if len(adapter.keys) != 7 || slices.Contains(adapter.keys, "a-8") {
				t.Fatalf("the batch load asked for %q, want only the 7 instances before the record that stopped it", adapter.keys)
			}
		})
	}
}

// A stored state that does not decode stops a process's batch at the
// first event of its instance, as when states were read one by one: the
// events before it are handled and committed.
func TestAProcessStopsAtTheFirstEventOfAStateItCannotDecode(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	for i := range 7 {
		appendN(t, r, fmt.Sprintf("a-%d", i), 1)
	}
	if err := s.Commit(ctx, "counts", 0, 0, func(tx store.StateTx) error {
		return tx.SaveState(ctx, "counts", "a-3", []byte("not JSON"))
	}); err != nil {
		t.Fatal(err)
	}
	p := annals.NewProcess(s, "counts", countingProcess, counterCodec(), byStream, func(context.Context, bump, annals.Cause) error { return nil })
	done, err := p.Step(ctx)
	var stopped *annals.ConsumerError
	if done != 3 || !errors.As(err, &stopped) || stopped.StreamID != "a-3" || !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "process \"counts\" key \"a-3\": the stored state is not JSON") {
		t.Fatalf("the step handled %d events and returned %v; want 3, and a ConsumerError at a-3's event", done, err)
	}
	if pos, err := p.Position(ctx); err != nil || pos != 3 {
		t.Fatalf("checkpoint %d, %v; want 3", pos, err)
	}
}

// A replay of an event does not send a command that was rejected and
// compensated again: accepted this time (the rule that rejected it
// changed meanwhile), it would take effect beside its compensation. The
// compensation's key is its own, the rejected command's followed by
// /rejected, which is where the replay finds it. A rejected command that
// was not compensated is sent again, and taken.
func TestAReplayDoesNotSendACompensatedCommandAgain(t *testing.T) {
	for _, compensate := range []bool{true, false} {
		t.Run(fmt.Sprintf("compensate=%v", compensate), func(t *testing.T) {
			ctx := context.Background()
			s := annals.New(memory.New())
			r := annals.NewRunner(s, counter, counterCodec())
			appendN(t, r, "a-1", 3) // one bump of b-1
			appendN(t, r, "b-1", 1)

			limit := 1 // b-1 is at its limit: the bump is rejected
			crash := true
			var keys []string
			sg := annals.NewSaga(s, "compensating", mirrorSaga(0), counterCodec(),
				func(ctx context.Context, _ bump, cause annals.Cause) error {
					_, err := r.Handle(ctx, "b-1", increment{Limit: limit}, cause.Options()...)
					return err
				},
				annals.WithRejections(func(ctx context.Context, _ bump, cause annals.Cause, _ error) error {
					keys = append(keys, cause.IdempotencyKey())
					if compensate {
						if _, err := r.Handle(ctx, "undo-1", increment{}, cause.Options()...); err != nil {
							return err
						}
					}
					if crash { // the process dies before the checkpoint commits
						crash = false
						return errors.New("crashed")
					}
					return nil
				}))
			if _, err := sg.CatchUp(ctx); err == nil || !strings.Contains(err.Error(), "crashed") {
				t.Fatalf("first pass: %v, want the crash", err)
			}
			limit = 0 // the rule that rejected the bump changed meanwhile
			if _, err := sg.CatchUp(ctx); err != nil {
				t.Fatalf("replay: %v", err)
			}
			want := map[string]int{"b-1": 1, "undo-1": 1}
			if !compensate {
				want = map[string]int{"b-1": 2, "undo-1": 0}
			}
			for id, n := range want {
				if got, _, err := r.Load(ctx, id); err != nil || got != n {
					t.Errorf("%s = %d, %v; want %d", id, got, err, n)
				}
			}
			if len(keys) != 1 || !strings.HasSuffix(keys[0], "/0/rejected") {
				t.Errorf("rejection handler called with keys %q, want once, the rejected command's key followed by /rejected", keys)
			}
		})
	}
}

// failingFinder finds no event: every lookup by ID fails.
type failingFinder struct{ *memory.Store }

func (failingFinder) FindEvent(context.Context, uuid.UUID) (store.Record, bool, error) {
	return store.Record{}, false, errors.New("index unreadable")
}

// A saga that cannot look up whether a command was compensated does not
// send it: it stops at the event, saying why, and sends nothing.
func TestASagaThatCannotLookUpACompensationSendsNothing(t *testing.T) {
	ctx := context.Background()
	s := annals.New(failingFinder{memory.New()})
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "a-1", 3)
	sg := annals.NewSaga(s, "careful", mirrorSaga(0), counterCodec(), dispatchTo(r, "b"),
		annals.WithRejections(func(context.Context, bump, annals.Cause, error) error { return nil }))
	_, err := sg.CatchUp(ctx)
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Position != 3 || !strings.Contains(err.Error(), "look up a compensation") || !strings.Contains(err.Error(), "index unreadable") {
		t.Fatalf("catch up: %v; want a stop at the event that says the lookup failed", err)
	}
	if got, _, err := r.Load(ctx, "b-1"); err != nil || got != 0 {
		t.Fatalf("b-1 = %d, %v; want nothing sent", got, err)
	}
}

// An instance that finished (IsTerminal) has its state deleted, so an
// event for its key after that starts a new instance from the initial
// state: in the same batch as in a later one, whatever the batch size.
func TestAFinishedInstanceStartsAgainInTheSameBatchAsInALaterOne(t *testing.T) {
	ctx := context.Background()
	// Counts an instance's events, finished at the second: it reports
	// the count it reached at each event.
	twice := saga.Process[int, incremented, int]{
		Evolve:     func(n int, _ incremented) int { return n + 1 },
		React:      func(n int, _ incremented) []int { return []int{n + 1} },
		IsTerminal: func(n int) bool { return n >= 2 },
	}
	for _, batch := range []int{1, 2, 100} {
		s := annals.New(memory.New())
		appendN(t, annals.NewRunner(s, counter, counterCodec()), "a-1", 5)
		var seen []int
		p := annals.NewProcess(s, "twice", twice, counterCodec(),
			func(r store.Record, _ incremented) (string, bool) { return r.StreamID, true },
			func(_ context.Context, n int, _ annals.Cause) error { seen = append(seen, n); return nil },
			annals.WithConsumerOptions[int](annals.WithBatchSize(batch)))
		if _, err := p.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		if want := []int{1, 2, 1, 2, 1}; !slices.Equal(seen, want) {
			t.Errorf("batches of %d: the instance counted %v, want %v: a finished instance starts again", batch, seen, want)
		}
		if _, ok, err := s.Adapter().(store.StateStore).LoadState(ctx, "twice", "a-1"); err != nil || !ok {
			t.Errorf("batches of %d: the unfinished instance's state is not kept (%v)", batch, err)
		}
	}
}
