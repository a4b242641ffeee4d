package proptest

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

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
// difference between what was expected and what was decided, with values
// printed by %#v so that nil and empty differ. A specification that
// reaches the end of its test without a Then fails it: it would check
// nothing.
type Spec[C, E, S any] struct {
	then
	d       decider.Decider[C, E, S]
	given   []E
	command C
	when    bool
	// dcb, for a specification started by ForDCB, folds the history and
	// the decided events as the command's query sees them.
	dcb func(cmd C, state S, events []E) (S, error)
}

// For starts a specification of d with an empty history. Failures are
// reported with t.Errorf, so one test can hold many specifications;
// inside a rapid property, t is the property's *rapid.T ([T]).
func For[C, E, S any](t T, d decider.Decider[C, E, S]) *Spec[C, E, S] {
	s := &Spec[C, E, S]{d: d}
	s.expect(t, s.context)
	return s
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
	state, err := s.replay()
	if err != nil {
		return nil, historyError{err}
	}
	return s.d.Decide(s.command, state)
}

// historyError is a specification's given history that could not be
// read: a fault of the specification, never the command's rejection.
type historyError struct{ err error }

func (e historyError) Error() string { return e.err.Error() }

// replay is the state the command is decided on.
func (s *Spec[C, E, S]) replay() (S, error) {
	return s.fold(s.d.InitialState(), s.given)
}

// fold evolves state by events: all of them, or, for a DCB
// specification, those the command's query matches.
func (s *Spec[C, E, S]) fold(state S, events []E) (S, error) {
	if s.dcb != nil {
		return s.dcb(s.command, state, events)
	}
	return s.d.Fold(state, events), nil
}

func (s *Spec[C, E, S]) context() string {
	if !s.when {
		return "given " + lines(s.given)
	}
	return fmt.Sprintf("given %s\nwhen  %s", lines(s.given), show(s.command))
}

// Then checks that the command is accepted and decides exactly events, in
// order. Then() with no events checks that it decides none.
func (s *Spec[C, E, S]) Then(events ...E) {
	s.t.Helper()
	if !s.checked("Then", s.when) {
		return
	}
	got, err := s.decide()
	if herr := (historyError{}); errors.As(err, &herr) {
		s.t.Errorf("%s\nthen  %s\nbut the history cannot be read: %v", s.context(), lines(events), herr.err)
		return
	}
	if err != nil {
		s.t.Errorf("%s\nthen  %s\nbut the command was rejected: %v", s.context(), lines(events), err)
		return
	}
	if !sameList(got, events) {
		s.t.Errorf("%s\nthe events differ (- want, + got):\n%s", s.context(), diffLists(events, got))
	}
}

// ThenError checks that the command is rejected with an error that
// errors.Is target.
func (s *Spec[C, E, S]) ThenError(target error) {
	s.t.Helper()
	if !s.checked("ThenError", s.when) {
		return
	}
	got, err := s.decide()
	herr := historyError{}
	switch {
	case errors.As(err, &herr):
		s.t.Errorf("%s\nthen  error %v\nbut the history cannot be read: %v", s.context(), target, herr.err)
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
	s.checked("ThenState", true)
	if s.dcb != nil && !s.when {
		s.t.Errorf("%s\nthen  state %s\nbut a DCB specification needs When: the command's query says which events its state sees", s.context(), show(want))
		return
	}
	state, err := s.replay()
	if err != nil {
		s.t.Errorf("%s\nthen  state %s\nbut the history cannot be read: %v", s.context(), show(want), err)
		return
	}
	if s.when {
		events, err := s.d.Decide(s.command, state)
		if err != nil {
			s.t.Errorf("%s\nthen  state %s\nbut the command was rejected: %v", s.context(), show(want), err)
			return
		}
		if state, err = s.fold(state, events); err != nil {
			s.t.Errorf("%s\nthen  state %s\nbut the decided events cannot be read: %v", s.context(), show(want), err)
			return
		}
	}
	if !reflect.DeepEqual(state, want) {
		s.t.Errorf("%s\nthe state differs (- want, + got):\n%s", s.context(), diffValues(want, state))
	}
}

// T is what a specification needs of its test. *testing.T, *testing.B
// and *rapid.T all have it, so that inside rapid.Check a specification
// takes the property's *rapid.T (the package doc shows how): a failing
// Then fails that case, and rapid shrinks it to the smallest that still
// fails. Given the outer t instead, a specification would fail the test
// once for every failing case drawn, none of them shrunk, while rapid
// reported that the property passed.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

var (
	_ T = (*testing.T)(nil)
	_ T = (*testing.B)(nil)
	_ T = (*rapid.T)(nil)
)

// then is what every specification shares: its test, and whether a Then
// ran. A specification without a Then fails its test when the test ends.
type then struct {
	t    T
	done bool
}

func (th *then) expect(t T, context func() string) {
	th.t = t
	// The failure is reported when the test ends, from the library's
	// cleanup: it names where the specification began, in the caller of
	// For (or ForSaga, ...).
	where := "a specification"
	if _, file, line, ok := runtime.Caller(2); ok {
		where = fmt.Sprintf("the specification begun at %s:%d", filepath.Base(file), line)
	}
	t.Cleanup(func() {
		if !th.done {
			// Fatalf, not Errorf: a *rapid.T checks a case for failures
			// before it runs the case's cleanups, so an Errorf here would
			// count against the next case drawn, and rapid would call
			// the property flaky. Fatalf fails this case.
			t.Fatalf("%s\n%s has no Then: it checks nothing", context(), where)
		}
	})
}

// checked records that a Then ran, and fails it when it needs a When
// that was not given.
func (th *then) checked(name string, when bool) bool {
	th.t.Helper()
	th.done = true
	if !when {
		th.t.Errorf("%s without When: call When first", name)
	}
	return when
}

// show renders a value with its type, in Go syntax, so that nil and empty
// differ: bank.Deposited{Amount:10}, []string(nil), []string{}.
func show(v any) string { return fmt.Sprintf("%#v", v) }

// lines renders a list of events or commands one per line.
func lines[T any](list []T) string {
	if len(list) == 0 {
		return "(none)"
	}
	return strings.Join(lo.Map(list, func(v T, _ int) string { return show(v) }), "\n      ")
}

// sameList compares lists element by element, so that a nil list and an
// empty one are both "none".
func sameList[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// diffLists is a line diff of two lists of values.
func diffLists[T any](want, got []T) string {
	show := func(v T, _ int) string { return show(v) }
	return diff(lo.Map(want, show), lo.Map(got, show))
}

// diffValues is a line diff of two values, field by field; when they
// print the same it says so, since they differ where %#v cannot show.
func diffValues(want, got any) string {
	if d := diff(fieldLines(want), fieldLines(got)); d != "" {
		return d
	}
	return fmt.Sprintf("  %s\n(the two print the same but are not reflect.DeepEqual: they differ in what %%#v does not show, such as the target of a pointer or a func)\n", show(got))
}

// fieldLines renders a struct one field per line, so that a difference in
// one field shows as one changed line; other values are one line. Fields
// print by %#v, unexported ones too.
func fieldLines(v any) []string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct || implementsGoString(rv) {
		return []string{show(v)}
	}
	out := []string{fmt.Sprintf("%T", rv.Interface())}
	for i := range rv.NumField() {
		f := rv.Field(i)
		if rv.Type().Field(i).IsExported() {
			out = append(out, fmt.Sprintf("  %s: %s", rv.Type().Field(i).Name, show(f.Interface())))
		} else {
			out = append(out, fmt.Sprintf("  %s: %#v", rv.Type().Field(i).Name, f))
		}
	}
	return out
}

// implementsGoString reports a value that renders itself for %#v, such as
// the sums and tuples of package decider.
func implementsGoString(rv reflect.Value) bool {
	_, ok := rv.Interface().(fmt.GoStringer)
	return ok
}

// diff is a line diff by longest common subsequence: lines only in want
// start with "-", lines only in got with "+", common lines with " ". It
// is "" when the lines are the same.
func diff(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
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
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&b, "- %s\n", want[i])
			i++
		default:
			fmt.Fprintf(&b, "+ %s\n", got[j])
			j++
		}
	}
	return b.String()
}
