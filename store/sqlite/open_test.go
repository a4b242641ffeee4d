package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/store"
)

// A store that failed to open is nil, not an interface holding a nil
// *sqlite.Store whose Close would panic: whether the URL was refused, the
// path was, or the file turned out not to be a database.
func TestFailedOpenReturnsNoStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("not a database, not at all, for sure not"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"sqlite:relative.db",
		"sqlite://" + filepath.Join(dir, "missing", "app.db"),
		"sqlite://" + garbage,
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
