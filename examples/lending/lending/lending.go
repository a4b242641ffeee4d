// Package lending is a library's lending desk: its books and its members,
// each a decider of its own, composed with the algebra and run on the
// store one stream per book and one per member.
//
// A checkout touches a copy and a member, two streams that no one append
// covers. So it is decided in steps, each one stream's atomic append, and
// a process finishes the work or undoes it: the copy is lent first (a copy
// is lent once, which its stream's optimistic concurrency enforces
// against every rival checkout), then the member borrows it; when the
// member may not (three loans already, or suspended), the process cancels
// the loan, a compensating command, and the copy is back on the shelf.
// The same process gives a returned copy back to its member, and suspends
// a member after two late returns. A view keeps each member's loans.
package lending

import (
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/member"
)

// docs:begin decider

// Decider is the lending desk as one pure decider: one book decider per
// ISBN and one member decider per member ID, side by side.
var Decider = decider.Combine(decider.Many[string](book.Decider), decider.Many[string](member.Decider))

// The lending desk's commands, events and state, as the algebra builds
// them: a command or an event is for a book or for a member, addressed to
// one of them by its key; the state holds every book's and every
// member's.
type (
	Command = decider.Either[decider.Keyed[string, book.Command], decider.Keyed[string, member.Command]]
	Event   = decider.Either[decider.Keyed[string, book.Event], decider.Keyed[string, member.Event]]
	State   = decider.Pair[map[string]book.State, map[string]member.State]
)

// docs:end decider

// docs:begin to-book

// ToBook addresses a command to the copy isbn.
func ToBook(isbn string, c book.Command) Command {
	return decider.Left[decider.Keyed[string, book.Command], decider.Keyed[string, member.Command]](decider.Keyed[string, book.Command]{Key: isbn, Value: c})
}

// docs:end to-book

// ToMember addresses a command to the member id.
func ToMember(id string, c member.Command) Command {
	return decider.Right[decider.Keyed[string, book.Command]](decider.Keyed[string, member.Command]{Key: id, Value: c})
}

// OfBook is an event of the copy isbn.
func OfBook(isbn string, e book.Event) Event {
	return decider.Left[decider.Keyed[string, book.Event], decider.Keyed[string, member.Event]](decider.Keyed[string, book.Event]{Key: isbn, Value: e})
}

// OfMember is an event of the member id.
func OfMember(id string, e member.Event) Event {
	return decider.Right[decider.Keyed[string, book.Event]](decider.Keyed[string, member.Event]{Key: id, Value: e})
}

// Checkout is the first step of lending the copy isbn to a member until
// day due: the copy's. The checkout process does the rest.
func Checkout(isbn, memberID string, due int) Command {
	return ToBook(isbn, book.Lend{Member: memberID, Due: due})
}

// Return brings the copy isbn back on day day; the checkout process gives
// it back to its member.
func Return(isbn string, day int) Command { return ToBook(isbn, book.Return{Day: day}) }
