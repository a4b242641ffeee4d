package view_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/view"
)

// The law of Combine3 to Combine6, the N-ary forms of Combine: the
// combined view, projected on part i, is part i's view over the events of
// case i alone. The check is written once for every arity, over parts of
// one type told apart by their index, and reads sums through the decider
// package's Sum contract and tuples by field.

// part is part i of an N-ary view: its state depends on the order of its
// events, and it starts in a state of its own.
func part(i int) view.View[int, int] {
	return view.View[int, int]{
		Evolve:  func(s, n int) int { return s*3 + n + i },
		Initial: func() int { return 10 * i },
	}
}

// caseEvent is an event of an N-ary combination: the value n for the
// part numbered part.
type caseEvent struct{ part, n int }

func caseHistories(n int) *rapid.Generator[[]caseEvent] {
	return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) caseEvent {
		return caseEvent{part: rapid.IntRange(0, n-1).Draw(t, "part"), n: rapid.IntRange(-9, 9).Draw(t, "n")}
	}), 0, 30)
}

// sumOf returns the sum S holding v as case i.
func sumOf[S any](i int, v any) S {
	var s S
	if err := any(&s).(decider.SumSetter).SetCase(i, v); err != nil {
		panic(err)
	}
	return s
}

func checkCombineN[S, E any](combined view.View[S, E], n int, history []caseEvent) string {
	state := combined.Replay(lo.Map(history, func(e caseEvent, _ int) E { return sumOf[E](e.part, e.n) }))
	for i := range n {
		own := lo.FilterMap(history, func(e caseEvent, _ int) (int, bool) { return e.n, e.part == i })
		if got, want := reflect.ValueOf(state).Field(i).Interface(), part(i).Replay(own); got != want {
			return fmt.Sprintf("over %v: part %d of the state is %v, the part alone over %v reaches %d", history, i, got, own, want)
		}
	}
	return ""
}

func TestCombineNLaw(t *testing.T) {
	p := part
	t.Run("Combine3", func(t *testing.T) {
		combined := view.Combine3(p(0), p(1), p(2))
		lawHolds(t, caseHistories(3), func(h []caseEvent) string { return checkCombineN(combined, 3, h) })
	})
	t.Run("Combine4", func(t *testing.T) {
		combined := view.Combine4(p(0), p(1), p(2), p(3))
		lawHolds(t, caseHistories(4), func(h []caseEvent) string { return checkCombineN(combined, 4, h) })
	})
	t.Run("Combine5", func(t *testing.T) {
		combined := view.Combine5(p(0), p(1), p(2), p(3), p(4))
		lawHolds(t, caseHistories(5), func(h []caseEvent) string { return checkCombineN(combined, 5, h) })
	})
	t.Run("Combine6", func(t *testing.T) {
		combined := view.Combine6(p(0), p(1), p(2), p(3), p(4), p(5))
		lawHolds(t, caseHistories(6), func(h []caseEvent) string { return checkCombineN(combined, 6, h) })
	})
}

func TestCombineNLawCatchesBrokenCombinators(t *testing.T) {
	p := part
	type sum = decider.Sum3[int, int, int]
	type tuple = decider.Tuple3[int, int, int]
	t.Run("routing to the wrong part", func(t *testing.T) {
		broken := view.MapEvent(view.Combine3(p(0), p(1), p(2)), func(e sum) (sum, bool) {
			i, v := e.Case()
			return sumOf[sum]([]int{0, 2, 1}[i], v), true
		})
		lawCatches(t, caseHistories(3), func(h []caseEvent) string { return checkCombineN(broken, 3, h) })
	})
	t.Run("third part's events evolving the second", func(t *testing.T) {
		broken := view.Combine3(p(0), p(1), p(2))
		good := broken.Evolve
		broken.Evolve = func(s tuple, e sum) tuple {
			s = good(s, e)
			if n, ok := e.Third(); ok {
				s.Second = p(1).Evolve(s.Second, n)
			}
			return s
		}
		lawCatches(t, caseHistories(3), func(h []caseEvent) string { return checkCombineN(broken, 3, h) })
	})
	t.Run("parts starting in each other's states", func(t *testing.T) {
		broken := view.Combine3(p(0), p(1), p(2))
		broken.Initial = func() tuple {
			return tuple{First: p(0).InitialState(), Second: p(2).InitialState(), Third: p(1).InitialState()}
		}
		lawCatches(t, caseHistories(3), func(h []caseEvent) string { return checkCombineN(broken, 3, h) })
	})
}
