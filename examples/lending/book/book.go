// Package book decides on one copy of a book in a library's catalogue:
// a copy is acquired once, with its title, and may be withdrawn from
// circulation.
//
// Whether the copy is lent is not the copy's alone to decide: a loan is
// the member's too, and package lending decides it on both at once.
package book

import (
	"errors"
	"fmt"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// A Command is sent to one copy.
type Command interface{ isCommand() }

// Commands.
type (
	// Acquire adds the copy, a copy of Title, to the catalogue.
	Acquire struct{ Title string }
	// Withdraw takes the copy out of circulation, for Reason: it is not
	// lent again.
	Withdraw struct{ Reason string }
)

func (Acquire) isCommand()  {}
func (Withdraw) isCommand() {}

// An Event is what happened to one copy.
type Event interface{ isEvent() }

// Events.
type (
	// Acquired: the copy, a copy of Title, is in the catalogue.
	Acquired struct {
		Title string `json:"title"`
	}
	// Withdrawn: the copy is out of circulation, for Reason.
	Withdrawn struct {
		Reason string `json:"reason"`
	}
)

func (Acquired) isEvent()  {}
func (Withdrawn) isEvent() {}

// State is a copy's place in the catalogue.
type State struct {
	Title     string `json:"title,omitempty"`
	Acquired  bool   `json:"acquired,omitempty"`
	Withdrawn bool   `json:"withdrawn,omitempty"`
}

// Business-rule rejections.
var (
	ErrUnknown  = errors.New("the library has no such copy")
	ErrAcquired = errors.New("the copy is in the catalogue already")
	ErrNoTitle  = errors.New("a copy needs a title")
)

// Decider decides on one copy: acquired once, withdrawn at most once.
var Decider = decider.Decider[Command, Event, State]{
	Decide: func(c Command, s State) ([]Event, error) {
		switch c := c.(type) {
		// docs:begin book
		case Acquire:
			switch {
			case c.Title == "":
				return nil, ErrNoTitle
			case s.Acquired:
				return nil, ErrAcquired
			}
			return []Event{Acquired{Title: c.Title}}, nil
		case Withdraw:
			switch {
			case !s.Acquired:
				return nil, ErrUnknown
			case s.Withdrawn:
				return nil, nil // withdrawn already: nothing new
			}
			return []Event{Withdrawn{Reason: c.Reason}}, nil
			// docs:end book
		}
		return nil, fmt.Errorf("book: unknown command %T", c)
	},
	Evolve: func(s State, e Event) State {
		switch e := e.(type) {
		case Acquired:
			s.Title, s.Acquired = e.Title, true
		case Withdrawn:
			s.Withdrawn = true
		}
		return s
	},
}

// Codec stores a copy's events under stable names.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("BookAcquired", Acquired{}).
		Register("BookWithdrawn", Withdrawn{})
}
