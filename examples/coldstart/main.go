// Command coldstart is the smallest program a serverless function would
// be: it opens the store that ANNALS_STORE names (a SQLite file by
// default), handles one command, prints the stream's version and exits.
// Its benchmark measures the wall time of whole runs and the size of the
// binary, against a program that does the same with database/sql alone:
//
//	go test -run '^$' -bench ColdStart ./examples/coldstart
//
// Built as it is, it links only the SQLite adapter; built with the tag
// coldstart_all it links all three, to show what each costs in size:
//
//	go build -tags coldstart_all ./examples/coldstart
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// Visit is the command, Visited the event: a visitor counter.
type (
	Visit   struct{}
	Visited struct{}
)

var visits = decider.Decider[Visit, Visited, int]{
	Decide: func(Visit, int) ([]Visited, error) { return []Visited{{}}, nil },
	Evolve: func(n int, _ Visited) int { return n + 1 },
}

func main() {
	url := os.Getenv(annals.EnvVar)
	if url == "" {
		url = "sqlite://" + os.TempDir() + "/annals-coldstart.db"
	}
	if err := run(context.Background(), os.Stdout, url); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

// docs:begin run
func run(ctx context.Context, w io.Writer, url string) error {
	s, err := annals.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	events := codec.NewJSON[Visited]().Register("Visited", Visited{})
	res, err := annals.NewRunner(s, visits, events).Handle(ctx, "visits", Visit{})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, res.Version)
	return err
}

// docs:end run
