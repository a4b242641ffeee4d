package annals_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// booked is a seat of a show booked by a guest, tagged with both.
type booked struct{ Show, Guest string }

type book struct{ Show, Guest string }

func bookedTags(e booked) []string { return []string{"show:" + e.Show, "guest:" + e.Guest} }

// A show has two seats, and a guest books at most one show: two rules,
// each a decider with its own query, decided together on one boundary.
func ExampleCombineDCB() {
	count := func(n int, _ booked) int { return n + 1 }
	seats := annals.DCBDecider[book, booked, int]{
		Decider: decider.Decider[book, booked, int]{
			Decide: func(c book, taken int) ([]booked, error) {
				if taken >= 2 {
					return nil, errors.New("show sold out")
				}
				return []booked{booked(c)}, nil
			},
			Evolve: count,
		},
		Name:  "booking",
		Query: func(c book) store.Query { return store.QueryItems(store.QueryItem{Tags: []string{"show:" + c.Show}}) },
		Tags:  bookedTags,
	}
	oneShow := annals.DCBDecider[book, booked, int]{
		Decider: decider.Decider[book, booked, int]{
			Decide: func(c book, shows int) ([]booked, error) {
				if shows >= 1 {
					return nil, errors.New("one show per guest")
				}
				return nil, nil
			},
			Evolve: count,
		},
		Query: func(c book) store.Query { return store.QueryItems(store.QueryItem{Tags: []string{"guest:" + c.Guest}}) },
		Tags:  bookedTags,
	}
	ctx := context.Background()
	r := annals.NewDCBRunner(annals.New(memory.New()), annals.CombineDCB(seats, oneShow),
		codec.NewJSON[booked]().Register("Booked", booked{}))
	for _, c := range []book{{"opera", "ada"}, {"opera", "bob"}, {"ballet", "ada"}, {"opera", "cy"}, {"ballet", "cy"}} {
		res, err := r.Handle(ctx, c)
		if err != nil {
			fmt.Printf("%s at the %s: %v\n", c.Guest, c.Show, err)
			continue
		}
		fmt.Printf("%s at the %s: seat %d, %d show\n", c.Guest, c.Show, res.State.First, res.State.Second)
	}
	// Output:
	// ada at the opera: seat 1, 1 show
	// bob at the opera: seat 2, 1 show
	// ada at the ballet: one show per guest
	// cy at the opera: show sold out
	// cy at the ballet: seat 1, 1 show
}
