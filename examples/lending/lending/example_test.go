package lending_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/lending"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/store/memory"
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
