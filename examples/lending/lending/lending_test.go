package lending_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/lending"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/store/sqlite"
)

// Events of the log, as the specifications give them.
func acquired(isbn string) lending.LogEvent {
	return lending.OfDesk(lending.OfBook(isbn, book.Acquired{Title: isbn}))
}

func withdrawn(isbn string) lending.LogEvent {
	return lending.OfDesk(lending.OfBook(isbn, book.Withdrawn{Reason: "worn"}))
}

func joined(id string) lending.LogEvent {
	return lending.OfDesk(lending.OfMember(id, member.Joined{Name: id}))
}

func suspended(id string) lending.LogEvent {
	return lending.OfDesk(lending.OfMember(id, member.Suspended{Reason: "late"}))
}

func lent(isbn, id string) lending.LogEvent {
	return lending.OfLoan(lending.CheckedOut{ISBN: isbn, Member: id, Due: 14})
}

func returned(isbn, id string, day int) lending.LogEvent {
	return lending.OfLoan(lending.Returned{ISBN: isbn, Member: id, Day: day, Late: day > 14})
}

// The givens of a loan's specification are the events its query would
// read: the copy's and the member's.
func TestCheckoutRules(t *testing.T) {
	dune := []lending.LogEvent{acquired("dune"), joined("ada")}
	checkout := lending.Checkout{ISBN: "dune", Member: "ada", Due: 14}
	proptest.For(t, lending.LoanDecider).
		Given(dune...).
		When(checkout).
		Then(lent("dune", "ada"))
	proptest.For(t, lending.LoanDecider).
		Given(joined("ada")).
		When(checkout).
		ThenError(book.ErrUnknown)
	proptest.For(t, lending.LoanDecider).
		Given(acquired("dune")).
		When(checkout).
		ThenError(member.ErrUnknown)
	proptest.For(t, lending.LoanDecider).
		Given(append(dune, withdrawn("dune"))...).
		When(checkout).
		ThenError(lending.ErrWithdrawn)
	proptest.For(t, lending.LoanDecider).
		Given(append(dune, lent("dune", "bob"))...).
		When(checkout).
		ThenError(lending.ErrLent)
	proptest.For(t, lending.LoanDecider).
		Given(append(dune, lent("dune", "ada"))...).
		When(checkout).
		ThenError(lending.ErrLent)
	proptest.For(t, lending.LoanDecider).
		Given(append(dune, lent("dune", "bob"), returned("dune", "bob", 10))...).
		When(checkout).
		Then(lent("dune", "ada"))
	proptest.For(t, lending.LoanDecider).
		Given(append(dune, suspended("ada"))...).
		When(checkout).
		ThenError(lending.ErrSuspended)

	// Three copies of ada's, each read through her tag.
	full := append(slices.Clone(dune), lent("emma", "ada"), lent("lear", "ada"), lent("ulysses", "ada"))
	proptest.For(t, lending.LoanDecider).
		Given(full...).
		When(checkout).
		ThenError(lending.ErrLimit)
	proptest.For(t, lending.LoanDecider).
		Given(append(full, returned("lear", "ada", 20))...).
		When(checkout).
		Then(lent("dune", "ada"))
	proptest.For(t, lending.LoanDecider).
		Given(full...).
		ThenState(lending.Ledger{
			Desk: lending.State{
				First:  map[string]book.State{"dune": {Title: "dune", Acquired: true}},
				Second: map[string]member.State{"ada": {Name: "ada", Joined: true}},
			},
			Loans: map[string]lending.Loan{"emma": {Member: "ada", Due: 14}, "lear": {Member: "ada", Due: 14}, "ulysses": {Member: "ada", Due: 14}},
		})

	proptest.For(t, lending.LoanDecider).
		Given(lent("dune", "ada")).
		When(lending.Return{ISBN: "dune", Day: 14}).
		Then(returned("dune", "ada", 14))
	proptest.For(t, lending.LoanDecider).
		Given(lent("dune", "ada")).
		When(lending.Return{ISBN: "dune", Day: 15}).
		Then(lending.OfLoan(lending.Returned{ISBN: "dune", Member: "ada", Day: 15, Late: true}))
	proptest.For(t, lending.LoanDecider).
		Given(lent("dune", "ada"), returned("dune", "ada", 3)).
		When(lending.Return{ISBN: "dune", Day: 4}).
		ThenError(lending.ErrOnShelf)
}

// typeOf is the type name under which the log stores e, by the mapper
// that the runners, the view and the clerk share.
func typeOf(t *testing.T, e lending.LogEvent) string {
	t.Helper()
	stream := "loan/1"
	if d, ok := e.Left(); ok {
		if b, ok := d.Left(); ok {
			stream = lending.BookStreams.Stream(b.Key)
		} else {
			m, _ := d.Right()
			stream = lending.MemberStreams.Stream(m.Key)
		}
	}
	ev, err := lending.Events().ToEvent(context.Background(), codec.Placement{StreamID: stream, Version: 1}, e, store.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	return ev.Type
}

// Every event that a loan decision depends on is found by its query, by
// the tags and the type name it is stored with; other copies' and other
// members' events are not.
func TestQueriesFindTheEventsTheyNeed(t *testing.T) {
	checkout := lending.Loans.Query(lending.Checkout{ISBN: "dune", Member: "ada", Due: 14})
	giveBack := lending.Loans.Query(lending.Return{ISBN: "dune", Day: 20})
	for _, c := range []struct {
		e                  lending.LogEvent
		checkout, giveBack bool
	}{
		{acquired("dune"), true, true},
		{withdrawn("dune"), true, true},
		{joined("ada"), true, false},
		{suspended("ada"), true, false},
		{lent("dune", "bob"), true, true},
		{returned("dune", "bob", 3), true, true},
		{lent("emma", "ada"), true, false},
		{returned("emma", "ada", 3), true, false},
		{acquired("emma"), false, false},
		{joined("bob"), false, false},
		{suspended("bob"), false, false},
		{lent("emma", "bob"), false, false},
	} {
		typ, tags := typeOf(t, c.e), lending.Tags(c.e)
		if got := checkout.Matches(typ, tags); got != c.checkout {
			t.Errorf("a checkout of dune by ada reads %v (%s %v): %v, want %v", c.e, typ, tags, got, c.checkout)
		}
		if got := giveBack.Matches(typ, tags); got != c.giveBack {
			t.Errorf("a return of dune reads %v (%s %v): %v, want %v", c.e, typ, tags, got, c.giveBack)
		}
	}
}

func TestClerk(t *testing.T) {
	late := func(isbn string) lending.LogEvent { return returned(isbn, "ada", 20) }
	onTime := returned("dune", "ada", 3)
	suspend := lending.ToMember("ada", member.Suspend{Reason: "two late returns"})

	proptest.ForProcess(t, lending.Clerk).
		When(late("dune")).
		Then()
	proptest.ForProcess(t, lending.Clerk).
		Given(late("dune"), onTime).
		When(late("emma")).
		Then(suspend)
	proptest.ForProcess(t, lending.Clerk).
		Given(late("dune"), late("emma")).
		When(late("ulysses")).
		Then()
	proptest.ForProcess(t, lending.Clerk).
		When(lent("dune", "ada")).
		Then()
	proptest.ForProcess(t, lending.Clerk).
		Given(late("dune"), onTime, late("emma")).
		ThenState(lending.Borrower{LateReturns: 2})
}

func TestHoldingsView(t *testing.T) {
	proptest.ForView(t, lending.HoldingsView).
		Given(lent("dune", "ada"), lent("emma", "ada")).
		When(returned("dune", "ada", 3)).
		ThenState(lending.Holdings{Books: []string{"emma"}})
	proptest.ForView(t, lending.HoldingsView).
		Given(joined("ada")).
		When(suspended("ada")).
		ThenState(lending.Holdings{Suspended: true})
	proptest.ForView(t, lending.HoldingsView).
		When(acquired("dune")).
		ThenState(lending.Holdings{})
}

var (
	isbns   = []string{"dune", "emma", "ulysses", "hamlet", "lear"}
	members = []string{"ada", "bob", "cy"}
)

// command draws a command for the desk in state s: to a copy or to a
// member, mostly one the rules accept.
// docs:begin command

func command(t *rapid.T, s lending.State) lending.Command {
	isbn := rapid.SampledFrom(isbns).Draw(t, "isbn")
	who := rapid.SampledFrom(members).Draw(t, "member")
	again := rapid.IntRange(0, 9).Draw(t, "again") == 0
	if rapid.Bool().Draw(t, "to a copy") {
		if !s.First[isbn].Acquired || again {
			return lending.ToBook(isbn, book.Acquire{Title: rapid.SampledFrom([]string{isbn, ""}).Draw(t, "title")})
		}
		return lending.ToBook(isbn, book.Withdraw{Reason: "worn"})
	}
	if !s.Second[who].Joined || again {
		return lending.ToMember(who, member.Join{Name: who})
	}
	return lending.ToMember(who, member.Suspend{Reason: "late"})
}

// docs:end command

func TestReplayEqualsLive(t *testing.T) {
	proptest.ReplayEqualsLive(t, lending.Decider, command)
}

// stores are the stores the properties run on, with how many of rapid's
// checks each runs: a durable store runs fewer, since every check opens
// a database.
var stores = map[string]struct {
	open   func(t *testing.T) *annals.Store
	checks func(all int) int
}{
	"memory": {
		open:   func(*testing.T) *annals.Store { return annals.New(memory.New()) },
		checks: func(all int) int { return all },
	},
	"sqlite": {
		open: func(t *testing.T) *annals.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "library.db"))
			if err != nil {
				t.Fatal(err)
			}
			return annals.New(s)
		},
		checks: func(all int) int { return max(1, all/5) },
	},
	"postgres": {
		open: func(t *testing.T) *annals.Store {
			db := pgtest.New(t)
			s, err := postgres.Open(context.Background(), db.URL, postgres.WithSchema(db.Schema))
			if err != nil {
				t.Fatal(err)
			}
			return annals.New(s)
		},
		checks: func(all int) int { return max(1, all/5) },
	},
}

// onEveryStore runs check on every store, each run of rapid on a store
// of its own.
func onEveryStore(t *testing.T, check func(t *testing.T, open func() *annals.Store)) {
	all, err := strconv.Atoi(flag.Lookup("rapid.checks").Value.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		st := stores[name]
		t.Run(name, func(t *testing.T) {
			checks := flag.Lookup("rapid.checks").Value
			if err := checks.Set(strconv.Itoa(st.checks(all))); err != nil {
				t.Fatal(err)
			}
			defer checks.Set(strconv.Itoa(all))
			check(t, func() *annals.Store {
				s := st.open(t)
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

// For any commands, the desk stored one stream per copy and per member
// decides as the pure composition does, and every instance loads back
// from its stream as the pure fold has it.
// docs:begin stored-equals-pure

func TestStoredDeskEqualsPure(t *testing.T) {
	onEveryStore(t, func(t *testing.T, open func() *annals.Store) {
		proptest.CompositeEqualsPure(t, lending.Decider, func(*rapid.T) *annals.Composite[lending.Command, lending.Event, lending.State] {
			return lending.Stored(open())
		}, command, proptest.Length(1, 30))
	})
}

// docs:end stored-equals-pure

// visit draws what happens next at the desk, whose log folds to l: a
// copy acquired or withdrawn, a member joining or suspended, a copy
// brought back, and mostly checkouts.
func visit(t *rapid.T, l lending.Ledger) any {
	isbn := rapid.SampledFrom(isbns).Draw(t, "isbn")
	who := rapid.SampledFrom(members).Draw(t, "member")
	// rapid draws small numbers most often: the likeliest come first.
	switch {
	case !l.Desk.First[isbn].Acquired && rapid.IntRange(0, 2).Draw(t, "wait") < 2:
		return lending.ToBook(isbn, book.Acquire{Title: isbn})
	case !l.Desk.Second[who].Joined && rapid.IntRange(0, 2).Draw(t, "wait") < 2:
		return lending.ToMember(who, member.Join{Name: who})
	}
	switch kind := rapid.IntRange(0, 19).Draw(t, "kind"); {
	case kind < 13:
		// Mostly a copy on the shelf, so that members fill their hands.
		shelf := lo.Filter(isbns, func(isbn string, _ int) bool {
			_, lent := l.Loans[isbn]
			return l.Desk.First[isbn].Acquired && !l.Desk.First[isbn].Withdrawn && !lent
		})
		if len(shelf) > 0 && rapid.IntRange(0, 2).Draw(t, "from the shelf") < 2 {
			isbn = rapid.SampledFrom(shelf).Draw(t, "on the shelf")
		}
		// Often the member who holds the most, so that hands fill up.
		if rapid.Bool().Draw(t, "the busiest") {
			who = lo.MaxBy(members, func(a, b string) bool { return len(l.Held(a)) > len(l.Held(b)) })
		}
	case kind < 17 && len(l.Loans) > 0:
		out := slices.Sorted(maps.Keys(l.Loans))
		return lending.Return{ISBN: rapid.SampledFrom(out).Draw(t, "lent"), Day: rapid.IntRange(5, 16).Draw(t, "day")}
	case kind < 19:
		return lending.ToBook(isbn, book.Withdraw{Reason: "worn"})
	case kind == 19:
		return lending.ToMember(who, member.Suspend{Reason: "rude"})
	}
	return lending.Checkout{ISBN: isbn, Member: who, Due: 14}
}

// audit folds the whole log, and says how it breaks a rule of loans, if
// it does: every checkout of a copy in the catalogue, not withdrawn and
// not lent, by a member who has joined, is not suspended and holds fewer
// than the limit; every return of a copy lent, by its borrower.
func audit(ctx context.Context, s *annals.Store) (lending.Ledger, string, error) {
	l := lending.LoanDecider.InitialState()
	events := lending.Events()
	for after := int64(0); ; {
		recs, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 500})
		if err != nil || len(recs) == 0 {
			return l, "", err
		}
		for _, rec := range recs {
			after = rec.Position
			e, err := events.FromRecord(ctx, rec)
			if err != nil {
				return l, "", err
			}
			if broken := breaks(l, e); broken != "" {
				return l, fmt.Sprintf("position %d, %v: %s", rec.Position, e, broken), nil
			}
			l = lending.LoanDecider.Evolve(l, e)
		}
	}
}

func breaks(l lending.Ledger, e lending.LogEvent) string {
	switch e, _ := e.Right(); e := e.(type) {
	case lending.CheckedOut:
		copy, who := l.Desk.First[e.ISBN], l.Desk.Second[e.Member]
		if loan, ok := l.Loans[e.ISBN]; ok {
			return fmt.Sprintf("the copy is lent to %s already", loan.Member)
		}
		if !copy.Acquired || copy.Withdrawn || !who.Joined || who.Suspended {
			return fmt.Sprintf("lent a copy %+v to a member %+v", copy, who)
		}
		if held := l.Held(e.Member); len(held) >= lending.MaxLoans {
			return fmt.Sprintf("the member holds %v already", held)
		}
	case lending.Returned:
		if loan, ok := l.Loans[e.ISBN]; !ok || loan.Member != e.Member || e.Late != (e.Day > loan.Due) {
			return fmt.Sprintf("a return of a copy lent as %+v (%v)", loan, ok)
		}
	}
	return ""
}

// For any visits, on every store, each decision of the stored library
// equals the pure decision on the whole log, though a loan reads only its
// query's events; the log never shows a rule of loans broken; the clerk
// has suspended every member with two late returns; and the holdings
// view shows what the log has each member hold.
func TestLoansDecideAsOnTheWholeLog(t *testing.T) {
	onEveryStore(t, func(t *testing.T, open func() *annals.Store) {
		runs := 0
		refused := map[error]int{}
		rapid.Check(t, func(rt *rapid.T) {
			runs++
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s := open()
			lib, err := lending.Open(s, annals.Sync)
			if err != nil {
				rt.Fatal(err)
			}
			seen := map[error]bool{}
			for i := range rapid.IntRange(10, 40).Draw(rt, "visits") {
				whole, broken, err := audit(ctx, s)
				if err != nil || broken != "" {
					rt.Fatalf("before visit %d: %v%s", i, err, broken)
				}
				c := visit(rt, whole)
				var want, got []lending.LogEvent
				var wantErr error
				switch c := c.(type) {
				case lending.Command:
					var events []lending.Event
					events, wantErr = lending.Decider.Decide(c, whole.Desk)
					want = lo.Map(events, func(e lending.Event, _ int) lending.LogEvent { return lending.OfDesk(e) })
					var res annals.Result[lending.Event, lending.State]
					res, err = lib.Handle(ctx, c)
					got = lo.Map(res.Events, func(e lending.Event, _ int) lending.LogEvent { return lending.OfDesk(e) })
				case lending.LoanCommand:
					want, wantErr = lending.LoanDecider.Decide(c, whole)
					var res annals.DCBResult[lending.LogEvent, lending.Ledger]
					res, err = lib.HandleLoan(ctx, c)
					got = res.Events
				}
				switch {
				case wantErr != nil:
					if !errors.Is(err, annals.ErrRejected) || !errors.Is(err, wantErr) {
						rt.Fatalf("visit %d, %v: %v; the whole log rejects it: %v", i, c, err, wantErr)
					}
					seen[wantErr] = true
				case err != nil || len(got)+len(want) > 0 && !reflect.DeepEqual(got, want):
					rt.Fatalf("visit %d, %v: %v, %v; the whole log decides %v", i, c, got, err, want)
				}
				if msg := disagreement(ctx, lib, s); msg != "" {
					rt.Fatalf("after visit %d, %v: %s", i, c, msg)
				}
			}
			for e := range seen {
				refused[e]++
			}
		})
		// The visits must reach the rules that bite, or the property
		// checks little.
		rules := []error{lending.ErrLent, lending.ErrLimit, lending.ErrSuspended, lending.ErrWithdrawn}
		if runs >= 50 && slices.ContainsFunc(rules, func(e error) bool { return refused[e] == 0 }) {
			t.Errorf("of %d runs, these many saw each rule refuse a command: %v", runs, refused)
		}
		t.Logf("of %d runs, these many saw each rule refuse a command: %v", runs, refused)
	})
}

// disagreement describes how the log, the clerk and the view disagree,
// or returns "".
func disagreement(ctx context.Context, lib *lending.Library, s *annals.Store) string {
	l, broken, err := audit(ctx, s)
	if err != nil || broken != "" {
		return fmt.Sprint(err, broken)
	}
	for _, who := range members {
		standing := l.Desk.Second[who]
		b, err := lib.Borrower(ctx, who)
		if err != nil {
			return err.Error()
		}
		if b.LateReturns >= lending.SuspendAfter && !standing.Suspended {
			return fmt.Sprintf("%s returned %d books late and is not suspended", who, b.LateReturns)
		}
		h, err := lib.Holdings(ctx, who)
		if err != nil {
			return err.Error()
		}
		if held := slices.Sorted(slices.Values(h.Books)); !slices.Equal(held, l.Held(who)) || h.Suspended != standing.Suspended {
			return fmt.Sprintf("the view shows %s with %+v, and the log has them hold %v, suspended %v", who, h, l.Held(who), standing.Suspended)
		}
	}
	return ""
}

// The stored desk returns each command's events as events of the
// composition, and its state with the instance the command went to.
func TestDeskResults(t *testing.T) {
	ctx := context.Background()
	desk := lending.Stored(annals.New(memory.New()))
	res, err := desk.Handle(ctx, lending.ToBook("dune", book.Acquire{Title: "Dune"}))
	want := annals.Result[lending.Event, lending.State]{
		Events:  []lending.Event{lending.OfBook("dune", book.Acquired{Title: "Dune"})},
		State:   lending.State{First: map[string]book.State{"dune": {Title: "Dune", Acquired: true}}, Second: map[string]member.State{}},
		Version: 1,
	}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Fatalf("acquire: %#v, %v\nwant %#v", res, err, want)
	}
	if _, err := desk.Handle(ctx, lending.ToBook("dune", book.Acquire{Title: "Dune"})); !errors.Is(err, book.ErrAcquired) {
		t.Fatalf("a second acquisition of the copy: %v, want ErrAcquired", err)
	}
}
