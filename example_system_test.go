package annals_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// The same wiring as in sync mode, run asynchronously: commands return
// at once, and the consumers follow the log in goroutines of Run, or in
// other processes that share a durable store.
func ExampleSystem_async() {
	ctx := context.Background()
	s := annals.New(memory.New()) // in production, a store that processes share
	wallets := annals.NewRunner(s, wallet, walletCodec())
	balances := annals.NewViewProjection(s, "balances", view.Of(wallet), walletCodec(),
		func(r store.Record, _ Paid) (string, bool) { return r.StreamID, true })

	// docs:begin async
	sys, err := annals.NewSystem(s, annals.Async)
	if err != nil {
		panic(err)
	}
	if err := sys.Add(balances); err != nil {
		panic(err)
	}
	running, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(running) }() // each consumer in a goroutine, under its lease

	// Handle returns once the events are stored.
	if _, err := wallets.Handle(ctx, "ada", Pay{Amount: 100}); err != nil {
		panic(err)
	}
	if err := sys.WaitQuiet(ctx); err != nil { // in tests: until every consumer has caught up
		panic(err)
	}
	balance, err := balances.Get(ctx, "ada")
	fmt.Println("ada's balance:", balance, err)

	stop() // on shutdown: Run returns once every consumer has stopped
	if err := <-done; err != nil {
		panic(err)
	}
	// docs:end async
	// Output:
	// ada's balance: 100 <nil>
}

// In sync mode a consumer that fails does not unstore the command that
// led to it: the command gets its result and an error that matches
// ErrStored. Later commands succeed; each settle tries the stopped
// consumer again, and Status and WaitQuiet report it until it has caught
// up.
func ExampleSystem_stoppedConsumer() {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		panic(err)
	}
	sys.OnError(func(consumer string, err error) { fmt.Println("alert:", consumer, "stopped") })
	wallets := annals.NewRunner(s, wallet, walletCodec())

	broken := true // a bug in the read model, fixed below
	audit, err := annals.NewProjection(s, "audit", walletCodec(),
		func(ctx context.Context, tx store.StateTx, ev annals.Envelope[Paid]) error {
			if broken && ev.Event.Amount == 13 {
				return errors.New("unlucky amount")
			}
			return tx.SaveState(ctx, "audit", ev.ID.String(), []byte("seen"))
		})
	if err != nil {
		panic(err)
	}
	if err := sys.Add(audit); err != nil {
		panic(err)
	}

	res, err := wallets.Handle(ctx, "ada", Pay{Amount: 13})
	fmt.Println("first:", res.State, res.Version, errors.Is(err, annals.ErrStored))
	res, err = wallets.Handle(ctx, "ada", Pay{Amount: 5})
	fmt.Println("second:", res.State, res.Version, err)

	// docs:begin status
	status, err := sys.Status(ctx)
	if err != nil {
		panic(err)
	}
	for _, c := range status {
		fmt.Printf("%s: checkpoint %d of %d, stopped: %v\n", c.Name, c.Checkpoint, c.Head, c.Stopped != nil)
	}
	// docs:end status
	var stopped *annals.ConsumerError
	if err := sys.WaitQuiet(ctx); errors.As(err, &stopped) {
		fmt.Println("WaitQuiet returns at once:", stopped.Consumer, "stopped at position", stopped.Position)
	}

	broken = false        // the fix is deployed
	err = sys.Settle(ctx) // or the next command
	status, _ = sys.Status(ctx)
	fmt.Printf("after the fix: checkpoint %d of %d, stopped: %v, %v\n", status[0].Checkpoint, status[0].Head, status[0].Stopped, err)
	// Output:
	// alert: audit stopped
	// first: 13 1 true
	// second: 18 2 <nil>
	// audit: checkpoint 0 of 2, stopped: true
	// WaitQuiet returns at once: audit stopped at position 1
	// after the fix: checkpoint 2 of 2, stopped: <nil>, <nil>
}
