// Package cart is a shopping cart as a decider, and a small application
// that runs carts on any store.
//
// A cart holds at most [MaxItems] items: adding a sixth is refused with
// [ErrFull], a business-rule rejection that stores nothing. Items can be
// removed one at a time; a checkout orders what the cart holds, and after
// it the cart refuses every command ([ErrCheckedOut]), which makes a
// checked-out cart terminal.
//
//	carts := cart.New(memory.New())
//	carts.Execute(ctx, "c1", cart.AddItem{SKU: "apple"})
//	c, err := carts.Execute(ctx, "c1", cart.Checkout{})
//
// Each cart is one stream, "cart-" followed by its ID.
package cart
