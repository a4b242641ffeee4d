package proptest

import (
	"errors"
	"maps"
	"slices"
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
			votes := maps.Clone(s.Votes)
			if votes == nil {
				votes = map[string]int{}
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

// recorder is a testing.TB that keeps failures and cleanups instead of
// failing and cleaning up.
type recorder struct {
	testing.TB
	errors   []string
	cleanups []func()
}

func (r *recorder) Helper()             {}
func (r *recorder) Log(...any)          {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, sprintf(format, args...))
}
func (r *recorder) Error(args ...any)                 { r.errors = append(r.errors, sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...) }
func (r *recorder) Fail()                             { r.errors = append(r.errors, "failed") }
func (r *recorder) FailNow()                          { r.Fail() }
func (r *recorder) Failed() bool                      { return len(r.errors) > 0 }
func (r *recorder) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }

// finish runs the cleanups, as the end of a test would.
func (r *recorder) finish() {
	for _, f := range slices.Backward(r.cleanups) {
		f()
	}
	r.cleanups = nil
}

func (r *recorder) output() string { return strings.Join(r.errors, "\n") }

func TestReplayEqualsLiveHoldsForAPureDecider(t *testing.T) {
	t.Run("commands from a generator", func(t *testing.T) { ReplayEqualsLive(t, tallyDecider(), voteGen) })
	t.Run("commands given the state", func(t *testing.T) {
		// Vote only for options that can still take a vote, so that runs
		// are long and never refused.
		ReplayEqualsLive(t, tallyDecider(), func(t *rapid.T, s tally) vote {
			open := slices.DeleteFunc([]string{"x", "y", "z", "w"}, func(o string) bool { return s.Votes[o] >= 3 })
			return vote{option: rapid.SampledFrom(open).Draw(t, "option")}
		}, Length(5, 12))
	})
}

func TestLengthBoundsTheRuns(t *testing.T) {
	for _, c := range []struct {
		opts     []Option
		min, max int
	}{
		{nil, 0, MaxCommands},
		{[]Option{Length(3, 5)}, 3, 5},
		{[]Option{Length(7, 7)}, 7, 7},
		{[]Option{Length(-2, 4)}, 0, 4},
		{[]Option{Length(6, 2)}, 6, 6},
		{[]Option{Length(1, 2), Length(4, 9)}, 4, 9},
	} {
		o := configure(c.opts)
		if o.min != c.min || o.max != c.max {
			t.Errorf("options %v: lengths %d to %d, want %d to %d", c.opts, o.min, o.max, c.min, c.max)
		}
		seen := map[int]bool{}
		rapid.Check(t, func(t *rapid.T) {
			n := drawLength(t, o)
			if n < c.min || n > c.max {
				t.Fatalf("drew %d, want %d to %d", n, c.min, c.max)
			}
			seen[n] = true
		})
		if c.max-c.min <= 5 && (!seen[c.min] || !seen[c.max]) {
			t.Errorf("lengths %d to %d: drew %v, never a bound", c.min, c.max, seen)
		}
	}
}

// runMismatch runs commands live and checks each step against a replay.
func runMismatch[C, E, S any](d decider.Decider[C, E, S], commands []C) string {
	r := &liveRun[C, E, S]{d: d, live: d.InitialState()}
	for _, c := range commands {
		if _, msg := r.step(c); msg != "" {
			return msg
		}
	}
	return ""
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

	for name, c := range map[string]struct {
		d    decider.Decider[vote, voted, tally]
		want []string // fragments the failure must contain
	}{
		"in-place evolve":                {inPlace, []string{"command 0, proptest.vote{option:\"x\"}", "changed the state it started from", `+   Votes: map[string]int{"x":1}`}},
		"in-place evolve, fresh initial": {freshInPlace, []string{"command 0", "changed the state it started from"}},
		"hidden input":                   {hidden, []string{"command 0, proptest.vote{option:\"x\"}", "decided twice"}},
		"leaky rejection":                {leaky, []string{"command 0, proptest.vote{option:\"x\"}, was rejected", `proptest.voted{Option:"x"}`}},
	} {
		msg := runMismatch(c.d, commands)
		if msg == "" {
			t.Errorf("%s: replay-equals-live found nothing wrong", name)
			continue
		}
		for _, frag := range c.want {
			if !strings.Contains(msg, frag) {
				t.Errorf("%s: the failure lacks %q:\n%s", name, frag, msg)
			}
		}
	}
	if msg := runMismatch(tallyDecider(), commands); msg != "" {
		t.Errorf("pure decider reported: %s", msg)
	}
}

// The whole property fails too, through rapid, and says why.
func TestReplayEqualsLiveFailsTheTest(t *testing.T) {
	inPlace := tallyDecider()
	inPlace.Evolve = func(s tally, e voted) tally {
		s.Votes[e.Option]++
		s.Total++
		return s
	}
	r := &recorder{TB: t}
	ReplayEqualsLive(r, inPlace, voteGen)
	if !strings.Contains(r.output(), "changed the state it started from") {
		t.Errorf("ReplayEqualsLive passed an Evolve that changes its state in place:\n%s", r.output())
	}
}

func TestSpecPassesWhatHolds(t *testing.T) {
	d := tallyDecider()
	For(t, d).Given(voted{"x"}).When(vote{"y"}).Then(voted{"y"})
	For(t, d).Given(voted{"x"}, voted{"x"}, voted{"x"}).When(vote{"x"}).ThenError(errTooMany)
	For(t, d).Given(voted{"x"}).When(vote{"x"}).ThenState(tally{Votes: map[string]int{"x": 2}, Total: 2})
	For(t, d).Given(voted{"x"}).ThenState(tally{Votes: map[string]int{"x": 1}, Total: 1})
}

// specFailure runs one specification on a recorder, to the end of its
// test, and returns the one failure it reported.
func specFailure(t *testing.T, name string, run func(tb testing.TB)) string {
	t.Helper()
	r := &recorder{TB: t}
	run(r)
	r.finish()
	if len(r.errors) != 1 {
		t.Errorf("%s: %d failures reported, want 1: %q", name, len(r.errors), r.errors)
		return ""
	}
	return r.errors[0]
}

type failureCase struct {
	name string
	run  func(tb testing.TB)
	want []string // fragments the failure message must contain
}

func checkFailures(t *testing.T, cases []failureCase) {
	t.Helper()
	for _, c := range cases {
		msg := specFailure(t, c.name, c.run)
		for _, frag := range c.want {
			if !strings.Contains(msg, frag) {
				t.Errorf("%s: failure message lacks %q:\n%s", c.name, frag, msg)
			}
		}
	}
}

// withItems has a slice that can be nil or empty: a failure must tell
// which.
type withItems struct{ Items []string }

func TestSpecReportsWhatDiffers(t *testing.T) {
	d := tallyDecider()
	items := decider.Decider[string, string, withItems]{
		Decide: func(c string, _ withItems) ([]string, error) { return []string{c}, nil },
		Evolve: func(s withItems, e string) withItems {
			if e == "" {
				return withItems{Items: []string{}}
			}
			return withItems{Items: append(slices.Clip(s.Items), e)}
		},
	}
	checkFailures(t, []failureCase{
		{"other events", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}).When(vote{"y"}).Then(voted{"x"})
		}, []string{`- proptest.voted{Option:"x"}`, `+ proptest.voted{Option:"y"}`, `when  proptest.vote{option:"y"}`}},
		{"rejected instead", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}, voted{"x"}, voted{"x"}).When(vote{"x"}).Then(voted{"x"})
		}, []string{"rejected", "too many votes", `when  proptest.vote{option:"x"}`}},
		{"accepted instead", func(tb testing.TB) {
			For(tb, d).When(vote{"x"}).ThenError(errTooMany)
		}, []string{"accepted", `proptest.voted{Option:"x"}`}},
		{"other error", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}, voted{"x"}, voted{"x"}).When(vote{"x"}).ThenError(errors.New("closed"))
		}, []string{"then  error closed", "too many votes"}},
		{"other state", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}).When(vote{"x"}).ThenState(tally{Votes: map[string]int{"x": 2}, Total: 3})
		}, []string{"-   Total: 3", "+   Total: 2", `when  proptest.vote{option:"x"}`}},
		{"nil where empty is wanted", func(tb testing.TB) {
			For(tb, items).ThenState(withItems{Items: []string{}})
		}, []string{"-   Items: []string{}", "+   Items: []string(nil)"}},
		{"empty where nil is wanted", func(tb testing.TB) {
			For(tb, items).When("").ThenState(withItems{})
		}, []string{"-   Items: []string(nil)", "+   Items: []string{}", `when  ""`}},
		{"no command", func(tb testing.TB) {
			For(tb, d).Then()
		}, []string{"Then without When"}},
		{"no Then", func(tb testing.TB) {
			For(tb, d).Given(voted{"x"}).When(vote{"y"})
		}, []string{"no Then", `when  proptest.vote{option:"y"}`, "the specification begun at decider_test.go:"}},
		{"nothing at all", func(tb testing.TB) {
			For(tb, d)
		}, []string{"no Then"}},
	})
}

func TestDiffKeepsCommonLines(t *testing.T) {
	got := diff([]string{"a", "b", "c"}, []string{"a", "x", "c", "d"})
	want := "  a\n- b\n+ x\n  c\n+ d\n"
	if got != want {
		t.Errorf("diff =\n%s\nwant\n%s", got, want)
	}
	if got := diff([]string{"a"}, []string{"a"}); got != "" {
		t.Errorf("diff of equal lines = %q, want none", got)
	}
}

func TestFieldLinesShowUnexportedFieldsAndSums(t *testing.T) {
	type inner struct {
		note string
		tags []string
	}
	got := fieldLines(inner{note: "n"})
	if want := []string{"proptest.inner", `  note: "n"`, "  tags: []string(nil)"}; !slices.Equal(got, want) {
		t.Errorf("fieldLines = %q, want %q", got, want)
	}
	pair := decider.Pair[int, []int]{First: 1}
	if got, want := fieldLines(pair), []string{"decider.Pair{First:1, Second:[]int(nil)}"}; !slices.Equal(got, want) {
		t.Errorf("fieldLines of a pair = %q, want %q", got, want)
	}
}
