// Command lending runs a short day at a library's lending desk: the
// library acquires copies and members join, members check copies out and
// bring them back, checkouts the rules refuse are refused, and two late
// returns suspend a member. It prints what each step led to, then every
// member's holdings.
//
// Copies and members are two deciders composed with the algebra and
// stored one stream per copy and one per member; a checkout, which is
// about a copy and a member at once, is decided on a dynamic consistency
// boundary (package lending). The store is memory unless ANNALS_STORE
// names another:
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
	"github.com/samber/lo"

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
	// A Sync system settles after its own commands only: catch its read
	// models up with what earlier runs or other processes appended.
	if err := lib.System.Settle(ctx); err != nil {
		return err
	}
	scheme, _, _ := strings.Cut(url, ":")
	fmt.Fprintf(out, "store %s, %s mode\n", scheme, lib.System.Mode())
	d := &desk{ctx: ctx, out: out, s: s, lib: lib, run: uuid.NewString()[:8]}

	var copies []any
	for _, title := range []string{"Dune", "Emma", "Ulysses", "Hamlet"} {
		copies = append(copies, lending.ToBook(d.key(isbn(title)), book.Acquire{Title: title}))
	}
	for _, step := range []struct {
		what string
		cmds []any // lending.Command or lending.LoanCommand
	}{
		{"the library acquires Dune, Emma, Ulysses and Hamlet", copies},
		{"ada and bob join", []any{d.join("ada", "Ada"), d.join("bob", "Bob")}},
		{"ada checks out Dune", []any{d.checkout("Dune", "ada")}},
		{"ada checks out Emma", []any{d.checkout("Emma", "ada")}},
		{"ada checks out Ulysses", []any{d.checkout("Ulysses", "ada")}},
		{"ada checks out Hamlet", []any{d.checkout("Hamlet", "ada")}},
		{"bob checks out Dune", []any{d.checkout("Dune", "bob")}},
		{"bob checks out Hamlet", []any{d.checkout("Hamlet", "bob")}},
		{"Dune comes back on day 20", []any{lending.Return{ISBN: d.key(isbn("Dune")), Day: 20}}},
		{"Emma comes back on day 21", []any{lending.Return{ISBN: d.key(isbn("Emma")), Day: 21}}},
		{"ada checks out Dune", []any{d.checkout("Dune", "ada")}},
		{"the library withdraws Emma", []any{lending.ToBook(d.key(isbn("Emma")), book.Withdraw{Reason: "worn out"})}},
		{"bob checks out Emma", []any{d.checkout("Emma", "bob")}},
		{"bob checks out Dune", []any{d.checkout("Dune", "bob")}},
	} {
		if err := d.step(step.what, step.cmds); err != nil {
			return err
		}
	}

	fmt.Fprintln(out, "holdings:")
	for _, m := range []string{"ada", "bob"} {
		h, err := lib.Holdings(ctx, d.key(m))
		if err != nil {
			return err
		}
		line := strings.Join(lo.Map(h.Books, func(key string, _ int) string { return d.name(key) }), ", ")
		if h.Suspended {
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

// checkout lends a copy to a member for two weeks, from day 0.
func (d *desk) checkout(title, memberID string) lending.Checkout {
	return lending.Checkout{ISBN: d.key(isbn(title)), Member: d.key(memberID), Due: 14}
}

// join makes someone a member.
func (d *desk) join(memberID, name string) lending.Command {
	return lending.ToMember(d.key(memberID), member.Join{Name: name})
}

// step sends commands, a copy's or a member's to its stream and a loan's
// to the loans, and prints what followed from them: their events and
// those of the commands the clerk sent because of them, read back from
// the log.
func (d *desk) step(what string, cmds []any) error {
	head, err := d.s.Head(d.ctx)
	if err != nil {
		return err
	}
	for _, cmd := range cmds {
		switch cmd := cmd.(type) {
		case lending.Command:
			_, err = d.lib.Handle(d.ctx, cmd)
		case lending.LoanCommand:
			_, err = d.lib.HandleLoan(d.ctx, cmd)
		default:
			err = fmt.Errorf("not a command of the library: %T", cmd)
		}
		if errors.Is(err, annals.ErrRejected) && len(cmds) == 1 {
			fmt.Fprintf(d.out, "%s: refused: %v\n", what, err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	fmt.Fprintf(d.out, "%s:\n", what)
	recs, err := d.s.ReadLog(d.ctx, store.LogQuery{After: head, Limit: 100})
	if err != nil {
		return err
	}
	events := lending.Events()
	for _, rec := range recs {
		e, err := events.FromRecord(d.ctx, rec)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "  %s\n", d.describe(e))
	}
	return nil
}

// describe says what an event of the library means.
func (d *desk) describe(e lending.LogEvent) string {
	if ev, ok := e.Left(); ok {
		if be, ok := ev.Left(); ok {
			title := d.name(be.Key)
			switch be := be.Value.(type) {
			case book.Acquired:
				return fmt.Sprintf("%s acquired", title)
			case book.Withdrawn:
				return fmt.Sprintf("%s withdrawn: %s", title, be.Reason)
			}
			return fmt.Sprintf("%s: %v", title, be.Value)
		}
		me, _ := ev.Right()
		who := d.name(me.Key)
		switch m := me.Value.(type) {
		case member.Joined:
			return fmt.Sprintf("%s joins as %s", who, m.Name)
		case member.Suspended:
			return fmt.Sprintf("%s is suspended: %s", who, m.Reason)
		}
		return fmt.Sprintf("%s: %v", who, me.Value)
	}
	switch l, _ := e.Right(); l := l.(type) {
	case lending.CheckedOut:
		return fmt.Sprintf("%s lent to %s until day %d", d.name(l.ISBN), d.name(l.Member), l.Due)
	case lending.Returned:
		late := ""
		if l.Late {
			late = ", late"
		}
		return fmt.Sprintf("%s returned by %s on day %d%s", d.name(l.ISBN), d.name(l.Member), l.Day, late)
	}
	return fmt.Sprint(e)
}
