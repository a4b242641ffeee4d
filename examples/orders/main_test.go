package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/store/sqlite"
)

func TestRunShipsThePaidOrderAndCancelsTheShortOne(t *testing.T) {
	file := "sqlite://" + filepath.Join(t.TempDir(), "shop.db")
	for _, c := range []struct{ name, url, mode, want string }{
		{"sync", "memory:", "sync", "store memory, sync mode"},
		{"async", "memory:", "async", "store memory, async mode"},
		// A durable store runs in async mode unless told otherwise; a
		// second run on the same file places orders of its own.
		{"sqlite", file, "", "store sqlite, async mode"},
		{"sqlite again", file, "", "store sqlite, async mode"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), &out, config{url: c.url, mode: c.mode}); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				c.want,
				"order A: shipped, amount 30, paid true\n",
				"order B: cancelled, amount 120, paid false (out of stock)\n",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestFulfilmentRules(t *testing.T) {
	placed := OrderPlaced{OrderID: "o", SKU: "book", Quantity: 1, Amount: 5}
	run := func(events ...Event) []Command {
		cs, _ := FulfilmentProcess.Run(events)
		return cs
	}
	ship := []Command{ShipOrder{OrderID: "o"}}
	for name, c := range map[string]struct {
		got, want []Command
	}{
		"placed asks for payment and stock": {run(placed), []Command{RequestPayment{OrderID: "o", Amount: 5}, ReserveStock{OrderID: "o", SKU: "book", Quantity: 1}}},
		"paid then reserved ships":          {run(PaymentReceived{OrderID: "o"}, StockReserved{OrderID: "o"}), ship},
		"reserved then paid ships":          {run(StockReserved{OrderID: "o"}, PaymentReceived{OrderID: "o"}), ship},
		"short stock cancels":               {run(StockUnavailable{OrderID: "o"}), []Command{CancelOrder{OrderID: "o", Reason: "out of stock"}}},
		"nothing after cancelling":          {run(OrderCancelled{OrderID: "o"}, PaymentReceived{OrderID: "o"}, StockReserved{OrderID: "o"}), nil},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", name, c.got, c.want)
		}
	}
}

func TestDecidersReplayEqualsLive(t *testing.T) {
	command := rapid.Custom(func(t *rapid.T) Command {
		id := rapid.SampledFrom([]string{"o1", "o2"}).Draw(t, "order")
		sku := rapid.SampledFrom([]string{"book", "pen"}).Draw(t, "sku")
		n := rapid.IntRange(-1, 6).Draw(t, "n")
		return rapid.SampledFrom([]Command{
			PlaceOrder{OrderID: id, SKU: sku, Quantity: n, Amount: n * 10}, ShipOrder{OrderID: id},
			CancelOrder{OrderID: id, Reason: "r"}, RequestPayment{OrderID: id, Amount: n},
			ConfirmPayment{OrderID: id}, AddStock{SKU: sku, Quantity: n},
			ReserveStock{OrderID: id, SKU: sku, Quantity: n},
		}).Draw(t, "command")
	})
	t.Run("order", func(t *testing.T) { proptest.ReplayEqualsLive(t, OrderDecider, command) })
	t.Run("payment", func(t *testing.T) { proptest.ReplayEqualsLive(t, PaymentDecider, command) })
	t.Run("stock", func(t *testing.T) { proptest.ReplayEqualsLive(t, StockDecider, command) })
}

// scriptCommand draws a command a customer, the payment provider or the
// warehouse could send; many are rejected, which both modes must agree on.
var scriptCommand = rapid.Custom(func(t *rapid.T) Command {
	id := rapid.SampledFrom([]string{"o1", "o2", "o3", "o4"}).Draw(t, "order")
	sku := rapid.SampledFrom([]string{"book", "pen"}).Draw(t, "sku")
	switch rapid.IntRange(0, 3).Draw(t, "kind") {
	case 0:
		return AddStock{SKU: sku, Quantity: rapid.IntRange(1, 4).Draw(t, "stock")}
	case 1, 2:
		return PlaceOrder{OrderID: id, SKU: sku, Quantity: rapid.IntRange(1, 5).Draw(t, "quantity"), Amount: rapid.IntRange(1, 99).Draw(t, "amount")}
	default:
		return ConfirmPayment{OrderID: id}
	}
})

// outcome is every decider state, view and process state a script led
// to, and which commands were rejected.
func outcome(ctx context.Context, t *rapid.T, sh *Shop, rejected []string) map[string]string {
	out := map[string]string{"rejected": strings.Join(rejected, ",")}
	for _, id := range []string{"o1", "o2", "o3", "o4"} {
		o, ov, err1 := sh.orders.Load(ctx, "order-"+id)
		p, pv, err2 := sh.payments.Load(ctx, "payment-"+id)
		sum, err3 := sh.Summary(ctx, id)
		if errors.Is(err3, store.ErrNotFound) {
			err3 = nil // no event for the order yet: the initial summary
		}
		f, err4 := sh.fulfilment.State(ctx, id)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatal(err)
		}
		out[id] = fmt.Sprintf("order %+v@%d payment %+v@%d summary %+v process %+v", o, ov, p, pv, sum, f)
	}
	for _, sku := range []string{"book", "pen"} {
		s, v, err := sh.stock.Load(ctx, "stock-"+sku)
		if err != nil {
			t.Fatal(err)
		}
		out[sku] = fmt.Sprintf("%+v@%d", s, v)
	}
	return out
}

// play sends the script to a shop; in async mode it waits for the
// consumers to catch up after each command, as a client that reads its
// order page before its next step would.
func play(ctx context.Context, t *rapid.T, sh *Shop, async bool, script []Command) map[string]string {
	var rejected []string
	for i, c := range script {
		err := sh.Send(ctx, c)
		switch {
		case errors.Is(err, annals.ErrRejected):
			rejected = append(rejected, fmt.Sprint(i))
		case err != nil:
			t.Fatalf("command %d %+v: %v", i, c, err)
		}
		if async {
			if err := sh.System.WaitQuiet(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return outcome(ctx, t, sh, rejected)
}

// asyncStore is a store the async mode is checked on, and how many of
// rapid's checks to run on it: a durable store runs fewer, since every
// check opens a database and waits for consumers after every command.
type asyncStore struct {
	open   func(t *testing.T) *annals.Store
	checks func(all int) int
}

// asyncStores are the stores the async mode is checked on.
var asyncStores = map[string]asyncStore{
	"memory": {
		open:   func(*testing.T) *annals.Store { return annals.New(memory.New()) },
		checks: func(all int) int { return all },
	},
	"sqlite": {
		// A file per check: t.TempDir is new on every call.
		open: func(t *testing.T) *annals.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "shop.db"))
			if err != nil {
				t.Fatal(err)
			}
			return annals.New(s)
		},
		checks: func(all int) int { return max(1, all/5) },
	},
	"postgres": {
		// A schema of its own per check.
		open: func(t *testing.T) *annals.Store {
			db := pgtest.New(t)
			s, err := postgres.Open(context.Background(), db.URL, postgres.WithSchema(db.Schema))
			if err != nil {
				t.Fatal(err)
			}
			return annals.New(s)
		},
		checks: func(all int) int { return max(1, all/5) },
	},
}

// withChecks runs f with rapid's number of checks set to n.
func withChecks(t *testing.T, n int, f func()) {
	flag := flag.Lookup("rapid.checks")
	all := flag.Value.String()
	if err := flag.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	defer flag.Value.Set(all)
	f()
}

// For any script, the sync mode on the memory store and the async mode on
// every store end with equal decider states, views and process states.
func TestSyncAndAsyncModesAgree(t *testing.T) {
	all, err := strconv.Atoi(flag.Lookup("rapid.checks").Value.String())
	if err != nil {
		t.Fatal(err)
	}
	for name, as := range asyncStores {
		t.Run(name, func(t *testing.T) {
			withChecks(t, as.checks(all), func() {
				rapid.Check(t, func(rt *rapid.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					script := rapid.SliceOfN(scriptCommand, 1, 25).Draw(rt, "script")
					want := play(ctx, rt, mustShop(NewShop(annals.New(memory.New()), annals.Sync)), false, script)

					// A fresh store for every run: the script's order IDs
					// are the same each time.
					s := as.open(t)
					defer s.Close()
					sh := mustShop(NewShop(s, annals.Async))
					runCtx, stop := context.WithCancel(ctx)
					done := make(chan error, 1)
					go func() { done <- sh.System.Run(runCtx) }()
					got := play(ctx, rt, sh, true, script)
					stop()
					if err := <-done; err != nil {
						rt.Fatalf("async system: %v", err)
					}
					if !maps.Equal(got, want) {
						rt.Fatalf("async on %s:\n%v\nsync on memory:\n%v", name, got, want)
					}
				})
			})
		})
	}
}
