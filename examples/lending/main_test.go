package main

import (
	"bytes"
	"context"
	neturl "net/url"
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/internal/pgtest"
)

const want = `the library acquires Dune, Emma, Ulysses and Hamlet:
  Dune acquired
  Emma acquired
  Ulysses acquired
  Hamlet acquired
ada and bob join:
  ada joins as Ada
  bob joins as Bob
ada checks out Dune:
  Dune lent to ada until day 14
ada checks out Emma:
  Emma lent to ada until day 14
ada checks out Ulysses:
  Ulysses lent to ada until day 14
ada checks out Hamlet: refused: a member holds at most 3 copies
bob checks out Dune: refused: the copy is lent already
bob checks out Hamlet:
  Hamlet lent to bob until day 14
Dune comes back on day 20:
  Dune returned by ada on day 20, late
Emma comes back on day 21:
  Emma returned by ada on day 21, late
  ada is suspended: two late returns
ada checks out Dune: refused: the member is suspended
the library withdraws Emma:
  Emma withdrawn: worn out
bob checks out Emma: refused: the copy is withdrawn
bob checks out Dune:
  Dune lent to bob until day 14
holdings:
  ada: Ulysses; suspended
  bob: Hamlet, Dune
`

func TestRunTellsTheDay(t *testing.T) {
	file := "sqlite://" + filepath.Join(t.TempDir(), "library.db")
	for _, c := range []struct{ name, url, store string }{
		{"memory", "memory:", "memory"},
		// A durable store keeps the first run's copies and members; the
		// second run has its own.
		{"sqlite", file, "sqlite"},
		{"sqlite again", file, "sqlite"},
		{"postgres", "", "postgres"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := c.url
			if url == "" {
				db := pgtest.New(t)
				u, err := neturl.Parse(db.URL)
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				q.Set("schema", db.Schema)
				u.RawQuery = q.Encode()
				url = u.String()
			}
			var out bytes.Buffer
			if err := run(context.Background(), &out, url); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != "store "+c.store+", sync mode\n"+want {
				t.Errorf("output:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
