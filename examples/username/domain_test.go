package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/annals-dev/annals/proptest"
)

func TestRules(t *testing.T) {
	ada := AccountOpened{Account: "a1", Username: "ada"}
	proptest.For(t, Decider).
		When(OpenAccount{Account: "a1", Username: "Ada"}).
		Then(ada)
	proptest.For(t, Decider).
		Given(ada).
		When(OpenAccount{Account: "a2", Username: "ADA"}).
		ThenError(ErrUsernameTaken)
	proptest.For(t, Decider).
		Given(ada).
		When(OpenAccount{Account: "a1", Username: "lovelace"}).
		ThenError(ErrAccountExists)
	proptest.For(t, Decider).
		When(OpenAccount{Account: "a1", Username: "a d a"}).
		ThenError(ErrInvalidUsername)
	proptest.For(t, Decider).
		Given(ada).
		When(ChangeUsername{Account: "a1", Username: "lovelace"}).
		Then(UsernameChanged{Account: "a1", From: "ada", To: "lovelace"})
	proptest.For(t, Decider).
		Given(ada).
		When(ChangeUsername{Account: "a1", Username: "ada"}).
		Then()
	proptest.For(t, Decider).
		When(ChangeUsername{Account: "a1", Username: "ada"}).
		ThenError(ErrNoSuchAccount)
	// A name given up is free again; the one taken is not.
	proptest.For(t, Decider).
		Given(ada, UsernameChanged{Account: "a1", From: "ada", To: "lovelace"}).
		When(OpenAccount{Account: "a2", Username: "ada"}).
		Then(AccountOpened{Account: "a2", Username: "ada"})
	proptest.For(t, Decider).
		Given(ada, UsernameChanged{Account: "a1", From: "ada", To: "lovelace"}).
		When(ChangeUsername{Account: "a2", Username: "lovelace"}).
		ThenError(ErrUsernameTaken)
	proptest.For(t, Decider).
		Given(ada, UsernameChanged{Account: "a1", From: "ada", To: "lovelace"}).
		ThenState(Claims{Holders: map[string]string{"lovelace": "a1"}, Usernames: map[string]string{"a1": "lovelace"}})
}

// A claim's query finds every event that decides it: those naming the
// username, however written, as taken or freed, and the account's own.
func TestTheQueryFindsWhatDecides(t *testing.T) {
	q := Claiming.Query(OpenAccount{Account: "a2", Username: "ADA"})
	for _, c := range []struct {
		e    Event
		typ  string
		want bool
	}{
		{AccountOpened{Account: "a1", Username: "ada"}, "AccountOpened", true},
		{UsernameChanged{Account: "a1", From: "ada", To: "lovelace"}, "UsernameChanged", true},
		{UsernameChanged{Account: "a1", From: "lovelace", To: "ada"}, "UsernameChanged", true},
		{AccountOpened{Account: "a2", Username: "bob"}, "AccountOpened", true},
		{AccountOpened{Account: "a3", Username: "cy"}, "AccountOpened", false},
	} {
		if got := q.Matches(c.typ, Tags(c.e)); got != c.want {
			t.Errorf("the query of a2 claiming ADA matches %#v: %v, want %v", c.e, got, c.want)
		}
	}
}

func TestPrintsWhatTheDocumentationSays(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), "memory:", &out); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, shown, _ := strings.Cut(string(doc), "On a new store it\n// prints:\n//\n")
	shown, _, _ = strings.Cut(shown, "\n//\n")
	want := strings.ReplaceAll(shown, "//\t", "") + "\n"
	if out.String() != want {
		t.Fatalf("run printed:\n%s\ndoc.go says:\n%s", out.String(), want)
	}
}
