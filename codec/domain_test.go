package codec_test

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
	accountCmd struct {
		Open       bool
		CustomerID string
		Holder     string
		Email      string
		Amount     int64
		Note       string
	}
	accountEvent interface{ isAccountEvent() }
	// accountOpened is "AccountOpened" v2.
	accountOpened struct {
		CustomerID string `json:"customer_id"`
		Holder     string `json:"holder" annals:"personal"`
		Email      string `json:"email,omitempty" annals:"personal"`
	}
	// moneyDeposited is "MoneyDeposited" v2.
	moneyDeposited struct {
		Amount int64  `json:"amount"`
		Note   string `json:"note,omitempty"`
	}
	// account is the state, "Account" v1; it holds the holder's name, so
	// it is personal data too.
	account struct {
		CustomerID string `json:"customer_id"`
		Holder     string `json:"holder" annals:"personal"`
		Balance    int64  `json:"balance"`
		Deposits   int    `json:"deposits"`
	}
)

func (accountOpened) isAccountEvent()  {}
func (moneyDeposited) isAccountEvent() {}

func (e accountOpened) DataSubject() string { return e.CustomerID }
func (a account) DataSubject() string       { return a.CustomerID }

var (
	errAlreadyOpen = errors.New("account already open")
	errNotOpen     = errors.New("account not open")
)

var accounts = decider.Decider[accountCmd, accountEvent, account]{
	Decide: func(c accountCmd, a account) ([]accountEvent, error) {
		if c.Open {
			if a.CustomerID != "" {
				return nil, errAlreadyOpen
			}
			return []accountEvent{accountOpened{CustomerID: c.CustomerID, Holder: c.Holder, Email: c.Email}}, nil
		}
		if a.CustomerID == "" {
			return nil, errNotOpen
		}
		if c.Amount <= 0 {
			return nil, nil
		}
		return []accountEvent{moneyDeposited{Amount: c.Amount, Note: c.Note}}, nil
	},
	Evolve: func(a account, e accountEvent) account {
		switch e := e.(type) {
		case accountOpened:
			a.CustomerID, a.Holder = e.CustomerID, e.Holder
		case moneyDeposited:
			a.Balance += e.Amount
			a.Deposits++
		}
		return a
	},
}

func accountCodec() *codec.JSON[accountEvent] {
	return codec.NewJSON[accountEvent]().
		RegisterVersion("AccountOpened", 2, accountOpened{}).
		RegisterVersion("MoneyDeposited", 2, moneyDeposited{})
}

func accountUpcaster() *upcast.Registry {
	return upcast.New().
		Add("AccountOpened", 1, upcast.RenameField("owner", "holder")).
		Rename("Deposited", "MoneyDeposited").
		Add("MoneyDeposited", 1, upcast.RenameField("cents", "amount"))
}

func accountStateCodec() *codec.JSON[account] {
	return codec.NewJSON[account]().Register("Account", account{})
}

// Test keys. They protect nothing; the golden records are encrypted with
// them.
const (
	testKey1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	testKey2 = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
)

func mustKey(t fataler, s string) codec.Key {
	t.Helper()
	k, err := codec.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeyring(t fataler, write string, read ...string) *codec.Keyring {
	t.Helper()
	var keys []codec.Key
	for _, r := range read {
		keys = append(keys, mustKey(t, r))
	}
	k, err := codec.NewKeyring(mustKey(t, write), keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomSecret(seed byte) string {
	b := make([]byte, codec.KeySize)
	for i := range b {
		b[i] = seed + byte(i)*7
	}
	return base64.StdEncoding.EncodeToString(b)
}

// fataler is what tests and rapid's T have in common.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}
