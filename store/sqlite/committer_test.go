package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
)

func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The SQL committer commits the handler's writes in the application's
// tables with the checkpoint, or neither.
func TestSQLCommitter(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			c := s.SQL()
			checkpoint := func(want int64) {
				t.Helper()
				if pos, err := s.Checkpoint(ctx, "p"); err != nil || pos != want {
					t.Fatalf("checkpoint %d, %v; want %d", pos, err, want)
				}
			}
			insert := func(tx *sql.Tx, n int) error {
				for range n {
					if _, err := tx.ExecContext(ctx, `INSERT INTO seen DEFAULT VALUES`); err != nil {
						return err
					}
				}
				return nil
			}
			// A commit that does not move the checkpoint may create tables.
			if err := c.Commit(ctx, "p", 0, 0, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `CREATE TABLE seen (n INTEGER PRIMARY KEY)`)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := c.Commit(ctx, "p", 0, 5, func(tx *sql.Tx) error { return insert(tx, 5) }); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, s.ReadDB(), "seen"); n != 5 {
				t.Fatalf("%d rows after the commit, want 5", n)
			}
			checkpoint(5)

			boom := errors.New("boom")
			if err := c.Commit(ctx, "p", 5, 8, func(tx *sql.Tx) error {
				if err := insert(tx, 3); err != nil {
					return err
				}
				return boom
			}); !errors.Is(err, boom) {
				t.Fatalf("commit whose handler fails: %v, want its error", err)
			}
			ran := false
			if err := c.Commit(ctx, "p", 3, 8, func(tx *sql.Tx) error { ran = true; return insert(tx, 3) }); !errors.Is(err, store.ErrConflict) || ran {
				t.Fatalf("commit from a stale checkpoint: %v (handler ran: %v), want store.ErrConflict before the handler", err, ran)
			}
			if err := c.Commit(ctx, "p", 5, 8, func(tx *sql.Tx) error {
				if err := insert(tx, 3); err != nil {
					return err
				}
				return tx.Commit()
			}); err == nil || !strings.Contains(err.Error(), "committed or rolled back the transaction itself") {
				t.Fatalf("commit whose handler commits the transaction: %v, want an error that says so", err)
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if err := c.Commit(cancelled, "p", 5, 8, func(tx *sql.Tx) error { return insert(tx, 3) }); !errors.Is(err, context.Canceled) {
				t.Fatalf("commit with a cancelled context: %v", err)
			}
			for _, bad := range [][2]int64{{-1, 3}, {5, 3}} {
				if err := c.Commit(ctx, "p", bad[0], bad[1], func(*sql.Tx) error { return nil }); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("commit from %d to %d: %v, want store.ErrInvalid", bad[0], bad[1], err)
				}
			}
			// The handler that committed by itself committed its rows
			// without the checkpoint: what the error warns of.
			checkpoint(5)
			if n := countRows(t, s.ReadDB(), "seen"); n != 8 {
				t.Fatalf("%d rows, want the 5 committed and the 3 the handler committed itself", n)
			}
		})
	}
}

// A view-state commit whose handler runs while another instance commits
// fails, even when the other moved the checkpoint away and back to where
// it was, as a rebuild does: its states were read before that.
func TestStateCommitSeesCommitsWhileItWorks(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			err := s.Commit(ctx, "v", 0, 10, func(tx store.StateTx) error {
				if _, _, err := tx.LoadState(ctx, "v", "k"); err != nil {
					return err
				}
				// Another instance works and rebuilds meanwhile.
				if err := s.Commit(ctx, "v", 0, 10, func(tx store.StateTx) error { return tx.SaveState(ctx, "v", "k", []byte("other")) }); err != nil {
					return err
				}
				if err := s.Commit(ctx, "v", 10, 0, func(tx store.StateTx) error { return tx.DeleteStates(ctx, "v") }); err != nil {
					return err
				}
				return tx.SaveState(ctx, "v", "k", []byte("stale"))
			})
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("commit after another instance committed meanwhile: %v, want store.ErrConflict", err)
			}
			if _, ok, err := s.LoadState(ctx, "v", "k"); ok || err != nil {
				t.Fatalf("the stale commit's state was kept (%v)", err)
			}
			// SQL commits count too.
			err = s.Commit(ctx, "v", 0, 1, func(tx store.StateTx) error {
				return s.SQL().Commit(ctx, "v", 0, 0, func(*sql.Tx) error { return nil })
			})
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("state commit after an SQL commit meanwhile: %v, want store.ErrConflict", err)
			}
		})
	}
}

// A handler that panics inside a write transaction (the SQL committer's,
// or a view state's) gets its panic back at once; the transaction is
// rolled back, the checkpoint stays, and the next write gets the writer.
func TestAPanicInAWriteTransactionLeavesTheStoreUsable(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t)
	for name, commit := range map[string]func() error{
		"sql": func() error {
			return s.SQL().Commit(ctx, "p", 0, 1, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `CREATE TABLE left_behind (x)`); err != nil {
					return err
				}
				panic("handler bug")
			})
		},
		"states": func() error {
			return s.Commit(ctx, "p", 0, 1, func(tx store.StateTx) error {
				if err := tx.SaveState(ctx, "v", "k", []byte(`{}`)); err != nil {
					return err
				}
				panic("handler bug")
			})
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := make(chan any, 1)
			go func() {
				defer func() { got <- recover() }()
				commit()
			}()
			select {
			case v := <-got:
				if v != "handler bug" {
					t.Fatalf("the commit returned with %v, want the handler's panic", v)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the commit whose handler panicked has not returned in 10 s")
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := s.Append(wctx, "after-"+name, store.NoStream, []store.Event{{Type: "E"}}); err != nil {
				t.Fatalf("an append after the panic: %v", err)
			}
			if pos, err := s.Checkpoint(ctx, "p"); err != nil || pos != 0 {
				t.Fatalf("checkpoint %d (%v), want 0: the panicking commit moved it", pos, err)
			}
			if _, ok, err := s.LoadState(ctx, "v", "k"); err != nil || ok {
				t.Fatalf("the panicking commit's state is there (%v)", err)
			}
		})
	}
}
