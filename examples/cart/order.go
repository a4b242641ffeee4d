package main

import (
	"errors"

	"github.com/annals-dev/annals/decider"
)

// An OrderCommand is something asked of an order: by the checkout saga
// (PlaceOrder) or by the warehouse.
type OrderCommand interface {
	decide(Order) ([]OrderEvent, error)
}

type (
	// PlaceOrder orders a checked-out cart's lines for a customer. The
	// order's ID is its cart's: the checkout saga sends it to the stream
	// "order-" + the cart ID.
	PlaceOrder struct {
		Customer   string
		Lines      []Line
		TotalCents int
	}
	// ShipOrder says the warehouse sent the order.
	ShipOrder struct{}
	// CancelOrder calls the order off before it ships.
	CancelOrder struct{ Reason string }
)

// An OrderEvent is something that happened to an order.
type OrderEvent interface {
	evolve(Order) Order
}

type (
	// OrderPlaced says an order was placed.
	OrderPlaced struct {
		Customer   string `json:"customer"`
		Lines      []Line `json:"lines"`
		Items      int    `json:"items"`
		TotalCents int    `json:"total_cents"`
	}
	// OrderShipped says the order left the warehouse.
	OrderShipped struct{}
	// OrderCancelled says the order was called off.
	OrderCancelled struct {
		Reason string `json:"reason"`
	}
)

// The states of an order, as [Order.Status] and the read model show them.
const (
	Placed    = "placed"
	Shipped   = "shipped"
	Cancelled = "cancelled"
)

// Order is the state of an order. It is also the row of the customers'
// orders read model, which folds the same events (see [CustomerOrders]).
type Order struct {
	Status     string // "" until placed, then Placed, Shipped or Cancelled
	Customer   string
	Items      int
	TotalCents int
}

// Business-rule rejections of an order.
var (
	ErrOrderExists = errors.New("order already placed")
	ErrEmptyOrder  = errors.New("an order needs a customer and at least one item")
	ErrNoOrder     = errors.New("no such order")
	ErrOrderClosed = errors.New("order already shipped or cancelled")
)

// OrderDecider is the order aggregate: placed once, then shipped or
// cancelled once.
var OrderDecider = decider.Decider[OrderCommand, OrderEvent, Order]{
	Decide: func(c OrderCommand, o Order) ([]OrderEvent, error) {
		if c == nil {
			return nil, ErrNoCommand
		}
		return c.decide(o)
	},
	Evolve:     func(o Order, e OrderEvent) Order { return e.evolve(o) },
	IsTerminal: func(o Order) bool { return o.Status == Shipped || o.Status == Cancelled },
}

func (c PlaceOrder) decide(o Order) ([]OrderEvent, error) {
	if o.Status != "" {
		return nil, ErrOrderExists
	}
	items := 0
	for _, l := range c.Lines {
		items += l.Units
	}
	if c.Customer == "" || items <= 0 {
		return nil, ErrEmptyOrder
	}
	return []OrderEvent{OrderPlaced{Customer: c.Customer, Lines: c.Lines, Items: items, TotalCents: c.TotalCents}}, nil
}

// canChange returns why o cannot change any more, or nil.
func canChange(o Order) error {
	switch o.Status {
	case "":
		return ErrNoOrder
	case Placed:
		return nil
	}
	return ErrOrderClosed
}

func (ShipOrder) decide(o Order) ([]OrderEvent, error) {
	if err := canChange(o); err != nil {
		return nil, err
	}
	return []OrderEvent{OrderShipped{}}, nil
}

func (c CancelOrder) decide(o Order) ([]OrderEvent, error) {
	if err := canChange(o); err != nil {
		return nil, err
	}
	return []OrderEvent{OrderCancelled{Reason: c.Reason}}, nil
}

func (e OrderPlaced) evolve(o Order) Order {
	return Order{Status: Placed, Customer: e.Customer, Items: e.Items, TotalCents: e.TotalCents}
}

func (OrderShipped) evolve(o Order) Order { o.Status = Shipped; return o }

func (OrderCancelled) evolve(o Order) Order { o.Status = Cancelled; return o }
