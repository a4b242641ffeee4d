package proptest_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/view"
)

// A shelf holds items; taking one that is not there is refused.
type (
	Put    struct{ Item string }
	Take   struct{ Item string }
	Placed struct{ Item string } // event
	Taken  struct{ Item string } // event
	Shelf  struct{ Items []string }
)

var errNotThere = errors.New("not on the shelf")

var shelf = decider.Decider[any, any, Shelf]{
	Decide: func(c any, s Shelf) ([]any, error) {
		switch c := c.(type) {
		case Put:
			return []any{Placed(c)}, nil
		case Take:
			if !slices.Contains(s.Items, c.Item) {
				return nil, errNotThere
			}
			return []any{Taken(c)}, nil
		}
		return nil, errors.New("unknown command")
	},
	Evolve: func(s Shelf, e any) Shelf {
		switch e := e.(type) {
		case Placed:
			s.Items = append(slices.Clip(s.Items), e.Item) // copy: siblings share no capacity
		case Taken:
			i := slices.Index(s.Items, e.Item)
			s.Items = slices.Delete(slices.Clone(s.Items), i, i+1)
		}
		return s
	},
}

// The whole life of a decider, checked on drawn command sequences. The
// generator sees the state, so it takes what is on the shelf more often
// than not, and runs reach the rules instead of being refused.
func ExampleReplayEqualsLive() {
	_ = func(t *testing.T) { // a test function
		proptest.ReplayEqualsLive(t, shelf, func(t *rapid.T, s Shelf) any {
			if len(s.Items) > 0 && rapid.Bool().Draw(t, "take") {
				return Take{Item: rapid.SampledFrom(s.Items).Draw(t, "item")}
			}
			return Put{Item: rapid.SampledFrom([]string{"jam", "tea"}).Draw(t, "item")}
		}, proptest.Length(10, 40))

		// A generator that ignores the state works as well.
		proptest.ReplayEqualsLive(t, shelf, rapid.Custom(func(t *rapid.T) any {
			return Put{Item: rapid.StringN(1, 3, 3).Draw(t, "item")}
		}))
	}
}

// One decision, given a history.
func ExampleFor() {
	_ = func(t *testing.T) {
		proptest.For(t, shelf).Given(Placed{Item: "jam"}).When(Take{Item: "jam"}).Then(Taken{Item: "jam"})
		proptest.For(t, shelf).When(Take{Item: "tea"}).ThenError(errNotThere)
		proptest.For(t, shelf).Given(Placed{Item: "jam"}, Placed{Item: "tea"}).ThenState(Shelf{Items: []string{"jam", "tea"}})
	}
}

// Inside a rapid property, a specification takes the property's
// *rapid.T, not the test's t: a failing Then fails that case, and rapid
// shrinks it to the smallest that still fails. Here a careless shelf
// takes its first item whatever is asked for, and rapid shrinks the
// shelves it finds that on to two items. In a test, the last line is
// rapid.Check(t, property); here report stands in for t and prints what
// rapid reports.
func ExampleFor_insideRapidCheck() {
	careless := shelf
	careless.Decide = func(c any, s Shelf) ([]any, error) {
		if _, ok := c.(Take); ok && len(s.Items) > 0 {
			return []any{Taken{Item: s.Items[0]}}, nil
		}
		return shelf.Decide(c, s)
	}
	property := func(rt *rapid.T) {
		items := rapid.SliceOfN(rapid.SampledFrom([]string{"jam", "tea", "oat"}), 1, 8).Draw(rt, "items")
		item := rapid.SampledFrom(items).Draw(rt, "item")
		proptest.For(rt, careless).
			Given(lo.Map(items, func(item string, _ int) any { return Placed{Item: item} })...).
			When(Take{Item: item}).
			Then(Taken{Item: item})
	}
	rapid.Check(report{}, property)
	// Output:
	// given proptest_test.Placed{Item:"jam"}
	//       proptest_test.Placed{Item:"tea"}
	// when  proptest_test.Take{Item:"tea"}
	// the events differ (- want, + got):
	// - proptest_test.Taken{Item:"tea"}
	// + proptest_test.Taken{Item:"jam"}
}

// report stands in for a test's t in an example: it prints the failure
// rapid reports, less the lines that change from run to run (how many
// cases passed before, how to reproduce it).
type report struct{ rapid.TB }

func (report) Helper()             {}
func (report) Name() string        { return "ExampleFor_insideRapidCheck" }
func (report) Logf(string, ...any) {}
func (report) Failed() bool        { return false }
func (report) FailNow()            {}
func (report) Errorf(format string, args ...any) {
	_, failure, _ := strings.Cut(fmt.Sprintf(format, args...), " tests: ")
	failure, _, _ = strings.Cut(failure, "\nTo reproduce")
	fmt.Println(failure)
}

// A view: given a history, when an event arrives, then a state.
func ExampleForView() {
	count := view.View[int, any]{Evolve: func(n int, e any) int {
		if _, ok := e.(Placed); ok {
			return n + 1
		}
		return n
	}}
	_ = func(t *testing.T) {
		proptest.ForView(t, count).Given(Placed{Item: "jam"}).When(Placed{Item: "tea"}).ThenState(2)
	}
}

// A saga: when an event, then commands.
func ExampleForSaga() {
	restock := saga.Saga[any, any]{React: func(e any) []any {
		if taken, ok := e.(Taken); ok {
			return []any{Put(taken)}
		}
		return nil
	}}
	_ = func(t *testing.T) {
		proptest.ForSaga(t, restock).When(Taken{Item: "jam"}).Then(Put{Item: "jam"})
		proptest.ForSaga(t, restock).When(Placed{Item: "jam"}).Then()
	}
}

// A process: given what it has seen, when an event, then commands or a
// state.
func ExampleForProcess() {
	// Restock an item the second time it is taken.
	restock := saga.Process[map[string]int, any, any]{
		Evolve: func(s map[string]int, e any) map[string]int {
			if taken, ok := e.(Taken); ok {
				return lo.Assign(s, map[string]int{taken.Item: s[taken.Item] + 1})
			}
			return s
		},
		React: func(s map[string]int, e any) []any {
			if taken, ok := e.(Taken); ok && s[taken.Item] == 1 {
				return []any{Put(taken)}
			}
			return nil
		},
	}
	_ = func(t *testing.T) {
		proptest.ForProcess(t, restock).Given(Taken{Item: "jam"}).When(Taken{Item: "jam"}).Then(Put{Item: "jam"})
		proptest.ForProcess(t, restock).When(Taken{Item: "jam"}).Then()
		proptest.ForProcess(t, restock).Given(Taken{Item: "jam"}).ThenState(map[string]int{"jam": 1})
	}
}

// The purity check alone, for a decider whose replay is checked
// elsewhere.
func ExampleEvolveIsPure() {
	_ = func(t *testing.T) {
		proptest.EvolveIsPure(t, shelf, rapid.Custom(func(t *rapid.T) any {
			return Put{Item: rapid.SampledFrom([]string{"jam", "tea"}).Draw(t, "item")}
		}))
	}
}

// The examples' shelf passes what they show.
func TestTheExamplesHold(t *testing.T) {
	proptest.ReplayEqualsLive(t, shelf, func(t *rapid.T, s Shelf) any {
		if len(s.Items) > 0 && rapid.Bool().Draw(t, "take") {
			return Take{Item: rapid.SampledFrom(s.Items).Draw(t, "item")}
		}
		return Put{Item: rapid.SampledFrom([]string{"jam", "tea"}).Draw(t, "item")}
	}, proptest.Length(10, 40))
	proptest.For(t, shelf).Given(Placed{Item: "jam"}).When(Take{Item: "jam"}).Then(Taken{Item: "jam"})
	proptest.For(t, shelf).When(Take{Item: "tea"}).ThenError(errNotThere)
	proptest.For(t, shelf).Given(Placed{Item: "jam"}, Placed{Item: "tea"}).ThenState(Shelf{Items: []string{"jam", "tea"}})
}
