package codec_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
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

// A type name is registered, and renamed in an upcaster, exactly when
// every store keeps it: one no store keeps is a mistake found at
// start-up, by the same panic as an empty name, rather than by every
// append, which would refuse it.
func TestRegistrationTakesTheTypeNamesStoresKeep(t *testing.T) {
	for entry, register := range map[string]func(name string){
		"JSON.Register":        func(name string) { codec.NewJSON[noted]().Register(name, noted{}) },
		"JSON.RegisterVersion": func(name string) { codec.NewJSON[noted]().RegisterVersion(name, 2, noted{}) },
		"upcast Add":           func(name string) { upcast.New().Add(name, 1, func(b []byte) ([]byte, error) { return b, nil }) },
		"upcast Rename from":   func(name string) { upcast.New().Rename(name, "New") },
		"upcast Rename to":     func(name string) { upcast.New().Rename("Old", name) },
		"upcast RenameAt from": func(name string) { upcast.New().RenameAt(name, 1, "New", 1) },
		"upcast RenameAt to":   func(name string) { upcast.New().RenameAt("Old", 1, name, 1) },
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

// A name the codec registers is one an append stores.
func TestARegisteredNameIsStored(t *testing.T) {
	name := strings.Repeat("é", store.MaxTypeLen/2) // 254 bytes
	ev, err := codec.NewJSON[noted]().Register(name, noted{}).ToEvent(context.Background(), codec.Placement{StreamID: "s", Version: 1}, noted{}, store.Metadata{})
	if err != nil || check.Append("s", store.NoStream, []store.Event{ev}) != nil {
		t.Fatalf("the event of a %d-byte name: %v, %v", len(name), err, check.Append("s", store.NoStream, []store.Event{ev}))
	}
}

// named is a mapper of another package, as codec.PartOf takes it, that
// lists the type names it is given.
type named []string

func (named) ToEvent(context.Context, codec.Placement, noted, store.Metadata) (store.Event, error) {
	return store.Event{}, nil
}
func (named) FromRecord(context.Context, store.Record) (noted, error) { return noted{}, nil }
func (n named) Types() []string                                       { return n }

// A part of a sum that lists a type name no store keeps is refused as a
// part that lists none is, through Err, with the name's own refusal.
func TestSumRefusesAPartThatListsANameNoStoreKeeps(t *testing.T) {
	for _, name := range []string{"Noted\x00", "\xffNoted", strings.Repeat("n", store.MaxTypeLen+1), ""} {
		err := codec.NewSum[decider.Either[lit, noted]](litCodec(), codec.PartOf[noted](named{"Fine", name})).Err()
		if !errors.Is(err, codec.ErrUnencodable) || !errors.Is(err, store.ErrInvalid) || !strings.Contains(fmt.Sprint(err), "case 1 (codec_test.noted) lists a type name that no store keeps: type name") {
			t.Errorf("a part that lists %.40q: %v; want ErrUnencodable and store.ErrInvalid, naming the case", name, err)
		}
	}
	if err := codec.NewSum[decider.Either[lit, noted]](litCodec(), codec.PartOf[noted](named{"Fine"})).Err(); err != nil {
		t.Errorf("a part that lists a good name: %v", err)
	}
}
