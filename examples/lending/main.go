// Command lending runs a short day at a library's lending desk: members
// check books out and bring them back, a checkout the member may not take
// is undone, and two late returns suspend a member. It prints what each
// step led to, then every member's loans.
//
// Books and members are two deciders composed with the algebra and
// stored one stream per copy and one per member (package lending). The
// store is memory unless ANNALS_STORE names another:
//
//	go run ./examples/lending
//	ANNALS_STORE=sqlite:///tmp/library.db go run ./examples/lending
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/lending"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/store"
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

func main() {
	url := os.Getenv(annals.EnvVar)
	if url == "" {
		url = "memory:"
	}
	if err := run(context.Background(), os.Stdout, url); err != nil {
		fmt.Fprintln(os.Stderr, "lending:", err)
		os.Exit(1)
	}
}

// titles are the library's books, by ISBN.
var titles = map[string]string{
	"978-0441172719": "Dune",
	"978-0141439587": "Emma",
	"978-0199535675": "Ulysses",
	"978-0743477123": "Hamlet",
}

func isbn(title string) string {
	for isbn, t := range titles {
		if t == title {
			return isbn
		}
	}
	panic("no book " + title)
}

// desk runs the scenario's steps on a library and prints them.
type desk struct {
	ctx context.Context
	out io.Writer
	s   *annals.Store
	lib *lending.Library
	run string // this run's own copies and members, on a store that keeps earlier runs'
}

func run(ctx context.Context, out io.Writer, url string) error {
	s, err := annals.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	lib, err := lending.Open(s, annals.Sync)
	if err != nil {
		return err
	}
	scheme, _, _ := strings.Cut(url, ":")
	fmt.Fprintf(out, "store %s, %s mode\n", scheme, lib.System.Mode())
	d := &desk{ctx: ctx, out: out, s: s, lib: lib, run: uuid.NewString()[:8]}

	for _, step := range []struct {
		what string
		cmd  lending.Command
	}{
		{"ada checks out Dune", d.checkout("Dune", "ada")},
		{"ada checks out Emma", d.checkout("Emma", "ada")},
		{"ada checks out Ulysses", d.checkout("Ulysses", "ada")},
		{"ada checks out Hamlet", d.checkout("Hamlet", "ada")},
		{"bob checks out Dune", d.checkout("Dune", "bob")},
		{"bob checks out Hamlet", d.checkout("Hamlet", "bob")},
		{"Dune comes back on day 20", lending.Return(d.key(isbn("Dune")), 20)},
		{"Emma comes back on day 21", lending.Return(d.key(isbn("Emma")), 21)},
		{"ada checks out Dune", d.checkout("Dune", "ada")},
	} {
		if err := d.step(step.what, step.cmd); err != nil {
			return err
		}
	}

	fmt.Fprintln(out, "loans:")
	for _, m := range []string{"ada", "bob"} {
		loans, err := lib.Loans(ctx, d.key(m))
		if err != nil {
			return err
		}
		line := strings.Join(mapNames(loans.Books, d.name), ", ")
		if loans.Refused > 0 {
			line += fmt.Sprintf("; %d refused", loans.Refused)
		}
		if loans.Suspended {
			line += "; suspended"
		}
		fmt.Fprintf(out, "  %s: %s\n", m, line)
	}
	return nil
}

// key is this run's key of a copy or a member.
func (d *desk) key(name string) string { return name + "@" + d.run }

// name is the name of a key: a member's, or a copy's title.
func (d *desk) name(key string) string {
	name, _, _ := strings.Cut(key, "@")
	if t, ok := titles[name]; ok {
		return t
	}
	return name
}

func mapNames(keys []string, name func(string) string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = name(k)
	}
	return out
}

// checkout lends a copy to a member for two weeks, from day 0.
func (d *desk) checkout(title, memberID string) lending.Command {
	return lending.Checkout(d.key(isbn(title)), d.key(memberID), 14)
}

// step sends a command and prints what followed from it: the desk's own
// events and those of the commands the clerk sent because of them, read
// back from the log.
func (d *desk) step(what string, cmd lending.Command) error {
	head, err := d.s.Head(d.ctx)
	if err != nil {
		return err
	}
	_, err = d.lib.Handle(d.ctx, cmd)
	if errors.Is(err, annals.ErrRejected) {
		fmt.Fprintf(d.out, "%s: refused: %v\n", what, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(d.out, "%s:\n", what)
	recs, err := d.s.ReadLog(d.ctx, store.LogQuery{After: head, Limit: 100})
	if err != nil {
		return err
	}
	for _, rec := range recs {
		e, err := d.lib.Desk.Events().FromRecord(d.ctx, rec)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "  %s\n", d.describe(e))
	}
	return nil
}

// describe says what an event of the desk means.
func (d *desk) describe(e lending.Event) string {
	if ev, ok := e.Left(); ok {
		title := d.name(ev.Key)
		switch be := ev.Value.(type) {
		case book.Lent:
			return fmt.Sprintf("%s lent to %s until day %d", title, d.name(be.Member), be.Due)
		case book.Returned:
			late := ""
			if be.Late {
				late = ", late"
			}
			return fmt.Sprintf("%s returned by %s on day %d%s", title, d.name(be.Member), be.Day, late)
		case book.LoanCancelled:
			return fmt.Sprintf("loan of %s to %s cancelled: %s", title, d.name(be.Member), be.Reason)
		}
		return fmt.Sprintf("%s: %v", title, ev.Value)
	}
	ev, _ := e.Right()
	who := d.name(ev.Key)
	switch me := ev.Value.(type) {
	case member.Borrowed:
		return fmt.Sprintf("%s borrows %s", who, d.name(me.ISBN))
	case member.BorrowRefused:
		return fmt.Sprintf("%s may not borrow %s: %s", who, d.name(me.ISBN), me.Reason)
	case member.GaveBack:
		return fmt.Sprintf("%s gives %s back", who, d.name(me.ISBN))
	case member.Suspended:
		return fmt.Sprintf("%s is suspended: %s", who, me.Reason)
	}
	return fmt.Sprintf("%s: %v", who, ev.Value)
}
