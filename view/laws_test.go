package view_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/view"
)

// Two small views with different state shapes: a sum, and the distinct
// words seen in order (a slice that Evolve must copy).
var (
	sum = view.View[int, int]{Evolve: func(s, e int) int { return s + e }}

	words = view.View[[]string, string]{
		Evolve: func(s []string, e string) []string {
			if slices.Contains(s, e) {
				return s
			}
			return append(slices.Clip(s), e)
		},
		Initial: func() []string { return []string{} },
	}
)

var (
	ints    = rapid.SliceOfN(rapid.IntRange(-50, 50), 0, 40)
	strs    = rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "c", "d"}), 0, 40)
	eithers = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) decider.Either[int, string] {
		if rapid.Bool().Draw(t, "right") {
			return decider.Right[int](rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "word"))
		}
		return decider.Left[int, string](rapid.IntRange(-9, 9).Draw(t, "n"))
	}), 0, 40)
)

// combineLaw checks that a combined view, projected on each side, equals
// that side's view over its own events. It returns what differs, or "".
func combineLaw(combine func(view.View[int, int], view.View[[]string, string]) view.View[decider.Pair[int, []string], decider.Either[int, string]], history []decider.Either[int, string]) string {
	var lefts []int
	var rights []string
	for _, e := range history {
		if l, ok := e.Left(); ok {
			lefts = append(lefts, l)
		} else {
			r, _ := e.Right()
			rights = append(rights, r)
		}
	}
	got := combine(sum, words).Replay(history)
	if want := sum.Replay(lefts); got.First != want {
		return fmt.Sprintf("left side %d, want %d", got.First, want)
	}
	if want := words.Replay(rights); !reflect.DeepEqual(got.Second, want) {
		return fmt.Sprintf("right side %q, want %q", got.Second, want)
	}
	return ""
}

func TestCombineProjectsOnEachSide(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		if msg := combineLaw(view.Combine[int, int, []string, string], eithers.Draw(t, "history")); msg != "" {
			t.Fatal(msg)
		}
	})
}

// A combine that feeds Left events to both sides (via a conversion) must
// break the law: the check can fail.
func TestCombineLawCatchesLeakingRoutes(t *testing.T) {
	leaky := func(a view.View[int, int], b view.View[[]string, string]) view.View[decider.Pair[int, []string], decider.Either[int, string]] {
		good := view.Combine(a, b)
		return view.View[decider.Pair[int, []string], decider.Either[int, string]]{
			Evolve: func(s decider.Pair[int, []string], e decider.Either[int, string]) decider.Pair[int, []string] {
				s = good.Evolve(s, e)
				if l, ok := e.Left(); ok {
					s.Second = b.Evolve(s.Second, fmt.Sprint(l))
				}
				return s
			},
			Initial: good.Initial,
		}
	}
	history := []decider.Either[int, string]{decider.Left[int, string](3), decider.Right[int]("a")}
	if msg := combineLaw(leaky, history); msg == "" {
		t.Fatal("the combine law passed a view that routes Left events to the right side")
	}
}

func TestMergeFoldsBothOverTheSameEvents(t *testing.T) {
	length := view.View[int, string]{Evolve: func(n int, _ string) int { return n + 1 }}
	rapid.Check(t, func(t *rapid.T) {
		history := strs.Draw(t, "history")
		got := view.Merge(words, length).Replay(history)
		if !reflect.DeepEqual(got.First, words.Replay(history)) || got.Second != len(history) {
			t.Fatalf("merge = %+v, want %q and %d", got, words.Replay(history), len(history))
		}
	})
}

func TestManyKeepsKeysIndependent(t *testing.T) {
	keyed := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) decider.Keyed[string, int] {
		return decider.Keyed[string, int]{Key: rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "key"), Value: rapid.IntRange(-9, 9).Draw(t, "n")}
	}), 0, 40)
	rapid.Check(t, func(t *rapid.T) {
		history := keyed.Draw(t, "history")
		many := view.Many[string](sum)
		got := many.InitialState()
		for i, e := range history {
			before := fmt.Sprint(got)
			next := many.Evolve(got, e)
			if fmt.Sprint(got) != before {
				t.Fatalf("event %d changed the state map it was given", i)
			}
			got = next
		}
		perKey := map[string][]int{}
		for _, e := range history {
			perKey[e.Key] = append(perKey[e.Key], e.Value)
		}
		if len(got) != len(perKey) {
			t.Fatalf("%d keys in the state, want %d", len(got), len(perKey))
		}
		for k, events := range perKey {
			if got[k] != sum.Replay(events) {
				t.Fatalf("key %s: state %d, want %d from its own events %v", k, got[k], sum.Replay(events), events)
			}
		}
	})
}

func TestMapEvent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		history := ints.Draw(t, "history")
		identity := view.MapEvent(sum, func(e int) (int, bool) { return e, true })
		if got, want := identity.Replay(history), sum.Replay(history); got != want {
			t.Fatalf("mapped by identity: %d, want %d", got, want)
		}
		// Keeping only even events and doubling them equals the view over
		// the kept, doubled events.
		f := func(e int) (int, bool) { return 2 * e, e%2 == 0 }
		var kept []int
		for _, e := range history {
			if m, ok := f(e); ok {
				kept = append(kept, m)
			}
		}
		if got, want := view.MapEvent(sum, f).Replay(history), sum.Replay(kept); got != want {
			t.Fatalf("mapped and filtered: %d, want %d", got, want)
		}
		// Mapping twice equals mapping by the composition.
		g := func(e int) (int, bool) { return e + 1, e != 0 }
		twice := view.MapEvent(view.MapEvent(sum, f), g)
		composed := view.MapEvent(sum, func(e int) (int, bool) {
			m, ok := g(e)
			if !ok {
				return 0, false
			}
			return f(m)
		})
		if got, want := twice.Replay(history), composed.Replay(history); got != want {
			t.Fatalf("map of a map: %d, map of the composition: %d", got, want)
		}
	})
}

func TestMapState(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		history := ints.Draw(t, "history")
		// An isomorphism int ↔ string: the mapped view's state is the
		// image of the view's state.
		to := func(n int) string { return fmt.Sprint(n) }
		from := func(s string) int {
			var n int
			fmt.Sscan(s, &n)
			return n
		}
		if got, want := view.MapState(sum, to, from).Replay(history), to(sum.Replay(history)); got != want {
			t.Fatalf("mapped state %q, want %q", got, want)
		}
		id := func(n int) int { return n }
		if got, want := view.MapState(sum, id, id).Replay(history), sum.Replay(history); got != want {
			t.Fatalf("mapped by identity: %d, want %d", got, want)
		}
	})
}

// Folding in two steps from a state reached earlier equals one replay:
// what lets a projection resume from a stored state.
func TestFoldResumes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		history := strs.Draw(t, "history")
		cut := rapid.IntRange(0, len(history)).Draw(t, "cut")
		if got, want := words.Fold(words.Replay(history[:cut]), history[cut:]), words.Replay(history); !reflect.DeepEqual(got, want) {
			t.Fatalf("resumed at %d: %q, want %q", cut, got, want)
		}
	})
}

func TestOfDecider(t *testing.T) {
	d := decider.Decider[int, int, int]{
		Decide:  func(c, s int) ([]int, error) { return []int{c}, nil },
		Evolve:  func(s, e int) int { return s*2 + e },
		Initial: func() int { return 1 },
	}
	rapid.Check(t, func(t *rapid.T) {
		history := ints.Draw(t, "history")
		if got, want := view.Of(d).Replay(history), d.Replay(history); got != want {
			t.Fatalf("view of a decider: %d, decider replay: %d", got, want)
		}
	})
}
