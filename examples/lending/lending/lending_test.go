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
	"strings"
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

// The givens of a loan's specification are the log: the copy's rule
// sees what the copy's history matches, and the member's what the
// member's history matches, as the runner would read them.
func TestCheckoutRules(t *testing.T) {
	dune := []lending.LogEvent{acquired("dune"), joined("ada")}
	checkout := lending.Checkout{ISBN: "dune", Member: "ada", Due: 14}
	spec := func() *proptest.Spec[lending.LoanCommand, lending.LogEvent, lending.Ledger] {
		return proptest.ForDCB(t, lending.Loans, lending.Events())
	}
	spec().
		Given(dune...).
		When(checkout).
		Then(lent("dune", "ada"))
	spec().
		Given(joined("ada")).
		When(checkout).
		ThenError(book.ErrUnknown)
	spec().
		Given(acquired("dune")).
		When(checkout).
		ThenError(member.ErrUnknown)
	// The copy's rule is checked first.
	spec().
		When(checkout).
		ThenError(book.ErrUnknown)
	spec().
		Given(append(dune, withdrawn("dune"), suspended("ada"))...).
		When(checkout).
		ThenError(lending.ErrWithdrawn)
	spec().
		Given(append(dune, lent("dune", "bob"))...).
		When(checkout).
		ThenError(lending.ErrLent)
	spec().
		Given(append(dune, lent("dune", "ada"))...).
		When(checkout).
		ThenError(lending.ErrLent)
	spec().
		Given(append(dune, lent("dune", "bob"), returned("dune", "bob", 10))...).
		When(checkout).
		Then(lent("dune", "ada"))
	spec().
		Given(append(dune, suspended("ada"))...).
		When(checkout).
		ThenError(lending.ErrSuspended)
	// Another copy's or another member's events do not count.
	spec().
		Given(append(dune, withdrawn("emma"), suspended("bob"), lent("emma", "bob"))...).
		When(checkout).
		Then(lent("dune", "ada"))

	// Three copies of ada's, each read through her tag.
	full := append(slices.Clone(dune), lent("emma", "ada"), lent("lear", "ada"), lent("ulysses", "ada"))
	spec().
		Given(full...).
		When(checkout).
		ThenError(lending.ErrLimit)
	spec().
		Given(append(full, returned("lear", "ada", 20))...).
		When(checkout).
		Then(lent("dune", "ada"))
	spec().
		Given(append(full, returned("lear", "ada", 20))...).
		When(checkout).
		ThenState(lending.Ledger{
			First: lending.Copy{Life: book.State{Title: "dune", Acquired: true}, Lent: true, Loan: lending.Loan{Member: "ada", Due: 14}},
			Second: lending.Patron{
				Standing: member.State{Name: "ada", Joined: true},
				Held:     []string{"dune", "emma", "ulysses"},
			},
		})

	spec().
		Given(lent("dune", "ada")).
		When(lending.Return{ISBN: "dune", Day: 14}).
		Then(returned("dune", "ada", 14))
	spec().
		Given(lent("dune", "ada")).
		When(lending.Return{ISBN: "dune", Day: 15}).
		Then(lending.OfLoan(lending.Returned{ISBN: "dune", Member: "ada", Day: 15, Late: true}))
	spec().
		Given(lent("dune", "ada"), returned("dune", "ada", 3)).
		When(lending.Return{ISBN: "dune", Day: 4}).
		ThenError(lending.ErrOnShelf)
	// A return is not the member's to refuse.
	spec().
		Given(joined("ada"), lent("dune", "ada"), suspended("ada")).
		When(lending.Return{ISBN: "dune", Day: 4}).
		Then(returned("dune", "ada", 4))
}

// typeOf is the type name under which the log stores e, by the mapper
// that the runners, the view and the clerk share.
func typeOf(t *testing.T, e lending.LogEvent) string {
	t.Helper()
	events := lending.Events()
	at := codec.Placement{StreamID: "loan/1", Version: 1}
	if stream, ok := events.StreamOf(e); ok {
		at.StreamID = stream // a copy's or a member's event
	}
	ev, err := events.ToEvent(context.Background(), at, e, store.Metadata{})
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
	// A return reads its copy's history alone: the member's rule, which
	// does not guard it, does not widen its boundary.
	if !reflect.DeepEqual(giveBack, lending.CopyHistory("dune")) {
		t.Errorf("a return of dune reads %+v, want its copy's history %+v", giveBack, lending.CopyHistory("dune"))
	}
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

// wholeLog is the whole log folded by the rules of loans: every copy's
// state, by the copy's rule from the events tagged with the copy, and
// every member's, by the member's rule from the events tagged with the
// member.
type wholeLog struct {
	copies  map[string]lending.Copy
	patrons map[string]lending.Patron
}

// evolve folds an event into the states of the copies and the members
// it is tagged with.
func (w wholeLog) evolve(e lending.LogEvent) {
	for _, tag := range lending.Tags(e) {
		if isbn, ok := strings.CutPrefix(tag, lending.BookTag("")); ok {
			w.copies[isbn] = lending.CopyLoans.Evolve(w.copies[isbn], e)
		}
		if id, ok := strings.CutPrefix(tag, lending.MemberTag("")); ok {
			w.patrons[id] = lending.MemberLoans.Evolve(w.patrons[id], e)
		}
	}
}

// desk is the state of the desk's decider: every copy's and every
// member's life.
func (w wholeLog) desk() lending.State {
	return lending.State{
		First:  lo.MapValues(w.copies, func(c lending.Copy, _ string) book.State { return c.Life }),
		Second: lo.MapValues(w.patrons, func(p lending.Patron, _ string) member.State { return p.Standing }),
	}
}

// ledger is what a loan command is decided on: its copy's state and,
// for a checkout, its member's. A return is not the member's rule's to
// refuse, whatever it reads.
func (w wholeLog) ledger(c lending.LoanCommand) lending.Ledger {
	l := lending.Ledger{First: w.copies[c.Copy()]}
	if c, ok := c.(lending.Checkout); ok {
		l.Second = w.patrons[c.Member]
	}
	return l
}

// lent returns the copies lent, sorted.
func (w wholeLog) lent() []string {
	return slices.Sorted(maps.Keys(lo.PickBy(w.copies, func(_ string, c lending.Copy) bool { return c.Lent })))
}

// visit draws what happens next at the desk, whose log folds to w: a
// copy acquired or withdrawn, a member joining or suspended, a copy
// brought back, and mostly checkouts.
func visit(t *rapid.T, w wholeLog) any {
	isbn := rapid.SampledFrom(isbns).Draw(t, "isbn")
	who := rapid.SampledFrom(members).Draw(t, "member")
	// rapid draws small numbers most often: the likeliest come first.
	switch {
	case !w.copies[isbn].Life.Acquired && rapid.IntRange(0, 2).Draw(t, "wait") < 2:
		return lending.ToBook(isbn, book.Acquire{Title: isbn})
	case !w.patrons[who].Standing.Joined && rapid.IntRange(0, 2).Draw(t, "wait") < 2:
		return lending.ToMember(who, member.Join{Name: who})
	}
	switch kind := rapid.IntRange(0, 19).Draw(t, "kind"); {
	case kind < 13:
		// Mostly a copy on the shelf, so that members fill their hands.
		shelf := lo.Filter(isbns, func(isbn string, _ int) bool {
			c := w.copies[isbn]
			return c.Life.Acquired && !c.Life.Withdrawn && !c.Lent
		})
		if len(shelf) > 0 && rapid.IntRange(0, 2).Draw(t, "from the shelf") < 2 {
			isbn = rapid.SampledFrom(shelf).Draw(t, "on the shelf")
		}
		// Often the member who holds the most, so that hands fill up.
		if rapid.Bool().Draw(t, "the busiest") {
			who = lo.MaxBy(members, func(a, b string) bool { return len(w.patrons[a].Held) > len(w.patrons[b].Held) })
		}
	case kind < 17 && len(w.lent()) > 0:
		return lending.Return{ISBN: rapid.SampledFrom(w.lent()).Draw(t, "lent"), Day: rapid.IntRange(5, 16).Draw(t, "day")}
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
func audit(ctx context.Context, s *annals.Store) (wholeLog, string, error) {
	w := wholeLog{copies: map[string]lending.Copy{}, patrons: map[string]lending.Patron{}}
	events := lending.Events()
	for after := int64(0); ; {
		recs, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 500})
		if err != nil || len(recs) == 0 {
			return w, "", err
		}
		for _, rec := range recs {
			after = rec.Position
			e, err := events.FromRecord(ctx, rec)
			if err != nil {
				return w, "", err
			}
			if broken := breaks(w, e); broken != "" {
				return w, fmt.Sprintf("position %d, %v: %s", rec.Position, e, broken), nil
			}
			w.evolve(e)
		}
	}
}

func breaks(w wholeLog, e lending.LogEvent) string {
	switch e, _ := e.Right(); e := e.(type) {
	case lending.CheckedOut:
		copy, who := w.copies[e.ISBN], w.patrons[e.Member]
		if copy.Lent {
			return fmt.Sprintf("the copy is lent to %s already", copy.Loan.Member)
		}
		if !copy.Life.Acquired || copy.Life.Withdrawn || !who.Standing.Joined || who.Standing.Suspended {
			return fmt.Sprintf("lent a copy %+v to a member %+v", copy.Life, who.Standing)
		}
		if len(who.Held) >= lending.MaxLoans {
			return fmt.Sprintf("the member holds %v already", who.Held)
		}
	case lending.Returned:
		if copy := w.copies[e.ISBN]; !copy.Lent || copy.Loan.Member != e.Member || e.Late != (e.Day > copy.Loan.Due) {
			return fmt.Sprintf("a return of a copy lent as %+v (%v)", copy.Loan, copy.Lent)
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
					events, wantErr = lending.Decider.Decide(c, whole.desk())
					want = lo.Map(events, func(e lending.Event, _ int) lending.LogEvent { return lending.OfDesk(e) })
					var res annals.Result[lending.Event, lending.State]
					res, err = lib.Handle(ctx, c)
					got = lo.Map(res.Events, func(e lending.Event, _ int) lending.LogEvent { return lending.OfDesk(e) })
				case lending.LoanCommand:
					want, wantErr = lending.Loans.Decide(c, whole.ledger(c))
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
	w, broken, err := audit(ctx, s)
	if err != nil || broken != "" {
		return fmt.Sprint(err, broken)
	}
	for _, who := range members {
		standing, held := w.patrons[who].Standing, w.patrons[who].Held
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
		if books := slices.Sorted(slices.Values(h.Books)); !slices.Equal(books, held) || h.Suspended != standing.Suspended {
			return fmt.Sprintf("the view shows %s with %+v, and the log has them hold %v, suspended %v", who, h, held, standing.Suspended)
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
