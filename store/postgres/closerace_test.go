package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
)

// A read that Close overtakes, between the store's look at whether it is
// closed and the pool's answer, fails with store.ErrClosed, as a read
// after Close does, rather than with the pool's "closed pool".
func TestReadsOvertakenByClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	if _, err := s.Append(ctx, "a", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range cap(errs) {
		wg.Go(func() {
			for {
				var err error
				if i%2 == 0 {
					_, err = s.Head(ctx)
				} else {
					_, err = s.ReadLog(ctx, store.LogQuery{})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("a read overtaken by Close: %v; want an error matching store.ErrClosed", err)
		}
	}
}
