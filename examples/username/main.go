package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/annals-dev/annals"
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

func main() {
	url := os.Getenv(annals.EnvVar)
	if url == "" {
		url = "sqlite://" + filepath.Join(os.TempDir(), "annals-username.db")
		fmt.Fprintln(os.Stderr, "ANNALS_STORE is not set: using", url)
	}
	if err := run(context.Background(), url, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "username:", err)
		os.Exit(1)
	}
}

// Accounts decides claims of usernames on a store.
func Accounts(s *annals.Store) *annals.DCBRunner[Command, Event, Claims] {
	// A claim conflicts only with claims of its username or its account,
	// and after one of them wins the rest are refused: few retries do.
	return annals.NewDCBRunner(s, Claiming, Codec(), annals.WithRetries(10))
}

// run plays a few claims on the store url names, with names of its own.
func run(ctx context.Context, url string, w io.Writer) error {
	s, err := annals.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	head, err := s.Head(ctx)
	if err != nil {
		return err
	}
	accounts := Accounts(s)
	// On a store that holds events, names get a suffix of this run's.
	n := func(name string) string {
		if head == 0 {
			return name
		}
		return fmt.Sprintf("%s.%d", name, head)
	}
	for _, c := range []Command{
		OpenAccount{Account: n("a1"), Username: n("ada")},
		OpenAccount{Account: n("a2"), Username: n("Ada")},
		OpenAccount{Account: n("a2"), Username: n("bob")},
		ChangeUsername{Account: n("a1"), Username: n("bob")},
		ChangeUsername{Account: n("a1"), Username: n("lovelace")},
		OpenAccount{Account: n("a3"), Username: n("ada")},
		OpenAccount{Account: n("a4"), Username: "x"},
	} {
		res, err := accounts.Handle(ctx, c)
		switch {
		case errors.Is(err, annals.ErrRejected):
			fmt.Fprintf(w, "%#v: refused, %v\n", c, err)
		case err != nil:
			return err
		default:
			account, _ := c.Claim()
			fmt.Fprintf(w, "%#v: %s holds %q\n", c, account, res.State.Usernames[account])
		}
	}
	return nil
}
