package proptest

import (
	"fmt"
	"reflect"

	"github.com/annals-dev/annals/view"
)

// ViewSpec is a given/when/then specification of a view: given a history,
// when one more event arrives, then this state. Start one with [ForView]:
//
//	proptest.ForView(t, balances).
//		Given(bank.Deposited{Amount: 10}).
//		When(bank.Withdrawn{Amount: 4}).
//		ThenState(6)
//
// When is optional: without it, ThenState checks the state the history
// leads to. A failing ThenState names the event and shows the difference
// field by field, with values printed by %#v so that nil and empty
// differ. A specification that reaches the end of its test without a
// Then fails it.
type ViewSpec[S, E any] struct {
	then
	v     view.View[S, E]
	given []E
	event E
	when  bool
}

// ForView starts a specification of v with an empty history. Failures
// are reported with t.Errorf, so one test can hold many specifications;
// inside a rapid property, t is the property's *rapid.T ([T]).
func ForView[S, E any](t T, v view.View[S, E]) *ViewSpec[S, E] {
	s := &ViewSpec[S, E]{v: v}
	s.expect(t, s.context)
	return s
}

// Given appends events to the history.
func (s *ViewSpec[S, E]) Given(events ...E) *ViewSpec[S, E] {
	s.given = append(s.given, events...)
	return s
}

// When sets the event under test, folded after the history.
func (s *ViewSpec[S, E]) When(event E) *ViewSpec[S, E] {
	s.event, s.when = event, true
	return s
}

func (s *ViewSpec[S, E]) context() string {
	if !s.when {
		return "given " + lines(s.given)
	}
	return fmt.Sprintf("given %s\nwhen  %s", lines(s.given), show(s.event))
}

// ThenState checks the state the history, and the event of When if any,
// lead to.
func (s *ViewSpec[S, E]) ThenState(want S) {
	s.t.Helper()
	s.checked("ThenState", true)
	state := s.v.Replay(s.given)
	if s.when {
		state = s.v.Evolve(state, s.event)
	}
	if !reflect.DeepEqual(state, want) {
		s.t.Errorf("%s\nthe state differs (- want, + got):\n%s", s.context(), diffValues(want, state))
	}
}
