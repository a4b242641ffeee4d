package main

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals/store"
)

// Shop is the order system: three deciders, the fulfilment process that
// coordinates them, and the order summary read model, wired as a
// [store.System].
type Shop struct {
	System     *store.System
	orders     *store.Runner[Command, Event, Order]
	payments   *store.Runner[Command, Event, Payment]
	stock      *store.Runner[Command, Event, Stock]
	summary    *store.ViewProjection[Summary, Event]
	fulfilment *store.SagaRunner[Fulfilment, Event, Command]
}

// byOrder keys the process and the view by order ID; stock added to a SKU
// belongs to no order.
func byOrder(_ store.Record, e Event) (string, bool) {
	id := e.orderID()
	return id, id != ""
}

// NewShop wires the shop on s, to run in mode.
func NewShop(s store.ConsumerStore, mode store.Mode) *Shop {
	sys := store.NewSystem(s, mode)
	codec := Codec()
	sh := &Shop{
		System:   sys,
		orders:   store.NewRunner(sys.Store(), OrderDecider, codec),
		payments: store.NewRunner(sys.Store(), PaymentDecider, codec),
		stock:    store.NewRunner(sys.Store(), StockDecider, codec),
		summary:  store.NewViewProjection(s, "order-summary", SummaryView, codec, byOrder),
	}
	sh.fulfilment = store.NewProcess(s, "fulfilment", FulfilmentProcess, codec, byOrder,
		func(ctx context.Context, c Command, cause store.Cause) error {
			return sh.Send(ctx, c, cause.Options()...)
		})
	sys.Add(sh.summary, sh.fulfilment)
	return sh
}

// Send handles a command with the decider it is for.
func (sh *Shop) Send(ctx context.Context, c Command, opts ...store.HandleOption) error {
	var err error
	switch c.(type) {
	case PlaceOrder, ShipOrder, CancelOrder:
		_, err = sh.orders.Handle(ctx, c.Stream(), c, opts...)
	case RequestPayment, ConfirmPayment:
		_, err = sh.payments.Handle(ctx, c.Stream(), c, opts...)
	case AddStock, ReserveStock:
		_, err = sh.stock.Handle(ctx, c.Stream(), c, opts...)
	default:
		return fmt.Errorf("shop: no decider handles %T", c)
	}
	if err != nil {
		return fmt.Errorf("%T on %s: %w", c, c.Stream(), err)
	}
	return nil
}

// Summary returns the summary of order id as the read model has it.
func (sh *Shop) Summary(ctx context.Context, id string) (Summary, error) {
	return sh.summary.Get(ctx, id)
}
