package cart

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// MaxItems is the most items a cart holds, counting each unit.
const MaxItems = 5

// Command is a command to a cart.
type Command interface{ isCommand() }

type (
	// AddItem puts one unit of a product in the cart.
	AddItem struct{ SKU string }
	// RemoveItem takes one unit of a product out of the cart.
	RemoveItem struct{ SKU string }
	// Checkout orders what the cart holds. Nothing changes a cart after it.
	Checkout struct{}
)

func (AddItem) isCommand()    {}
func (RemoveItem) isCommand() {}
func (Checkout) isCommand()   {}

// Event is something that happened to a cart.
type Event interface{ isEvent() }

type (
	// ItemAdded says one unit of a product was put in the cart.
	ItemAdded struct {
		SKU string `json:"sku"`
	}
	// ItemRemoved says one unit of a product was taken out.
	ItemRemoved struct {
		SKU string `json:"sku"`
	}
	// CheckedOut says the cart was ordered with this many items.
	CheckedOut struct {
		Items int `json:"items"`
	}
)

func (ItemAdded) isEvent()   {}
func (ItemRemoved) isEvent() {}
func (CheckedOut) isEvent()  {}

// Cart is the state of a cart.
type Cart struct {
	// Items counts the units of each product (by SKU) in the cart; a
	// product with no unit left is not listed.
	Items map[string]int
	// CheckedOut is true once the cart was ordered.
	CheckedOut bool
}

// Count returns how many items the cart holds, counting each unit.
func (c Cart) Count() int {
	n := 0
	for _, units := range c.Items {
		n += units
	}
	return n
}

// Business-rule rejections.
var (
	ErrFull       = fmt.Errorf("a cart holds at most %d items", MaxItems)
	ErrNoSKU      = errors.New("an item needs a SKU")
	ErrNotInCart  = errors.New("item is not in the cart")
	ErrEmpty      = errors.New("an empty cart cannot be checked out")
	ErrCheckedOut = errors.New("cart is checked out")
)

// Decider is the cart aggregate. A checked-out cart is terminal.
var Decider = decider.Decider[Command, Event, Cart]{
	Decide:     decide,
	Evolve:     evolve,
	Initial:    func() Cart { return Cart{Items: map[string]int{}} },
	IsTerminal: func(c Cart) bool { return c.CheckedOut },
}

func decide(c Command, cart Cart) ([]Event, error) {
	if cart.CheckedOut {
		return nil, ErrCheckedOut
	}
	switch c := c.(type) {
	case AddItem:
		if c.SKU == "" {
			return nil, ErrNoSKU
		}
		if n := cart.Count(); n >= MaxItems {
			return nil, fmt.Errorf("add %q to a cart of %d items: %w", c.SKU, n, ErrFull)
		}
		return []Event{ItemAdded{SKU: c.SKU}}, nil
	case RemoveItem:
		if cart.Items[c.SKU] <= 0 {
			return nil, fmt.Errorf("remove %q: %w", c.SKU, ErrNotInCart)
		}
		return []Event{ItemRemoved{SKU: c.SKU}}, nil
	case Checkout:
		n := cart.Count()
		if n == 0 {
			return nil, ErrEmpty
		}
		return []Event{CheckedOut{Items: n}}, nil
	}
	return nil, fmt.Errorf("cart: unknown command %T", c)
}

// evolve copies the item map before changing it: a state the caller holds
// must not change under it.
func evolve(c Cart, e Event) Cart {
	items := make(map[string]int, len(c.Items)+1)
	maps.Copy(items, c.Items)
	switch e := e.(type) {
	case ItemAdded:
		items[e.SKU]++
	case ItemRemoved:
		if items[e.SKU]--; items[e.SKU] <= 0 {
			delete(items, e.SKU)
		}
	case CheckedOut:
		c.CheckedOut = true
	}
	c.Items = items
	return c
}

// Codec stores cart events as JSON under stable type names.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("CartItemAdded", ItemAdded{}).
		Register("CartItemRemoved", ItemRemoved{}).
		Register("CartCheckedOut", CheckedOut{})
}

// Carts runs carts on a store.
type Carts struct {
	carts *annals.Runner[Command, Event, Cart]
}

// New returns the carts on s. Options tune the command runner, for example
// its retries under contention.
func New(s *annals.Store, opts ...annals.RunnerOption) *Carts {
	return &Carts{carts: annals.NewRunner(s, Decider, Codec(), opts...)}
}

// Execute handles one command on cart id and returns the cart after it. A
// rejected command returns the rule's error (test it with errors.Is) and
// stores nothing.
func (c *Carts) Execute(ctx context.Context, id string, cmd Command) (Cart, error) {
	res, err := c.carts.Handle(ctx, streamID(id), cmd)
	if err != nil {
		return Cart{}, fmt.Errorf("cart %s: %w", id, err)
	}
	return res.State, nil
}

// Cart returns cart id, or an error matching store.ErrNotFound when
// nothing ever happened to it.
func (c *Carts) Cart(ctx context.Context, id string) (Cart, error) {
	cart, version, err := c.carts.Load(ctx, streamID(id))
	if err != nil {
		return Cart{}, fmt.Errorf("cart %s: %w", id, err)
	}
	if version == 0 {
		return Cart{}, fmt.Errorf("cart %s: %w", id, store.ErrNotFound)
	}
	return cart, nil
}

func streamID(id string) string { return "cart-" + id }
