package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// With create=false, a path that names no file, or a file that holds no
// store, is refused and left as it was; a store opens as ever.
func TestOpenWithoutCreate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := store.Open(ctx, "sqlite://"+missing+"?create=false"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a missing file: %v, want store.ErrNotFound", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the missing file was created: %v", err)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, empty, sqlite.WithCreate(false)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a file that holds no store: %v, want store.ErrNotFound", err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Errorf("the file that holds no store was written to: %v %v", fi, err)
	}

	existing := filepath.Join(dir, "events.db")
	s, err := sqlite.Open(ctx, existing)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := store.Open(ctx, "sqlite://"+existing+"?create=false")
	if err != nil {
		t.Fatalf("an existing store: %v", err)
	}
	s2.Close()

	for _, u := range []string{"sqlite://" + existing + "?create=maybe", "sqlite::memory:?create=false"} {
		if _, err := store.Open(ctx, u); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want store.ErrInvalid", u, err)
		}
	}
}
