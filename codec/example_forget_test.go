package codec_test

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store/memory"
)

// docs:begin personal

// CustomerRegistered holds personal data about one customer, the data
// subject: the fields tagged personal are encrypted with that customer's
// own key.
type CustomerRegistered struct {
	CustomerID string `json:"customer_id"`
	Name       string `json:"name" annals:"personal"`
	Email      string `json:"email" annals:"personal"`
	Plan       string `json:"plan"`
}

// DataSubject names the customer the personal fields are about.
func (e CustomerRegistered) DataSubject() string { return e.CustomerID }

// docs:end personal

// Customer is the state; it is not snapshotted here. (A state that is
// snapshotted and holds personal data implements DataSubject and tags its
// fields as well.)
type Customer struct{ ID, Name, Email, Plan string }

var customers = decider.Decider[CustomerRegistered, CustomerRegistered, Customer]{
	Decide: func(c CustomerRegistered, _ Customer) ([]CustomerRegistered, error) {
		return []CustomerRegistered{c}, nil
	},
	Evolve: func(_ Customer, e CustomerRegistered) Customer {
		return Customer{e.CustomerID, e.Name, e.Email, e.Plan}
	},
}

// Forgetting a customer: each customer's personal fields are encrypted
// with a key of their own, kept (wrapped by the master key) in the store's
// key table. Deleting the key makes them unreadable wherever the store is
// read, while the events still load with those fields empty. Copies of
// the wrapped key can outlive the delete: a backup keeps it as long as the
// backup is kept, and restoring one brings it back. docs/evolving-data.md
// lists where copies stay and what to do.
func ExampleForgetSubject() {
	ctx := context.Background()
	s := annals.New(memory.New())                                                 // the event store is also the key store
	key, err := codec.ParseKey("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") // from ANNALS_CIPHER_KEY in practice
	if err != nil {
		fmt.Println(err)
		return
	}
	master, err := codec.NewKeyring(key)
	if err != nil {
		fmt.Println(err)
		return
	}
	jc := codec.NewJSON[CustomerRegistered]().Register("CustomerRegistered", CustomerRegistered{})
	// docs:begin forget
	runner := annals.NewRunner(s, customers, codec.NewMapper(jc, codec.WithSubjectKeys(s, master)))
	// docs:end forget

	res, err := runner.Handle(ctx, "customer-42", CustomerRegistered{CustomerID: "c-42", Name: "Ann Smith", Email: "ann@example.com", Plan: "gold"})
	fmt.Printf("%+v %v\n", res.State, err)

	// docs:begin forget-call
	if err := codec.ForgetSubject(ctx, s, "c-42"); err != nil {
		fmt.Println(err)
		return
	}
	// docs:end forget-call
	after, _, err := runner.Load(ctx, "customer-42")
	fmt.Printf("%+v %v\n", after, err)
	// Output:
	// {ID:c-42 Name:Ann Smith Email:ann@example.com Plan:gold} <nil>
	// {ID:c-42 Name: Email: Plan:gold} <nil>
}
