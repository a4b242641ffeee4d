package decider

// A Decider is an aggregate as a pure value: it decides which events a
// command produces in a state, and evolves a state by one event.
//
// Decide returns the events a command causes, or an error when the command
// breaks a business rule. A rejection stores nothing.
//
// Evolve must be pure: it returns the next state and does not mutate its
// argument in a way the caller can observe (copy maps and slices it
// changes). The store relies on this to retry a command from a state it
// already holds.
//
// Initial returns the state before any event; nil means the zero value of S.
// IsTerminal, when set, reports that an instance is finished: no command
// decides an event in that state any more. nil means never terminal.
// [Combine] is terminal when both its parts are.
type Decider[C, E, S any] struct {
	Decide     func(C, S) ([]E, error)
	Evolve     func(S, E) S
	Initial    func() S
	IsTerminal func(S) bool
}

// Stepper is what every [Decider] does, and so every value that embeds
// one, such as the Combined3 that [Combine3] returns. A function that
// takes a Stepper takes either as it is, and Go infers C, E and S from
// it: annals.NewComposite(decider.Combine3(a, b, c), …) needs no
// .Decider and no type argument.
type Stepper[C, E, S any] interface {
	// InitialState is the state before any event.
	InitialState() S
	// Step decides c in state s and evolves s by the events decided: it
	// returns the events and the new state, or the rejection and s
	// unchanged (see [Decider.Step]).
	Step(s S, c C) ([]E, S, error)
}

var _ Stepper[int, int, int] = Decider[int, int, int]{}

// InitialState returns the state before any event.
func (d Decider[C, E, S]) InitialState() S {
	if d.Initial == nil {
		var zero S
		return zero
	}
	return d.Initial()
}

// Terminal reports whether s is a terminal state. It is false when
// IsTerminal is nil.
func (d Decider[C, E, S]) Terminal(s S) bool {
	return d.IsTerminal != nil && d.IsTerminal(s)
}

// Fold evolves s by each event in turn and returns the final state.
func (d Decider[C, E, S]) Fold(s S, events []E) S {
	for _, e := range events {
		s = d.Evolve(s, e)
	}
	return s
}

// Replay returns the state that a history of events leads to, starting from
// the initial state.
func (d Decider[C, E, S]) Replay(events []E) S {
	return d.Fold(d.InitialState(), events)
}

// Step decides a command in state s and evolves s by the events decided. It
// returns the events and the new state, or the rejection and s unchanged.
func (d Decider[C, E, S]) Step(s S, c C) ([]E, S, error) {
	events, err := d.Decide(c, s)
	if err != nil {
		return nil, s, err
	}
	return events, d.Fold(s, events), nil
}

// Run applies commands one after another from the initial state, each
// decided on the state the previous ones led to. It returns every event
// decided, the final state, and the first rejection, if any, with the events
// and state reached before it.
func (d Decider[C, E, S]) Run(commands []C) ([]E, S, error) {
	s := d.InitialState()
	var all []E
	for _, c := range commands {
		events, next, err := d.Step(s, c)
		if err != nil {
			return all, s, err
		}
		all = append(all, events...)
		s = next
	}
	return all, s, nil
}
