package decider

import (
	"fmt"
	"slices"
	"strings"

	"github.com/samber/lo"
)

// The N-ary combinators of this package, of package view and of package
// saga are written by gennary.go:
//
//go:generate go run gennary.go

// Combine runs two deciders side by side. A Left command goes to a and a
// Right command to b; each decides on its own part of the [Pair] state, and
// its events come back wrapped on the same side. Each part of the state
// evolves only by the events of its own side.
//
// Each function must be in both parts or in neither: two deciders that
// decide nothing (the folds of package view) combine into one that
// decides nothing, and two that evolve nothing (the reactions of package
// saga) into one that evolves nothing. A function in one part and not in
// the other panics, naming the part that lacks it.
func Combine[C1, E1, S1, C2, E2, S2 any](a Decider[C1, E1, S1], b Decider[C2, E2, S2]) Decider[Either[C1, C2], Either[E1, E2], Pair[S1, S2]] {
	decides, evolves := wholeParts("Combine", []bool{a.Decide != nil, b.Decide != nil}, []bool{a.Evolve != nil, b.Evolve != nil})
	out := Decider[Either[C1, C2], Either[E1, E2], Pair[S1, S2]]{
		Initial: func() Pair[S1, S2] {
			return Pair[S1, S2]{First: a.InitialState(), Second: b.InitialState()}
		},
		IsTerminal: func(s Pair[S1, S2]) bool {
			return a.Terminal(s.First) && b.Terminal(s.Second)
		},
	}
	if decides {
		out.Decide = func(c Either[C1, C2], s Pair[S1, S2]) ([]Either[E1, E2], error) {
			if c1, ok := c.Left(); ok {
				events, err := a.Decide(c1, s.First)
				return lo.Map(events, as(Left[E1, E2])), err
			}
			c2, _ := c.Right()
			events, err := b.Decide(c2, s.Second)
			return lo.Map(events, as(Right[E1, E2])), err
		}
	}
	if evolves {
		out.Evolve = func(s Pair[S1, S2], e Either[E1, E2]) Pair[S1, S2] {
			if e1, ok := e.Left(); ok {
				s.First = a.Evolve(s.First, e1)
				return s
			}
			e2, _ := e.Right()
			s.Second = b.Evolve(s.Second, e2)
			return s
		}
	}
	return out
}

// wholeParts checks the parts that a combinator of the given name
// combines, in order, by whether each has a Decide and an Evolve, and
// reports whether the combination decides and whether it evolves. Each
// function must be in all parts or in none: a part without one among
// parts with it is a decider whose function went missing, which would
// fail only when a command or event first reached it, with no word of
// which part. So wholeParts panics then, as the runners do for a decider
// without its functions, naming the parts.
func wholeParts(combinator string, decides, evolves []bool) (bool, bool) {
	return allOrNone(combinator, "Decide", "a Decide that returns the events a command decides", decides),
		allOrNone(combinator, "Evolve", "an Evolve that returns the state after an event", evolves)
}

// allOrNone reports whether every part has the function fn, and panics
// when some have it and others do not.
func allOrNone(combinator, fn, want string, has []bool) bool {
	if !slices.Contains(has, false) {
		return true
	}
	if !slices.Contains(has, true) {
		return false
	}
	without := lo.FilterMap(has, func(h bool, i int) (string, bool) { return ordinal(i), !h })
	panic(fmt.Sprintf("decider.%s: the %s decider's %s is nil while the others have one: give it %s", combinator, strings.Join(without, " and "), fn, want))
}

// ordinal names the i-th part: "first".
func ordinal(i int) string {
	return [...]string{"first", "second", "third", "fourth", "fifth", "sixth"}[i]
}

// as adapts a conversion to the transform [lo.Map] takes.
func as[A, B any](f func(A) B) func(A, int) B {
	return func(a A, _ int) B { return f(a) }
}

// Neutral returns the decider that accepts every command, decides no event
// and never changes its empty state. It is the identity of [Combine]:
// combining a decider with Neutral and sending only Left commands behaves
// as the decider alone.
func Neutral[C, E any]() Decider[C, E, struct{}] {
	return Decider[C, E, struct{}]{
		Decide:     func(C, struct{}) ([]E, error) { return nil, nil },
		Evolve:     func(s struct{}, _ E) struct{} { return s },
		IsTerminal: func(struct{}) bool { return true },
	}
}

// Many runs one instance of d per key. A command for key k is decided by
// the instance of k on its own state, and its events are addressed to k.
// Instances never see each other's commands or events: the state of each
// key is the replay of that key's events alone. A key not in the map is in
// d's initial state.
//
// An instance that reaches a terminal state (see [Decider.IsTerminal]) is
// kept: forgetting it would put its key back in the initial state, and a
// finished instance — a closed account, a sealed counter — would start over
// with its next command. Many itself is never terminal, since a command for
// a new key can always come.
//
// The state map is never mutated: Evolve copies it, so a state value that
// a caller holds stays valid. That costs a copy of the map per event, and
// the map holds every key that ever had an event; for many thousands of
// keys, store each instance in its own stream instead.
//
// A Decide or an Evolve that d lacks, the result lacks too, so that a
// runner refuses it as it would refuse d.
func Many[K comparable, C, E, S any](d Decider[C, E, S]) Decider[Keyed[K, C], Keyed[K, E], map[K]S] {
	get := func(m map[K]S, k K) S { return lo.ValueOr(m, k, d.InitialState()) }
	out := Decider[Keyed[K, C], Keyed[K, E], map[K]S]{Initial: func() map[K]S { return map[K]S{} }}
	if d.Decide != nil {
		out.Decide = func(c Keyed[K, C], m map[K]S) ([]Keyed[K, E], error) {
			events, err := d.Decide(c.Value, get(m, c.Key))
			return lo.Map(events, func(e E, _ int) Keyed[K, E] { return Keyed[K, E]{Key: c.Key, Value: e} }), err
		}
	}
	if d.Evolve != nil {
		out.Evolve = func(m map[K]S, e Keyed[K, E]) map[K]S {
			return lo.Assign(m, map[K]S{e.Key: d.Evolve(get(m, e.Key), e.Value)})
		}
	}
	return out
}

// MapCommand adapts d to accept commands of type C2, converted by f.
// A Decide or an Evolve that d lacks, the result lacks too, so that a
// runner refuses it as it would refuse d.
func MapCommand[C2, C, E, S any](d Decider[C, E, S], f func(C2) C) Decider[C2, E, S] {
	out := Decider[C2, E, S]{Evolve: d.Evolve, Initial: d.Initial, IsTerminal: d.IsTerminal}
	if d.Decide != nil {
		out.Decide = func(c C2, s S) ([]E, error) { return d.Decide(f(c), s) }
	}
	return out
}

// MapEvent adapts d to events of type E2. to converts the events d decides;
// from converts an E2 back for d to evolve by. from must invert to.
// A Decide or an Evolve that d lacks, the result lacks too, so that a
// runner refuses it as it would refuse d.
func MapEvent[E2, C, E, S any](d Decider[C, E, S], to func(E) E2, from func(E2) E) Decider[C, E2, S] {
	out := Decider[C, E2, S]{Initial: d.Initial, IsTerminal: d.IsTerminal}
	if d.Decide != nil {
		out.Decide = func(c C, s S) ([]E2, error) {
			events, err := d.Decide(c, s)
			return lo.Map(events, as(to)), err
		}
	}
	if d.Evolve != nil {
		out.Evolve = func(s S, e E2) S { return d.Evolve(s, from(e)) }
	}
	return out
}

// MapState adapts d to a state of type S2. to converts d's state to S2 and
// from converts it back; from must invert to on the states d reaches.
// A Decide or an Evolve that d lacks, the result lacks too, so that a
// runner refuses it as it would refuse d.
func MapState[S2, C, E, S any](d Decider[C, E, S], to func(S) S2, from func(S2) S) Decider[C, E, S2] {
	out := Decider[C, E, S2]{Initial: func() S2 { return to(d.InitialState()) }}
	if d.Decide != nil {
		out.Decide = func(c C, s S2) ([]E, error) { return d.Decide(c, from(s)) }
	}
	if d.Evolve != nil {
		out.Evolve = func(s S2, e E) S2 { return to(d.Evolve(from(s), e)) }
	}
	if d.IsTerminal != nil {
		out.IsTerminal = func(s S2) bool { return d.IsTerminal(from(s)) }
	}
	return out
}

// flatten adapts a decider over nested commands, events and states to
// flat ones by isomorphisms: it is how Combine3 and the others are
// derived from Combine.
func flatten[C, E, S, FC, FE, FS any](d Decider[C, E, S], command func(FC) C, event func(E) FE, unevent func(FE) E, state func(S) FS, unstate func(FS) S) Decider[FC, FE, FS] {
	return MapState(MapEvent(MapCommand(d, command), event, unevent), state, unstate)
}
