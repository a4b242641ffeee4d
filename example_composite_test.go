package annals_test

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// Many concerts, one stream each: the command's key picks the stream,
// and the result is that concert's.
func ExampleNewInstances() {
	ctx := context.Background()
	s := annals.New(memory.New())
	concerts := annals.NewInstances(s, concert, codec.NewKeyed(codec.StreamPrefix[string]("concert-"), concertCodec()))

	for _, key := range []string{"jazz", "jazz", "folk"} {
		res, err := concerts.Handle(ctx, decider.Keyed[string, Buy]{Key: key})
		fmt.Println(concerts.Stream(key), res.Events, res.State, err)
	}
	// Output:
	// concert-jazz [{1}] 1 <nil>
	// concert-jazz [{2}] 2 <nil>
	// concert-folk [{1}] 1 <nil>
}

// A Bell rings when it is asked to.
type (
	RingBell struct{}
	BellRang struct{}
)

var bellDecider = decider.Decider[RingBell, BellRang, int]{
	Decide: func(RingBell, int) ([]BellRang, error) { return []BellRang{{}}, nil },
	Evolve: func(n int, _ BellRang) int { return n + 1 },
}

// Concerts and bells combined, each concert and each bell stored in a
// stream of its own: the composite routes a command to its part by the
// case of the sum, and the log reads back as the composite's events.
func ExampleNewComposite() {
	ctx := context.Background()
	s := annals.New(memory.New())
	venue := decider.Combine(decider.Many[string](concert), decider.Many[int](bellDecider))
	run := annals.NewComposite(venue,
		annals.NewInstances(s, concert, codec.NewKeyed(codec.StreamPrefix[string]("concert-"), concertCodec())),
		annals.NewInstances(s, bellDecider, codec.NewKeyed(codec.StreamPrefix[int]("bell-"), codec.NewJSON[BellRang]().Register("BellRang", BellRang{}))))

	res, err := run.Handle(ctx, decider.Left[decider.Keyed[string, Buy], decider.Keyed[int, RingBell]](decider.Keyed[string, Buy]{Key: "jazz"}))
	fmt.Println(res.Events, res.State, err)
	res, err = run.Handle(ctx, decider.Right[decider.Keyed[string, Buy]](decider.Keyed[int, RingBell]{Key: 3}))
	fmt.Println(res.Events, res.State, err)

	recs, _ := s.ReadLog(ctx, store.LogQuery{})
	for _, rec := range recs {
		e, err := run.Events().FromRecord(ctx, rec)
		fmt.Println(rec.StreamID, rec.Type, e, err)
	}
	// Output:
	// [Left({Key:"jazz" Value:Sold{Seat:1}})] {First:map[jazz:1] Second:map[]} <nil>
	// [Right({Key:3 Value:BellRang{}})] {First:map[] Second:map[3:1]} <nil>
	// concert-jazz SeatSold Left({Key:"jazz" Value:Sold{Seat:1}}) <nil>
	// bell-3 BellRang Right({Key:3 Value:BellRang{}}) <nil>
}

// Three deciders combined flat: the value Combine3 returns goes to the
// composite as it is, and its methods build each part's commands, so
// neither needs a type argument or an alias.
func ExampleNewComposite_three() {
	ctx := context.Background()
	s := annals.New(memory.New())
	venue := decider.Combine3(decider.Many[string](concert), decider.Many[int](bellDecider), decider.Many[int](bellDecider))
	run := annals.NewComposite(venue,
		annals.NewInstances(s, concert, codec.NewKeyed(codec.StreamPrefix[string]("concert-"), concertCodec())),
		annals.NewInstances(s, bellDecider, codec.NewKeyed(codec.StreamPrefix[int]("doorbell-"), codec.NewJSON[BellRang]().Register("BellRang", BellRang{}))),
		annals.NewInstances(s, bellDecider, codec.NewKeyed(codec.StreamPrefix[int]("churchbell-"), codec.NewJSON[BellRang]().Register("BellRang", BellRang{}))))

	res, err := run.Handle(ctx, venue.Third(decider.Keyed[int, RingBell]{Key: 1}))
	fmt.Println(res.Events, res.State.Third, err)
	fmt.Println(run.Events().Types(), run.Events().Err())
	// Output:
	// [Third({Key:1 Value:BellRang{}})] map[1:1] <nil>
	// [BellRang SeatSold] <nil>
}
