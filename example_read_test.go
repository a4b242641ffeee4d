package annals_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// docs:begin wallet
type (
	Pay  struct{ Amount int }
	Paid struct{ Amount int }
)

var wallet = decider.Decider[Pay, Paid, int]{
	Decide: func(c Pay, _ int) ([]Paid, error) { return []Paid{{Amount: c.Amount}}, nil },
	Evolve: func(balance int, e Paid) int { return balance + e.Amount },
}

func walletCodec() *codec.JSON[Paid] {
	return codec.NewJSON[Paid]().Register("Paid", Paid{})
}

// docs:end wallet

// A view projection keeps a read model in the store: here, how many
// payments each wallet received.
func ExampleNewViewProjection() {
	ctx := context.Background()
	s := annals.New(memory.New())
	wallets := annals.NewRunner(s, wallet, walletCodec())
	for _, id := range []string{"ada", "bob", "ada"} {
		wallets.Handle(ctx, id, Pay{Amount: 10})
	}

	// docs:begin view
	payments := view.View[int, Paid]{Evolve: func(n int, _ Paid) int { return n + 1 }}
	byWallet := func(r store.Record, _ Paid) (string, bool) { return r.StreamID, true }
	counts := annals.NewViewProjection(s, "payment-counts", payments, walletCodec(), byWallet)
	n, _ := counts.CatchUp(ctx) // or Run(ctx), to follow the log, or a System
	ada, _ := counts.Get(ctx, "ada")
	_, err := counts.Get(ctx, "cyd") // no payment yet: errors.Is(err, store.ErrNotFound)
	// docs:end view
	fmt.Println(n, "events projected; ada received", ada, "payments")
	fmt.Println(errors.Is(err, store.ErrNotFound))
	// Output:
	// 3 events projected; ada received 2 payments
	// true
}

// A system in sync mode settles before a command returns: a payment of 100
// or more earns a bonus of 5, paid by a saga, and the view already shows
// both when Handle returns.
func ExampleSystem() {
	ctx := context.Background()
	// docs:begin sync
	s := annals.New(memory.New())
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		panic(err)
	}
	wallets := annals.NewRunner(s, wallet, walletCodec())

	bonus := saga.Saga[Paid, Pay]{React: func(e Paid) []Pay {
		if e.Amount >= 100 {
			return []Pay{{Amount: 5}}
		}
		return nil
	}}
	balances := annals.NewViewProjection(s, "balances", view.Of(wallet), walletCodec(),
		func(r store.Record, _ Paid) (string, bool) { return r.StreamID, true })
	err = sys.Add(balances, annals.NewSaga(s, "bonus", bonus, walletCodec(),
		func(ctx context.Context, c Pay, cause annals.Cause) error {
			_, err := wallets.Handle(ctx, cause.Event.StreamID, c, cause.Options()...)
			return err
		}))
	if err != nil {
		panic(err)
	}

	wallets.Handle(ctx, "ada", Pay{Amount: 100})
	balance, _ := balances.Get(ctx, "ada")
	// docs:end sync
	fmt.Println("ada's balance:", balance)
	// Output: ada's balance: 105
}
