package saga

import (
	"github.com/samber/lo"

	"github.com/annals-dev/annals/decider"
)

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
				return lo.Map(a.React(e1), left[C1, C2])
			}
			e2, _ := e.Right()
			return lo.Map(b.React(e2), right[C1, C2])
		},
	}
}

// Merge runs a and b on the same events: the commands of a, then those of
// b.
func Merge[E, C1, C2 any](a Saga[E, C1], b Saga[E, C2]) Saga[E, decider.Either[C1, C2]] {
	return Saga[E, decider.Either[C1, C2]]{
		React: func(e E) []decider.Either[C1, C2] {
			return append(lo.Map(a.React(e), left[C1, C2]), lo.Map(b.React(e), right[C1, C2])...)
		},
	}
}

// Many runs one saga per key over events addressed to keys: an event for
// key k is reacted to by instance(k), so each instance knows its key and
// can address its commands by it. The key type is inferred from instance.
func Many[K comparable, E, C any](instance func(key K) Saga[E, C]) Saga[decider.Keyed[K, E], C] {
	return Saga[decider.Keyed[K, E], C]{
		React: func(e decider.Keyed[K, E]) []C { return instance(e.Key).React(e.Value) },
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
	return Saga[E, C2]{React: func(e E) []C2 {
		return lo.Map(s.React(e), func(c C, _ int) C2 { return f(c) })
	}}
}

// left and right wrap a command on one side, in the shape lo.Map takes.
func left[C1, C2 any](c C1, _ int) decider.Either[C1, C2]  { return decider.Left[C1, C2](c) }
func right[C1, C2 any](c C2, _ int) decider.Either[C1, C2] { return decider.Right[C1](c) }

// reactor is s as a decider whose commands are s's events and whose
// events are s's commands: Combine3 to Combine6 are the decisions of the
// decider package's combinators over such deciders.
func reactor[E, C any](s Saga[E, C]) decider.Decider[E, C, struct{}] {
	return decider.Decider[E, C, struct{}]{
		Decide: func(e E, _ struct{}) ([]C, error) { return s.React(e), nil },
	}
}

// reacting is the saga that reacts to an event as d decides it in its
// initial state.
func reacting[E, C, S any](d decider.Decider[E, C, S]) Saga[E, C] {
	return Saga[E, C]{React: func(e E) []C {
		commands, _ := d.Decide(e, d.InitialState()) // a reactor never fails
		return commands
	}}
}
