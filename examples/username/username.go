package main

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// A username is unique: no two accounts hold one at a time, and one that
// is given up is free again. The rule is about the username, not the
// account: a stream per account cannot check it, and a stream per
// username would have to move an account between streams when it changes
// its name. A decision on a dynamic consistency boundary reads the events
// of the username and of the account, and appends on the condition that
// neither moved.

// Event is an event of accounts and their usernames.
type Event interface{ isEvent() }

// AccountOpened opens an account with a username.
type AccountOpened struct{ Account, Username string }

// UsernameChanged moves an account from one username to another, which
// frees the first.
type UsernameChanged struct{ Account, From, To string }

func (AccountOpened) isEvent()   {}
func (UsernameChanged) isEvent() {}

// Codec returns the codec of the events.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().Register("AccountOpened", AccountOpened{}).Register("UsernameChanged", UsernameChanged{})
}

// Command is a command on an account's username.
type Command interface {
	Claim() (account, username string)
}

// OpenAccount opens an account under a username.
type OpenAccount struct{ Account, Username string }

// ChangeUsername moves an account to another username.
type ChangeUsername struct{ Account, Username string }

func (c OpenAccount) Claim() (string, string)    { return c.Account, c.Username }
func (c ChangeUsername) Claim() (string, string) { return c.Account, c.Username }

// The rules.
var (
	ErrUsernameTaken   = errors.New("username taken")
	ErrInvalidUsername = errors.New("a username is 3 to 20 lowercase letters, digits, '.' or '_'")
	ErrAccountExists   = errors.New("account already open")
	ErrNoSuchAccount   = errors.New("no such account")
)

var validUsername = regexp.MustCompile(`^[a-z0-9._]{3,20}$`)

// Normalize is how usernames are compared: "Ada" and "ada" are one.
func Normalize(username string) string { return strings.ToLower(username) }

// Claims is what a decision reads: who holds each username its events
// name, and each account's username. Only the command's own username and
// account are complete in it.
type Claims struct {
	Holders   map[string]string // username → account
	Usernames map[string]string // account → username
}

func (c Claims) with(username, account string) Claims {
	c.Holders = maps.Clone(c.Holders)
	if c.Holders == nil {
		c.Holders = map[string]string{}
	}
	if account == "" {
		delete(c.Holders, username)
	} else {
		c.Holders[username] = account
	}
	return c
}

func (c Claims) named(account, username string) Claims {
	c.Usernames = maps.Clone(c.Usernames)
	if c.Usernames == nil {
		c.Usernames = map[string]string{}
	}
	c.Usernames[account] = username
	return c
}

// Decider decides the claims of usernames.
var Decider = decider.Decider[Command, Event, Claims]{
	Decide: func(c Command, s Claims) ([]Event, error) {
		account, username := c.Claim()
		username = Normalize(username)
		current, open := s.Usernames[account]
		holder := s.Holders[username]
		switch {
		case !validUsername.MatchString(username):
			return nil, fmt.Errorf("%q: %w", username, ErrInvalidUsername)
		case holder != "" && holder != account:
			return nil, fmt.Errorf("%q: %w", username, ErrUsernameTaken)
		}
		switch c.(type) {
		case OpenAccount:
			if open {
				return nil, fmt.Errorf("open %s: %w", account, ErrAccountExists)
			}
			return []Event{AccountOpened{Account: account, Username: username}}, nil
		case ChangeUsername:
			switch {
			case !open:
				return nil, fmt.Errorf("rename %s: %w", account, ErrNoSuchAccount)
			case current == username:
				return nil, nil
			}
			return []Event{UsernameChanged{Account: account, From: current, To: username}}, nil
		}
		return nil, fmt.Errorf("unknown command %T", c)
	},
	Evolve: func(s Claims, e Event) Claims {
		switch e := e.(type) {
		case AccountOpened:
			return s.with(e.Username, e.Account).named(e.Account, e.Username)
		case UsernameChanged:
			if s.Holders[e.From] == e.Account {
				s = s.with(e.From, "")
			}
			return s.with(e.To, e.Account).named(e.Account, e.To)
		}
		return s
	},
}

// UsernameTag and AccountTag are the tags of the events that name a
// username and an account.
func UsernameTag(username string) string { return "username:" + Normalize(username) }
func AccountTag(account string) string   { return "account:" + account }

// Tags returns the tags of an event: its account, and every username it
// takes or frees.
// docs:begin dcb-4
func Tags(e Event) []string {
	switch e := e.(type) {
	case AccountOpened:
		return []string{AccountTag(e.Account), UsernameTag(e.Username)}
	case UsernameChanged:
		return []string{AccountTag(e.Account), UsernameTag(e.From), UsernameTag(e.To)}
	}
	return nil
}

// docs:end dcb-4

// Claiming is the claims' decider with its consistency boundary: the
// events that name the username, OR those of the account.
// docs:begin dcb-5
var Claiming = annals.DCBDecider[Command, Event, Claims]{
	Decider: Decider,
	Name:    "username",
	Query: func(c Command) store.Query {
		account, username := c.Claim()
		return store.QueryItems(
			store.QueryItem{Tags: []string{UsernameTag(username)}},
			store.QueryItem{Tags: []string{AccountTag(account)}},
		)
	},
	Tags: Tags,
}

// docs:end dcb-5
