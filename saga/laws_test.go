package saga_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
)

// echo asks for n pings when it sees n (none for n ≤ 0); shout asks for
// an upper-case copy of a word.
var (
	echo = saga.Saga[int, string]{React: func(n int) []string {
		var out []string
		for i := range max(n, 0) {
			out = append(out, fmt.Sprintf("ping %d/%d", i+1, n))
		}
		return out
	}}
	shout = saga.Saga[string, string]{React: func(w string) []string { return []string{w + "!"} }}
)

func TestCombineRoutesEachSide(t *testing.T) {
	gen := rapid.Custom(func(t *rapid.T) decider.Either[int, string] {
		if rapid.Bool().Draw(t, "right") {
			return decider.Right[int](rapid.StringMatching(`[a-z]{1,4}`).Draw(t, "word"))
		}
		return decider.Left[int, string](rapid.IntRange(-2, 4).Draw(t, "n"))
	})
	combined := saga.Combine(echo, shout)
	rapid.Check(t, func(t *rapid.T) {
		e := gen.Draw(t, "event")
		got := combined.React(e)
		var want []decider.Either[string, string]
		if n, ok := e.Left(); ok {
			for _, c := range echo.React(n) {
				want = append(want, decider.Left[string, string](c))
			}
		} else {
			w, _ := e.Right()
			for _, c := range shout.React(w) {
				want = append(want, decider.Right[string](c))
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("combined saga reacted to %+v with %+v, want %+v", e, got, want)
		}
	})
}

func TestMergeIsBothInOrder(t *testing.T) {
	count := saga.Saga[int, int]{React: func(n int) []int { return []int{n, n} }}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(-2, 5).Draw(t, "n")
		got := saga.Merge(echo, count).React(n)
		var lefts []string
		var rights []int
		for i, c := range got {
			if l, ok := c.Left(); ok {
				if len(rights) > 0 {
					t.Fatalf("command %d of a's came after b's", i)
				}
				lefts = append(lefts, l)
			} else {
				r, _ := c.Right()
				rights = append(rights, r)
			}
		}
		if !slices.Equal(lefts, echo.React(n)) || !slices.Equal(rights, count.React(n)) {
			t.Fatalf("merge gave %v and %v", lefts, rights)
		}
	})
}

func TestMapsAreFunctors(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(-3, 6).Draw(t, "n")
		id := func(c string) string { return c }
		if got, want := saga.MapCommand(echo, id).React(n), echo.React(n); !slices.Equal(got, want) {
			t.Fatalf("commands mapped by identity: %v, want %v", got, want)
		}
		f := func(c string) int { return len(c) }
		g := func(l int) bool { return l%2 == 0 }
		twice := saga.MapCommand(saga.MapCommand(echo, f), g).React(n)
		once := saga.MapCommand(echo, func(c string) bool { return g(f(c)) }).React(n)
		if !slices.Equal(twice, once) {
			t.Fatalf("map of a map %v, map of the composition %v", twice, once)
		}
		keep := func(s string) (int, bool) { return len(s), len(s) > 1 }
		word := rapid.StringMatching(`[a-z]{0,4}`).Draw(t, "word")
		got := saga.MapEvent(echo, keep).React(word)
		var want []string
		if l, ok := keep(word); ok {
			want = echo.React(l)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("mapped events: reacted to %q with %v, want %v", word, got, want)
		}
	})
}

func TestSagaAsProcess(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		events := rapid.SliceOfN(rapid.IntRange(-1, 3), 0, 20).Draw(t, "events")
		got, _ := echo.Process().Run(events)
		var want []string
		for _, e := range events {
			want = append(want, echo.React(e)...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("saga as a process: %v, want %v", got, want)
		}
	})
}
