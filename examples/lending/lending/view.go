package lending

import (
	"slices"

	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/view"
)

// Holdings is the read model of one member: the copies they hold, and
// whether they are suspended.
type Holdings struct {
	Books     []string `json:"books,omitempty"`
	Suspended bool     `json:"suspended,omitempty"`
}

// HoldingsView folds a member's events, from the member's stream and from
// loans alike, into their holdings; the copies' own events change nothing
// in it.
var HoldingsView = view.View[Holdings, LogEvent]{
	Evolve: func(h Holdings, e LogEvent) Holdings {
		if d, ok := e.Left(); ok {
			if m, ok := d.Right(); ok {
				if _, ok := m.Value.(member.Suspended); ok {
					h.Suspended = true
				}
			}
			return h
		}
		switch e, _ := e.Right(); e := e.(type) {
		case CheckedOut:
			h.Books = append(slices.Clip(h.Books), e.ISBN)
		case Returned:
			h.Books = slices.DeleteFunc(slices.Clone(h.Books), func(isbn string) bool { return isbn == e.ISBN })
			if len(h.Books) == 0 {
				h.Books = nil
			}
		}
		return h
	},
}
