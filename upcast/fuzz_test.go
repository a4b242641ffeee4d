package upcast_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/annals-dev/annals/upcast"
)

// FuzzUpcast feeds arbitrary stored payloads through a registry of JSON
// upcasters: every input gives a payload or an error, never a panic.
func FuzzUpcast(f *testing.F) {
	f.Add("AccountOpened", 1, []byte(`{"owner":"Ann"}`))
	f.Add("AccountOpened", 2, []byte(`{"holder":"Ann"}`))
	f.Add("Deposited", 1, []byte(`{"cents":100}`))
	f.Add("AccountOpened", 9, []byte(`{}`))
	f.Add("Mystery", -1, []byte(`[`))
	r := upcast.New().
		Add("AccountOpened", 1, upcast.RenameField("owner", "holder")).
		Add("AccountOpened", 2, upcast.JSON(func(o map[string]json.RawMessage) error {
			if _, ok := o["currency"]; !ok {
				o["currency"] = json.RawMessage(`"EUR"`)
			}
			return nil
		})).
		Rename("Deposited", "MoneyDeposited").
		Add("MoneyDeposited", 1, upcast.RenameField("cents", "amount"))
	current := targetOf(map[string]int{"AccountOpened": 3, "MoneyDeposited": 2})
	f.Fuzz(func(t *testing.T, typ string, version int, data []byte) {
		got, err := r.Upcast(upcast.Payload{Type: typ, Version: version, Data: data}, current)
		if err != nil {
			if errors.Is(err, upcast.ErrSchemaVersion) && err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if want, known := current(got.Type); known && got.Version != want {
			t.Fatalf("upcast %q v%d succeeded at %q v%d, not the current v%d", typ, version, got.Type, got.Version, want)
		}
		if got.Type == "AccountOpened" && version < 3 && !json.Valid(got.Data) {
			t.Fatalf("upcast produced invalid JSON %q", got.Data)
		}
	})
}
