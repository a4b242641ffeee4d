// Command orders is a small shop: orders, payments and stock are three
// deciders; a fulfilment process asks for payment and stock when an order
// is placed and ships it once both have arrived, or cancels it when the
// stock is short; an order summary view is the read model.
//
// The same system runs in two modes, chosen by configuration:
//
//	go run ./examples/orders                                       # memory store, sync mode
//	ANNALS_STORE=sqlite:///tmp/shop.db go run ./examples/orders   # durable store, async mode
//
// In sync mode every command returns once the process and the view have
// handled all that follows from it. In async mode the process and the view
// follow the log in goroutines, or in another process:
//
//	ANNALS_STORE=sqlite:///tmp/shop.db go run ./examples/orders consumers &
//	ANNALS_STORE=sqlite:///tmp/shop.db ANNALS_CONSUMERS=elsewhere go run ./examples/orders
//
// ANNALS_MODE=sync or async overrides the mode the store suggests.
//
// Operators see and mend the consumers with the commands of package ops,
// mounted on this binary (see ops.go):
//
//	ANNALS_STORE=sqlite:///tmp/shop.db go run ./examples/orders ops status
//	ANNALS_STORE=sqlite:///tmp/shop.db go run ./examples/orders ops rebuild order-summary
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := config{
		url:       os.Getenv(annals.EnvVar),
		mode:      os.Getenv("ANNALS_MODE"),
		consumers: os.Getenv("ANNALS_CONSUMERS"),
	}
	if cfg.url == "" {
		cfg.url = "memory:"
	}
	var err error
	if len(os.Args) > 1 && os.Args[1] == "ops" {
		os.Exit(runOps(ctx, cfg, os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "consumers" {
		err = runConsumers(ctx, cfg)
	} else {
		err = run(ctx, os.Stdout, cfg)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

type config struct {
	url       string
	mode      string // "sync", "async", or "" for the store's default
	consumers string // "elsewhere" when another process runs them
}

func open(ctx context.Context, cfg config) (*annals.Store, annals.Mode, error) {
	s, err := annals.Open(ctx, cfg.url)
	if err != nil {
		return nil, 0, err
	}
	mode := annals.Async
	if strings.HasPrefix(cfg.url, "memory:") {
		mode = annals.Sync // nothing durable for another process to share
	}
	switch cfg.mode {
	case "sync":
		mode = annals.Sync
	case "async":
		mode = annals.Async
	case "":
	default:
		s.Close()
		return nil, 0, fmt.Errorf("ANNALS_MODE=%q: want sync or async", cfg.mode)
	}
	return s, mode, nil
}

func run(ctx context.Context, w io.Writer, cfg config) error {
	s, mode, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	shop, err := NewShop(s, mode)
	if err != nil {
		return err
	}

	done := make(chan error, 1)
	runCtx, stopConsumers := context.WithCancel(ctx)
	if mode == annals.Async && cfg.consumers != "elsewhere" {
		go func() { done <- shop.System.Run(runCtx) }()
	} else {
		done <- nil
	}
	defer func() { stopConsumers(); <-done }()

	// Order IDs are new on every run, so a durable store can be reused.
	run := uuid.NewString()[:8]
	first, second := "A-"+run, "B-"+run
	script := []Command{
		AddStock{SKU: "book", Quantity: 5},
		PlaceOrder{OrderID: first, SKU: "book", Quantity: 2, Amount: 30},
		ConfirmPayment{OrderID: first},
		PlaceOrder{OrderID: second, SKU: "book", Quantity: 9, Amount: 120},
	}
	fmt.Fprintf(w, "store %s, %s mode\n", strings.SplitN(cfg.url, ":", 2)[0], mode)
	for _, c := range script {
		if mode == annals.Async {
			// The payment can only be confirmed once the process asked
			// for it: in async mode, let it catch up first.
			if err := waitQuiet(ctx, shop); err != nil {
				return err
			}
		}
		if err := shop.Send(ctx, c); err != nil {
			return err
		}
		fmt.Fprintf(w, "sent %T %+v\n", c, c)
	}
	if err := waitQuiet(ctx, shop); err != nil {
		return err
	}
	for _, id := range []string{first, second} {
		sum, err := shop.Summary(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "order %s: %s, amount %d, paid %v", id[:1], sum.Status, sum.Amount, sum.Paid)
		if sum.Note != "" {
			fmt.Fprintf(w, " (%s)", sum.Note)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func waitQuiet(ctx context.Context, shop *Shop) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := shop.System.WaitQuiet(ctx); err != nil {
		return fmt.Errorf("wait for the process and the view to catch up (are the consumers running?): %w", err)
	}
	return nil
}

// runConsumers runs the process and the view in this process until
// interrupted: another process sends the commands.
func runConsumers(ctx context.Context, cfg config) error {
	s, _, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	shop, err := NewShop(s, annals.Async)
	if err != nil {
		return err
	}
	fmt.Println("running the fulfilment process and the order summary; interrupt to stop")
	return shop.System.Run(ctx)
}
