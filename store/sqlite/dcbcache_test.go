package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// An application that reads more query shapes than the cache keeps, and
// only then makes a tagged append, still has that append's statements
// cached: a caller of them does not close them, so a statement prepared
// for the one use would stay open for good, two per append.
func TestTaggedAppendsKeepTheirStatementsPastAFullCache(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "dcb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := sqlite.FillStatementCache(s); err != nil {
		t.Fatal(err)
	}
	full := sqlite.CachedStatements(s)
	for i := range 3 {
		if _, err := s.Append(ctx, fmt.Sprint("s", i), store.NoStream, []store.Event{{Type: "T", Tags: []string{"t0"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if !sqlite.KeepsTaggedAppendStatements(s) {
		t.Fatalf("the tagged append's statements are not cached past a full cache of %d: each append leaves two open", full)
	}
}
