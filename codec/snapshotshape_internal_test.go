package codec

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// The shape check sees every key added or removed at any depth, and
// nothing where only values differ.
func TestShapeDiff(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v, _ := jsonValue(t, 4)
		doc := map[string]any{"root": v}
		a, _ := json.Marshal(doc)
		if d := shapeDiff(a, a); d != "" {
			t.Fatalf("a document differs from itself at %s: %s", d, a)
		}
		// Every scalar changed: the same shape.
		b, _ := json.Marshal(mapScalars(doc))
		if d := shapeDiff(a, b); d != "" {
			t.Fatalf("values changed, shape kept, yet a difference at %s:\n%s\n%s", d, a, b)
		}
		// One key added to one object somewhere: a difference, named.
		objects := collectObjects(doc, nil)
		target := objects[rapid.IntRange(0, len(objects)-1).Draw(t, "object")]
		target["NEW"] = 1.0
		c, _ := json.Marshal(doc)
		if d := shapeDiff(a, c); !strings.Contains(d, "NEW") || !strings.Contains(d, "written now") {
			t.Fatalf("a key added: difference %q; want one naming NEW:\n%s\n%s", d, a, c)
		}
		if d := shapeDiff(c, a); !strings.Contains(d, "NEW") || !strings.Contains(d, "no longer written") {
			t.Fatalf("a key removed: difference %q; want one naming NEW", d)
		}
	})
	for _, c := range []struct{ a, b, want string }{
		{`{"First":{"Items":{}},"Second":{"OnHand":1}}`, `{"First":{"OnHand":0},"Second":{"Items":{}}}`, ".First.Items"},
		{`{"x":[1,2]}`, `{"x":[1]}`, ".x (an array of 2, now an array of 1)"},
		{`{"x":null}`, `{"x":{}}`, ".x (null, now an object)"},
		{`{"x":"s"}`, `{"x":[]}`, ".x (a value, now an array of 0)"},
		{`{"x":1}`, `not json`, ""},
	} {
		if d := shapeDiff([]byte(c.a), []byte(c.b)); !strings.HasPrefix(d, c.want) || (c.want == "") != (d == "") {
			t.Errorf("shapeDiff(%s, %s) = %q, want %q", c.a, c.b, d, c.want)
		}
	}
}

func mapScalars(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = mapScalars(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = mapScalars(x)
		}
		return out
	case float64:
		return fmt.Sprint(v) // a string where a number was: still a scalar
	}
	return 7.0
}

func collectObjects(v any, into []map[string]any) []map[string]any {
	switch v := v.(type) {
	case map[string]any:
		into = append(into, v)
		for _, x := range v {
			into = collectObjects(x, into)
		}
	case []any:
		for _, x := range v {
			into = collectObjects(x, into)
		}
	}
	return into
}
