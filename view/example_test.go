package view_test

import (
	"fmt"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/view"
)

type (
	Deposited struct{ Amount int }
	Withdrawn struct{ Amount int }
)

// A view folds events into what a query needs: here, the balance.
func ExampleView() {
	balance := view.View[int, any]{
		Evolve: func(b int, e any) int {
			switch e := e.(type) {
			case Deposited:
				return b + e.Amount
			case Withdrawn:
				return b - e.Amount
			}
			return b
		},
	}
	fmt.Println(balance.Replay([]any{Deposited{50}, Withdrawn{20}, Deposited{5}}))
	// Output: 35
}

// Merge feeds the same events to two views: one read model with two
// answers.
func ExampleMerge() {
	count := view.View[int, int]{Evolve: func(n, _ int) int { return n + 1 }}
	largest := view.View[int, int]{Evolve: func(m, e int) int { return max(m, e) }}
	both := view.Merge(count, largest)
	fmt.Printf("%+v\n", both.Replay([]int{3, 9, 4}))
	// Output: {First:3 Second:9}
}

// Many keeps one state per key, such as a balance per account.
func ExampleMany() {
	sum := view.View[int, int]{Evolve: func(s, e int) int { return s + e }}
	perAccount := view.Many[string](sum)
	fmt.Println(perAccount.Replay([]decider.Keyed[string, int]{{Key: "a", Value: 10}, {Key: "b", Value: 1}, {Key: "a", Value: 5}}))
	// Output: map[a:15 b:1]
}
