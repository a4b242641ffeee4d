package codec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/samber/lo"
)

// Shapes of embedding that encoding/json resolves by its own rules.
type (
	innerX  struct{ X, Y int }
	otherX  struct{ X int }
	deeperX struct{ innerX }
	tagX    struct {
		Z int `json:"X"`
	}
	// twice reaches innerX by two paths at depth 2: encoding/json walks
	// the type once and counts its fields twice, so they clash.
	twiceA struct{ innerX }
	twiceB struct{ innerX }
	twice  struct {
		twiceA
		twiceB
	}
	// nestedTwice reaches deeperX by two paths at depth 2, and innerX
	// below it: encoding/json walks deeperX once and finds innerX once
	// there, so X and Y, reached by two paths, are counted once and kept.
	viaA        struct{ deeperX }
	viaB        struct{ deeperX }
	nestedTwice struct {
		viaA
		viaB
	}
	clashing struct {
		innerX
		otherX
	}
	shallow struct {
		innerX
		otherX
		X int
	}
	deepLoses struct {
		deeperX
		otherX
	}
	tagWins struct {
		innerX
		tagX
	}
	badTag struct {
		A int `json:"a\\b"`
		B int `json:"-,"`
	}
	recursive struct {
		N int
		*recursive
	}
)

// jsonFields keeps the fields encoding/json encodes, in its order, and
// calls clashes exactly the names it drops.
func TestJSONFieldsAsEncodingJSON(t *testing.T) {
	for _, v := range []any{
		innerX{}, deeperX{}, twice{}, nestedTwice{}, clashing{}, shallow{}, deepLoses{}, tagWins{}, badTag{}, recursive{},
	} {
		typ := reflect.TypeOf(v)
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want := keys(t, data)
		sf := jsonFields(typ)
		if got := lo.Map(sf.fields, func(f field, _ int) string { return f.name }); !slices.Equal(got, want) {
			t.Errorf("%v: fields %v, encoding/json encodes %v (%s)", typ, got, want, data)
		}
		for _, c := range sf.clashes {
			if slices.Contains(want, c[0].name) || len(c) < 2 {
				t.Errorf("%v: clash %v, but encoding/json encodes %s", typ, c, data)
			}
		}
	}
}

// keys returns the keys of a JSON object, in order.
func keys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The fields that JSON loses are refused in the program's own types,
// whose author can export or tag them, and not in a dependency's.
func TestOwnPackage(t *testing.T) {
	m := mainModule()
	if m != "github.com/annals-dev/annals" {
		t.Fatalf("main module %q, want the module under test", m)
	}
	for path, own := range map[string]bool{
		"main":                                   true,
		m:                                        true,
		m + "_test":                              true,
		m + "/codec":                             true,
		m + "/codec_test":                        true,
		m + "s/other":                            false,
		"github.com/samber/lo":                   false,
		"google.golang.org/protobuf/types/known": false,
		"":                                       false,
	} {
		if ownPackage(path) != own {
			t.Errorf("ownPackage(%q) = %v, want %v", path, !own, own)
		}
	}
}
