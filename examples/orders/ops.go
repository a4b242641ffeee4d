package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/ops"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// runOps runs an operator command on the shop's consumers, such as
// "status" or "rebuild order-summary", and returns the exit status.
func runOps(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) int {
	// docs:begin operations-ops
	commands := ops.Commands{Program: "orders ops", Stdout: stdout, Stderr: stderr}
	s, err := openExisting(ctx, cfg.url)
	if err != nil {
		commands.OpenErr = err // each command fails with it; -h still helps
		return commands.Run(ctx, args)
	}
	defer s.Close()
	// Async: the system runs nothing by itself; each command runs what
	// it needs in this process.
	shop, err := NewShop(s, annals.Async)
	if err != nil {
		commands.OpenErr = err
		return commands.Run(ctx, args)
	}
	commands.System = shop.System
	commands.Rebuilders = []ops.Rebuilder{shop.summary}
	return commands.Run(ctx, args)
	// docs:end operations-ops
}

// docs:begin operations-open

// openExisting opens the store the operator commands work on, never
// creating one: a mistyped path or schema is an error, not a new, empty
// store whose checkpoints all read 0. A memory: store lives and dies
// with its process, so there is none to work on from another.
func openExisting(ctx context.Context, rawURL string) (*annals.Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return annals.Open(ctx, rawURL) // which says what is wrong
	}
	switch u.Scheme {
	case "memory":
		return nil, errors.New("a memory: store lives inside its process: set ANNALS_STORE to the application's durable store")
	case "sqlite":
		if q := u.Query(); !q.Has("create") {
			q.Set("create", "false") // no such file, or no store in it: store.ErrNotFound
			u.RawQuery = q.Encode()
			rawURL = u.String()
		}
	case "postgres", "postgresql":
		ok, err := postgres.Exists(ctx, rawURL)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("the database holds no store in the schema and prefix the URL names; check it: %w", store.ErrNotFound)
		}
	}
	return annals.Open(ctx, rawURL)
}

// docs:end operations-open
