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
	shapes := 0
	for tags := 1; tags <= store.MaxTags && sqlite.CachedStatements(s) < 300; tags++ {
		for types := 0; types <= 10; types++ {
			it := store.QueryItem{}
			for i := range tags {
				it.Tags = append(it.Tags, fmt.Sprintf("t%d", i))
			}
			for i := range types {
				it.Types = append(it.Types, fmt.Sprintf("T%d", i))
			}
			for _, err := range s.ReadQuery(ctx, store.QueryItems(it), 0) {
				if err != nil {
					t.Fatal(err)
				}
			}
			shapes++
		}
	}
	if n := sqlite.CachedStatements(s); n < 256 {
		t.Fatalf("%d query shapes read, %d statements cached; want the cache full", shapes, n)
	}
	for i := range 3 {
		if _, err := s.Append(ctx, fmt.Sprint("s", i), store.NoStream, []store.Event{{Type: "T", Tags: []string{"t0"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if !sqlite.KeepsTaggedAppendStatements(s) {
		t.Fatal("the tagged append's statements are not cached past a full cache: each append leaves two open")
	}
}
