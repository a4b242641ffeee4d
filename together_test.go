package annals_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// appendSpy records the size of every append its store is asked for, and
// lets a test answer an append instead of the store.
type appendSpy struct {
	*memory.Store
	mu    sync.Mutex
	sizes []int
	// answer, when set, is asked first; handled says it answered.
	answer func(ctx context.Context, s *memory.Store, id string, expected int64, events []store.Event) (v int64, err error, handled bool)
}

func (s *appendSpy) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(events))
	s.mu.Unlock()
	if s.answer != nil {
		if v, err, handled := s.answer(ctx, s.Store, id, expected, events); handled {
			return v, err
		}
	}
	return s.Store.Append(ctx, id, expected, events)
}

func (s *appendSpy) appends() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sizes)
}

// gate is a counter decider whose first Decide waits until the test opens
// it, holding its stream's turn, so that the test can queue commands
// behind it; increment{Limit: -1} panics.
func gate() (d decider.Decider[increment, incremented, int], holding <-chan struct{}, open func()) {
	h, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	d = counter
	d.Decide = func(c increment, s int) ([]incremented, error) {
		if calls.Add(1) == 1 {
			close(h)
			<-release
		}
		if c.Limit == -1 {
			panic("no such increment")
		}
		return counter.Decide(c, s)
	}
	return d, h, func() { close(release) }
}

// answered is what one Handle returned.
type answered struct {
	i        int
	res      annals.Result[incremented, int]
	err      error
	panicked any
}

// queueBehind starts the command first on stream "c", waits until it
// holds the turn, queues cmds behind it in order, one goroutine each,
// opens the gate, and returns the outcomes: first's, then cmds' in
// order.
func queueBehind(t *testing.T, r *annals.Runner[increment, incremented, int], holding <-chan struct{}, open func(), first increment, cmds []increment, opts func(i int) []annals.HandleOption) []answered {
	t.Helper()
	return queueBehindWith(t, r, holding, open, first, cmds, opts, nil)
}

// queueBehindThen is queueBehind, calling then(i) in the goroutine of
// command i as soon as its Handle returned.
func queueBehindThen(t *testing.T, r *annals.Runner[increment, incremented, int], holding <-chan struct{}, open func(), first increment, cmds []increment, then func(i int)) []answered {
	t.Helper()
	return queueBehindWith(t, r, holding, open, first, cmds, nil, then)
}

func queueBehindWith(t *testing.T, r *annals.Runner[increment, incremented, int], holding <-chan struct{}, open func(), first increment, cmds []increment, opts func(i int) []annals.HandleOption, then func(i int)) []answered {
	t.Helper()
	ctx := context.Background()
	out := make([]answered, len(cmds)+1)
	var wg sync.WaitGroup
	run := func(i int, c increment) {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					out[i] = answered{i: i, panicked: v}
				}
			}()
			var o []annals.HandleOption
			if opts != nil && i > 0 {
				o = opts(i - 1)
			}
			res, err := r.Handle(ctx, "c", c, o...)
			if then != nil {
				then(i)
			}
			out[i] = answered{i: i, res: res, err: err}
		})
	}
	run(0, first)
	<-holding
	for i, c := range cmds {
		run(i+1, c)
		deadline := time.Now().Add(5 * time.Second)
		for annals.QueuedCommands(r, "c") < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("command %d did not queue for the turn", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	open()
	wg.Wait()
	if n := annals.WaitingTurns(r); n != 0 {
		t.Fatalf("%d streams still have turns after every command returned", n)
	}
	return out
}

// The commands queued behind the one holding a stream's turn are decided
// one after the other, each on the state the one before it left, and
// stored with one append; each gets its own answer, a rejection included.
func TestQueuedCommandsAreAppendedTogether(t *testing.T) {
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			spy := &appendSpy{Store: memory.New()}
			d, holding, open := gate()
			var opts []annals.RunnerOption
			if cache {
				opts = append(opts, annals.WithCache(8))
			}
			r := annals.NewRunner(annals.New(spy), d, counterCodec(), opts...)
			// After the first, ten increments up to 8: seven are stored,
			// the last three rejected at 8.
			cmds := slices.Repeat([]increment{{Limit: 8}}, 10)
			out := queueBehind(t, r, holding, open, increment{}, cmds, nil)

			if got := spy.appends(); !slices.Equal(got, []int{1, 7}) {
				t.Fatalf("appends of %v events, want [1 7]: the first command's, then the queued ones' together", got)
			}
			for _, o := range out[:8] {
				if o.err != nil || o.res.Version != int64(o.i+1) || o.res.State != o.i+1 || len(o.res.Events) != 1 || o.res.Events[0].To != o.i+1 {
					t.Fatalf("command %d: %+v, %v; want its increment to %d", o.i, o.res, o.err, o.i+1)
				}
			}
			for _, o := range out[8:] {
				if !errors.Is(o.err, errLimit) || !errors.Is(o.err, annals.ErrRejected) || o.res.State != 8 || o.res.Version != 8 || o.res.Events != nil {
					t.Fatalf("command %d: %+v, %v; want rejected at 8", o.i, o.res, o.err)
				}
			}
			assertCounts(t, spy.Store, "c", 8)
		})
	}
}

// assertCounts fails unless stream holds n increments, to 1, 2, … n.
func assertCounts(t *testing.T, s store.Store, stream string, n int) {
	t.Helper()
	var got []int
	for rec, err := range s.ReadStream(context.Background(), stream, 1) {
		if err != nil {
			t.Fatal(err)
		}
		e, err := counterCodec().FromRecord(context.Background(), rec)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.To)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stream %s holds increments to %v, want %v", stream, got, want)
	}
}

// A command of a queue appended together that the store refuses fails
// alone: the append of them all stored nothing, and they are handled
// again one by one.
func TestACommandTheStoreRefusesFailsAloneInItsQueue(t *testing.T) {
	spy := &appendSpy{Store: memory.New()}
	spy.answer = func(_ context.Context, _ *memory.Store, _ string, _ int64, events []store.Event) (int64, error, bool) {
		for _, e := range events {
			if e.Metadata.Extra["poison"] != "" {
				return 0, fmt.Errorf("an event the store refuses: %w", store.ErrInvalid), true
			}
		}
		return 0, nil, false
	}
	d, holding, open := gate()
	r := annals.NewRunner(annals.New(spy), d, counterCodec())
	poison := func(i int) []annals.HandleOption {
		if i == 2 {
			return []annals.HandleOption{annals.WithMetadata(store.Metadata{Extra: map[string]string{"poison": "yes"}})}
		}
		return nil
	}
	out := queueBehind(t, r, holding, open, increment{}, slices.Repeat([]increment{{}}, 5), poison)

	if got := spy.appends(); !slices.Equal(got, []int{1, 5, 1, 1, 1, 1, 1}) {
		t.Fatalf("appends of %v events, want [1 5 1 1 1 1 1]: the first, the queue's refused, then one by one", got)
	}
	want := []int64{1, 2, 3, 0, 4, 5}
	for i, o := range out {
		if i == 3 {
			if !errors.Is(o.err, store.ErrInvalid) {
				t.Fatalf("the refused command: %+v, %v; want store.ErrInvalid", o.res, o.err)
			}
			continue
		}
		if o.err != nil || o.res.Version != want[i] || o.res.State != int(want[i]) {
			t.Fatalf("command %d: %+v, %v; want version %d", i, o.res, o.err, want[i])
		}
	}
	assertCounts(t, spy.Store, "c", 5)
}

// When the answered of a queue's append is unknown, each command that
// appended says so; one rejected on the state the others left is decided
// again on the stream as it is.
func TestQueueAppendedTogetherWithAnUnknownOutcome(t *testing.T) {
	for _, stored := range []bool{false, true} {
		t.Run(fmt.Sprintf("stored=%v", stored), func(t *testing.T) {
			spy := &appendSpy{Store: memory.New()}
			spy.answer = func(ctx context.Context, s *memory.Store, id string, expected int64, events []store.Event) (int64, error, bool) {
				if len(events) < 2 {
					return 0, nil, false
				}
				if stored {
					if _, err := s.Append(ctx, id, expected, events); err != nil {
						return 0, err, true
					}
				}
				return 0, fmt.Errorf("the connection broke: %w", store.ErrOutcomeUnknown), true
			}
			d, holding, open := gate()
			r := annals.NewRunner(annals.New(spy), d, counterCodec(), annals.WithCache(8))
			// After the first: two increments, then one up to 2, rejected
			// on the state the two leave (3), but not on the stream as it
			// is when they were not stored (1).
			out := queueBehind(t, r, holding, open, increment{}, []increment{{}, {}, {Limit: 2}}, nil)

			for _, o := range out[1:3] {
				if !errors.Is(o.err, store.ErrOutcomeUnknown) || errors.Is(o.err, store.ErrConflict) {
					t.Fatalf("command %d: %v, want store.ErrOutcomeUnknown", o.i, o.err)
				}
			}
			last := out[3]
			if stored {
				if !errors.Is(last.err, errLimit) || last.res.Version != 3 {
					t.Fatalf("the bounded increment: %+v, %v; want rejected at 3", last.res, last.err)
				}
				assertCounts(t, spy.Store, "c", 3)
				return
			}
			if last.err != nil || last.res.Version != 2 {
				t.Fatalf("the bounded increment: %+v, %v; want stored at 2", last.res, last.err)
			}
			assertCounts(t, spy.Store, "c", 2)
		})
	}
}

// A command whose Decide panics while another leads its queue panics in
// its own Handle, as alone; the others are stored and the turn goes on.
func TestAPanicInAQueuedCommandIsItsOwn(t *testing.T) {
	spy := &appendSpy{Store: memory.New()}
	d, holding, open := gate()
	r := annals.NewRunner(annals.New(spy), d, counterCodec())
	out := queueBehind(t, r, holding, open, increment{}, []increment{{}, {Limit: -1}, {}}, nil)
	if out[2].panicked != "no such increment" {
		t.Fatalf("the panicking command: %+v, want its panic", out[2])
	}
	for i, v := range map[int]int64{0: 1, 1: 2, 3: 3} {
		if out[i].err != nil || out[i].panicked != nil || out[i].res.Version != v {
			t.Fatalf("command %d: %+v", i, out[i])
		}
	}
	if got := spy.appends(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("appends of %v events, want [1 2]", got)
	}
	res, err := r.Handle(context.Background(), "c", increment{})
	if err != nil || res.Version != 4 {
		t.Fatalf("a command after the panic: %+v, %v", res, err)
	}
}

// Whether commands are appended together or alone, and however the
// writes of another runner on the same streams interleave, every command
// is answered as if handled alone on the stream as it was: a stored
// command's events were decided on the state it was appended to (each
// increment's value is its version), every command told it was stored
// is, and a rejection was decided on a state the stream had.
func TestCommandsTogetherAnswerAsIfAlone(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		mem := memory.New()
		s := annals.New(mem)
		var runners []*annals.Runner[increment, incremented, int]
		for range rapid.IntRange(1, 2).Draw(rt, "runners") {
			var opts []annals.RunnerOption
			if rapid.Bool().Draw(rt, "cache") {
				opts = append(opts, annals.WithCache(4))
			}
			runners = append(runners, annals.NewRunner(s, counter, counterCodec(), append(opts, annals.WithRetries(1000), annals.WithBackoff(func(int) time.Duration { return 0 }))...))
		}
		streams := rapid.IntRange(1, 3).Draw(rt, "streams")
		type job struct {
			runner, stream int
			cmd            increment
		}
		goroutines := rapid.IntRange(2, 12).Draw(rt, "goroutines")
		jobs := make([][]job, goroutines)
		for g := range jobs {
			jobs[g] = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) job {
				return job{
					runner: rapid.IntRange(0, len(runners)-1).Draw(t, "runner"),
					stream: rapid.IntRange(0, streams-1).Draw(t, "stream"),
					cmd:    increment{Limit: rapid.IntRange(0, 30).Draw(t, "limit")},
				}
			}), 1, 15).Draw(rt, fmt.Sprintf("jobs %d", g))
		}
		type answer struct {
			job
			res annals.Result[incremented, int]
			err error
		}
		answers := make([][]answer, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for _, j := range jobs[g] {
					res, err := runners[j.runner].Handle(ctx, fmt.Sprintf("c-%d", j.stream), j.cmd)
					answers[g] = append(answers[g], answer{j, res, err})
				}
			})
		}
		wg.Wait()

		stored := make([]int, streams)
		for _, as := range answers {
			for _, a := range as {
				switch {
				case a.err == nil:
					if len(a.res.Events) != 1 || a.res.Events[0].To != int(a.res.Version) || a.res.State != int(a.res.Version) {
						rt.Fatalf("%+v stored %+v", a.job, a.res)
					}
					stored[a.stream]++
				case errors.Is(a.err, errLimit):
					if a.res.State != int(a.res.Version) || a.res.State < a.cmd.Limit {
						rt.Fatalf("%+v rejected on %+v", a.job, a.res)
					}
				default:
					rt.Fatalf("%+v: %v", a.job, a.err)
				}
			}
		}
		for i, n := range stored {
			var got []int
			for rec, err := range mem.ReadStream(ctx, fmt.Sprintf("c-%d", i), 1) {
				if err != nil {
					rt.Fatal(err)
				}
				e, err := counterCodec().FromRecord(ctx, rec)
				if err != nil {
					rt.Fatal(err)
				}
				got = append(got, e.To)
			}
			if len(got) != n {
				rt.Fatalf("stream %d holds %d increments, and %d commands were told they were stored", i, len(got), n)
			}
			for v, to := range got {
				if to != v+1 {
					rt.Fatalf("stream %d holds increments to %v: one was decided on a stale state", i, got)
				}
			}
		}
		// A rejection was decided on a state the stream had: its version
		// is within the stream.
		for _, as := range answers {
			for _, a := range as {
				if errors.Is(a.err, errLimit) && a.res.Version > 0 {
					state, _, err := runners[0].LoadAt(ctx, fmt.Sprintf("c-%d", a.stream), a.res.Version)
					if err != nil || state != a.res.State {
						rt.Fatalf("%+v rejected on state %d at version %d; the stream had %d (%v)", a.job, a.res.State, a.res.Version, state, err)
					}
				}
			}
		}
		for i, r := range runners {
			if n := annals.WaitingTurns(r); n != 0 {
				rt.Fatalf("runner %d: %d streams still have turns", i, n)
			}
		}
	})
}

// Commands with an idempotency key are appended one by one even when
// they queue, keeping the events of one key in an append of their own.
func TestQueuedCommandsWithKeysAppendedAlone(t *testing.T) {
	spy := &appendSpy{Store: memory.New()}
	d, holding, open := gate()
	r := annals.NewRunner(annals.New(spy), d, counterCodec())
	// The second and third: the first, without a key, leads the queue
	// when the gate opens, and would take them along.
	keyed := func(i int) []annals.HandleOption {
		if i == 1 || i == 2 {
			return []annals.HandleOption{annals.WithIdempotencyKey(fmt.Sprint("key-", i))}
		}
		return nil
	}
	out := queueBehind(t, r, holding, open, increment{}, slices.Repeat([]increment{{}}, 4), keyed)
	if got := spy.appends(); !slices.Equal(got, []int{1, 1, 1, 1, 1}) {
		t.Fatalf("appends of %v events, want one each", got)
	}
	for i, o := range out {
		if o.err != nil || o.res.Version != int64(i+1) {
			t.Fatalf("command %d: %+v, %v", i, o.res, o.err)
		}
	}
}

// partObserver sees each command as its Limit, with which it marks the
// command's appends (metadata "command"), and keeps what it is told of
// the appends and the commands by that mark.
type partObserver struct {
	recorder
	mu       sync.Mutex
	appends  map[string][]annals.AppendEnd
	commands map[string]annals.CommandEnd
}

type markKey struct{}

func (o *partObserver) StartCommand(ctx context.Context, c annals.CommandStart) context.Context {
	return context.WithValue(ctx, markKey{}, fmt.Sprint(c.Command.(increment).Limit))
}

func (o *partObserver) EndCommand(ctx context.Context, c annals.CommandEnd) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.commands[ctx.Value(markKey{}).(string)] = c
}

func (o *partObserver) StartAppend(ctx context.Context, a *annals.AppendStart) context.Context {
	a.SetExtra("command", ctx.Value(markKey{}).(string))
	return ctx
}

func (o *partObserver) EndAppend(ctx context.Context, a annals.AppendEnd) {
	o.mu.Lock()
	defer o.mu.Unlock()
	mark := ctx.Value(markKey{}).(string)
	o.appends[mark] = append(o.appends[mark], a)
}

// Commands of a store with an Observer are appended together too, and
// the observer sees each one's own events appended within its own
// command, at the version it was decided on: the metadata it adds for a
// command (a trace's context) is on that command's events alone, and a
// conflict of the shared append is each one's.
func TestQueuedCommandsObservedEachWithItsOwnAppend(t *testing.T) {
	for _, conflict := range []bool{false, true} {
		t.Run(fmt.Sprintf("conflict=%v", conflict), func(t *testing.T) {
			spy := &appendSpy{Store: memory.New()}
			if conflict {
				var once sync.Once
				spy.answer = func(_ context.Context, _ *memory.Store, _ string, _ int64, events []store.Event) (int64, error, bool) {
					conflicted := false
					if len(events) > 1 {
						once.Do(func() { conflicted = true })
					}
					return 0, fmt.Errorf("another writer: %w", store.ErrConflict), conflicted
				}
			}
			s := annals.New(spy)
			o := &partObserver{appends: map[string][]annals.AppendEnd{}, commands: map[string]annals.CommandEnd{}}
			s.Observe(o)
			d, holding, open := gate()
			r := annals.NewRunner(s, d, counterCodec())
			// Limits far above the counts: they only tell the commands apart.
			queued := []increment{{Limit: 101}, {Limit: 102}, {Limit: 103}, {Limit: 104}}
			out := queueBehind(t, r, holding, open, increment{Limit: 100}, queued, nil)

			want := []int{1, 4}
			if conflict {
				want = []int{1, 4, 4}
			}
			if got := spy.appends(); !slices.Equal(got, want) {
				t.Fatalf("appends of %v events, want %v", got, want)
			}
			tries := 1 + lo.Ternary(conflict, 1, 0)
			for i, a := range out {
				if a.err != nil || a.res.Version != int64(i+1) {
					t.Fatalf("command %d: %+v, %v", i, a.res, a.err)
				}
				mark := fmt.Sprint(100 + i)
				together, attempts := 4, tries
				if i == 0 {
					together, attempts = 1, 1 // alone, before the others queued
				}
				seen := o.appends[mark]
				if len(seen) != attempts {
					t.Fatalf("command %d: %d appends observed, want %d", i, len(seen), attempts)
				}
				last := seen[len(seen)-1]
				if last.Err != nil || last.Expected != int64(i) || len(last.Events) != 1 || last.Version != int64(i+1) ||
					last.Together != together || (together > 1 && last.Part != i-1) {
					t.Fatalf("command %d: append observed as %+v, want its one event at %d of %d together", i, last, i, together)
				}
				if got := last.Events[0].Metadata.Extra["command"]; got != mark {
					t.Fatalf("command %d: its observed event carries command %q", i, got)
				}
				c := o.commands[mark]
				if c.Attempts != attempts || c.Conflicts != attempts-1 || c.Events != 1 || c.Version != int64(i+1) {
					t.Fatalf("command %d: observed as %+v, want %d attempts", i, c, attempts)
				}
			}
			for rec, err := range spy.Store.ReadStream(context.Background(), "c", 1) {
				if err != nil {
					t.Fatal(err)
				}
				if got, want := rec.Metadata.Extra["command"], fmt.Sprint(100+rec.Version-1); got != want {
					t.Fatalf("event at %d carries the metadata of command %s, want %s's", rec.Version, got, want)
				}
			}
		})
	}
}

// A command alone whose Decide panics unwinds its own Handle with the
// panic, and the stream's turn goes on to the next command.
func TestAPanicOfACommandAlonePassesTheTurnOn(t *testing.T) {
	r := annals.NewRunner(annals.New(memory.New()), counter, counterCodec())
	panicky := counter
	panicky.Decide = func(increment, int) ([]incremented, error) { panic("decided badly") }
	bad := annals.NewRunner(annals.New(memory.New()), panicky, counterCodec())
	for _, r := range []*annals.Runner[increment, incremented, int]{r, bad} {
		func() {
			defer func() {
				if v := recover(); r == bad && v != "decided badly" {
					t.Fatalf("the panicking command recovered %v", v)
				}
			}()
			_, _ = r.Handle(context.Background(), "c", increment{})
		}()
		if n := annals.WaitingTurns(r); n != 0 {
			t.Fatalf("%d streams still have turns after the command returned", n)
		}
	}
}

// In a Sync system, each command appended together with others returns
// once the system's views have handled its own events, as a command
// handled alone does.
func TestQueuedCommandsSettleASyncSystem(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		t.Fatal(err)
	}
	counts := annals.NewViewProjection(s, "counts", view.Of(counter), counterCodec(),
		func(r store.Record, _ incremented) (string, bool) { return r.StreamID, true })
	if err := sys.Add(counts); err != nil {
		t.Fatal(err)
	}
	d, holding, open := gate()
	r := annals.NewRunner(s, d, counterCodec())
	var seen [6]int
	out := queueBehindThen(t, r, holding, open, increment{}, slices.Repeat([]increment{{}}, 5), func(i int) {
		n, err := counts.Get(ctx, "c")
		if err != nil {
			t.Errorf("command %d: the view: %v", i, err)
		}
		seen[i] = n
	})
	for i, o := range out {
		if o.err != nil {
			t.Fatalf("command %d: %v", i, o.err)
		}
		if seen[i] < int(o.res.Version) {
			t.Fatalf("command %d returned at version %d when the view had counted %d", i, o.res.Version, seen[i])
		}
	}
}

// A panic in what the commands queued on a stream share, here Evolve on a
// stored event while their leader loads the stream, is each one's: every
// command panics in its own Handle, none is told it succeeded, and
// nothing of theirs is stored.
func TestAPanicLoadingTheStreamOfAQueueIsEachCommands(t *testing.T) {
	spy := &appendSpy{Store: memory.New()}
	d, holding, open := gate()
	var poisoned atomic.Bool
	d.Evolve = func(s int, e incremented) int {
		if poisoned.Load() {
			panic("poisoned")
		}
		return counter.Evolve(s, e)
	}
	s := annals.New(spy)
	r := annals.NewRunner(s, d, counterCodec())
	other := annals.NewRunner(s, counter, counterCodec())
	open2 := func() {
		// Another process's event, which this runner's Evolve cannot
		// take, reaches the stream while the first command decides.
		poisoned.Store(true)
		if _, err := other.Handle(context.Background(), "c", increment{}); err != nil {
			t.Error(err)
		}
		open()
	}
	out := queueBehind(t, r, holding, open2, increment{}, []increment{{}, {}, {}}, nil)
	for i, o := range out {
		if o.panicked != "poisoned" {
			t.Errorf("command %d: %+v, want the panic", i, o)
		}
	}
	assertCounts(t, spy.Store, "c", 1)
}
