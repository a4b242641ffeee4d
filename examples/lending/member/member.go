// Package member decides on one member of a library: a member holds at
// most three books at a time, and borrows nothing while suspended.
package member

import (
	"errors"
	"fmt"
	"slices"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// MaxLoans is how many books a member holds at most.
const MaxLoans = 3

// A Command is sent to one member.
type Command interface{ isCommand() }

// Commands.
type (
	// Borrow takes the book ISBN, lent to the member.
	Borrow struct{ ISBN string }
	// GiveBack gives the book ISBN back.
	GiveBack struct{ ISBN string }
	// Suspend stops the member from borrowing.
	Suspend struct{ Reason string }
)

func (Borrow) isCommand()   {}
func (GiveBack) isCommand() {}
func (Suspend) isCommand()  {}

// An Event is what happened to one member.
type Event interface{ isEvent() }

// Events.
type (
	// Borrowed: the member holds the book ISBN.
	Borrowed struct {
		ISBN string `json:"isbn"`
	}
	// BorrowRefused: the member may not hold the book ISBN, for Reason.
	// A refusal is an event, not a rejection, because the checkout that
	// lent the book must hear of it to undo the loan.
	BorrowRefused struct {
		ISBN   string `json:"isbn"`
		Reason string `json:"reason"`
	}
	// GaveBack: the member no longer holds the book ISBN.
	GaveBack struct {
		ISBN string `json:"isbn"`
	}
	// Suspended: the member may borrow no more.
	Suspended struct {
		Reason string `json:"reason"`
	}
)

func (Borrowed) isEvent()      {}
func (BorrowRefused) isEvent() {}
func (GaveBack) isEvent()      {}
func (Suspended) isEvent()     {}

// State is a member's state.
type State struct {
	Loans     []string `json:"loans,omitempty"`
	Suspended bool     `json:"suspended,omitempty"`
}

// Reasons a borrowing is refused.
const (
	ReasonSuspended = "suspended"
	ReasonLimit     = "three loans already"
)

// Business-rule rejections.
var (
	ErrHeld    = errors.New("the member holds this book already")
	ErrNotHeld = errors.New("the member does not hold this book")
	ErrNoBook  = errors.New("a loan needs a book")
)

// Decider decides on one member.
var Decider = decider.Decider[Command, Event, State]{
	Decide: func(c Command, s State) ([]Event, error) {
		switch c := c.(type) {
		// docs:begin borrow
		case Borrow:
			switch {
			case c.ISBN == "":
				return nil, ErrNoBook
			case slices.Contains(s.Loans, c.ISBN):
				return nil, ErrHeld
			case s.Suspended:
				return []Event{BorrowRefused{ISBN: c.ISBN, Reason: ReasonSuspended}}, nil
			case len(s.Loans) >= MaxLoans:
				return []Event{BorrowRefused{ISBN: c.ISBN, Reason: ReasonLimit}}, nil
			}
			return []Event{Borrowed{ISBN: c.ISBN}}, nil
		// docs:end borrow
		case GiveBack:
			if !slices.Contains(s.Loans, c.ISBN) {
				return nil, ErrNotHeld
			}
			return []Event{GaveBack{ISBN: c.ISBN}}, nil
		case Suspend:
			if s.Suspended {
				return nil, nil // suspended already: nothing new
			}
			return []Event{Suspended{Reason: c.Reason}}, nil
		}
		return nil, fmt.Errorf("member: unknown command %T", c)
	},
	Evolve: func(s State, e Event) State {
		switch e := e.(type) {
		case Borrowed:
			s.Loans = append(slices.Clip(s.Loans), e.ISBN)
		case GaveBack:
			s.Loans = slices.DeleteFunc(slices.Clone(s.Loans), func(isbn string) bool { return isbn == e.ISBN })
			if len(s.Loans) == 0 {
				s.Loans = nil
			}
		case Suspended:
			s.Suspended = true
		}
		return s
	},
}

// Codec stores a member's events under stable names.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("MemberBorrowed", Borrowed{}).
		Register("MemberBorrowRefused", BorrowRefused{}).
		Register("MemberGaveBack", GaveBack{}).
		Register("MemberSuspended", Suspended{})
}
