// Package lending is a library's lending desk: its copies and its
// members, each a decider of its own, composed with the algebra and
// stored one stream per copy and one per member; and the loans between
// them, decided on dynamic consistency boundaries (docs/dcb.md).
//
// A copy's life in the catalogue (acquired, withdrawn) is the copy's
// alone, and a member's (joined, suspended) the member's: each lives in
// its own stream. A loan is not one thing's: a copy is lent to one member
// at a time, and a member holds at most [MaxLoans] copies, and a checkout
// must keep both rules at once. No stream holds both the copy's loans and
// the member's, and deciding in steps, the copy's then the member's, would
// leave a window where a rule is broken and a step to undo. So a checkout
// is one decision of an annals.DCBRunner on the events of a query,
// [Loans]: the copy's life and loans (tag book:…) OR the member's life
// and loans (tag member:…). Its event, tagged with both, is appended on
// the condition that no event matching the query was appended since the
// decision read it: two checkouts of one copy, or by one member, are
// ordered, and a refused checkout is a rejection that stored nothing.
// [Loans] combines two rules (annals.CombineDCB), each on its own query's
// events: the copy's, [CopyLoans], which decides checkouts and returns,
// and the member's, [MemberLoans], which may refuse a checkout.
// The copies' and members' streams tag their events (annals.WithTags), so
// that the loans' queries see a copy withdrawn or a member suspended.
//
// A process, the clerk, suspends a member at the second late return, and
// a view keeps each member's holdings; both read the streams' events and
// the loans' from the one log.
package lending

import (
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/member"
)

// docs:begin decider

// Decider is the catalogue and the membership as one pure decider: one
// book decider per ISBN and one member decider per member ID, side by
// side.
var Decider = decider.Combine(decider.Many[string](book.Decider), decider.Many[string](member.Decider))

// The desk's commands, events and state, as the algebra builds them: a
// command or an event is for a book or for a member, addressed to one of
// them by its key; the state holds every book's and every member's.
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
