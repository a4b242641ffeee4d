package member_test

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/proptest"
)

func TestRules(t *testing.T) {
	three := []member.Event{member.Borrowed{ISBN: "a"}, member.Borrowed{ISBN: "b"}, member.Borrowed{ISBN: "c"}}
	proptest.For(t, member.Decider).
		When(member.Borrow{ISBN: "a"}).
		Then(member.Borrowed{ISBN: "a"})
	proptest.For(t, member.Decider).
		Given(three...).
		When(member.Borrow{ISBN: "d"}).
		Then(member.BorrowRefused{ISBN: "d", Reason: member.ReasonLimit})
	proptest.For(t, member.Decider).
		Given(append(three, member.GaveBack{ISBN: "b"})...).
		When(member.Borrow{ISBN: "d"}).
		Then(member.Borrowed{ISBN: "d"})
	proptest.For(t, member.Decider).
		Given(member.Suspended{Reason: "late"}).
		When(member.Borrow{ISBN: "a"}).
		Then(member.BorrowRefused{ISBN: "a", Reason: member.ReasonSuspended})
	proptest.For(t, member.Decider).
		Given(member.Borrowed{ISBN: "a"}).
		When(member.Borrow{ISBN: "a"}).
		ThenError(member.ErrHeld)
	proptest.For(t, member.Decider).
		When(member.GiveBack{ISBN: "a"}).
		ThenError(member.ErrNotHeld)
	proptest.For(t, member.Decider).
		Given(member.Suspended{Reason: "late"}).
		When(member.Suspend{Reason: "again"}).
		Then()
	proptest.For(t, member.Decider).
		Given(member.Borrowed{ISBN: "a"}, member.Borrowed{ISBN: "b"}, member.GaveBack{ISBN: "a"}).
		ThenState(member.State{Loans: []string{"b"}})
}

var isbns = []string{"a", "b", "c", "d", "e"}

// Command draws a command a member may get in state s: mostly one its
// rules accept or refuse with an event, sometimes one they reject.
func Command(t *rapid.T, s member.State) member.Command {
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0:
		return member.Suspend{Reason: "late"}
	case 1, 2, 3:
		if len(s.Loans) > 0 && rapid.IntRange(0, 4).Draw(t, "held") > 0 {
			return member.GiveBack{ISBN: rapid.SampledFrom(s.Loans).Draw(t, "isbn")}
		}
		return member.GiveBack{ISBN: rapid.SampledFrom(isbns).Draw(t, "isbn")}
	}
	return member.Borrow{ISBN: rapid.SampledFrom(isbns).Draw(t, "isbn")}
}

func TestReplayEqualsLive(t *testing.T) {
	proptest.ReplayEqualsLive(t, member.Decider, Command)
}

// For any commands, a member holds at most three books, never the same
// twice, and borrows nothing once suspended.
func TestAtMostThreeLoansAndNoneWhileSuspended(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := member.Decider.InitialState()
		for range rapid.IntRange(0, 40).Draw(t, "length") {
			c := Command(t, s)
			events, next, err := member.Decider.Step(s, c)
			if err != nil {
				continue
			}
			for _, e := range events {
				if _, ok := e.(member.Borrowed); ok && s.Suspended {
					t.Fatalf("%#v: a suspended member borrowed", c)
				}
			}
			if len(next.Loans) > member.MaxLoans || len(slices.Compact(slices.Sorted(slices.Values(next.Loans)))) != len(next.Loans) {
				t.Fatalf("%#v: the member holds %v", c, next.Loans)
			}
			s = next
		}
	})
}

func ExampleDecider() {
	_, s, _ := member.Decider.Run([]member.Command{
		member.Borrow{ISBN: "dune"}, member.Borrow{ISBN: "emma"}, member.Borrow{ISBN: "ulysses"},
	})
	events, _ := member.Decider.Decide(member.Borrow{ISBN: "hamlet"}, s)
	fmt.Printf("%+v\n", events)
	// Output:
	// [{ISBN:hamlet Reason:three loans already}]
}
