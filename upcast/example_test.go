package upcast_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/annals-dev/annals/upcast"
)

// Version 1 of AccountOpened called the account holder "owner"; version 2
// calls it "holder". One line registers the step.
func ExampleRenameField() {
	r := upcast.New().Add("AccountOpened", 1, upcast.RenameField("owner", "holder"))

	current := func(name string) (int, bool) { return 2, name == "AccountOpened" }
	stored := upcast.Payload{Type: "AccountOpened", Version: 1, Data: []byte(`{"owner":"Ann"}`)}
	p, err := r.Upcast(stored, current)
	fmt.Println(p.Type, p.Version, string(p.Data), err)
	// Output:
	// AccountOpened 2 {"holder":"Ann"} <nil>
}

// Steps chain: a v1 payload runs v1→v2, then v2→v3. A type renamed along
// the way follows its new name.
func ExampleRegistry_Upcast() {
	r := upcast.New().
		Rename("Deposited", "MoneyDeposited").
		Add("MoneyDeposited", 1, upcast.RenameField("cents", "amount")).
		Add("MoneyDeposited", 2, upcast.JSON(func(o map[string]json.RawMessage) error {
			o["currency"] = json.RawMessage(`"EUR"`)
			return nil
		}))

	current := func(name string) (int, bool) { return 3, name == "MoneyDeposited" }
	p, err := r.Upcast(upcast.Payload{Type: "Deposited", Version: 1, Data: []byte(`{"cents":250}`)}, current)
	fmt.Println(p.Type, p.Version, string(p.Data), err)

	// A payload written by newer code than this is refused, not guessed at.
	_, err = r.Upcast(upcast.Payload{Type: "MoneyDeposited", Version: 4}, current)
	fmt.Println(errors.Is(err, upcast.ErrSchemaVersion))
	// Output:
	// MoneyDeposited 3 {"amount":250,"currency":"EUR"} <nil>
	// true
}
