package upcast

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// JSON returns an upcaster that edits a JSON object payload through f, as
// a map from field names to raw JSON values. The result is the object f
// leaves, re-encoded with its fields in sorted order and no whitespace
// between tokens, even when f changes nothing: {"b": {"x" : 1}} becomes
// {"b":{"x":1}}. Values that f does not touch keep their text otherwise:
// escapes such as \u00e9 and numbers such as 1.50 are not rewritten.
// Field names are decoded and written again, so an escape in a name may
// come out as the character it stands for. A payload that is not a JSON
// object fails with an error. It panics when f is nil.
//
//	upcast.JSON(func(o map[string]json.RawMessage) error {
//		o["currency"] = json.RawMessage(`"EUR"`)
//		return nil
//	})
func JSON(f func(obj map[string]json.RawMessage) error) Func {
	if f == nil {
		panic("annals: upcast.JSON: nil function: give the function that changes the payload's fields")
	}
	return func(data []byte) ([]byte, error) {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("payload is not a JSON object: %w", err)
		}
		if obj == nil { // the payload was null
			return nil, fmt.Errorf("payload is JSON null, not an object")
		}
		if err := f(obj); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(obj); err != nil {
			return nil, fmt.Errorf("re-encode payload: %w", err)
		}
		return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
	}
}

// RenameField returns an upcaster that renames the top-level field from of
// a JSON object to to. A payload without the field gets no field to (the
// writer may have omitted an empty value), and is re-encoded as [JSON]
// re-encodes every payload: sorted, without whitespace. One that already
// has a field named to fails, since its meaning would be ambiguous.
func RenameField(from, to string) Func {
	return JSON(func(obj map[string]json.RawMessage) error {
		v, ok := obj[from]
		if !ok {
			return nil
		}
		if _, clash := obj[to]; clash {
			return fmt.Errorf("rename field %q to %q: the payload already has a field %q", from, to, to)
		}
		delete(obj, from)
		obj[to] = v
		return nil
	})
}
