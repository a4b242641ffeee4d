package rawgroup_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/annals-dev/annals/internal/rawgroup"
)

// Writes from many goroutines are each stored when Do returns nil, and
// a write that fails stores nothing and fails alone.
func TestWritesAreStoredOrFailAlone(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "g.db")+"?_txlock=immediate&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	c := rawgroup.New(db)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = c.Do(ctx, func(tx *sql.Tx) error {
				if i%10 == 3 {
					_, err := tx.Exec(`INSERT INTO t (k) VALUES (?), (?)`, 1000+i, 1000+i) // fails whole
					return err
				}
				_, err := tx.Exec(`INSERT INTO t (k) VALUES (?)`, i)
				return err
			})
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		var stored int
		if qerr := db.QueryRow(`SELECT count(*) FROM t WHERE k IN (?, ?)`, i, 1000+i).Scan(&stored); qerr != nil {
			t.Fatal(qerr)
		}
		want := 1
		if i%10 == 3 {
			want = 0
		}
		if (err == nil) != (want == 1) || stored != want {
			t.Errorf("write %d: error %v, %d rows stored; want %s", i, err, stored, map[bool]string{true: "success and 1 row", false: "an error and none"}[want == 1])
		}
	}
}
