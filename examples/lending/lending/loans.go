package lending

import (
	"errors"
	"fmt"
	"slices"

	"github.com/samber/lo"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/examples/lending/book"
	"github.com/annals-dev/annals/examples/lending/member"
	"github.com/annals-dev/annals/store"
)

// MaxLoans is how many copies a member holds at most.
const MaxLoans = 3

// A LoanCommand lends a copy or takes it back: a decision about a copy
// and its member at once.
type LoanCommand interface {
	// Copy is the ISBN of the copy the command is about.
	Copy() string
}

// Checkout lends the copy ISBN to Member until day Due.
type Checkout struct {
	ISBN, Member string
	Due          int
}

// Return brings the copy ISBN back on day Day.
type Return struct {
	ISBN string
	Day  int
}

func (c Checkout) Copy() string { return c.ISBN }
func (c Return) Copy() string   { return c.ISBN }

// A LoanEvent is what happened to a loan. It names both the copy and the
// member, and carries both their tags.
type LoanEvent interface{ isLoanEvent() }

// Loan events.
type (
	// CheckedOut: the copy ISBN is lent to Member until day Due.
	CheckedOut struct {
		ISBN   string `json:"isbn"`
		Member string `json:"member"`
		Due    int    `json:"due"`
	}
	// Returned: Member brought the copy ISBN back on day Day, after the
	// due day when Late.
	Returned struct {
		ISBN   string `json:"isbn"`
		Member string `json:"member"`
		Day    int    `json:"day"`
		Late   bool   `json:"late,omitempty"`
	}
)

func (CheckedOut) isLoanEvent() {}
func (Returned) isLoanEvent()   {}

// docs:begin log-events
// LogEvent is an event of the library's log: a copy's or a member's,
// from their streams, or a loan's.
type LogEvent = decider.Either[Event, LoanEvent]

// OfDesk is an event of a copy's or a member's stream, as an event of
// the log.
func OfDesk(e Event) LogEvent { return decider.Left[Event, LoanEvent](e) }

// OfLoan is a loan's event, as an event of the log.
func OfLoan(e LoanEvent) LogEvent { return decider.Right[Event](e) }

// LoanCodec stores the loans' events under stable names.
func LoanCodec() *codec.JSON[LoanEvent] {
	return codec.NewJSON[LoanEvent]().
		Register("CopyCheckedOut", CheckedOut{}).
		Register("CopyReturned", Returned{})
}

// Events returns the mapper of the library's log: the copies' and the
// members' events, each read with its key from its stream, and the
// loans' events, which name their copy and member themselves.
func Events() *codec.Sum[LogEvent] {
	desk := codec.NewSum[Event](codec.NewKeyed(BookStreams, book.Codec()), codec.NewKeyed(MemberStreams, member.Codec()))
	return codec.NewSum[LogEvent](desk, LoanCodec())
}

// docs:end log-events

// BookTag and MemberTag are the tags by which queries find the events of
// a copy and of a member.
func BookTag(isbn string) string { return "book:" + isbn }
func MemberTag(id string) string { return "member:" + id }

// Tags returns the tags of an event of the log: a copy's event carries
// the copy's tag, a member's the member's, and a loan's both.
func Tags(e LogEvent) []string {
	if d, ok := e.Left(); ok {
		if b, ok := d.Left(); ok {
			return []string{BookTag(b.Key)}
		}
		m, _ := d.Right()
		return []string{MemberTag(m.Key)}
	}
	switch e, _ := e.Right(); e := e.(type) {
	case CheckedOut:
		return []string{BookTag(e.ISBN), MemberTag(e.Member)}
	case Returned:
		return []string{BookTag(e.ISBN), MemberTag(e.Member)}
	}
	return nil
}

// A loan is decided by two rules, each a decider with a query of its
// own, combined into one decision on one boundary: the copy's, which
// decides the checkout or the return, and the member's, which decides no
// event but may refuse a checkout. Each rule's state is folded from the
// events of its own query only: one copy's, or one member's.

// Loan is a copy's loan: to whom, until which day.
type Loan struct {
	Member string
	Due    int
}

// Copy is one copy as its history shows it: its life in the catalogue,
// as the desk's book decider folds it, and its loan, if it is lent.
type Copy struct {
	Life book.State
	Lent bool
	Loan Loan // when Lent
}

// Patron is one member as their history shows them: their standing, as
// the desk's member decider folds it, and the copies they hold, sorted.
type Patron struct {
	Standing member.State
	Held     []string
}

// Ledger is what a loan is decided on: the copy's history and the
// member's, each folded by its own rule.
type Ledger = decider.Pair[Copy, Patron]

// The rules of loans.
var (
	ErrWithdrawn = errors.New("the copy is withdrawn")
	ErrLent      = errors.New("the copy is lent already")
	ErrSuspended = errors.New("the member is suspended")
	ErrLimit     = fmt.Errorf("a member holds at most %d copies", MaxLoans)
	ErrOnShelf   = errors.New("the copy is on the shelf")
)

// docs:begin checkout
// CopyLoans decides checkouts and returns on the copy's history: a copy
// is lent if it is in the catalogue, not withdrawn and not lent, and
// comes back if it is lent. A copy the library does not know is
// rejected with [book.ErrUnknown].
var CopyLoans = annals.DCBDecider[LoanCommand, LogEvent, Copy]{
	Decider: decider.Decider[LoanCommand, LogEvent, Copy]{
		Decide: func(c LoanCommand, copy Copy) ([]LogEvent, error) {
			switch c := c.(type) {
			case Checkout:
				switch {
				case !copy.Life.Acquired:
					return nil, book.ErrUnknown
				case copy.Life.Withdrawn:
					return nil, ErrWithdrawn
				case copy.Lent:
					return nil, ErrLent
				}
				return []LogEvent{OfLoan(CheckedOut{ISBN: c.ISBN, Member: c.Member, Due: c.Due})}, nil
			case Return:
				if !copy.Lent {
					return nil, ErrOnShelf
				}
				return []LogEvent{OfLoan(Returned{ISBN: c.ISBN, Member: copy.Loan.Member, Day: c.Day, Late: c.Day > copy.Loan.Due})}, nil
			}
			return nil, fmt.Errorf("lending: unknown loan command %T", c)
		},
		Evolve: func(copy Copy, e LogEvent) Copy {
			if d, ok := e.Left(); ok {
				if b, ok := d.Left(); ok {
					copy.Life = book.Decider.Evolve(copy.Life, b.Value)
				}
				return copy
			}
			switch e, _ := e.Right(); e := e.(type) {
			case CheckedOut:
				copy.Lent, copy.Loan = true, Loan{Member: e.Member, Due: e.Due}
			case Returned:
				copy.Lent, copy.Loan = false, Loan{}
			}
			return copy
		},
	},
	Name:  "loan",
	Query: func(c LoanCommand) store.Query { return CopyHistory(c.Copy()) },
	Tags:  Tags,
}

// docs:end checkout

// docs:begin member-limit
// MemberLoans guards checkouts with the member's rule: it decides no
// event, and refuses a checkout by someone who is not a member
// ([member.ErrUnknown]), is suspended, or holds MaxLoans copies already.
// A return frees a place whatever the member's standing: it reads the
// copy's history alone, as the copy's rule does, so that the boundary
// of a return stays the copy's.
var MemberLoans = annals.DCBDecider[LoanCommand, LogEvent, Patron]{
	Decider: decider.Decider[LoanCommand, LogEvent, Patron]{
		Decide: func(c LoanCommand, p Patron) ([]LogEvent, error) {
			if _, ok := c.(Checkout); !ok {
				return nil, nil
			}
			switch {
			case !p.Standing.Joined:
				return nil, member.ErrUnknown
			case p.Standing.Suspended:
				return nil, ErrSuspended
			case len(p.Held) >= MaxLoans:
				return nil, ErrLimit
			}
			return nil, nil
		},
		Evolve: func(p Patron, e LogEvent) Patron {
			if d, ok := e.Left(); ok {
				if m, ok := d.Right(); ok {
					p.Standing = member.Decider.Evolve(p.Standing, m.Value)
				}
				return p
			}
			switch e, _ := e.Right(); e := e.(type) {
			case CheckedOut:
				// A new slice, sorted: the state before stays as it was.
				p.Held = append(slices.Clip(p.Held), e.ISBN)
				slices.Sort(p.Held)
			case Returned:
				p.Held = lo.Without(p.Held, e.ISBN)
			}
			return p
		},
	},
	Query: func(c LoanCommand) store.Query {
		if c, ok := c.(Checkout); ok {
			return MemberHistory(c.Member)
		}
		return CopyHistory(c.Copy())
	},
	Tags: Tags,
}

// docs:end member-limit

// The type names of the events that loans read, as the codecs register
// them.
var (
	copyTypes   = []string{"BookAcquired", "BookWithdrawn", "CopyCheckedOut", "CopyReturned"}
	memberTypes = []string{"MemberJoined", "MemberSuspended", "CopyCheckedOut", "CopyReturned"}
)

// docs:begin loans

// CopyHistory is the query of what a copy's loans depend on: its life in
// the catalogue and its loans.
func CopyHistory(isbn string) store.Query {
	return store.QueryItems(store.QueryItem{Types: copyTypes, Tags: []string{BookTag(isbn)}})
}

// MemberHistory is the query of what a member's loans depend on: their
// standing and their loans.
func MemberHistory(id string) store.Query {
	return store.QueryItems(store.QueryItem{Types: memberTypes, Tags: []string{MemberTag(id)}})
}

// Loans decides loans on both rules at once: its query is the copy's
// history OR, for a checkout, the member's, so that one append condition
// covers both rules, and each rule sees only its own query's events. The
// copy's rule is checked first. A return reads the copy's history alone.
var Loans = annals.CombineDCB(CopyLoans, MemberLoans)

// docs:end loans
