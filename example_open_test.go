package annals_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/store/memory"
)

// docs:begin open-imports
import (
	"github.com/annals-dev/annals"
	_ "github.com/annals-dev/annals/store/memory"   // memory:
	_ "github.com/annals-dev/annals/store/postgres" // postgres://… and postgresql://…
	_ "github.com/annals-dev/annals/store/sqlite"   // sqlite:///…
)

// docs:end open-imports

// run is the start of an application: its store comes from the
// environment, so the same program runs on the memory store in tests and
// on a database in production.
func run(ctx context.Context, app func(*annals.Store) error) error {
	// docs:begin open
	s, err := annals.Open(ctx, os.Getenv(annals.EnvVar)) // ANNALS_STORE
	if err != nil {
		return err
	}
	defer s.Close()
	// docs:end open
	return app(s)
}

func TestOpenFromTheEnvironment(t *testing.T) {
	everything := func(s *annals.Store) error {
		if missing := s.Unsupported(); len(missing) > 0 {
			return fmt.Errorf("unsupported: %q", missing)
		}
		return nil
	}
	for _, url := range []string{"memory:", "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "app.db"))} {
		t.Setenv(annals.EnvVar, url)
		if err := run(context.Background(), everything); err != nil {
			t.Errorf("%s: %v", url, err)
		}
	}
	t.Setenv(annals.EnvVar, "")
	if err := run(context.Background(), everything); err == nil {
		t.Error("an empty ANNALS_STORE opened a store; want an error")
	}
}

// A handle on an adapter value, for a test or for a program that
// configures the adapter in Go.
func ExampleNew() {
	s := annals.New(memory.New())
	defer s.Close()
	fmt.Println(s.Unsupported())
	// Output: []
}
