package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

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

// uncommitted runs the store's append statement for a new stream in a
// transaction it leaves open, as a writer that inserted and has not
// committed yet.
// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func uncommitted(t tb, s *Store, streamID string, n int) pgx.Tx {
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
	sql := s.sql.appendMany
	if n == 1 {
		sql = s.sql.appendOne
	}
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil || tag.RowsAffected() != int64(n) {
		t.Fatalf("uncommitted append: %v, %d rows", err, tag.RowsAffected())
	}
	return tx
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
// with appends through the store and reads in between: the reader's
// pages, joined, equal a full read made at the end; positions are
// contiguous; every committed batch appears once, whole and contiguous;
// a rolled-back one never appears.
func TestInterleavedCommitsProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
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

// A waiter wakes on the notification of a sequencing step, not by
// polling: with its periodic recheck turned off, it still wakes, both
// when the writer sequences its own events and when the writer finds
// another session sequencing and leaves its events to it.
func TestWaitWakesOnNotification(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openInternal(t)
	s.recheck = time.Hour

	woke := make(chan error, 1)
	go func() { woke <- s.Wait(ctx, 0) }()
	waitForListener(t, s)
	if _, err := s.Append(ctx, "w", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("wait after 0: %v", err)
	}

	// Another session holds the sequencer lock: the writer's own step
	// gives up, and the events are stamped only when the waiter, woken by
	// that session's notification, runs the step itself.
	holder, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.n.sequenceLock); err != nil {
		t.Fatal(err)
	}
	go func() { woke <- s.Wait(ctx, 1) }()
	waitForListener(t, s)
	if _, err := s.Append(ctx, "w", 1, []store.Event{{Type: "B"}}); err != nil {
		t.Fatal(err)
	}
	var pending bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+s.n.events+" WHERE position IS NULL)").Scan(&pending); err != nil || !pending {
		t.Fatalf("with the sequencer lock held elsewhere, the append was sequenced anyway (pending %v, %v)", pending, err)
	}
	select {
	case err := <-woke:
		t.Fatalf("wait after 1 returned (%v) while the event had no position", err)
	case <-time.After(100 * time.Millisecond):
	}
	// The holder is a sequencing step: it notifies when it ends.
	if _, err := holder.Exec(ctx, "SELECT pg_notify($1, '1')", s.n.channel); err != nil {
		t.Fatal(err)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("wait after 1: %v", err)
	}
	if recs := readAll(t, s, 1); len(recs) != 1 || recs[0].Type != "B" {
		t.Fatalf("after the wait the log holds %d records after 1, want B", len(recs))
	}
}

// waitForListener returns once a session of the store is listening on its
// channel, so that the append that follows cannot come before the LISTEN.
func waitForListener(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for range 500 {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = $1 AND state = 'idle'`, s.sql.sequence).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no waiter started listening within 5 seconds")
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
