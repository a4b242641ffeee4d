package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

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

// Whichever connection a read runs on, it sees every append that returned
// before it began and nothing of one that has not, and never waits for
// good: writers that append and read their own streams back, at 1 to 4
// at once, alongside a projection whose handler reads a stream while it
// holds the writer.
func TestReadsSeeEveryAcknowledgedAppend(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, _ := openFile(t)
		writers := rapid.IntRange(1, 4).Draw(rt, "writers")
		rounds := rapid.IntRange(1, 12).Draw(rt, "rounds")
		sizes := rapid.SliceOfN(rapid.IntRange(1, 3), writers*rounds, writers*rounds).Draw(rt, "sizes")
		handlerReads := rapid.Bool().Draw(rt, "handler reads")
		var wg sync.WaitGroup
		errs := make(chan error, writers+1)
		for w := range writers {
			wg.Go(func() {
				stream := fmt.Sprintf("w%d", w)
				var v int64
				for r := range rounds {
					var err error
					if v, err = s.Append(ctx, stream, v, crashtest.Batch(v, sizes[w*rounds+r], nil)); err != nil {
						errs <- err
						return
					}
					got, err := readVersions(ctx, s, stream)
					if err != nil {
						errs <- err
						return
					}
					if int64(len(got)) != v || (v > 0 && got[v-1] != v) {
						errs <- fmt.Errorf("%s at version %d read back versions %v", stream, v, got)
						return
					}
				}
			})
		}
		if handlerReads {
			wg.Go(func() {
				for i := range rounds {
					err := s.SQL().Commit(ctx, "reader", int64(i), int64(i+1), func(*sql.Tx) error {
						got, err := readVersions(ctx, s, "w0")
						for j, v := range got {
							if v != int64(j+1) {
								return fmt.Errorf("w0 read inside a handler: versions %v", got)
							}
						}
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			rt.Fatal(err)
		}
	})
}
