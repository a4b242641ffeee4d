package codec_test

import (
	"errors"
	"strings"
	"testing"

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
		holder  struct{ V any }
		onlyTag struct {
			Reply chan error `json:"-"`
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
