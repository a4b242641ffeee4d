package decider_test

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
)

// Two small deciders that the laws run on. They are chosen to reach what
// combinators can get wrong: several events per decision, rejections, a
// terminal state, a zero-value initial state (counter) and a map state
// with no IsTerminal (tally).

// counter counts between 0 and counterMax, one event per unit, until it is
// sealed; a sealed counter is terminal and refuses every command.
type (
	counterCmd struct {
		Op string // "inc", "dec", "seal"; anything else is refused
		By int
	}
	counterEvent struct{ Op string } // "incremented", "decremented", "sealed"
	counterState struct {
		N      int
		Sealed bool
	}
)

const counterMax = 5

var (
	errNotPositive = errors.New("amount must be positive")
	errOverflow    = errors.New("counter would pass its maximum")
	errUnderflow   = errors.New("counter would go below zero")
	errSealed      = errors.New("counter is sealed")
	errUnknown     = errors.New("unknown command")
)

var counter = decider.Decider[counterCmd, counterEvent, counterState]{
	Decide: func(c counterCmd, s counterState) ([]counterEvent, error) {
		if s.Sealed {
			return nil, errSealed
		}
		switch c.Op {
		case "seal":
			return []counterEvent{{Op: "sealed"}}, nil
		case "inc", "dec":
			if c.By <= 0 {
				return nil, fmt.Errorf("%s %d: %w", c.Op, c.By, errNotPositive)
			}
			next, op := s.N+c.By, "incremented"
			if c.Op == "dec" {
				next, op = s.N-c.By, "decremented"
			}
			switch {
			case next > counterMax:
				return nil, fmt.Errorf("%s %d from %d: %w", c.Op, c.By, s.N, errOverflow)
			case next < 0:
				return nil, fmt.Errorf("%s %d from %d: %w", c.Op, c.By, s.N, errUnderflow)
			}
			return slices.Repeat([]counterEvent{{Op: op}}, c.By), nil
		}
		return nil, fmt.Errorf("%q: %w", c.Op, errUnknown)
	},
	Evolve: func(s counterState, e counterEvent) counterState {
		switch e.Op {
		case "incremented":
			s.N++
		case "decremented":
			s.N--
		case "sealed":
			s.Sealed = true
		}
		return s
	},
	IsTerminal: func(s counterState) bool { return s.Sealed },
}

// tally counts votes per option, at most tallyMax each; a vote can be
// retracted. Its state is a map, so Evolve must copy it.
type (
	tallyCmd   struct{ Op, Option string } // "vote", "retract"
	tallyEvent struct{ Op, Option string } // "voted", "retracted"
	tallyState map[string]int
)

const tallyMax = 3

var (
	errNoOption  = errors.New("no option named")
	errTooMany   = errors.New("too many votes")
	errNoVote    = errors.New("no vote to retract")
	errNoSuchOp  = errors.New("no such operation")
	tallyOptions = []string{"x", "y", "z"}
)

var tally = decider.Decider[tallyCmd, tallyEvent, tallyState]{
	Decide: func(c tallyCmd, s tallyState) ([]tallyEvent, error) {
		if c.Option == "" {
			return nil, errNoOption
		}
		switch c.Op {
		case "vote":
			if s[c.Option] >= tallyMax {
				return nil, fmt.Errorf("vote %s: %w", c.Option, errTooMany)
			}
			return []tallyEvent{{Op: "voted", Option: c.Option}}, nil
		case "retract":
			if s[c.Option] <= 0 {
				return nil, fmt.Errorf("retract %s: %w", c.Option, errNoVote)
			}
			return []tallyEvent{{Op: "retracted", Option: c.Option}}, nil
		}
		return nil, fmt.Errorf("%q: %w", c.Op, errNoSuchOp)
	},
	Evolve: func(s tallyState, e tallyEvent) tallyState {
		next := maps.Clone(s)
		switch e.Op {
		case "voted":
			next[e.Option]++
		case "retracted":
			next[e.Option]--
		}
		if next[e.Option] == 0 {
			delete(next, e.Option)
		}
		return next
	},
	Initial: func() tallyState { return tallyState{} },
}

// Generators. Commands include invalid ones, so rejections are common;
// histories are arbitrary events, not only those the decider would emit,
// since a law must hold for every state a store can hand back.

var (
	counterCmds = rapid.Custom(func(t *rapid.T) counterCmd {
		by := rapid.IntRange(-1, 4).Draw(t, "by")
		switch k := rapid.IntRange(0, 11).Draw(t, "kind"); {
		case k < 6:
			return counterCmd{Op: "inc", By: by}
		case k < 10:
			return counterCmd{Op: "dec", By: by}
		case k == 10:
			return counterCmd{Op: "seal"}
		default:
			return counterCmd{Op: "bogus", By: by}
		}
	})
	counterEvents = rapid.Custom(func(t *rapid.T) counterEvent {
		switch k := rapid.IntRange(0, 12).Draw(t, "kind"); {
		case k < 7:
			return counterEvent{Op: "incremented"}
		case k < 12:
			return counterEvent{Op: "decremented"}
		default:
			return counterEvent{Op: "sealed"}
		}
	})
	tallyCmds = rapid.Custom(func(t *rapid.T) tallyCmd {
		op := rapid.SampledFrom([]string{"vote", "vote", "retract", "recount"}).Draw(t, "op")
		return tallyCmd{Op: op, Option: rapid.SampledFrom(append([]string{""}, tallyOptions...)).Draw(t, "option")}
	})
	tallyEvents = rapid.Custom(func(t *rapid.T) tallyEvent {
		op := rapid.SampledFrom([]string{"voted", "voted", "retracted"}).Draw(t, "op")
		return tallyEvent{Op: op, Option: rapid.SampledFrom(tallyOptions).Draw(t, "option")}
	})
)

const maxHistory = 30

func eithers[L, R any](left *rapid.Generator[L], right *rapid.Generator[R]) *rapid.Generator[decider.Either[L, R]] {
	return rapid.Custom(func(t *rapid.T) decider.Either[L, R] {
		if rapid.Bool().Draw(t, "right") {
			return decider.Right[L](right.Draw(t, "value"))
		}
		return decider.Left[L, R](left.Draw(t, "value"))
	})
}

var instanceKeys = []string{"a", "b", "c"}

func keyed[V any](values *rapid.Generator[V]) *rapid.Generator[decider.Keyed[string, V]] {
	return rapid.Custom(func(t *rapid.T) decider.Keyed[string, V] {
		return decider.Keyed[string, V]{
			Key:   rapid.SampledFrom(instanceKeys).Draw(t, "key"),
			Value: values.Draw(t, "value"),
		}
	})
}

// Comparisons. Errors are equal when they say the same thing; event lists
// are equal element by element, so nil and empty are the same list.

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error()
}

func sameEvents[E any](got, want []E) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			return false
		}
	}
	return true
}

// noIndex adapts a conversion to the transform lo.Map takes.
func noIndex[A, B any](f func(A) B) func(A, int) B {
	return func(a A, _ int) B { return f(a) }
}

func identity[T any](x T) T { return x }
