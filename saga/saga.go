package saga

import "github.com/annals-dev/annals/decider"

// A Saga reacts to an event with the commands it causes, possibly none.
// React must be pure: the same event always gives the same commands, in
// the same order, so that a replayed event causes nothing new.
type Saga[E, C any] struct {
	React func(E) []C
}

// Process returns s as a process with no state.
func (s Saga[E, C]) Process() Process[struct{}, E, C] {
	return Process[struct{}, E, C]{
		Evolve: func(st struct{}, _ E) struct{} { return st },
		React:  func(_ struct{}, e E) []C { return s.React(e) },
	}
}

// Combine runs a on Left events and b on Right events; their commands come
// back wrapped on the same side.
func Combine[E1, C1, E2, C2 any](a Saga[E1, C1], b Saga[E2, C2]) Saga[decider.Either[E1, E2], decider.Either[C1, C2]] {
	return Saga[decider.Either[E1, E2], decider.Either[C1, C2]]{
		React: func(e decider.Either[E1, E2]) []decider.Either[C1, C2] {
			if e1, ok := e.Left(); ok {
				return mapSlice(a.React(e1), decider.Left[C1, C2])
			}
			e2, _ := e.Right()
			return mapSlice(b.React(e2), decider.Right[C1, C2])
		},
	}
}

// Merge runs a and b on the same events: the commands of a, then those of
// b.
func Merge[E, C1, C2 any](a Saga[E, C1], b Saga[E, C2]) Saga[E, decider.Either[C1, C2]] {
	return Saga[E, decider.Either[C1, C2]]{
		React: func(e E) []decider.Either[C1, C2] {
			return append(mapSlice(a.React(e), decider.Left[C1, C2]), mapSlice(b.React(e), decider.Right[C1, C2])...)
		},
	}
}

// MapEvent adapts s to events of type E2. f converts an event for s; when
// it returns false the event is not one s reacts to.
func MapEvent[E2, E, C any](s Saga[E, C], f func(E2) (E, bool)) Saga[E2, C] {
	return Saga[E2, C]{
		React: func(e2 E2) []C {
			if e, ok := f(e2); ok {
				return s.React(e)
			}
			return nil
		},
	}
}

// MapCommand adapts s to commands of type C2, converted by f.
func MapCommand[C2, E, C any](s Saga[E, C], f func(C) C2) Saga[E, C2] {
	return Saga[E, C2]{React: func(e E) []C2 { return mapSlice(s.React(e), f) }}
}

func mapSlice[A, B any](in []A, f func(A) B) []B {
	if len(in) == 0 {
		return nil
	}
	out := make([]B, len(in))
	for i, a := range in {
		out[i] = f(a)
	}
	return out
}
