package postgres_test

import (
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
)

// A tally whose state holds a slice and a map, so that a snapshot must
// round-trip more than a number through the snapshot table.
type (
	tallyCmd struct {
		Add  int
		Mark string
	}
	tallyEvent interface{ isTallyEvent() }
	added      struct {
		N int `json:"n"`
	}
	marked struct {
		Mark string `json:"mark"`
	}
	tally struct {
		Total int            `json:"total"`
		Marks []string       `json:"marks"`
		Count map[string]int `json:"count"`
	}
)

func (added) isTallyEvent()  {}
func (marked) isTallyEvent() {}

type belowZero struct{}

func (belowZero) Error() string { return "the total would go below zero" }

var tallyDecider = decider.Decider[tallyCmd, tallyEvent, tally]{
	Decide: func(c tallyCmd, s tally) ([]tallyEvent, error) {
		if s.Total+c.Add < 0 {
			return nil, belowZero{}
		}
		var out []tallyEvent
		if c.Add != 0 {
			out = append(out, added{N: c.Add})
		}
		if c.Mark != "" {
			out = append(out, marked{Mark: c.Mark})
		}
		return out, nil
	},
	Evolve: func(s tally, e tallyEvent) tally {
		switch e := e.(type) {
		case added:
			s.Total += e.N
		case marked:
			s.Marks = append(slices.Clip(s.Marks), e.Mark)
			count := maps.Clone(s.Count)
			if count == nil {
				count = map[string]int{}
			}
			count[e.Mark]++
			s.Count = count
		}
		return s
	},
}

var tallyCommand = rapid.Custom(func(t *rapid.T) tallyCmd {
	return tallyCmd{
		Add:  rapid.IntRange(-20, 40).Draw(t, "add"),
		Mark: rapid.SampledFrom([]string{"", "", "a", "b", "ü"}).Draw(t, "mark"),
	}
})

// For any history and snapshot interval, loading from the latest
// snapshot in PostgreSQL and the events after it equals a full replay.
func TestSnapshotEqualsReplay(t *testing.T) {
	t.Parallel()
	s := open(t)
	events := store.NewJSONCodec[tallyEvent]().Register("Added", added{}).Register("Marked", marked{})
	state := store.NewJSONCodec[tally]().Register("Tally", tally{})
	proptest.SnapshotEqualsReplay(t, s, s, tallyDecider, events, state, tallyCommand)
}
