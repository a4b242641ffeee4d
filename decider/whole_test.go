package decider_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/annals-dev/annals/decider"
)

// panicOf returns what f panics with, or "" when it returns.
func panicOf(f func()) (msg string) {
	defer func() {
		if v := recover(); v != nil {
			msg = fmt.Sprint(v)
		}
	}()
	f()
	return ""
}

// A combinator given a part without the Decide or the Evolve that the
// other parts have panics when it is built, naming the combinator, the
// part and the function, rather than with a nil dereference when the
// first command reaches that part; a function that every part lacks is
// lacking from the whole (views decide nothing, sagas evolve nothing),
// and the adapters of one decider keep what it lacks lacking, so that a
// runner refuses the result as it refuses the decider.
func TestCombinatorsRefuseAPartWithoutAFunctionTheOthersHave(t *testing.T) {
	noDecide, noEvolve := counter, tally
	noDecide.Decide = nil
	noEvolve.Evolve = nil
	cases := []struct {
		name  string
		build func()
		want  []string // what the panic names; none when it must not panic
	}{
		{"Combine, second without Evolve", func() { decider.Combine(counter, noEvolve) }, []string{"decider.Combine:", "second", "Evolve"}},
		{"Combine, first without Decide", func() { decider.Combine(noDecide, tally) }, []string{"decider.Combine:", "first", "Decide"}},
		{"Combine3 of a Many without Decide", func() {
			decider.Combine3(decider.Many[string](noDecide), counter, tally)
		}, []string{"decider.Combine3:", "first", "Decide"}},
		{"Combine4, second and fourth without Decide", func() {
			decider.Combine4(counter, noDecide, tally, decider.MapState(noDecide, func(s counterState) counterState { return s }, func(s counterState) counterState { return s }))
		}, []string{"decider.Combine4:", "second and fourth", "Decide"}},
		{"Combine5, third without Evolve", func() {
			decider.Combine5(counter, tally, noEvolve, counter, tally)
		}, []string{"decider.Combine5:", "third", "Evolve"}},
		{"Combine3 of folds", func() {
			d := decider.Combine3(noDecide, noDecide, noDecide)
			if d.Decide != nil || d.Evolve == nil {
				panic("a combination of folds decides or does not evolve")
			}
		}, nil},
		{"Combine of reactions", func() {
			d := decider.Combine(noEvolve, noEvolve)
			if d.Decide == nil || d.Evolve != nil {
				panic("a combination of reactions does not decide or evolves")
			}
		}, nil},
		{"adapters keep what is lacking", func() {
			id := func(s counterState) counterState { return s }
			for name, d := range map[string]decider.Decider[counterCmd, counterEvent, counterState]{
				"MapState":   decider.MapState(noDecide, id, id),
				"MapCommand": decider.MapCommand(noDecide, func(c counterCmd) counterCmd { return c }),
				"MapEvent":   decider.MapEvent(noDecide, func(e counterEvent) counterEvent { return e }, func(e counterEvent) counterEvent { return e }),
			} {
				if d.Decide != nil || d.Evolve == nil {
					panic(name + " gave a Decide to a decider without one, or lost its Evolve")
				}
			}
			if m := decider.Many[string](noEvolve); m.Evolve != nil || m.Decide == nil {
				panic("Many gave an Evolve to a decider without one, or lost its Decide")
			}
		}, nil},
	}
	for _, c := range cases {
		msg := panicOf(c.build)
		if c.want == nil {
			if msg != "" {
				t.Errorf("%s: panicked: %s", c.name, msg)
			}
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: panicked with %q, want it to name %q", c.name, msg, w)
			}
		}
	}
}
