package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// A refused sixth item stores nothing: not in the cart's stream, not in
// the log, not in a snapshot; and the refusal comes with the cart it was
// decided on.
func TestSixthItemStoresNothing(t *testing.T) {
	ctx := context.Background()
	shop, s := openShop(t, "memory:", annals.Sync)
	for _, sku := range []string{"apple", "pear", "fig", "apple", "plum"} {
		handle(t, shop, "c1", AddItem{SKU: sku, PriceCents: 100})
	}
	snapBefore, _, err := s.LatestSnapshot(ctx, cartPrefix+"c1")
	if err != nil {
		t.Fatal(err)
	}

	res, err := shop.HandleCart(ctx, "c1", AddItem{SKU: "kiwi", PriceCents: 75})
	if !isRejection(err, ErrFull) {
		t.Fatalf("sixth item: error %v, want a rejection matching ErrFull", err)
	}
	if res.State.Count() != MaxItems || res.Version != MaxItems || len(res.Events) != 0 {
		t.Fatalf("sixth item: result %+v, want the cart of 5 items at version 5 and no events", res)
	}
	if head, err := s.Head(ctx); err != nil || head != MaxItems {
		t.Fatalf("global log head %d (%v) after a refused sixth item, want 5", head, err)
	}
	if n := count(t, s, cartPrefix+"c1"); n != MaxItems {
		t.Fatalf("stream holds %d events, want 5", n)
	}
	if snap, _, _ := s.LatestSnapshot(ctx, cartPrefix+"c1"); snap.Version != snapBefore.Version {
		t.Fatalf("snapshot moved from version %d to %d on a rejection", snapBefore.Version, snap.Version)
	}
	c, err := shop.Cart(ctx, "c1")
	if err != nil || c.Count() != MaxItems || c.Lines["kiwi"].Units != 0 {
		t.Fatalf("cart %+v (%v), want the five items without kiwi", c, err)
	}
	if _, err := shop.Cart(ctx, "never-used"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown cart: error %v, want store.ErrNotFound", err)
	}
}

// Ten shoppers adding to one cart at once never overfill it: however full
// it was, exactly enough adds to fill it are accepted, the others are
// refused as full, and the stream holds five additions. A retry after a
// conflict decides on the cart as it now is.
func TestConcurrentAddsNeverOverfill(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		before := rapid.IntRange(0, MaxItems).Draw(rt, "items before")
		shop, s := openShop(t, "memory:", annals.Sync)
		concurrentAdds(rt, shop, s, before)
	})
}

// The same on a SQLite file, with the system running in async mode.
func TestConcurrentAddsNeverOverfillOnSQLite(t *testing.T) {
	shop, s := openShop(t, sqliteFile(t), annals.Async)
	concurrentAdds(t, shop, s, 2)
}

func concurrentAdds(t fataler, shop *Shop, s *annals.Store, before int) {
	t.Helper()
	ctx := context.Background()
	for i := range before {
		handle(t, shop, "shared", AddItem{SKU: fmt.Sprintf("early-%d", i), PriceCents: 100})
	}
	const shoppers = 10
	errs := make([]error, shoppers)
	var wg sync.WaitGroup
	for i := range shoppers {
		wg.Go(func() {
			_, errs[i] = shop.HandleCart(ctx, "shared", AddItem{SKU: fmt.Sprintf("sku-%d", i), PriceCents: 100})
		})
	}
	wg.Wait()
	accepted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			accepted++
		case !isRejection(err, ErrFull):
			t.Errorf("shopper %d: %v", i, err)
		}
	}
	if accepted != MaxItems-before {
		t.Errorf("%d adds accepted on a cart of %d items, want %d", accepted, before, MaxItems-before)
	}
	c, err := shop.Cart(ctx, "shared")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if n := count(t, s, cartPrefix+"shared"); c.Count() != MaxItems || n != MaxItems {
		t.Fatalf("cart holds %d items, %d events stored; want %d and %d", c.Count(), n, MaxItems, MaxItems)
	}
}

// When the read model fails on what a checkout led to, the checkout is
// stored all the same and says so (annals.ErrStored, with the cart as
// stored); the read model stops at the event and catches up once fixed.
func TestReadModelFailureAfterCheckoutIsReportedAsStored(t *testing.T) {
	ctx := context.Background()
	shop, s := openShop(t, "sqlite::memory:", annals.Sync)
	handle(t, shop, "a", AddItem{SKU: "apple", PriceCents: 120}) // the read model creates its table
	exec := func(query string) {
		t.Helper()
		tables, err := annals.SQL[*sql.Tx](s)
		if err != nil {
			t.Fatal(err)
		}
		err = tables.Commit(ctx, "test", 0, 0, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, query)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	exec(`ALTER TABLE customer_orders RENAME TO customer_orders_away`)

	res, err := shop.HandleCart(ctx, "a", Checkout{Customer: "ada"})
	var stopped *annals.ConsumerError
	if !errors.Is(err, annals.ErrStored) || !errors.As(err, &stopped) || stopped.Consumer != CustomerOrders {
		t.Fatalf("checkout: %v, want ErrStored naming the read model", err)
	}
	if !res.State.CheckedOut || res.Version != 2 {
		t.Fatalf("checkout result %+v, want the checked-out cart at version 2", res)
	}
	if o, err := shop.Order(ctx, "a"); err != nil || o.Status != Placed {
		t.Fatalf("order: %+v, %v; the saga places it whatever the read model does", o, err)
	}
	if err := shop.System.WaitQuiet(ctx); !errors.As(err, &stopped) {
		t.Fatalf("WaitQuiet with a stopped read model: %v, want its ConsumerError", err)
	}

	exec(`ALTER TABLE customer_orders_away RENAME TO customer_orders`)
	if err := shop.System.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	sums, err := shop.Customers(ctx, "ada")
	if err != nil || len(sums) != 1 || sums[0].Orders != 1 {
		t.Fatalf("read model after the fix: %+v, %v", sums, err)
	}
}
