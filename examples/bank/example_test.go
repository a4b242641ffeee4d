package bank_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/examples/bank"
	"github.com/annals-dev/annals/store/memory"
)

func Example() {
	ctx := context.Background()
	b := bank.New(annals.New(memory.New()))

	b.Execute(ctx, "42", bank.Open{Owner: "Ada"})
	b.Execute(ctx, "42", bank.Deposit{Amount: 100_00})
	_, err := b.Execute(ctx, "42", bank.Withdraw{Amount: 250_00})
	fmt.Println("overdraft refused:", errors.Is(err, bank.ErrInsufficientFunds))
	a, _ := b.Execute(ctx, "42", bank.Withdraw{Amount: 30_00})
	fmt.Printf("%s has %d.%02d\n", a.Owner, a.Balance/100, a.Balance%100)
	// Output:
	// overdraft refused: true
	// Ada has 70.00
}
