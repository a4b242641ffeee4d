package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/upcast"
)

// The type names events are stored under. They never change: renaming a
// Go type is free, renaming a stored type needs an upcaster.
const (
	itemAddedType   = "CartItemAdded"
	itemRemovedType = "CartItemRemoved"
	checkedOutType  = "CartCheckedOut"
	cartStateType   = "Cart"
)

// CartCodec stores cart events as JSON. ItemAdded is at schema version 2;
// [Upcasters] reads version 1.
func CartCodec() *codec.JSON[CartEvent] {
	return codec.NewJSON[CartEvent]().
		RegisterVersion(itemAddedType, 2, ItemAdded{SKU: "apple", PriceCents: 120}).
		Register(itemRemovedType, ItemRemoved{SKU: "apple"}).
		Register(checkedOutType, CheckedOut{Customer: "ada", Lines: []Line{{SKU: "apple", Units: 1, PriceCents: 120}}, Items: 1, TotalCents: 120})
}

// checkoutCodec reads only the CheckedOut events of carts, typed, for the
// checkout saga: with it the saga needs no type switch to pick them out
// of the cart events. It must register the name [CartCodec] uses.
func checkoutCodec() *codec.JSON[CheckedOut] {
	return codec.NewJSON[CheckedOut]().
		Register(checkedOutType, CheckedOut{Customer: "ada", Lines: []Line{{SKU: "apple", Units: 1, PriceCents: 120}}, Items: 1, TotalCents: 120})
}

// OrderCodec stores order events as JSON.
func OrderCodec() *codec.JSON[OrderEvent] {
	return codec.NewJSON[OrderEvent]().
		Register("OrderPlaced", OrderPlaced{Customer: "ada", Lines: []Line{{SKU: "apple", Units: 1, PriceCents: 120}}, Items: 1, TotalCents: 120}).
		Register("OrderShipped", OrderShipped{}).
		Register("OrderCancelled", OrderCancelled{Reason: "changed my mind"})
}

// CartStateCodec stores a cart's snapshots as JSON, under "Cart" at schema
// version 1. Bump the version when Cart, or what the events make of it,
// changes: older snapshots are then ignored and the carts replayed.
func CartStateCodec() *codec.JSON[Cart] {
	return codec.NewJSON[Cart]().
		Register(cartStateType, Cart{Lines: map[string]Line{"apple": {SKU: "apple", Units: 2, PriceCents: 120}}})
}

// Upcasters bring old cart events to the current schema. Version 1 of
// CartItemAdded stored the price as the text the catalogue showed,
// {"sku":"apple","price":"1.20"}; version 2 stores it in cents,
// {"sku":"apple","price_cents":120}.
func Upcasters() *upcast.Registry {
	return upcast.New().Add(itemAddedType, 1, upcast.JSON(func(o map[string]json.RawMessage) error {
		var text string
		if err := json.Unmarshal(o["price"], &text); err != nil {
			return fmt.Errorf("price %s is not a text: %w", o["price"], err)
		}
		cents, err := parseCents(text)
		if err != nil {
			return err
		}
		delete(o, "price")
		o["price_cents"] = json.RawMessage(strconv.Itoa(cents))
		return nil
	}))
}

// parseCents reads a price such as "1.20" or "3" in cents.
func parseCents(text string) (int, error) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || !(f >= 0 && f <= math.MaxInt32) { // NaN too
		return 0, fmt.Errorf("price %q is not an amount", text)
	}
	return int(math.Round(f * 100)), nil
}

// formatCents writes cents as a price: 625 as "6.25".
func formatCents(cents int) string {
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// Mappers is the record pipeline of the shop: every event and snapshot is
// encrypted with the keyring's write key, and cart events of old schema
// versions are upcast as they are read.
type Mappers struct {
	Carts     *codec.Pipeline[CartEvent]
	Checkouts *codec.Pipeline[CheckedOut]
	Orders    *codec.Pipeline[OrderEvent]
	CartState *codec.Pipeline[Cart]
}

// NewMappers returns the pipelines that encrypt with keys. It fails when a
// codec refused one of its types.
func NewMappers(keys *codec.Keyring) (Mappers, error) {
	// The checkout saga's pipeline has no upcaster, since CheckedOut has
	// no old version to upcast yet. It could share the carts' upcaster: a
	// pipeline reads only the names its upcaster leads to a type its own
	// codec reads (codec.Pipeline.Types), so the saga would still skip the
	// cart's other events.
	m := Mappers{
		Carts:     codec.NewMapper(CartCodec(), codec.WithUpcaster(Upcasters()), codec.WithEncryption(keys)),
		Checkouts: codec.NewMapper(checkoutCodec(), codec.WithEncryption(keys)),
		Orders:    codec.NewMapper(OrderCodec(), codec.WithEncryption(keys)),
		CartState: codec.NewMapper(CartStateCodec(), codec.WithEncryption(keys)),
	}
	if err := errors.Join(m.Carts.Err(), m.Checkouts.Err(), m.Orders.Err(), m.CartState.Err()); err != nil {
		return Mappers{}, err
	}
	return m, nil
}

// demoKey encrypts the events when no key is configured. It is in the
// source, so it protects nothing: it only lets the example run as it
// would in production.
var demoKey = codec.Key{ID: "demo", Secret: []byte("annals cart demo key: not secret")}

// Keyring returns the keys of [codec.CipherKeyEnv] and
// [codec.CipherOldKeysEnv], read with getenv. When no key is set it warns
// on w and returns a keyring of the demo key; a key that is set but
// malformed is an error.
func Keyring(getenv func(string) string, w io.Writer) (*codec.Keyring, error) {
	keys, err := codec.KeyringFromEnv(getenv)
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(w, "WARNING: %s is not set: events are encrypted with a demo key anyone can read in the source.\n"+
			"         Set one with: export %s=k1:$(openssl rand -base64 32)\n", codec.CipherKeyEnv, codec.CipherKeyEnv)
		return codec.NewKeyring(demoKey)
	}
	return keys, err
}
