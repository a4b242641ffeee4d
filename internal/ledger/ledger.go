// Package ledger is a small domain for the stores' property tests: a
// ledger whose state holds a slice and a map, so that a snapshot must
// round-trip more than a number, with its codecs and a generator of
// commands. The memory, SQLite and PostgreSQL tests of snapshot + tail
// equals replay all run on it.
package ledger

import (
	"errors"
	"maps"
	"slices"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// Command books an amount (negative to take it out) and, when Tag is not
// empty, tags the ledger.
type Command struct {
	Amount int
	Tag    string
}

// Event is Booked or Tagged.
type Event interface{ isLedgerEvent() }

// Booked is an amount booked.
type Booked struct {
	Amount int `json:"amount"`
}

// Tagged is a tag added.
type Tagged struct {
	Tag string `json:"tag"`
}

func (Booked) isLedgerEvent() {}
func (Tagged) isLedgerEvent() {}

// State is the balance, the tags in order, and how often each was given.
type State struct {
	Balance int            `json:"balance"`
	Tags    []string       `json:"tags"`
	Counts  map[string]int `json:"counts"`
}

// ErrOverdrawn rejects a command that would take the balance below zero.
var ErrOverdrawn = errors.New("the ledger would be overdrawn")

// Decider books and tags; it never shares a slice or a map between two
// states, so that a state kept by a cache or a snapshot stays as it was.
var Decider = decider.Decider[Command, Event, State]{
	Decide: func(c Command, s State) ([]Event, error) {
		if s.Balance+c.Amount < 0 {
			return nil, ErrOverdrawn
		}
		var out []Event
		if c.Amount != 0 {
			out = append(out, Booked{Amount: c.Amount})
		}
		if c.Tag != "" {
			out = append(out, Tagged{Tag: c.Tag})
		}
		return out, nil
	},
	Evolve: func(s State, e Event) State {
		switch e := e.(type) {
		case Booked:
			s.Balance += e.Amount
		case Tagged:
			s.Tags = append(slices.Clip(s.Tags), e.Tag)
			counts := maps.Clone(s.Counts)
			if counts == nil {
				counts = map[string]int{}
			}
			counts[e.Tag]++
			s.Counts = counts
		}
		return s
	},
}

// Commands generates commands: amounts that are sometimes rejected, and
// tags that are often empty and sometimes not ASCII.
var Commands = rapid.Custom(func(t *rapid.T) Command {
	return Command{
		Amount: rapid.IntRange(-30, 50).Draw(t, "amount"),
		Tag:    rapid.SampledFrom([]string{"", "", "rent", "food", "Zürich"}).Draw(t, "tag"),
	}
})

// Events returns the codec of the ledger's events.
func Events() *codec.JSON[Event] {
	return codec.NewJSON[Event]().Register("Booked", Booked{}).Register("Tagged", Tagged{})
}

// States returns the codec of the ledger's state, for snapshots.
func States() *codec.JSON[State] {
	return codec.NewJSON[State]().Register("Ledger", State{})
}
