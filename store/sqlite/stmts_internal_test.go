package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// openTemp opens a store in a file of name in a new temporary directory,
// closed when the test ends.
func openTemp(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// groups names the statement groups of s.
func groups(s *Store) map[string]*stmtGroup {
	return map[string]*stmtGroup{
		"appends": &s.appendStmts, "log": &s.logStmts, "leases": &s.leaseStmts,
		"consumer reads": &s.consumerReads, "consumer writes": &s.consumerWrites,
		"snapshot reads": &s.snapshotReads, "snapshot writes": &s.snapshotWrites,
		"key reads": &s.keyReads, "key writes": &s.keyWrites,
	}
}

// ready lists the groups of s that are prepared, and checks that each
// statement of a ready group is there.
func ready(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for name, g := range groups(s) {
		if !g.ready.Load() {
			continue
		}
		out = append(out, name)
		for _, d := range g.stmts {
			if *d.stmt == nil {
				t.Errorf("group %s is ready without %q", name, d.query)
			}
		}
	}
	return out
}

// A process that opens a store to append and read a stream, a cold
// start, prepares the statements of that and no others; each other group
// is prepared by the first call that needs it, and all of them are closed
// with the store.
func TestStatementsArePreparedByTheFirstCallThatNeedsThem(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{filepath.Join(t.TempDir(), "lazy.db"), Memory} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Append(ctx, "s-1", 0, []store.Event{{ID: uuid.New(), Type: "T", Data: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
			for _, err := range s.ReadStream(ctx, "s-1", 1) {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := ready(t, s); len(got) != 1 || got[0] != "appends" {
				t.Fatalf("after open, append and read: prepared %v, want only appends", got)
			}
			calls := []struct {
				group string
				call  func() error
			}{
				{"log", func() error { _, err := s.Head(ctx); return err }},
				{"consumer reads", func() error { _, err := s.Checkpoint(ctx, "c"); return err }},
				{"consumer writes", func() error { return s.SetCheckpoint(ctx, "c", 1) }},
				{"snapshot reads", func() error {
					_, _, err := s.LatestSnapshot(ctx, "s-1")
					return err
				}},
				{"snapshot writes", func() error {
					return s.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "s-1", Version: 1, Type: "T", SchemaVersion: 1, Data: []byte(`{}`)})
				}},
				{"key reads", func() error {
					_, err := s.SubjectKey(ctx, "nobody")
					if errors.Is(err, store.ErrNotFound) {
						return nil
					}
					return err
				}},
				{"key writes", func() error { return s.DeleteSubjectKey(ctx, "nobody") }},
				{"leases", func() error {
					l, err := s.Lock(ctx, "l")
					if err != nil {
						return err
					}
					return l.Release()
				}},
			}
			for _, c := range calls {
				before := len(ready(t, s))
				if groups(s)[c.group].ready.Load() {
					t.Fatalf("group %s was prepared before its first call", c.group)
				}
				if err := c.call(); err != nil {
					t.Fatalf("first call of group %s: %v", c.group, err)
				}
				if got := ready(t, s); !groups(s)[c.group].ready.Load() || len(got) != before+1 {
					t.Fatalf("after the first call of group %s: prepared %v, want it alone more", c.group, got)
				}
			}
			s.stmtsMu.Lock()
			n := len(s.stmts)
			s.stmtsMu.Unlock()
			want := 0
			for _, g := range groups(s) {
				want += len(g.stmts)
			}
			if n != want {
				t.Fatalf("%d statements kept to close, want %d", n, want)
			}
		})
	}
}

// Goroutines that make the first calls of every group at once each get
// a prepared statement: none sees a group half prepared (run with -race).
func TestFirstCallsAtOnce(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, "once.db")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			if _, err := s.Head(ctx); err != nil {
				errs <- err
			}
			if _, err := s.Checkpoint(ctx, "c"); err != nil {
				errs <- err
			}
			if _, _, err := s.LoadState(ctx, "v", "k"); err != nil {
				errs <- err
			}
			snap := snapshot.Snapshot{StreamID: "s", Version: int64(i + 1), Type: "T", SchemaVersion: 1, Data: []byte(`{}`)}
			if err := s.SaveSnapshot(ctx, snap); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if snap, ok, err := s.LatestSnapshot(ctx, "s"); err != nil || !ok || snap.Version != 8 {
		t.Fatalf("latest snapshot: %+v %v %v, want version 8", snap, ok, err)
	}
}

// A statement that cannot be prepared fails the call with an error that
// names its group and query, prepares nothing twice, and the next call
// tries again; once the store is closed, preparing says so.
func TestAStatementThatCannotBePreparedFailsTheCall(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, "bad.db")
	var good, bad, later *sql.Stmt
	g := &stmtGroup{name: "tests", stmts: []stmtDef{
		{s.r, &good, `SELECT 1`},
		{s.r, &bad, `SELECT * FROM no_such_table`},
		{s.w, &later, `SELECT 2`},
	}}
	err := s.prepare(ctx, g)
	if err == nil || !strings.Contains(err.Error(), "prepare the statements of tests") || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("prepare: %v, want an error naming the group and the query", err)
	}
	if g.ready.Load() || good == nil || bad != nil || later != nil {
		t.Fatalf("after a failed prepare: ready %v, statements %v %v %v", g.ready.Load(), good, bad, later)
	}
	first := good
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE no_such_table (x)`); err != nil {
		t.Fatal(err)
	}
	if err := s.prepare(ctx, g); err != nil {
		t.Fatal(err)
	}
	if !g.ready.Load() || good != first || bad == nil || later == nil {
		t.Fatalf("after the second prepare: ready %v, first statement kept %v", g.ready.Load(), good == first)
	}

	var none *sql.Stmt
	closedGroup := &stmtGroup{name: "after close", stmts: []stmtDef{{s.r, &none, `SELECT 3`}}}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.prepare(ctx, closedGroup); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("prepare after Close: %v, want store.ErrClosed", err)
	}
}

// A read's first call prepares statements of the readers alone: on a
// file it never waits for the writer connection, so it answers while a
// write holds that connection, as inside a read model's transaction,
// where a read of a subject's key, a snapshot, a checkpoint or a state
// waited for ever when its group held a write's statement too.
func TestAFirstReadDoesNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, "reads.db")
	reads := map[string]func(context.Context) error{
		"SubjectKey": func(ctx context.Context) error {
			_, err := s.SubjectKey(ctx, "x")
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		},
		"LatestSnapshot": func(ctx context.Context) error { _, _, err := s.LatestSnapshot(ctx, "s-1"); return err },
		"Checkpoint":     func(ctx context.Context) error { _, err := s.Checkpoint(ctx, "c"); return err },
		"LoadState":      func(ctx context.Context) error { _, _, err := s.LoadState(ctx, "v", "k"); return err },
		"LoadStates":     func(ctx context.Context) error { _, err := s.LoadStates(ctx, "v", []string{"k"}); return err },
		"Head":           func(ctx context.Context) error { _, err := s.Head(ctx); return err },
	}
	err := s.SQL().Commit(ctx, "holder", 0, 0, func(*sql.Tx) error {
		for name, read := range reads {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := read(rctx)
			cancel()
			if err != nil {
				return fmt.Errorf("%s while a write holds the writer: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
