// Package book decides on one copy of a book in a library: the copy is
// lent to one member at a time, until it is returned or the loan is
// cancelled.
//
// Days are numbered from the library's opening, so that the rules and
// their tests need no clock.
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
	// Lend lends the copy to Member until day Due.
	Lend struct {
		Member string
		Due    int
	}
	// Return brings the copy back on day Day.
	Return struct{ Day int }
	// CancelLoan undoes the loan to Member, which the member could not
	// take after all.
	CancelLoan struct {
		Member string
		Reason string
	}
)

func (Lend) isCommand()       {}
func (Return) isCommand()     {}
func (CancelLoan) isCommand() {}

// An Event is what happened to one copy.
type Event interface{ isEvent() }

// Events.
type (
	// Lent: the copy was lent to Member until day Due.
	Lent struct {
		Member string `json:"member"`
		Due    int    `json:"due"`
	}
	// Returned: Member brought the copy back on day Day, after the due
	// day when Late.
	Returned struct {
		Member string `json:"member"`
		Day    int    `json:"day"`
		Late   bool   `json:"late"`
	}
	// LoanCancelled: the loan to Member was undone.
	LoanCancelled struct {
		Member string `json:"member"`
		Reason string `json:"reason"`
	}
)

func (Lent) isEvent()          {}
func (Returned) isEvent()      {}
func (LoanCancelled) isEvent() {}

// State is a copy's state: on the shelf when Member is "".
type State struct {
	Member string `json:"member,omitempty"`
	Due    int    `json:"due,omitempty"`
}

// OnShelf reports whether the copy can be lent.
func (s State) OnShelf() bool { return s.Member == "" }

// Business-rule rejections.
var (
	ErrLent        = errors.New("the copy is lent already")
	ErrOnShelf     = errors.New("the copy is on the shelf")
	ErrOtherMember = errors.New("the copy is lent to another member")
	ErrNoMember    = errors.New("a loan needs a member")
)

// Decider decides on one copy: a copy is lent once, to one member, until
// it comes back.
var Decider = decider.Decider[Command, Event, State]{
	Decide: func(c Command, s State) ([]Event, error) {
		switch c := c.(type) {
		case Lend:
			if c.Member == "" {
				return nil, ErrNoMember
			}
			if !s.OnShelf() {
				return nil, ErrLent
			}
			return []Event{Lent{Member: c.Member, Due: c.Due}}, nil
		case Return:
			if s.OnShelf() {
				return nil, ErrOnShelf
			}
			return []Event{Returned{Member: s.Member, Day: c.Day, Late: c.Day > s.Due}}, nil
		case CancelLoan:
			if s.OnShelf() {
				return nil, ErrOnShelf
			}
			if c.Member != s.Member {
				return nil, ErrOtherMember
			}
			return []Event{LoanCancelled{Member: c.Member, Reason: c.Reason}}, nil
		}
		return nil, fmt.Errorf("book: unknown command %T", c)
	},
	Evolve: func(s State, e Event) State {
		if e, ok := e.(Lent); ok {
			return State{Member: e.Member, Due: e.Due}
		}
		return State{} // returned or cancelled: back on the shelf
	},
}

// Codec stores a copy's events under stable names.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("BookLent", Lent{}).
		Register("BookReturned", Returned{}).
		Register("BookLoanCancelled", LoanCancelled{})
}
