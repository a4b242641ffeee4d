package main

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/proptest"
)

func added(skus ...string) []CartEvent {
	out := make([]CartEvent, len(skus))
	for i, sku := range skus {
		out[i] = ItemAdded{SKU: sku, PriceCents: 100}
	}
	return out
}

func TestCartRules(t *testing.T) {
	d := CartDecider
	five := added("apple", "pear", "fig", "apple", "plum")

	proptest.For(t, d).When(AddItem{SKU: "apple", PriceCents: 120}).Then(ItemAdded{SKU: "apple", PriceCents: 120})
	proptest.For(t, d).When(AddItem{PriceCents: 120}).ThenError(ErrNoSKU)
	proptest.For(t, d).When(AddItem{SKU: "apple"}).ThenError(ErrNoPrice)
	proptest.For(t, d).When(AddItem{SKU: "apple", PriceCents: -5}).ThenError(ErrNoPrice)
	proptest.For(t, d).When(nil).ThenError(ErrNoCommand)

	// At most five items, counting each unit.
	proptest.For(t, d).Given(five[:4]...).When(AddItem{SKU: "kiwi", PriceCents: 75}).Then(ItemAdded{SKU: "kiwi", PriceCents: 75})
	proptest.For(t, d).Given(five...).When(AddItem{SKU: "kiwi", PriceCents: 75}).ThenError(ErrFull)
	proptest.For(t, d).Given(five...).When(AddItem{SKU: "apple", PriceCents: 100}).ThenError(ErrFull)
	proptest.For(t, d).Given(five...).Given(ItemRemoved{SKU: "fig"}).When(AddItem{SKU: "kiwi", PriceCents: 75}).Then(ItemAdded{SKU: "kiwi", PriceCents: 75})

	proptest.For(t, d).When(RemoveItem{SKU: "apple"}).ThenError(ErrNotInCart)
	proptest.For(t, d).Given(added("apple")...).When(RemoveItem{SKU: "apple"}).Then(ItemRemoved{SKU: "apple"})
	proptest.For(t, d).Given(added("apple")...).Given(ItemRemoved{SKU: "apple"}).When(RemoveItem{SKU: "apple"}).ThenError(ErrNotInCart)

	proptest.For(t, d).When(Checkout{Customer: "ada"}).ThenError(ErrEmpty)
	proptest.For(t, d).Given(added("apple")...).When(Checkout{}).ThenError(ErrNoCustomer)
	proptest.For(t, d).Given(ItemAdded{SKU: "pear", PriceCents: 90}, ItemAdded{SKU: "apple", PriceCents: 120}, ItemAdded{SKU: "apple", PriceCents: 110}).
		When(Checkout{Customer: "ada"}).
		Then(CheckedOut{Customer: "ada", Items: 3, TotalCents: 310, Lines: []Line{
			{SKU: "apple", Units: 2, PriceCents: 110}, // the latest price, lines by SKU
			{SKU: "pear", Units: 1, PriceCents: 90},
		}})

	// Nothing after checkout.
	done := append(added("apple"), CheckedOut{Customer: "ada", Items: 1, TotalCents: 100})
	proptest.For(t, d).Given(done...).When(AddItem{SKU: "pear", PriceCents: 90}).ThenError(ErrCheckedOut)
	proptest.For(t, d).Given(done...).When(RemoveItem{SKU: "apple"}).ThenError(ErrCheckedOut)
	proptest.For(t, d).Given(done...).When(Checkout{Customer: "ada"}).ThenError(ErrCheckedOut)

	proptest.For(t, d).Given(added("apple", "apple", "pear")...).Given(ItemRemoved{SKU: "apple"}).
		When(RemoveItem{SKU: "pear"}).
		ThenState(Cart{Lines: map[string]Line{"apple": {SKU: "apple", Units: 1, PriceCents: 100}}})
	proptest.For(t, d).Given(done...).
		ThenState(Cart{Lines: map[string]Line{"apple": {SKU: "apple", Units: 1, PriceCents: 100}}, CheckedOut: true})
}

func TestOrderRules(t *testing.T) {
	d := OrderDecider
	lines := []Line{{SKU: "apple", Units: 2, PriceCents: 120}, {SKU: "fig", Units: 1, PriceCents: 250}}
	placed := OrderPlaced{Customer: "ada", Lines: lines, Items: 3, TotalCents: 490}

	proptest.For(t, d).When(PlaceOrder{Customer: "ada", Lines: lines, TotalCents: 490}).Then(placed)
	proptest.For(t, d).When(PlaceOrder{Lines: lines, TotalCents: 490}).ThenError(ErrEmptyOrder)
	proptest.For(t, d).When(PlaceOrder{Customer: "ada"}).ThenError(ErrEmptyOrder)
	proptest.For(t, d).Given(placed).When(PlaceOrder{Customer: "ada", Lines: lines, TotalCents: 490}).ThenError(ErrOrderExists)

	proptest.For(t, d).When(ShipOrder{}).ThenError(ErrNoOrder)
	proptest.For(t, d).When(CancelOrder{Reason: "r"}).ThenError(ErrNoOrder)
	proptest.For(t, d).Given(placed).When(ShipOrder{}).Then(OrderShipped{})
	proptest.For(t, d).Given(placed).When(CancelOrder{Reason: "out of stock"}).Then(OrderCancelled{Reason: "out of stock"})
	proptest.For(t, d).Given(placed, OrderShipped{}).When(CancelOrder{Reason: "r"}).ThenError(ErrOrderClosed)
	proptest.For(t, d).Given(placed, OrderCancelled{}).When(ShipOrder{}).ThenError(ErrOrderClosed)
	proptest.For(t, d).Given(placed, OrderShipped{}).ThenState(Order{Status: Shipped, Customer: "ada", Items: 3, TotalCents: 490})
}

func TestCheckoutSagaPlacesTheCartsOrder(t *testing.T) {
	lines := []Line{{SKU: "apple", Units: 2, PriceCents: 120}}
	got := CheckoutSaga.React(CheckedOut{Customer: "ada", Lines: lines, Items: 2, TotalCents: 240})
	want := []OrderCommand{PlaceOrder{Customer: "ada", Lines: lines, TotalCents: 240}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("React(CheckedOut) = %+v, want %+v", got, want)
	}
	// What the saga asks for is what the order accepts.
	proptest.For(t, OrderDecider).When(got[0]).Then(OrderPlaced{Customer: "ada", Lines: lines, Items: 2, TotalCents: 240})
}

// op is a cart command as rapid draws it: a kind and its arguments, so
// that the model below follows the command without a type switch.
type op struct {
	kind     string // "add", "remove" or "checkout"
	sku      string
	cents    int
	customer string
}

func (o op) command() CartCommand {
	switch o.kind {
	case "add":
		return AddItem{SKU: o.sku, PriceCents: o.cents}
	case "remove":
		return RemoveItem{SKU: o.sku}
	}
	return Checkout{Customer: o.customer}
}

// ops draws any cart command, valid or not. Adds are the most common and
// checkouts rare, so that carts fill up before they are checked out.
var ops = rapid.Custom(func(t *rapid.T) op {
	o := op{
		sku:      rapid.SampledFrom([]string{"", "apple", "pear", "fig", "plum"}).Draw(t, "sku"),
		cents:    rapid.SampledFrom([]int{-1, 0, 60, 90, 120, 250}).Draw(t, "cents"),
		customer: rapid.SampledFrom([]string{"", "ada", "bob"}).Draw(t, "customer"),
	}
	switch k := rapid.IntRange(0, 19).Draw(t, "kind"); {
	case k < 14:
		o.kind = "add"
	case k < 19:
		o.kind = "remove"
	default:
		o.kind = "checkout"
	}
	return o
})

var cartCommands = rapid.Map(ops, op.command)

func TestCartReplayEqualsLive(t *testing.T) {
	proptest.ReplayEqualsLive(t, CartDecider, cartCommands)
}

func TestOrderReplayEqualsLive(t *testing.T) {
	commands := rapid.Custom(func(t *rapid.T) OrderCommand {
		switch rapid.IntRange(0, 2).Draw(t, "kind") {
		case 0:
			return PlaceOrder{
				Customer:   rapid.SampledFrom([]string{"", "ada"}).Draw(t, "customer"),
				Lines:      []Line{{SKU: "apple", Units: rapid.IntRange(0, 3).Draw(t, "units"), PriceCents: 120}},
				TotalCents: rapid.IntRange(0, 500).Draw(t, "total"),
			}
		case 1:
			return ShipOrder{}
		}
		return CancelOrder{Reason: "r"}
	})
	proptest.ReplayEqualsLive(t, OrderDecider, commands)
}

// Whatever the commands, a cart never holds more than five items, and a
// command is accepted exactly when the rules say so.
func TestCartNeverHoldsMoreThanFiveItems(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		script := rapid.SliceOfN(ops, MaxItems+1, 60).Draw(t, "commands")
		c := CartDecider.InitialState()
		// The model: units and latest price of what was accepted in,
		// minus what was taken out.
		units, prices := map[string]int{}, map[string]int{}
		checkedOut := false
		for i, o := range script {
			_, next, err := CartDecider.Step(c, o.command())
			var want error // the rejection the rules call for, if any
			switch total := sum(units); {
			case checkedOut:
				want = ErrCheckedOut
			case o.kind == "add" && o.sku == "":
				want = ErrNoSKU
			case o.kind == "add" && o.cents <= 0:
				want = ErrNoPrice
			case o.kind == "add" && total >= MaxItems:
				want = ErrFull
			case o.kind == "add":
				units[o.sku]++
				prices[o.sku] = o.cents
			case o.kind == "remove" && units[o.sku] == 0:
				want = ErrNotInCart
			case o.kind == "remove":
				if units[o.sku]--; units[o.sku] == 0 {
					delete(units, o.sku)
				}
			case o.kind == "checkout" && total == 0:
				want = ErrEmpty
			case o.kind == "checkout" && o.customer == "":
				want = ErrNoCustomer
			case o.kind == "checkout":
				checkedOut = true
			}
			if (err == nil) != (want == nil) || (want != nil && !errors.Is(err, want)) {
				t.Fatalf("command %d (%+v) on %+v: error %v, want %v", i, o.command(), c, err, want)
			}
			c = next
			if n := c.Count(); n > MaxItems {
				t.Fatalf("after command %d (%+v) the cart holds %d items", i, o.command(), n)
			}
			lines := map[string]Line{}
			for sku, n := range units {
				lines[sku] = Line{SKU: sku, Units: n, PriceCents: prices[sku]}
			}
			if !maps.Equal(c.Lines, lines) || c.CheckedOut != checkedOut {
				t.Fatalf("after command %d (%+v): cart %+v, want lines %v checked out %t", i, o.command(), c, lines, checkedOut)
			}
		}
	})
}

func sum(units map[string]int) int {
	n := 0
	for _, u := range units {
		n += u
	}
	return n
}

func TestFormatAndParseCents(t *testing.T) {
	for text, cents := range map[string]int{"1.20": 120, "3": 300, "0.5": 50, "12.00": 1200, "0.07": 7} {
		got, err := parseCents(text)
		if err != nil || got != cents {
			t.Errorf("parseCents(%q) = %d, %v; want %d", text, got, err, cents)
		}
	}
	for _, text := range []string{"", "abc", "-1", "1e400", "NaN"} {
		if got, err := parseCents(text); err == nil {
			t.Errorf("parseCents(%q) = %d, want an error", text, got)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		cents := rapid.IntRange(0, 10_000_000).Draw(t, "cents")
		if got, err := parseCents(formatCents(cents)); err != nil || got != cents {
			t.Fatalf("parseCents(formatCents(%d)) = %d, %v", cents, got, err)
		}
	})
	if got := fmt.Sprint(formatCents(625), " ", formatCents(5)); got != "6.25 0.05" {
		t.Errorf("formatCents: %s", got)
	}
}
