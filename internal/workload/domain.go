package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// Commands.
type (
	// Command is a command to an account.
	Command interface{ isCommand() }
	// Open opens an account.
	Open struct{ Owner string }
	// Deposit puts money on an open account.
	Deposit struct {
		Amount    int64
		Note      string
		Reference string
	}
)

func (Open) isCommand()    {}
func (Deposit) isCommand() {}

// Events, stored as JSON of about a hundred bytes.
type (
	// Event is something that happened to an account.
	Event interface{ isEvent() }
	// Opened says an account was opened.
	Opened struct {
		Owner    string `json:"owner"`
		Currency string `json:"currency"`
	}
	// Deposited says money was put on an account.
	Deposited struct {
		Amount    int64  `json:"amount"`
		Note      string `json:"note"`
		Reference string `json:"reference"`
	}
)

func (Opened) isEvent()    {}
func (Deposited) isEvent() {}

// Type names of the events and of the state, as stored.
const (
	TypeOpened    = "Opened"
	TypeDeposited = "Deposited"
	TypeAccount   = "Account"
)

// Account is the state of an account.
type Account struct {
	Owner         string `json:"owner"`
	Currency      string `json:"currency"`
	Balance       int64  `json:"balance"`
	Deposits      int    `json:"deposits"`
	LastReference string `json:"last_reference"`
}

// Rejections of Decide.
var (
	ErrOpen    = errors.New("account already open")
	ErrNotOpen = errors.New("account not open")
)

// Decide is the account's decision, a plain function that the library's
// decider and the raw baselines both call.
func Decide(c Command, a Account) ([]Event, error) {
	switch c := c.(type) {
	case Open:
		if a.Owner != "" {
			return nil, ErrOpen
		}
		return []Event{Opened{Owner: c.Owner, Currency: "EUR"}}, nil
	case Deposit:
		if a.Owner == "" {
			return nil, ErrNotOpen
		}
		return []Event{Deposited{Amount: c.Amount, Note: c.Note, Reference: c.Reference}}, nil
	}
	return nil, fmt.Errorf("unknown command %T", c)
}

// Evolve is the account's evolution, shared like Decide.
func Evolve(a Account, e Event) Account {
	switch e := e.(type) {
	case Opened:
		a.Owner, a.Currency = e.Owner, e.Currency
	case Deposited:
		a.Balance += e.Amount
		a.Deposits++
		a.LastReference = e.Reference
	}
	return a
}

// Decider returns the account decider.
func Decider() decider.Decider[Command, Event, Account] {
	return decider.Decider[Command, Event, Account]{Decide: Decide, Evolve: Evolve}
}

// Codec returns the library's codec of the events.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().Register(TypeOpened, Opened{}).Register(TypeDeposited, Deposited{})
}

// StateCodec returns the library's codec of the state, for snapshots.
func StateCodec() *codec.JSON[Account] {
	return codec.NewJSON[Account]().Register(TypeAccount, Account{})
}

// EncodeEvent is the raw baselines' encoder: the type name and JSON of an
// event, as the codec writes them, without the codec.
func EncodeEvent(e Event) (string, []byte, error) {
	var typ string
	switch e.(type) {
	case Opened:
		typ = TypeOpened
	case Deposited:
		typ = TypeDeposited
	default:
		return "", nil, fmt.Errorf("encode %T: not an account event", e)
	}
	data, err := json.Marshal(e)
	return typ, data, err
}

// DecodeEvent is the raw baselines' decoder: the JSON of a stored event
// into the same structs the codec decodes it into, without the codec.
func DecodeEvent(typ string, data []byte) (Event, error) {
	switch typ {
	case TypeOpened:
		var e Opened
		err := json.Unmarshal(data, &e)
		return e, err
	case TypeDeposited:
		var e Deposited
		err := json.Unmarshal(data, &e)
		return e, err
	}
	return nil, fmt.Errorf("decode %q: not an account event", typ)
}

// StreamID names the account that operation i of a workload with
// perStream commands per stream works on.
func StreamID(i, perStream int) string {
	return "account-" + strconv.Itoa(i/perStream)
}

// CommandFor returns the i-th command of an account's life: it opens,
// then deposits.
func CommandFor(i int) Command {
	if i == 0 {
		return Open{Owner: "Ada Lovelace"}
	}
	return Deposit{Amount: int64(i%997 + 1), Note: "monthly salary", Reference: "ref-" + strconv.Itoa(i)}
}

// HistoryEvent returns the event at version v (1-based) of an account's
// history: the events its commands decide.
func HistoryEvent(v int) Event {
	events, _ := Decide(CommandFor(v-1), Account{Owner: ownerBefore(v)})
	return events[0]
}

func ownerBefore(v int) string {
	if v == 1 {
		return ""
	}
	return "Ada Lovelace"
}

// AccountAt returns the state of an account after the first n events of
// its history, folded without the library.
func AccountAt(n int) Account {
	var a Account
	for v := 1; v <= n; v++ {
		a = Evolve(a, HistoryEvent(v))
	}
	return a
}
