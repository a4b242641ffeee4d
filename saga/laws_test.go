package saga_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
)

// The laws of the combinators, as properties.
//
// Each law is a check function that takes the saga or process under test
// and one drawn input, and returns what went wrong, or "". lawHolds runs
// it on the real combinator; lawCatches runs it on a deliberately broken
// one and requires a failure, so that no law passes because it cannot
// fail.

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

// sameList compares lists element by element, so nil and empty are the
// same list.
func sameList[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// ---- Sagas ----

// echo asks for n pings when it sees n (none for n ≤ 0); shout asks for
// an upper-case copy of a word.
var (
	echo = saga.Saga[int, string]{React: func(n int) []string {
		return lo.Times(max(n, 0), func(i int) string { return fmt.Sprintf("ping %d/%d", i+1, n) })
	}}
	shout = saga.Saga[string, string]{React: func(w string) []string { return []string{w + "!"} }}
)

var (
	numbers = rapid.IntRange(-2, 4)
	words   = rapid.StringMatching(`[a-z]{0,4}`)
	either  = rapid.Custom(func(t *rapid.T) decider.Either[int, string] {
		if rapid.Bool().Draw(t, "right") {
			return decider.Right[int](words.Draw(t, "word"))
		}
		return decider.Left[int, string](numbers.Draw(t, "n"))
	})
	keys  = []string{"a", "b", "c"}
	keyed = rapid.Custom(func(t *rapid.T) decider.Keyed[string, int] {
		return decider.Keyed[string, int]{Key: rapid.SampledFrom(keys).Draw(t, "key"), Value: numbers.Draw(t, "n")}
	})
)

type sagaOf[E, C any] = saga.Saga[E, C]

// A Left event is reacted to by a alone and a Right one by b alone, the
// commands wrapped on the same side.
func checkSagaCombine(ab sagaOf[decider.Either[int, string], decider.Either[string, string]], e decider.Either[int, string]) string {
	var want []decider.Either[string, string]
	if n, ok := e.Left(); ok {
		want = lo.Map(echo.React(n), func(c string, _ int) decider.Either[string, string] { return decider.Left[string, string](c) })
	} else {
		w, _ := e.Right()
		want = lo.Map(shout.React(w), func(c string, _ int) decider.Either[string, string] { return decider.Right[string](c) })
	}
	if got := ab.React(e); !sameList(got, want) {
		return fmt.Sprintf("reacting to %v: %v, want %v", e, got, want)
	}
	return ""
}

// Merged sagas react to one event with a's commands, then b's.
func checkSagaMerge(ab sagaOf[int, decider.Either[string, string]], a, b sagaOf[int, string], n int) string {
	want := append(
		lo.Map(a.React(n), func(c string, _ int) decider.Either[string, string] { return decider.Left[string, string](c) }),
		lo.Map(b.React(n), func(c string, _ int) decider.Either[string, string] { return decider.Right[string](c) })...)
	if got := ab.React(n); !sameList(got, want) {
		return fmt.Sprintf("reacting to %d: %v, want %v", n, got, want)
	}
	return ""
}

// keep maps a word to its length for echo, and keeps only words of two
// letters or more.
func keep(w string) (int, bool) { return len(w), len(w) > 1 }

// A mapped saga reacts to a kept event as the saga to its image, and to
// nothing else.
func checkSagaMapEvent(mapped sagaOf[string, string], w string) string {
	var want []string
	if n, ok := keep(w); ok {
		want = echo.React(n)
	}
	if got := mapped.React(w); !sameList(got, want) {
		return fmt.Sprintf("reacting to %q: %v, want %v", w, got, want)
	}
	return ""
}

// Mapping commands by f then g is mapping them by g∘f, and mapping by
// the identity changes nothing.
func checkSagaMapCommand(mapCommand func(sagaOf[int, string], func(string) string) sagaOf[int, string], n int) string {
	f := func(c string) string { return c + "?" }
	g := func(c string) string { return "<" + c + ">" }
	if got, want := mapCommand(mapCommand(echo, f), g).React(n), echo.React(n); !sameList(got, lo.Map(want, func(c string, _ int) string { return g(f(c)) })) {
		return fmt.Sprintf("reacting to %d: map of a map gives %v, want %v mapped by the composition", n, got, want)
	}
	if got, want := mapCommand(echo, func(c string) string { return c }).React(n), echo.React(n); !sameList(got, want) {
		return fmt.Sprintf("reacting to %d: mapped by the identity %v, want %v", n, got, want)
	}
	return ""
}

// An event for key k is reacted to by k's own saga.
func checkSagaMany(many sagaOf[decider.Keyed[string, int], string], instance func(string) sagaOf[int, string], e decider.Keyed[string, int]) string {
	if got, want := many.React(e), instance(e.Key).React(e.Value); !sameList(got, want) {
		return fmt.Sprintf("reacting to %v: %v, key %q's saga alone gives %v", e, got, e.Key, want)
	}
	return ""
}

// pinger is a saga per key that addresses its pings by its key.
func pinger(key string) sagaOf[int, string] {
	return saga.MapCommand(echo, func(c string) string { return key + ": " + c })
}

func TestSagaLaws(t *testing.T) {
	count := saga.Saga[int, string]{React: func(n int) []string { return []string{fmt.Sprint(n), fmt.Sprint(n)} }}
	t.Run("Combine", func(t *testing.T) {
		lawHolds(t, either, func(e decider.Either[int, string]) string { return checkSagaCombine(saga.Combine(echo, shout), e) })
	})
	t.Run("Merge", func(t *testing.T) {
		lawHolds(t, numbers, func(n int) string { return checkSagaMerge(saga.Merge(echo, count), echo, count, n) })
	})
	t.Run("MapEvent", func(t *testing.T) {
		lawHolds(t, words, func(w string) string { return checkSagaMapEvent(saga.MapEvent(echo, keep), w) })
	})
	t.Run("MapCommand", func(t *testing.T) {
		lawHolds(t, numbers, func(n int) string { return checkSagaMapCommand(saga.MapCommand[string, int, string], n) })
	})
	t.Run("Many", func(t *testing.T) {
		lawHolds(t, keyed, func(e decider.Keyed[string, int]) string { return checkSagaMany(saga.Many(pinger), pinger, e) })
	})
}

func TestSagaLawsCatchBrokenCombinators(t *testing.T) {
	t.Run("Combine that answers on the wrong side", func(t *testing.T) {
		good := saga.Combine(echo, shout)
		crossed := saga.Saga[decider.Either[int, string], decider.Either[string, string]]{
			React: func(e decider.Either[int, string]) []decider.Either[string, string] {
				return lo.Map(good.React(e), func(c decider.Either[string, string], _ int) decider.Either[string, string] {
					_, v := c.Case()
					return decider.Left[string, string](v.(string))
				})
			},
		}
		lawCatches(t, either, func(e decider.Either[int, string]) string { return checkSagaCombine(crossed, e) })
	})
	t.Run("Merge that puts b first", func(t *testing.T) {
		count := saga.Saga[int, string]{React: func(n int) []string { return []string{fmt.Sprint(n)} }}
		backwards := saga.MapCommand(saga.Merge(count, echo), func(c decider.Either[string, string]) decider.Either[string, string] {
			if l, ok := c.Left(); ok {
				return decider.Right[string](l)
			}
			r, _ := c.Right()
			return decider.Left[string, string](r)
		})
		lawCatches(t, numbers, func(n int) string { return checkSagaMerge(backwards, echo, count, n) })
	})
	t.Run("MapEvent that reacts to dropped events", func(t *testing.T) {
		leaky := saga.Saga[string, string]{React: func(w string) []string { n, _ := keep(w); return echo.React(n) }}
		lawCatches(t, words, func(w string) string { return checkSagaMapEvent(leaky, w) })
	})
	t.Run("MapCommand that maps twice", func(t *testing.T) {
		twice := func(s sagaOf[int, string], f func(string) string) sagaOf[int, string] {
			return saga.MapCommand(saga.MapCommand(s, f), f)
		}
		lawCatches(t, numbers, func(n int) string { return checkSagaMapCommand(twice, n) })
	})
	t.Run("Many whose instances do not know their key", func(t *testing.T) {
		keyless := saga.Many(func(string) sagaOf[int, string] { return pinger(keys[0]) })
		lawCatches(t, keyed, func(e decider.Keyed[string, int]) string { return checkSagaMany(keyless, pinger, e) })
	})
}

// ---- Processes ----

// threshold sums numbers and says so once, when the sum first reaches
// 10; it is then finished. seen keeps the distinct words in order (a
// slice Evolve must copy) and reacts to a new one.
var (
	threshold = saga.Process[int, int, string]{
		Evolve: func(s, n int) int { return s + n },
		React: func(s, n int) []string {
			if s < 10 && s+n >= 10 {
				return []string{fmt.Sprintf("reached %d", s+n)}
			}
			return nil
		},
		IsTerminal: func(s int) bool { return s >= 10 },
	}
	seen = saga.Process[[]string, string, string]{
		Evolve: func(s []string, w string) []string {
			if slices.Contains(s, w) {
				return s
			}
			return append(slices.Clip(s), w)
		},
		React: func(s []string, w string) []string {
			if slices.Contains(s, w) {
				return nil
			}
			return []string{"new " + w}
		},
		Initial: func() []string { return []string{} },
	}
)

type processOf[S, E, C any] = saga.Process[S, E, C]

// trace runs p over events and returns the commands of each event, the
// final state, and what went wrong with the states: a step that changed
// the state it was given.
func trace[S, E, C any](p processOf[S, E, C], events []E) ([][]C, S, string) {
	s := p.InitialState()
	out := make([][]C, len(events))
	for i, e := range events {
		before := fmt.Sprintf("%#v", s)
		var next S
		out[i], next = p.Step(s, e)
		if after := fmt.Sprintf("%#v", s); after != before {
			return nil, s, fmt.Sprintf("event %d (%#v) changed the state it was given from %s to %s", i, e, before, after)
		}
		s = next
	}
	return out, s, ""
}

var (
	positive  = rapid.SliceOfN(rapid.IntRange(-1, 6), 0, 30)
	histories = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) decider.Either[int, string] {
		if rapid.Bool().Draw(t, "right") {
			return decider.Right[int](rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "word"))
		}
		return decider.Left[int, string](rapid.IntRange(-1, 6).Draw(t, "n"))
	}), 0, 30)
	keyedHistories = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) decider.Keyed[string, int] {
		return decider.Keyed[string, int]{Key: rapid.SampledFrom(keys).Draw(t, "key"), Value: rapid.IntRange(-1, 6).Draw(t, "n")}
	}), 0, 30)
)

type combinedProcess = processOf[decider.Pair[int, []string], decider.Either[int, string], decider.Either[string, string]]

// A combined process reacts to each event as the process of its side
// alone, having seen only that side's earlier events; its state projects
// on each side's own; it is terminal when both are.
func checkCombineProcesses(ab combinedProcess, history []decider.Either[int, string]) string {
	got, state, msg := trace(ab, history)
	if msg != "" {
		return msg
	}
	lefts := lo.FilterMap(history, func(e decider.Either[int, string], _ int) (int, bool) { return e.Left() })
	rights := lo.FilterMap(history, func(e decider.Either[int, string], _ int) (string, bool) { return e.Right() })
	wantLeft, leftState, _ := trace(threshold, lefts)
	wantRight, rightState, _ := trace(seen, rights)
	var l, r int
	for i, e := range history {
		var want []decider.Either[string, string]
		if e.IsRight() {
			want = lo.Map(wantRight[r], func(c string, _ int) decider.Either[string, string] { return decider.Right[string](c) })
			r++
		} else {
			want = lo.Map(wantLeft[l], func(c string, _ int) decider.Either[string, string] { return decider.Left[string, string](c) })
			l++
		}
		if !sameList(got[i], want) {
			return fmt.Sprintf("after %v, event %d (%v): %v, the side alone gives %v", history[:i], i, e, got[i], want)
		}
	}
	if want := (decider.Pair[int, []string]{First: leftState, Second: rightState}); !reflect.DeepEqual(state, want) {
		return fmt.Sprintf("after %v: state %#v, each side alone reaches %#v", history, state, want)
	}
	if got, want := ab.Terminal(state), threshold.Terminal(leftState) && seen.Terminal(rightState); got != want {
		return fmt.Sprintf("after %v: terminal=%t, want %t", history, got, want)
	}
	return ""
}

type mergedProcess = processOf[decider.Pair[int, int], int, decider.Either[string, string]]

// Merged processes react to each event with a's commands then b's, each
// in its own state before the event; the state is the pair of theirs.
func checkMergeProcesses(ab mergedProcess, a, b processOf[int, int, string], history []int) string {
	got, state, msg := trace(ab, history)
	if msg != "" {
		return msg
	}
	wantA, stateA, _ := trace(a, history)
	wantB, stateB, _ := trace(b, history)
	for i := range history {
		want := append(
			lo.Map(wantA[i], func(c string, _ int) decider.Either[string, string] { return decider.Left[string, string](c) }),
			lo.Map(wantB[i], func(c string, _ int) decider.Either[string, string] { return decider.Right[string](c) })...)
		if !sameList(got[i], want) {
			return fmt.Sprintf("after %v, event %d (%d): %v, want %v", history[:i], i, history[i], got[i], want)
		}
	}
	if want := (decider.Pair[int, int]{First: stateA, Second: stateB}); state != want {
		return fmt.Sprintf("after %v: state %v, want %v", history, state, want)
	}
	if got, want := ab.Terminal(state), a.Terminal(stateA) && b.Terminal(stateB); got != want {
		return fmt.Sprintf("after %v: terminal=%t, want %t", history, got, want)
	}
	return ""
}

// halve keeps the even numbers, halved.
func halve(n int) (int, bool) { return n / 2, n%2 == 0 }

// A process mapped by f behaves, on the events f keeps, as the process on
// their images, and ignores the others: no command, no change of state.
func checkMapProcessEvent(mapped processOf[int, int, string], history []int) string {
	got, state, msg := trace(mapped, history)
	if msg != "" {
		return msg
	}
	kept := lo.FilterMap(history, func(n int, _ int) (int, bool) { return halve(n) })
	want, wantState, _ := trace(threshold, kept)
	if flat := lo.Flatten(got); !sameList(flat, lo.Flatten(want)) {
		return fmt.Sprintf("over %v: commands %v; the process over the kept events %v gives %v", history, flat, kept, lo.Flatten(want))
	}
	if state != wantState || mapped.Terminal(state) != threshold.Terminal(wantState) {
		return fmt.Sprintf("over %v: state %d (terminal=%t); over the kept events %v: %d", history, state, mapped.Terminal(state), kept, wantState)
	}
	return ""
}

// Mapping commands changes only the commands, event by event, and keeps
// the state and its terminal flag.
func checkMapProcessCommand(mapped processOf[int, int, string], history []int) string {
	got, state, msg := trace(mapped, history)
	if msg != "" {
		return msg
	}
	want, wantState, _ := trace(threshold, history)
	for i := range history {
		if w := lo.Map(want[i], func(c string, _ int) string { return "<" + c + ">" }); !sameList(got[i], w) {
			return fmt.Sprintf("after %v, event %d: %v, want %v", history[:i], i, got[i], w)
		}
	}
	if state != wantState || mapped.Terminal(state) != threshold.Terminal(wantState) {
		return fmt.Sprintf("over %v: state %d (terminal=%t), want %d (terminal=%t)", history, state, mapped.Terminal(state), wantState, threshold.Terminal(wantState))
	}
	return ""
}

// counting is threshold for one key: its commands name the key.
func counting(key string) processOf[int, int, string] {
	return saga.MapProcessCommand(threshold, func(c string) string { return key + " " + c })
}

type manyProcess = processOf[map[string]int, decider.Keyed[string, int], string]

// Each key's instance reacts and evolves as it would alone over that
// key's events, whatever the other keys did, and terminal instances are
// not forgotten.
func checkManyProcesses(many manyProcess, history []decider.Keyed[string, int]) string {
	got, state, msg := trace(many, history)
	if msg != "" {
		return msg
	}
	perKey := lo.GroupBy(history, func(e decider.Keyed[string, int]) string { return e.Key })
	for _, k := range keys {
		own := lo.Map(perKey[k], func(e decider.Keyed[string, int], _ int) int { return e.Value })
		want, wantState, _ := trace(counting(k), own)
		mine := lo.FilterMap(history, func(e decider.Keyed[string, int], i int) ([]string, bool) { return got[i], e.Key == k })
		if !sameList(lo.Flatten(mine), lo.Flatten(want)) {
			return fmt.Sprintf("over %v: key %q's commands %v; alone over %v it gives %v", history, k, lo.Flatten(mine), own, lo.Flatten(want))
		}
		if s := lo.ValueOr(state, k, 0); s != wantState {
			return fmt.Sprintf("over %v: key %q in state %d; alone over %v it reaches %d", history, k, s, own, wantState)
		}
	}
	if many.Terminal(state) {
		return "ManyProcesses is terminal; an event for a new key can always come"
	}
	return ""
}

func TestProcessLaws(t *testing.T) {
	parity := saga.Process[int, int, string]{
		Evolve: func(odd, n int) int { return (odd + n) % 2 },
		React: func(odd, n int) []string {
			if (odd+n)%2 == 1 {
				return []string{"odd", fmt.Sprint(n)}
			}
			return nil
		},
		IsTerminal: func(int) bool { return true },
	}
	t.Run("CombineProcesses", func(t *testing.T) {
		lawHolds(t, histories, func(h []decider.Either[int, string]) string {
			return checkCombineProcesses(saga.CombineProcesses(threshold, seen), h)
		})
	})
	t.Run("MergeProcesses", func(t *testing.T) {
		lawHolds(t, positive, func(h []int) string {
			return checkMergeProcesses(saga.MergeProcesses(threshold, parity), threshold, parity, h)
		})
	})
	t.Run("MapProcessEvent", func(t *testing.T) {
		lawHolds(t, positive, func(h []int) string { return checkMapProcessEvent(saga.MapProcessEvent(threshold, halve), h) })
	})
	t.Run("MapProcessCommand", func(t *testing.T) {
		mapped := saga.MapProcessCommand(threshold, func(c string) string { return "<" + c + ">" })
		lawHolds(t, positive, func(h []int) string { return checkMapProcessCommand(mapped, h) })
	})
	t.Run("ManyProcesses", func(t *testing.T) {
		lawHolds(t, keyedHistories, func(h []decider.Keyed[string, int]) string {
			return checkManyProcesses(saga.ManyProcesses(counting), h)
		})
	})
	t.Run("a saga as a process", func(t *testing.T) {
		lawHolds(t, positive, func(h []int) string { return checkSagaAsProcess(echo.Process(), h) })
	})
}

// A saga as a process reacts to each event as the saga does.
func checkSagaAsProcess(p processOf[struct{}, int, string], history []int) string {
	got, _, msg := trace(p, history)
	if msg != "" {
		return msg
	}
	for i, n := range history {
		if want := echo.React(n); !sameList(got[i], want) {
			return fmt.Sprintf("event %d (%d): %v, the saga gives %v", i, n, got[i], want)
		}
	}
	return ""
}

func TestProcessLawsCatchBrokenCombinators(t *testing.T) {
	t.Run("CombineProcesses reacting after evolving", func(t *testing.T) {
		good := saga.CombineProcesses(threshold, seen)
		late := good
		late.React = func(s decider.Pair[int, []string], e decider.Either[int, string]) []decider.Either[string, string] {
			return good.React(good.Evolve(s, e), e)
		}
		lawCatches(t, histories, func(h []decider.Either[int, string]) string { return checkCombineProcesses(late, h) })
	})
	t.Run("CombineProcesses terminal when either side is", func(t *testing.T) {
		eager := saga.CombineProcesses(threshold, seen)
		eager.IsTerminal = func(s decider.Pair[int, []string]) bool {
			return threshold.Terminal(s.First) || seen.Terminal(s.Second)
		}
		lawCatches(t, histories, func(h []decider.Either[int, string]) string { return checkCombineProcesses(eager, h) })
	})
	t.Run("MergeProcesses with b in the state after a's event", func(t *testing.T) {
		late := saga.MergeProcesses(threshold, threshold)
		good := late.React
		late.React = func(s decider.Pair[int, int], n int) []decider.Either[string, string] {
			return good(decider.Pair[int, int]{First: s.First, Second: s.Second + n}, n)
		}
		lawCatches(t, positive, func(h []int) string { return checkMergeProcesses(late, threshold, threshold, h) })
	})
	t.Run("MapProcessEvent evolving by nothing", func(t *testing.T) {
		frozen := saga.MapProcessEvent(threshold, halve)
		frozen.Evolve = func(s, _ int) int { return s }
		lawCatches(t, positive, func(h []int) string { return checkMapProcessEvent(frozen, h) })
	})
	t.Run("MapProcessCommand losing IsTerminal", func(t *testing.T) {
		endless := saga.MapProcessCommand(threshold, func(c string) string { return "<" + c + ">" })
		endless.IsTerminal = nil
		lawCatches(t, positive, func(h []int) string { return checkMapProcessCommand(endless, h) })
	})
	t.Run("ManyProcesses forgetting finished instances", func(t *testing.T) {
		forgetful := saga.ManyProcesses(counting)
		good := forgetful.Evolve
		forgetful.Evolve = func(m map[string]int, e decider.Keyed[string, int]) map[string]int {
			next := good(m, e)
			if threshold.Terminal(next[e.Key]) {
				next = maps.Clone(next)
				delete(next, e.Key)
			}
			return next
		}
		lawCatches(t, keyedHistories, func(h []decider.Keyed[string, int]) string { return checkManyProcesses(forgetful, h) })
	})
	t.Run("ManyProcesses evolving in place", func(t *testing.T) {
		inPlace := saga.ManyProcesses(counting)
		inPlace.Evolve = func(m map[string]int, e decider.Keyed[string, int]) map[string]int {
			m[e.Key] += e.Value
			return m
		}
		lawCatches(t, keyedHistories, func(h []decider.Keyed[string, int]) string { return checkManyProcesses(inPlace, h) })
	})
	t.Run("ManyProcesses whose instances do not know their key", func(t *testing.T) {
		keyless := saga.ManyProcesses(func(string) processOf[int, int, string] { return counting(keys[0]) })
		lawCatches(t, keyedHistories, func(h []decider.Keyed[string, int]) string { return checkManyProcesses(keyless, h) })
	})
	t.Run("a saga as a process reacting twice", func(t *testing.T) {
		twice := echo.Process()
		twice.React = func(_ struct{}, n int) []string { return append(echo.React(n), echo.React(n)...) }
		lawCatches(t, positive, func(h []int) string { return checkSagaAsProcess(twice, h) })
	})
}
