package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// Every cart is the stream "cart-" + its ID, and the order placed for it
// the stream "order-" + the same ID.
const (
	cartPrefix  = "cart-"
	orderPrefix = "order-"
)

// SnapshotEvery is how many events a cart gets between two snapshots.
const SnapshotEvery = 3

// cartRetries is how often a command on a cart is decided again after
// another shopper changed the cart first. Each retry follows a change that
// succeeded, and shoppers who share a cart rarely make more than a cart's
// worth of changes at once.
const cartRetries = 2 * MaxItems

// Shop is the application: carts and orders (two deciders), the checkout
// saga that turns a checked-out cart into an order, and the orders per
// customer read model, wired as one [annals.System] on one store.
type Shop struct {
	// System runs the saga and the read model: in the appending goroutine
	// (annals.Sync), or in goroutines started by System.Run (annals.Async).
	System *annals.System

	carts    *annals.Runner[CartCommand, CartEvent, Cart]
	orders   *annals.Runner[OrderCommand, OrderEvent, Order]
	checkout *annals.SagaRunner[struct{}, CheckedOut, OrderCommand]
	query    customerQuery // reads the read model; nil on a store without SQL tables
	noTables error         // why it is nil
}

// NewShop wires the shop on s, to run in mode, with every event and
// snapshot encrypted under keys. On a store without SQL tables, such as
// the memory store, the shop runs without its read model, and
// [Shop.Customers] says so.
func NewShop(s *annals.Store, mode annals.Mode, keys *codec.Keyring) (*Shop, error) {
	m, err := NewMappers(keys)
	if err != nil {
		return nil, err
	}
	sys, err := annals.NewSystem(s, mode)
	if err != nil {
		return nil, err
	}
	sh := &Shop{
		System: sys,
		carts: annals.NewRunner(s, CartDecider, m.Carts,
			annals.WithRetries(cartRetries),
			annals.WithSnapshots(s, snapshot.Every(SnapshotEvery), m.CartState)),
		orders: annals.NewRunner(s, OrderDecider, m.Orders),
	}
	sh.checkout = annals.NewSaga(s, "checkout", CheckoutSaga, m.Checkouts, sh.placeOrder)
	consumers := []annals.Consumer{sh.checkout}

	switch p, query, err := newCustomerOrders(s, m.Orders); {
	case err == nil:
		sh.query = query
		consumers = append(consumers, p)
	case errors.Is(err, store.ErrUnsupported):
		sh.noTables = err
	default:
		return nil, err
	}
	if err := sys.Add(consumers...); err != nil {
		return nil, err
	}
	return sh, nil
}

// placeOrder is the checkout saga's dispatcher. The cart ID is the
// checked-out cart's stream without its prefix; the cause's options give
// the command an idempotency key, so a replayed checkout places its order
// once, and the checkout as its causation.
func (sh *Shop) placeOrder(ctx context.Context, c OrderCommand, cause annals.Cause) error {
	id, ok := strings.CutPrefix(cause.Event.StreamID, cartPrefix)
	if !ok {
		return fmt.Errorf("checkout: event %s at position %d is on stream %q, not a cart's", cause.Event.Type, cause.Event.Position, cause.Event.StreamID)
	}
	_, err := sh.orders.Handle(ctx, orderPrefix+id, c, cause.Options()...)
	return err
}

// HandleCart handles a shopper's command on cart id. A rejection matches
// [annals.ErrRejected] and the rule's error, stores nothing, and comes
// with the cart it was decided on.
func (sh *Shop) HandleCart(ctx context.Context, id string, c CartCommand) (annals.Result[CartEvent, Cart], error) {
	return sh.carts.Handle(ctx, cartPrefix+id, c)
}

// HandleOrder handles the warehouse's command on order id.
func (sh *Shop) HandleOrder(ctx context.Context, id string, c OrderCommand) (annals.Result[OrderEvent, Order], error) {
	return sh.orders.Handle(ctx, orderPrefix+id, c)
}

// Cart returns cart id, loaded from its latest snapshot and the events
// after it, or an error matching store.ErrNotFound when nothing ever
// happened to it.
func (sh *Shop) Cart(ctx context.Context, id string) (Cart, error) {
	c, version, err := sh.carts.Load(ctx, cartPrefix+id)
	if err == nil && version == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return Cart{}, fmt.Errorf("cart %s: %w", id, err)
	}
	return c, nil
}

// Order returns the order placed for cart id, or an error matching
// store.ErrNotFound when there is none (yet, in async mode).
func (sh *Shop) Order(ctx context.Context, id string) (Order, error) {
	o, version, err := sh.orders.Load(ctx, orderPrefix+id)
	if err == nil && version == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("order %s: %w", id, err)
	}
	return o, nil
}

// Customers returns the read model's summary of each of customers that
// has an order, by customer. On a store without SQL tables it fails with
// an error matching store.ErrUnsupported. In async mode it shows what the
// read model has caught up with: see System.WaitQuiet.
func (sh *Shop) Customers(ctx context.Context, customers ...string) ([]CustomerSummary, error) {
	if sh.query == nil {
		return nil, fmt.Errorf("orders per customer: %w", sh.noTables)
	}
	if len(customers) == 0 {
		return nil, nil
	}
	out, err := sh.query(ctx, customers)
	if err != nil {
		return nil, fmt.Errorf("orders per customer: %w", err)
	}
	return out, nil
}
