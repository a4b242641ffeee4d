package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// A store whose schema is current opens without the write lock: while
// another connection holds it (BEGIN IMMEDIATE), an open, with a
// deadline far shorter than the busy timeout or through a URL with
// create=false as the annals tool opens, succeeds at once and reads.
func TestOpenTakesNoWriteLockWhenTheSchemaIsCurrent(t *testing.T) {
	s, path := openFile(t)
	if _, err := s.Append(context.Background(), "a", store.NoStream, []store.Event{event("A")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	tx, err := rawDB(t, path).BeginTx(context.Background(), nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	opens := map[string]func(ctx context.Context) (store.Store, error){
		"Open": func(ctx context.Context) (store.Store, error) {
			return sqlite.Open(ctx, path, sqlite.WithBusyTimeout(30*time.Second))
		},
		"URL with create=false": func(ctx context.Context) (store.Store, error) {
			return store.Open(ctx, "sqlite://"+path+"?create=false&busy_timeout=30s")
		},
	}
	for name, open := range opens {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		began := time.Now()
		o, err := open(ctx)
		took := time.Since(began)
		cancel()
		if err != nil {
			t.Fatalf("%s while another connection holds the write lock: %v (after %v)", name, err, took)
		}
		head, err := o.Head(context.Background())
		o.Close()
		if err != nil || head != 1 {
			t.Fatalf("%s: head %d (%v); want 1", name, head, err)
		}
	}
}

// Stores that open a new file at once apply each step of the schema
// once: the first to take the write lock migrates, the others find the
// schema current under the lock.
func TestStoresOpeningANewFileMigrateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := sqlite.Open(context.Background(), path, sqlite.WithBusyTimeout(time.Minute))
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := openAt(t, path)
	var steps, latest int
	if err := s.ReadDB().QueryRowContext(context.Background(), `SELECT count(*), max(version) FROM annals_schema_migrations`).Scan(&steps, &latest); err != nil {
		t.Fatal(err)
	}
	if steps != latest || steps == 0 {
		t.Fatalf("the schema records %d steps up to version %d; want each step once", steps, latest)
	}
}
