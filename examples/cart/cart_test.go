package cart_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/examples/cart"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

func added(skus ...string) []cart.Event {
	out := make([]cart.Event, len(skus))
	for i, sku := range skus {
		out[i] = cart.ItemAdded{SKU: sku}
	}
	return out
}

func TestRules(t *testing.T) {
	d := cart.Decider
	five := added("apple", "pear", "fig", "apple", "plum")

	proptest.For(t, d).When(cart.AddItem{SKU: "apple"}).Then(cart.ItemAdded{SKU: "apple"})
	proptest.For(t, d).When(cart.AddItem{}).ThenError(cart.ErrNoSKU)
	proptest.For(t, d).Given(five[:4]...).When(cart.AddItem{SKU: "kiwi"}).Then(cart.ItemAdded{SKU: "kiwi"})
	proptest.For(t, d).Given(five...).When(cart.AddItem{SKU: "kiwi"}).ThenError(cart.ErrFull)
	proptest.For(t, d).Given(five...).When(cart.AddItem{SKU: "apple"}).ThenError(cart.ErrFull)
	proptest.For(t, d).Given(five...).Given(cart.ItemRemoved{SKU: "fig"}).When(cart.AddItem{SKU: "kiwi"}).Then(cart.ItemAdded{SKU: "kiwi"})

	proptest.For(t, d).When(cart.RemoveItem{SKU: "apple"}).ThenError(cart.ErrNotInCart)
	proptest.For(t, d).Given(added("apple")...).When(cart.RemoveItem{SKU: "apple"}).Then(cart.ItemRemoved{SKU: "apple"})
	proptest.For(t, d).Given(added("apple")...).Given(cart.ItemRemoved{SKU: "apple"}).When(cart.RemoveItem{SKU: "apple"}).ThenError(cart.ErrNotInCart)

	proptest.For(t, d).When(cart.Checkout{}).ThenError(cart.ErrEmpty)
	proptest.For(t, d).Given(added("apple", "apple", "pear")...).When(cart.Checkout{}).Then(cart.CheckedOut{Items: 3})

	// Nothing after checkout.
	done := append(added("apple"), cart.CheckedOut{Items: 1})
	proptest.For(t, d).Given(done...).When(cart.AddItem{SKU: "pear"}).ThenError(cart.ErrCheckedOut)
	proptest.For(t, d).Given(done...).When(cart.RemoveItem{SKU: "apple"}).ThenError(cart.ErrCheckedOut)
	proptest.For(t, d).Given(done...).When(cart.Checkout{}).ThenError(cart.ErrCheckedOut)

	proptest.For(t, d).Given(added("apple", "apple", "pear")...).Given(cart.ItemRemoved{SKU: "apple"}).
		When(cart.RemoveItem{SKU: "pear"}).
		ThenState(cart.Cart{Items: map[string]int{"apple": 1}})
	proptest.For(t, d).Given(done...).ThenState(cart.Cart{Items: map[string]int{"apple": 1}, CheckedOut: true})
}

// command draws any cart command, valid or not. Adds are the most common
// and checkouts rare, so that carts fill up before they are checked out.
var command = rapid.Custom(func(t *rapid.T) cart.Command {
	sku := rapid.SampledFrom([]string{"", "apple", "pear", "fig", "plum"}).Draw(t, "sku")
	switch k := rapid.IntRange(0, 19).Draw(t, "kind"); {
	case k < 14:
		return cart.AddItem{SKU: sku}
	case k < 19:
		return cart.RemoveItem{SKU: sku}
	default:
		return cart.Checkout{}
	}
})

// sessions draws command sequences long enough to fill a cart several times over.
var sessions = rapid.SliceOfN(command, cart.MaxItems+1, 60)

func TestReplayEqualsLive(t *testing.T) {
	proptest.ReplayEqualsLive(t, cart.Decider, command)
}

// Whatever the commands, a cart never holds more than five items, and a
// command is accepted exactly when the rules say so.
func TestNeverMoreThanFiveItems(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		commands := sessions.Draw(t, "commands")
		c := cart.Decider.InitialState()
		units := map[string]int{} // the model: what was accepted in, minus out
		checkedOut := false
		for i, cmd := range commands {
			_, next, err := cart.Decider.Step(c, cmd)
			var want error // the rejection the rules call for, if any
			switch cmd := cmd.(type) {
			case cart.AddItem:
				switch {
				case checkedOut:
					want = cart.ErrCheckedOut
				case cmd.SKU == "":
					want = cart.ErrNoSKU
				case c.Count() >= cart.MaxItems:
					want = cart.ErrFull
				default:
					units[cmd.SKU]++
				}
			case cart.RemoveItem:
				switch {
				case checkedOut:
					want = cart.ErrCheckedOut
				case units[cmd.SKU] == 0:
					want = cart.ErrNotInCart
				default:
					if units[cmd.SKU]--; units[cmd.SKU] == 0 {
						delete(units, cmd.SKU)
					}
				}
			case cart.Checkout:
				switch {
				case checkedOut:
					want = cart.ErrCheckedOut
				case len(units) == 0:
					want = cart.ErrEmpty
				default:
					checkedOut = true
				}
			}
			if (err == nil) != (want == nil) || (want != nil && !errors.Is(err, want)) {
				t.Fatalf("command %d (%+v) on %+v: error %v, want %v", i, cmd, c, err, want)
			}
			c = next
			if n := c.Count(); n > cart.MaxItems {
				t.Fatalf("after command %d (%+v) the cart holds %d items", i, cmd, n)
			}
			if !reflect.DeepEqual(c.Items, units) || c.CheckedOut != checkedOut {
				t.Fatalf("after command %d (%+v): cart %+v, want items %v checked out %t", i, cmd, c, units, checkedOut)
			}
		}
	})
}

func TestRejectedSixthItemStoresNothing(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	carts := cart.New(s)
	for _, sku := range []string{"apple", "pear", "fig", "apple", "plum"} {
		if _, err := carts.Execute(ctx, "c1", cart.AddItem{SKU: sku}); err != nil {
			t.Fatalf("add %s: %v", sku, err)
		}
	}
	if _, err := carts.Execute(ctx, "c1", cart.AddItem{SKU: "kiwi"}); !errors.Is(err, cart.ErrFull) {
		t.Fatalf("sixth item: error %v, want ErrFull", err)
	}
	if head, err := s.Head(ctx); err != nil || head != 5 {
		t.Fatalf("global log head %d (%v) after a refused sixth item, want 5", head, err)
	}
	versions := 0
	for rec, err := range s.ReadStream(ctx, "cart-c1", 1) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != "CartItemAdded" {
			t.Errorf("stored %s at version %d, want only the five CartItemAdded", rec.Type, rec.Version)
		}
		versions++
	}
	if versions != 5 {
		t.Fatalf("stream holds %d events, want 5", versions)
	}
	c, err := carts.Cart(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"apple": 2, "pear": 1, "fig": 1, "plum": 1}; !reflect.DeepEqual(c.Items, want) {
		t.Fatalf("cart %+v, want items %v", c, want)
	}
	if _, err := carts.Cart(ctx, "never-used"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown cart: error %v, want store.ErrNotFound", err)
	}
}

// Running commands through the store gives what the pure decider gives:
// the events survive the codec, and rejections leave nothing behind.
func TestStoredCartsAgreeWithTheDecider(t *testing.T) {
	ctx := context.Background()
	rapid.Check(t, func(t *rapid.T) {
		commands := sessions.Draw(t, "commands")
		s := annals.New(memory.New())
		carts := cart.New(s)
		c := cart.Decider.InitialState()
		var stored int64
		for i, cmd := range commands {
			events, next, want := cart.Decider.Step(c, cmd)
			got, err := carts.Execute(ctx, "c", cmd)
			if (err == nil) != (want == nil) {
				t.Fatalf("command %d (%+v): stored error %v, decider error %v", i, cmd, err, want)
			}
			if want != nil {
				continue
			}
			c, stored = next, stored+int64(len(events))
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("command %d (%+v): stored cart %+v, decider %+v", i, cmd, got, c)
			}
		}
		if head, _ := s.Head(ctx); head != stored {
			t.Fatalf("%d events stored, the decider decided %d", head, stored)
		}
		if stored == 0 {
			return
		}
		loaded, err := cart.New(s).Cart(ctx, "c")
		if err != nil || !reflect.DeepEqual(loaded, c) {
			t.Fatalf("loaded %+v (%v), want %+v", loaded, err, c)
		}
	})
}

// Ten shoppers adding to one cart at once fill it with exactly five items:
// a retry after a conflict decides on the cart as it now is.
func TestConcurrentAddsNeverOverfill(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	carts := cart.New(s, annals.WithRetries(100), annals.WithBackoff(func(attempt int) time.Duration {
		return annals.JitterBackoff(min(attempt, 3))
	}))
	const shoppers = 10
	errs := make([]error, shoppers)
	var wg sync.WaitGroup
	for i := range shoppers {
		wg.Go(func() {
			_, errs[i] = carts.Execute(ctx, "shared", cart.AddItem{SKU: fmt.Sprintf("sku-%d", i)})
		})
	}
	wg.Wait()
	accepted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, cart.ErrFull):
			t.Errorf("shopper %d: %v", i, err)
		}
	}
	if accepted != cart.MaxItems {
		t.Errorf("%d adds accepted, want %d", accepted, cart.MaxItems)
	}
	c, err := carts.Cart(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if head, _ := s.Head(ctx); c.Count() != cart.MaxItems || head != cart.MaxItems {
		t.Fatalf("cart holds %d items, %d events stored; want %d and %d", c.Count(), head, cart.MaxItems, cart.MaxItems)
	}
}
