package codec_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
)

// JSONCheck refuses what Register and Encode refuse, for values stored as
// JSON outside a codec, and passes what JSON stores whole.
func TestJSONCheck(t *testing.T) {
	type (
		hidden   struct{ n int }
		withChan struct {
			N     int
			Reply chan error
		}
		tagged struct {
			N     int
			Reply chan error `json:"-"`
		}
		holder struct{ V any }
		partly struct {
			N int
			n int
		}
		dashedN struct {
			N int
			n int `json:"-"`
		}
		onlyTag struct {
			Reply chan error `json:"-"`
		}
		// deposit is a command with a reply channel and a hook, which
		// are not data.
		deposit struct {
			Amount int
			reply  chan error
			done   func()
		}
		xa    struct{ X int }
		xb    struct{ X int }
		clash struct {
			xa
			xb
		}
	)
	var c codec.JSONCheck
	for _, tc := range []struct {
		name string
		v    any
		want string // "" passes; otherwise a part of the error
	}{
		{"nil", nil, ""},
		{"an int", 3, ""},
		{"exported fields", struct{ A, B int }{1, 2}, ""},
		{"a tagged channel", tagged{N: 1, Reply: make(chan error)}, ""},
		{"any holding an int", holder{V: 1}, ""},
		{"unexported fields", hidden{1}, "no exported fields (only n)"},
		{"an unexported field beside an exported one", partly{1, 2}, "has unexported fields (n)"},
		{"an unexported field tagged -", dashedN{1, 2}, ""},
		{"an unexported channel and function", deposit{Amount: 1, reply: make(chan error), done: func() {}}, ""},
		{"a MarshalJSON and an unexported field", marshalOnly{Guest: "Ada", nights: 2}, "cannot decode into its unexported fields (nights), so what they hold is lost"},
		{"any holding a MarshalJSON and an unexported field", holder{V: marshalOnly{}}, "at .V, codec_test.marshalOnly implements MarshalJSON"},
		{"a channel", withChan{N: 1}, "chan"},
		{"every field tagged -", onlyTag{Reply: make(chan error)}, `every one tagged json:"-" (Reply)`},
		{"embedded fields of the same name", clash{}, `fields .xa.X and .xb.X that JSON names "X"`},
		{"any holding embedded fields of the same name", holder{V: clash{}}, `at .V, codec_test.clash has fields .xa.X`},
		{"any holding unexported fields", holder{V: hidden{1}}, "at .V"},
		{"a map holding unexported fields", map[string]any{"k": hidden{1}}, "no exported fields"},
	} {
		for range 2 { // the second time from what the first inspected
			err := c.Check("store it", tc.v)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s: %v, want it to pass", tc.name, err)
			case tc.want != "" && (!errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "store it")):
				t.Errorf("%s: %v, want an error matching ErrUnencodable that begins with what was done and says %q", tc.name, err, tc.want)
			}
		}
	}
}

// CheckEncoded passes exactly what JSON wrote unchanged: a value whose
// strings, wherever they are, decode back as they were, and it names
// where a string that is not valid UTF-8 is.
func TestJSONCheckEncodedNeverPassesAChangedString(t *testing.T) {
	type inner struct{ Name string }
	type state struct {
		Note   string
		Tags   []string
		ByName map[string]int
		Held   any
		Inner  *inner
	}
	var c codec.JSONCheck
	rapid.Check(t, func(t *rapid.T) {
		s := string(rapid.SliceOf(rapid.Byte()).Draw(t, "bytes"))
		where := rapid.IntRange(0, 4).Draw(t, "where")
		v := state{Note: "n", Tags: []string{"t"}, ByName: map[string]int{"k": 1}, Held: "h", Inner: &inner{"i"}}
		field := []string{".Note", ".Tags", ".ByName", ".Held", ".Inner.Name"}[where]
		switch where {
		case 0:
			v.Note = s
		case 1:
			v.Tags = append(v.Tags, s)
		case 2:
			v.ByName[s] = 2
		case 3:
			v.Held = map[string]any{"deep": []any{s}}
		case 4:
			v.Inner.Name = s
		}
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckEncoded("save it", v, data)
		var back state
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		unchanged := utf8.ValidString(s)
		if unchanged != (err == nil) {
			t.Fatalf("CheckEncoded of %q at %s = %v; the string is valid UTF-8: %v", s, field, err, unchanged)
		}
		if unchanged && !reflect.DeepEqual(normal(t, data), normal(t, again)) {
			t.Fatalf("passed %q at %s, but JSON did not write it back the same", s, field)
		}
		if !unchanged && (!errors.Is(err, codec.ErrUnencodable) || !strings.HasPrefix(err.Error(), "save it") || !strings.Contains(err.Error(), field)) {
			t.Fatalf("CheckEncoded of %q at %s = %v; want an error matching ErrUnencodable that names %s", s, field, err, field)
		}
	})
	for _, ok := range []any{nil, state{Note: "\ufffd"}, state{Note: `\ufffd`}, state{Held: "\ufffd"}} {
		data, _ := json.Marshal(ok)
		if err := c.CheckEncoded("save it", ok, data); err != nil {
			t.Errorf("CheckEncoded(%#v) = %v, want nil: its strings are valid", ok, err)
		}
	}
}

// normal decodes JSON into plain values, for comparing two encodings.
func normal(t *rapid.T, data []byte) any {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A fingerprint's JSON is compared, never decoded: MarshalFingerprint
// refuses what would make two values one, says so, and passes a type
// that writes itself.
func TestJSONCheckMarshalFingerprint(t *testing.T) {
	type (
		deposit struct {
			Amount int
			reply  chan error
		}
		noted struct {
			Amount int
			note   string
		}
		secret struct{ amount int }
		holder struct{ V any }
		ping   struct{ reply chan error }
		pinged struct {
			Reply chan error `json:"-"`
		}
	)
	var c codec.JSONCheck
	for _, tc := range []struct {
		name string
		v    any
		want string // "" passes; otherwise a part of the error
	}{
		{"a reply channel", deposit{Amount: 1, reply: make(chan error)}, ""},
		{"only a reply channel", ping{reply: make(chan error)}, ""},
		{"only a field tagged to be left out", pinged{Reply: make(chan error)}, ""},
		{"a type that writes itself", marshalOnly{Guest: "Ada", nights: 2}, ""},
		{"any holding a type that writes itself", holder{V: marshalOnly{Guest: "Ada", nights: 2}}, ""},
		{"an unexported field", noted{1, "n"}, "has unexported fields (note) that JSON leaves out of what it writes, so two values that differ only in them would be taken for one; export them"},
		{"any holding an unexported field", holder{V: noted{1, "n"}}, "at .V, codec_test.noted has unexported fields (note) that JSON leaves out"},
		{"only unexported fields", secret{1}, "has no exported fields (only amount) and does not implement json.Marshaler, so JSON would write every value as {} and take them all for one"},
		{"fields of one name", twoShadows{}, `that JSON names "X"`},
		{"a string not UTF-8", holder{V: "caf\xe9"}, "not valid UTF-8"},
	} {
		for range 2 { // the second time from what the first inspected
			data, err := c.MarshalFingerprint("fingerprint the command", tc.v)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s: %v, want it to pass", tc.name, err)
			case tc.want == "":
				if want, _ := json.Marshal(tc.v); string(data) != string(want) {
					t.Errorf("%s: wrote %s, want what encoding/json writes, %s", tc.name, data, want)
				}
			case !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "fingerprint the command"):
				t.Errorf("%s: %v, want an error matching ErrUnencodable that begins with what was done and says %q", tc.name, err, tc.want)
			case strings.Contains(err.Error(), "lost") || strings.Contains(err.Error(), "store every value"):
				t.Errorf("%s: %v, which speaks of storing a value that is only compared", tc.name, err)
			}
		}
	}
}

// One JSONCheck used both ways answers each as it is asked: what it
// inspected for one use is not the other's answer.
func TestJSONCheckTellsStoredFromCompared(t *testing.T) {
	var c codec.JSONCheck
	v := partlyTwo{1, 2}
	for range 2 {
		if err := c.Check("encode the state", v); err == nil || !strings.Contains(err.Error(), "so what they hold is lost") {
			t.Errorf("Check = %v, want the field's content lost", err)
		}
		if _, err := c.MarshalFingerprint("fingerprint the command", v); err == nil || !strings.Contains(err.Error(), "taken for one") {
			t.Errorf("MarshalFingerprint = %v, want two values taken for one", err)
		}
		if err := c.Check("encode the state", marshalOnly{}); err == nil {
			t.Errorf("Check(marshalOnly) passed, want it refused: its field cannot be read back")
		}
		if _, err := c.MarshalFingerprint("fingerprint the command", marshalOnly{}); err != nil {
			t.Errorf("MarshalFingerprint(marshalOnly) = %v, want it to pass: it writes itself", err)
		}
	}
}

type partlyTwo struct {
	N int
	n int
}

// A state or a fingerprinted command whose type's own marshaler writes it
// as the zero value is written is refused, whether stored or compared:
// stored, it would read back empty; compared, two commands would look
// alike.
func TestJSONCheckRefusesAValueItsOwnMarshalerWritesAsZero(t *testing.T) {
	var c codec.JSONCheck
	if _, err := c.Marshal("encode the state", blanked{Amount: 5}); !errors.Is(err, codec.ErrUnencodable) {
		t.Errorf("Marshal of a value written as {}: %v; want ErrUnencodable", err)
	}
	if _, err := c.MarshalFingerprint("fingerprint the command", codeText{Note: "n"}); !errors.Is(err, codec.ErrUnencodable) {
		t.Errorf("MarshalFingerprint of a value written as \"\": %v; want ErrUnencodable", err)
	}
	for _, v := range []any{blanked{}, codeText{Code: "c"}} {
		if _, err := c.Marshal("encode the state", v); err != nil {
			t.Errorf("Marshal of %#v: %v; want it taken", v, err)
		}
	}
}
