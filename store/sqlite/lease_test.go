package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// child is a subprocess of the test binary (see TestChild) whose stdout
// lines the test reads.
type child struct {
	cmd    *exec.Cmd
	lines  chan string // closed when stdout ends
	stderr *strings.Builder
	exited bool
}

// startChild starts a child in mode on the database at path, with the
// environment variables env ("NAME=value") besides.
func startChild(t *testing.T, mode, path string, env ...string) *child {
	t.Helper()
	cmd := childCommand(t, mode, path, 0)
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1024), stderr: &strings.Builder{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if !c.exited {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// waitFor reads lines until one satisfies ok, and returns it. It fails the
// test when the child ends first or takes longer than timeout.
func (c *child) waitFor(t *testing.T, what string, ok func(line string) bool, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, open := <-c.lines:
			if !open {
				err := c.wait()
				t.Fatalf("the child ended (%v) before %s:\n%s", err, what, c.stderr)
			}
			if ok(line) {
				return line
			}
		case <-deadline:
			c.kill(t)
			t.Fatalf("the child did not get to %s within %v:\n%s", what, timeout, c.stderr)
		}
	}
}

func (c *child) wait() error {
	for range c.lines { // the pipe must be drained before Wait
	}
	c.exited = true
	return c.cmd.Wait()
}

// kill ends the child with SIGKILL and checks that it was running until
// then.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := c.wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v before it was killed:\n%s", err, c.stderr)
	}
}

// childLease takes the lease "leader", says "locked", and holds it,
// renewing it, until it is killed.
func childLease(t *testing.T, ctx context.Context, s *sqlite.Store) {
	l, err := s.Lock(ctx, "leader")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	<-l.Lost()
	t.Fatal("the child lost its lease while it was alive")
}

// A process that holds a lease keeps it for as long as it lives, past the
// lease's duration; once it is killed, another process takes the lease
// over after it expires.
func TestLeaseTakenOverWhenHolderIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	const d = 2 * time.Second
	_, path := openFile(t)
	holder := startChild(t, "lease", path, leaseEnv+"="+d.String())
	holder.waitFor(t, "take the lease", func(l string) bool { return l == "locked" }, 2*time.Minute)

	s := openAt(t, path, sqlite.WithLeaseDuration(d), sqlite.WithPollInterval(20*time.Millisecond))
	ctx := context.Background()
	short, cancel := context.WithTimeout(ctx, 2*d)
	defer cancel()
	if l, err := s.Lock(short, "leader"); err == nil {
		l.Release()
		t.Fatalf("took the lease that a live process holds, within twice its duration")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held lease: %v, want it to wait until the deadline", err)
	}

	holder.kill(t)
	killed := time.Now()
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	l, err := s.Lock(long, "leader")
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	t.Logf("took the lease over %v after the holder was killed (lease duration %v)", time.Since(killed).Round(time.Millisecond), d)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func waitLost(t *testing.T, l store.Lease, why string) {
	t.Helper()
	select {
	case <-l.Lost():
	case <-time.After(time.Minute):
		t.Fatalf("Lost was not closed when %s", why)
	}
}

// A holder whose renewal finds the lease taken over is told so by Lost,
// and its Release leaves the new holder's lease alone.
func TestLeaseLostWhenTakenOver(t *testing.T) {
	ctx := context.Background()
	s, path := openFile(t, sqlite.WithLeaseDuration(300*time.Millisecond))
	l, err := s.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.ExecContext(ctx, `UPDATE annals_leases SET owner = randomblob(16) WHERE name = 'x'`); err != nil {
		t.Fatal(err)
	}
	waitLost(t, l, "another owner took the lease")
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM annals_leases WHERE name = 'x'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the old holder released, %d lease rows (%v); want the new owner's", n, err)
	}
}

// A lease is renewed for as long as its holder can write; when another
// connection keeps the write lock for longer than the lease lasts, Lost
// is closed as the lease expires, and another Store may take it.
func TestLeaseLostWhenItCannotBeRenewed(t *testing.T) {
	ctx := context.Background()
	const d = 500 * time.Millisecond
	s, path := openFile(t, sqlite.WithLeaseDuration(d))
	l, err := s.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Fatal("a lease was lost while nothing kept it from being renewed")
	case <-time.After(4 * d):
	}

	tx, err := rawDB(t, path).BeginTx(ctx, nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	waitLost(t, l, "the write lock was held for longer than the lease lasts")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	other := openAt(t, path, sqlite.WithLeaseDuration(d), sqlite.WithPollInterval(20*time.Millisecond))
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	l2, err := other.Lock(wait, "x")
	if err != nil {
		t.Fatalf("lock of an expired lease: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l2.Lost():
		t.Fatal("the old holder's Release took the lease from the new holder")
	case <-time.After(2 * d):
	}
	l2.Release()
}

// Release deletes the lease at once: another Store on the file takes it
// without waiting for it to expire.
func TestReleaseFreesTheLease(t *testing.T) {
	ctx := context.Background()
	a, path := openFile(t, sqlite.WithLeaseDuration(time.Hour))
	b := openAt(t, path, sqlite.WithLeaseDuration(time.Hour), sqlite.WithPollInterval(20*time.Millisecond))
	l, err := a.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a lease another store holds: %v, want it to wait until the deadline", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	l2, err := b.Lock(wait, "x")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

func TestLeaseOfClosedStore(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t)
	if _, err := s.Lock(ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("lock of an empty name: %v, want store.ErrInvalid", err)
	}
	l, err := s.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Lock(ctx, "x")
		waiting <- err
	}()
	s.Close()
	waitLost(t, l, "the store was closed")
	if err := l.Release(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("release after close: %v, want an error saying the store is closed", err)
	}
	select {
	case err := <-waiting:
		checkClosed(t, "lock waiting when the store closed", err)
	case <-time.After(time.Minute):
		t.Fatal("Close did not end a waiting Lock")
	}
	_, err = s.Lock(ctx, "y")
	checkClosed(t, "lock", err)
}

// A lease whose Release could not delete its row (a full disk; here a
// trigger refuses the delete) is the releasing Store's to take again at
// once, as soon as it can write: a consumer that lost its lease so does
// not wait for its own lease to expire, as for another instance's. While
// the row cannot be deleted, Lock says so rather than wait. Another Store
// still waits for it to expire.
func TestALeaseWhoseReleaseFailedIsTakenBackAtOnce(t *testing.T) {
	ctx := context.Background()
	a, path := openFile(t, sqlite.WithLeaseDuration(time.Hour))
	b := openAt(t, path, sqlite.WithLeaseDuration(time.Hour), sqlite.WithPollInterval(20*time.Millisecond))
	raw := rawDB(t, path)
	l, err := a.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TRIGGER refuse BEFORE DELETE ON annals_leases BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("release refused by the database: %v, want its error", err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := a.Lock(short, "x"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("lock while the released lease cannot be deleted: %v, want the delete's error", err)
	}
	if _, err := raw.ExecContext(ctx, `DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	brief, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(brief, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("another store's lock of the unexpired lease: %v, want it to wait until the deadline", err)
	}
	again, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l2, err := a.Lock(again, "x")
	if err != nil {
		t.Fatalf("lock of the lease this store released: %v, want it taken at once", err)
	}
	if err := l2.Release(); err != nil {
		t.Fatal(err)
	}
	l3, err := b.Lock(again, "x")
	if err != nil {
		t.Fatalf("another store's lock after the release: %v", err)
	}
	l3.Release()
}
