package saga

import (
	"github.com/samber/lo"

	"github.com/annals-dev/annals/decider"
)

// A Process is a saga with a state. For each event it reacts in the state
// before the event, then evolves the state by it:
//
//	commands := p.React(s, e)
//	s = p.Evolve(s, e)
//
// So a process that ships when both the payment and the stock have
// arrived reacts to the second of them, having seen the first in its
// state, and never twice.
//
// Evolve and React must be pure, like a decider's. Initial returns the
// state before any event; nil means the zero value of S. IsTerminal, when
// set, reports that the process is finished and its state may be
// forgotten; nil means never. A store's process (annals.NewProcess)
// forgets it: an event for the same instance after that starts from the
// initial state.
type Process[S, E, C any] struct {
	Evolve     func(S, E) S
	React      func(S, E) []C
	Initial    func() S
	IsTerminal func(S) bool
}

// InitialState returns the state before any event.
func (p Process[S, E, C]) InitialState() S {
	if p.Initial == nil {
		var zero S
		return zero
	}
	return p.Initial()
}

// Terminal reports whether s is a terminal state. It is false when
// IsTerminal is nil.
func (p Process[S, E, C]) Terminal(s S) bool {
	return p.IsTerminal != nil && p.IsTerminal(s)
}

// Step reacts to e in state s and evolves s by it. It returns the commands
// and the next state.
func (p Process[S, E, C]) Step(s S, e E) ([]C, S) {
	return p.React(s, e), p.Evolve(s, e)
}

// Run steps through events from the initial state and returns every
// command in order, and the final state.
func (p Process[S, E, C]) Run(events []E) ([]C, S) {
	s := p.InitialState()
	var all []C
	for _, e := range events {
		var cs []C
		cs, s = p.Step(s, e)
		all = append(all, cs...)
	}
	return all, s
}

// MapProcessEvent adapts p to events of type E2. f converts an event for
// p; when it returns false the event is not one p follows: p neither
// reacts to it nor evolves by it.
func MapProcessEvent[E2, S, E, C any](p Process[S, E, C], f func(E2) (E, bool)) Process[S, E2, C] {
	return Process[S, E2, C]{
		Evolve: func(s S, e2 E2) S {
			if e, ok := f(e2); ok {
				return p.Evolve(s, e)
			}
			return s
		},
		React: func(s S, e2 E2) []C {
			if e, ok := f(e2); ok {
				return p.React(s, e)
			}
			return nil
		},
		Initial:    p.Initial,
		IsTerminal: p.IsTerminal,
	}
}

// MapProcessCommand adapts p to commands of type C2, converted by f.
func MapProcessCommand[C2, S, E, C any](p Process[S, E, C], f func(C) C2) Process[S, E, C2] {
	return Process[S, E, C2]{
		Evolve: p.Evolve,
		React: func(s S, e E) []C2 {
			return lo.Map(p.React(s, e), func(c C, _ int) C2 { return f(c) })
		},
		Initial:    p.Initial,
		IsTerminal: p.IsTerminal,
	}
}

// CombineProcesses runs a on Left events and b on Right events, each in
// its own part of a [decider.Pair] of states; their commands come back
// wrapped on the same side. Each part reacts and evolves only by the
// events of its side. It is terminal when both parts are.
func CombineProcesses[S1, E1, C1, S2, E2, C2 any](a Process[S1, E1, C1], b Process[S2, E2, C2]) Process[decider.Pair[S1, S2], decider.Either[E1, E2], decider.Either[C1, C2]] {
	return Process[decider.Pair[S1, S2], decider.Either[E1, E2], decider.Either[C1, C2]]{
		Evolve: func(s decider.Pair[S1, S2], e decider.Either[E1, E2]) decider.Pair[S1, S2] {
			if e1, ok := e.Left(); ok {
				s.First = a.Evolve(s.First, e1)
				return s
			}
			e2, _ := e.Right()
			s.Second = b.Evolve(s.Second, e2)
			return s
		},
		React: func(s decider.Pair[S1, S2], e decider.Either[E1, E2]) []decider.Either[C1, C2] {
			if e1, ok := e.Left(); ok {
				return lo.Map(a.React(s.First, e1), left[C1, C2])
			}
			e2, _ := e.Right()
			return lo.Map(b.React(s.Second, e2), right[C1, C2])
		},
		Initial:    func() decider.Pair[S1, S2] { return pairOf(a, b) },
		IsTerminal: func(s decider.Pair[S1, S2]) bool { return a.Terminal(s.First) && b.Terminal(s.Second) },
	}
}

// MergeProcesses runs a and b on the same events, each in its own part of
// a [decider.Pair] of states: for each event the commands of a, then those
// of b, each reacting in its state before the event. It is terminal when
// both parts are.
func MergeProcesses[S1, S2, E, C1, C2 any](a Process[S1, E, C1], b Process[S2, E, C2]) Process[decider.Pair[S1, S2], E, decider.Either[C1, C2]] {
	return Process[decider.Pair[S1, S2], E, decider.Either[C1, C2]]{
		Evolve: func(s decider.Pair[S1, S2], e E) decider.Pair[S1, S2] {
			return decider.Pair[S1, S2]{First: a.Evolve(s.First, e), Second: b.Evolve(s.Second, e)}
		},
		React: func(s decider.Pair[S1, S2], e E) []decider.Either[C1, C2] {
			return append(lo.Map(a.React(s.First, e), left[C1, C2]), lo.Map(b.React(s.Second, e), right[C1, C2])...)
		},
		Initial:    func() decider.Pair[S1, S2] { return pairOf(a, b) },
		IsTerminal: func(s decider.Pair[S1, S2]) bool { return a.Terminal(s.First) && b.Terminal(s.Second) },
	}
}

func pairOf[S1, E1, C1, S2, E2, C2 any](a Process[S1, E1, C1], b Process[S2, E2, C2]) decider.Pair[S1, S2] {
	return decider.Pair[S1, S2]{First: a.InitialState(), Second: b.InitialState()}
}

// ManyProcesses runs one process per key over events addressed to keys:
// an event for key k is reacted to and evolved by instance(k) in k's own
// state, so each instance knows its key (to address its commands by it)
// and never sees another key's events. A key never seen is in its
// instance's initial state. The key type is inferred from instance.
//
// As [decider.Many] does, it keeps an instance that reached a terminal
// state rather than forgetting it: a forgotten key would be back in the
// initial state and react to a late event as if it had seen nothing.
// ManyProcesses itself is never terminal. Its state map is never mutated:
// Evolve copies it.
func ManyProcesses[K comparable, S, E, C any](instance func(key K) Process[S, E, C]) Process[map[K]S, decider.Keyed[K, E], C] {
	state := func(m map[K]S, k K, p Process[S, E, C]) S { return lo.ValueOr(m, k, p.InitialState()) }
	return Process[map[K]S, decider.Keyed[K, E], C]{
		Evolve: func(m map[K]S, e decider.Keyed[K, E]) map[K]S {
			p := instance(e.Key)
			return lo.Assign(m, map[K]S{e.Key: p.Evolve(state(m, e.Key, p), e.Value)})
		},
		React: func(m map[K]S, e decider.Keyed[K, E]) []C {
			p := instance(e.Key)
			return p.React(state(m, e.Key, p), e.Value)
		},
		Initial: func() map[K]S { return map[K]S{} },
	}
}

// follower is p's state as a decider that decides nothing: its Evolve,
// Initial and IsTerminal.
func follower[S, E, C any](p Process[S, E, C]) decider.Decider[struct{}, E, S] {
	return decider.Decider[struct{}, E, S]{Evolve: p.Evolve, Initial: p.Initial, IsTerminal: p.IsTerminal}
}

// processReactor is p's reaction as a decider whose commands are p's
// events and whose events are p's commands.
func processReactor[S, E, C any](p Process[S, E, C]) decider.Decider[E, C, S] {
	return decider.Decider[E, C, S]{
		Decide: func(e E, s S) ([]C, error) { return p.React(s, e), nil },
	}
}

// joined is the process that evolves as f does (f decides nothing, and
// its commands F are never built) and reacts as r decides:
// CombineProcesses3 to CombineProcesses6 join two combinations of the
// decider package, one over the parts' Evolve and one over their React.
func joined[F, S, E, C any](f decider.Decider[F, E, S], r decider.Decider[E, C, S]) Process[S, E, C] {
	return Process[S, E, C]{
		Evolve: f.Evolve,
		React: func(s S, e E) []C {
			commands, _ := r.Decide(e, s) // a reactor never fails
			return commands
		},
		Initial:    f.Initial,
		IsTerminal: f.IsTerminal,
	}
}
