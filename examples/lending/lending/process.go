package lending

import (
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
)

// SuspendAfter is how many late returns suspend a member.
const SuspendAfter = 2

// Borrower is what the clerk knows of one member.
type Borrower struct {
	LateReturns int `json:"late_returns"`
}

// docs:begin clerk

// Clerk is the checkout process, one instance per member. It finishes a
// checkout that the copy accepted, undoes one the member refused, gives a
// returned copy back to its member, and suspends a member at the second
// late return.
var Clerk = saga.Process[Borrower, Event, Command]{
	React: func(b Borrower, e Event) []Command {
		if ev, ok := e.Left(); ok {
			switch lent := ev.Value.(type) {
			case book.Lent:
				// The copy is the member's: now the member takes it.
				return []Command{ToMember(lent.Member, member.Borrow{ISBN: ev.Key})}
			case book.Returned:
				cs := []Command{ToMember(lent.Member, member.GiveBack{ISBN: ev.Key})}
				if lent.Late && b.LateReturns+1 == SuspendAfter {
					cs = append(cs, ToMember(lent.Member, member.Suspend{Reason: "two late returns"}))
				}
				return cs
			}
			return nil
		}
		ev, _ := e.Right()
		if refused, ok := ev.Value.(member.BorrowRefused); ok {
			// The second step was refused: compensate the first.
			return []Command{ToBook(refused.ISBN, book.CancelLoan{Member: ev.Key, Reason: refused.Reason})}
		}
		return nil
	},
	// docs:end clerk
	Evolve: func(b Borrower, e Event) Borrower {
		if ev, ok := e.Left(); ok {
			if r, ok := ev.Value.(book.Returned); ok && r.Late {
				b.LateReturns++
			}
		}
		return b
	},
}

// ByMember says which member an event concerns: the key of a member's
// event, the member a copy's event names.
func ByMember(_ store.Record, e Event) (string, bool) {
	if ev, ok := e.Left(); ok {
		switch be := ev.Value.(type) {
		case book.Lent:
			return be.Member, true
		case book.Returned:
			return be.Member, true
		case book.LoanCancelled:
			return be.Member, true
		}
		return "", false
	}
	ev, _ := e.Right()
	return ev.Key, true
}
