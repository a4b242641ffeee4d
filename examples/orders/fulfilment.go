package main

import (
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/view"
)

// Fulfilment is what the fulfilment process knows of one order.
type Fulfilment struct {
	Paid     bool `json:"paid"`
	Reserved bool `json:"reserved"`
	Finished bool `json:"finished"`
}

// FulfilmentProcess asks for payment and stock when an order is placed,
// ships it once both have arrived (in either order), and cancels it when
// the stock is short.
var FulfilmentProcess = saga.Process[Fulfilment, Event, Command]{
	React: func(f Fulfilment, e Event) []Command {
		if f.Finished {
			return nil
		}
		switch e := e.(type) {
		case OrderPlaced:
			return []Command{
				RequestPayment{OrderID: e.OrderID, Amount: e.Amount},
				ReserveStock{OrderID: e.OrderID, SKU: e.SKU, Quantity: e.Quantity},
			}
		case PaymentReceived:
			if f.Reserved && !f.Paid {
				return []Command{ShipOrder{OrderID: e.OrderID}}
			}
		case StockReserved:
			if f.Paid && !f.Reserved {
				return []Command{ShipOrder{OrderID: e.OrderID}}
			}
		case StockUnavailable:
			return []Command{CancelOrder{OrderID: e.OrderID, Reason: "out of stock"}}
		}
		return nil
	},
	Evolve: func(f Fulfilment, e Event) Fulfilment {
		switch e.(type) {
		case PaymentReceived:
			f.Paid = true
		case StockReserved:
			f.Reserved = true
		case OrderShipped, OrderCancelled:
			f.Finished = true
		}
		return f
	},
	IsTerminal: func(f Fulfilment) bool { return f.Finished },
}

// Summary is the read model of one order, for the customer's order page.
type Summary struct {
	Status string `json:"status"`
	Amount int    `json:"amount"`
	Paid   bool   `json:"paid"`
	Note   string `json:"note,omitempty"`
}

// SummaryView folds an order's events, from all three deciders, into its
// summary.
var SummaryView = view.View[Summary, Event]{
	Evolve: func(s Summary, e Event) Summary {
		switch e := e.(type) {
		case OrderPlaced:
			s.Status, s.Amount = "placed", e.Amount
		case PaymentReceived:
			s.Paid = true
		case StockReserved:
			if s.Status == "placed" {
				s.Status = "reserved"
			}
		case OrderShipped:
			s.Status = "shipped"
		case OrderCancelled:
			s.Status, s.Note = "cancelled", e.Reason
		}
		return s
	},
}
