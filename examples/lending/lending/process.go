package lending

import (
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

// Clerk is the library's process, one instance per member: at a member's
// second late return, it suspends the member, on the member's stream,
// where the queries of later checkouts see it.
var Clerk = saga.Process[Borrower, LogEvent, Command]{
	React: func(b Borrower, e LogEvent) []Command {
		if r, ok := lateReturn(e); ok && b.LateReturns+1 == SuspendAfter {
			return []Command{ToMember(r.Member, member.Suspend{Reason: "two late returns"})}
		}
		return nil
	},
	Evolve: func(b Borrower, e LogEvent) Borrower {
		if _, ok := lateReturn(e); ok {
			b.LateReturns++
		}
		return b
	},
}

func lateReturn(e LogEvent) (Returned, bool) {
	l, _ := e.Right()
	r, ok := l.(Returned)
	return r, ok && r.Late
}

// ByMember says which member an event concerns: the key of a member's
// event, the member a loan's event names; a copy's own events concern
// no member.
func ByMember(_ store.Record, e LogEvent) (string, bool) {
	if d, ok := e.Left(); ok {
		m, ok := d.Right()
		return m.Key, ok
	}
	switch e, _ := e.Right(); e := e.(type) {
	case CheckedOut:
		return e.Member, true
	case Returned:
		return e.Member, true
	}
	return "", false
}
