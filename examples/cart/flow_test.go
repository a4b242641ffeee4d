package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// outcome is what a flow leaves: the carts, the orders and the read model.
type outcome struct {
	Carts     map[string]Cart
	Orders    map[string]Order
	Customers []CustomerSummary // nil on a store without SQL tables
}

// flow plays the shop's whole story: two carts filled and checked out,
// a refused sixth item and a refused item after checkout, the orders the
// checkout saga placed, one shipped and one cancelled, and the read model.
func flow(t *testing.T, shop *Shop) outcome {
	t.Helper()
	ctx := context.Background()
	for _, sku := range []string{"apple", "pear", "fig", "apple", "plum"} {
		handle(t, shop, "a", AddItem{SKU: sku, PriceCents: 100})
	}
	res, err := shop.HandleCart(ctx, "a", AddItem{SKU: "kiwi", PriceCents: 75})
	if !isRejection(err, ErrFull) || res.State.Count() != MaxItems || res.Version != 5 {
		t.Fatalf("sixth item: %v, cart %+v at version %d; want ErrFull on the cart of 5 items at version 5", err, res.State, res.Version)
	}
	handle(t, shop, "a", RemoveItem{SKU: "pear"})
	handle(t, shop, "a", AddItem{SKU: "kiwi", PriceCents: 75})
	handle(t, shop, "a", Checkout{Customer: "ada"})
	if _, err := shop.HandleCart(ctx, "a", AddItem{SKU: "fig", PriceCents: 100}); !isRejection(err, ErrCheckedOut) {
		t.Fatalf("item after checkout: %v, want ErrCheckedOut", err)
	}
	handle(t, shop, "b", AddItem{SKU: "book", PriceCents: 1200})
	handle(t, shop, "b", Checkout{Customer: "bob"})
	handle(t, shop, "c", AddItem{SKU: "pen", PriceCents: 150})
	handle(t, shop, "c", Checkout{Customer: "ada"})
	handle(t, shop, "d", AddItem{SKU: "ink", PriceCents: 300}) // never checked out

	settle(t, shop)
	if _, err := shop.Order(ctx, "d"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("order of a cart not checked out: %v, want store.ErrNotFound", err)
	}
	for id, c := range map[string]OrderCommand{"a": ShipOrder{}, "b": CancelOrder{Reason: "out of stock"}} {
		if _, err := shop.HandleOrder(ctx, id, c); err != nil {
			t.Fatalf("order %s: %+v: %v", id, c, err)
		}
	}
	settle(t, shop)

	out := outcome{Carts: map[string]Cart{}, Orders: map[string]Order{}}
	for _, id := range []string{"a", "b", "c", "d"} {
		c, err := shop.Cart(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		out.Carts[id] = c
	}
	for _, id := range []string{"a", "b", "c"} {
		o, err := shop.Order(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		out.Orders[id] = o
	}
	out.Customers, err = shop.Customers(ctx, "ada", "bob", "nobody")
	if err != nil && !errors.Is(err, store.ErrUnsupported) {
		t.Fatal(err)
	}
	return out
}

// want is the outcome of flow.
var want = outcome{
	Carts: map[string]Cart{
		"a": {CheckedOut: true, Lines: map[string]Line{
			"apple": {SKU: "apple", Units: 2, PriceCents: 100},
			"fig":   {SKU: "fig", Units: 1, PriceCents: 100},
			"plum":  {SKU: "plum", Units: 1, PriceCents: 100},
			"kiwi":  {SKU: "kiwi", Units: 1, PriceCents: 75},
		}},
		"b": {CheckedOut: true, Lines: map[string]Line{"book": {SKU: "book", Units: 1, PriceCents: 1200}}},
		"c": {CheckedOut: true, Lines: map[string]Line{"pen": {SKU: "pen", Units: 1, PriceCents: 150}}},
		"d": {Lines: map[string]Line{"ink": {SKU: "ink", Units: 1, PriceCents: 300}}},
	},
	Orders: map[string]Order{
		"a": {Status: Shipped, Customer: "ada", Items: 5, TotalCents: 475},
		"b": {Status: Cancelled, Customer: "bob", Items: 1, TotalCents: 1200},
		"c": {Status: Placed, Customer: "ada", Items: 1, TotalCents: 150},
	},
	Customers: []CustomerSummary{
		{Customer: "ada", Orders: 2, Shipped: 1, Items: 6, TotalCents: 625},
		{Customer: "bob", Orders: 1, Cancelled: 1},
	},
}

func check(t *testing.T, got, want outcome) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outcome:\n%+v\nwant:\n%+v", got, want)
	}
}

// In Sync mode on the memory store, a checkout returns once the saga has
// placed its order. The memory store has no SQL tables, so the shop runs
// without its read model, and says so.
func TestFlowInSyncModeOnMemory(t *testing.T) {
	ctx := context.Background()
	shop, _ := openShop(t, "memory:", annals.Sync)

	handle(t, shop, "x", AddItem{SKU: "apple", PriceCents: 120})
	handle(t, shop, "x", Checkout{Customer: "zoe"})
	o, err := shop.Order(ctx, "x") // no waiting: the saga ran before Handle returned
	if err != nil || o != (Order{Status: Placed, Customer: "zoe", Items: 1, TotalCents: 120}) {
		t.Fatalf("order right after checkout: %+v, %v", o, err)
	}

	got := flow(t, shop)
	if _, err := shop.Customers(ctx, "ada"); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("read model on memory: %v, want store.ErrUnsupported", err)
	}
	noReadModel := want
	noReadModel.Customers = nil
	check(t, got, noReadModel)
}

// The same flow, with the SQL read model, on an in-memory SQLite
// database.
func TestFlowInSyncModeOnSQLiteMemory(t *testing.T) {
	ctx := context.Background()
	shop, _ := openShop(t, "sqlite::memory:", annals.Sync)

	handle(t, shop, "x", AddItem{SKU: "apple", PriceCents: 120})
	handle(t, shop, "x", Checkout{Customer: "zoe"})
	sums, err := shop.Customers(ctx, "zoe") // no waiting: the read model ran too
	if err != nil || !reflect.DeepEqual(sums, []CustomerSummary{{Customer: "zoe", Orders: 1, Items: 1, TotalCents: 120}}) {
		t.Fatalf("read model right after checkout: %+v, %v", sums, err)
	}
	check(t, flow(t, shop), want)
}

// The same flow in Async mode on a SQLite file: the consumers run in the
// system's goroutines and the test waits for them with WaitQuiet.
func TestFlowInAsyncModeOnSQLite(t *testing.T) {
	shop, s := openShop(t, sqliteFile(t), annals.Async)
	check(t, flow(t, shop), want)

	// Nothing is left behind: every consumer is at the head of the log.
	status, err := shop.System.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	head, _ := s.Head(context.Background())
	for _, c := range status {
		if c.Lag != 0 || c.Stopped != nil || c.Checkpoint != head {
			t.Errorf("consumer %s: %+v, head %d", c.Name, c, head)
		}
	}
	if got := fmt.Sprint(len(status)); got != "2" {
		t.Errorf("%s consumers, want the saga and the read model", got)
	}
}

// The same flow in Async mode on PostgreSQL: the read model's table is
// written by its pgx handler, around the same SQL as on SQLite, and the
// summaries are the same.
func TestFlowInAsyncModeOnPostgres(t *testing.T) {
	db := pgtest.New(t)
	s, err := postgres.Open(context.Background(), db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	check(t, flow(t, openShopOn(t, annals.New(s), annals.Async)), want)
}

// A replayed checkout places its order once: the saga's dispatcher sends
// the command with the cause's idempotency key, so sending it again for
// the same event is answered "already done" rather than deciding again,
// which would be refused.
func TestCheckoutPlacesEachOrderOnce(t *testing.T) {
	ctx := context.Background()
	shop, s := openShop(t, "memory:", annals.Sync)
	handle(t, shop, "a", AddItem{SKU: "apple", PriceCents: 120})
	handle(t, shop, "a", Checkout{Customer: "ada"})

	var checkout store.Record
	for rec, err := range s.ReadStream(ctx, cartPrefix+"a", 2) {
		if err != nil {
			t.Fatal(err)
		}
		checkout = rec
	}
	m := mustMappers(t)
	e, err := m.Checkouts.FromRecord(ctx, checkout)
	if err != nil {
		t.Fatal(err)
	}
	cause := annals.Cause{Saga: "checkout", Event: checkout}
	for _, c := range CheckoutSaga.React(e) {
		if err := shop.placeOrder(ctx, c, cause); err != nil {
			t.Fatalf("replayed checkout: %v, want it answered as already done", err)
		}
	}
	if n := count(t, s, orderPrefix+"a"); n != 1 {
		t.Fatalf("order stream holds %d events after the checkout was replayed, want 1", n)
	}
	// Without the key of the first dispatch, the order refuses a second
	// placement: the nil above came from the key.
	cause.Index = 1
	if err := shop.placeOrder(ctx, CheckoutSaga.React(e)[0], cause); !isRejection(err, ErrOrderExists) {
		t.Fatalf("a second placement under another key: %v, want ErrOrderExists", err)
	}
}

func mustMappers(t *testing.T) Mappers {
	t.Helper()
	m, err := NewMappers(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
