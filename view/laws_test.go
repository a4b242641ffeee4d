package view_test

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/view"
)

// The laws of the combinators, as properties. Each law is a check that
// returns what went wrong, or ""; lawHolds runs it on the real
// combinator, lawCatches on a deliberately broken one, where it must
// find something wrong.

func lawHolds[V any](t *testing.T, inputs *rapid.Generator[V], check func(V) string) {
	t.Helper()
	rapid.Check(t, func(t *rapid.T) {
		if msg := check(inputs.Draw(t, "input")); msg != "" {
			t.Fatal(msg)
		}
	})
}

func lawCatches[V any](t *testing.T, inputs *rapid.Generator[V], check func(V) string) {
	t.Helper()
	const examples = 1000
	for seed := range examples {
		if msg := check(inputs.Example(seed)); msg != "" {
			t.Logf("caught on example %d: %s", seed, msg)
			return
		}
	}
	t.Fatalf("the law found nothing wrong with a broken combinator in %d examples", examples)
}

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
	keyed = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) decider.Keyed[string, int] {
		return decider.Keyed[string, int]{Key: rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "key"), Value: rapid.IntRange(-9, 9).Draw(t, "n")}
	}), 0, 40)
)

// A combined view, projected on each side, is that side's view over its
// own events.
func checkCombine(combined view.View[decider.Pair[int, []string], decider.Either[int, string]], history []decider.Either[int, string]) string {
	lefts := lo.FilterMap(history, func(e decider.Either[int, string], _ int) (int, bool) { return e.Left() })
	rights := lo.FilterMap(history, func(e decider.Either[int, string], _ int) (string, bool) { return e.Right() })
	got := combined.Replay(history)
	if want := sum.Replay(lefts); got.First != want {
		return fmt.Sprintf("over %v: left side %d, want %d", history, got.First, want)
	}
	if want := words.Replay(rights); !reflect.DeepEqual(got.Second, want) {
		return fmt.Sprintf("over %v: right side %#v, want %#v", history, got.Second, want)
	}
	return ""
}

// A merged view is the pair of both views over the same events.
func checkMerge(merged view.View[decider.Pair[[]string, int], string], history []string) string {
	got := merged.Replay(history)
	if want := (decider.Pair[[]string, int]{First: words.Replay(history), Second: len(history)}); !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("over %v: %#v, want %#v", history, got, want)
	}
	return ""
}

var length = view.View[int, string]{Evolve: func(n int, _ string) int { return n + 1 }}

// Each key's state is the view over that key's events alone, and
// evolving never changes the map it was given.
func checkMany(many view.View[map[string]int, decider.Keyed[string, int]], history []decider.Keyed[string, int]) string {
	got := many.InitialState()
	for i, e := range history {
		before := fmt.Sprintf("%#v", got)
		next := many.Evolve(got, e)
		if after := fmt.Sprintf("%#v", got); after != before {
			return fmt.Sprintf("event %d (%v) changed the state map it was given from %s to %s", i, e, before, after)
		}
		got = next
	}
	perKey := lo.MapValues(lo.GroupBy(history, func(e decider.Keyed[string, int]) string { return e.Key }),
		func(events []decider.Keyed[string, int], _ string) []int {
			return lo.Map(events, func(e decider.Keyed[string, int], _ int) int { return e.Value })
		})
	if want := lo.MapValues(perKey, func(events []int, _ string) int { return sum.Replay(events) }); !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("over %v: %v, each key over its own events gives %v", history, got, want)
	}
	return ""
}

// keepEven keeps the even events, doubled; plusOne drops 0 and adds one.
func keepEven(e int) (int, bool) { return 2 * e, e%2 == 0 }
func plusOne(e int) (int, bool)  { return e + 1, e != 0 }

// A view mapped by f is the view over the events f keeps, mapped; mapping
// by the identity changes nothing; mapping twice is mapping by the
// composition.
func checkMapEvent(mapEvent func(view.View[int, int], func(int) (int, bool)) view.View[int, int], history []int) string {
	identity := func(e int) (int, bool) { return e, true }
	if got, want := mapEvent(sum, identity).Replay(history), sum.Replay(history); got != want {
		return fmt.Sprintf("over %v: mapped by the identity %d, want %d", history, got, want)
	}
	kept := lo.FilterMap(history, func(e int, _ int) (int, bool) { return keepEven(e) })
	if got, want := mapEvent(sum, keepEven).Replay(history), sum.Replay(kept); got != want {
		return fmt.Sprintf("over %v: mapped and filtered %d, the view over %v gives %d", history, got, kept, want)
	}
	composed := mapEvent(sum, func(e int) (int, bool) {
		if m, ok := plusOne(e); ok {
			return keepEven(m)
		}
		return 0, false
	})
	if got, want := mapEvent(mapEvent(sum, keepEven), plusOne).Replay(history), composed.Replay(history); got != want {
		return fmt.Sprintf("over %v: map of a map %d, map of the composition %d", history, got, want)
	}
	return ""
}

// A view whose state is mapped by an isomorphism has the image of the
// view's state.
func checkMapState(mapped view.View[string, int], history []int) string {
	if got, want := mapped.Replay(history), strconv.Itoa(sum.Replay(history)); got != want {
		return fmt.Sprintf("over %v: mapped state %q, want %q", history, got, want)
	}
	return ""
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func TestViewLaws(t *testing.T) {
	t.Run("Combine", func(t *testing.T) {
		lawHolds(t, eithers, func(h []decider.Either[int, string]) string { return checkCombine(view.Combine(sum, words), h) })
	})
	t.Run("Merge", func(t *testing.T) {
		lawHolds(t, strs, func(h []string) string { return checkMerge(view.Merge(words, length), h) })
	})
	t.Run("Many", func(t *testing.T) {
		lawHolds(t, keyed, func(h []decider.Keyed[string, int]) string { return checkMany(view.Many[string](sum), h) })
	})
	t.Run("MapEvent", func(t *testing.T) {
		lawHolds(t, ints, func(h []int) string { return checkMapEvent(view.MapEvent[int, int, int], h) })
	})
	t.Run("MapState", func(t *testing.T) {
		lawHolds(t, ints, func(h []int) string { return checkMapState(view.MapState(sum, strconv.Itoa, atoi), h) })
	})
}

func TestViewLawsCatchBrokenCombinators(t *testing.T) {
	t.Run("Combine feeding Left events to both sides", func(t *testing.T) {
		good := view.Combine(sum, words)
		leaky := good
		leaky.Evolve = func(s decider.Pair[int, []string], e decider.Either[int, string]) decider.Pair[int, []string] {
			s = good.Evolve(s, e)
			if l, ok := e.Left(); ok {
				s.Second = words.Evolve(s.Second, fmt.Sprint(l))
			}
			return s
		}
		lawCatches(t, eithers, func(h []decider.Either[int, string]) string { return checkCombine(leaky, h) })
	})
	t.Run("Merge feeding b only the first event", func(t *testing.T) {
		lazy := view.Merge(words, length)
		lazy.Evolve = func(s decider.Pair[[]string, int], e string) decider.Pair[[]string, int] {
			return decider.Pair[[]string, int]{First: words.Evolve(s.First, e), Second: 1}
		}
		lawCatches(t, strs, func(h []string) string { return checkMerge(lazy, h) })
	})
	t.Run("Many evolving in place", func(t *testing.T) {
		inPlace := view.Many[string](sum)
		inPlace.Evolve = func(m map[string]int, e decider.Keyed[string, int]) map[string]int {
			m[e.Key] += e.Value
			return m
		}
		lawCatches(t, keyed, func(h []decider.Keyed[string, int]) string { return checkMany(inPlace, h) })
	})
	t.Run("Many with one state for every key", func(t *testing.T) {
		shared := view.Many[string](sum)
		shared.Evolve = func(m map[string]int, e decider.Keyed[string, int]) map[string]int {
			total := sum.Fold(0, lo.Values(m)) + e.Value
			return lo.Assign(lo.MapValues(m, func(int, string) int { return total }), map[string]int{e.Key: total})
		}
		lawCatches(t, keyed, func(h []decider.Keyed[string, int]) string { return checkMany(shared, h) })
	})
	t.Run("MapEvent keeping every event", func(t *testing.T) {
		keepAll := func(v view.View[int, int], f func(int) (int, bool)) view.View[int, int] {
			return view.MapEvent(v, func(e int) (int, bool) { m, _ := f(e); return m, true })
		}
		lawCatches(t, ints, func(h []int) string { return checkMapEvent(keepAll, h) })
	})
	t.Run("MapState converting only the initial state", func(t *testing.T) {
		broken := view.MapState(sum, strconv.Itoa, atoi)
		broken.Evolve = func(s string, e int) string { return s }
		lawCatches(t, ints, func(h []int) string { return checkMapState(broken, h) })
	})
}

// Folding in two steps from a state reached earlier equals one replay:
// what lets a projection resume from a stored state.
func TestFoldResumes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		history := strs.Draw(t, "history")
		cut := rapid.IntRange(0, len(history)).Draw(t, "cut")
		if got, want := words.Fold(words.Replay(history[:cut]), history[cut:]), words.Replay(history); !reflect.DeepEqual(got, want) {
			t.Fatalf("resumed at %d: %#v, want %#v", cut, got, want)
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
