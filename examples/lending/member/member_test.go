package member_test

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/proptest"
)

func TestRules(t *testing.T) {
	ada := member.Joined{Name: "Ada"}
	proptest.For(t, member.Decider).
		When(member.Join{Name: "Ada"}).
		Then(ada)
	proptest.For(t, member.Decider).
		When(member.Join{}).
		ThenError(member.ErrNoName)
	proptest.For(t, member.Decider).
		Given(ada).
		When(member.Join{Name: "Ada"}).
		ThenError(member.ErrJoined)
	proptest.For(t, member.Decider).
		Given(ada).
		When(member.Suspend{Reason: "late"}).
		Then(member.Suspended{Reason: "late"})
	proptest.For(t, member.Decider).
		When(member.Suspend{Reason: "late"}).
		ThenError(member.ErrUnknown)
	proptest.For(t, member.Decider).
		Given(ada, member.Suspended{Reason: "late"}).
		When(member.Suspend{Reason: "again"}).
		Then()
	proptest.For(t, member.Decider).
		Given(ada, member.Suspended{Reason: "late"}).
		ThenState(member.State{Name: "Ada", Joined: true, Suspended: true})
}

// Command draws a command a member may get: mostly one the rules
// accept, sometimes one they refuse.
func Command(t *rapid.T, s member.State) member.Command {
	if !s.Joined || rapid.IntRange(0, 4).Draw(t, "again") == 0 {
		return member.Join{Name: rapid.SampledFrom([]string{"Ada", "Bob", ""}).Draw(t, "name")}
	}
	return member.Suspend{Reason: "late"}
}

func TestReplayEqualsLive(t *testing.T) {
	proptest.ReplayEqualsLive(t, member.Decider, Command)
}

// For any commands, a member joins once and stays suspended once
// suspended.
func TestJoinedOnceSuspendedForGood(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := member.Decider.InitialState()
		joined := 0
		for range rapid.IntRange(0, 20).Draw(t, "length") {
			c := Command(t, s)
			events, next, err := member.Decider.Step(s, c)
			if err != nil {
				continue
			}
			for _, e := range events {
				if _, ok := e.(member.Joined); ok {
					joined++
				}
			}
			if joined > 1 || (s.Suspended && !next.Suspended) || (next.Suspended && !next.Joined) {
				t.Fatalf("%#v: joined %d times, from %+v to %+v", c, joined, s, next)
			}
			s = next
		}
	})
}

func ExampleDecider() {
	_, s, _ := member.Decider.Run([]member.Command{member.Join{Name: "Ada"}, member.Suspend{Reason: "two late returns"}})
	events, err := member.Decider.Decide(member.Suspend{Reason: "again"}, s)
	fmt.Printf("%+v %+v %v\n", s, events, err)
	// Output:
	// {Name:Ada Joined:true Suspended:true} [] <nil>
}
