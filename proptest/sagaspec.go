package proptest

import (
	"fmt"
	"reflect"

	"github.com/annals-dev/annals/saga"
)

// SagaSpec is a when/then specification of a saga: when this event, then
// these commands. Start one with [ForSaga]:
//
//	proptest.ForSaga(t, billing).
//		When(OrderPlaced{ID: "42"}).
//		Then(RequestPayment{ID: "42"})
//
// A failing Then names the event and shows the difference between the
// commands expected and those returned, printed by %#v so that nil and
// empty differ. A specification that reaches the end of its test without
// a Then fails it.
type SagaSpec[E, C any] struct {
	then
	s     saga.Saga[E, C]
	event E
	when  bool
}

// ForSaga starts a specification of s. Failures are reported with
// t.Errorf, so one test can hold many specifications; inside a rapid
// property, t is the property's *rapid.T ([T]).
func ForSaga[E, C any](t T, s saga.Saga[E, C]) *SagaSpec[E, C] {
	spec := &SagaSpec[E, C]{s: s}
	spec.expect(t, spec.context)
	return spec
}

// When sets the event to react to.
func (s *SagaSpec[E, C]) When(event E) *SagaSpec[E, C] {
	s.event, s.when = event, true
	return s
}

func (s *SagaSpec[E, C]) context() string {
	if !s.when {
		return "(no When)"
	}
	return "when  " + show(s.event)
}

// Then checks that the saga reacts to the event with exactly commands, in
// order. Then() with no commands checks that it reacts with none.
func (s *SagaSpec[E, C]) Then(commands ...C) {
	s.t.Helper()
	if !s.checked("Then", s.when) {
		return
	}
	if got := s.s.React(s.event); !sameList(got, commands) {
		s.t.Errorf("%s\nthe commands differ (- want, + got):\n%s", s.context(), diffLists(commands, got))
	}
}

// ProcessSpec is a given/when/then specification of a process: given the
// events it has seen, when one more event arrives, then these commands or
// this state. Start one with [ForProcess]:
//
//	proptest.ForProcess(t, shipping).
//		Given(PaymentReceived{ID: "42"}).
//		When(StockReserved{ID: "42"}).
//		Then(Ship{ID: "42"})
//
// A failing Then names the event and shows the difference, with values
// printed by %#v so that nil and empty differ. A specification that
// reaches the end of its test without a Then fails it.
type ProcessSpec[S, E, C any] struct {
	then
	p     saga.Process[S, E, C]
	given []E
	event E
	when  bool
}

// ForProcess starts a specification of p with an empty history. Failures
// are reported with t.Errorf, so one test can hold many specifications;
// inside a rapid property, t is the property's *rapid.T ([T]).
func ForProcess[S, E, C any](t T, p saga.Process[S, E, C]) *ProcessSpec[S, E, C] {
	s := &ProcessSpec[S, E, C]{p: p}
	s.expect(t, s.context)
	return s
}

// Given appends events to the history the process has seen; the commands
// it reacted to them with are not checked.
func (s *ProcessSpec[S, E, C]) Given(events ...E) *ProcessSpec[S, E, C] {
	s.given = append(s.given, events...)
	return s
}

// When sets the event to react to, in the state the history leads to.
func (s *ProcessSpec[S, E, C]) When(event E) *ProcessSpec[S, E, C] {
	s.event, s.when = event, true
	return s
}

func (s *ProcessSpec[S, E, C]) context() string {
	if !s.when {
		return "given " + lines(s.given)
	}
	return fmt.Sprintf("given %s\nwhen  %s", lines(s.given), show(s.event))
}

func (s *ProcessSpec[S, E, C]) state() S {
	_, state := s.p.Run(s.given)
	return state
}

// Then checks that the process reacts to the event with exactly commands,
// in order, in the state the history leads to. Then() with no commands
// checks that it reacts with none.
func (s *ProcessSpec[S, E, C]) Then(commands ...C) {
	s.t.Helper()
	if !s.checked("Then", s.when) {
		return
	}
	if got := s.p.React(s.state(), s.event); !sameList(got, commands) {
		s.t.Errorf("%s\nthe commands differ (- want, + got):\n%s", s.context(), diffLists(commands, got))
	}
}

// ThenState checks the state the history, and the event of When if any,
// lead to.
func (s *ProcessSpec[S, E, C]) ThenState(want S) {
	s.t.Helper()
	s.checked("ThenState", true)
	state := s.state()
	if s.when {
		state = s.p.Evolve(state, s.event)
	}
	if !reflect.DeepEqual(state, want) {
		s.t.Errorf("%s\nthe state differs (- want, + got):\n%s", s.context(), diffValues(want, state))
	}
}
