package cart_test

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/examples/cart"
	"github.com/annals-dev/annals/store/memory"
)

func Example() {
	ctx := context.Background()
	carts := cart.New(annals.New(memory.New()))

	for _, sku := range []string{"apple", "pear", "apple", "fig", "plum", "kiwi"} {
		if _, err := carts.Execute(ctx, "c1", cart.AddItem{SKU: sku}); err != nil {
			fmt.Println(err)
		}
	}
	c, _ := carts.Execute(ctx, "c1", cart.RemoveItem{SKU: "apple"})
	fmt.Println(c.Count(), "items:", c.Items)

	c, _ = carts.Execute(ctx, "c1", cart.Checkout{})
	fmt.Println("checked out:", c.CheckedOut)
	_, err := carts.Execute(ctx, "c1", cart.AddItem{SKU: "kiwi"})
	fmt.Println(err)
	// Output:
	// cart c1: add "kiwi" to a cart of 5 items: a cart holds at most 5 items
	// 4 items: map[apple:1 fig:1 pear:1 plum:1]
	// checked out: true
	// cart c1: cart is checked out
}
