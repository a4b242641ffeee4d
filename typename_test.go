package annals_test

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
	"github.com/annals-dev/annals/upcast"
)

// typeNames draws names around the stores' limits: empty, at and past
// store.MaxTypeLen bytes, with a NUL byte, and not valid UTF-8.
var typeNames = rapid.OneOf(
	rapid.String(),
	rapid.StringN(store.MaxTypeLen-2, store.MaxTypeLen+2, -1),
	rapid.Custom(func(t *rapid.T) string {
		name := rapid.StringN(1, 8, -1).Draw(t, "name")
		at := rapid.IntRange(0, len(name)).Draw(t, "at")
		bad := rapid.SampledFrom([]string{"\x00", "\xff", "\xc3"}).Draw(t, "byte")
		return name[:at] + bad + name[at:]
	}),
)

// panics reports whether f panics, and with what.
func panics(f func()) (msg string, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, panicked = fmt.Sprint(r), true
		}
	}()
	f()
	return "", false
}

// registered is an event type of the registrations below.
type registered struct{ Text string }

// Every entry point that takes a type name takes it exactly when every
// store keeps it: one no store keeps is a mistake found at start-up, by
// the same panic as an empty name, rather than by every append, or a
// consumer's every read, which would refuse it, or a snapshot policy
// that could never fire.
func TestEveryEntryPointTakesTheTypeNamesStoresKeep(t *testing.T) {
	for entry, register := range map[string]func(name string){
		"JSON.Register":        func(name string) { codec.NewJSON[registered]().Register(name, registered{}) },
		"JSON.RegisterVersion": func(name string) { codec.NewJSON[registered]().RegisterVersion(name, 2, registered{}) },
		"upcast Add":           func(name string) { upcast.New().Add(name, 1, func(b []byte) ([]byte, error) { return b, nil }) },
		"upcast Rename from":   func(name string) { upcast.New().Rename(name, "New") },
		"upcast Rename to":     func(name string) { upcast.New().Rename("Old", name) },
		"upcast RenameAt from": func(name string) { upcast.New().RenameAt(name, 1, "New", 1) },
		"upcast RenameAt to":   func(name string) { upcast.New().RenameAt("Old", 1, name, 1) },
		"WithTypes":            func(name string) { annals.WithTypes("Opened", name) },
		"snapshot.OnTypes":     func(name string) { snapshot.OnTypes("Closed", name) },
	} {
		t.Run(entry, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				name := typeNames.Draw(t, "name")
				refused := check.TypeName(name)
				msg, panicked := panics(func() { register(name) })
				switch {
				case refused == nil && panicked:
					t.Fatalf("%s(%q) panics with %q; every store keeps the name", entry, name, msg)
				case refused != nil && !panicked:
					t.Fatalf("%s(%.40q) takes a name that no store keeps (%v)", entry, name, refused)
				case refused != nil && !strings.Contains(msg, strings.TrimSuffix(refused.Error(), ": "+store.ErrInvalid.Error())):
					t.Fatalf("%s(%q) panics with %q; want it to say %q", entry, name, msg, refused)
				}
			})
		})
	}
}
