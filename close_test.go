package annals_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// A system's Run on a store that is closed under it returns, with an
// error matching store.ErrClosed: before, it waited for good on memory
// and logged "store is closed" every half second on SQLite.
func TestRunReturnsWhenTheStoreIsClosed(t *testing.T) {
	for name, url := range map[string]string{
		"memory": "memory:",
		"sqlite": "sqlite://" + filepath.Join(t.TempDir(), "closing.db"),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s := must(annals.Open(ctx, url))
			sys := must(annals.NewSystem(s, annals.Async))
			sys.OnError(func(string, error) {})
			// One consumer keeps up; one stops at the second event and
			// waits in Run for a retry that does not come.
			down := must(annals.NewRecordProjection(s, "down", func(_ context.Context, _ store.StateTx, r store.Record) error {
				if r.Position == 2 {
					return errors.New("read model down")
				}
				return nil
			}))
			if err := sys.Add(newTally(s), down); err != nil {
				t.Fatal(err)
			}
			appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 3)
			ran := make(chan error, 1)
			go func() { ran <- sys.Run(ctx) }()
			var stopped *annals.ConsumerError
			if err := sys.WaitQuiet(ctx); !errors.As(err, &stopped) || stopped.Consumer != "down" {
				t.Fatalf("WaitQuiet = %v, want the consumer down stopped", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ran:
				if !errors.Is(err, store.ErrClosed) || !errors.As(err, &stopped) || stopped.Consumer != "down" {
					t.Fatalf("Run on a closed store returned %v, want an error matching store.ErrClosed and the stopped consumer's", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10 s of the store's Close")
			}
		})
	}
}
