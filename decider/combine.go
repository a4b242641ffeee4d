package decider

import "github.com/samber/lo"

// The N-ary combinators of this package, of package view and of package
// saga are written by gennary.go:
//
//go:generate go run gennary.go

// Combine runs two deciders side by side. A Left command goes to a and a
// Right command to b; each decides on its own part of the [Pair] state, and
// its events come back wrapped on the same side. Each part of the state
// evolves only by the events of its own side.
func Combine[C1, E1, S1, C2, E2, S2 any](a Decider[C1, E1, S1], b Decider[C2, E2, S2]) Decider[Either[C1, C2], Either[E1, E2], Pair[S1, S2]] {
	return Decider[Either[C1, C2], Either[E1, E2], Pair[S1, S2]]{
		Decide: func(c Either[C1, C2], s Pair[S1, S2]) ([]Either[E1, E2], error) {
			if c1, ok := c.Left(); ok {
				events, err := a.Decide(c1, s.First)
				return lo.Map(events, as(Left[E1, E2])), err
			}
			c2, _ := c.Right()
			events, err := b.Decide(c2, s.Second)
			return lo.Map(events, as(Right[E1, E2])), err
		},
		Evolve: func(s Pair[S1, S2], e Either[E1, E2]) Pair[S1, S2] {
			if e1, ok := e.Left(); ok {
				s.First = a.Evolve(s.First, e1)
				return s
			}
			e2, _ := e.Right()
			s.Second = b.Evolve(s.Second, e2)
			return s
		},
		Initial: func() Pair[S1, S2] {
			return Pair[S1, S2]{First: a.InitialState(), Second: b.InitialState()}
		},
		IsTerminal: func(s Pair[S1, S2]) bool {
			return a.Terminal(s.First) && b.Terminal(s.Second)
		},
	}
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
func Many[K comparable, C, E, S any](d Decider[C, E, S]) Decider[Keyed[K, C], Keyed[K, E], map[K]S] {
	get := func(m map[K]S, k K) S { return lo.ValueOr(m, k, d.InitialState()) }
	return Decider[Keyed[K, C], Keyed[K, E], map[K]S]{
		Decide: func(c Keyed[K, C], m map[K]S) ([]Keyed[K, E], error) {
			events, err := d.Decide(c.Value, get(m, c.Key))
			return lo.Map(events, func(e E, _ int) Keyed[K, E] { return Keyed[K, E]{Key: c.Key, Value: e} }), err
		},
		Evolve: func(m map[K]S, e Keyed[K, E]) map[K]S {
			return lo.Assign(m, map[K]S{e.Key: d.Evolve(get(m, e.Key), e.Value)})
		},
		Initial: func() map[K]S { return map[K]S{} },
	}
}

// MapCommand adapts d to accept commands of type C2, converted by f.
func MapCommand[C2, C, E, S any](d Decider[C, E, S], f func(C2) C) Decider[C2, E, S] {
	return Decider[C2, E, S]{
		Decide:     func(c C2, s S) ([]E, error) { return d.Decide(f(c), s) },
		Evolve:     d.Evolve,
		Initial:    d.Initial,
		IsTerminal: d.IsTerminal,
	}
}

// MapEvent adapts d to events of type E2. to converts the events d decides;
// from converts an E2 back for d to evolve by. from must invert to.
func MapEvent[E2, C, E, S any](d Decider[C, E, S], to func(E) E2, from func(E2) E) Decider[C, E2, S] {
	return Decider[C, E2, S]{
		Decide: func(c C, s S) ([]E2, error) {
			events, err := d.Decide(c, s)
			return lo.Map(events, as(to)), err
		},
		Evolve:     func(s S, e E2) S { return d.Evolve(s, from(e)) },
		Initial:    d.Initial,
		IsTerminal: d.IsTerminal,
	}
}

// MapState adapts d to a state of type S2. to converts d's state to S2 and
// from converts it back; from must invert to on the states d reaches.
func MapState[S2, C, E, S any](d Decider[C, E, S], to func(S) S2, from func(S2) S) Decider[C, E, S2] {
	out := Decider[C, E, S2]{
		Decide:  func(c C, s S2) ([]E, error) { return d.Decide(c, from(s)) },
		Evolve:  func(s S2, e E) S2 { return to(d.Evolve(from(s), e)) },
		Initial: func() S2 { return to(d.InitialState()) },
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
