package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/annals-dev/annals/decider"
)

// MaxItems is the most items a cart holds, counting each unit.
const MaxItems = 5

// A CartCommand is something a shopper asks of a cart. Each command
// decides for itself, so the decider routes by method, not by type switch,
// and a new command that forgets its rule does not compile.
type CartCommand interface {
	decide(Cart) ([]CartEvent, error)
}

type (
	// AddItem puts one unit of a product, at its current price, in the
	// cart.
	AddItem struct {
		SKU        string
		PriceCents int
	}
	// RemoveItem takes one unit of a product out of the cart.
	RemoveItem struct{ SKU string }
	// Checkout orders what the cart holds, for a customer. Nothing
	// changes a cart after it.
	Checkout struct{ Customer string }
)

// A CartEvent is something that happened to a cart; it knows how it
// changes the cart.
type CartEvent interface {
	evolve(Cart) Cart
}

type (
	// ItemAdded says one unit of a product was put in the cart at a
	// price. It is stored as "CartItemAdded", schema version 2; version 1
	// held the price as text (see [Upcasters]).
	ItemAdded struct {
		SKU        string `json:"sku"`
		PriceCents int    `json:"price_cents"`
	}
	// ItemRemoved says one unit of a product was taken out.
	ItemRemoved struct {
		SKU string `json:"sku"`
	}
	// CheckedOut says the cart was ordered by a customer, with its lines
	// and total. The checkout saga turns it into an order.
	CheckedOut struct {
		Customer   string `json:"customer"`
		Lines      []Line `json:"lines"`
		Items      int    `json:"items"`
		TotalCents int    `json:"total_cents"`
	}
)

// A Line is the units of one product in a cart or an order, and the price
// of each.
type Line struct {
	SKU        string `json:"sku"`
	Units      int    `json:"units"`
	PriceCents int    `json:"price_cents"`
}

// Cart is the state of a cart, and what its snapshots hold.
type Cart struct {
	// Lines holds the products in the cart by SKU; a product with no unit
	// left is not listed. A product's price is the one it was last added
	// at.
	Lines map[string]Line `json:"lines"`
	// CheckedOut is true once the cart was ordered.
	CheckedOut bool `json:"checked_out"`
}

// Count returns how many items the cart holds, counting each unit.
func (c Cart) Count() int {
	n := 0
	for _, l := range c.Lines {
		n += l.Units
	}
	return n
}

// TotalCents returns what the cart's items cost.
func (c Cart) TotalCents() int {
	total := 0
	for _, l := range c.Lines {
		total += l.Units * l.PriceCents
	}
	return total
}

// sortedLines returns the cart's lines ordered by SKU, so that a checkout
// decides the same event however the map iterates.
func (c Cart) sortedLines() []Line {
	return slices.SortedFunc(maps.Values(c.Lines), func(a, b Line) int { return strings.Compare(a.SKU, b.SKU) })
}

// Business-rule rejections of a cart.
var (
	ErrFull       = fmt.Errorf("a cart holds at most %d items", MaxItems)
	ErrNoSKU      = errors.New("an item needs a SKU")
	ErrNoPrice    = errors.New("an item needs a positive price")
	ErrNotInCart  = errors.New("item is not in the cart")
	ErrEmpty      = errors.New("an empty cart cannot be checked out")
	ErrNoCustomer = errors.New("a checkout needs a customer")
	ErrCheckedOut = errors.New("cart is checked out")
	ErrNoCommand  = errors.New("no command")
)

// CartDecider is the cart aggregate: at most [MaxItems] items, and nothing
// after checkout, which makes a checked-out cart terminal.
var CartDecider = decider.Decider[CartCommand, CartEvent, Cart]{
	Decide: func(c CartCommand, cart Cart) ([]CartEvent, error) {
		if c == nil {
			return nil, ErrNoCommand
		}
		if cart.CheckedOut {
			return nil, ErrCheckedOut
		}
		return c.decide(cart)
	},
	Evolve:     func(c Cart, e CartEvent) Cart { return e.evolve(c) },
	Initial:    func() Cart { return Cart{Lines: map[string]Line{}} },
	IsTerminal: func(c Cart) bool { return c.CheckedOut },
}

func (c AddItem) decide(cart Cart) ([]CartEvent, error) {
	switch n := cart.Count(); {
	case c.SKU == "":
		return nil, ErrNoSKU
	case c.PriceCents <= 0:
		return nil, fmt.Errorf("add %q at %d cents: %w", c.SKU, c.PriceCents, ErrNoPrice)
	case n >= MaxItems:
		return nil, fmt.Errorf("add %q to a cart of %d items: %w", c.SKU, n, ErrFull)
	}
	return []CartEvent{ItemAdded{SKU: c.SKU, PriceCents: c.PriceCents}}, nil
}

func (c RemoveItem) decide(cart Cart) ([]CartEvent, error) {
	if cart.Lines[c.SKU].Units <= 0 {
		return nil, fmt.Errorf("remove %q: %w", c.SKU, ErrNotInCart)
	}
	return []CartEvent{ItemRemoved{SKU: c.SKU}}, nil
}

func (c Checkout) decide(cart Cart) ([]CartEvent, error) {
	switch {
	case cart.Count() == 0:
		return nil, ErrEmpty
	case c.Customer == "":
		return nil, ErrNoCustomer
	}
	return []CartEvent{CheckedOut{
		Customer:   c.Customer,
		Lines:      cart.sortedLines(),
		Items:      cart.Count(),
		TotalCents: cart.TotalCents(),
	}}, nil
}

// Evolve copies the lines before changing them: a state the caller holds,
// or that a runner's cache shares, must not change under it.

func (e ItemAdded) evolve(c Cart) Cart {
	c.Lines = maps.Clone(c.Lines)
	if c.Lines == nil {
		c.Lines = map[string]Line{}
	}
	l := c.Lines[e.SKU]
	c.Lines[e.SKU] = Line{SKU: e.SKU, Units: l.Units + 1, PriceCents: e.PriceCents}
	return c
}

func (e ItemRemoved) evolve(c Cart) Cart {
	c.Lines = maps.Clone(c.Lines)
	if l := c.Lines[e.SKU]; l.Units > 1 {
		l.Units--
		c.Lines[e.SKU] = l
	} else {
		delete(c.Lines, e.SKU)
	}
	return c
}

func (e CheckedOut) evolve(c Cart) Cart {
	c.CheckedOut = true
	return c
}
