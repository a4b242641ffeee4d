package postgres_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// leaseBackends returns the server process IDs of the faulty store's
// sessions that hold a lease (a two-key advisory lock), or wait for one.
func (f *faulty) leaseBackends(t *testing.T, granted bool) []int32 {
	t.Helper()
	rows, err := f.admin.Query(context.Background(), `
		SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted = $2 AND a.application_name = $1`, f.app, granted)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int32
	for rows.Next() {
		var pid int32
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return pids
}

func lockWithin(s *postgres.Store, name string, d time.Duration) (store.Lease, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.Lock(ctx, name)
}

// When the server ends the session that holds a lease, Lost is closed,
// the lock is free for another, and releasing the lost lease is a no-op.
func TestLeaseLostWhenItsSessionIsTerminated(t *testing.T) {
	t.Parallel()
	f := openFaulty(t)
	l, err := lockWithin(f.Store, "projector", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Fatal("a fresh lease is already lost")
	default:
	}
	pids := f.leaseBackends(t, true)
	if len(pids) != 1 {
		t.Fatalf("the store's sessions hold %d leases, want 1", len(pids))
	}
	var ended bool
	if err := f.admin.QueryRow(context.Background(), "SELECT pg_terminate_backend($1, 10000)", pids[0]).Scan(&ended); err != nil || !ended {
		t.Fatalf("terminate the lease's session: %v, %v", ended, err)
	}
	select {
	case <-l.Lost():
	case <-time.After(time.Minute):
		t.Fatal("Lost was not closed after the lease's session was terminated")
	}
	again, err := lockWithin(f.Store, "projector", time.Minute)
	if err != nil {
		t.Fatalf("lock after the holder's session ended: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("release a lost lease: %v, want nil", err)
	}
	if err := again.Release(); err != nil {
		t.Fatal(err)
	}
	if pids := f.leaseBackends(t, true); len(pids) != 0 {
		t.Fatalf("after every lease was released, sessions %v still hold one", pids)
	}
}

// A Lock given up by its context leaves no session waiting for the lock
// behind it: the holder's release goes straight to the next in line.
func TestLockGivenUpLeavesNoWaiter(t *testing.T) {
	t.Parallel()
	f := openFaulty(t)
	held, err := lockWithin(f.Store, "busy", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockWithin(f.Store, "busy", 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held lease with a short deadline: %v, want context.DeadlineExceeded", err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(f.leaseBackends(t, false)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a session still waits for the lock after its Lock gave up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	l, err := lockWithin(f.Store, "busy", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}

// Leases are held on connections of their own, not the pool's: a process
// may hold more leases than its pool has connections and still append,
// as a system with many consumers does.
func TestLeasesDoNotTakePoolConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL+"&pool_max_conns=2", postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 5 {
		l, err := lockWithin(s, fmt.Sprint("consumer-", i), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
	}
	appendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.Append(appendCtx, "s", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatalf("append while holding more leases than the pool has connections: %v", err)
	}
}

// Stores in other schemas, or with other prefixes, in one database have
// leases of their own: one name held in each at once.
func TestLeasesOfStoresInOneDatabaseAreApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	var stores []*postgres.Store
	for _, opts := range [][]postgres.Option{
		{postgres.WithSchema(db.Schema)},
		{postgres.WithSchema(db.Schema), postgres.WithPrefix("other_")},
		{postgres.WithSchema(db.Schema + "_b")},
	} {
		s, err := postgres.Open(ctx, db.URL, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	t.Cleanup(func() { pgxExec(t, db.URL, "DROP SCHEMA "+db.Schema+"_b CASCADE") })
	for i, s := range stores {
		l, err := lockWithin(s, "consumer:summary", 10*time.Second)
		if err != nil {
			t.Fatalf("store %d: lock a name another store holds: %v", i, err)
		}
		defer l.Release()
	}
}

// The lease tests that kill a process run the test binary again as the
// holder, with these variables saying where.
const (
	leaseChildURL    = "ANNALS_PG_LEASE_URL"
	leaseChildSchema = "ANNALS_PG_LEASE_SCHEMA"
)

// TestLeaseHolderChild is the holder process: it takes the lease, says
// so, and holds it until killed. Run directly, it skips.
func TestLeaseHolderChild(t *testing.T) {
	u := os.Getenv(leaseChildURL)
	if u == "" {
		t.Skip("runs as a subprocess of TestLeaseTakenOverWhenHolderIsKilled")
	}
	ctx := context.Background()
	s, err := postgres.Open(ctx, u, postgres.WithSchema(os.Getenv(leaseChildSchema)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "consumer:orders"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("holding the lease")
	time.Sleep(10 * time.Minute)
	t.Fatal("the holder was not killed")
}

// A process that dies holding a lease loses it with its connection: a
// Lock waiting in another process gets it, with no expiry to wait for.
func TestLeaseTakenOverWhenHolderIsKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	child := exec.Command(os.Args[0], "-test.run=^TestLeaseHolderChild$", "-test.v")
	child.Env = append(os.Environ(), leaseChildURL+"="+db.URL, leaseChildSchema+"="+db.Schema)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			child.Process.Kill()
			child.Wait()
		}
	}()
	holding := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var seen []string
		for sc.Scan() {
			if sc.Text() == "holding the lease" {
				holding <- nil
				for sc.Scan() { // drain, so the child never blocks writing
				}
				return
			}
			seen = append(seen, sc.Text())
		}
		holding <- fmt.Errorf("the holder ended before it took the lease: %s", strings.Join(seen, "\n"))
	}()
	select {
	case err := <-holding:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the holder did not take the lease within 2 minutes")
	}

	if l, err := lockWithin(s, "consumer:orders", 300*time.Millisecond); err == nil {
		l.Release()
		t.Fatal("the lease was granted here while the holder process held it")
	}
	type result struct {
		lease store.Lease
		err   error
		at    time.Time
	}
	taken := make(chan result, 1)
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	go func() {
		l, err := s.Lock(waitCtx, "consumer:orders")
		taken <- result{l, err, time.Now()}
	}()
	select {
	case r := <-taken:
		t.Fatalf("lock returned (%v) while the holder still runs", r.err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	killed = true
	state, _ := child.Process.Wait()
	if ws, ok := state.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("holder ended with %v, want killed by SIGKILL", state)
	}
	r := <-taken
	if r.err != nil {
		t.Fatalf("lock after the holder was killed: %v", r.err)
	}
	defer r.lease.Release()
	t.Logf("the lease was taken over %v after the holder was killed", r.at.Sub(killedAt).Round(time.Millisecond))
}
