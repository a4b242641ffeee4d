package saga_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
)

// The laws of Combine3 to Combine6 and CombineProcesses3 to
// CombineProcesses6, the N-ary forms of Combine and CombineProcesses: an
// event of case i is reacted to by part i alone, in its own part of the
// state, having seen only the earlier events of case i; its commands
// come back as case i; the state projects on each part's own; the whole
// is terminal when every part is.
//
// The checks are written once for every arity, over parts of one type
// told apart by their index, and read sums and tuples through the
// decider package's Sum contract and by field.

// partSaga is part i of an N-ary saga: its commands name the part.
func partSaga(i int) saga.Saga[int, string] {
	return saga.Saga[int, string]{React: func(n int) []string {
		return lo.Times(max(n+i, 0)%3, func(k int) string { return fmt.Sprintf("part %d: %d/%d", i, k, n) })
	}}
}

// partProcess is part i of an N-ary process: its state depends on the
// order of its events, its reactions on its state, and it starts and
// ends in states of its own.
func partProcess(i int) saga.Process[int, int, string] {
	return saga.Process[int, int, string]{
		Evolve: func(s, n int) int { return s*3 + n + i },
		React: func(s, n int) []string {
			if (s+n+i)%3 == 0 {
				return nil
			}
			return []string{fmt.Sprintf("part %d: %d in %d", i, n, s)}
		},
		Initial:    func() int { return 10 * i },
		IsTerminal: func(s int) bool { return s%4 != i%4 },
	}
}

// caseEvent is an event of an N-ary combination: the value n for the
// part numbered part.
type caseEvent struct{ part, n int }

func caseEvents(n int) *rapid.Generator[caseEvent] {
	return rapid.Custom(func(t *rapid.T) caseEvent {
		return caseEvent{part: rapid.IntRange(0, n-1).Draw(t, "part"), n: rapid.IntRange(-2, 5).Draw(t, "n")}
	})
}

func caseHistories(n int) *rapid.Generator[[]caseEvent] { return rapid.SliceOfN(caseEvents(n), 0, 30) }

// sumOf returns the sum S holding v as case i.
func sumOf[S any](i int, v any) S {
	var s S
	if err := any(&s).(decider.SumSetter).SetCase(i, v); err != nil {
		panic(err)
	}
	return s
}

// casesOf reads each command of a sum type as its case and value.
func casesOf[C any](commands []C) []caseCommand {
	return lo.Map(commands, func(c C, _ int) caseCommand {
		i, v := any(c).(decider.Sum).Case()
		return caseCommand{i, v.(string)}
	})
}

type caseCommand struct {
	part    int
	command string
}

func asCase(i int) func(string, int) caseCommand {
	return func(c string, _ int) caseCommand { return caseCommand{i, c} }
}

func checkSagaCombineN[E, C any](combined saga.Saga[E, C], e caseEvent) string {
	got := casesOf(combined.React(sumOf[E](e.part, e.n)))
	if want := lo.Map(partSaga(e.part).React(e.n), asCase(e.part)); !sameList(got, want) {
		return fmt.Sprintf("reacting to %d of part %d: %v, the part alone gives %v", e.n, e.part, got, want)
	}
	return ""
}

func checkCombineProcessesN[S, E, C any](combined saga.Process[S, E, C], n int, history []caseEvent) string {
	got, state, msg := trace(combined, lo.Map(history, func(e caseEvent, _ int) E { return sumOf[E](e.part, e.n) }))
	if msg != "" {
		return msg
	}
	terminal := true
	for i := range n {
		own := lo.FilterMap(history, func(e caseEvent, _ int) (int, bool) { return e.n, e.part == i })
		want, wantState, _ := trace(partProcess(i), own)
		k := 0
		for j, e := range history {
			if e.part != i {
				continue
			}
			if w := lo.Map(want[k], asCase(i)); !sameList(casesOf(got[j]), w) {
				return fmt.Sprintf("after %v, event %d (%v): %v, part %d alone gives %v", history[:j], j, e, casesOf(got[j]), i, w)
			}
			k++
		}
		if part := reflect.ValueOf(state).Field(i).Interface(); part != wantState {
			return fmt.Sprintf("after %v: part %d of the state is %v, the part alone reaches %d", history, i, part, wantState)
		}
		terminal = terminal && partProcess(i).Terminal(wantState)
	}
	if combined.Terminal(state) != terminal {
		return fmt.Sprintf("after %v: terminal=%t, want %t", history, combined.Terminal(state), terminal)
	}
	return ""
}

func TestNaryLaws(t *testing.T) {
	s, p := partSaga, partProcess
	t.Run("Combine3", func(t *testing.T) {
		combined := saga.Combine3(s(0), s(1), s(2))
		lawHolds(t, caseEvents(3), func(e caseEvent) string { return checkSagaCombineN(combined, e) })
	})
	t.Run("Combine4", func(t *testing.T) {
		combined := saga.Combine4(s(0), s(1), s(2), s(3))
		lawHolds(t, caseEvents(4), func(e caseEvent) string { return checkSagaCombineN(combined, e) })
	})
	t.Run("Combine5", func(t *testing.T) {
		combined := saga.Combine5(s(0), s(1), s(2), s(3), s(4))
		lawHolds(t, caseEvents(5), func(e caseEvent) string { return checkSagaCombineN(combined, e) })
	})
	t.Run("Combine6", func(t *testing.T) {
		combined := saga.Combine6(s(0), s(1), s(2), s(3), s(4), s(5))
		lawHolds(t, caseEvents(6), func(e caseEvent) string { return checkSagaCombineN(combined, e) })
	})
	t.Run("CombineProcesses3", func(t *testing.T) {
		combined := saga.CombineProcesses3(p(0), p(1), p(2))
		lawHolds(t, caseHistories(3), func(h []caseEvent) string { return checkCombineProcessesN(combined, 3, h) })
	})
	t.Run("CombineProcesses4", func(t *testing.T) {
		combined := saga.CombineProcesses4(p(0), p(1), p(2), p(3))
		lawHolds(t, caseHistories(4), func(h []caseEvent) string { return checkCombineProcessesN(combined, 4, h) })
	})
	t.Run("CombineProcesses5", func(t *testing.T) {
		combined := saga.CombineProcesses5(p(0), p(1), p(2), p(3), p(4))
		lawHolds(t, caseHistories(5), func(h []caseEvent) string { return checkCombineProcessesN(combined, 5, h) })
	})
	t.Run("CombineProcesses6", func(t *testing.T) {
		combined := saga.CombineProcesses6(p(0), p(1), p(2), p(3), p(4), p(5))
		lawHolds(t, caseHistories(6), func(h []caseEvent) string { return checkCombineProcessesN(combined, 6, h) })
	})
}

func TestNaryLawsCatchBrokenCombinators(t *testing.T) {
	s, p := partSaga, partProcess
	type sum = decider.Sum3[int, int, int]
	type tuple = decider.Tuple3[int, int, int]
	// swapped hands the second part's events to the third and back.
	swapped := func(e sum) (sum, bool) {
		i, v := e.Case()
		return sumOf[sum]([]int{0, 2, 1}[i], v), true
	}
	t.Run("Combine3 routing to the wrong part", func(t *testing.T) {
		broken := saga.MapEvent(saga.Combine3(s(0), s(1), s(2)), swapped)
		lawCatches(t, caseEvents(3), func(e caseEvent) string { return checkSagaCombineN(broken, e) })
	})
	t.Run("CombineProcesses3 routing to the wrong part", func(t *testing.T) {
		broken := saga.MapProcessEvent(saga.CombineProcesses3(p(0), p(1), p(2)), swapped)
		lawCatches(t, caseHistories(3), func(h []caseEvent) string { return checkCombineProcessesN(broken, 3, h) })
	})
	t.Run("CombineProcesses3 reacting after evolving", func(t *testing.T) {
		broken := saga.CombineProcesses3(p(0), p(1), p(2))
		good := broken.React
		broken.React = func(st tuple, e sum) []decider.Sum3[string, string, string] { return good(broken.Evolve(st, e), e) }
		lawCatches(t, caseHistories(3), func(h []caseEvent) string { return checkCombineProcessesN(broken, 3, h) })
	})
	t.Run("CombineProcesses3 terminal when any part is", func(t *testing.T) {
		broken := saga.CombineProcesses3(p(0), p(1), p(2))
		broken.IsTerminal = func(st tuple) bool {
			return p(0).Terminal(st.First) || p(1).Terminal(st.Second) || p(2).Terminal(st.Third)
		}
		lawCatches(t, caseHistories(3), func(h []caseEvent) string { return checkCombineProcessesN(broken, 3, h) })
	})
}
