package proptest

import (
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
)

// A tally counts votes per option, with at most 3 votes per option.
type vote struct{ option string }
type voted struct{ Option string }
type tally struct {
	Votes map[string]int
	Total int
}

var errTooMany = errors.New("too many votes")

func tallyDecider() decider.Decider[vote, voted, tally] {
	return decider.Decider[vote, voted, tally]{
		Decide: func(c vote, s tally) ([]voted, error) {
			if s.Votes[c.option] >= 3 {
				return nil, errTooMany
			}
			return []voted{{Option: c.option}}, nil
		},
		Evolve: func(s tally, e voted) tally {
			votes := make(map[string]int, len(s.Votes)+1)
			for k, v := range s.Votes {
				votes[k] = v
			}
			votes[e.Option]++
			return tally{Votes: votes, Total: s.Total + 1}
		},
		Initial: func() tally { return tally{Votes: map[string]int{}} },
	}
}

var voteGen = rapid.Custom(func(t *rapid.T) vote {
	return vote{option: rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "option")}
})

func TestReplayEqualsLiveHoldsForAPureDecider(t *testing.T) {
	ReplayEqualsLive(t, tallyDecider(), voteGen)
}

func TestReplayEqualsLiveCatchesImpureDeciders(t *testing.T) {
	commands := []vote{{"x"}, {"y"}, {"x"}}

	// Evolve updates the map in place: live and replayed states share it.
	inPlace := tallyDecider()
	inPlace.Evolve = func(s tally, e voted) tally {
		s.Votes[e.Option]++
		s.Total++
		return s
	}
	shared := map[string]int{}
	inPlace.Initial = func() tally { return tally{Votes: shared} }

	// Evolve updates the map in place, though each replay starts from a
	// fresh one: the state a caller held changes under it.
	freshInPlace := inPlace
	freshInPlace.Initial = func() tally { return tally{Votes: map[string]int{}} }

	// Decide depends on something outside its arguments.
	calls := 0
	hidden := tallyDecider()
	hidden.Decide = func(c vote, s tally) ([]voted, error) {
		calls++
		return []voted{{Option: strings.Repeat(c.option, calls%2+1)}}, nil
	}

	// A rejection that still emits events.
	leaky := tallyDecider()
	leaky.Decide = func(c vote, s tally) ([]voted, error) {
		return []voted{{Option: c.option}}, errTooMany
	}

	for name, d := range map[string]decider.Decider[vote, voted, tally]{"in-place evolve": inPlace, "in-place evolve, fresh initial": freshInPlace, "hidden input": hidden, "leaky rejection": leaky} {
		if msg := replayMismatch(d, commands); msg == "" {
			t.Errorf("%s: replay-equals-live found nothing wrong", name)
		} else {
			t.Logf("%s: %s", name, msg)
		}
	}
	if msg := replayMismatch(tallyDecider(), commands); msg != "" {
		t.Errorf("pure decider reported: %s", msg)
	}
}

// recorder is a testing.TB that keeps failures instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, sprintf(format, args...))
}

func TestSpecPassesWhatHolds(t *testing.T) {
	d := tallyDecider()
	For(t, d).Given(voted{"x"}).When(vote{"y"}).Then(voted{"y"})
	For(t, d).Given(voted{"x"}, voted{"x"}, voted{"x"}).When(vote{"x"}).ThenError(errTooMany)
	For(t, d).Given(voted{"x"}).When(vote{"x"}).ThenState(tally{Votes: map[string]int{"x": 2}, Total: 2})
	For(t, d).Given(voted{"x"}).ThenState(tally{Votes: map[string]int{"x": 1}, Total: 1})
}

func TestSpecReportsWhatDiffers(t *testing.T) {
	d := tallyDecider()
	cases := []struct {
		name string
		run  func(tb testing.TB)
		want []string // fragments the failure message must contain
	}{
		{"other events", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}).When(vote{"y"}).Then(voted{"x"})
		}, []string{"- proptest.voted{Option:x}", "+ proptest.voted{Option:y}", "when  proptest.vote{option:y}"}},
		{"rejected instead", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}, voted{"x"}, voted{"x"}).When(vote{"x"}).Then(voted{"x"})
		}, []string{"rejected", "too many votes"}},
		{"accepted instead", func(tb testing.TB) {
			For(tb, d).When(vote{"x"}).ThenError(errTooMany)
		}, []string{"accepted", "proptest.voted{Option:x}"}},
		{"other error", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}, voted{"x"}, voted{"x"}).When(vote{"x"}).ThenError(errors.New("closed"))
		}, []string{"then  error closed", "too many votes"}},
		{"other state", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}).When(vote{"x"}).ThenState(tally{Votes: map[string]int{"x": 2}, Total: 3})
		}, []string{"-   Total: 3", "+   Total: 2"}},
		{"no command", func(tb testing.TB) {
			For(tb, d).Then()
		}, []string{"Then without When"}},
	}
	for _, c := range cases {
		r := &recorder{TB: t}
		c.run(r)
		if len(r.errors) != 1 {
			t.Errorf("%s: %d failures reported, want 1: %q", c.name, len(r.errors), r.errors)
			continue
		}
		for _, frag := range c.want {
			if !strings.Contains(r.errors[0], frag) {
				t.Errorf("%s: failure message lacks %q:\n%s", c.name, frag, r.errors[0])
			}
		}
	}
}

func TestDiffKeepsCommonLines(t *testing.T) {
	got := diff([]string{"a", "b", "c"}, []string{"a", "x", "c", "d"})
	want := "  a\n+ x\n- b\n  c\n+ d\n"
	if got != want {
		t.Errorf("diff =\n%s\nwant\n%s", got, want)
	}
}
