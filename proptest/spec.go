package proptest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/annals-dev/annals/decider"
)

// Spec is a given/when/then specification of one decision: given a
// history, when a command is decided, then these events, this error or
// this state. Start one with [For]:
//
//	proptest.For(t, bank.Decider).
//		Given(bank.Opened{Owner: "ada"}).
//		When(bank.Withdraw{Amount: 10}).
//		ThenError(bank.ErrInsufficientFunds)
//
// A failing Then reports the history, the command, and a line-by-line
// difference between what was expected and what was decided.
type Spec[C, E, S any] struct {
	t       testing.TB
	d       decider.Decider[C, E, S]
	given   []E
	command C
	when    bool
}

// For starts a specification of d with an empty history. Failures are
// reported with t.Errorf, so one test can hold many specifications.
func For[C, E, S any](t testing.TB, d decider.Decider[C, E, S]) *Spec[C, E, S] {
	return &Spec[C, E, S]{t: t, d: d}
}

// Given appends events to the history. (It is a method rather than an
// argument of [For] so that events of concrete types convert to E.)
func (s *Spec[C, E, S]) Given(events ...E) *Spec[C, E, S] {
	s.given = append(s.given, events...)
	return s
}

// When sets the command to decide.
func (s *Spec[C, E, S]) When(command C) *Spec[C, E, S] {
	s.command, s.when = command, true
	return s
}

func (s *Spec[C, E, S]) decide() ([]E, error) {
	return s.d.Decide(s.command, s.d.Replay(s.given))
}

func (s *Spec[C, E, S]) context() string {
	return fmt.Sprintf("given %s\nwhen  %s", lines(s.given), describe(s.command))
}

// Then checks that the command is accepted and decides exactly events, in
// order.
func (s *Spec[C, E, S]) Then(events ...E) {
	s.t.Helper()
	if !s.when {
		s.t.Errorf("Then without When: call When(command) first")
		return
	}
	got, err := s.decide()
	if err != nil {
		s.t.Errorf("%s\nthen  %s\nbut the command was rejected: %v", s.context(), lines(events), err)
		return
	}
	if !reflect.DeepEqual(got, events) && !(len(got) == 0 && len(events) == 0) {
		s.t.Errorf("%s\nthe events differ (- want, + got):\n%s", s.context(), diff(strs(events), strs(got)))
	}
}

// ThenError checks that the command is rejected with an error that
// errors.Is target.
func (s *Spec[C, E, S]) ThenError(target error) {
	s.t.Helper()
	if !s.when {
		s.t.Errorf("ThenError without When: call When(command) first")
		return
	}
	got, err := s.decide()
	switch {
	case err == nil:
		s.t.Errorf("%s\nthen  error %v\nbut the command was accepted with %s", s.context(), target, lines(got))
	case !errors.Is(err, target):
		s.t.Errorf("%s\nthen  error %v\nbut it was rejected with: %v", s.context(), target, err)
	case len(got) > 0:
		s.t.Errorf("%s\nthe command was rejected (%v) but also emitted %s; a rejection must emit nothing", s.context(), err, lines(got))
	}
}

// ThenState checks the state reached: the history evolved by the events
// the command decides (or the history alone when there is no When).
func (s *Spec[C, E, S]) ThenState(want S) {
	s.t.Helper()
	state := s.d.Replay(s.given)
	if s.when {
		events, err := s.d.Decide(s.command, state)
		if err != nil {
			s.t.Errorf("%s\nthen  state %s\nbut the command was rejected: %v", s.context(), describe(want), err)
			return
		}
		state = s.d.Fold(state, events)
	}
	if !reflect.DeepEqual(state, want) {
		s.t.Errorf("given %s\nthe state differs (- want, + got):\n%s", lines(s.given), diff(fieldLines(want), fieldLines(state)))
	}
}

// describe renders a value with its type, the way a reader of a failed
// specification wants to see it.
func describe(v any) string { return fmt.Sprintf("%T%+v", v, v) }

func strs[E any](events []E) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = describe(e)
	}
	return out
}

func lines[E any](events []E) string {
	if len(events) == 0 {
		return "(no events)"
	}
	return strings.Join(strs(events), "\n      ")
}

// fieldLines renders a struct one field per line, so that a difference in
// one field shows as one changed line; other values are one line.
func fieldLines(v any) []string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return []string{describe(v)}
	}
	out := []string{fmt.Sprintf("%T", rv.Interface())}
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if !f.IsExported() {
			out = append(out, fmt.Sprintf("  %s: (unexported)", f.Name))
			continue
		}
		out = append(out, fmt.Sprintf("  %s: %+v", f.Name, rv.Field(i).Interface()))
	}
	return out
}

// diff is a line diff by longest common subsequence: lines only in want
// start with "-", lines only in got with "+", common lines with " ".
func diff(want, got []string) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			fmt.Fprintf(&b, "  %s\n", want[i])
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&b, "+ %s\n", got[j])
			j++
		default:
			fmt.Fprintf(&b, "- %s\n", want[i])
			i++
		}
	}
	return b.String()
}
