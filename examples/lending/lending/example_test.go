package lending_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/lending"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// A seat of the reading room is taken by one member at a time.
// docs:begin seat
type (
	TakeSeat  struct{ Member string }
	SeatTaken struct{ Member string }
)

var seat = decider.Decider[TakeSeat, SeatTaken, string]{
	Decide: func(c TakeSeat, taker string) ([]SeatTaken, error) {
		if taker != "" {
			return nil, errors.New("the seat is taken")
		}
		return []SeatTaken{{Member: c.Member}}, nil
	},
	Evolve: func(_ string, e SeatTaken) string { return e.Member },
}

// docs:end seat

// seats names the stream of seat 7 "seat-007": names of your own choice
// need a Stream function and the Key function that inverts it.
// docs:begin seats

var seats = codec.Streams[int]{
	Stream: func(n int) string { return fmt.Sprintf("seat-%03d", n) },
	Key: func(stream string) (int, bool) {
		digits, ok := strings.CutPrefix(stream, "seat-")
		n, err := strconv.Atoi(digits)
		return n, ok && err == nil && len(digits) == 3
	},
}

// docs:end seats

// Three deciders combined flat, each part stored one stream per
// instance: no type argument, alias or helper is needed to combine them,
// to run them, or to build their commands.
func Example_threeDeciders() {
	ctx := context.Background()
	s := annals.New(memory.New())
	// docs:begin three
	library := decider.Combine3(decider.Many[string](book.Decider), decider.Many[string](member.Decider), decider.Many[int](seat))
	desk := annals.NewComposite(library,
		annals.NewInstances(s, book.Decider, codec.NewKeyed(lending.BookStreams, book.Codec())),
		annals.NewInstances(s, member.Decider, codec.NewKeyed(lending.MemberStreams, member.Codec())),
		annals.NewInstances(s, seat, codec.NewKeyed(seats, codec.NewJSON[SeatTaken]().Register("SeatTaken", SeatTaken{}))))

	res, err := desk.Handle(ctx, library.Third(decider.Keyed[int, TakeSeat]{Key: 7, Value: TakeSeat{Member: "ada"}}))
	fmt.Println(res.Events, res.State.Third, err)
	_, err = desk.Handle(ctx, library.Third(decider.Keyed[int, TakeSeat]{Key: 7, Value: TakeSeat{Member: "bob"}}))
	fmt.Println(err)
	res, err = desk.Handle(ctx, library.First(decider.Keyed[string, book.Command]{Key: "dune", Value: book.Acquire{Title: "Dune"}}))
	// docs:end three
	fmt.Println(res.Events, err)
	// Output:
	// [Third({Key:7 Value:SeatTaken{Member:ada}})] map[7:ada] <nil>
	// the seat is taken
	// [First({Key:"dune" Value:Acquired{Title:Dune}})] <nil>
}

// A view of each part of the three-part desk, folded together over the
// desk's events into one stored read model: the titles acquired, the
// members who joined, and who sits where.
func Example_threeViews() {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		panic(err)
	}
	library := decider.Combine3(decider.Many[string](book.Decider), decider.Many[string](member.Decider), decider.Many[int](seat))
	desk := annals.NewComposite(library,
		annals.NewInstances(s, book.Decider, codec.NewKeyed(lending.BookStreams, book.Codec())),
		annals.NewInstances(s, member.Decider, codec.NewKeyed(lending.MemberStreams, member.Codec())),
		annals.NewInstances(s, seat, codec.NewKeyed(seats, codec.NewJSON[SeatTaken]().Register("SeatTaken", SeatTaken{}))))
	// docs:begin three-views
	titles := view.View[[]string, decider.Keyed[string, book.Event]]{
		Evolve: func(titles []string, e decider.Keyed[string, book.Event]) []string {
			if acquired, ok := e.Value.(book.Acquired); ok {
				return append(slices.Clip(titles), acquired.Title)
			}
			return titles
		},
	}
	joined := view.View[int, decider.Keyed[string, member.Event]]{
		Evolve: func(n int, e decider.Keyed[string, member.Event]) int {
			if _, ok := e.Value.(member.Joined); ok {
				return n + 1
			}
			return n
		},
	}
	sitting := view.Many[int](view.View[string, SeatTaken]{
		Evolve: func(_ string, e SeatTaken) string { return e.Member },
	})
	board := annals.NewViewProjection(s, "board", view.Combine3(titles, joined, sitting), desk.Events(),
		func(store.Record, decider.Sum3[decider.Keyed[string, book.Event], decider.Keyed[string, member.Event], decider.Keyed[int, SeatTaken]]) (string, bool) {
			return "board", true
		})
	// docs:end three-views
	if err := sys.Add(board); err != nil {
		panic(err)
	}
	for _, c := range []decider.Sum3[decider.Keyed[string, book.Command], decider.Keyed[string, member.Command], decider.Keyed[int, TakeSeat]]{
		library.First(decider.Keyed[string, book.Command]{Key: "dune", Value: book.Acquire{Title: "Dune"}}),
		library.Second(decider.Keyed[string, member.Command]{Key: "m1", Value: member.Join{Name: "Ada"}}),
		library.Third(decider.Keyed[int, TakeSeat]{Key: 7, Value: TakeSeat{Member: "Ada"}}),
	} {
		if _, err := desk.Handle(ctx, c); err != nil {
			panic(err)
		}
	}
	state, err := board.Get(ctx, "board")
	fmt.Println(state, err)
	// Output: {First:[Dune] Second:1 Third:map[7:Ada]} <nil>
}
