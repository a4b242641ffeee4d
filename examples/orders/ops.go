package main

import (
	"context"
	"fmt"
	"io"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/ops"
)

// runOps runs an operator command on the shop's consumers, such as
// "status" or "rebuild order-summary", and returns the exit status.
func runOps(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) int {
	s, _, err := open(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "orders ops:", err)
		return ops.ExitFailure
	}
	defer s.Close()
	// Async: the system runs nothing by itself; each command runs what
	// it needs in this process.
	shop, err := NewShop(s, annals.Async)
	if err != nil {
		fmt.Fprintln(stderr, "orders ops:", err)
		return ops.ExitFailure
	}
	// docs:begin operations-ops
	commands := ops.Commands{
		System:     shop.System,
		Rebuilders: []ops.Rebuilder{shop.summary},
		Program:    "orders ops",
		Stdout:     stdout,
		Stderr:     stderr,
	}
	return commands.Run(ctx, args)
	// docs:end operations-ops
}
