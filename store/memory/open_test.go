package memory_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/annals-dev/annals/store"
	_ "github.com/annals-dev/annals/store/memory"
)

// memory: opens a new store. A URL with more in it is refused with a
// message that says the memory store takes nothing more and names the
// durable stores, rather than opening a store that forgets everything
// for a URL that looks like a file.
func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, "memory:")
	if err != nil {
		t.Fatalf("open memory: %v", err)
	}
	s.Close()
	cases := []struct {
		url  string
		want string // in the error message
	}{
		{"memory:///tmp/app.db", `path "/tmp/app.db"`},
		{"memory:/tmp/app.db", `path "/tmp/app.db"`},
		{"memory:foo", `path "foo"`},
		{"memory:?x=1", "parameters x"},
		{"memory:?b=1&a=2", "parameters a, b"},
		{"memory:?", "a query"},
		{"memory://host", `host "host"`},
		{"memory://me:secret@", "a user name"},
		{"memory:#x", "#fragment"},
	}
	for _, c := range cases {
		s, err := store.Open(ctx, c.url)
		if s != nil {
			s.Close()
		}
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("open %s: %v, want store.ErrInvalid", c.url, err)
			continue
		}
		for _, want := range []string{c.want, "takes no path or parameters", "write memory:", "sqlite:///", "postgres://"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("open %s: %q does not say %q", c.url, err, want)
			}
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("open %s: the error shows the password: %q", c.url, err)
		}
	}
}
