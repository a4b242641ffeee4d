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

// Ledger is what a loan decision reads: the copies and members its
// query's events are about, their lives as the desk's [Decider] folds
// them, and the copies they have lent or borrowed. Only the command's own
// copy and member are complete in it, and Decide looks at nothing else.
type Ledger struct {
	Desk  State           // the copies' and members' lives
	Loans map[string]Loan // the copies lent, by ISBN
}

// Loan is a copy's loan: to whom, until which day.
type Loan struct {
	Member string
	Due    int
}

// Held returns the copies the member id holds, sorted.
func (l Ledger) Held(id string) []string {
	return slices.Sorted(slices.Values(lo.Keys(lo.PickBy(l.Loans, func(_ string, loan Loan) bool { return loan.Member == id }))))
}

// The rules of loans.
var (
	ErrWithdrawn = errors.New("the copy is withdrawn")
	ErrLent      = errors.New("the copy is lent already")
	ErrSuspended = errors.New("the member is suspended")
	ErrLimit     = fmt.Errorf("a member holds at most %d copies", MaxLoans)
	ErrOnShelf   = errors.New("the copy is on the shelf")
)

// LoanDecider decides checkouts and returns. A checkout keeps the copy's
// rule (in the catalogue, not withdrawn, not lent) and the member's (a
// member, not suspended, under the limit) together, in one decision; a
// copy or member the library does not know is rejected with
// [book.ErrUnknown] or [member.ErrUnknown].
var LoanDecider = decider.Decider[LoanCommand, LogEvent, Ledger]{
	Decide: func(c LoanCommand, l Ledger) ([]LogEvent, error) {
		switch c := c.(type) {
		// docs:begin checkout
		case Checkout:
			copy, who := l.Desk.First[c.ISBN], l.Desk.Second[c.Member]
			_, lent := l.Loans[c.ISBN]
			switch {
			case !copy.Acquired:
				return nil, book.ErrUnknown
			case copy.Withdrawn:
				return nil, ErrWithdrawn
			case lent:
				return nil, ErrLent
			case !who.Joined:
				return nil, member.ErrUnknown
			case who.Suspended:
				return nil, ErrSuspended
			case len(l.Held(c.Member)) >= MaxLoans:
				return nil, ErrLimit
			}
			return []LogEvent{OfLoan(CheckedOut{ISBN: c.ISBN, Member: c.Member, Due: c.Due})}, nil
			// docs:end checkout
		case Return:
			loan, lent := l.Loans[c.ISBN]
			if !lent {
				return nil, ErrOnShelf
			}
			return []LogEvent{OfLoan(Returned{ISBN: c.ISBN, Member: loan.Member, Day: c.Day, Late: c.Day > loan.Due})}, nil
		}
		return nil, fmt.Errorf("lending: unknown loan command %T", c)
	},
	Evolve: func(l Ledger, e LogEvent) Ledger {
		// Evolve is pure: the desk's decider copies its maps, and this
		// one copies Loans.
		if d, ok := e.Left(); ok {
			l.Desk = Decider.Evolve(l.Desk, d)
			return l
		}
		switch e, _ := e.Right(); e := e.(type) {
		case CheckedOut:
			l.Loans = lo.Assign(l.Loans, map[string]Loan{e.ISBN: {Member: e.Member, Due: e.Due}})
		case Returned:
			l.Loans = lo.OmitByKeys(l.Loans, []string{e.ISBN})
		}
		return l
	},
	Initial: func() Ledger { return Ledger{Desk: Decider.InitialState(), Loans: map[string]Loan{}} },
}

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

// Loans is the loan decider with its consistency boundary. A checkout
// reads its copy's history and its member's, so that one append
// condition covers both rules; a return reads its copy's alone.
var Loans = annals.DCBDecider[LoanCommand, LogEvent, Ledger]{
	Decider: LoanDecider,
	Name:    "loan",
	Query: func(c LoanCommand) store.Query {
		if c, ok := c.(Checkout); ok {
			return CopyHistory(c.ISBN).Or(MemberHistory(c.Member))
		}
		return CopyHistory(c.Copy())
	},
	Tags: Tags,
}

// docs:end loans
