package saga_test

import (
	"fmt"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
)

type (
	OrderPlaced     struct{ ID string }
	PaymentReceived struct{ ID string }
	RequestPayment  struct{ ID string }
	Ship            struct{ ID string }
)

// A saga answers an event with commands.
func ExampleSaga() {
	billing := saga.Saga[any, any]{React: func(e any) []any {
		if placed, ok := e.(OrderPlaced); ok {
			return []any{RequestPayment{ID: placed.ID}}
		}
		return nil
	}}
	fmt.Printf("%+v\n", billing.React(OrderPlaced{ID: "42"}))
	// Output: [{ID:42}]
}

// A process remembers: it ships once the order was placed and paid, in
// either order, and only once.
func ExampleProcess() {
	type seen struct{ Placed, Paid bool }
	shipping := saga.Process[seen, any, Ship]{
		React: func(s seen, e any) []Ship {
			switch e := e.(type) {
			case OrderPlaced:
				if s.Paid && !s.Placed {
					return []Ship{{ID: e.ID}}
				}
			case PaymentReceived:
				if s.Placed && !s.Paid {
					return []Ship{{ID: e.ID}}
				}
			}
			return nil
		},
		Evolve: func(s seen, e any) seen {
			switch e.(type) {
			case OrderPlaced:
				s.Placed = true
			case PaymentReceived:
				s.Paid = true
			}
			return s
		},
	}
	commands, _ := shipping.Run([]any{PaymentReceived{ID: "42"}, OrderPlaced{ID: "42"}, PaymentReceived{ID: "42"}})
	fmt.Printf("%+v\n", commands)
	// Output: [{ID:42}]
}

// One process per order: each instance knows its order's key and
// addresses its command by it.
func ExampleManyProcesses() {
	type seen struct{ Placed, Paid bool }
	shipping := saga.ManyProcesses(func(order string) saga.Process[seen, any, Ship] {
		return saga.Process[seen, any, Ship]{
			React: func(s seen, e any) []Ship {
				switch e.(type) {
				case OrderPlaced:
					if s.Paid && !s.Placed {
						return []Ship{{ID: order}}
					}
				case PaymentReceived:
					if s.Placed && !s.Paid {
						return []Ship{{ID: order}}
					}
				}
				return nil
			},
			Evolve: func(s seen, e any) seen {
				switch e.(type) {
				case OrderPlaced:
					s.Placed = true
				case PaymentReceived:
					s.Paid = true
				}
				return s
			},
		}
	})
	commands, _ := shipping.Run([]decider.Keyed[string, any]{
		{Key: "7", Value: OrderPlaced{}},
		{Key: "9", Value: PaymentReceived{}},
		{Key: "7", Value: PaymentReceived{}},
		{Key: "9", Value: OrderPlaced{}},
	})
	fmt.Printf("%+v\n", commands)
	// Output: [{ID:7} {ID:9}]
}

// Combine3 runs a saga for each part of a three-part composite. Each
// reacts to its part's events with commands for the same part, so the
// whole reacts to the composite's events with the composite's commands,
// which its Handle takes as they are. The Neutral deciders stand in for
// the composite's parts; the value decider.Combine3 returns builds their
// events.
func ExampleCombine3() {
	type (
		OrderCancelled struct{ ID string }
		Refund         struct{ ID string }
		StockLow       struct{ SKU string }
		Reorder        struct{ SKU string }
		Delivered      struct{ ID string }
		AskForReview   struct{ ID string }
	)
	shop := decider.Combine3(decider.Neutral[Refund, OrderCancelled](), decider.Neutral[Reorder, StockLow](), decider.Neutral[AskForReview, Delivered]())

	refunds := saga.Saga[OrderCancelled, Refund]{React: func(e OrderCancelled) []Refund { return []Refund{{ID: e.ID}} }}
	reorders := saga.Saga[StockLow, Reorder]{React: func(e StockLow) []Reorder { return []Reorder{{SKU: e.SKU}} }}
	reviews := saga.Saga[Delivered, AskForReview]{React: func(e Delivered) []AskForReview { return []AskForReview{{ID: e.ID}} }}
	clerk := saga.Combine3(refunds, reorders, reviews)

	fmt.Println(clerk.React(shop.SecondEvent(StockLow{SKU: "tea"})))
	fmt.Println(clerk.React(shop.ThirdEvent(Delivered{ID: "42"})))
	// Output:
	// [Second(Reorder{SKU:tea})]
	// [Third(AskForReview{ID:42})]
}
