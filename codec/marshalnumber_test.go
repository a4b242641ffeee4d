package codec_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
)

// serial writes itself as text, which JSON reads back as a string
// whatever its size.
type serial uint64

func (s serial) MarshalText() ([]byte, error) { return strconv.AppendUint(nil, uint64(s), 10), nil }
func (s *serial) UnmarshalText(b []byte) error {
	n, err := strconv.ParseUint(string(b), 10, 64)
	*s = serial(n)
	return err
}

// ledger holds numbers that write themselves, in fields of their own
// types and below interfaces.
type ledger struct {
	Total *big.Int
	Attrs map[string]any
	Extra any
}

// A value below an interface that writes itself (MarshalJSON, or a
// json.RawMessage) is read back as JSON's own types, its numbers as
// float64s: Encode refuses one that writes a number a float64 cannot hold
// exactly, as it refuses such an integer, and stores the rest to read
// back as the same JSON. A number in a field of its own type is read by
// its own method, and text is read back as a string: both are stored
// whatever their size.
func TestEncodeRefusesANumberAMarshalerWritesAFloatWouldChange(t *testing.T) {
	c := codec.NewJSON[ledger]().Register("Ledger", ledger{})
	rapid.Check(t, func(t *rapid.T) {
		digits := rapid.OneOf(
			rapid.Map(rapid.Int64(), func(x int64) string { return strconv.FormatInt(x, 10) }),
			rapid.Map(rapid.Int64Range(-1<<54, 1<<54), func(x int64) string { return strconv.FormatInt(x, 10) }),
			rapid.StringMatching(`-?[1-9][0-9]{0,25}`),
		).Draw(t, "n")
		n, _ := new(big.Int).SetString(digits, 10)
		var v ledger
		where := rapid.IntRange(0, 6).Draw(t, "where")
		switch where {
		case 0:
			v.Extra = n
		case 1:
			v.Attrs = map[string]any{"n": json.RawMessage(digits)}
		case 2:
			v.Extra = []any{"a", json.RawMessage(`{"deep":[1,` + digits + `]}`)}
		case 3:
			v.Extra = &struct{ Lines []*big.Int }{[]*big.Int{big.NewInt(1), n}}
		case 4:
			v.Attrs = map[string]any{"money": money{cents: n.Int64(), currency: "EUR"}}
			digits = strconv.FormatInt(n.Int64(), 10)
		case 5:
			v.Total = n
		case 6:
			v.Extra = serial(n.Uint64())
		}
		_, _, data, err := c.Encode(v)
		holds := where >= 5 || floatReadsBack(digits)
		switch {
		case holds && err != nil:
			t.Fatalf("Encode(%+v) = %v; want it stored", v, err)
		case !holds && (!errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "writes the number "+digits) || !strings.Contains(err.Error(), "held below an interface")):
			t.Fatalf("Encode(%+v) = %s, %v; the number reads back as another: want ErrUnencodable naming it", v, data, err)
		case holds:
			back, err := c.Decode("Ledger", 1, data)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back); string(again) != string(data) {
				t.Fatalf("%+v encodes as %s, reads back as %+v, which encodes as %s", v, data, back, again)
			}
		}
	})
}

// floatReadsBack reports whether the JSON number n, read into a field of
// type any and written again, is the same number.
func floatReadsBack(n string) bool {
	var read any
	if json.Unmarshal([]byte(n), &read) != nil {
		return false
	}
	again, _ := json.Marshal(read)
	want, ok1 := new(big.Rat).SetString(n)
	got, ok2 := new(big.Rat).SetString(string(again))
	return ok1 && ok2 && want.Cmp(got) == 0
}

// The probe's cases: 2^60+1 written by a *big.Int and by a
// json.RawMessage in a field of type any.
func TestEncodeRefusesAMarshaledNumberBeyondAFloat(t *testing.T) {
	c := codec.NewJSON[ledger]().Register("Ledger", ledger{})
	n := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 60), big.NewInt(1))
	for _, tc := range []struct {
		v    ledger
		want string
	}{
		{ledger{Extra: n}, "at .Extra, *big.Int writes the number 1152921504606846977 (by its MarshalJSON), held below an interface (any)"},
		{ledger{Attrs: map[string]any{"raw": json.RawMessage("1152921504606846977")}}, `at .Attrs["raw"], json.RawMessage writes the number 1152921504606846977`},
	} {
		_, _, data, err := c.Encode(tc.v)
		if !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "; ") {
			t.Errorf("Encode(%+v) = %s, %v; want ErrUnencodable saying %q and what to do", tc.v, data, err, tc.want)
		}
		if err := new(codec.JSONCheck).Check("encode the state", tc.v); !errors.Is(err, codec.ErrUnencodable) {
			t.Errorf("JSONCheck.Check(%+v) = %v, want ErrUnencodable", tc.v, err)
		}
	}
	if _, _, _, err := c.Encode(ledger{Total: n}); err != nil {
		t.Errorf("a *big.Int in a field of its own type: %v, want it stored", err)
	}
}
