package view

import (
	"github.com/samber/lo"

	"github.com/annals-dev/annals/decider"
)

// Combine folds a over Left events and b over Right events, into the First
// and Second parts of a pair of states.
func Combine[S1, E1, S2, E2 any](a View[S1, E1], b View[S2, E2]) View[decider.Pair[S1, S2], decider.Either[E1, E2]] {
	return View[decider.Pair[S1, S2], decider.Either[E1, E2]]{
		Evolve: func(s decider.Pair[S1, S2], e decider.Either[E1, E2]) decider.Pair[S1, S2] {
			if e1, ok := e.Left(); ok {
				s.First = a.Evolve(s.First, e1)
				return s
			}
			e2, _ := e.Right()
			s.Second = b.Evolve(s.Second, e2)
			return s
		},
		Initial: func() decider.Pair[S1, S2] {
			return decider.Pair[S1, S2]{First: a.InitialState(), Second: b.InitialState()}
		},
	}
}

// Merge folds a and b over the same events, into the First and Second
// parts of a pair of states: two read models fed by one stream of events.
func Merge[S1, S2, E any](a View[S1, E], b View[S2, E]) View[decider.Pair[S1, S2], E] {
	return View[decider.Pair[S1, S2], E]{
		Evolve: func(s decider.Pair[S1, S2], e E) decider.Pair[S1, S2] {
			return decider.Pair[S1, S2]{First: a.Evolve(s.First, e), Second: b.Evolve(s.Second, e)}
		},
		Initial: func() decider.Pair[S1, S2] {
			return decider.Pair[S1, S2]{First: a.InitialState(), Second: b.InitialState()}
		},
	}
}

// Many keeps one state of v per key: an event for key k evolves k's state
// only, and a key never seen is in v's initial state.
//
// The state map is never mutated: Evolve copies it, so a state a caller
// holds stays valid. That costs a copy per event; a projection that keeps
// one state per key stores each key's state on its own instead (see
// annals.ViewProjection).
func Many[K comparable, S, E any](v View[S, E]) View[map[K]S, decider.Keyed[K, E]] {
	return View[map[K]S, decider.Keyed[K, E]]{
		Evolve: func(m map[K]S, e decider.Keyed[K, E]) map[K]S {
			return lo.Assign(m, map[K]S{e.Key: v.Evolve(lo.ValueOr(m, e.Key, v.InitialState()), e.Value)})
		},
		Initial: func() map[K]S { return map[K]S{} },
	}
}

// MapEvent adapts v to events of type E2. f converts an event for v; when
// it returns false the event is not one v cares about and leaves the state
// unchanged.
func MapEvent[E2, S, E any](v View[S, E], f func(E2) (E, bool)) View[S, E2] {
	return View[S, E2]{
		Evolve: func(s S, e2 E2) S {
			if e, ok := f(e2); ok {
				return v.Evolve(s, e)
			}
			return s
		},
		Initial: v.Initial,
	}
}

// MapState adapts v to a state of type S2. to converts v's state to S2 and
// from converts it back; from must invert to on the states v reaches.
func MapState[S2, S, E any](v View[S, E], to func(S) S2, from func(S2) S) View[S2, E] {
	return View[S2, E]{
		Evolve:  func(s S2, e E) S2 { return to(v.Evolve(from(s), e)) },
		Initial: func() S2 { return to(v.InitialState()) },
	}
}

// folding is v as a decider that decides nothing: Combine3 to Combine6
// are the views of the decider package's combinators over such deciders.
func folding[S, E any](v View[S, E]) decider.Decider[struct{}, E, S] {
	return decider.Decider[struct{}, E, S]{Evolve: v.Evolve, Initial: v.Initial}
}
