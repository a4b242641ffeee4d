package upcast_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/upcast"
)

var jsonValue = rapid.OneOf(
	rapid.Just(any(nil)), rapid.Map(rapid.Bool(), func(b bool) any { return b }),
	rapid.Map(rapid.Int64(), func(i int64) any { return i }),
	rapid.Map(rapid.String(), func(s string) any { return s }),
	rapid.Map(rapid.SliceOfN(rapid.Int(), 0, 3), func(s []int) any { return s }),
	rapid.Map(rapid.MapOfN(rapid.StringN(0, 4, -1), rapid.Int(), 0, 3), func(m map[string]int) any { return m }),
)

func decodeObject(t *rapid.T, data []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("result %q is not a JSON object: %v", data, err)
	}
	return m
}

func TestRenameFieldMovesExactlyOneField(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		obj := rapid.MapOfN(rapid.StringN(0, 6, -1), jsonValue, 0, 6).Draw(t, "object")
		from := rapid.StringN(1, 6, -1).Draw(t, "from")
		to := rapid.StringN(1, 6, -1).Filter(func(s string) bool { return s != from }).Draw(t, "to")
		hasFrom := rapid.Bool().Draw(t, "has from")
		delete(obj, to)
		if hasFrom {
			obj[from] = jsonValue.Draw(t, "value")
		} else {
			delete(obj, from)
		}
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		out, err := upcast.RenameField(from, to)(data)
		if err != nil {
			t.Fatalf("rename %q → %q in %s: %v", from, to, data, err)
		}
		want := decodeObject(t, data)
		if hasFrom {
			want[to] = want[from]
			delete(want, from)
		}
		got := decodeObject(t, out)
		if !maps.EqualFunc(got, want, func(a, b any) bool { x, _ := json.Marshal(a); y, _ := json.Marshal(b); return string(x) == string(y) }) {
			t.Fatalf("rename %q → %q in %s gave %s", from, to, data, out)
		}
	})
}

func TestRenameFieldRefusesAClash(t *testing.T) {
	if out, err := upcast.RenameField("a", "b")([]byte(`{"a":1,"b":2}`)); err == nil {
		t.Fatalf("rename onto an existing field gave %s, want an error", out)
	}
}

func TestJSONRefusesWhatIsNotAnObject(t *testing.T) {
	for _, in := range []string{``, `null`, `[1]`, `"s"`, `{"a":`, `12`} {
		if out, err := upcast.RenameField("a", "b")([]byte(in)); err == nil {
			t.Errorf("payload %q gave %q, want an error", in, out)
		}
	}
}

func TestJSONKeepsUntouchedValuesExact(t *testing.T) {
	in := `{"big":12345678901234567890123,"html":"<a&b>","nested":{"x":[1.50,2]}}`
	out, err := upcast.RenameField("gone", "other")([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Fatalf("got %s, want %s", out, in)
	}
}

// Every payload is re-encoded, even one f leaves alone: its fields in
// sorted order and no whitespace between tokens, the text of each value
// otherwise kept, field names written anew.
func TestJSONReencodesEveryPayload(t *testing.T) {
	space := rapid.StringOf(rapid.SampledFrom([]rune(" \t\n\r")))
	rapid.Check(t, func(t *rapid.T) {
		obj := rapid.MapOfN(rapid.StringN(0, 6, -1), jsonValue, 0, 6).Draw(t, "object")
		keys := rapid.Permutation(slices.Collect(maps.Keys(obj))).Draw(t, "order")
		var in bytes.Buffer // obj's fields in the drawn order, with whitespace
		in.WriteString("{" + space.Draw(t, "space"))
		for i, k := range keys {
			if i > 0 {
				in.WriteString("," + space.Draw(t, "space"))
			}
			name, _ := json.Marshal(k)
			value, _ := json.Marshal(obj[k])
			var indented bytes.Buffer
			if err := json.Indent(&indented, value, space.Draw(t, "prefix"), space.Draw(t, "indent")); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&in, "%s%s:%s%s%s", name, space.Draw(t, "space"), space.Draw(t, "space"), indented.Bytes(), space.Draw(t, "space"))
		}
		in.WriteString("}")
		out, err := upcast.JSON(func(map[string]json.RawMessage) error { return nil })(in.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", in.Bytes(), err)
		}
		var want bytes.Buffer // sorted and compact, each value as Marshal wrote it
		want.WriteString("{")
		for i, k := range slices.Sorted(maps.Keys(obj)) {
			if i > 0 {
				want.WriteString(",")
			}
			enc := json.NewEncoder(&want) // field names are written anew, without HTML escapes
			enc.SetEscapeHTML(false)
			if err := enc.Encode(k); err != nil {
				t.Fatal(err)
			}
			want.Truncate(want.Len() - 1) // the newline Encode ends with
			value, _ := json.Marshal(obj[k])
			want.WriteString(":" + string(value))
		}
		want.WriteString("}")
		if !bytes.Equal(out, want.Bytes()) {
			t.Fatalf("%s gave %s, want %s", in.Bytes(), out, want.Bytes())
		}
	})
}
