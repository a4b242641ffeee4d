package annals_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samber/lo"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// panicsAt3 panics on the counter's third increment.
func panicsAt3(e incremented) {
	if e.To == 3 {
		panic("the handler cannot take 3")
	}
}

// consumersThatPanic builds, on s, one consumer of each kind whose own
// code panics on the third increment.
func consumersThatPanic(s *annals.Store) map[string]annals.Consumer {
	nothing := func(context.Context, increment, annals.Cause) error { return nil }
	return map[string]annals.Consumer{
		"view": annals.NewViewProjection(s, "view", view.View[tally, incremented]{
			Evolve: func(t tally, e incremented) tally { panicsAt3(e); return tallyView.Evolve(t, e) },
		}, counterCodec(), byStream),
		"projection": must(annals.NewProjection(s, "projection", counterCodec(), func(_ context.Context, _ store.StateTx, ev annals.Envelope[incremented]) error {
			panicsAt3(ev.Event)
			return nil
		})),
		"batch projection": must(annals.NewBatchProjection(s, "batch", counterCodec(), func(_ context.Context, _ store.StateTx, evs []annals.Envelope[incremented]) (int, error) {
			for _, ev := range evs {
				panicsAt3(ev.Event)
			}
			return len(evs), nil
		})),
		"record projection": must(annals.NewRecordProjection(s, "records", func(_ context.Context, _ store.StateTx, r store.Record) error {
			if r.Version == 3 {
				panic("the handler cannot take 3")
			}
			return nil
		})),
		"saga reaction": annals.NewSaga(s, "saga", saga.Saga[incremented, increment]{
			React: func(e incremented) []increment { panicsAt3(e); return nil },
		}, counterCodec(), nothing),
		"process dispatcher": annals.NewProcess(s, "process", saga.Process[int, incremented, increment]{
			Evolve: func(_ int, e incremented) int { return e.To },
			React:  func(_ int, e incremented) []increment { return []increment{{Limit: e.To}} },
		}, counterCodec(), byStream, func(_ context.Context, c increment, _ annals.Cause) error {
			if c.Limit == 3 {
				panic("the dispatcher cannot take 3")
			}
			return nil
		}),
	}
}

// A consumer whose code panics stops at the event it panicked on, as at
// an error, in a Sync system: the command whose event it was is told its
// event is stored (ErrStored, the cause a *PanicError), and the store
// goes on taking commands. Before, a view's panic left its lock held and
// every later write on the store waited for good.
func TestAPanicInASyncConsumerStopsOnlyIt(t *testing.T) {
	for kind := range consumersThatPanic(annals.New(memory.New())) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s := annals.New(memory.New())
			c := consumersThatPanic(s)[kind]
			sys := must(annals.NewSystem(s, annals.Sync))
			sys.OnError(func(string, error) {})
			if err := sys.Add(c); err != nil {
				t.Fatal(err)
			}
			r := annals.NewRunner(s, counter, counterCodec())
			appendN(t, r, "c", 2)

			_, err := r.Handle(ctx, "c", increment{})
			var stopped *annals.ConsumerError
			var panicked *annals.PanicError
			if !errors.Is(err, annals.ErrStored) || !errors.As(err, &stopped) || !errors.As(err, &panicked) {
				t.Fatalf("the command whose event panicked got %v, want ErrStored with a ConsumerError caused by a PanicError", err)
			}
			// The message says first that the write is done, whatever the
			// consumer's error says after it.
			if !strings.HasPrefix(err.Error(), `stream "c": the write is stored, up to version 3, and stands; what ran after it failed`) {
				t.Fatalf("the command's error reads %q", err)
			}
			if stopped.Position != 3 || !strings.Contains(panicked.Error(), "cannot take 3") || len(panicked.Stack) == 0 {
				t.Fatalf("stopped at %d with %q, want position 3, the panic's value and its stack", stopped.Position, panicked.Error())
			}
			// One line, naming where it panicked; the stack is in Stack.
			if msg := panicked.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "annals_test.") || !strings.Contains(msg, "panic_test.go:") {
				t.Fatalf("the panic's error reads %q, want one line naming the function and line that panicked", msg)
			}
			if _, v, err := r.Load(ctx, "c"); err != nil || v != 3 {
				t.Fatalf("stream at version %d, %v: want the event stored", v, err)
			}

			done := make(chan error, 1)
			go func() {
				_, err := r.Handle(ctx, "other", increment{})
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, annals.ErrStored) {
					t.Fatalf("a command after the panic: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a command after the panic did not return in 10 s: the panic left the store blocked")
			}
			if pos, err := c.Position(ctx); err != nil || pos != 2 {
				t.Fatalf("the consumer's checkpoint is %d, %v; want 2, before the event it panicked on", pos, err)
			}
		})
	}
}

// In an Async system the same panic stops the consumer with the same
// error, instead of taking the process down.
func TestAPanicInAnAsyncConsumerStopsOnlyIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := annals.New(memory.New())
	c := consumersThatPanic(s)["view"]
	sys := must(annals.NewSystem(s, annals.Async))
	sys.OnError(func(string, error) {})
	if err := sys.Add(c); err != nil {
		t.Fatal(err)
	}
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 5)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	var stopped *annals.ConsumerError
	var panicked *annals.PanicError
	if err := sys.WaitQuiet(ctx); !errors.As(err, &stopped) || !errors.As(err, &panicked) || stopped.Position != 3 {
		t.Fatalf("WaitQuiet = %v, want a ConsumerError at position 3 caused by a PanicError", err)
	}
	if pos, _ := c.Position(ctx); pos != 2 {
		t.Fatalf("checkpoint %d, want 2", pos)
	}
	stop()
	if err := <-done; !errors.As(err, &stopped) || !errors.As(err, &panicked) || stopped.Position != 3 {
		t.Fatalf("Run = %v, want a ConsumerError at position 3 caused by a PanicError", err)
	}
}

type hiddenTally struct{ count int }

// A state JSON would store as {} is refused when the view or process is
// built, with a message that says what to do, rather than saved as {}
// and read back as the zero state.
func TestAStateJSONWouldEmptyIsRefusedAtConstruction(t *testing.T) {
	s := annals.New(memory.New())
	for name, build := range map[string]func(){
		"view": func() {
			annals.NewViewProjection(s, "hidden", view.View[hiddenTally, incremented]{
				Evolve: func(h hiddenTally, _ incremented) hiddenTally { return hiddenTally{h.count + 1} },
			}, counterCodec(), byStream)
		},
		"process": func() {
			annals.NewProcess(s, "hidden", saga.Process[hiddenTally, incremented, increment]{
				Evolve: func(h hiddenTally, _ incremented) hiddenTally { return hiddenTally{h.count + 1} },
				React:  func(hiddenTally, incremented) []increment { return nil },
			}, counterCodec(), byStream, func(context.Context, increment, annals.Cause) error { return nil })
		},
	} {
		msg := panicMessage(build)
		if !strings.Contains(msg, "no exported fields") || !strings.Contains(msg, "count") || !strings.Contains(msg, "export the fields") {
			t.Errorf("%s: building it panicked with %q, want a message naming the hidden field and the remedy", name, msg)
		}
	}
}

type welcomeState struct {
	Customer string
	Contact  struct {
		Email string `annals:"personal"`
	}
}

// A process whose state holds fields tagged personal is refused when it
// is built: its states are plain JSON that forgetting the subject could
// not reach. A view's are accepted, as a rebuild rewrites them.
func TestAProcessStateWithPersonalFieldsIsRefusedAtConstruction(t *testing.T) {
	s := annals.New(memory.New())
	build := func() {
		annals.NewProcess(s, "welcome", saga.Process[welcomeState, incremented, increment]{
			Evolve: func(w welcomeState, _ incremented) welcomeState { return w },
			React:  func(welcomeState, incremented) []increment { return nil },
		}, counterCodec(), byStream, func(context.Context, increment, annals.Cause) error { return nil })
	}
	msg := panicMessage(build)
	if !strings.Contains(msg, "Email") || !strings.Contains(msg, "personal") || !strings.Contains(msg, "keep the subject's ID in the state") {
		t.Errorf("building the process panicked with %q, want a message naming the personal field and the remedy", msg)
	}
	if msg := panicMessage(func() {
		annals.NewViewProjection(s, "welcomes", view.View[welcomeState, incremented]{
			Evolve: func(w welcomeState, _ incremented) welcomeState { return w },
		}, counterCodec(), byStream)
	}); msg != "" {
		t.Errorf("building a view of the same state panicked: %s", msg)
	}
}

// A state JSON would store without its content stops the view at the
// first event of the batch that evolved that state: the events before it
// are committed, and nothing is saved changed. Its field of type any
// holds a value JSON would empty, or a string that is not valid UTF-8,
// whose bytes JSON would replace.
func TestAStateJSONWouldChangeStopsTheViewAtItsEvent(t *testing.T) {
	ctx := context.Background()
	type noted struct{ Note any }
	for name, hide := range map[string]any{"emptied": hiddenTally{3}, "not UTF-8": "caf\xe9"} {
		s := annals.New(memory.New())
		v := annals.NewViewProjection(s, "notes", view.View[noted, incremented]{
			Evolve: func(n noted, e incremented) noted {
				if e.To == 3 {
					return noted{Note: hide}
				}
				return noted{Note: e.To}
			},
		}, counterCodec(), byStream)
		r := annals.NewRunner(s, counter, counterCodec())
		for _, stream := range []string{"a", "a", "b", "b", "b"} { // b's third event hides its state
			if _, err := r.Handle(ctx, stream, increment{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := v.CatchUp(ctx)
		var stopped *annals.ConsumerError
		if !errors.As(err, &stopped) || !errors.Is(err, codec.ErrUnencodable) {
			t.Fatalf("%s: CatchUp = %v, want a ConsumerError matching codec.ErrUnencodable", name, err)
		}
		// a's events (1, 2) were committed; b's first event (3) is where
		// the batch first touched the state it could not save.
		if stopped.Position != 3 {
			t.Fatalf("%s: stopped at %d, want 3: the first event of the batch that evolved b", name, stopped.Position)
		}
		if pos, _ := v.Position(ctx); pos != 2 {
			t.Fatalf("%s: checkpoint %d, want 2: the events before b's committed", name, pos)
		}
		if got, err := v.Get(ctx, "a"); err != nil || got.Note != float64(2) {
			t.Fatalf("%s: a's state %+v, %v; want its note 2 committed", name, got, err)
		}
		if _, err := v.Get(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: b's state: %v, want none saved", name, err)
		}
	}
}

type (
	secretPayment struct{ amount int }
	notePayment   struct{ Note string }
	replyPayment  struct {
		Amount int
		Reply  chan error
	}
	taggedReplyPayment struct {
		Amount int
		Reply  chan error `json:"-"`
	}
)

// An idempotency key tells a retry from another command by the command's
// JSON: a command JSON cannot encode whole is refused before anything is
// stored, since {} or a string whose invalid bytes JSON replaces alike
// would make two payments one, and a reply channel would make a retry
// another command.
func TestIdempotencyKeyNeedsACommandJSONEncodesWhole(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	for name, cmd := range map[string]any{"unexported fields": secretPayment{100}, "a channel": replyPayment{100, make(chan error)}, "a string not UTF-8": notePayment{"caf\xe9"}} {
		r := annals.NewRunner(s, counterOf[any](), counterCodec())
		_, err := r.Handle(ctx, "pay-"+name, cmd, annals.WithIdempotencyKey("k-"+name))
		if !errors.Is(err, codec.ErrUnencodable) {
			t.Errorf("%s: Handle = %v, want an error matching codec.ErrUnencodable", name, err)
		}
		if _, v, _ := r.Load(ctx, "pay-"+name); v != 0 {
			t.Errorf("%s: %d events stored, want none", name, v)
		}
	}

	// An empty key is a key gone missing, not no key; so is one of white
	// space only (a header that held nothing else).
	for _, key := range []string{"", " ", "\t\r\n"} {
		if _, err := annals.NewRunner(s, counter, counterCodec()).Handle(ctx, "pay-empty", increment{}, annals.WithIdempotencyKey(key)); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "idempotency key is empty") {
			t.Errorf("the key %q: %v, want ErrInvalid saying the key is empty", key, err)
		}
	}
	if head, err := s.Head(ctx); err != nil || head != 0 {
		t.Errorf("head after the refused commands = %d, %v; want nothing stored", head, err)
	}

	r := annals.NewRunner(s, counterOf[taggedReplyPayment](), counterCodec())
	first, err := r.Handle(ctx, "pay", taggedReplyPayment{100, make(chan error)}, annals.WithIdempotencyKey("k"))
	if err != nil || first.Duplicate {
		t.Fatalf("first payment: %+v, %v", first, err)
	}
	retry, err := r.Handle(ctx, "pay", taggedReplyPayment{100, make(chan error)}, annals.WithIdempotencyKey("k"))
	if err != nil || !retry.Duplicate {
		t.Fatalf("the retry with another reply channel: %+v, %v; want a duplicate", retry, err)
	}
	if _, err := r.Handle(ctx, "pay", taggedReplyPayment{5, nil}, annals.WithIdempotencyKey("k")); !errors.Is(err, annals.ErrIdempotencyKey) {
		t.Fatalf("another amount under the key: %v, want ErrIdempotencyKey", err)
	}
}

// counterOf is the counter for commands of type C, whatever they hold.
func counterOf[C any]() decider.Decider[C, incremented, int] {
	return decider.Decider[C, incremented, int]{
		Decide: func(_ C, s int) ([]incremented, error) { return []incremented{{To: s + 1}}, nil },
		Evolve: counter.Evolve,
	}
}

// What cannot work is refused when it is built, not when it is first used.
func TestConstructorsRefuseWhatCannotWork(t *testing.T) {
	s := annals.New(memory.New())
	if msg := panicMessage(func() { annals.NewRunner(s, decider.Decider[increment, incremented, int]{}, counterCodec()) }); !strings.Contains(msg, "nil decider's Decide") || !strings.Contains(msg, "nil decider's Evolve") {
		t.Errorf("NewRunner with a zero decider panicked with %q, want a message naming Decide and Evolve", msg)
	}
	// An adapter of a decider without its Decide is refused as the
	// decider is, not when the first command reaches it.
	noDecide := counter
	noDecide.Decide = nil
	adapted := decider.MapState(noDecide, func(n int) int { return n }, func(n int) int { return n })
	if msg := panicMessage(func() { annals.NewRunner(s, adapted, counterCodec()) }); !strings.Contains(msg, "nil decider's Decide") {
		t.Errorf("NewRunner with MapState of a decider without Decide panicked with %q, want a message naming Decide", msg)
	}
	if msg := panicMessage(func() { annals.NewRunner[increment, incremented, int](s, counter, nil) }); !strings.Contains(msg, "mapper") {
		t.Errorf("NewRunner with no mapper panicked with %q, want a message naming the mapper", msg)
	}
	if msg := panicMessage(func() { annals.NewRunner(s, counter, (*codec.JSON[incremented])(nil)) }); !strings.Contains(msg, "mapper") {
		t.Errorf("NewRunner with a nil *codec.JSON panicked with %q, want a message naming the mapper", msg)
	}
	// Options of another runner's types, as a composite's parts given
	// one list would share them, name both types.
	if msg := panicMessage(func() {
		annals.NewRunner(s, counter, counterCodec(), annals.WithSnapshots(memory.New(), snapshot.Every(2), codec.NewJSON[tally]().Register("Tally", tally{})))
	}); !strings.Contains(msg, "snapshot mapper of annals_test.tally states, and the runner's state is a int") || !strings.Contains(msg, "options of its own") {
		t.Errorf("NewRunner with snapshots of another state panicked with %q, want both states named", msg)
	}
	if msg := panicMessage(func() {
		annals.NewRunner(s, counter, counterCodec(), annals.WithTags(func(tally) []string { return nil }))
	}); !strings.Contains(msg, "func(annals_test.tally) []string") || !strings.Contains(msg, "options of its own") {
		t.Errorf("NewRunner with tags of other events panicked with %q, want both types named", msg)
	}
	if msg := panicMessage(func() {
		annals.NewViewProjection(s, "v", view.View[tally, incremented]{}, counterCodec(), byStream)
	}); !strings.Contains(msg, "Evolve") {
		t.Errorf("NewViewProjection with no Evolve panicked with %q, want a message naming Evolve", msg)
	}
	if _, err := annals.NewSystem(s, annals.Mode(7)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("NewSystem(Mode(7)) = %v, want ErrInvalid", err)
	}
	sys := must(annals.NewSystem(s, annals.Sync))
	var none *annals.ViewProjection[tally, incremented]
	if err := sys.Add(newTally(s), nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Add(nil) = %v, want ErrInvalid", err)
	}
	if err := sys.Add(none); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Add of a nil *ViewProjection = %v, want ErrInvalid", err)
	}
	if err := sys.Add(newTally(s)); err != nil {
		t.Errorf("Add after the refusals: %v; want none of them added", err)
	}
}

// panicMessage runs f and returns what it panicked with, or "".
func panicMessage(f func()) (msg string) {
	defer func() {
		if v := recover(); v != nil {
			msg = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(toString(v), "\n", " "), "\t", " "))
		}
	}()
	f()
	return ""
}

func toString(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// Evolve runs before the write, as Decide does: a command whose events
// Evolve panics on panics in its Handle and stores nothing, whether it is
// handled alone or queued with others.
func TestAnEvolvePanicOnACommandsEventsStoresNothing(t *testing.T) {
	d := counter
	d.Evolve = func(s int, e incremented) int { panicsAt3(e); return counter.Evolve(s, e) }
	adapter := memory.New()
	r := annals.NewRunner(annals.New(adapter), d, counterCodec())
	appendN(t, r, "c", 2)
	if msg := panicMessage(func() { _, _ = r.Handle(context.Background(), "c", increment{}) }); msg != "the handler cannot take 3" {
		t.Fatalf("the command Evolve panics on: %q, want its panic", msg)
	}
	assertCounts(t, adapter, "c", 2)
}

// A stream ID or an idempotency key too long to store is refused with an
// error that quotes only its start, not the megabyte it may be.
func TestALongStreamIDOrKeyIsRefusedBriefly(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	long := strings.Repeat("x", 1<<20)
	_, handleErr := r.Handle(ctx, long, increment{})
	_, _, loadErr := r.Load(ctx, long)
	_, keyErr := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey(long))
	for what, err := range map[string]error{"Handle": handleErr, "Load": loadErr, "a long key": keyErr} {
		if !errors.Is(err, store.ErrInvalid) || len(err.Error()) > 300 {
			t.Errorf("%s: %d-byte error %.200q…, want store.ErrInvalid in a short error", what, len(fmt.Sprint(err)), fmt.Sprint(err))
		}
	}
	if head, _ := s.Head(ctx); head != 0 {
		t.Fatalf("head %d: a refused command stored events", head)
	}
	if _, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey(strings.Repeat("k", annals.MaxIdempotencyKeyLen))); err != nil {
		t.Fatalf("a key of the longest length: %v", err)
	}
}

// A nil where a constructor needs a value is refused there, with a
// message that names it, rather than a nil-pointer panic at the first
// command or event: an error from the constructors that return one, a
// panic that says what is nil from those that do not.
func TestNilArgumentsAreRefusedWhereTheyAreGiven(t *testing.T) {
	s := annals.New(memory.New())
	handle := func(context.Context, store.StateTx, annals.Envelope[incremented]) error { return nil }
	batch := func(context.Context, store.StateTx, []annals.Envelope[incremented]) (int, error) { return 0, nil }
	record := func(context.Context, store.StateTx, store.Record) error { return nil }
	records := func(context.Context, store.StateTx, []store.Record) (int, error) { return 0, nil }
	for name, c := range map[string]struct {
		build func() error
		want  string
	}{
		"NewProjection, nil store": {func() error { _, err := annals.NewProjection(nil, "p", counterCodec(), handle); return err }, "nil store"},
		"NewProjection, nil mapper": {func() error {
			_, err := annals.NewProjection(s, "p", (*codec.JSON[incremented])(nil), handle)
			return err
		}, "nil mapper"},
		"NewProjection, nil handler": {func() error {
			_, err := annals.NewProjection[store.StateTx](s, "p", counterCodec(), nil)
			return err
		}, "nil handler"},
		"NewBatchProjection, nil handler": {func() error {
			_, err := annals.NewBatchProjection[store.StateTx](s, "p", counterCodec(), nil)
			return err
		}, "nil handler"},
		"NewBatchProjection, nil store": {func() error { _, err := annals.NewBatchProjection(nil, "p", counterCodec(), batch); return err }, "nil store"},
		"NewRecordProjection, nil handler": {func() error {
			_, err := annals.NewRecordProjection[store.StateTx](s, "p", nil)
			return err
		}, "nil handler"},
		"NewRecordProjection, nil store": {func() error { _, err := annals.NewRecordProjection(nil, "p", record); return err }, "nil store"},
		"NewRecordBatchProjection, nil handler": {func() error {
			_, err := annals.NewRecordBatchProjection[store.StateTx](s, "p", nil)
			return err
		}, "nil handler"},
		"NewRecordBatchProjection, nil store": {func() error { _, err := annals.NewRecordBatchProjection(nil, "p", records); return err }, "nil store"},
		"NewSystem, nil store":                {func() error { _, err := annals.NewSystem(nil, annals.Sync); return err }, "nil store"},
		"Commit, nil function":                {func() error { return s.Commit(context.Background(), "p", 0, 1, nil) }, "nil function"},
	} {
		if err := c.build(); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want store.ErrInvalid saying %q", name, err, c.want)
		}
	}
	dcb := annals.DCBDecider[increment, incremented, int]{
		Decider: decider.Decider[increment, incremented, int]{
			Decide: func(increment, int) ([]incremented, error) { return nil, nil },
			Evolve: func(n int, _ incremented) int { return n },
		},
		Query: func(increment) store.Query { return store.Query{} },
		Tags:  func(incremented) []string { return nil },
	}
	for name, c := range map[string]struct {
		build func()
		want  string
	}{
		"New, nil adapter":         {func() { annals.New(nil) }, "nil adapter"},
		"NewDCBRunner, nil store":  {func() { annals.NewDCBRunner(nil, dcb, counterCodec()) }, "nil store"},
		"NewDCBRunner, nil mapper": {func() { annals.NewDCBRunner(s, dcb, (*codec.JSON[incremented])(nil)) }, "nil mapper"},
		"NewMapper, typed nil":     {func() { codec.NewMapper[incremented]((*codec.JSON[incremented])(nil)) }, "nil codec"},
		"Register, nil opener":     {func() { store.Register("nil-opener-test", nil) }, "nil opener"},
		"snapshot.Any, nil policy": {func() { snapshot.Any(snapshot.Every(10), nil) }, "policy 1 is nil"},
	} {
		if msg := panicMessage(c.build); !strings.Contains(msg, c.want) {
			t.Errorf("%s: panicked with %q; want a message saying %q", name, msg, c.want)
		}
	}
}

// A process whose state comes to hold what JSON would not store whole
// stops at the event that led there, as a view does, before the event's
// commands are sent: the events before it are committed, nothing of it is
// dispatched, the stop is reported once, and a Sync system's consumers
// after it still run. Before, the commit failed after the commands had
// gone out, an Async system retried that for good, sending them again each
// time, and a Sync settle gave up on the consumers after it.
func TestAProcessStateJSONWouldChangeStopsTheProcessAtItsEvent(t *testing.T) {
	type noted struct{ Note any }
	for _, mode := range []annals.Mode{annals.Sync, annals.Async} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s := annals.New(memory.New())
			sys := must(annals.NewSystem(s, mode))
			var reports atomic.Int32
			sys.OnError(func(string, error) { reports.Add(1) })
			var sent []int64
			var mu sync.Mutex
			p := annals.NewProcess(s, "notes", saga.Process[noted, incremented, increment]{
				Evolve: func(n noted, e incremented) noted {
					if e.To == 3 {
						return noted{Note: math.NaN()}
					}
					return noted{Note: e.To}
				},
				React: func(_ noted, e incremented) []increment { return []increment{{Limit: int(e.To)}} },
			}, counterCodec(), byStream, func(_ context.Context, c increment, _ annals.Cause) error {
				mu.Lock()
				defer mu.Unlock()
				sent = append(sent, int64(c.Limit))
				return nil
			})
			tl := newTally(s)
			if err := sys.Add(p, tl); err != nil {
				t.Fatal(err)
			}
			r := annals.NewRunner(s, counter, counterCodec())
			for i, stream := range []string{"a", "a", "a", "b"} { // a's third event is where its state holds NaN
				_, err := r.Handle(ctx, stream, increment{})
				if mode == annals.Sync && i == 2 && !errors.Is(err, annals.ErrStored) {
					t.Fatalf("the command whose event stops the process: %v, want ErrStored", err)
				} else if (mode == annals.Async || i != 2) && err != nil {
					t.Fatalf("command %d: %v", i, err)
				}
			}
			if mode == annals.Async {
				running, stop := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- sys.Run(running) }()
				defer func() { stop(); <-done }()
				for {
					st, err := sys.Status(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if p, _ := lo.Find(st, func(c annals.ConsumerStatus) bool { return c.Name == "notes" }); p.Stopped != nil {
						break
					}
					if ctx.Err() != nil {
						t.Fatal("the process never stopped")
					}
					time.Sleep(10 * time.Millisecond)
				}
				awaitPosition(t, ctx, tl, 4, "the view after the process")
				time.Sleep(1500 * time.Millisecond) // a Run that retried would send again
			}
			st, err := sys.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			notes, _ := lo.Find(st, func(c annals.ConsumerStatus) bool { return c.Name == "notes" })
			var stopped *annals.ConsumerError
			if !errors.As(notes.Stopped, &stopped) || stopped.Position != 3 || !errors.Is(notes.Stopped, codec.ErrUnencodable) {
				t.Fatalf("the process's status: %+v; want it stopped at position 3 with codec.ErrUnencodable", notes)
			}
			if notes.Checkpoint != 2 {
				t.Fatalf("the process's checkpoint: %d, want 2", notes.Checkpoint)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(sent, []int64{1, 2}) {
				t.Fatalf("the process sent %v, want [1 2]: nothing of the event whose state it cannot save", sent)
			}
			if n := reports.Load(); n != 1 {
				t.Fatalf("OnError was called %d times, want once", n)
			}
			if v, err := tl.Get(ctx, "b"); err != nil || v.Count != 1 {
				t.Fatalf("the view after the process: b counted %+v, %v; want 1", v, err)
			}
		})
	}
}
