package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
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

// A file that is not a SQLite database, and one whose pages were cut off,
// fail to open with store.ErrCorrupt and say what to do, rather than with
// SQLite's bare "file is not a database" or "disk image is malformed".
func TestAFileThatIsNoDatabaseOrIsDamagedIsCorrupt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database; "), 512), 0o644); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.db")
	s, err := sqlite.Open(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i), store.NoStream, []store.Event{{Type: "T", Data: bytes.Repeat([]byte("x"), 500)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(cut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(cut, info.Size()/3); err != nil {
		t.Fatal(err)
	}
	for path, says := range map[string]string{garbage: "not a SQLite database", cut: "restore"} {
		s, err := sqlite.Open(ctx, path)
		if err == nil {
			// A cut that leaves the schema's pages whole opens; the
			// first read of a lost page then fails.
			s.Close()
			t.Fatalf("%s: opened", filepath.Base(path))
		}
		if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), says) || !strings.Contains(err.Error(), "annals verify") {
			t.Errorf("%s: %v; want store.ErrCorrupt saying %q and what to do", filepath.Base(path), err, says)
		}
	}
}
