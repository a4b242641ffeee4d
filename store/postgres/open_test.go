package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
)

// A store that failed to open is nil, not an interface holding a nil
// *postgres.Store whose Close would panic: whether the store refused its
// parameters or the server could not be reached. Neither needs a server.
func TestFailedOpenReturnsNoStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, u := range []string{
		"postgres://localhost/db?schema=" + strings.Repeat("s", 64),
		"postgres://user@127.0.0.1:1/db?connect_timeout=5",
	} {
		s, err := store.Open(ctx, u)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened, want an error", u)
			continue
		}
		if s != nil {
			t.Errorf("%s: failed with %v but returned a non-nil store.Store (%#v)", u, err, s)
		}
	}
}
