package view_test

import (
	"fmt"
	"slices"

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

// Combine3 folds a view of each part of a three-part composite over the
// composite's events: here a till that scans items, takes payments and
// notes remarks. The Neutral deciders stand in for the till's parts; the
// value decider.Combine3 returns builds the events each part decides.
func ExampleCombine3() {
	type (
		Scanned struct{ Item string }
		Paid    struct{ Amount int }
		Noted   struct{ Remark string }
	)
	till := decider.Combine3(decider.Neutral[any, Scanned](), decider.Neutral[any, Paid](), decider.Neutral[any, Noted]())

	items := view.View[[]string, Scanned]{Evolve: func(s []string, e Scanned) []string { return append(slices.Clip(s), e.Item) }}
	takings := view.View[int, Paid]{Evolve: func(n int, e Paid) int { return n + e.Amount }}
	remarks := view.View[int, Noted]{Evolve: func(n int, _ Noted) int { return n + 1 }}
	report := view.Combine3(items, takings, remarks)

	fmt.Println(report.Replay([]decider.Sum3[Scanned, Paid, Noted]{
		till.FirstEvent(Scanned{Item: "tea"}),
		till.SecondEvent(Paid{Amount: 4}),
		till.FirstEvent(Scanned{Item: "jam"}),
		till.ThirdEvent(Noted{Remark: "no bag"}),
		till.SecondEvent(Paid{Amount: 3}),
	}))
	// Output: {First:[tea jam] Second:7 Third:1}
}
