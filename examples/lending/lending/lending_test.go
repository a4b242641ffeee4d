package lending_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/lending"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/store/sqlite"
)

func TestClerk(t *testing.T) {
	lent := lending.OfBook("dune", book.Lent{Member: "ada", Due: 14})
	late := func(isbn string) lending.Event {
		return lending.OfBook(isbn, book.Returned{Member: "ada", Day: 20, Late: true})
	}
	onTime := lending.OfBook("dune", book.Returned{Member: "ada", Day: 3})

	proptest.ForProcess(t, lending.Clerk).
		When(lent).
		Then(lending.ToMember("ada", member.Borrow{ISBN: "dune"}))
	proptest.ForProcess(t, lending.Clerk).
		Given(lent).
		When(lending.OfMember("ada", member.BorrowRefused{ISBN: "dune", Reason: member.ReasonLimit})).
		Then(lending.ToBook("dune", book.CancelLoan{Member: "ada", Reason: member.ReasonLimit}))
	proptest.ForProcess(t, lending.Clerk).
		When(lending.OfMember("ada", member.Borrowed{ISBN: "dune"})).
		Then()
	proptest.ForProcess(t, lending.Clerk).
		When(late("dune")).
		Then(lending.ToMember("ada", member.GiveBack{ISBN: "dune"}))
	proptest.ForProcess(t, lending.Clerk).
		Given(late("dune"), onTime).
		When(late("emma")).
		Then(lending.ToMember("ada", member.GiveBack{ISBN: "emma"}), lending.ToMember("ada", member.Suspend{Reason: "two late returns"}))
	proptest.ForProcess(t, lending.Clerk).
		Given(late("dune"), late("emma")).
		When(late("ulysses")).
		Then(lending.ToMember("ada", member.GiveBack{ISBN: "ulysses"}))
	proptest.ForProcess(t, lending.Clerk).
		Given(late("dune"), onTime, late("emma")).
		ThenState(lending.Borrower{LateReturns: 2})
}

func TestLoansView(t *testing.T) {
	proptest.ForView(t, lending.LoansView).
		Given(lending.OfMember("ada", member.Borrowed{ISBN: "dune"}), lending.OfMember("ada", member.Borrowed{ISBN: "emma"})).
		When(lending.OfMember("ada", member.GaveBack{ISBN: "dune"})).
		ThenState(lending.Loans{Books: []string{"emma"}})
	proptest.ForView(t, lending.LoansView).
		Given(lending.OfMember("ada", member.BorrowRefused{ISBN: "dune", Reason: member.ReasonSuspended})).
		When(lending.OfMember("ada", member.Suspended{Reason: "late"})).
		ThenState(lending.Loans{Refused: 1, Suspended: true})
	proptest.ForView(t, lending.LoansView).
		When(lending.OfBook("dune", book.Lent{Member: "ada", Due: 3})).
		ThenState(lending.Loans{})
}

var (
	isbns   = []string{"dune", "emma", "ulysses", "hamlet", "lear"}
	members = []string{"ada", "bob"}
)

// command draws a command for the desk in state s: to a copy or to a
// member, mostly one the rules accept, so that runs reach full hands,
// late returns and suspensions.
// docs:begin command

func command(t *rapid.T, s lending.State) lending.Command {
	isbn := rapid.SampledFrom(isbns).Draw(t, "isbn")
	who := rapid.SampledFrom(members).Draw(t, "member")
	day := rapid.IntRange(0, 30).Draw(t, "day")
	if rapid.Bool().Draw(t, "to a copy") {
		copy := s.First[isbn]
		switch {
		case copy.OnShelf():
			return lending.Checkout(isbn, who, day)
		case rapid.IntRange(0, 3).Draw(t, "cancel") == 0:
			return lending.ToBook(isbn, book.CancelLoan{Member: copy.Member, Reason: "r"})
		}
		return lending.Return(isbn, day)
	}
	m := s.Second[who]
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0:
		return lending.ToMember(who, member.Suspend{Reason: "r"})
	case 1, 2, 3:
		if len(m.Loans) > 0 {
			return lending.ToMember(who, member.GiveBack{ISBN: rapid.SampledFrom(m.Loans).Draw(t, "held")})
		}
	}
	return lending.ToMember(who, member.Borrow{ISBN: isbn})
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

// visit draws what a visitor to the desk does in state s: bring back a
// copy that is out, or check one out.
func visit(t *rapid.T, s lending.State) lending.Command {
	out := slices.DeleteFunc(slices.Clone(isbns), func(isbn string) bool { return s.First[isbn].OnShelf() })
	if len(out) > 0 && rapid.IntRange(0, 3).Draw(t, "return") == 0 {
		return lending.Return(rapid.SampledFrom(out).Draw(t, "isbn"), rapid.IntRange(10, 20).Draw(t, "day"))
	}
	return lending.Checkout(rapid.SampledFrom(isbns).Draw(t, "isbn"), rapid.SampledFrom(members).Draw(t, "member"), 14)
}

// For any visits, once the clerk has done its work, a copy and its
// member agree: a copy is lent to a member exactly when the member holds
// it, so a refused checkout leaves the copy on the shelf; no member holds
// more than three books; a member with two late returns is suspended;
// and the loans view shows what the members hold.
func TestCopiesAndMembersAgree(t *testing.T) {
	onEveryStore(t, func(t *testing.T, open func() *annals.Store) {
		runs, refused, suspended := 0, 0, 0
		rapid.Check(t, func(rt *rapid.T) {
			runs++
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			lib, err := lending.Open(open(), annals.Sync)
			if err != nil {
				rt.Fatal(err)
			}
			all := lending.State{First: map[string]book.State{}, Second: map[string]member.State{}}
			for _, isbn := range isbns {
				all.First[isbn] = book.State{}
			}
			for _, m := range members {
				all.Second[m] = member.State{}
			}
			s := all
			for i := range rapid.IntRange(1, 30).Draw(rt, "visits") {
				c := visit(rt, s)
				if _, err := lib.Handle(ctx, c); err != nil && !errors.Is(err, annals.ErrRejected) {
					rt.Fatalf("visit %d, %v: %v", i, c, err)
				}
				if s, err = lib.Desk.Load(ctx, all); err != nil {
					rt.Fatal(err)
				}
				if msg := disagreement(ctx, lib, s); msg != "" {
					rt.Fatalf("after visit %d, %v: %s", i, c, msg)
				}
			}
			ada, err := lib.Loans(ctx, "ada")
			if err != nil {
				rt.Fatal(err)
			}
			refused += min(ada.Refused, 1)
			if ada.Suspended {
				suspended++
			}
		})
		// The visits must reach the rules that bite, or the property
		// checks little.
		if runs >= 50 && (refused == 0 || suspended == 0) {
			t.Errorf("of %d runs, %d saw a checkout refused and %d a suspension", runs, refused, suspended)
		}
		t.Logf("of %d runs, %d saw a checkout refused and %d a suspension", runs, refused, suspended)
	})
}

// disagreement describes how copies, members, the clerk and the view
// disagree in state s, or returns "".
func disagreement(ctx context.Context, lib *lending.Library, s lending.State) string {
	for _, isbn := range isbns {
		copy := s.First[isbn]
		for who, m := range s.Second {
			if holds := slices.Contains(m.Loans, isbn); holds != (copy.Member == who) {
				return fmt.Sprintf("%s is lent to %q and %s holds it: %v", isbn, copy.Member, who, holds)
			}
		}
	}
	for who, m := range s.Second {
		if len(m.Loans) > member.MaxLoans {
			return fmt.Sprintf("%s holds %v", who, m.Loans)
		}
		b, err := lib.Borrower(ctx, who)
		if err != nil {
			return err.Error()
		}
		if b.LateReturns >= lending.SuspendAfter && !m.Suspended {
			return fmt.Sprintf("%s returned %d books late and is not suspended", who, b.LateReturns)
		}
		loans, err := lib.Loans(ctx, who)
		if err != nil {
			return err.Error()
		}
		if !slices.Equal(loans.Books, m.Loans) || loans.Suspended != m.Suspended {
			return fmt.Sprintf("the view shows %s with %+v, and the member is %+v", who, loans, m)
		}
	}
	return ""
}

// The stored desk returns each command's events as events of the
// composition, and its state with the instance the command went to.
func TestDeskResults(t *testing.T) {
	ctx := context.Background()
	desk := lending.Stored(annals.New(memory.New()))
	res, err := desk.Handle(ctx, lending.Checkout("dune", "ada", 14))
	want := annals.Result[lending.Event, lending.State]{
		Events:  []lending.Event{lending.OfBook("dune", book.Lent{Member: "ada", Due: 14})},
		State:   lending.State{First: map[string]book.State{"dune": {Member: "ada", Due: 14}}, Second: map[string]member.State{}},
		Version: 1,
	}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Fatalf("checkout: %#v, %v\nwant %#v", res, err, want)
	}
	if _, err := desk.Handle(ctx, lending.Checkout("dune", "bob", 14)); !errors.Is(err, book.ErrLent) {
		t.Fatalf("a second checkout of the copy: %v, want ErrLent", err)
	}
}
