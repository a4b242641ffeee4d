package proptest

import (
	"errors"
	"strings"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// A copy's life is stored one stream per copy (a keyed instance), and a
// loan is decided on the copy's events, found by its tag.
type (
	acquired struct{}
	lent     struct{ ISBN string }
	lost     struct{ ISBN string } // not registered: the mapper refuses it
	loanEvt  interface{ isbn() string }
	lend     struct{ ISBN string }
	shelfLog = decider.Either[decider.Keyed[string, acquired], loanEvt]
)

func (e lent) isbn() string { return e.ISBN }
func (e lost) isbn() string { return e.ISBN }

var errNoCopy = errors.New("no such copy")

func shelfMapper() *codec.Sum[shelfLog] {
	copies := codec.NewKeyed(codec.StreamPrefix[string]("copy-"), codec.NewJSON[acquired]().Register("Acquired", acquired{}))
	return codec.NewSum[shelfLog](copies, codec.NewJSON[loanEvt]().Register("Lent", lent{}))
}

var lending = annals.DCBDecider[lend, shelfLog, bool]{
	Decider: decider.Decider[lend, shelfLog, bool]{
		Decide: func(c lend, known bool) ([]shelfLog, error) {
			if !known {
				return nil, errNoCopy
			}
			return []shelfLog{decider.Right[decider.Keyed[string, acquired], loanEvt](lent(c))}, nil
		},
		Evolve: func(known bool, e shelfLog) bool {
			_, isCopy := e.Left()
			return known || isCopy
		},
	},
	Query: func(c lend) store.Query { return store.QueryItems(store.QueryItem{Tags: []string{"copy:" + c.ISBN}}) },
	Tags: func(e shelfLog) []string {
		if c, ok := e.Left(); ok {
			return []string{"copy:" + c.Key}
		}
		l, _ := e.Right()
		return []string{"copy:" + l.isbn()}
	},
}

func copyAcquired(isbn string) shelfLog {
	return decider.Left[decider.Keyed[string, acquired], loanEvt](decider.Keyed[string, acquired]{Key: isbn})
}

// A given event of a keyed instance is placed in its instance's stream,
// as a runner places it, so that the sum's keyed part encodes it.
func TestForDCBPlacesAnInstancesEventInItsStream(t *testing.T) {
	ForDCB(t, lending, shelfMapper()).
		Given(copyAcquired("dune"), copyAcquired("emma")).
		When(lend{ISBN: "dune"}).
		Then(decider.Right[decider.Keyed[string, acquired], loanEvt](lent{ISBN: "dune"}))
	ForDCB(t, lending, shelfMapper()).
		Given(copyAcquired("emma")).
		When(lend{ISBN: "dune"}).
		ThenError(errNoCopy)
}

// A given event the mapper cannot encode is the specification's fault:
// Then and ThenError say the history cannot be read, and ThenError does
// not pass because the error matches its target.
func TestForDCBTellsAHistoryItCannotReadFromARejection(t *testing.T) {
	unreadable := decider.Right[decider.Keyed[string, acquired], loanEvt](lost{ISBN: "dune"})
	_, encodeErr := shelfMapper().ToEvent(t.Context(), codec.Placement{StreamID: "spec", Version: 1}, unreadable, store.Metadata{})
	if encodeErr == nil {
		t.Fatal("the mapper encodes an unregistered event")
	}
	for name, then := range map[string]func(*Spec[lend, shelfLog, bool]){
		"Then":      func(s *Spec[lend, shelfLog, bool]) { s.Then() },
		"ThenError": func(s *Spec[lend, shelfLog, bool]) { s.ThenError(encodeErr) },
	} {
		rec := &recorder{TB: t}
		then(ForDCB(rec, lending, shelfMapper()).Given(copyAcquired("dune"), unreadable).When(lend{ISBN: "dune"}))
		rec.finish()
		if out := rec.output(); !strings.Contains(out, "the history cannot be read") || strings.Contains(out, "rejected") {
			t.Errorf("%s on a history the mapper cannot encode reported:\n%s\nwant that the history cannot be read", name, out)
		}
	}
}
