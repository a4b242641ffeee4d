package codec_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
)

// Types whose IsZero reports true for values other than the zero value,
// in fields tagged omitzero: encoding/json leaves such a value out, and it
// reads back as the zero value.
type (
	// amount is zero, by its IsZero, whatever its currency.
	amount struct {
		Cents    int64
		Currency string
	}
	// ptrAmount is amount with IsZero on its pointer.
	ptrAmount struct {
		Cents    int64
		Currency string
	}
	// exactAmount's IsZero is true for its zero value alone.
	exactAmount struct {
		Cents    int64
		Currency string
	}
	paid struct {
		A amount `json:"a,omitzero"`
	}
	paidPtr struct {
		A ptrAmount `json:"a,omitzero"`
	}
	paidByPointer struct {
		A *amount `json:"a,omitzero"`
	}
	// paidNoOmit stores every amount: without omitzero, IsZero is not asked.
	paidNoOmit struct {
		A amount `json:"a"`
	}
	paidExact struct {
		A exactAmount `json:"a,omitzero"`
	}
	invoice struct {
		Lines   []paid
		ByName  map[string]paidPtr
		Next    *paid
		Extra   any
		Settled time.Time `json:"settled,omitzero"`
	}
	// embeddedPaid promotes paid's field.
	embeddedPaid struct {
		paid
		Note string
	}
)

func (a amount) IsZero() bool      { return a.Cents == 0 }
func (a *ptrAmount) IsZero() bool  { return a.Cents == 0 }
func (a exactAmount) IsZero() bool { return a == exactAmount{} }

// A value an omitzero field's IsZero calls zero, while it is not its
// type's zero value, would be stored without its content: a sample that
// holds one is refused when it is registered, naming the field, the
// method and what to do.
func TestRegisterRefusesASampleOmitzeroWouldDrop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sample any
		says   string
	}{
		{"a value IsZero", paid{A: amount{0, "EUR"}}, "at .a, codec_test.amount is tagged omitzero and its IsZero method (codec_test.amount.IsZero) reports true"},
		{"a pointer IsZero", paidPtr{A: ptrAmount{0, "EUR"}}, "(*codec_test.ptrAmount).IsZero"},
		{"a pointer field", paidByPointer{A: &amount{0, "EUR"}}, "at .a, *codec_test.amount is tagged omitzero"},
		{"a pointer to a zero value", paidByPointer{A: &amount{}}, "at .a, *codec_test.amount"},
		{"nested in a slice", invoice{Lines: []paid{{amount{1, "EUR"}}, {amount{0, "EUR"}}}}, "at .Lines[1].a, codec_test.amount"},
		{"in a field of type any", invoice{Extra: []any{paid{amount{0, "EUR"}}}}, "at .Extra[0].a, codec_test.amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := codec.NewJSON[any]().Register("Bad", tc.sample)
			err := c.Err()
			if !errors.Is(err, codec.ErrUnencodable) {
				t.Fatalf("Err() = %v, want ErrUnencodable", err)
			}
			for _, part := range []string{`register "Bad"`, tc.says, "drop omitzero", "make IsZero true only for"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
		})
	}
}

// Encode refuses, wherever the field stands, a value that omitzero would
// drop for its IsZero, and stores the rest: a value IsZero calls zero
// that is the zero value, or one it does not call zero.
func TestEncodeRefusesWhatOmitzeroWouldDrop(t *testing.T) {
	c := codec.NewJSON[any]().
		Register("Paid", paid{A: amount{1, "EUR"}}).
		Register("PaidPtr", paidPtr{A: ptrAmount{1, "EUR"}}).
		Register("PaidByPointer", paidByPointer{}).
		Register("PaidNoOmit", paidNoOmit{}).
		Register("PaidExact", paidExact{}).
		Register("Invoice", invoice{}).
		Register("EmbeddedPaid", embeddedPaid{})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	east := time.FixedZone("east", 3600)
	for _, tc := range []struct {
		name string
		v    any
		want string // "" is stored; otherwise a part of the error
	}{
		{"zero", paid{}, ""},
		{"not zero by IsZero", paid{A: amount{5, "EUR"}}, ""},
		{"zero by IsZero, with a currency", paid{A: amount{0, "EUR"}}, `encode "Paid" (codec_test.paid): at .a, codec_test.amount is tagged omitzero`},
		{"pointer receiver", paidPtr{A: ptrAmount{0, "EUR"}}, "at .a, codec_test.ptrAmount"},
		{"pointer receiver, zero", paidPtr{}, ""},
		{"nil pointer", paidByPointer{}, ""},
		{"pointer to a value IsZero calls zero", paidByPointer{A: &amount{0, "EUR"}}, "at .a, *codec_test.amount"},
		{"pointer to a zero value, read back nil", paidByPointer{A: &amount{}}, "at .a, *codec_test.amount"},
		{"pointer to a value", paidByPointer{A: &amount{3, ""}}, ""},
		{"no omitzero", paidNoOmit{A: amount{0, "EUR"}}, ""},
		{"an exact IsZero", paidExact{A: exactAmount{0, "EUR"}}, ""},
		{"in a slice", invoice{Lines: []paid{{}, {amount{0, "USD"}}}}, "at .Lines[1].a"},
		{"in a map", invoice{ByName: map[string]paidPtr{"x": {ptrAmount{0, "USD"}}}}, `at .ByName["x"].a`},
		{"behind a pointer", invoice{Next: &paid{amount{0, "USD"}}}, "at .Next.a"},
		{"in any", invoice{Extra: map[string]any{"p": paid{amount{0, "USD"}}}}, `at .Extra["p"].a`},
		{"in any, deeper", invoice{Extra: []any{map[string]any{"q": &invoice{Next: &paid{amount{0, "USD"}}}}}}, `at .Extra[0]["q"].Next.a`},
		{"in any, kept", invoice{Extra: paid{amount{1, "USD"}}}, ""},
		{"embedded", embeddedPaid{paid: paid{amount{0, "USD"}}}, "at .a, codec_test.amount"},
		// A zero time in another zone is the zero instant, all JSON keeps
		// of a time; it reads back as that instant.
		{"a zero time in a zone", invoice{Settled: time.Time{}.In(east)}, ""},
	} {
		_, _, data, err := c.Encode(tc.v)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want it stored", tc.name, err)
		case tc.want != "" && (!errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "drop omitzero")):
			t.Errorf("%s: stored as %s, %v; want ErrUnencodable saying %q and what to do", tc.name, data, err, tc.want)
		}
		if checkErr := new(codec.JSONCheck).Check("encode the state", tc.v); (checkErr == nil) != (err == nil) {
			t.Errorf("%s: JSONCheck.Check = %v, Encode = %v: want the same answer", tc.name, checkErr, err)
		}
	}
	if c.Err() != nil {
		t.Fatalf("a refused value spoiled the codec: %v", c.Err())
	}
}

// A command fingerprinted by its JSON: two values that differ only in
// what omitzero drops would be taken for one.
func TestMarshalFingerprintRefusesWhatOmitzeroWouldDrop(t *testing.T) {
	var c codec.JSONCheck
	_, err := c.MarshalFingerprint("fingerprint the command", paid{A: amount{0, "EUR"}})
	if !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "taken for one") || strings.Contains(err.Error(), "lost") {
		t.Fatalf("MarshalFingerprint = %v, want ErrUnencodable saying two values would be taken for one", err)
	}
	if _, err := c.MarshalFingerprint("fingerprint the command", paid{A: amount{2, "EUR"}}); err != nil {
		t.Fatalf("MarshalFingerprint of a value kept: %v", err)
	}
}

// Any value with omitzero fields that Encode accepts comes back equal to
// itself and encodes to the same bytes; one it refuses would not have.
func TestOmitzeroRoundTrip(t *testing.T) {
	c := codec.NewJSON[invoice]().Register("Invoice", invoice{})
	genPaid := rapid.Custom(func(t *rapid.T) paid {
		return paid{amount{rapid.Int64Range(0, 2).Draw(t, "cents"), rapid.SampledFrom([]string{"", "EUR"}).Draw(t, "currency")}}
	})
	genPtr := rapid.Custom(func(t *rapid.T) paidPtr {
		return paidPtr{ptrAmount{rapid.Int64Range(0, 2).Draw(t, "cents"), rapid.SampledFrom([]string{"", "USD"}).Draw(t, "currency")}}
	})
	rapid.Check(t, func(t *rapid.T) {
		v := invoice{Lines: rapid.SliceOfN(genPaid, 0, 3).Draw(t, "lines")}
		if rapid.Bool().Draw(t, "byName") {
			v.ByName = map[string]paidPtr{"k": genPtr.Draw(t, "byName")}
		}
		if rapid.Bool().Draw(t, "next") {
			p := genPaid.Draw(t, "next")
			v.Next = &p
		}
		if rapid.Bool().Draw(t, "extra") {
			v.Extra = genPaid.Draw(t, "extra")
		}
		name, version, data, err := c.Encode(v)
		// What JSON reads back, each part as its own type.
		extra, _ := v.Extra.(paid)
		v.Extra = nil
		lossy := !readsBack(t, v) || !readsBack(t, extra)
		if lossy != (err != nil) {
			t.Fatalf("Encode(%+v, extra %+v) = %s, %v; JSON reads it back changed: %v", v, extra, data, err, lossy)
		}
		if err != nil {
			if !errors.Is(err, codec.ErrUnencodable) {
				t.Fatalf("Encode(%+v) = %v, want ErrUnencodable", v, err)
			}
			return
		}
		got, err := c.Decode(name, version, data)
		if err != nil {
			t.Fatal(err)
		}
		if again := mustMarshal(t, got); string(again) != string(data) {
			t.Fatalf("%+v encodes as %s, reads back as %+v, which encodes as %s", v, data, got, again)
		}
	})
}

// readsBack reports whether v, decoded from its JSON into its own type,
// is v again.
func readsBack[T any](t *rapid.T, v T) bool {
	var back T
	if err := json.Unmarshal(mustMarshal(t, v), &back); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(v, back)
}

func mustMarshal(t *rapid.T, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
