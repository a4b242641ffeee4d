package book_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/proptest"
)

func TestRules(t *testing.T) {
	dune := book.Acquired{Title: "Dune"}
	proptest.For(t, book.Decider).
		When(book.Acquire{Title: "Dune"}).
		Then(dune)
	proptest.For(t, book.Decider).
		When(book.Acquire{}).
		ThenError(book.ErrNoTitle)
	proptest.For(t, book.Decider).
		Given(dune).
		When(book.Acquire{Title: "Dune"}).
		ThenError(book.ErrAcquired)
	proptest.For(t, book.Decider).
		Given(dune).
		When(book.Withdraw{Reason: "worn"}).
		Then(book.Withdrawn{Reason: "worn"})
	proptest.For(t, book.Decider).
		When(book.Withdraw{Reason: "worn"}).
		ThenError(book.ErrUnknown)
	proptest.For(t, book.Decider).
		Given(dune, book.Withdrawn{Reason: "worn"}).
		When(book.Withdraw{Reason: "lost"}).
		Then()
	proptest.For(t, book.Decider).
		Given(dune, book.Withdrawn{Reason: "worn"}).
		ThenState(book.State{Title: "Dune", Acquired: true, Withdrawn: true})
}

// Command draws a command a copy may get: mostly one its rules accept,
// so that runs reach every state, and sometimes one they refuse.
func Command(t *rapid.T, s book.State) book.Command {
	title := rapid.SampledFrom([]string{"Dune", "Emma", ""}).Draw(t, "title")
	if !s.Acquired || rapid.IntRange(0, 4).Draw(t, "again") == 0 {
		return book.Acquire{Title: title}
	}
	return book.Withdraw{Reason: "worn"}
}

func TestReplayEqualsLive(t *testing.T) {
	proptest.ReplayEqualsLive(t, book.Decider, Command)
}

// For any commands, a copy is acquired once, keeps its first title, and
// is withdrawn only once it is in the catalogue.
func TestAcquiredOnceWithdrawnOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := book.Decider.InitialState()
		acquired, withdrawn := 0, 0
		for range rapid.IntRange(0, 20).Draw(t, "length") {
			c := Command(t, s)
			events, next, err := book.Decider.Step(s, c)
			if err != nil {
				continue
			}
			for _, e := range events {
				switch e.(type) {
				case book.Acquired:
					acquired++
				case book.Withdrawn:
					withdrawn++
					if !s.Acquired {
						t.Fatalf("%#v withdrew a copy the catalogue does not hold", c)
					}
				}
			}
			if acquired > 1 || withdrawn > 1 || (s.Acquired && next.Title != s.Title) {
				t.Fatalf("%#v: acquired %d times, withdrawn %d times, from %+v to %+v", c, acquired, withdrawn, s, next)
			}
			s = next
		}
	})
}
