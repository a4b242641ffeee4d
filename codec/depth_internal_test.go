package codec

import (
	"encoding/json"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// jsonValue draws a JSON value and the depth of its nesting, with
// strings that may hold brackets, braces, quotes and backslashes.
func jsonValue(t *rapid.T, budget int) (any, int) {
	if budget == 0 {
		return rapid.String().Draw(t, "s"), 0
	}
	switch rapid.IntRange(0, 3).Draw(t, "kind") {
	case 0:
		return rapid.OneOf(rapid.Just[any](nil), rapid.Just[any](1.5), rapid.Just[any](true),
			rapid.Map(rapid.String(), func(s string) any { return s })).Draw(t, "scalar"), 0
	case 1:
		n := rapid.IntRange(0, 3).Draw(t, "len")
		a, deepest := make([]any, n), 0
		for i := range a {
			var d int
			a[i], d = jsonValue(t, budget-1)
			deepest = max(deepest, d)
		}
		return a, deepest + 1
	default:
		n := rapid.IntRange(0, 3).Draw(t, "len")
		o, deepest := map[string]any{}, 0
		for i := range n {
			v, d := jsonValue(t, budget-1)
			o[fmt.Sprint(i, rapid.String().Draw(t, "key"))] = v // keys differ
			deepest = max(deepest, d)
		}
		return o, deepest + 1
	}
}

// jsonDepth counts the nesting of the value JSON wrote, and nothing
// inside its strings.
func TestJSONDepth(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v, depth := jsonValue(t, rapid.IntRange(0, 6).Draw(t, "budget"))
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonDepth(data); got != depth {
			t.Fatalf("jsonDepth(%s) = %d, want %d", data, got, depth)
		}
	})
}
