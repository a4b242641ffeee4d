package sqlite_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annals-dev/annals/internal/crashtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// readVersions reads stream whole and returns its records' versions.
func readVersions(ctx context.Context, s store.Store, stream string) ([]int64, error) {
	var out []int64
	for r, err := range s.ReadStream(ctx, stream, 0) {
		if err != nil {
			return out, err
		}
		out = append(out, r.Version)
	}
	return out, nil
}

// A read of an idle store borrows the writer connection, whose page cache
// holds what it wrote; an append that arrives during the read queues, and
// commits once the read is done. The read sees only what was committed
// before it.
func TestAppendWaitsForARead(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t)
	if _, err := s.Append(ctx, "s", store.NoStream, crashtest.Batch(0, 3, nil)); err != nil {
		t.Fatal(err)
	}
	borrowed, release := make(chan struct{}), make(chan struct{})
	var borrows atomic.Int32
	sqlite.SetGroupHook(s, func(stage string, _ int) error {
		if stage == "borrowed" && borrows.Add(1) == 1 {
			close(borrowed)
			<-release
		}
		return nil
	})
	read := make(chan []int64, 1)
	go func() {
		v, err := readVersions(ctx, s, "s")
		if err != nil {
			t.Error(err)
		}
		read <- v
	}()
	<-borrowed
	appended := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "s", 3, crashtest.Batch(3, 1, nil))
		appended <- err
	}()
	waitFor(t, "the append to queue behind the read", func() bool { return sqlite.QueuedAppends(s) == 1 })
	select {
	case err := <-appended:
		t.Fatalf("the append returned (%v) while a read held the writer", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the append queued behind a read did not return in 10s after it")
	}
	if got := <-read; len(got) != 3 || got[2] != 3 {
		t.Fatalf("the read saw versions %v, want 1 to 3", got)
	}
	if got, err := readVersions(ctx, s, "s"); err != nil || len(got) != 4 {
		t.Fatalf("after the append: versions %v, %v; want 1 to 4", got, err)
	}
}

// While a group holds the writer, a read goes to a reader and waits for
// nothing; it sees what was committed before the group.
func TestReadDuringAGroupUsesAReader(t *testing.T) {
	r := newGroupRig(t)
	ctx := context.Background()
	sqlite.SetGroupHook(r.s, nil)
	if _, err := r.s.Append(ctx, "s", store.NoStream, crashtest.Batch(0, 2, nil)); err != nil {
		t.Fatal(err)
	}
	var borrows atomic.Int32
	sqlite.SetGroupHook(r.s, func(stage string, wrote int) error {
		if stage == "borrowed" {
			borrows.Add(1)
		}
		return r.hook(stage, wrote)
	})
	first := make(chan error, 1)
	go func() {
		_, err := r.s.Append(ctx, "held", store.NoStream, crashtest.Batch(0, 1, nil))
		first <- err
	}()
	<-r.held
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := readVersions(rctx, r.s, "s")
	if err != nil || len(got) != 2 {
		t.Fatalf("a read while a group holds the writer: versions %v, %v; want 1 and 2", got, err)
	}
	if n := borrows.Load(); n != 0 {
		t.Fatalf("the read borrowed the writer %d times while a group held it", n)
	}
	close(r.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// A projection's handler holds the writer connection; a read it makes of
// the store goes to a reader rather than wait for the connection its own
// transaction holds.
func TestReadInsideAHandlerUsesAReader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, _ := openFile(t)
	if _, err := s.Append(ctx, "s", store.NoStream, crashtest.Batch(0, 2, nil)); err != nil {
		t.Fatal(err)
	}
	var got []int64
	err := s.SQL().Commit(ctx, "reader", 0, 2, func(*sql.Tx) error {
		var err error
		got, err = readVersions(ctx, s, "s")
		return err
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("a read inside a handler: versions %v, %v; want 1 and 2", got, err)
	}
}
