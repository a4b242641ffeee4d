package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/samber/lo"
)

// A snapshot is a cache of a fold, written by one Go type and read by
// another after a deploy. When the state's type changed its shape (a
// field added, removed or renamed; the parts of a composite reordered)
// and kept its schema version, encoding/json reads the old bytes without
// an error: unknown fields are dropped, missing ones left zero, and the
// runner would decide on a state no replay gives. So a snapshot is read
// back only when its JSON has the shape the state's type writes: the
// state decoded from it, encoded again, has the same object keys at
// every depth and arrays of the same lengths. Values are not compared,
// so a type that writes a value in another form than it was read (a
// decimal's trailing zeros) is not refused.

// shapeDiff returns where the JSON documents stored and written differ in
// shape, as a path (".First.Items", "[2].name"), or "" when they have one
// shape or either is not JSON (a codec of another format).
func shapeDiff(stored, written []byte) string {
	if bytes.Equal(stored, written) {
		return "" // the common case, read by the type that wrote it
	}
	var a, b any
	if json.Unmarshal(stored, &a) != nil || json.Unmarshal(written, &b) != nil {
		return ""
	}
	return diffShape("", a, b)
}

func diffShape(path string, a, b any) string {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok {
			return lo.Ternary(path == "", "the document", path) + " (an object, now " + kindOf(b) + ")"
		}
		only, also := lo.Difference(lo.Keys(a), lo.Keys(b))
		if len(only) > 0 {
			slices.Sort(only)
			return path + "." + only[0] + " (stored, no longer written)"
		}
		if len(also) > 0 {
			slices.Sort(also)
			return path + "." + also[0] + " (written now, not stored)"
		}
		keys := lo.Keys(a)
		slices.Sort(keys)
		for _, k := range keys {
			if d := diffShape(path+"."+k, a[k], b[k]); d != "" {
				return d
			}
		}
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return lo.Ternary(path == "", "the document", path) + " (an array of " + strconv.Itoa(len(a)) + ", now " + kindOf(b) + ")"
		}
		for i := range a {
			if d := diffShape(fmt.Sprintf("%s[%d]", path, i), a[i], b[i]); d != "" {
				return d
			}
		}
	default:
		switch b.(type) {
		case map[string]any, []any:
			return lo.Ternary(path == "", "the document", path) + " (" + kindOf(a) + ", now " + kindOf(b) + ")"
		}
	}
	return ""
}

func kindOf(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array of " + strconv.Itoa(len(v))
	case nil:
		return "null"
	}
	return "a value"
}

// checkSnapshotShape refuses a snapshot whose stored JSON (data, after
// upcasting) has another shape than written, the JSON of the state it
// was decoded to.
func checkSnapshotShape(name string, version int, data, written []byte) error {
	if d := shapeDiff(data, written); d != "" {
		return fmt.Errorf("snapshot %q v%d: the stored state differs in shape from what its Go type writes now, at %s: the type changed (a field added, removed or renamed, parts reordered) without a new schema version, so the snapshot is not read as it would be misread: %w",
			name, version, d, ErrSchemaVersion)
	}
	return nil
}
