package main

import (
	"errors"
	"fmt"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// Every event of the system is an Event, so that the fulfilment process
// and the order summary can read the events of all three deciders.
type Event interface{ orderID() string }

// Order events (stream "order-<id>").
type (
	OrderPlaced struct {
		OrderID  string `json:"order_id"`
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
		Amount   int    `json:"amount"`
	}
	OrderShipped struct {
		OrderID string `json:"order_id"`
	}
	OrderCancelled struct {
		OrderID string `json:"order_id"`
		Reason  string `json:"reason"`
	}
)

// Payment events (stream "payment-<order id>").
type (
	PaymentRequested struct {
		OrderID string `json:"order_id"`
		Amount  int    `json:"amount"`
	}
	PaymentReceived struct {
		OrderID string `json:"order_id"`
	}
)

// Stock events (stream "stock-<sku>").
type (
	StockAdded struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	StockReserved struct {
		OrderID  string `json:"order_id"`
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	StockUnavailable struct {
		OrderID string `json:"order_id"`
		SKU     string `json:"sku"`
	}
)

func (e OrderPlaced) orderID() string      { return e.OrderID }
func (e OrderShipped) orderID() string     { return e.OrderID }
func (e OrderCancelled) orderID() string   { return e.OrderID }
func (e PaymentRequested) orderID() string { return e.OrderID }
func (e PaymentReceived) orderID() string  { return e.OrderID }
func (e StockAdded) orderID() string       { return "" }
func (e StockReserved) orderID() string    { return e.OrderID }
func (e StockUnavailable) orderID() string { return e.OrderID }

// Codec stores every event of the system under a stable name.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("OrderPlaced", OrderPlaced{}).
		Register("OrderShipped", OrderShipped{}).
		Register("OrderCancelled", OrderCancelled{}).
		Register("PaymentRequested", PaymentRequested{}).
		Register("PaymentReceived", PaymentReceived{}).
		Register("StockAdded", StockAdded{}).
		Register("StockReserved", StockReserved{}).
		Register("StockUnavailable", StockUnavailable{})
}

// A Command goes to one of the three deciders; Stream names the stream
// it goes to.
type Command interface{ Stream() string }

// Commands, to the three deciders.
type (
	PlaceOrder struct {
		OrderID  string
		SKU      string
		Quantity int
		Amount   int
	}
	ShipOrder   struct{ OrderID string }
	CancelOrder struct{ OrderID, Reason string }

	RequestPayment struct {
		OrderID string
		Amount  int
	}
	ConfirmPayment struct{ OrderID string }

	AddStock struct {
		SKU      string
		Quantity int
	}
	ReserveStock struct {
		OrderID  string
		SKU      string
		Quantity int
	}
)

func (c PlaceOrder) Stream() string     { return "order-" + c.OrderID }
func (c ShipOrder) Stream() string      { return "order-" + c.OrderID }
func (c CancelOrder) Stream() string    { return "order-" + c.OrderID }
func (c RequestPayment) Stream() string { return "payment-" + c.OrderID }
func (c ConfirmPayment) Stream() string { return "payment-" + c.OrderID }
func (c AddStock) Stream() string       { return "stock-" + c.SKU }
func (c ReserveStock) Stream() string   { return "stock-" + c.SKU }

// Business-rule rejections.
var (
	ErrInvalid        = errors.New("quantity and amount must be positive")
	ErrExists         = errors.New("order already placed")
	ErrNoOrder        = errors.New("no such order")
	ErrFinished       = errors.New("order already shipped or cancelled")
	ErrNotRequested   = errors.New("no payment was requested")
	ErrAlreadyPaid    = errors.New("payment already received")
	ErrAlreadyDecided = errors.New("stock for this order was already decided")
)

// Order is an order's state.
type Order struct {
	Placed, Shipped, Cancelled bool
}

// OrderDecider decides on one order.
var OrderDecider = decider.Decider[Command, Event, Order]{
	Decide: func(c Command, o Order) ([]Event, error) {
		switch c := c.(type) {
		case PlaceOrder:
			if o.Placed {
				return nil, ErrExists
			}
			if c.Quantity <= 0 || c.Amount <= 0 {
				return nil, ErrInvalid
			}
			return []Event{OrderPlaced{OrderID: c.OrderID, SKU: c.SKU, Quantity: c.Quantity, Amount: c.Amount}}, nil
		case ShipOrder:
			if !o.Placed {
				return nil, ErrNoOrder
			}
			if o.Shipped || o.Cancelled {
				return nil, ErrFinished
			}
			return []Event{OrderShipped{OrderID: c.OrderID}}, nil
		case CancelOrder:
			if !o.Placed {
				return nil, ErrNoOrder
			}
			if o.Shipped || o.Cancelled {
				return nil, ErrFinished
			}
			return []Event{OrderCancelled{OrderID: c.OrderID, Reason: c.Reason}}, nil
		}
		return nil, fmt.Errorf("order: unknown command %T", c)
	},
	Evolve: func(o Order, e Event) Order {
		switch e.(type) {
		case OrderPlaced:
			o.Placed = true
		case OrderShipped:
			o.Shipped = true
		case OrderCancelled:
			o.Cancelled = true
		}
		return o
	},
}

// Payment is a payment's state.
type Payment struct {
	Requested, Received bool
}

// PaymentDecider decides on the payment of one order.
var PaymentDecider = decider.Decider[Command, Event, Payment]{
	Decide: func(c Command, p Payment) ([]Event, error) {
		switch c := c.(type) {
		case RequestPayment:
			if p.Requested {
				return nil, nil // asked already: nothing new
			}
			return []Event{PaymentRequested{OrderID: c.OrderID, Amount: c.Amount}}, nil
		case ConfirmPayment:
			if !p.Requested {
				return nil, ErrNotRequested
			}
			if p.Received {
				return nil, ErrAlreadyPaid
			}
			return []Event{PaymentReceived{OrderID: c.OrderID}}, nil
		}
		return nil, fmt.Errorf("payment: unknown command %T", c)
	},
	Evolve: func(p Payment, e Event) Payment {
		switch e.(type) {
		case PaymentRequested:
			p.Requested = true
		case PaymentReceived:
			p.Received = true
		}
		return p
	},
}

// Stock is the stock of one SKU: what is available, and the orders whose
// reservation was decided.
type Stock struct {
	Available int
	Decided   map[string]bool
}

// StockDecider decides on the stock of one SKU. Running out is not a
// rejection but an event: the fulfilment process must hear of it.
var StockDecider = decider.Decider[Command, Event, Stock]{
	Decide: func(c Command, s Stock) ([]Event, error) {
		switch c := c.(type) {
		case AddStock:
			if c.Quantity <= 0 {
				return nil, ErrInvalid
			}
			return []Event{StockAdded{SKU: c.SKU, Quantity: c.Quantity}}, nil
		case ReserveStock:
			if s.Decided[c.OrderID] {
				return nil, ErrAlreadyDecided
			}
			if c.Quantity > s.Available {
				return []Event{StockUnavailable{OrderID: c.OrderID, SKU: c.SKU}}, nil
			}
			return []Event{StockReserved{OrderID: c.OrderID, SKU: c.SKU, Quantity: c.Quantity}}, nil
		}
		return nil, fmt.Errorf("stock: unknown command %T", c)
	},
	Evolve: func(s Stock, e Event) Stock {
		decided := func(id string) map[string]bool {
			m := make(map[string]bool, len(s.Decided)+1)
			for k, v := range s.Decided {
				m[k] = v
			}
			m[id] = true
			return m
		}
		switch e := e.(type) {
		case StockAdded:
			s.Available += e.Quantity
		case StockReserved:
			s.Available -= e.Quantity
			s.Decided = decided(e.OrderID)
		case StockUnavailable:
			s.Decided = decided(e.OrderID)
		}
		return s
	},
}
