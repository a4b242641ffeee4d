package book_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/proptest"
)

func TestRules(t *testing.T) {
	proptest.For(t, book.Decider).
		When(book.Lend{Member: "ada", Due: 14}).
		Then(book.Lent{Member: "ada", Due: 14})
	proptest.For(t, book.Decider).
		Given(book.Lent{Member: "ada", Due: 14}).
		When(book.Lend{Member: "bob", Due: 14}).
		ThenError(book.ErrLent)
	proptest.For(t, book.Decider).
		When(book.Lend{Due: 14}).
		ThenError(book.ErrNoMember)
	proptest.For(t, book.Decider).
		Given(book.Lent{Member: "ada", Due: 14}).
		When(book.Return{Day: 14}).
		Then(book.Returned{Member: "ada", Day: 14})
	proptest.For(t, book.Decider).
		Given(book.Lent{Member: "ada", Due: 14}).
		When(book.Return{Day: 15}).
		Then(book.Returned{Member: "ada", Day: 15, Late: true})
	proptest.For(t, book.Decider).
		When(book.Return{Day: 3}).
		ThenError(book.ErrOnShelf)
	proptest.For(t, book.Decider).
		Given(book.Lent{Member: "ada", Due: 14}).
		When(book.CancelLoan{Member: "bob", Reason: "r"}).
		ThenError(book.ErrOtherMember)
	proptest.For(t, book.Decider).
		Given(book.Lent{Member: "ada", Due: 14}, book.LoanCancelled{Member: "ada", Reason: "r"}).
		When(book.Lend{Member: "bob", Due: 20}).
		Then(book.Lent{Member: "bob", Due: 20})
	proptest.For(t, book.Decider).
		Given(book.Lent{Member: "ada", Due: 14}, book.Returned{Member: "ada", Day: 3}).
		ThenState(book.State{})
}

// Command draws a command a copy may get in state s: mostly one its rules
// accept, so that runs reach every state, and sometimes one they refuse.
func Command(t *rapid.T, s book.State) book.Command {
	member := rapid.SampledFrom([]string{"ada", "bob", ""}).Draw(t, "member")
	day := rapid.IntRange(0, 30).Draw(t, "day")
	if rapid.IntRange(0, 4).Draw(t, "odd one") == 0 {
		return rapid.SampledFrom([]book.Command{book.Lend{Member: member, Due: day}, book.Return{Day: day}, book.CancelLoan{Member: member, Reason: "r"}}).Draw(t, "any command")
	}
	if s.OnShelf() {
		return book.Lend{Member: member, Due: day}
	}
	if rapid.Bool().Draw(t, "return") {
		return book.Return{Day: day}
	}
	return book.CancelLoan{Member: s.Member, Reason: "r"}
}

func TestReplayEqualsLive(t *testing.T) {
	proptest.ReplayEqualsLive(t, book.Decider, Command)
}

// A copy is lent once: for any commands, a loan starts only on the
// shelf, and ends, returned or cancelled, with the member it was lent to.
func TestACopyIsLentOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := book.Decider.InitialState()
		for range rapid.IntRange(0, 40).Draw(t, "length") {
			c := Command(t, s)
			events, err := book.Decider.Decide(c, s)
			if err != nil {
				continue
			}
			for _, e := range events {
				switch e := e.(type) {
				case book.Lent:
					if !s.OnShelf() {
						t.Fatalf("%#v lent the copy again while lent to %q", c, s.Member)
					}
				case book.Returned:
					if e.Member != s.Member || e.Late != (e.Day > s.Due) {
						t.Fatalf("%#v in state %+v gave %+v", c, s, e)
					}
				case book.LoanCancelled:
					if e.Member != s.Member {
						t.Fatalf("%#v cancelled the loan of %q, lent to %q", c, e.Member, s.Member)
					}
				}
				s = book.Decider.Evolve(s, e)
			}
		}
	})
}
