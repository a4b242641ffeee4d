package main

import "github.com/annals-dev/annals/saga"

// CheckoutSaga places an order for every checked-out cart. It reads only
// CheckedOut events (see checkoutCodec). The event does not say which cart
// it is from, since a decider never knows its stream: the saga's
// dispatcher takes the cart ID from the event's stream (see [NewShop]) and
// sends the order to "order-" + that ID.
var CheckoutSaga = saga.Saga[CheckedOut, OrderCommand]{
	React: func(e CheckedOut) []OrderCommand {
		return []OrderCommand{PlaceOrder{Customer: e.Customer, Lines: e.Lines, TotalCents: e.TotalCents}}
	},
}
