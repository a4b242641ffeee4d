package saga

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
// forgotten; nil means never.
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
