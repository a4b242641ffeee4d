package lending

import (
	"slices"

	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/view"
)

// Loans is the read model of one member's loans.
type Loans struct {
	Books     []string `json:"books,omitempty"`
	Refused   int      `json:"refused,omitempty"`
	Suspended bool     `json:"suspended,omitempty"`
}

// LoansView folds a member's events into their loans; the copies' events
// change nothing in it.
var LoansView = view.View[Loans, Event]{
	Evolve: func(l Loans, e Event) Loans {
		ev, ok := e.Right()
		if !ok {
			return l
		}
		switch me := ev.Value.(type) {
		case member.Borrowed:
			l.Books = append(slices.Clip(l.Books), me.ISBN)
		case member.GaveBack:
			l.Books = slices.DeleteFunc(slices.Clone(l.Books), func(isbn string) bool { return isbn == me.ISBN })
			if len(l.Books) == 0 {
				l.Books = nil
			}
		case member.BorrowRefused:
			l.Refused++
		case member.Suspended:
			l.Suspended = true
		}
		return l
	},
}
