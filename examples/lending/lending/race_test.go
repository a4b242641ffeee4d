package lending_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/samber/lo"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/lending"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/store"
)

// The races: how many rounds each runs, and how many checkouts race in a
// round.
const (
	rounds = 20
	racers = 32
)

// onEveryStoreAtOnce runs race on every store, the stores side by side,
// each with a library of its own.
func onEveryStoreAtOnce(t *testing.T, race func(t *testing.T, lib *lending.Library, s *annals.Store)) {
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := stores[name].open(t)
			t.Cleanup(func() { s.Close() })
			lib, err := lending.Open(s, annals.Sync)
			if err != nil {
				t.Fatal(err)
			}
			race(t, lib, s)
		})
	}
}

// do handles desk commands one after the other.
func do(t *testing.T, lib *lending.Library, cs ...lending.Command) {
	t.Helper()
	for _, c := range cs {
		if _, err := lib.Handle(context.Background(), c); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
}

// race runs the checkouts at once and returns what each was told: half
// of them through lib, and half through a second library on another
// handle of lib's store s, as another process would (the decisions of one
// handle take turns, and those of two conflict).
func race(t *testing.T, lib *lending.Library, s *annals.Store, checkouts []lending.Checkout) []error {
	t.Helper()
	other, err := lending.Open(annals.New(s.Adapter()), annals.Sync)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(checkouts))
	var wg sync.WaitGroup
	for i, c := range checkouts {
		wg.Go(func() { _, errs[i] = []*lending.Library{lib, other}[i%2].HandleLoan(context.Background(), c) })
	}
	wg.Wait()
	return errs
}

// score counts the checkouts of a race's rounds: how many raced, how
// many won, and how many each rule refused.
type score struct {
	raced, won int
	refused    map[error]int
}

func (sc score) String() string {
	return fmt.Sprintf("%d checkouts raced, %d won, refused: %v", sc.raced, sc.won, sc.refused)
}

// winners returns the checkouts that won, and fails t unless every other
// was refused by one of the rules: a rejection (annals.ErrRejected) that
// matches the rule.
func (sc *score) winners(t *testing.T, round int, checkouts []lending.Checkout, errs []error, rules ...error) []lending.Checkout {
	t.Helper()
	if sc.refused == nil {
		sc.refused = map[error]int{}
	}
	var won []lending.Checkout
	for i, err := range errs {
		sc.raced++
		if err == nil {
			sc.won++
			won = append(won, checkouts[i])
			continue
		}
		rule, ok := lo.Find(rules, func(rule error) bool { return errors.Is(err, rule) })
		if !ok || !errors.Is(err, annals.ErrRejected) {
			t.Fatalf("round %d: %+v was told %v; want the copy, or a rejection by one of %v", round, checkouts[i], err, rules)
		}
		sc.refused[rule]++
	}
	return won
}

// checkedOut returns the checkouts the log holds of the events a query
// matches.
func checkedOut(t *testing.T, s *annals.Store, q store.Query) []lending.CheckedOut {
	t.Helper()
	ctx := context.Background()
	var out []lending.CheckedOut
	events := lending.Events()
	for rec, err := range s.ReadQuery(ctx, q, 0) {
		if err != nil {
			t.Fatal(err)
		}
		e, err := events.FromRecord(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := e.Right(); ok {
			if c, ok := l.(lending.CheckedOut); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// 32 members race to check out one copy, 20 times over: one of them gets
// it, the log lends it once, and each of the others is told that it is
// lent.
func TestRaceForACopy(t *testing.T) {
	onEveryStoreAtOnce(t, func(t *testing.T, lib *lending.Library, s *annals.Store) {
		ctx := context.Background()
		var sc score
		defer func() { t.Log(sc) }()
		for round := range rounds {
			isbn := fmt.Sprint("dune-", round)
			do(t, lib, lending.ToBook(isbn, book.Acquire{Title: "Dune"}))
			checkouts := make([]lending.Checkout, racers)
			for i := range checkouts {
				who := fmt.Sprintf("m-%d-%d", round, i)
				do(t, lib, lending.ToMember(who, member.Join{Name: who}))
				checkouts[i] = lending.Checkout{ISBN: isbn, Member: who, Due: 14}
			}
			won := sc.winners(t, round, checkouts, race(t, lib, s, checkouts), lending.ErrLent)
			if len(won) != 1 {
				t.Fatalf("round %d: %d members got the copy: %+v", round, len(won), won)
			}
			lent := checkedOut(t, s, lending.CopyHistory(isbn))
			if len(lent) != 1 || lent[0].Member != won[0].Member {
				t.Fatalf("round %d: the log lends the copy %+v; %s won it", round, lent, won[0].Member)
			}
			h, err := lib.Holdings(ctx, won[0].Member)
			if err != nil || !slices.Equal(h.Books, []string{isbn}) {
				t.Fatalf("round %d: the view shows %s with %+v (%v); want the copy", round, won[0].Member, h, err)
			}
		}
	})
}

// A member who holds all but one of the copies they may hold checks out
// 32 copies at once, 20 times over: one checkout passes, the log never
// has the member hold more than the limit, and each of the others is told
// that the member has enough.
func TestRaceForAMembersLastLoan(t *testing.T) {
	onEveryStoreAtOnce(t, func(t *testing.T, lib *lending.Library, s *annals.Store) {
		ctx := context.Background()
		var sc score
		defer func() { t.Log(sc) }()
		for round := range rounds {
			who := fmt.Sprint("ada-", round)
			do(t, lib, lending.ToMember(who, member.Join{Name: "Ada"}))
			isbns := lo.Times(racers+lending.MaxLoans-1, func(i int) string { return fmt.Sprintf("c-%d-%d", round, i) })
			for _, isbn := range isbns {
				do(t, lib, lending.ToBook(isbn, book.Acquire{Title: "Elective"}))
			}
			for _, isbn := range isbns[:lending.MaxLoans-1] {
				if _, err := lib.HandleLoan(ctx, lending.Checkout{ISBN: isbn, Member: who, Due: 14}); err != nil {
					t.Fatal(err)
				}
			}
			checkouts := lo.Map(isbns[lending.MaxLoans-1:], func(isbn string, _ int) lending.Checkout {
				return lending.Checkout{ISBN: isbn, Member: who, Due: 14}
			})
			won := sc.winners(t, round, checkouts, race(t, lib, s, checkouts), lending.ErrLimit)
			if len(won) != 1 {
				t.Fatalf("round %d: %d of the checkouts passed: %+v", round, len(won), won)
			}
			if held := checkedOut(t, s, lending.MemberHistory(who)); len(held) != lending.MaxLoans {
				t.Fatalf("round %d: the log lends %s %d copies: %+v", round, who, len(held), held)
			}
			h, err := lib.Holdings(ctx, who)
			if err != nil || len(h.Books) != lending.MaxLoans {
				t.Fatalf("round %d: the view shows %s with %+v (%v); want %d copies", round, who, h, err, lending.MaxLoans)
			}
		}
	})
}

// Both rules at once: four copies and four members who may each take one
// more copy, and 32 checkouts of every copy by every member, each pair
// twice, 20 times over. Four pass, no copy is lent twice, no member holds
// more than the limit, and each refused checkout is told which rule
// refused it.
func TestRaceOnCopiesAndMembersAtOnce(t *testing.T) {
	const side = 4
	onEveryStoreAtOnce(t, func(t *testing.T, lib *lending.Library, s *annals.Store) {
		ctx := context.Background()
		var sc score
		defer func() { t.Log(sc) }()
		for round := range rounds {
			isbns := lo.Times(side, func(i int) string { return fmt.Sprintf("x-%d-%d", round, i) })
			who := lo.Times(side, func(i int) string { return fmt.Sprintf("y-%d-%d", round, i) })
			for i := range side {
				do(t, lib, lending.ToBook(isbns[i], book.Acquire{Title: "Hamlet"}), lending.ToMember(who[i], member.Join{Name: who[i]}))
				for j := range lending.MaxLoans - 1 {
					held := fmt.Sprintf("held-%d-%d-%d", round, i, j)
					do(t, lib, lending.ToBook(held, book.Acquire{Title: "Emma"}))
					if _, err := lib.HandleLoan(ctx, lending.Checkout{ISBN: held, Member: who[i], Due: 14}); err != nil {
						t.Fatal(err)
					}
				}
			}
			checkouts := lo.Times(racers, func(i int) lending.Checkout {
				return lending.Checkout{ISBN: isbns[i%side], Member: who[i/side%side], Due: 14}
			})
			won := sc.winners(t, round, checkouts, race(t, lib, s, checkouts), lending.ErrLent, lending.ErrLimit)
			if len(won) != side {
				t.Fatalf("round %d: %d checkouts passed, want %d: %+v", round, len(won), side, won)
			}
			for i := range side {
				if lent := checkedOut(t, s, lending.CopyHistory(isbns[i])); len(lent) != 1 {
					t.Fatalf("round %d: the log lends %s %d times: %+v", round, isbns[i], len(lent), lent)
				}
				if held := checkedOut(t, s, lending.MemberHistory(who[i])); len(held) != lending.MaxLoans {
					t.Fatalf("round %d: the log lends %s %d copies: %+v", round, who[i], len(held), held)
				}
			}
		}
	})
}
