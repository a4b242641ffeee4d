package proptest

import (
	"errors"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// A box office: a seat is sold once, and a customer holds two seats at
// most. Each rule has a query of its own.
type (
	buySeat  struct{ Seat, Customer string }
	seatSold struct{ Seat, Customer string }
)

var (
	errSeatTaken   = errors.New("seat taken")
	errTwoSeatsMax = errors.New("two seats at most")
)

func seatTags(e seatSold) []string { return []string{"seat:" + e.Seat, "customer:" + e.Customer} }

// boxOffice returns the decider, with the seat rule's query finding the
// seat by seatTag.
func boxOffice(seatTag func(seat string) string) annals.DCBDecider[buySeat, seatSold, decider.Pair[bool, int]] {
	seats := annals.DCBDecider[buySeat, seatSold, bool]{
		Decider: decider.Decider[buySeat, seatSold, bool]{
			Decide: func(c buySeat, taken bool) ([]seatSold, error) {
				if taken {
					return nil, errSeatTaken
				}
				return []seatSold{{Seat: c.Seat, Customer: c.Customer}}, nil
			},
			Evolve: func(bool, seatSold) bool { return true },
		},
		Query: func(c buySeat) store.Query {
			return store.QueryItems(store.QueryItem{Types: []string{"SeatSold"}, Tags: []string{seatTag(c.Seat)}})
		},
		Tags: seatTags,
	}
	limit := annals.DCBDecider[buySeat, seatSold, int]{
		Decider: decider.Decider[buySeat, seatSold, int]{
			Decide: func(_ buySeat, held int) ([]seatSold, error) {
				if held >= 2 {
					return nil, errTwoSeatsMax
				}
				return nil, nil
			},
			Evolve: func(held int, _ seatSold) int { return held + 1 },
		},
		Query: func(c buySeat) store.Query {
			return store.QueryItems(store.QueryItem{Types: []string{"SeatSold"}, Tags: []string{"customer:" + c.Customer}})
		},
		Tags: seatTags,
	}
	return annals.CombineDCB(seats, limit)
}

func boxOfficeCodec() *codec.JSON[seatSold] {
	return codec.NewJSON[seatSold]().Register("SeatSold", seatSold{})
}

// wholeBoxOffice is the box office's rules on the whole log.
func wholeBoxOffice(log []seatSold, c buySeat) ([]seatSold, error) {
	switch {
	case lo.ContainsBy(log, func(e seatSold) bool { return e.Seat == c.Seat }):
		return nil, errSeatTaken
	case lo.CountBy(log, func(e seatSold) bool { return e.Customer == c.Customer }) >= 2:
		return nil, errTwoSeatsMax
	}
	return []seatSold{{Seat: c.Seat, Customer: c.Customer}}, nil
}

func nextPurchase(t *rapid.T, _ []seatSold) ([]seatSold, buySeat) {
	return nil, buySeat{
		Seat:     rapid.SampledFrom([]string{"a1", "a2", "b1", "b2", "c1"}).Draw(t, "seat"),
		Customer: rapid.SampledFrom([]string{"ada", "bob"}).Draw(t, "customer"),
	}
}

func TestDecidesAsOnTheWholeLogHoldsWhenTheQueriesFindTheirEvents(t *testing.T) {
	DecidesAsOnTheWholeLog(t, boxOffice(func(seat string) string { return "seat:" + seat }), boxOfficeCodec(), wholeBoxOffice, nextPurchase, Length(1, 20))
}

// A query that spells the seat's tag otherwise than Tags does finds no
// sale of the seat: the property fails, showing the log with nothing
// marked as the query's.
func TestDecidesAsOnTheWholeLogFindsAQueryThatMissesATag(t *testing.T) {
	r := &recorder{TB: t}
	DecidesAsOnTheWholeLog(r, boxOffice(func(seat string) string { return "seat-" + seat }), boxOfficeCodec(), wholeBoxOffice, nextPurchase, Length(1, 20))
	r.finish()
	out := r.output()
	for _, want := range []string{"on the whole log it is rejected", "seat taken", "item 1: (SeatSold)[seat-", "[items 2] proptest.seatSold{"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the property on a query that misses the seat's sales reported:\n%s\nwant it to contain %q", out, want)
		}
	}
}

// Events that next gives join the log before the command, and a
// rejection that whole gives with another error fails.
func TestDecidesAsOnTheWholeLogTakesGivenEventsAndComparesRejections(t *testing.T) {
	givenSold := func(t *rapid.T, log []seatSold) ([]seatSold, buySeat) {
		if len(log) == 0 {
			return []seatSold{{Seat: "a1", Customer: "cy"}}, buySeat{Seat: "a1", Customer: "ada"}
		}
		return nextPurchase(t, log)
	}
	DecidesAsOnTheWholeLog(t, boxOffice(func(seat string) string { return "seat:" + seat }), boxOfficeCodec(), wholeBoxOffice, givenSold, Length(1, 5))

	otherError := func(log []seatSold, c buySeat) ([]seatSold, error) {
		events, err := wholeBoxOffice(log, c)
		if errors.Is(err, errSeatTaken) {
			err = errors.New("sold out")
		}
		return events, err
	}
	r := &recorder{TB: t}
	DecidesAsOnTheWholeLog(r, boxOffice(func(seat string) string { return "seat:" + seat }), boxOfficeCodec(), otherError, givenSold, Length(1, 5))
	r.finish()
	if out := r.output(); !strings.Contains(out, `rejected with "sold out", on its query's events with "seat taken"`) {
		t.Fatalf("rejections that differ reported:\n%s", out)
	}
}
