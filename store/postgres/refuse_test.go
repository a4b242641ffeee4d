package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

type (
	ping   struct{}
	pinged struct{ N int }
)

var pings = decider.Decider[ping, pinged, int]{
	Decide: func(_ ping, n int) ([]pinged, error) { return []pinged{{N: n + 1}}, nil },
	Evolve: func(_ int, e pinged) int { return e.N },
}

// A command on a stream ID that no store could hold is refused with
// store.ErrInvalid, as on the other adapters, rather than with the
// server's complaint about the bytes it was sent; so is loading such a
// stream.
func TestStreamIDsNoStoreHoldsAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := annals.NewRunner(annals.New(open(t)), pings, codec.NewJSON[pinged]().Register("Pinged", pinged{}))
	for _, id := range []string{"", "a\x00", "a\xff", strings.Repeat("x", store.MaxStreamIDLen+1)} {
		if _, err := r.Handle(ctx, id, ping{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("a command on stream %.8q: %v, want store.ErrInvalid", id, err)
		}
		if _, _, err := r.Load(ctx, id); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("loading stream %.8q: %v, want store.ErrInvalid", id, err)
		}
	}
}
