// Package testdomain is the bank account that the tests of package annals
// and of package codec share: its deciders, codecs, upcasters and test
// keys. The golden records in codec/testdata were written by its schema v1.
package testdomain

import (
	"encoding/base64"
	"errors"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/upcast"
)

// A bank account whose opening names a customer, the data subject. In
// schema v1 the holder's name was called "owner", and deposits were a
// type "Deposited" with a field "cents"; the golden records in testdata
// were written by that version.
type (
	// AccountCmd opens the account, or deposits Amount.
	AccountCmd struct {
		Open       bool
		CustomerID string
		Holder     string
		Email      string
		Amount     int64
		Note       string
	}
	// AccountEvent is AccountOpened or MoneyDeposited.
	AccountEvent interface{ isAccountEvent() }
	// AccountOpened is "AccountOpened" v2.
	AccountOpened struct {
		CustomerID string `json:"customer_id"`
		Holder     string `json:"holder" annals:"personal"`
		Email      string `json:"email,omitempty" annals:"personal"`
	}
	// MoneyDeposited is "MoneyDeposited" v2.
	MoneyDeposited struct {
		Amount int64  `json:"amount"`
		Note   string `json:"note,omitempty"`
	}
	// Account is the state, "Account" v1; it holds the holder's name, so
	// it is personal data too.
	Account struct {
		CustomerID string `json:"customer_id"`
		Holder     string `json:"holder" annals:"personal"`
		Balance    int64  `json:"balance"`
		Deposits   int    `json:"deposits"`
	}
)

func (AccountOpened) isAccountEvent()  {}
func (MoneyDeposited) isAccountEvent() {}

// DataSubject is the customer the opening names.
func (e AccountOpened) DataSubject() string { return e.CustomerID }

// DataSubject is the account's customer.
func (a Account) DataSubject() string { return a.CustomerID }

// The refusals of Accounts.
var (
	ErrAlreadyOpen = errors.New("account already open")
	ErrNotOpen     = errors.New("account not open")
)

// Accounts opens an account once and takes deposits into an open one.
var Accounts = decider.Decider[AccountCmd, AccountEvent, Account]{
	Decide: func(c AccountCmd, a Account) ([]AccountEvent, error) {
		if c.Open {
			if a.CustomerID != "" {
				return nil, ErrAlreadyOpen
			}
			return []AccountEvent{AccountOpened{CustomerID: c.CustomerID, Holder: c.Holder, Email: c.Email}}, nil
		}
		if a.CustomerID == "" {
			return nil, ErrNotOpen
		}
		if c.Amount <= 0 {
			return nil, nil
		}
		return []AccountEvent{MoneyDeposited{Amount: c.Amount, Note: c.Note}}, nil
	},
	Evolve: func(a Account, e AccountEvent) Account {
		switch e := e.(type) {
		case AccountOpened:
			a.CustomerID, a.Holder = e.CustomerID, e.Holder
		case MoneyDeposited:
			a.Balance += e.Amount
			a.Deposits++
		}
		return a
	},
}

// AccountCodec is the JSON codec of the events at schema v2.
func AccountCodec() *codec.JSON[AccountEvent] {
	return codec.NewJSON[AccountEvent]().
		RegisterVersion("AccountOpened", 2, AccountOpened{}).
		RegisterVersion("MoneyDeposited", 2, MoneyDeposited{})
}

// AccountUpcaster reads schema v1's events as v2.
func AccountUpcaster() *upcast.Registry {
	return upcast.New().
		Add("AccountOpened", 1, upcast.RenameField("owner", "holder")).
		Rename("Deposited", "MoneyDeposited").
		Add("MoneyDeposited", 1, upcast.RenameField("cents", "amount"))
}

// AccountStateCodec is the JSON codec of the state.
func AccountStateCodec() *codec.JSON[Account] {
	return codec.NewJSON[Account]().Register("Account", Account{})
}

// Test keys. They protect nothing; the golden records are encrypted with
// them.
const (
	TestKey1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	TestKey2 = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
)

// MustKey parses s, or fails t.
func MustKey(t Fataler, s string) codec.Key {
	t.Helper()
	k, err := codec.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// MustKeyring is a keyring that writes with write and reads with read too,
// or fails t.
func MustKeyring(t Fataler, write string, read ...string) *codec.Keyring {
	t.Helper()
	var keys []codec.Key
	for _, r := range read {
		keys = append(keys, MustKey(t, r))
	}
	k, err := codec.NewKeyring(MustKey(t, write), keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RandomSecret is a base64 key secret that seed sets.
func RandomSecret(seed byte) string {
	b := make([]byte, codec.KeySize)
	for i := range b {
		b[i] = seed + byte(i)*7
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Fataler is what tests and rapid's T have in common.
type Fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}
