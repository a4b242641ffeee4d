package annals_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// recorder writes down what an observer is told, one line per call,
// indented by how deep the call is nested in the operations before it.
type recorder struct {
	mu    sync.Mutex
	lines []string
	extra map[string]string // set on every append
}

type depthKey struct{}

func (r *recorder) start(ctx context.Context, line string) context.Context {
	d, _ := ctx.Value(depthKey{}).(int)
	r.add(d, line)
	return context.WithValue(ctx, depthKey{}, d+1)
}

func (r *recorder) end(ctx context.Context, line string) {
	r.add(ctx.Value(depthKey{}).(int)-1, line)
}

// anID is what a line shows of a decision's stream ID, which is new for
// each decision.
var anID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func (r *recorder) add(depth int, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, strings.Repeat("  ", depth)+anID.ReplaceAllString(line, "<id>"))
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := r.lines
	r.lines = nil
	return lines
}

func (r *recorder) StartCommand(ctx context.Context, c annals.CommandStart) context.Context {
	on := c.StreamID
	if c.Query != nil {
		on = fmt.Sprintf("%q query %v", c.StreamID, *c.Query)
	}
	return r.start(ctx, fmt.Sprintf("command %T on %s caused=%v", c.Command, on, c.Metadata.CausationID != ""))
}

func (r *recorder) EndCommand(ctx context.Context, c annals.CommandEnd) {
	line := fmt.Sprintf("command %s: %v events=%d version=%d attempts=%d conflicts=%d", c.StreamID, c.Outcome, c.Events, c.Version, c.Attempts, c.Conflicts)
	if c.Query != nil {
		line += fmt.Sprintf(" position=%d", c.Position)
	}
	if c.Duplicate {
		line += " duplicate"
	}
	r.end(ctx, line)
}

func (r *recorder) StartAppend(ctx context.Context, a *annals.AppendStart) context.Context {
	for k, v := range r.extra {
		a.SetExtra(k, v)
	}
	if c := a.Condition; c != nil {
		return r.start(ctx, fmt.Sprintf("append %s at %d if none of %v after %d: %d events", a.StreamID, a.Expected, c.FailIfEventsMatch, c.After, len(a.Events)))
	}
	return r.start(ctx, fmt.Sprintf("append %s at %d: %d events", a.StreamID, a.Expected, len(a.Events)))
}

func (r *recorder) EndAppend(ctx context.Context, a annals.AppendEnd) {
	line := fmt.Sprintf("append %s: version %d, %v", a.StreamID, a.Version, annals.OutcomeOf(a.Err))
	if a.Duplicate {
		line += " duplicate"
	}
	r.end(ctx, line)
}

func (r *recorder) StartRead(ctx context.Context, rs annals.ReadStart) context.Context {
	if rs.Query != nil {
		return r.start(ctx, fmt.Sprintf("read query %v after %d", *rs.Query, rs.After))
	}
	if rs.StreamID == "" {
		return r.start(ctx, fmt.Sprintf("read log after %d", rs.Log.After))
	}
	return r.start(ctx, fmt.Sprintf("read %s from %d", rs.StreamID, rs.From))
}

func (r *recorder) EndRead(ctx context.Context, rs annals.ReadEnd) {
	r.end(ctx, fmt.Sprintf("read: %d records", rs.Records))
}

func (r *recorder) StartBatch(ctx context.Context, b annals.BatchStart) context.Context {
	return r.start(ctx, fmt.Sprintf("batch %s after %d: %d records", b.Consumer, b.From, len(b.Records)))
}

func (r *recorder) EndBatch(ctx context.Context, b annals.BatchEnd) {
	r.end(ctx, fmt.Sprintf("batch %s: handled %d, checkpoint %d, %v", b.Consumer, b.Handled, b.To, b.Err))
}

// An observer sees each command with the loads and appends it made, and,
// in a Sync system, the batches that followed and the commands a saga
// sent, nested in them.
func TestObserverSeesCommandsAppendsReadsAndBatches(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	rec := &recorder{}
	s.Observe(rec)
	c := newCounters(s, annals.Sync)
	for range 2 {
		if _, err := c.runner.Handle(ctx, "a-1", increment{}); err != nil {
			t.Fatal(err)
		}
	}
	rec.take()
	if _, err := c.runner.Handle(ctx, "a-1", increment{}); err != nil {
		t.Fatal(err)
	}
	third := rec.take()
	want := []string{
		`command annals_test.increment on a-1 caused=false`,
		`  read a-1 from 1`,
		`  read: 2 records`,
		`  append a-1 at 2: 1 events`,
		`  append a-1: version 3, ok`,
		`  read log after 2`,
		`  read: 1 records`,
		`  batch tally after 2: 1 records`,
		`  batch tally: handled 1, checkpoint 3, <nil>`,
		`  read log after 2`,
		`  read: 1 records`,
		`  batch mirror after 2: 1 records`,
		`    command annals_test.increment on b-1 caused=true`,
		`      read b-1 from 1`,
		`      read: 0 records`,
		`      append b-1 at 0: 1 events`,
		`      append b-1: version 1, ok`,
		`    command b-1: ok events=1 version=1 attempts=1 conflicts=0`,
		`  batch mirror: handled 1, checkpoint 3, <nil>`,
	}
	if len(third) < len(want) || !slices.Equal(third[:len(want)], want) {
		t.Fatalf("the third command was observed as\n%s\nwant it to begin with\n%s", strings.Join(third, "\n"), strings.Join(want, "\n"))
	}
	last := third[len(third)-1]
	if last != "command a-1: ok events=1 version=3 attempts=1 conflicts=0" {
		t.Fatalf("the third command ended with %q", last)
	}

	s.Observe(nil)
	if _, err := c.runner.Handle(ctx, "a-1", increment{}); err != nil {
		t.Fatal(err)
	}
	if lines := rec.take(); len(lines) != 0 {
		t.Fatalf("observed after Observe(nil): %q", lines)
	}
}

// outcomeStore fails every append with the error it is set to.
type outcomeStore struct {
	*memory.Store
	fail error
}

func (o *outcomeStore) Append(ctx context.Context, stream string, expected int64, events []store.Event) (int64, error) {
	if o.fail != nil {
		return 0, o.fail
	}
	return o.Store.Append(ctx, stream, expected, events)
}

// Every outcome of a command is told apart, with its attempts.
func TestObserverIsToldEachOutcome(t *testing.T) {
	ctx := context.Background()
	adapter := &outcomeStore{Store: memory.New()}
	s := annals.New(adapter)
	sys := must(annals.NewSystem(s, annals.Sync))
	bad := must(annals.NewRecordProjection(s, "picky", func(_ context.Context, _ store.StateTx, r store.Record) error {
		if r.StreamID == "bad" {
			return errors.New("picky refuses")
		}
		return nil
	}))
	if err := sys.Add(bad); err != nil {
		t.Fatal(err)
	}
	var before func()
	racing := counter
	racing.Decide = func(c increment, n int) ([]incremented, error) {
		if before != nil {
			before()
		}
		return counter.Decide(c, n)
	}
	rec := &recorder{}
	s.Observe(rec)
	r := annals.NewRunner(s, racing, counterCodec(), annals.WithRetries(2), annals.WithBackoff(func(int) time.Duration { return 0 }))
	handle := func(stream string, c increment) {
		t.Helper()
		_, _ = r.Handle(ctx, stream, c)
	}
	handle("c", increment{})         // ok
	handle("c", increment{Limit: 1}) // rejected
	before = func() {                // someone else always appends first
		if _, err := adapter.Store.Append(ctx, "c", store.AnyVersion, []store.Event{{Type: "Incremented", Data: []byte(`{"To":7}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	handle("c", increment{}) // conflict, three times
	before = nil
	handle("bad", increment{}) // stored, then the projection failed
	adapter.fail = fmt.Errorf("connection reset: %w", store.ErrOutcomeUnknown)
	handle("c", increment{})
	adapter.fail = errors.New("disk full")
	handle("c", increment{})

	var got []string
	for _, l := range rec.take() {
		if strings.HasPrefix(l, "command ") && strings.Contains(l, ": ") {
			got = append(got, l)
		}
	}
	want := []string{
		"command c: ok events=1 version=1 attempts=1 conflicts=0",
		"command c: rejected events=0 version=1 attempts=1 conflicts=0",
		"command c: conflict events=0 version=3 attempts=3 conflicts=3",
		"command bad: stored_with_error events=1 version=1 attempts=1 conflicts=0",
		"command c: outcome_unknown events=0 version=0 attempts=1 conflicts=0",
		"command c: error events=0 version=0 attempts=1 conflicts=0",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("observed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// dcbOutcomes fails every conditional append with the error it is set to.
type dcbOutcomes struct {
	*memory.Store
	fail error
}

func (o *dcbOutcomes) AppendIf(ctx context.Context, stream string, expected int64, events []store.Event, cond store.AppendCondition) (int64, error) {
	if o.fail != nil {
		return 0, o.fail
	}
	return o.Store.AppendIf(ctx, stream, expected, events, cond)
}

// A DCB decision is observed as a command on its query, with its reads
// by query and its conditional append nested in it, and each outcome
// told apart; the store's own ReadQuery and AppendIf are observed too,
// and what the observer adds to a conditional append is stored with
// its events.
func TestObserverSeesDCBCommandsReadsByQueryAndConditionalAppends(t *testing.T) {
	ctx := context.Background()
	adapter := &dcbOutcomes{Store: memory.New()}
	s := annals.New(adapter)
	rec := &recorder{extra: map[string]string{"traceparent": "00-abc-def-01"}}
	s.Observe(rec)
	r := newSeats(s, annals.WithRetries(1), annals.WithBackoff(func(int) time.Duration { return 0 }))
	same := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s was observed as\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	ends := func(lines []string) []string {
		var out []string
		for _, l := range lines {
			if strings.HasPrefix(l, "command ") && strings.Contains(l, ": ") {
				out = append(out, l)
			}
		}
		return out
	}

	first, err := r.Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("req-1"))
	if err != nil {
		t.Fatal(err)
	}
	same("a first seat", rec.take(), []string{
		`command annals_test.takeSeat on "" query (SeatTaken|SlotClosed)[slot:a] caused=false`,
		`  read query (SeatTaken|SlotClosed)[slot:a] after 0`,
		`  read: 0 records`,
		`  append seat/<id> at 0 if none of (SeatTaken|SlotClosed)[slot:a] after 0: 1 events`,
		`  append seat/<id>: version 1, ok`,
		`command seat/<id>: ok events=1 version=0 attempts=1 conflicts=0 position=0`,
	})
	if _, err := r.Handle(ctx, takeSeat{"a", "ada"}, annals.WithIdempotencyKey("req-1")); err != nil {
		t.Fatal(err)
	}
	same("the same command again", ends(rec.take()), []string{
		`command seat/<id>: ok events=0 version=0 attempts=1 conflicts=0 position=1 duplicate`,
	})
	// A decider that decides again on a repeat finds the key's stream
	// taken: the repeat is a duplicate, not a conflict.
	again := seatDCB
	again.Decide = func(c takeSeat, _ seats) ([]seatEvent, error) { return []seatEvent{seatTaken(c)}, nil }
	repeat := annals.NewDCBRunner(s, again, seatCodec())
	for range 2 {
		if _, err := repeat.Handle(ctx, takeSeat{"e", "gus"}, annals.WithIdempotencyKey("req-2")); err != nil {
			t.Fatal(err)
		}
	}
	same("a command that decides again, twice", ends(rec.take()), []string{
		`command seat/<id>: ok events=1 version=0 attempts=1 conflicts=0 position=0`,
		`command seat/<id>: ok events=0 version=0 attempts=1 conflicts=0 position=2 duplicate`,
	})
	// The same, with the observer removed while the repeat decides: its
	// append was not counted, so nothing is taken back.
	unobserved := again
	unobserved.Decide = func(c takeSeat, st seats) ([]seatEvent, error) {
		s.Observe(nil)
		return again.Decide(c, st)
	}
	if _, err := repeat.Handle(ctx, takeSeat{"f", "hal"}, annals.WithIdempotencyKey("req-3")); err != nil {
		t.Fatal(err)
	}
	if _, err := annals.NewDCBRunner(s, unobserved, seatCodec()).Handle(ctx, takeSeat{"f", "hal"}, annals.WithIdempotencyKey("req-3")); err != nil {
		t.Fatal(err)
	}
	s.Observe(rec)
	same("a repeat whose observer went while it decided", ends(rec.take()), []string{
		`command seat/<id>: ok events=1 version=0 attempts=1 conflicts=0 position=0`,
		`command seat/<id>: ok events=0 version=0 attempts=1 conflicts=0 position=3 duplicate`,
	})
	for _, who := range []string{"bob", "cy"} {
		if _, err := r.Handle(ctx, takeSeat{"a", who}); err != nil {
			t.Fatal(err)
		}
	}
	rec.take()
	if _, err := r.Handle(ctx, takeSeat{"a", "dee"}); !errors.Is(err, errSlotFull) {
		t.Fatalf("a seat of a full slot: %v, want it full", err)
	}
	same("a seat of a full slot", ends(rec.take()), []string{
		`command : rejected events=0 version=0 attempts=1 conflicts=0 position=5`,
	})
	// Someone else always takes a seat first: the command gives up.
	racing := seatDCB
	racing.Decide = func(c takeSeat, st seats) ([]seatEvent, error) {
		ev := store.Event{Type: "SeatTaken", Data: []byte(`{"Slot":"b","Who":"x"}`), Tags: []string{"slot:b"}}
		if _, err := adapter.Store.Append(ctx, "someone-"+fmt.Sprint(len(st.Taken)), store.NoStream, []store.Event{ev}); err != nil {
			t.Fatal(err)
		}
		return seatDecider.Decide(c, st)
	}
	loser := annals.NewDCBRunner(s, racing, seatCodec(), annals.WithRetries(1), annals.WithBackoff(func(int) time.Duration { return 0 }))
	if _, err := loser.Handle(ctx, takeSeat{"b", "eve"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a seat raced for: %v, want a conflict", err)
	}
	same("a seat raced for", ends(rec.take()), []string{
		`command : conflict events=0 version=0 attempts=2 conflicts=2 position=6`,
	})
	adapter.fail = errors.New("disk full")
	if _, err := r.Handle(ctx, takeSeat{"c", "fay"}); err == nil {
		t.Fatal("a seat on a full disk succeeded")
	}
	adapter.fail = nil
	same("a seat on a full disk", ends(rec.take()), []string{
		`command : error events=0 version=0 attempts=1 conflicts=0 position=0`,
	})

	// The store's own conditional appends and reads by query.
	closed := store.QueryItems(store.QueryItem{Types: []string{"SlotClosed"}, Tags: []string{"slot:d"}})
	closing := []store.Event{{Type: "SlotClosed", Data: []byte(`{"Slot":"d"}`), Tags: []string{"slot:d"}}}
	if _, err := s.AppendIf(ctx, "closer-1", store.NoStream, closing, store.AppendCondition{FailIfEventsMatch: closed}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendIf(ctx, "closer-2", store.NoStream, closing, store.AppendCondition{FailIfEventsMatch: closed}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second close: %v, want a conflict", err)
	}
	recs, err := collectRecords(s.ReadQuery(ctx, closed, 0))
	if err != nil || len(recs) != 1 {
		t.Fatalf("read the closes: %v, %v", recs, err)
	}
	same("the store's own conditional appends and read", rec.take(), []string{
		`append closer-1 at 0 if none of (SlotClosed)[slot:d] after 0: 1 events`,
		`append closer-1: version 1, ok`,
		`append closer-2 at 0 if none of (SlotClosed)[slot:d] after 0: 1 events`,
		`append closer-2: version 0, conflict`,
		`read query (SlotClosed)[slot:d] after 0`,
		`read: 1 records`,
	})
	seat, err := collectRecords(s.ReadStream(ctx, first.StreamID, 1))
	if err != nil || len(seat) != 1 {
		t.Fatalf("read the first seat: %v, %v", seat, err)
	}
	for _, r := range []store.Record{seat[0], recs[0]} {
		if got := r.Metadata.Extra["traceparent"]; got != "00-abc-def-01" {
			t.Errorf("the conditional append to %s stored metadata %v, want the observer's traceparent", r.StreamID, r.Metadata.Extra)
		}
	}
}

// An append that the store refuses because a command's idempotency key
// was handled already is observed as the duplicate it is, on a stream
// (the key's event IDs are stored) and on a DCB query (the key's stream
// exists), and when the key turns out to be another stream's; the
// refusals of other appends are not: an event ID stored already without
// a key, a version conflict of a command with a key.
func TestObserverIsToldAnAppendRefusedForItsKeyIsADuplicate(t *testing.T) {
	ctx := context.Background()
	adapter := memory.New()
	s := annals.New(adapter)
	rec := &recorder{}
	s.Observe(rec)
	appends := func() []string {
		var out []string
		for _, l := range rec.take() {
			if l = strings.TrimSpace(l); strings.HasPrefix(l, "append ") && strings.Contains(l, ": version") {
				out = append(out, l)
			}
		}
		return out
	}
	same := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: appends observed as\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	r := annals.NewRunner(s, counter, counterCodec())
	for range 2 {
		if _, err := r.Handle(ctx, "c-1", increment{}, annals.WithIdempotencyKey("k")); err != nil {
			t.Fatal(err)
		}
	}
	same("a command with a key, twice", appends(), []string{
		"append c-1: version 1, ok",
		"append c-1: version 0, error duplicate",
	})
	if _, err := r.Handle(ctx, "c-2", increment{}, annals.WithIdempotencyKey("k")); !errors.Is(err, annals.ErrIdempotencyKey) {
		t.Fatalf("the key on another stream: %v, want ErrIdempotencyKey", err)
	}
	same("the key on another stream", appends(), []string{"append c-2: version 0, error duplicate"})

	stored, err := collectRecords(s.ReadStream(ctx, "c-1", 1))
	if err != nil || len(stored) != 1 {
		t.Fatalf("read c-1: %v, %v", stored, err)
	}
	again := store.Event{ID: stored[0].ID, Type: "Incremented", Data: []byte(`{"To":1}`)}
	if _, err := s.Append(ctx, "c-3", store.NoStream, []store.Event{again}); !errors.Is(err, store.ErrDuplicateEvent) {
		t.Fatalf("an event ID stored already: %v, want ErrDuplicateEvent", err)
	}
	same("an event ID stored already, without a key", appends(), []string{"append c-3: version 0, error"})

	// Someone else appends once while the command decides: its first
	// append conflicts, a conflict like any other.
	first := true
	racing := counter
	racing.Decide = func(c increment, n int) ([]incremented, error) {
		if first {
			first = false
			if _, err := adapter.Append(ctx, "c-4", store.AnyVersion, []store.Event{{Type: "Incremented", Data: []byte(`{"To":1}`)}}); err != nil {
				t.Fatal(err)
			}
		}
		return counter.Decide(c, n)
	}
	if _, err := annals.NewRunner(s, racing, counterCodec(), annals.WithBackoff(func(int) time.Duration { return 0 })).Handle(ctx, "c-4", increment{}, annals.WithIdempotencyKey("k4")); err != nil {
		t.Fatal(err)
	}
	same("a command with a key that conflicted", appends(), []string{
		"append c-4: version 0, conflict",
		"append c-4: version 2, ok",
	})

	// A DCB decider that decides again on a repeat finds the key's
	// stream taken.
	decidesAgain := seatDCB
	decidesAgain.Decide = func(c takeSeat, _ seats) ([]seatEvent, error) { return []seatEvent{seatTaken(c)}, nil }
	seats := annals.NewDCBRunner(s, decidesAgain, seatCodec())
	for range 2 {
		if _, err := seats.Handle(ctx, takeSeat{"e", "gus"}, annals.WithIdempotencyKey("req-2")); err != nil {
			t.Fatal(err)
		}
	}
	same("a DCB command with a key, twice", appends(), []string{
		"append seat/<id>: version 1, ok",
		"append seat/<id>: version 0, conflict duplicate",
	})
}

// Metadata an observer adds to an append is stored with each event, and
// the caller's events are left as they were.
func TestObserverAddsMetadataToAppends(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	s.Observe(&recorder{extra: map[string]string{"traceparent": "00-abc-def-01"}})
	mine := map[string]string{"tenant": "t1"}
	events := []store.Event{
		{Type: "Incremented", Data: []byte(`{"To":1}`), Metadata: store.Metadata{CorrelationID: "c1", Extra: mine}},
		{Type: "Incremented", Data: []byte(`{"To":2}`)},
	}
	if _, err := s.Append(ctx, "x", store.NoStream, events); err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || events[1].Metadata.Extra != nil {
		t.Fatalf("the caller's metadata changed: %v, %v", mine, events[1].Metadata.Extra)
	}
	var stored []store.Metadata
	for r, err := range s.ReadStream(ctx, "x", 1) {
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, r.Metadata)
	}
	if got := fmt.Sprint(stored); got != "[{c1  map[tenant:t1 traceparent:00-abc-def-01]} {  map[traceparent:00-abc-def-01]}]" {
		t.Fatalf("stored metadata = %s", got)
	}
}

func TestOutcomeOf(t *testing.T) {
	for err, want := range map[error]annals.Outcome{
		nil:                                     annals.OutcomeOK,
		fmt.Errorf("x: %w", annals.ErrRejected): annals.OutcomeRejected,
		&store.ConflictError{StreamID: "s"}:     annals.OutcomeConflict,
		&annals.StoredError{Err: store.ErrConflict}:  annals.OutcomeStoredWithError,
		fmt.Errorf("x: %w", store.ErrOutcomeUnknown): annals.OutcomeUnknown,
		store.ErrInvalid: annals.OutcomeFailed,
	} {
		if got := annals.OutcomeOf(err); got != want {
			t.Errorf("OutcomeOf(%v) = %v, want %v", err, got, want)
		}
	}
}

// ends keeps the ends of the commands it observes, beside a recorder.
type ends struct {
	recorder
	mu   sync.Mutex
	ends []annals.CommandEnd
}

func (e *ends) EndCommand(ctx context.Context, c annals.CommandEnd) {
	e.mu.Lock()
	e.ends = append(e.ends, c)
	e.mu.Unlock()
	e.recorder.EndCommand(ctx, c)
}

// A command whose Decide panics still ends under an observer, so that no
// span is left open, and the panic goes on to the caller with its own
// value, on a stream and on a DCB query alike.
func TestAnObservedCommandThatPanicsStillEnds(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("Decide cannot take this")
	panicky := counter
	panicky.Decide = func(increment, int) ([]incremented, error) { panic(boom) }
	seatsPanic := seatDCB
	seatsPanic.Decide = func(takeSeat, seats) ([]seatEvent, error) { panic(boom) }
	for name, handle := range map[string]func(*annals.Store){
		"stream": func(s *annals.Store) {
			_, _ = annals.NewRunner(s, panicky, counterCodec()).Handle(ctx, "c-1", increment{})
		},
		"dcb": func(s *annals.Store) {
			_, _ = annals.NewDCBRunner(s, seatsPanic, seatCodec()).Handle(ctx, takeSeat{"a", "ada"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := annals.New(memory.New())
			obs := &ends{}
			s.Observe(obs)
			func() {
				defer func() {
					if v := recover(); v != boom {
						t.Errorf("Handle panicked with %v; want Decide's own value", v)
					}
				}()
				handle(s)
			}()
			if len(obs.ends) != 1 {
				t.Fatalf("the command ended %d times; want once\n%s", len(obs.ends), strings.Join(obs.take(), "\n"))
			}
			end := obs.ends[0]
			if end.Outcome != annals.OutcomeUnknown || annals.OutcomeOf(end.Err) != annals.OutcomeUnknown || !strings.Contains(end.Err.Error(), "panicked") || end.Attempts != 1 {
				t.Fatalf("the command ended as %v, attempts %d, err %v; want outcome_unknown after one attempt, saying it panicked", end.Outcome, end.Attempts, end.Err)
			}
			if lines := obs.take(); !strings.HasPrefix(lines[len(lines)-1], "command ") {
				t.Fatalf("the command's end is not the last thing observed:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}
