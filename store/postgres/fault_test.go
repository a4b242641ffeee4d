package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// faulty is a store whose sessions carry an application_name of their own,
// so that a test can end them, and a connection of the test's to do so.
type faulty struct {
	*postgres.Store
	db    pgtest.DB
	app   string
	admin *pgx.Conn
}

func openFaulty(t *testing.T) *faulty { return openFaultyWith(t, "&pool_max_conns=6") }

// openFaultyWith is openFaulty with the pool settings of params.
func openFaultyWith(t *testing.T, params string) *faulty {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t)
	app := "annals-fault-" + uuid.NewString()[:8]
	s, err := postgres.Open(ctx, db.URL+params+"&application_name="+app, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return &faulty{Store: s, db: db, app: app, admin: admin}
}

// terminate ends the store's server sessions, those in the given wait
// event only when it is not empty, waits until they are gone, and returns
// how many there were.
func (f *faulty) terminate(t *testing.T, waitEvent string) int {
	t.Helper()
	var n int
	err := f.admin.QueryRow(context.Background(), `
		SELECT count(*) FROM (
			SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
			WHERE application_name = $1 AND ($2 = '' OR wait_event = $2)
		) ended`, f.app, waitEvent).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// terminateWhenSleeping ends the store's sessions as soon as one of them
// sleeps in pg_sleep (in a trigger the test installed), and reports
// whether it found one.
func (f *faulty) terminateWhenSleeping(t *testing.T) bool {
	for range 1000 {
		if f.terminate(t, "PgSleep") > 0 {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func (f *faulty) exec(t *testing.T, sql string) {
	t.Helper()
	if _, err := f.admin.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func batch(n, size int, typ string) []store.Event {
	events := make([]store.Event, n)
	for i := range events {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i + j)
		}
		events[i] = store.Event{Type: typ, Data: data}
	}
	return events
}

// When the server closes every connection of the store, the store goes
// on by itself: reads succeed at once, and an append fails at most once.
func TestRecoversAfterServerClosesConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := openFaulty(t)
	var appended int64
	for round := range 3 {
		// Several connections in the pool, all of which will die.
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				if _, err := f.Append(ctx, fmt.Sprintf("r%d-w%d", round, w), store.NoStream, []store.Event{{Type: "A"}}); err != nil {
					t.Errorf("append before terminating: %v", err)
				}
			})
		}
		wg.Wait()
		appended += 4
		if n := f.terminate(t, ""); n == 0 {
			t.Fatal("the store had no sessions to terminate")
		}

		head, err := f.Head(ctx)
		if err != nil || head != appended {
			t.Fatalf("round %d: head after the server closed the connections = %d, %v; want %d", round, head, err, appended)
		}
		if recs, err := f.ReadLog(ctx, store.LogQuery{}); err != nil || int64(len(recs)) != appended {
			t.Fatalf("round %d: read log: %d records, %v", round, len(recs), err)
		}
		if _, err := f.Checkpoint(ctx, "c"); err != nil {
			t.Fatalf("round %d: checkpoint: %v", round, err)
		}
		id := fmt.Sprintf("r%d-after", round)
		if _, err := f.Append(ctx, id, store.NoStream, []store.Event{{Type: "B"}}); err != nil {
			if _, err := f.Append(ctx, id, store.NoStream, []store.Event{{Type: "B"}}); err != nil {
				t.Fatalf("round %d: append failed twice after the server closed the connections: %v", round, err)
			}
		}
		appended++
		if err := f.Wait(ctx, appended-1); err != nil {
			t.Fatalf("round %d: wait: %v", round, err)
		}
	}
}

// The connection of an append dies while the server inserts its events
// (a trigger makes the insert sleep): the append returns an error and
// nothing of it is stored.
func TestConnectionDroppedDuringInsert(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := openFaulty(t)
	events := pgx.Identifier{f.db.Schema, "annals_events"}.Sanitize()
	f.exec(t, `CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.type = 'SlowInsert' THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$`)
	f.exec(t, `CREATE TRIGGER slow_insert BEFORE INSERT ON `+events+` FOR EACH ROW EXECUTE FUNCTION slow_insert()`)

	done := make(chan bool)
	go func() { done <- f.terminateWhenSleeping(t) }()
	_, err := f.Append(ctx, "dropped", store.NoStream, append(batch(20, 8<<10, "Fine"), batch(1, 10, "SlowInsert")...))
	if !<-done {
		t.Fatal("the append never reached the sleeping trigger")
	}
	if err == nil {
		t.Fatal("an append whose connection was closed during the insert succeeded")
	}
	if !f.Unavailable(err) {
		t.Fatalf("append whose connection the server closed: %v; want the store to call it unavailable", err)
	}
	recs, rerr := collect(f.ReadStream(ctx, "dropped", 0))
	if rerr != nil || len(recs) != 0 {
		t.Fatalf("after the failed append the stream holds %d events (%v), want none", len(recs), rerr)
	}
	if head, err := f.Head(ctx); err != nil || head != 0 {
		t.Fatalf("head after the failed append = %d, %v; want 0", head, err)
	}
	if _, err := f.Append(ctx, "dropped", store.NoStream, batch(20, 8<<10, "Fine")); err != nil {
		t.Fatalf("append again: %v", err)
	}
}

// Connections die at random moments while appends of large batches run,
// half of them while a consumer waits (holding the wait lock), so that
// they take the path that appends without the lock and then notifies:
// whatever each append returned, its batch is stored whole or not at
// all, one that succeeded is stored, and one that failed but is stored
// said that its outcome was unknown.
func TestConnectionDroppedAtRandom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := openFaulty(t)
	waiter, err := pgx.Connect(ctx, f.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close(ctx)
	waitLock := postgres.WaitLockKey(f.Store)
	const size = 30
	outcomes := map[string]int{}
	for i := range 25 {
		if i%2 == 1 {
			if _, err := waiter.Exec(ctx, "SELECT pg_advisory_lock($1)", waitLock); err != nil {
				t.Fatal(err)
			}
		}
		id := fmt.Sprintf("random-%d", i)
		delay := time.Duration(rand.IntN(20_000)) * time.Microsecond
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			time.Sleep(delay)
			f.terminate(t, "")
		}()
		_, err := f.Append(ctx, id, store.NoStream, batch(size, 16<<10, "Big"))
		<-killed
		if i%2 == 1 {
			if _, err := waiter.Exec(ctx, "SELECT pg_advisory_unlock($1)", waitLock); err != nil {
				t.Fatal(err)
			}
		}
		var recs []store.Record
		var rerr error
		for range 3 { // the first read may meet a closed connection
			if recs, rerr = collect(f.ReadStream(ctx, id, 0)); rerr == nil {
				break
			}
		}
		if rerr != nil {
			t.Fatalf("read stream %q: %v", id, rerr)
		}
		switch {
		case len(recs) == size && err == nil:
			outcomes["succeeded"]++
		case len(recs) == size && !errors.Is(err, store.ErrOutcomeUnknown):
			t.Fatalf("append %d failed with %q, which does not match store.ErrOutcomeUnknown, but it is stored", i, err)
		case len(recs) == size:
			outcomes["failed, outcome unknown, stored whole"]++
		case len(recs) == 0 && errors.Is(err, store.ErrOutcomeUnknown):
			outcomes["failed, outcome unknown, stored nothing"]++
		case len(recs) == 0 && err != nil:
			outcomes["failed, stored nothing"]++
		case len(recs) == 0:
			t.Fatalf("append %d succeeded but its stream is empty", i)
		default:
			t.Fatalf("append %d (error %v) left %d of %d events", i, err, len(recs), size)
		}
	}
	t.Logf("outcomes: %v", outcomes)
	log, err := f.ReadLog(ctx, store.LogQuery{Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range log {
		if r.Position != int64(i)+1 {
			t.Fatalf("log record %d has position %d", i, r.Position)
		}
		if r.Version > 1 && (i == 0 || log[i-1].StreamID != r.StreamID) {
			t.Fatalf("the batch of %q is split in the log at position %d", r.StreamID, r.Position)
		}
	}
}

func collect(seq func(func(store.Record, error) bool)) ([]store.Record, error) {
	var out []store.Record
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
