package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
)

// timedBacklog makes a log of 30 events that nobody has numbered yet, in
// appends of 5 while nothing reads, then makes every sequencing step last
// longer than a statement_timeout of 25ms (a trigger sleeps in the update
// that numbers: a step over a large backlog on a busy server, made
// certain), and returns a store opened with that timeout, whose steps
// number 5 events each, and a store without it.
func timedBacklog(t *testing.T) (timed, plain *Store, n int64) {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t)
	open := func(params string) *Store {
		s, err := Open(ctx, db.URL+params, WithSchema(db.Schema))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	plain = open("")
	for i := range 6 {
		if _, err := plain.Append(ctx, fmt.Sprintf("s-%d", i), store.NoStream, lo.Times(5, func(int) store.Event { return store.Event{Type: "E"} })); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := plain.pool.Exec(ctx, `
		CREATE FUNCTION `+db.Schema+`.slow_numbering() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(0.1); RETURN NULL; END $$;
		CREATE TRIGGER slow_numbering BEFORE UPDATE ON `+plain.n.events+`
		FOR EACH STATEMENT EXECUTE FUNCTION `+db.Schema+`.slow_numbering()`); err != nil {
		t.Fatal(err)
	}
	timed = openTimed(t, db)
	timed.batch = 5
	return timed, plain, 30
}

// openTimed opens a store on db with a statement_timeout of 25ms, closed
// when t ends. Open's own first query runs under the timeout too, and a
// loaded machine can stall it past 25ms: that is not what the tests are
// about, so an open cut by the timeout is tried again.
func openTimed(t *testing.T, db pgtest.DB) *Store {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := Open(context.Background(), db.URL+"&statement_timeout=25ms", WithSchema(db.Schema))
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && pgErr.Code == "57014" && attempt < 20 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// A statement_timeout in the URL shorter than a sequencing step does not
// stop the global log: each step runs to its end whatever the timeout,
// so a backlog drains in steps of a batch each, through every path that
// numbers (Head, ReadLog, Wait), and the head reaches the last event.
func TestStatementTimeoutDoesNotCutNumbering(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	numbered := func(t *testing.T, plain *Store, n int64) {
		t.Helper()
		var pending, last int64
		if err := plain.pool.QueryRow(ctx, "SELECT count(*) FILTER (WHERE position IS NULL), coalesce(max(position), 0) FROM "+plain.n.events).Scan(&pending, &last); err != nil {
			t.Fatal(err)
		}
		if pending != 0 || last != n {
			t.Fatalf("%d events without a position, last position %d; want 0 and %d", pending, last, n)
		}
	}
	t.Run("Head", func(t *testing.T) {
		timed, plain, n := timedBacklog(t)
		head, err := timed.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head != n {
			t.Fatalf("head %d, want %d", head, n)
		}
		numbered(t, plain, n)
	})
	t.Run("ReadLog", func(t *testing.T) {
		timed, plain, n := timedBacklog(t)
		if got := readAll(t, timed, 0); int64(len(got)) != n || got[n-1].Position != n {
			t.Fatalf("read %d events, want %d", len(got), n)
		}
		numbered(t, plain, n)
	})
	t.Run("Wait", func(t *testing.T) {
		timed, plain, n := timedBacklog(t)
		if err := timed.Wait(ctx, n-1); err != nil {
			t.Fatal(err)
		}
		numbered(t, plain, n)
	})
}

// A waiter queues for the wait lock behind an append in progress for as
// long as lock_timeout allows, not statement_timeout: the append commits
// after the timeout, and the waiter, still queued, sees its events.
func TestStatementTimeoutDoesNotCutTheWaitLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.New(t)
	s := openTimed(t, db)
	writer := uncommitted(t, s, "slow", 3)
	waited := make(chan error, 1)
	go func() { waited <- s.Wait(ctx, 0) }()
	waitForWaiter(t, s, false)
	time.Sleep(100 * time.Millisecond) // four times the timeout, queued
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if head, err := s.Head(ctx); err != nil || head != 3 {
		t.Fatalf("head %d, %v; want 3", head, err)
	}
}

// Opening a store migrates its tables whatever the URL's
// statement_timeout: here the migration waits for another process's
// migration lock four times longer than the timeout, then runs.
func TestStatementTimeoutDoesNotCutMigrations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.New(t)
	n, err := newNames(db.Schema, "annals_")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1)", n.migrationLock); err != nil {
		t.Fatal(err)
	}
	unlocked := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, err := other.Exec(ctx, "SELECT pg_advisory_unlock($1)", n.migrationLock)
		unlocked <- err
	}()
	s, err := Open(ctx, db.URL+"&statement_timeout=25ms", WithSchema(db.Schema))
	if err := <-unlocked; err != nil {
		t.Error(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
