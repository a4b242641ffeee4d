package codec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
)

// nested returns a value that nests arrays and objects depth levels deep
// in JSON, each level an array or an object as kinds says in turn, with a
// string of brackets, braces, quotes and backslashes beside each level.
func nested(depth int, kinds []bool, decoy string) any {
	var v any = decoy
	for i := range depth {
		if kinds[i%len(kinds)] {
			v = []any{decoy, v}
		} else {
			v = map[string]any{decoy: decoy, "v": v}
		}
	}
	return v
}

// CheckEncoded refuses exactly the JSON that encoding/json cannot decode
// for its depth, whatever the strings inside hold, and says how deep it
// is and what the limit is.
func TestJSONCheckEncodedRefusesWhatJSONCannotDecode(t *testing.T) {
	var c codec.JSONCheck
	rapid.Check(t, func(t *rapid.T) {
		depth := rapid.OneOf(rapid.IntRange(0, 30), rapid.IntRange(9995, 10005)).Draw(t, "depth")
		kinds := rapid.SliceOfN(rapid.Bool(), 1, 8).Draw(t, "kinds")
		decoy := rapid.StringOf(rapid.SampledFrom([]rune(`[]{}"\ab`))).Draw(t, "decoy")
		v := nested(depth, kinds, decoy)
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckEncoded("store it", v, data)
		decodeErr := json.Unmarshal(data, new(any))
		if (err == nil) != (decodeErr == nil) {
			t.Fatalf("%d levels: CheckEncoded = %v, but decoding gives %v", depth, err, decodeErr)
		}
		if err != nil && (!errors.Is(err, codec.ErrUnencodable) || !strings.HasPrefix(err.Error(), "store it") ||
			!strings.Contains(err.Error(), fmt.Sprintf("%d levels deep", depth)) || !strings.Contains(err.Error(), "no more than 10000")) {
			t.Fatalf("%d levels: %v, want an error matching ErrUnencodable that says the depth and the limit", depth, err)
		}
	})
}

// The limit is the decoder's own: JSON nested 10,000 levels decodes and
// passes, and one level more does neither.
func TestJSONCheckEncodedDepthLimit(t *testing.T) {
	var c codec.JSONCheck
	for depth, ok := range map[int]bool{10000: true, 10001: false} {
		data := []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth))
		if err := json.Unmarshal(data, new(any)); (err == nil) != ok {
			t.Fatalf("encoding/json decodes %d levels: %v, want that to be %v", depth, err, ok)
		}
		if err := c.CheckEncoded("store it", []any{}, data); (err == nil) != ok {
			t.Errorf("CheckEncoded of %d levels: %v, but encoding/json decodes them: %v", depth, err, ok)
		}
	}
}

// The codec stores nothing that JSON cannot read back: a value nested
// deeper than encoding/json decodes is refused when it is encoded, and one
// at the limit is stored and read.
func TestEncodeRefusesWhatJSONCannotDecode(t *testing.T) {
	ctx := context.Background()
	type doc struct{ Body any }
	c := codec.NewJSON[doc]().Register("Doc", doc{})
	for depth, ok := range map[int]bool{10000: true, 10001: false} {
		var body any = 1
		for range depth - 1 { // the struct is a level
			body = []any{body}
		}
		ev, err := c.ToEvent(ctx, codec.Placement{StreamID: "doc-1", Version: 1}, doc{Body: body}, store.Metadata{})
		if !ok {
			if !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "10001 levels deep") {
				t.Errorf("depth %d: %v; want ErrUnencodable naming the depth", depth, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("depth %d: %v", depth, err)
		}
		if _, err := c.FromRecord(ctx, store.Record{StreamID: "doc-1", Version: 1, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data}); err != nil {
			t.Errorf("depth %d: stored, then %v", depth, err)
		}
	}
}
