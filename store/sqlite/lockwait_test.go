package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// cutWhileLocked checks what an append cut by its deadline while another
// connection held the write lock returned: at once, the context's error,
// nothing stored.
func cutWhileLocked(t *testing.T, what string, err error, took time.Duration) {
	t.Helper()
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "nothing was stored") {
		t.Errorf("%s, cut while another connection held the write lock: %v; want context.DeadlineExceeded, saying nothing was stored", what, err)
	}
	if took > 5*time.Second {
		t.Errorf("%s with a deadline of at most 1s returned after %v, while the busy timeout is 30s; want it told when its deadline passes", what, took)
	}
}

// While another connection holds the write lock, an append is told when
// its deadline passes, the leader of its group as any other (and so is a
// write outside the group commit), that nothing was stored; the appends of its group whose contexts go on keep waiting
// for the lock and commit once it is free. Nothing of the cut appends is
// stored.
func TestAppendsKeepTheirDeadlinesWhileAnotherHoldsTheLock(t *testing.T) {
	ctx := context.Background()
	s, path := openFile(t, sqlite.WithBusyTimeout(30*time.Second))
	// lockAtBegin, when set, takes the write lock on another connection
	// as a group is about to begin its transaction.
	var lockAtBegin atomic.Pointer[func()]
	sqlite.SetGroupHook(s, func(stage string, _ int) error {
		if f := lockAtBegin.Swap(nil); stage == "begin" && f != nil {
			(*f)()
		}
		return nil
	})
	if _, err := s.Append(ctx, "warm-up", store.NoStream, []store.Event{event("W")}); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	tx, err := raw.BeginTx(ctx, nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}

	// A lone append: it leads its group.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	began := time.Now()
	_, err = s.Append(cctx, "lone", store.NoStream, []store.Event{event("L")})
	cancel()
	cutWhileLocked(t, "a lone append", err, time.Since(began))
	// So is a write outside the group commit.
	cctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	began = time.Now()
	err = s.SetCheckpoint(cctx, "c", 1)
	cancel()
	cutWhileLocked(t, "a checkpoint", err, time.Since(began))

	// A leader with a deadline, an append queued behind it without one,
	// and one with a deadline behind that.
	type result struct {
		err  error
		took time.Duration
	}
	appendAsync := func(ctx context.Context, stream string) chan result {
		done := make(chan result, 1)
		go func() {
			began := time.Now()
			_, err := s.Append(ctx, stream, store.NoStream, []store.Event{event(stream)})
			done <- result{err, time.Since(began)}
		}()
		return done
	}
	// waitsForTheLock checks that patient, an append without a deadline,
	// waits while tx holds the lock, and commits once tx lets it go.
	waitsForTheLock := func(patient <-chan result) {
		t.Helper()
		select {
		case r := <-patient:
			t.Fatalf("the append without a deadline returned while the lock was held: %v", r.err)
		case <-time.After(100 * time.Millisecond):
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if r := <-patient; r.err != nil {
			t.Fatalf("the append without a deadline, once the lock was free: %v", r.err)
		}
	}
	leaderCtx, cancelLeader := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelLeader()
	leader := appendAsync(leaderCtx, "leader")
	waitFor(t, "the leader to lead", func() bool { return sqlite.QueuedAppends(s) == 0 })
	time.Sleep(20 * time.Millisecond) // the leader waits for the lock
	patient := appendAsync(ctx, "patient")
	waitFor(t, "the patient append to queue", func() bool { return sqlite.QueuedAppends(s) == 1 })
	hastyCtx, cancelHasty := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelHasty()
	hasty := appendAsync(hastyCtx, "hasty")
	waitFor(t, "the hasty append to queue", func() bool { return sqlite.QueuedAppends(s) == 2 })

	r := <-leader
	cutWhileLocked(t, "the leader of a group", r.err, r.took)
	r = <-hasty
	cutWhileLocked(t, "an append queued behind the leader", r.err, r.took)
	waitsForTheLock(patient)

	// The same three in one group, all of them taken when it begins its
	// transaction: another write of the store holds the writer connection
	// while they queue, and the lock is taken as the group begins.
	holding, free := make(chan struct{}), make(chan struct{})
	committed := make(chan error, 1)
	go func() {
		committed <- s.SQL().Commit(ctx, "holder", 0, 1, func(*sql.Tx) error {
			close(holding)
			<-free
			return nil
		})
	}()
	<-holding
	leaderCtx2, cancelLeader2 := context.WithTimeout(ctx, time.Second)
	defer cancelLeader2()
	leader = appendAsync(leaderCtx2, "leader2")
	waitFor(t, "the second leader to queue", func() bool { return sqlite.QueuedAppends(s) == 1 })
	patient = appendAsync(ctx, "patient2")
	waitFor(t, "the second patient append to queue", func() bool { return sqlite.QueuedAppends(s) == 2 })
	hastyCtx2, cancelHasty2 := context.WithTimeout(ctx, time.Second)
	defer cancelHasty2()
	hasty = appendAsync(hastyCtx2, "hasty2")
	waitFor(t, "the second hasty append to queue", func() bool { return sqlite.QueuedAppends(s) == 3 })
	locked := make(chan error, 1)
	lock := func() {
		var err error
		tx, err = raw.BeginTx(ctx, nil)
		locked <- err
	}
	lockAtBegin.Store(&lock)
	close(free)
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
	if n := sqlite.QueuedAppends(s); n != 0 {
		t.Fatalf("%d appends still queued; want all three in the group", n)
	}
	r = <-leader
	cutWhileLocked(t, "the leader of a group it took", r.err, r.took)
	r = <-hasty
	cutWhileLocked(t, "an append taken into the group", r.err, r.took)
	waitsForTheLock(patient)
	for stream, want := range map[string]int{"lone": 0, "leader": 0, "hasty": 0, "patient": 1, "leader2": 0, "hasty2": 0, "patient2": 1} {
		if got := len(ids(t, s, stream)); got != want {
			t.Errorf("stream %q holds %d events; want %d", stream, got, want)
		}
	}
}

// The busy timeout bounds each append's wait for another process's write
// lock, however many leaders in turn wait for it: when a leader's
// deadline ends its wait, the appends behind it wait only what is left
// of their busy timeout, counted from when they arrived, then fail saying
// that the lock was held too long, nothing stored. An append that
// arrives after they failed waits a busy timeout of its own.
func TestAnAppendWaitsOneBusyTimeoutAcrossLeaders(t *testing.T) {
	ctx := context.Background()
	const busy = 2 * time.Second
	s, path := openFile(t, sqlite.WithBusyTimeout(busy))
	if _, err := s.Append(ctx, "warm-up", store.NoStream, []store.Event{event("W")}); err != nil {
		t.Fatal(err)
	}
	tx, err := rawDB(t, path).BeginTx(ctx, nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	leaderCtx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	led := make(chan error, 1)
	go func() {
		_, err := s.Append(leaderCtx, "leader", store.NoStream, []store.Event{event("L")})
		led <- err
	}()
	waitFor(t, "the leader to lead", func() bool { return sqlite.QueuedAppends(s) == 0 })
	time.Sleep(20 * time.Millisecond)
	type result struct {
		err  error
		took time.Duration
	}
	behind := make([]chan result, 2)
	for i := range behind {
		behind[i] = make(chan result, 1)
		go func() {
			began := time.Now()
			_, err := s.Append(ctx, fmt.Sprint("behind-", i), store.NoStream, []store.Event{event("B")})
			behind[i] <- result{err, time.Since(began)}
		}()
		waitFor(t, "the append to queue", func() bool { return sqlite.QueuedAppends(s) == i+1 })
	}
	if err := <-led; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the leader: %v; want context.DeadlineExceeded", err)
	}
	for i, c := range behind {
		r := <-c
		if r.err == nil || !strings.Contains(r.err.Error(), "busy timeout") || errors.Is(r.err, store.ErrOutcomeUnknown) {
			t.Fatalf("append %d behind the leader: %v; want an error that the lock was held longer than the busy timeout, nothing stored", i, r.err)
		}
		if r.took > busy+time.Second {
			t.Fatalf("append %d behind the leader waited %v for the lock in all, past the busy timeout of %v", i, r.took, busy)
		}
	}

	go func() {
		time.Sleep(busy / 4)
		tx.Rollback()
	}()
	if _, err := s.Append(ctx, "later", store.NoStream, []store.Event{event("La")}); err != nil {
		t.Fatalf("an append after the others failed, once the lock was free: %v", err)
	}
	for stream, want := range map[string]int{"leader": 0, "behind-0": 0, "behind-1": 0, "later": 1} {
		if got := len(ids(t, s, stream)); got != want {
			t.Errorf("stream %q holds %d events; want %d", stream, got, want)
		}
	}
}

// An append and a checkpoint that waited out the busy timeout for another
// process's write lock fail with errors the store tells apart as
// unavailability, and a conflict is not one.
func TestALockHeldPastTheBusyTimeoutIsUnavailability(t *testing.T) {
	ctx := context.Background()
	s, path := openFile(t, sqlite.WithBusyTimeout(100*time.Millisecond))
	if _, err := s.Append(ctx, "a", store.NoStream, []store.Event{event("A")}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, "a", store.NoStream, []store.Event{event("A")})
	if !errors.Is(err, store.ErrConflict) || s.Unavailable(err) {
		t.Fatalf("conflict: %v, unavailable %v; want a conflict, not unavailability", err, s.Unavailable(err))
	}
	tx, err := rawDB(t, path).BeginTx(ctx, nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE annals_checkpoints SET position = position WHERE 0`); err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(ctx, "b", store.NoStream, []store.Event{event("B")})
	if err == nil || !s.Unavailable(err) || !strings.Contains(err.Error(), "busy timeout") {
		t.Fatalf("append while another held the lock past the busy timeout: %v, unavailable %v; want unavailability that names the busy timeout", err, s.Unavailable(err))
	}
	err = s.SetCheckpoint(ctx, "c", 1)
	if err == nil || !s.Unavailable(err) {
		t.Fatalf("checkpoint while another held the lock past the busy timeout: %v, unavailable %v; want unavailability", err, s.Unavailable(err))
	}
}
