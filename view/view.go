package view

import "github.com/annals-dev/annals/decider"

// A View folds events into a state that answers queries. Evolve must be
// pure: it returns the next state and does not change its argument in a
// way the caller can observe (copy maps and slices it changes). Initial
// returns the state before any event; nil means the zero value of S.
type View[S, E any] struct {
	Evolve  func(S, E) S
	Initial func() S
}

// InitialState returns the state before any event.
func (v View[S, E]) InitialState() S {
	if v.Initial == nil {
		var zero S
		return zero
	}
	return v.Initial()
}

// Fold evolves s by each event in turn and returns the final state.
func (v View[S, E]) Fold(s S, events []E) S {
	for _, e := range events {
		s = v.Evolve(s, e)
	}
	return s
}

// Replay returns the state a history of events leads to from the initial
// state.
func (v View[S, E]) Replay(events []E) S {
	return v.Fold(v.InitialState(), events)
}

// Of returns the view that a decider's Evolve and Initial define: the
// state a decider decides on, as a read model.
func Of[C, E, S any](d decider.Decider[C, E, S]) View[S, E] {
	return View[S, E]{Evolve: d.Evolve, Initial: d.Initial}
}
