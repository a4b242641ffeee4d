// Package bank is a bank account as a decider: open, deposit, withdraw and
// close, with the business rules as rejections — no overdraft, nothing on
// an account that is not open — and a small application that runs it on
// any store.
package bank

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// Command is a command to an account. Amounts are in cents.
type Command interface{ isCommand() }

type (
	// Open opens the account for an owner.
	Open struct{ Owner string }
	// Deposit puts money in.
	Deposit struct{ Amount int64 }
	// Withdraw takes money out; the balance may not go below zero.
	Withdraw struct{ Amount int64 }
	// Close closes an account whose balance is zero.
	Close struct{}
)

func (Open) isCommand()     {}
func (Deposit) isCommand()  {}
func (Withdraw) isCommand() {}
func (Close) isCommand()    {}

// Event is something that happened to an account.
type Event interface{ isEvent() }

type (
	// Opened says the account was opened.
	Opened struct {
		Owner string `json:"owner"`
	}
	// Deposited says money was put in.
	Deposited struct {
		Amount int64 `json:"amount"`
	}
	// Withdrawn says money was taken out.
	Withdrawn struct {
		Amount int64 `json:"amount"`
	}
	// Closed says the account was closed.
	Closed struct{}
)

func (Opened) isEvent()    {}
func (Deposited) isEvent() {}
func (Withdrawn) isEvent() {}
func (Closed) isEvent()    {}

// Account is the state of an account.
type Account struct {
	Owner   string
	Balance int64
	Open    bool
	Closed  bool
}

// Business-rule rejections.
var (
	ErrNotOpen           = errors.New("account is not open")
	ErrAlreadyOpen       = errors.New("account is already open")
	ErrClosed            = errors.New("account is closed")
	ErrInvalidAmount     = errors.New("amount must be positive and keep the balance within range")
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrBalanceNotZero    = errors.New("only an account with a zero balance can be closed")
	ErrNoOwner           = errors.New("an account needs an owner")
)

// Decider is the account aggregate.
var Decider = decider.Decider[Command, Event, Account]{
	Decide:     decide,
	Evolve:     evolve,
	IsTerminal: func(a Account) bool { return a.Closed },
}

func decide(c Command, a Account) ([]Event, error) {
	if a.Closed {
		return nil, ErrClosed
	}
	if _, opening := c.(Open); !opening && !a.Open {
		return nil, ErrNotOpen
	}
	switch c := c.(type) {
	case Open:
		if a.Open {
			return nil, ErrAlreadyOpen
		}
		if c.Owner == "" {
			return nil, ErrNoOwner
		}
		return []Event{Opened{Owner: c.Owner}}, nil
	case Deposit:
		if c.Amount <= 0 || a.Balance > math.MaxInt64-c.Amount {
			return nil, fmt.Errorf("deposit %d on a balance of %d: %w", c.Amount, a.Balance, ErrInvalidAmount)
		}
		return []Event{Deposited{Amount: c.Amount}}, nil
	case Withdraw:
		if c.Amount <= 0 {
			return nil, fmt.Errorf("withdraw %d: %w", c.Amount, ErrInvalidAmount)
		}
		if c.Amount > a.Balance {
			return nil, fmt.Errorf("withdraw %d from a balance of %d: %w", c.Amount, a.Balance, ErrInsufficientFunds)
		}
		return []Event{Withdrawn{Amount: c.Amount}}, nil
	case Close:
		if a.Balance != 0 {
			return nil, fmt.Errorf("close with a balance of %d: %w", a.Balance, ErrBalanceNotZero)
		}
		return []Event{Closed{}}, nil
	}
	return nil, fmt.Errorf("unknown command %T", c)
}

func evolve(a Account, e Event) Account {
	switch e := e.(type) {
	case Opened:
		a.Owner, a.Open = e.Owner, true
	case Deposited:
		a.Balance += e.Amount
	case Withdrawn:
		a.Balance -= e.Amount
	case Closed:
		a.Open, a.Closed = false, true
	}
	return a
}

// Codec stores account events as JSON under stable type names.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("AccountOpened", Opened{}).
		Register("MoneyDeposited", Deposited{}).
		Register("MoneyWithdrawn", Withdrawn{}).
		Register("AccountClosed", Closed{})
}

// Bank runs accounts on a store.
type Bank struct {
	accounts *annals.Runner[Command, Event, Account]
}

// New returns a bank on s. Options tune the command runner, for example
// its retries under contention.
func New(s *annals.Store, opts ...annals.RunnerOption) *Bank {
	return &Bank{accounts: annals.NewRunner(s, Decider, Codec(), opts...)}
}

// Execute handles one command on account id and returns the account after
// it.
func (b *Bank) Execute(ctx context.Context, id string, c Command) (Account, error) {
	res, err := b.accounts.Handle(ctx, streamID(id), c)
	if err != nil {
		return Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	return res.State, nil
}

// Account returns account id, or an error matching store.ErrNotFound.
func (b *Bank) Account(ctx context.Context, id string) (Account, error) {
	a, version, err := b.accounts.Load(ctx, streamID(id))
	if err != nil {
		return Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	if version == 0 {
		return Account{}, fmt.Errorf("account %s: %w", id, store.ErrNotFound)
	}
	return a, nil
}

func streamID(id string) string { return "account-" + id }
