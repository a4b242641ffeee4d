package store_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/annals-dev/annals/store"
)

// brokenStore is an adapter's store type whose open failed: the opener
// returns a nil pointer to it together with the error.
type brokenStore struct{ store.Store }

func init() {
	errRefused := errors.New("refused")
	store.Register("test-typed-nil", func(context.Context, *url.URL) (store.Store, error) {
		var s *brokenStore
		return s, errRefused
	})
	store.Register("test-nothing", func(context.Context, *url.URL) (store.Store, error) { return nil, nil })
}

// Open returns a store or an error, never both: a nil store, not an
// interface holding a nil pointer, whatever the adapter's opener did.
func TestOpenReturnsNoStoreWithAnError(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"test-typed-nil:", "test-nothing:", "no-such-scheme:", "::"} {
		s, err := store.Open(ctx, u)
		if err == nil {
			t.Errorf("%s: opened without an error", u)
		}
		if s != nil {
			t.Errorf("%s: failed with %v but returned the store %#v", u, err, s)
		}
	}
}

// An empty URL, an unset variable's, is refused with a message that says
// so and names the variable: there is no default store to fall back on.
func TestOpenRefusesAnEmptyURLNamingTheVariable(t *testing.T) {
	for _, u := range []string{"", "  "} {
		s, err := store.Open(context.Background(), u)
		if s != nil || !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "URL is empty") || !strings.Contains(err.Error(), store.EnvVar) {
			t.Errorf("Open(%q) = %v, %v; want ErrInvalid saying the URL is empty and naming %s", u, s, err, store.EnvVar)
		}
	}
}
