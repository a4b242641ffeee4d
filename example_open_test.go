package annals_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/sqlite"
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

// A store that an annals copy has not finished writing to is refused: an
// application would run on part of its source. Once the copy has ended
// (the mark is gone), it opens.
func TestOpenRefusesAnUnfinishedCopy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "target.db")
	a, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ImportCheckpoints(ctx, []store.Checkpoint{{Consumer: annals.UnfinishedCopy, Position: 1}}); err != nil {
		t.Fatal(err)
	}
	url := "sqlite://" + filepath.ToSlash(path)
	s, err := annals.Open(ctx, url)
	if !errors.Is(err, annals.ErrUnfinishedCopy) || s != nil || !strings.Contains(err.Error(), "run the same copy again") {
		t.Fatalf("Open of a store marked unfinished: %v, %v; want no store and ErrUnfinishedCopy saying what to do", s, err)
	}
	if err := a.DeleteCheckpoints(ctx, []string{annals.UnfinishedCopy}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	s, err = annals.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open once the copy has ended: %v", err)
	}
	s.Close()
}
