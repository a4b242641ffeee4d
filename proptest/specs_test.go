package proptest

import (
	"fmt"
	"testing"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/view"
)

// A view of the options voted for, in order; a saga that thanks each
// voter; a process that announces an option's third vote.
var (
	ballot = view.View[[]string, voted]{
		Evolve: func(s []string, e voted) []string { return append(s[:len(s):len(s)], e.Option) },
	}
	thanks = saga.Saga[voted, string]{React: func(e voted) []string {
		if e.Option == "" {
			return nil
		}
		return []string{"thanks for " + e.Option}
	}}
	announcer = saga.Process[map[string]int, voted, string]{
		Evolve: func(s map[string]int, e voted) map[string]int {
			return lo.Assign(s, map[string]int{e.Option: s[e.Option] + 1})
		},
		React: func(s map[string]int, e voted) []string {
			if s[e.Option] == 2 {
				return []string{fmt.Sprintf("%s is full", e.Option)}
			}
			return nil
		},
		Initial: func() map[string]int { return map[string]int{} },
	}
)

func TestViewSagaAndProcessSpecsPassWhatHolds(t *testing.T) {
	ForView(t, ballot).ThenState(nil)
	ForView(t, ballot).Given(voted{"x"}).When(voted{"y"}).ThenState([]string{"x", "y"})
	ForView(t, ballot).Given(voted{"x"}, voted{"y"}).ThenState([]string{"x", "y"})

	ForSaga(t, thanks).When(voted{"x"}).Then("thanks for x")
	ForSaga(t, thanks).When(voted{}).Then()

	ForProcess(t, announcer).Given(voted{"x"}, voted{"x"}).When(voted{"x"}).Then("x is full")
	ForProcess(t, announcer).Given(voted{"x"}, voted{"y"}).When(voted{"x"}).Then()
	ForProcess(t, announcer).Given(voted{"x"}).When(voted{"y"}).ThenState(map[string]int{"x": 1, "y": 1})
	ForProcess(t, announcer).Given(voted{"x"}).ThenState(map[string]int{"x": 1})
}

func TestViewSagaAndProcessSpecsReportWhatDiffers(t *testing.T) {
	checkFailures(t, []failureCase{
		{"view: other state", func(tb testing.TB) {
			ForView(tb, ballot).Given(voted{"x"}).When(voted{"y"}).ThenState([]string{"y", "x"})
		}, []string{`- []string{"y", "x"}`, `+ []string{"x", "y"}`, `when  proptest.voted{Option:"y"}`, `given proptest.voted{Option:"x"}`}},
		{"view: empty where nil", func(tb testing.TB) {
			ForView(tb, ballot).ThenState([]string{})
		}, []string{"- []string{}", "+ []string(nil)"}},
		{"view: no Then", func(tb testing.TB) {
			ForView(tb, ballot).Given(voted{"x"}).When(voted{"z"})
		}, []string{"no Then", `when  proptest.voted{Option:"z"}`, "the specification begun at specs_test.go:"}},

		{"saga: other commands", func(tb testing.TB) {
			ForSaga(tb, thanks).When(voted{"x"}).Then("thank you")
		}, []string{`- "thank you"`, `+ "thanks for x"`, `when  proptest.voted{Option:"x"}`}},
		{"saga: commands where none are wanted", func(tb testing.TB) {
			ForSaga(tb, thanks).When(voted{"x"}).Then()
		}, []string{`+ "thanks for x"`}},
		{"saga: Then without When", func(tb testing.TB) {
			ForSaga(tb, thanks).Then()
		}, []string{"Then without When"}},
		{"saga: no Then", func(tb testing.TB) {
			ForSaga(tb, thanks).When(voted{"q"})
		}, []string{"no Then", `when  proptest.voted{Option:"q"}`, "the specification begun at specs_test.go:"}},

		{"process: other commands", func(tb testing.TB) {
			ForProcess(tb, announcer).Given(voted{"x"}).When(voted{"x"}).Then("x is full")
		}, []string{`- "x is full"`, `when  proptest.voted{Option:"x"}`, `given proptest.voted{Option:"x"}`}},
		{"process: other state", func(tb testing.TB) {
			ForProcess(tb, announcer).Given(voted{"x"}).When(voted{"y"}).ThenState(map[string]int{"x": 1})
		}, []string{`- map[string]int{"x":1}`, `+ map[string]int{"x":1, "y":1}`, `when  proptest.voted{Option:"y"}`}},
		{"process: Then without When", func(tb testing.TB) {
			ForProcess(tb, announcer).Given(voted{"x"}).Then()
		}, []string{"Then without When"}},
		{"process: no Then", func(tb testing.TB) {
			ForProcess(tb, announcer).Given(voted{"x"})
		}, []string{"no Then", `given proptest.voted{Option:"x"}`, "the specification begun at specs_test.go:"}},
	})
}
