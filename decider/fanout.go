package decider

import "fmt"

// FanOut decides one command of type C2 as several commands for the
// instances of a [Many] decider m: split says which command each instance
// gets, in order. The commands are decided one after another, each on the
// state the earlier ones led to (so two commands for one instance see
// each other), and the events of all of them are the decision.
//
// The decision is all or nothing: when any instance rejects its command,
// the whole command is rejected with that instance's error, wrapped with
// its key, and no event is decided. A split that gives no command decides
// no event. The state, the events and Evolve are m's, so a fan-out decider
// and m can be run on the same history.
//
// # Atomicity
//
// The pure decision is atomic; storing it need not be. When the instances
// of a Many decider are stored one stream per instance, the events of a
// fan-out go to several streams, and an append to one stream neither sees
// nor locks another: between the loads and the appends another command
// can change one of the instances, and one append can succeed while the
// next one conflicts. Only a store that appends to all of them under one
// condition — a dynamic consistency boundary, whose query covers every
// instance the decision read — makes such a decision atomic.
//
// Without one, decide per instance and let a process finish the work:
// decide the first instance's part alone (a transfer withdraws from the
// source account, recording where the money goes); a [saga.Process]
// reacting to that event sends the next instance its command (deposit to
// the target); and when that command is rejected, the process sends the
// first instance a compensating command that undoes its part (refund the
// source). Each step is one stream's atomic append, the process's state
// says how far the whole has gone, and the events tell the story of a
// failure rather than hide it. FanOut stays useful there to check the
// whole rule on one state, in tests and in a store with dynamic
// consistency boundaries.
//
// [saga.Process]: https://pkg.go.dev/github.com/annals-dev/annals/saga#Process
func FanOut[C2 any, K comparable, C, E, S any](m Decider[Keyed[K, C], Keyed[K, E], map[K]S], split func(C2) []Keyed[K, C]) Decider[C2, Keyed[K, E], map[K]S] {
	if m.Decide == nil {
		return Decider[C2, Keyed[K, E], map[K]S]{Evolve: m.Evolve, Initial: m.Initial, IsTerminal: m.IsTerminal}
	}
	return Decider[C2, Keyed[K, E], map[K]S]{
		Decide: func(c C2, s map[K]S) ([]Keyed[K, E], error) {
			var all []Keyed[K, E]
			for _, part := range split(c) {
				events, next, err := m.Step(s, part)
				if err != nil {
					return nil, fmt.Errorf("instance %v: %w", part.Key, err)
				}
				all, s = append(all, events...), next
			}
			return all, nil
		},
		Evolve:     m.Evolve,
		Initial:    m.Initial,
		IsTerminal: m.IsTerminal,
	}
}
