package postgres

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
)

func openInternal(t *testing.T) *Store {
	t.Helper()
	db := pgtest.New(t)
	s, err := Open(context.Background(), db.URL+"&pool_max_conns=12", WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// uncommitted runs the store's append statement for a new stream in a
// transaction it leaves open, as a writer that inserted and has not
// committed yet. The statement is the guarded one, as appends run first:
// the writer holds the wait lock in shared mode until it commits.
func uncommitted(t tb, s *Store, streamID string, n int) pgx.Tx {
	t.Helper()
	tx, inserted := begunAppend(t, s, streamID, n, true)
	if inserted != int64(n) {
		t.Fatalf("uncommitted append inserted %d of %d events", inserted, n)
	}
	return tx
}

// begunAppend runs the guarded or the unguarded append statement for n
// events of a new stream in a transaction it leaves open, and returns it
// and how many events it inserted.
func begunAppend(t tb, s *Store, streamID string, n int, guarded bool) (pgx.Tx, int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]store.Event, n)
	for i := range events {
		events[i] = store.Event{Type: "Slow", Data: []byte{byte(i)}}
	}
	args, err := appendArgs(streamID, store.NoStream, events)
	if err != nil {
		t.Fatal(err)
	}
	stmt := s.sql.appendMany
	if n == 1 {
		stmt = s.sql.appendOne // appendArgs gives one event's arguments as scalars
	}
	sql := stmt.unguarded
	if guarded {
		sql = stmt.guarded
	}
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		_ = tx.Rollback(ctx)
		t.Fatalf("append: %v", err)
	}
	return tx, tag.RowsAffected()
}

func readAll(t tb, s *Store, after int64) []store.Record {
	t.Helper()
	var out []store.Record
	for {
		page, err := s.ReadLog(context.Background(), store.LogQuery{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Position
	}
}

// Writer A inserts and stalls; writer B inserts and commits; a reader
// reads; then A commits. A log that numbered events as they were inserted
// would give A the lower position, which the reader has already passed:
// it would skip A forever. Here the reader sees B, then A after it, and the
// order never changes.
func TestOutOfOrderCommitIsNotSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)

	a := uncommitted(t, s, "A", 3)
	if _, err := s.Append(ctx, "B", store.NoStream, []store.Event{{Type: "Fast"}}); err != nil {
		t.Fatal(err)
	}
	first := readAll(t, s, 0)
	if len(first) != 1 || first[0].StreamID != "B" || first[0].Position != 1 {
		t.Fatalf("before A commits the log holds %v, want B at position 1", streams(first))
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing ran A's sequencing step: the reader's read stamps it.
	rest := readAll(t, s, first[0].Position)
	if got := streams(rest); !slices.Equal(got, []string{"A", "A", "A"}) {
		t.Fatalf("after A commits the reader sees %v after position 1, want A's three events", got)
	}
	for i, r := range rest {
		if r.Position != int64(i)+2 || r.Version != int64(i)+1 {
			t.Fatalf("A's event %d has position %d version %d, want position %d version %d", i, r.Position, r.Version, i+2, i+1)
		}
	}
	full := readAll(t, s, 0)
	if got := streams(full); !slices.Equal(got, []string{"B", "A", "A", "A"}) {
		t.Fatalf("a full read gives %v, want B then A's three", got)
	}
	recs, err := collect(s.ReadStream(ctx, "A", 0))
	if err != nil || len(recs) != 3 || recs[0].Position != 2 {
		t.Fatalf("stream A reads %d records (%v), first position %d; want 3 from position 2", len(recs), err, recs[0].Position)
	}
}

// Writers that insert, stall, commit or roll back in any interleaving,
// with appends through the store and reads in between, and sequencing
// steps of any size: the reader's pages, joined, equal a full read made
// at the end; positions are contiguous; every committed batch appears
// once, whole and contiguous; a rolled-back one never appears.
func TestInterleavedCommitsProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		SetSequenceBatch(s, rapid.SampledFrom([]int64{1, 2, 5, sequenceBatch}).Draw(rt, "sequencing batch"))
		base, err := s.Head(ctx)
		if err != nil {
			rt.Fatal(err)
		}
		type batch struct {
			stream string
			n      int
			tx     pgx.Tx
		}
		var open []batch
		committed := map[string]int{}
		rolledBack := map[string]bool{}
		var seen []store.Record
		after := base
		next := 0
		newStream := func() string { next++; return fmt.Sprintf("r%d-s%d", run, next) }
		finish := func(i int, commit bool) {
			b := open[i]
			open = slices.Delete(open, i, i+1)
			if commit {
				if err := b.tx.Commit(ctx); err != nil {
					rt.Fatal(err)
				}
				committed[b.stream] = b.n
			} else {
				if err := b.tx.Rollback(ctx); err != nil {
					rt.Fatal(err)
				}
				rolledBack[b.stream] = true
			}
		}
		defer func() {
			for len(open) > 0 {
				finish(0, false)
			}
		}()
		rt.Repeat(map[string]func(*rapid.T){
			"insert and stall": func(rt *rapid.T) {
				if len(open) == 3 {
					rt.Skip("three writers stalled already")
				}
				id, n := newStream(), rapid.IntRange(1, 3).Draw(rt, "events")
				open = append(open, batch{id, n, uncommitted(rt, s, id, n)})
			},
			"commit a stalled writer": func(rt *rapid.T) {
				if len(open) == 0 {
					rt.Skip("no stalled writer")
				}
				finish(rapid.IntRange(0, len(open)-1).Draw(rt, "writer"), true)
			},
			"roll back a stalled writer": func(rt *rapid.T) {
				if len(open) == 0 {
					rt.Skip("no stalled writer")
				}
				finish(rapid.IntRange(0, len(open)-1).Draw(rt, "writer"), false)
			},
			"append through the store": func(rt *rapid.T) {
				id, n := newStream(), rapid.IntRange(1, 3).Draw(rt, "events")
				events := make([]store.Event, n)
				for i := range events {
					events[i] = store.Event{Type: "Store"}
				}
				if _, err := s.Append(ctx, id, store.NoStream, events); err != nil {
					rt.Fatal(err)
				}
				committed[id] = n
			},
			"read a page": func(rt *rapid.T) {
				page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: rapid.IntRange(1, 5).Draw(rt, "limit")})
				if err != nil {
					rt.Fatal(err)
				}
				for _, r := range page {
					if r.Position != after+1 {
						rt.Fatalf("reader after %d got position %d", after, r.Position)
					}
					after = r.Position
				}
				seen = append(seen, page...)
			},
		})
		for len(open) > 0 {
			finish(0, true)
		}
		full := readAll(rt, s, base)
		seen = append(seen, readAll(rt, s, after)...)
		if len(seen) != len(full) {
			rt.Fatalf("the reader saw %d events, a full read gives %d", len(seen), len(full))
		}
		count := map[string]int{}
		for i, r := range full {
			if seen[i].ID != r.ID || seen[i].Position != r.Position {
				rt.Fatalf("position %d: the reader saw %v, a full read %v", r.Position, seen[i].ID, r.ID)
			}
			if rolledBack[r.StreamID] {
				rt.Fatalf("rolled-back stream %q is in the log", r.StreamID)
			}
			count[r.StreamID]++
			if r.Version != int64(count[r.StreamID]) {
				rt.Fatalf("stream %q: version %d at position %d, want %d", r.StreamID, r.Version, r.Position, count[r.StreamID])
			}
			if r.Version > 1 && full[i-1].StreamID != r.StreamID {
				rt.Fatalf("stream %q: its batch is split at position %d", r.StreamID, r.Position)
			}
		}
		for id, n := range committed {
			if count[id] != n {
				rt.Fatalf("committed stream %q has %d events in the log, want %d", id, count[id], n)
			}
		}
	})
}

// A waiter wakes on a writer's notification, not by polling: with its
// periodic recheck turned off, it wakes when an append commits. It does
// not wake for the events of a writer that committed without the wait
// lock and never notified (as if it died right after its commit): only
// its recheck would find those. The next append wakes it, and it sees
// both.
func TestWaitWakesOnNotification(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openInternal(t)
	s.recheck = time.Hour

	woke := make(chan error, 1)
	go func() { woke <- s.Wait(ctx, 0) }()
	waitForWaiter(t, s, true)
	if _, err := s.Append(ctx, "w", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("wait after 0: %v", err)
	}
	if held := waitLockHolders(t, s, true); held != 0 {
		t.Fatalf("after the wait returned, %d sessions hold the wait lock", held)
	}

	go func() { woke <- s.Wait(ctx, 1) }()
	waitForSleeper(t, s)
	silent, inserted := begunAppend(t, s, "silent", 2, false)
	if inserted != 2 {
		t.Fatalf("the unguarded append inserted %d events, want 2", inserted)
	}
	if err := silent.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		t.Fatalf("wait after 1 returned (%v) though no writer notified", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := s.Append(ctx, "w", 1, []store.Event{{Type: "B"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("wait after 1: %v", err)
	}
	if got := streams(readAll(t, s, 1)); !slices.Equal(got, []string{"silent", "silent", "w"}) {
		t.Fatalf("after the wait the log holds %v after position 1, want the silent writer's two events, then w", got)
	}
}

// A waiter queues for the wait lock behind a writer that holds it, which
// it took in the transaction that inserts its events: the waiter looks
// only once that writer has committed, and returns with the writer's
// events, though nothing notified it.
func TestWaitQueuesBehindWriters(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openInternal(t)
	s.recheck = time.Hour

	writer := uncommitted(t, s, "held", 2)
	woke := make(chan error, 1)
	go func() { woke <- s.Wait(ctx, 0) }()
	waitForWaiter(t, s, false)
	select {
	case err := <-woke:
		t.Fatalf("the wait returned (%v) while the writer that holds the lock had not committed", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("wait after 0: %v", err)
	}
	if got := streams(readAll(t, s, 0)); !slices.Equal(got, []string{"held", "held"}) {
		t.Fatalf("the log holds %v, want the writer's two events", got)
	}
}

// Consumers that wait at once queue for the lock behind each other: one
// append wakes the one holding it, which lets it go, and the next one
// takes it and finds the event. All return.
func TestWaitersQueueBehindEachOther(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openInternal(t)
	s.recheck = time.Hour

	const waiters = 3
	woke := make(chan error, waiters)
	for range waiters {
		go func() { woke <- s.Wait(ctx, 0) }()
	}
	waitForWaiter(t, s, true)
	for {
		if waitLockHolders(t, s, false) == waiters-1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Append(ctx, "w", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	for range waiters {
		if err := <-woke; err != nil {
			t.Fatalf("wait after 0: %v", err)
		}
	}
}

// A writer that committed without the lock and died before it notified
// leaves a waiting consumer to its recheck, which finds the events.
func TestWaitRechecks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openInternal(t)
	s.recheck = 100 * time.Millisecond

	woke := make(chan error, 1)
	go func() { woke <- s.Wait(ctx, 0) }()
	waitForWaiter(t, s, true)
	silent, _ := begunAppend(t, s, "silent", 1, false)
	if err := silent.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		if err != nil {
			t.Fatalf("wait after 0: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter's recheck did not find the silent writer's event within 10 seconds")
	}
}

// waitLockHolders counts the sessions that hold the wait lock (granted)
// or queue for it in exclusive mode, as waiters do.
func waitLockHolders(t *testing.T, s *Store, granted bool) int {
	t.Helper()
	var n int
	key := uint64(s.n.waitLock)
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1
		AND mode = 'ExclusiveLock' AND granted = $3`, int64(key>>32), int64(key&0xffffffff), granted).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitForWaiter returns once a waiter holds the wait lock (granted) or
// queues for it: an append that follows the first has to wake it, one
// that follows the second finds it waiting behind the writers that hold
// the lock.
func waitForWaiter(t *testing.T, s *Store, granted bool) {
	t.Helper()
	for range 500 {
		if waitLockHolders(t, s, granted) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no waiter took the wait lock (granted %v) within 5 seconds", granted)
}

// waitForSleeper returns once a waiter holds the wait lock and has run
// its step since it took it, so that it sleeps until a notification (or
// is about to): an event committed after that, without notifying, does
// not wake it. A waiter that merely holds the lock may not have looked
// yet, and would see such an event by itself.
func waitForSleeper(t *testing.T, s *Store) {
	t.Helper()
	key := uint64(s.n.waitLock)
	for range 500 {
		var n int
		if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 1
			AND l.mode = 'ExclusiveLock' AND l.granted AND a.state = 'idle' AND a.query = $3`,
			int64(key>>32), int64(key&0xffffffff), s.sql.sequence).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no waiter holding the wait lock ran its step within 5 seconds")
}

// The wake-up protocol, one statement at a time, in any interleaving. A
// waiter LISTENs on a connection of its own and runs the sequencing step;
// then, in turn, it queues for the wait lock, runs the step, and, when
// the head has not moved past what it saw, sleeps until a notification;
// when woken it lets go of the lock and runs the step again, as
// Store.Wait does. Writers run the guarded append, which takes the lock
// in shared mode and holds it until they commit, and stall; or, finding
// the lock taken (the guarded append inserted nothing), append without
// it, commit, and notify; or do all that at once through Append.
// Whenever the waiter sleeps and every writer that committed without the
// lock has notified, either the waiter has seen every committed event or
// a notification is on its way to it: it never sleeps through an event.
func TestWakeProtocolProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	SetSequenceBatch(s, 1)
	connConfig := s.pool.Config().ConnConfig
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		// A connection of the run's own, so that no notification of an
		// earlier run is waiting in it.
		conn, err := pgx.ConnectConfig(ctx, connConfig.Copy())
		if err != nil {
			rt.Fatal(err)
		}
		if _, err := conn.Exec(ctx, s.sql.listen); err != nil {
			rt.Fatal(err)
		}
		seen, err := s.Head(ctx)
		if err != nil {
			rt.Fatal(err)
		}
		const (
			toLook   = "to look before it queues"
			toLock   = "to queue for the lock"
			locking  = "queueing for the lock"
			toStep   = "to run the step"
			sleeping = "sleeping"
			woken    = "woken"
		)
		waiter := toLook
		var locked chan error // the result of the lock request in flight
		var stalled []pgx.Tx  // writers that hold the lock in shared mode
		toAppend := 0         // writers that found the lock taken
		toNotify := 0         // writers that appended without the lock and have not notified
		next := 0
		newStream := func() string { next++; return fmt.Sprintf("r%d-s%d", run, next) }
		defer func() {
			for _, tx := range stalled {
				_ = tx.Rollback(ctx)
			}
			if locked != nil {
				<-locked
			}
			conn.Close(ctx)
		}()
		step := func(rt *rapid.T) (int64, bool) {
			head, more, err := s.step(ctx, conn, 1)
			if err != nil {
				rt.Fatal(err)
			}
			return head, more
		}
		unlock := func(rt *rapid.T) {
			var released bool
			if err := conn.QueryRow(ctx, s.sql.waitUnlock).Scan(&released); err != nil || !released {
				rt.Fatalf("unlock: %v, %v", released, err)
			}
		}
		// When the waiter sleeps and every writer that committed without
		// the lock has notified, either it has seen every committed event
		// or a notification is on its way, which wakes it.
		sleepsThrough := func(rt *rapid.T) {
			if waiter != sleeping || toNotify > 0 {
				return
			}
			var committed int64
			if err := s.pool.QueryRow(ctx, "SELECT (SELECT position FROM "+s.n.logHead+") + (SELECT count(*) FROM "+s.n.events+" WHERE position IS NULL)").Scan(&committed); err != nil {
				rt.Fatal(err)
			}
			if committed == seen {
				return
			}
			long, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := conn.WaitForNotification(long); err != nil {
				rt.Fatalf("the waiter saw up to position %d and sleeps, %d events are committed, and no notification came: %v", seen, committed, err)
			}
			waiter = woken
		}
		rt.Repeat(map[string]func(*rapid.T){
			"writer runs the guarded append and stalls": func(rt *rapid.T) {
				if len(stalled) == 3 {
					rt.Skip("three writers stalled already")
				}
				n := rapid.IntRange(1, 3).Draw(rt, "events")
				tx, inserted := begunAppend(rt, s, newStream(), n, true)
				switch inserted {
				case int64(n):
					stalled = append(stalled, tx)
				case 0:
					if err := tx.Rollback(ctx); err != nil {
						rt.Fatal(err)
					}
					toAppend++
				default:
					rt.Fatalf("the guarded append inserted %d of %d events", inserted, n)
				}
			},
			"stalled writer commits": func(rt *rapid.T) {
				if len(stalled) == 0 {
					rt.Skip("no stalled writer")
				}
				i := rapid.IntRange(0, len(stalled)-1).Draw(rt, "writer")
				if err := stalled[i].Commit(ctx); err != nil {
					rt.Fatal(err)
				}
				stalled = slices.Delete(stalled, i, i+1)
			},
			"writer appends without the lock": func(rt *rapid.T) {
				if toAppend == 0 {
					rt.Skip("no writer found the lock taken")
				}
				tx, _ := begunAppend(rt, s, newStream(), 1, false)
				if err := tx.Commit(ctx); err != nil {
					rt.Fatal(err)
				}
				toAppend--
				toNotify++
			},
			"writer notifies": func(rt *rapid.T) {
				if toNotify == 0 {
					rt.Skip("no writer to notify")
				}
				if _, err := s.pool.Exec(ctx, s.sql.notify); err != nil {
					rt.Fatal(err)
				}
				toNotify--
			},
			"writer appends through the store": func(rt *rapid.T) {
				if _, err := s.Append(ctx, newStream(), store.NoStream, []store.Event{{Type: "A"}}); err != nil {
					rt.Fatal(err)
				}
			},
			"waiter takes its next step": func(rt *rapid.T) {
				switch waiter {
				case toLook:
					if head, _ := step(rt); head > seen {
						seen = head // Wait returns; the consumer reads, and waits again
					} else {
						waiter = toLock
					}
				case toLock:
					locked = make(chan error, 1)
					go func() {
						_, err := conn.Exec(ctx, s.sql.waitLock)
						locked <- err
					}()
					waiter = locking
				case locking:
					select {
					case err := <-locked:
						locked = nil
						if err != nil {
							rt.Fatal(err)
						}
						waiter = toStep
					case <-time.After(20 * time.Millisecond):
					}
				case toStep:
					head, more := step(rt)
					switch {
					case head > seen: // Wait returns; the consumer reads, and waits again
						unlock(rt)
						seen, waiter = head, toLook
					case more:
					default:
						waiter = sleeping
					}
				case sleeping:
					short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
					_, err := conn.WaitForNotification(short)
					cancel()
					if err == nil {
						waiter = woken
					}
				case woken:
					unlock(rt)
					waiter = toLock
					if head, _ := step(rt); head > seen {
						seen, waiter = head, toLook
					}
				}
			},
			"": sleepsThrough,
		})
		for _, tx := range stalled {
			if err := tx.Commit(ctx); err != nil {
				rt.Fatal(err)
			}
		}
		stalled = nil
		for ; toAppend > 0; toAppend-- {
			tx, _ := begunAppend(rt, s, newStream(), 1, false)
			if err := tx.Commit(ctx); err != nil {
				rt.Fatal(err)
			}
			toNotify++
		}
		for ; toNotify > 0; toNotify-- {
			if _, err := s.pool.Exec(ctx, s.sql.notify); err != nil {
				rt.Fatal(err)
			}
		}
		sleepsThrough(rt)
		if waiter == locking {
			if err := <-locked; err != nil {
				rt.Fatal(err)
			}
			locked = nil
		}
	})
}

// One sequencing step numbers the pending events of the transactions
// with the lowest ids, whole transactions, until it has numbered at least
// the number asked for (or all): contiguous positions after the head, each
// transaction's events in version order, and it says whether any are left.
// Appends to one stream in turn are numbered in version order whatever
// the batch size.
func TestSequencingBatchesProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		var stalled []pgx.Tx
		defer func() {
			for _, tx := range stalled {
				_ = tx.Rollback(ctx)
			}
		}()
		versions := map[string]int64{}
		next := 0
		rt.Repeat(map[string]func(*rapid.T){
			"writer inserts and stalls": func(rt *rapid.T) {
				if len(stalled) == 4 {
					rt.Skip("four writers stalled already")
				}
				next++
				stalled = append(stalled, uncommitted(rt, s, fmt.Sprintf("r%d-s%d", run, next), rapid.IntRange(1, 4).Draw(rt, "events")))
			},
			"writer commits": func(rt *rapid.T) {
				if len(stalled) == 0 {
					rt.Skip("no stalled writer")
				}
				i := rapid.IntRange(0, len(stalled)-1).Draw(rt, "writer")
				if err := stalled[i].Commit(ctx); err != nil {
					rt.Fatal(err)
				}
				stalled = slices.Delete(stalled, i, i+1)
			},
			"append to a stream in turn": func(rt *rapid.T) {
				id := fmt.Sprintf("r%d-turns-%d", run, rapid.IntRange(0, 2).Draw(rt, "stream"))
				n := rapid.IntRange(1, 3).Draw(rt, "events")
				events := make([]store.Event, n)
				for i := range events {
					events[i] = store.Event{Type: "T"}
				}
				v, err := s.Append(ctx, id, versions[id], events)
				if err != nil {
					rt.Fatal(err)
				}
				versions[id] = v
			},
			"sequencing step": func(rt *rapid.T) {
				type txn struct {
					id     string
					events int64
				}
				var pending []txn
				// The text of the id is named apart from the column: ORDER BY
				// txid would otherwise sort the text, and "10009" < "9990".
				rows, _ := s.pool.Query(ctx, "SELECT txid::text AS id, count(*) FROM "+s.n.events+" WHERE position IS NULL GROUP BY txid ORDER BY txid")
				for rows.Next() {
					var x txn
					if err := rows.Scan(&x.id, &x.events); err != nil {
						rt.Fatal(err)
					}
					pending = append(pending, x)
				}
				if err := rows.Err(); err != nil {
					rt.Fatal(err)
				}
				var before int64
				if err := s.pool.QueryRow(ctx, "SELECT position FROM "+s.n.logHead).Scan(&before); err != nil {
					rt.Fatal(err)
				}
				want := rapid.Int64Range(1, 6).Draw(rt, "batch")
				c, err := s.pool.Acquire(ctx)
				if err != nil {
					rt.Fatal(err)
				}
				head, more, err := s.step(ctx, c.Conn(), want)
				c.Release()
				if err != nil {
					rt.Fatal(err)
				}
				// The transactions expected: the lowest ids, until want.
				var expected []string
				var count int64
				for _, x := range pending {
					if count >= want {
						break
					}
					expected = append(expected, x.id)
					count += x.events
				}
				if head != before+count {
					rt.Fatalf("with %v pending and a batch of %d, the head moved from %d to %d, want %d", pending, want, before, head, before+count)
				}
				if more != (len(expected) < len(pending)) {
					rt.Fatalf("with %v pending and a batch of %d, the step says more = %v", pending, want, more)
				}
				type stamped struct {
					txid     string
					stream   string
					version  int64
					position int64
				}
				var got []stamped
				rows, _ = s.pool.Query(ctx, "SELECT txid::text, stream_id, version, position FROM "+s.n.events+" WHERE position > $1 ORDER BY position", before)
				for rows.Next() {
					var x stamped
					if err := rows.Scan(&x.txid, &x.stream, &x.version, &x.position); err != nil {
						rt.Fatal(err)
					}
					got = append(got, x)
				}
				if err := rows.Err(); err != nil {
					rt.Fatal(err)
				}
				var txids []string
				for i, x := range got {
					if x.position != before+int64(i)+1 {
						rt.Fatalf("positions after %d: %+v are not contiguous", before, got)
					}
					if i == 0 || got[i-1].txid != x.txid {
						txids = append(txids, x.txid)
					} else if got[i-1].stream != x.stream || got[i-1].version+1 != x.version {
						rt.Fatalf("a transaction's events are out of order: %+v", got)
					}
				}
				if !slices.Equal(txids, expected) {
					rt.Fatalf("with %v pending and a batch of %d, the step numbered the transactions %v, want %v", pending, want, txids, expected)
				}
			},
		})
		for _, tx := range stalled {
			if err := tx.Rollback(ctx); err != nil {
				rt.Fatal(err)
			}
		}
		stalled = nil
		// Whatever the batches, each stream's versions are in log order.
		last := map[string]int64{}
		for _, r := range readAll(rt, s, 0) {
			if r.Version != last[r.StreamID]+1 {
				rt.Fatalf("stream %q: version %d at position %d follows version %d", r.StreamID, r.Version, r.Position, last[r.StreamID])
			}
			last[r.StreamID] = r.Version
		}
	})
}

func streams(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.StreamID
	}
	return out
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

// An append of one event, which encodes its parameters itself, stores
// what the append of several stores: any event read back equals what was
// appended, field by field, and equals it appended in a batch.
func TestAppendOneEncodesEveryField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	text := rapid.StringMatching(`[a-zA-Zé€ 0-9]{0,12}`)
	rapid.Check(t, func(rt *rapid.T) {
		e := store.Event{
			Type:          rapid.StringMatching(`[A-Za-z][A-Za-z0-9é]{0,20}`).Draw(rt, "type"),
			SchemaVersion: rapid.IntRange(0, 1<<20).Draw(rt, "schema"),
			Data:          rapid.OneOf(rapid.Just([]byte(nil)), rapid.SliceOf(rapid.Byte())).Draw(rt, "data"),
			Encoding:      text.Draw(rt, "encoding"),
			Metadata: store.Metadata{
				CorrelationID: text.Draw(rt, "correlation"),
				CausationID:   text.Draw(rt, "causation"),
				Extra:         rapid.MapOfN(text, text, 0, 3).Draw(rt, "extra"),
			},
		}
		if rapid.Bool().Draw(rt, "with an ID") {
			e.ID = uuid.New()
		}
		one, batch := "one-"+uuid.NewString(), "batch-"+uuid.NewString()
		if _, err := s.Append(ctx, one, store.NoStream, []store.Event{e}); err != nil {
			rt.Fatal(err)
		}
		second := e
		if e.ID != uuid.Nil {
			second.ID = uuid.New()
		}
		if _, err := s.Append(ctx, batch, store.NoStream, []store.Event{second, {Type: "Other"}}); err != nil {
			rt.Fatal(err)
		}
		got, err := collect(s.ReadStream(ctx, one, 0))
		if err != nil || len(got) != 1 {
			rt.Fatalf("stream of one: %d records, %v", len(got), err)
		}
		want, err := collect(s.ReadStream(ctx, batch, 0))
		if err != nil || len(want) != 2 {
			rt.Fatalf("stream of a batch: %d records, %v", len(want), err)
		}
		r, w := got[0], want[0]
		schema := max(e.SchemaVersion, 1)
		switch {
		case e.ID != uuid.Nil && r.ID != e.ID, e.ID == uuid.Nil && r.ID.Version() != 7:
			rt.Fatalf("ID %v, appended %v", r.ID, e.ID)
		case r.StreamID != one || r.Version != 1:
			rt.Fatalf("stream %q version %d", r.StreamID, r.Version)
		case r.Type != e.Type || r.Type != w.Type:
			rt.Fatalf("type %q, appended %q, in a batch %q", r.Type, e.Type, w.Type)
		case r.SchemaVersion != schema || w.SchemaVersion != schema:
			rt.Fatalf("schema version %d, appended %d, in a batch %d", r.SchemaVersion, e.SchemaVersion, w.SchemaVersion)
		case !bytes.Equal(r.Data, e.Data) || r.Data == nil || !bytes.Equal(r.Data, w.Data):
			rt.Fatalf("data %x, appended %x, in a batch %x", r.Data, e.Data, w.Data)
		case r.Encoding != e.Encoding || r.Encoding != w.Encoding:
			rt.Fatalf("encoding %q, appended %q", r.Encoding, e.Encoding)
		case r.Metadata.CorrelationID != e.Metadata.CorrelationID || r.Metadata.CausationID != e.Metadata.CausationID:
			rt.Fatalf("metadata %+v, appended %+v", r.Metadata, e.Metadata)
		case !maps.Equal(r.Metadata.Extra, e.Metadata.Extra) || !maps.Equal(r.Metadata.Extra, w.Metadata.Extra):
			rt.Fatalf("extra metadata %v, appended %v, in a batch %v", r.Metadata.Extra, e.Metadata.Extra, w.Metadata.Extra)
		}
	})
}
