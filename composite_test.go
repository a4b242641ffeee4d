package annals_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/internal/testdomain"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// Concerts, accounts and counters, each kind of instance in streams of
// its own.
var (
	concertStreams = codec.StreamPrefix[string]("concert-")
	accountStreams = codec.StreamPrefix[string]("account-")
	gaugeStreams   = codec.StreamPrefix[int]("gauge-")
)

// A gauge counts up by the amount it is given, and refuses to go past
// ten.
var gauge = decider.Decider[int, int, int]{
	Decide: func(n, total int) ([]int, error) {
		if total+n > 10 {
			return nil, fmt.Errorf("%d more would pass ten", n)
		}
		return []int{n}, nil
	},
	Evolve: func(total, n int) int { return total + n },
}

func gaugeCodec() *codec.JSON[int] { return codec.NewJSON[int]().Register("Counted", 0) }

func newConcerts(s *annals.Store, opts ...annals.RunnerOption) *annals.Instances[string, Buy, Sold, int] {
	return annals.NewInstances(s, concert, codec.NewKeyed(concertStreams, concertCodec()), opts...)
}

func newAccounts(s *annals.Store) *annals.Instances[string, testdomain.AccountCmd, testdomain.AccountEvent, testdomain.Account] {
	return annals.NewInstances(s, testdomain.Accounts, codec.NewKeyed(accountStreams, codec.Mapper[testdomain.AccountEvent](testdomain.AccountCodec())))
}

func newGauges(s *annals.Store) *annals.Instances[int, int, int, int] {
	return annals.NewInstances(s, gauge, codec.NewKeyed(gaugeStreams, gaugeCodec()))
}

func streamTypes(t *testing.T, s store.Store, stream string) []string {
	t.Helper()
	var types []string
	for rec, err := range s.ReadStream(context.Background(), stream, 1) {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, rec.Type)
	}
	return types
}

func TestInstancesRunOneStreamPerInstance(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	concerts := newConcerts(s)
	for range 3 {
		if _, err := concerts.Handle(ctx, decider.Keyed[string, Buy]{Key: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := concerts.Handle(ctx, decider.Keyed[string, Buy]{Key: "b"})
	if err != nil || !reflect.DeepEqual(res, annals.Result[Sold, int]{Events: []Sold{{Seat: 1}}, State: 1, Version: 1}) {
		t.Fatalf("first seat of concert b: %+v, %v", res, err)
	}
	res, err = concerts.Handle(ctx, decider.Keyed[string, Buy]{Key: "a"})
	if !errors.Is(err, errSoldOut) || !errors.Is(err, annals.ErrRejected) || res.State != 3 || res.Version != 3 {
		t.Fatalf("a fourth seat of concert a: %+v, %v; want a rejection in state 3 at version 3", res, err)
	}
	if got := streamTypes(t, s, "concert-a"); len(got) != 3 {
		t.Fatalf("stream concert-a holds %v, want three seats", got)
	}
	if got := streamTypes(t, s, "concert-b"); len(got) != 1 {
		t.Fatalf("stream concert-b holds %v, want one seat", got)
	}
	if sold, v, err := concerts.Load(ctx, "a"); sold != 3 || v != 3 || err != nil {
		t.Fatalf("Load(a) = %d, %d, %v", sold, v, err)
	}
	if sold, v, err := concerts.Load(ctx, "c"); sold != 0 || v != 0 || err != nil {
		t.Fatalf("Load of an instance with no events = %d, %d, %v", sold, v, err)
	}
	// An empty key is an ID left unset: it names no instance, through
	// the instances or a composite of them.
	head, _ := s.Head(ctx)
	if _, err := concerts.Handle(ctx, decider.Keyed[string, Buy]{}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "an ID left unset") {
		t.Fatalf("a command with an empty key: %v, want store.ErrInvalid", err)
	}
	if _, err := annals.NewComposite(library, concerts, newAccounts(s)).Handle(ctx, buy("")); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a composite's command with an empty key: %v, want store.ErrInvalid", err)
	}
	if _, _, err := concerts.Load(ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Load with an empty key: %v, want store.ErrInvalid", err)
	}
	byID := annals.NewInstances(s, concert, codec.NewKeyed(codec.StreamPrefix[uuid.UUID]("concert-by-id-"), concertCodec()))
	if _, err := byID.Handle(ctx, decider.Keyed[uuid.UUID, Buy]{Key: uuid.Nil}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a command with the nil UUID as its key: %v, want store.ErrInvalid", err)
	}
	if _, err := byID.Handle(ctx, decider.Keyed[uuid.UUID, Buy]{Key: uuid.New()}); err != nil {
		t.Fatalf("a command with a UUID key: %v", err)
	}
	head++ // the UUID-keyed seat
	if after, _ := s.Head(ctx); after != head {
		t.Fatalf("the head moved from %d to %d: commands with empty keys stored events", head, after)
	}
}

// An instance is a Runner's stream: a rival's append between the load and
// the append is caught up with and decided again, and the cache and
// snapshots are the runner's.
func TestInstancesHaveTheRunnersLoop(t *testing.T) {
	ctx := context.Background()
	mem := annals.New(memory.New())
	rival := newConcerts(mem)
	s := annals.New(&rivalStore{Store: mem, rival: func() {
		if _, err := rival.Handle(ctx, decider.Keyed[string, Buy]{Key: "a"}); err != nil {
			t.Error(err)
		}
	}})
	concerts := newConcerts(s, annals.WithCache(8), annals.WithSnapshots(mem, snapshot.Every(2), codec.NewJSON[int]().Register("Sold", 0)))
	res, err := concerts.Handle(ctx, decider.Keyed[string, Buy]{Key: "a"})
	if err != nil || res.Events[0].Seat != 2 || res.Version != 2 {
		t.Fatalf("after a rival's seat: %+v, %v; want seat 2", res, err)
	}
	snap, ok, err := mem.LatestSnapshot(ctx, "concert-a")
	if err != nil || !ok || snap.Version != 2 {
		t.Fatalf("snapshot of concert-a: %+v, %v, %v; want one at version 2", snap, ok, err)
	}
}

// WithTags given the keyed event tags each instance's events with its
// key, which a query then finds them by; given the event alone it tags by
// the event, as for a Runner; given anything else NewInstances panics.
func TestInstancesTagTheirEventsWithTheirKeys(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	byKey := newConcerts(s, annals.WithTags(func(e decider.Keyed[string, Sold]) []string {
		return []string{"concert:" + e.Key, fmt.Sprint("seat:", e.Value.Seat)}
	}))
	for _, key := range []string{"a", "b", "a"} {
		if _, err := byKey.Handle(ctx, decider.Keyed[string, Buy]{Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := collectRecords(s.ReadQuery(ctx, store.QueryItems(store.QueryItem{Tags: []string{"concert:a"}}), 0))
	if err != nil {
		t.Fatal(err)
	}
	got := lo.Map(recs, func(r store.Record, _ int) string { return r.StreamID + " " + strings.Join(r.Tags, ",") })
	if want := []string{"concert-a concert:a,seat:1", "concert-a concert:a,seat:2"}; !slices.Equal(got, want) {
		t.Fatalf("the events tagged concert:a: %q, want %q", got, want)
	}

	byEvent := newConcerts(s, annals.WithTags(func(e Sold) []string { return []string{fmt.Sprint("seat:", e.Seat)} }))
	if _, err := byEvent.Handle(ctx, decider.Keyed[string, Buy]{Key: "c"}); err != nil {
		t.Fatal(err)
	}
	recs, err = collectRecords(s.ReadQuery(ctx, store.QueryItems(store.QueryItem{Tags: []string{"seat:1"}}), 0))
	if err != nil || len(recs) != 3 || recs[2].StreamID != "concert-c" || !slices.Equal(recs[2].Tags, []string{"seat:1"}) {
		t.Fatalf("the events tagged seat:1: %+v, %v; want concert c's among them, tagged by its event", recs, err)
	}

	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "want a func(annals_test.Sold) []string or a func(decider.Keyed[string,") {
			t.Fatalf("NewInstances with tags of another event type: panic %v", r)
		}
	}()
	newConcerts(s, annals.WithTags(func(e int) []string { return nil }))
}

// library combines many concerts with many accounts.
var library = decider.Combine(decider.Many[string](concert), decider.Many[string](testdomain.Accounts))

type (
	libraryCommand = decider.Either[decider.Keyed[string, Buy], decider.Keyed[string, testdomain.AccountCmd]]
	libraryEvent   = decider.Either[decider.Keyed[string, Sold], decider.Keyed[string, testdomain.AccountEvent]]
	libraryState   = decider.Pair[map[string]int, map[string]testdomain.Account]
)

func buy(key string) libraryCommand {
	return decider.Left[decider.Keyed[string, Buy], decider.Keyed[string, testdomain.AccountCmd]](decider.Keyed[string, Buy]{Key: key})
}

func open(key string) libraryCommand {
	return decider.Right[decider.Keyed[string, Buy]](decider.Keyed[string, testdomain.AccountCmd]{Key: key, Value: testdomain.AccountCmd{Open: true, CustomerID: key}})
}

func TestCompositeRoutesEachCaseToItsPart(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	c := annals.NewComposite(library, newConcerts(s), newAccounts(s))

	res, err := c.Handle(ctx, buy("a"))
	want := annals.Result[libraryEvent, libraryState]{
		Events:  []libraryEvent{decider.Left[decider.Keyed[string, Sold], decider.Keyed[string, testdomain.AccountEvent]](decider.Keyed[string, Sold]{Key: "a", Value: Sold{Seat: 1}})},
		State:   libraryState{First: map[string]int{"a": 1}, Second: map[string]testdomain.Account{}},
		Version: 1,
	}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Fatalf("buy a seat: %#v, %v\nwant %#v", res, err, want)
	}
	res, err = c.Handle(ctx, open("ada"))
	if err != nil || res.State.Second["ada"].CustomerID != "ada" || len(res.State.First) != 0 || res.Version != 1 {
		t.Fatalf("open an account: %#v, %v", res, err)
	}
	res, err = c.Handle(ctx, open("ada"))
	if !errors.Is(err, testdomain.ErrAlreadyOpen) || !errors.Is(err, annals.ErrRejected) || res.State.Second["ada"].CustomerID != "ada" || res.Version != 1 {
		t.Fatalf("open it again: %#v, %v; want a rejection with the account's state", res, err)
	}
	if got := streamTypes(t, s, "account-ada"); !reflect.DeepEqual(got, []string{"AccountOpened"}) {
		t.Fatalf("stream account-ada holds %v", got)
	}

	// The log reads back as the composite's events, keys and all.
	recs, err := s.ReadLog(ctx, store.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	for _, rec := range recs {
		e, err := c.Events().FromRecord(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, e.String())
	}
	if want := []string{`Left({Key:"a" Value:Sold{Seat:1}})`, `Right({Key:"ada" Value:AccountOpened{CustomerID:ada Holder: Email:}})`}; !reflect.DeepEqual(read, want) {
		t.Fatalf("the log read as the composite's events:\n%q\nwant\n%q", read, want)
	}
}

// Parts whose instances may share streams, through one prefix or
// prefixes that meet, are refused when the composite is built: each
// would load the other's events as its own and decide on them, with no
// error until a type it does not read came along.
func TestACompositeRefusesPartsThatMayShareStreams(t *testing.T) {
	s := annals.New(memory.New())
	for _, prefixes := range [][2]string{{"x-", "x-"}, {"ord-", "ord-inv-"}, {"ord-inv-", "ord-"}} {
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			annals.NewComposite(library,
				annals.NewInstances(s, concert, codec.NewKeyed(codec.StreamPrefix[string](prefixes[0]), concertCodec())),
				annals.NewInstances(s, testdomain.Accounts, codec.NewKeyed(codec.StreamPrefix[string](prefixes[1]), codec.Mapper[testdomain.AccountEvent](testdomain.AccountCodec()))))
			return ""
		}()
		if want := fmt.Sprintf("prefixed %q and %q", prefixes[0], prefixes[1]); !strings.Contains(msg, "annals.NewComposite") || !strings.Contains(msg, want) || strings.HasSuffix(msg, "unencodable type") {
			t.Errorf("parts prefixed %q and %q: NewComposite = %q; want a refusal naming both prefixes", prefixes[0], prefixes[1], msg)
		}
	}
	// Prefixes that do not meet make a composite.
	annals.NewComposite(library,
		annals.NewInstances(s, concert, codec.NewKeyed(codec.StreamPrefix[string]("ord-"), concertCodec())),
		annals.NewInstances(s, testdomain.Accounts, codec.NewKeyed(codec.StreamPrefix[string]("inv-"), codec.Mapper[testdomain.AccountEvent](testdomain.AccountCodec()))))
}

// A composite of three deciders takes the value Combine3 returns, and
// the commands its methods build.
func TestCompositeOfCombined3(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	three := decider.Combine3(decider.Many[string](concert), decider.Many[string](testdomain.Accounts), decider.Many[int](gauge))
	c := annals.NewComposite(three, newConcerts(s), newAccounts(s), newGauges(s))

	res, err := c.Handle(ctx, three.Third(decider.Keyed[int, int]{Key: 7, Value: 4}))
	if err != nil || !reflect.DeepEqual(res.Events, []decider.Sum3[decider.Keyed[string, Sold], decider.Keyed[string, testdomain.AccountEvent], decider.Keyed[int, int]]{three.ThirdEvent(decider.Keyed[int, int]{Key: 7, Value: 4})}) {
		t.Fatalf("count 4 on gauge 7: %v, %v", res, err)
	}
	if res.State.Third[7] != 4 || len(res.State.First) != 0 {
		t.Fatalf("state after counting: %v", res.State)
	}
	if _, err := c.Handle(ctx, three.Third(decider.Keyed[int, int]{Key: 7, Value: 7})); !errors.Is(err, annals.ErrRejected) {
		t.Fatalf("counting past ten: %v, want a rejection", err)
	}
	if _, err := c.Handle(ctx, three.First(decider.Keyed[string, Buy]{Key: "x"})); err != nil {
		t.Fatal(err)
	}
	if got := streamTypes(t, s, "gauge-7"); !reflect.DeepEqual(got, []string{"Counted"}) {
		t.Fatalf("stream gauge-7 holds %v", got)
	}
}

// A part of a composite can be a composite: Combine(a, Combine(b, c)).
func TestNestedComposite(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	inner := decider.Combine(decider.Many[string](testdomain.Accounts), decider.Many[int](gauge))
	outer := decider.Combine(decider.Many[string](concert), inner)
	c := annals.NewComposite(outer, newConcerts(s), annals.NewComposite(inner, newAccounts(s), newGauges(s)))

	cmd := decider.Right[decider.Keyed[string, Buy]](decider.Right[decider.Keyed[string, testdomain.AccountCmd]](decider.Keyed[int, int]{Key: 3, Value: 2}))
	res, err := c.Handle(ctx, cmd)
	if err != nil || res.State.Second.Second[3] != 2 || res.Version != 1 || len(res.Events) != 1 {
		t.Fatalf("a nested command: %v, %v", res, err)
	}
	if got := res.Events[0].String(); got != "Right(Right({Key:3 Value:2}))" {
		t.Fatalf("event %s", got)
	}
	loaded, err := c.Load(ctx, outer.Fold(outer.InitialState(), res.Events))
	if err != nil || !reflect.DeepEqual(loaded, res.State) {
		t.Fatalf("loaded back %v, %v; want %v", loaded, err, res.State)
	}
}

func TestNewCompositePanicsOnPartsThatDoNotFit(t *testing.T) {
	s := annals.New(memory.New())
	other := annals.New(memory.New())
	plain := decider.MapState(library, func(p libraryState) int { return len(p.First) }, func(int) libraryState { return library.InitialState() })
	for name, c := range map[string]struct {
		build func()
		says  string
	}{
		"too few parts":      {func() { annals.NewComposite(library, newConcerts(s)) }, "1 parts for 2 cases"},
		"parts swapped":      {func() { annals.NewComposite(library, newAccounts(s), newConcerts(s)) }, "part 0 runs decider.Keyed[string,github.com/annals-dev/annals/internal/testdomain.AccountCmd] commands"},
		"not a sum":          {func() { annals.NewComposite(decider.Many[string](concert), newConcerts(s)) }, "must be sums of package decider"},
		"a state of no part": {func() { annals.NewComposite(plain, newConcerts(s), newAccounts(s)) }, "its state must have a field per part"},
		"two stores":         {func() { annals.NewComposite(library, newConcerts(s), newAccounts(other)) }, "part 1 runs on another store"},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), c.says) {
					t.Errorf("%s: panic %v, want one saying %q", name, r, c.says)
				}
			}()
			c.build()
		}()
	}
}

// For any commands, the composite stored one stream per instance agrees
// with the pure composition.
func TestCompositeEqualsPureComposition(t *testing.T) {
	s := annals.New(memory.New())
	runs := 0
	command := rapid.Custom(func(t *rapid.T) libraryCommand {
		key := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "key")
		if rapid.Bool().Draw(t, "concert") {
			return buy(key)
		}
		if rapid.Bool().Draw(t, "open") {
			return open(key)
		}
		return decider.Right[decider.Keyed[string, Buy]](decider.Keyed[string, testdomain.AccountCmd]{Key: key, Value: testdomain.AccountCmd{Amount: rapid.Int64Range(-1, 9).Draw(t, "amount")}})
	})
	proptest.CompositeEqualsPure(t, library, func(t *rapid.T) *annals.Composite[libraryCommand, libraryEvent, libraryState] {
		// Streams of their own for every run, on one store.
		runs++
		prefix := fmt.Sprintf("run%d-", runs)
		return annals.NewComposite(library,
			annals.NewInstances(s, concert, codec.NewKeyed(codec.StreamPrefix[string](prefix+"concert-"), concertCodec())),
			annals.NewInstances(s, testdomain.Accounts, codec.NewKeyed(codec.StreamPrefix[string](prefix+"account-"), codec.Mapper[testdomain.AccountEvent](testdomain.AccountCodec()))))
	}, command)
}

// Options reach the part's runner: a command handled again with its
// idempotency key is answered "already done", with the instance's state
// and the events the first call appended.
func TestCompositePassesOptionsToItsParts(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	c := annals.NewComposite(library, newConcerts(s), newAccounts(s))
	first, err := c.Handle(ctx, buy("a"), annals.WithIdempotencyKey("req-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Handle(ctx, buy("a"), annals.WithIdempotencyKey("req-1"))
	if err != nil || !again.Duplicate || !reflect.DeepEqual(again.Events, first.Events) || !reflect.DeepEqual(again.State, first.State) || again.Version != 1 {
		t.Fatalf("the same command again: %#v, %v; want a duplicate at version 1 with the first call's events %v and state %v", again, err, first.Events, first.State)
	}
	if sold, _, _ := newConcerts(s).Load(ctx, "a"); sold != 1 {
		t.Fatalf("concert a sold %d seats, want 1", sold)
	}
}

// A combined decider run in one stream takes commands of a sum type,
// which JSON cannot write: keyed, they are told apart by the case they
// hold and its command, so a retry is a duplicate and the key reused
// with the other case, or other content, is refused.
func TestAKeyedCommandOfACombinedDeciderIsToldByItsCase(t *testing.T) {
	ctx := context.Background()
	type (
		command = decider.Either[Buy, testdomain.AccountCmd]
		event   = decider.Either[Sold, testdomain.AccountEvent]
	)
	r := annals.NewRunner(annals.New(memory.New()), decider.Combine(concert, testdomain.Accounts),
		codec.NewSum[event](concertCodec(), testdomain.AccountCodec()))
	open := decider.Right[Buy](testdomain.AccountCmd{Open: true, CustomerID: "ada"})
	first, err := r.Handle(ctx, "hall", open, annals.WithIdempotencyKey("k"))
	if err != nil || len(first.Events) != 1 {
		t.Fatalf("a keyed command of a sum: %+v, %v; want its event stored", first, err)
	}
	again, err := r.Handle(ctx, "hall", open, annals.WithIdempotencyKey("k"))
	if err != nil || !again.Duplicate || !reflect.DeepEqual(again.Events, first.Events) {
		t.Fatalf("the same command again: %+v, %v; want a duplicate with the first call's events", again, err)
	}
	for what, other := range map[string]command{
		"the other case":   decider.Left[Buy, testdomain.AccountCmd](Buy{}),
		"another customer": decider.Right[Buy](testdomain.AccountCmd{Open: true, CustomerID: "bob"}),
	} {
		if _, err := r.Handle(ctx, "hall", other, annals.WithIdempotencyKey("k")); !errors.Is(err, annals.ErrIdempotencyKey) {
			t.Errorf("the key reused with %s: %v; want annals.ErrIdempotencyKey", what, err)
		}
	}
	if _, v, err := r.Load(ctx, "hall"); err != nil || v != 1 {
		t.Fatalf("the stream is at version %d, %v; want the one event", v, err)
	}
}

// Instances whose Streams' Key does not read a key's stream back store
// by the inner mapper, past the KeyedMapper's own check: Handle refuses
// the command, through Instances and through a composite, and nothing
// is stored that the log's readers would skip or take for another's.
func TestInstancesRefuseAKeyWhoseStreamDoesNotReadBack(t *testing.T) {
	ctx := context.Background()
	adapter := memory.New()
	s := annals.New(adapter)
	// Three digits only, as a Key written for seat-%03d.
	seats := codec.Streams[string]{
		Stream: func(k string) string { return "seat-" + k },
		Key: func(id string) (string, bool) {
			k, ok := strings.CutPrefix(id, "seat-")
			return k, ok && len(k) == 3
		},
	}
	concerts := annals.NewInstances(s, concert, codec.NewKeyed(seats, concertCodec()))
	if _, err := concerts.Handle(ctx, decider.Keyed[string, Buy]{Key: "007"}); err != nil {
		t.Fatalf("a key whose stream reads back: %v", err)
	}
	if _, err := concerts.Handle(ctx, decider.Keyed[string, Buy]{Key: "1000"}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `"seat-1000"`) {
		t.Errorf("a key whose stream reads back as none: %v; want store.ErrInvalid naming the stream", err)
	}
	c := annals.NewComposite(library, concerts, newAccounts(s))
	if _, err := c.Handle(ctx, buy("1001")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("the same through a composite: %v; want store.ErrInvalid", err)
	}
	if head, err := s.Head(ctx); err != nil || head != 1 {
		t.Fatalf("head = %d, %v; want the one event of seat 007", head, err)
	}
}

// racingCopies appends a copy of the first event of every append to its
// stream just before it: another writer that always goes first.
type racingCopies struct{ *memory.Store }

func (r racingCopies) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	ev := events[0]
	ev.ID = uuid.UUID{}
	if _, err := r.Store.Append(ctx, id, store.AnyVersion, []store.Event{ev}); err != nil {
		return 0, err
	}
	return r.Store.Append(ctx, id, expected, events)
}

// A composite's command that gives up on conflicts answers as its part's
// runner does: the conflict, with the state and version its last attempt
// was decided on.
func TestACompositeCommandThatGivesUpSaysWhereItRead(t *testing.T) {
	ctx := context.Background()
	s := annals.New(racingCopies{memory.New()})
	c := annals.NewComposite(library, newConcerts(s, annals.WithRetries(1), annals.WithBackoff(func(int) time.Duration { return 0 })), newAccounts(s))
	res, err := c.Handle(ctx, buy("a"))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a command that always loses: %v, want a conflict", err)
	}
	// The first attempt read nothing; the second, the racing copy.
	if res.Version != 1 || res.State.First["a"] != 1 || len(res.Events) != 0 {
		t.Fatalf("result %#v, want the state at version 1 and no events", res)
	}
}
