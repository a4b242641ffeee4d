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

// A concert with three seats, sold in order.
type (
	Buy  struct{}           // command: buy the next free seat
	Sold struct{ Seat int } // event
)

var errSoldOut = errors.New("sold out")

var concert = decider.Decider[Buy, Sold, int]{ // state: seats sold
	Decide: func(_ Buy, sold int) ([]Sold, error) {
		if sold >= 3 {
			return nil, errSoldOut
		}
		return []Sold{{Seat: sold + 1}}, nil
	},
	Evolve: func(_ int, e Sold) int { return e.Seat },
}

func concertCodec() *codec.JSON[Sold] {
	return codec.NewJSON[Sold]().Register("SeatSold", Sold{})
}

// rivalStore runs rival once, just before the first append it is asked
// for, as another process writing the same stream would.
type rivalStore struct {
	store.Store
	rival func()
}

func (s *rivalStore) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	if rival := s.rival; rival != nil {
		s.rival = nil
		rival()
	}
	return s.Store.Append(ctx, streamID, expected, events)
}

func ExampleRunner() {
	ctx := context.Background()
	mem := annals.New(memory.New())

	// Between our load and our append, a rival sells seat 1.
	rival := annals.NewRunner(mem, concert, concertCodec())
	s := &rivalStore{Store: mem, rival: func() {
		res, _ := rival.Handle(ctx, "concert-1", Buy{})
		fmt.Println("rival bought seat", res.Events[0].Seat)
	}}

	// Our append of seat 1 conflicts; the runner catches up and decides
	// again on the new state, so it buys seat 2 instead of selling seat 1
	// twice.
	box := annals.NewRunner(annals.New(s), concert, concertCodec())
	res, err := box.Handle(ctx, "concert-1", Buy{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("bought seat %d; stream at version %d\n", res.Events[0].Seat, res.Version)
	// Output:
	// rival bought seat 1
	// bought seat 2; stream at version 2
}

func ExampleRunner_LoadAt() {
	ctx := context.Background()
	box := annals.NewRunner(annals.New(memory.New()), concert, concertCodec())
	for range 4 {
		if _, err := box.Handle(ctx, "concert-1", Buy{}); err != nil {
			fmt.Println(err) // a refusal stores nothing
		}
	}

	// Time travel: the state as it was at each version.
	for version := range int64(4) {
		sold, at, err := box.LoadAt(ctx, "concert-1", version)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("version %d: %d sold\n", at, sold)
	}
	// Output:
	// sold out
	// version 0: 0 sold
	// version 1: 1 sold
	// version 2: 2 sold
	// version 3: 3 sold
}
