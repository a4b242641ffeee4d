package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// Shop is the order system: three deciders, the fulfilment process that
// coordinates them, and the order summary read model, wired as a
// [annals.System].
type Shop struct {
	System     *annals.System
	orders     *annals.Runner[Command, Event, Order]
	payments   *annals.Runner[Command, Event, Payment]
	stock      *annals.Runner[Command, Event, Stock]
	summary    *annals.ViewProjection[Summary, Event]
	fulfilment *annals.SagaRunner[Fulfilment, Event, Command]
}

// byOrder keys the process and the view by order ID; stock added to a SKU
// belongs to no order.
func byOrder(_ store.Record, e Event) (string, bool) {
	id := e.orderID()
	return id, id != ""
}

// NewShop wires the shop on s, to run in mode.
func NewShop(s *annals.Store, mode annals.Mode) (*Shop, error) {
	sys, err := annals.NewSystem(s, mode)
	if err != nil {
		return nil, err
	}
	events := Codec()
	sh := &Shop{
		System:   sys,
		orders:   annals.NewRunner(s, OrderDecider, events),
		payments: annals.NewRunner(s, PaymentDecider, events),
		// Every order reserves stock on its product's stream, which
		// grows with every order: the cache decides on the state it
		// holds, without reading the stream again.
		stock:   annals.NewRunner(s, StockDecider, events, annals.WithCache(1024)),
		summary: annals.NewViewProjection(s, "order-summary", SummaryView, events, byOrder),
	}
	sh.fulfilment = annals.NewProcess(s, "fulfilment", FulfilmentProcess, events, byOrder,
		func(ctx context.Context, c Command, cause annals.Cause) error {
			// The cause says which order's process sent c (Instance) and
			// which event made it (Event: its stream, type, metadata).
			// Its options make c take effect once however often that
			// event is replayed, and record the event as c's causation.
			slog.DebugContext(ctx, "fulfilment sends a command", "order", cause.Instance,
				"command", fmt.Sprintf("%T", c), "because_of", cause.Event.Type, "stream", cause.Event.StreamID)
			return sh.Send(ctx, c, cause.Options()...)
		})
	if err := sys.Add(sh.summary, sh.fulfilment); err != nil {
		return nil, err
	}
	return sh, nil
}

// Send handles a command with the decider it is for.
func (sh *Shop) Send(ctx context.Context, c Command, opts ...annals.HandleOption) error {
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
