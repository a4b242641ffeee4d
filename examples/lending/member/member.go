// Package member decides on one member of a library: a member joins
// once, and may be suspended, after which they borrow nothing.
//
// How many copies a member holds is not the member's alone to decide: a
// loan is the copy's too, and package lending decides it on both at once.
package member

import (
	"errors"
	"fmt"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// A Command is sent to one member.
type Command interface{ isCommand() }

// Commands.
type (
	// Join makes Name a member of the library.
	Join struct{ Name string }
	// Suspend stops the member from borrowing, for Reason.
	Suspend struct{ Reason string }
)

func (Join) isCommand()    {}
func (Suspend) isCommand() {}

// An Event is what happened to one member.
type Event interface{ isEvent() }

// Events.
type (
	// Joined: Name is a member of the library.
	Joined struct {
		Name string `json:"name"`
	}
	// Suspended: the member may borrow no more, for Reason.
	Suspended struct {
		Reason string `json:"reason"`
	}
)

func (Joined) isEvent()    {}
func (Suspended) isEvent() {}

// State is a member's standing.
type State struct {
	Name      string `json:"name,omitempty"`
	Joined    bool   `json:"joined,omitempty"`
	Suspended bool   `json:"suspended,omitempty"`
}

// Business-rule rejections.
var (
	ErrUnknown = errors.New("the library has no such member")
	ErrJoined  = errors.New("the member has joined already")
	ErrNoName  = errors.New("a member needs a name")
)

// Decider decides on one member.
var Decider = decider.Decider[Command, Event, State]{
	Decide: func(c Command, s State) ([]Event, error) {
		switch c := c.(type) {
		case Join:
			switch {
			case c.Name == "":
				return nil, ErrNoName
			case s.Joined:
				return nil, ErrJoined
			}
			return []Event{Joined{Name: c.Name}}, nil
		case Suspend:
			switch {
			case !s.Joined:
				return nil, ErrUnknown
			case s.Suspended:
				return nil, nil // suspended already: nothing new
			}
			return []Event{Suspended{Reason: c.Reason}}, nil
		}
		return nil, fmt.Errorf("member: unknown command %T", c)
	},
	Evolve: func(s State, e Event) State {
		switch e := e.(type) {
		case Joined:
			s.Name, s.Joined = e.Name, true
		case Suspended:
			s.Suspended = true
		}
		return s
	},
}

// Codec stores a member's events under stable names.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("MemberJoined", Joined{}).
		Register("MemberSuspended", Suspended{})
}
