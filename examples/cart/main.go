package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "cart:", err)
		os.Exit(1)
	}
}

// defaultStore is the store of a run without ANNALS_STORE: a SQLite file
// in the temporary directory, so that every run adds to the same log.
func defaultStore() string {
	return "sqlite://" + filepath.Join(os.TempDir(), "annals-cart.db")
}

// run opens the store, runs the shop's system in async mode and plays the
// session, printing on out; what the operator should know goes to log.
func run(ctx context.Context, out, log io.Writer, getenv func(string) string) (err error) {
	url := getenv(annals.EnvVar)
	if url == "" {
		url = defaultStore()
		fmt.Fprintf(log, "%s is not set: using %s\n", annals.EnvVar, url)
	}
	keys, err := Keyring(getenv, log)
	if err != nil {
		return err
	}
	s, err := annals.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	shop, err := NewShop(s, annals.Async, keys)
	if err != nil {
		return err
	}

	runCtx, stopSystem := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- shop.System.Run(runCtx) }()
	defer func() {
		stopSystem()
		if serr := <-stopped; serr != nil {
			err = errors.Join(err, fmt.Errorf("system: %w", serr))
		}
	}()

	scheme, _, _ := strings.Cut(url, ":")
	fmt.Fprintf(out, "store %s, %s mode, events encrypted with key %q\n", scheme, shop.System.Mode(), keys.WriteKeyID())
	return session(ctx, out, shop, uuid.NewString()[:8])
}

// session plays two shoppers and a warehouse on shop, and prints what each
// step did and what the read side shows. Carts and customers are named
// after the shoppers and run, which is new on every run, so that a store
// that outlives the program can be used again; the output names the
// shoppers only.
func session(ctx context.Context, w io.Writer, shop *Shop, run string) error {
	ada, bob := "ada-"+run, "bob-"+run // cart and customer IDs
	name := map[string]string{ada: "ada", bob: "bob"}
	type step struct {
		cart, what string
		cmd        CartCommand
	}
	add := func(cart, sku string, cents int) step {
		return step{cart, fmt.Sprintf("adds %s at %s", sku, formatCents(cents)), AddItem{SKU: sku, PriceCents: cents}}
	}
	steps := []step{
		add(ada, "apple", 120),
		add(ada, "pear", 90),
		add(ada, "fig", 250),
		add(ada, "apple", 120),
		add(ada, "plum", 60),
		add(ada, "kiwi", 75), // a sixth item
		{ada, "removes pear", RemoveItem{SKU: "pear"}},
		add(ada, "kiwi", 75),
		{ada, "checks out", Checkout{Customer: ada}},
		add(ada, "fig", 250), // after checkout
		add(bob, "book", 1200),
		{bob, "checks out", Checkout{Customer: bob}},
	}
	for _, st := range steps {
		res, err := shop.HandleCart(ctx, st.cart, st.cmd)
		switch {
		case errors.Is(err, annals.ErrRejected):
			// Nothing was stored; the result is the cart it was decided on.
			fmt.Fprintf(w, "%s %s: refused, %v (still %s)\n", name[st.cart], st.what, err, describe(res.State))
			continue
		case err != nil && !errors.Is(err, annals.ErrStored):
			return err
		}
		fmt.Fprintf(w, "%s %s: %s\n", name[st.cart], st.what, describe(res.State))
		if err != nil { // stored, but a consumer failed after it
			fmt.Fprintf(w, "  (stored, but %v)\n", err)
		}
	}

	// The checkout saga places the orders in the system's goroutines:
	// wait until it, and the read model, have caught up with the log.
	if err := waitQuiet(ctx, shop); err != nil {
		return err
	}
	for _, id := range []string{ada, bob} {
		o, err := shop.Order(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s's order: %s, %d %s, %s\n", name[id], o.Status, o.Items, plural(o.Items, "item"), formatCents(o.TotalCents))
	}
	for _, c := range []struct {
		id, what string
		cmd      OrderCommand
	}{
		{ada, "ships", ShipOrder{}},
		{bob, "cancels", CancelOrder{Reason: "out of stock"}},
	} {
		res, err := shop.HandleOrder(ctx, c.id, c.cmd)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "the warehouse %s %s's order: %s\n", c.what, name[c.id], res.State.Status)
	}

	if err := storage(ctx, w, shop, ada, name[ada]); err != nil {
		return err
	}

	if err := waitQuiet(ctx, shop); err != nil {
		return err
	}
	summaries, err := shop.Customers(ctx, ada, bob)
	if errors.Is(err, store.ErrUnsupported) {
		fmt.Fprintln(w, err)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "orders per customer (SQL read model):")
	for _, c := range summaries {
		fmt.Fprintf(w, "  %s: %v\n", name[c.Customer], c)
	}
	return nil
}

// describe writes a cart's count and total.
func describe(c Cart) string {
	return fmt.Sprintf("%d %s, %s", c.Count(), plural(c.Count(), "item"), formatCents(c.TotalCents()))
}

// storage prints how cart id is stored: its events and its latest
// snapshot, and how their payloads are encoded.
func storage(ctx context.Context, w io.Writer, shop *Shop, id, name string) error {
	s := shop.System.Store()
	var events int64
	var encoding string
	for rec, err := range s.ReadStream(ctx, cartPrefix+id, 1) {
		if err != nil {
			return err
		}
		events, encoding = rec.Version, rec.Encoding
	}
	snap, ok, err := s.LatestSnapshot(ctx, cartPrefix+id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("cart %s has no snapshot after %d events", id, events)
	}
	fmt.Fprintf(w, "%s's cart as stored: %d events (%s), latest snapshot at version %d (%s)\n", name, events, encoding, snap.Version, snap.Encoding)
	return nil
}

// waitQuiet waits until the system's consumers have caught up with the log.
func waitQuiet(ctx context.Context, shop *Shop) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := shop.System.WaitQuiet(ctx); err != nil {
		return fmt.Errorf("wait for the checkout saga and the read model: %w", err)
	}
	return nil
}
