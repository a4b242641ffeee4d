package annals_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
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

// The handle keeps the contract of the store it wraps: once closed,
// every call on it fails with an error matching store.ErrClosed.
func TestHandleContract(t *testing.T) {
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s := annals.New(memory.New())
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// On a handle closed, a call that its adapter does not implement fails
// as every other call does, with an error matching store.ErrClosed,
// rather than with store.ErrUnsupported as if the store could still do
// the rest.
func TestUnsupportedCallsAfterClose(t *testing.T) {
	ctx := context.Background()
	s := annals.New(logOnly{memory.New()})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	query := store.Query{Items: []store.QueryItem{{Tags: []string{"t:1"}}}}
	snap := snapshot.Snapshot{StreamID: "s", Version: 1, Type: "S", SchemaVersion: 1}
	key := store.SubjectKey{Subject: "p", KeyID: "k1", Wrapped: []byte{1}}
	for what, call := range map[string]func() error{
		"Commit":           func() error { return s.Commit(ctx, "c", 0, 1, func(store.StateTx) error { return nil }) },
		"LoadState":        func() error { _, _, err := s.LoadState(ctx, "v", "k"); return err },
		"LoadStates":       func() error { _, err := s.LoadStates(ctx, "v", []string{"k"}); return err },
		"SaveSnapshot":     func() error { return s.SaveSnapshot(ctx, snap) },
		"LatestSnapshot":   func() error { _, _, err := s.LatestSnapshot(ctx, "s"); return err },
		"CreateSubjectKey": func() error { _, err := s.CreateSubjectKey(ctx, key); return err },
		"SubjectKey":       func() error { _, err := s.SubjectKey(ctx, "p"); return err },
		"DeleteSubjectKey": func() error { return s.DeleteSubjectKey(ctx, "p") },
		"Lock":             func() error { _, err := s.Lock(ctx, "l"); return err },
		"AppendIf": func() error {
			_, err := s.AppendIf(ctx, "s", store.AnyVersion, []store.Event{{Type: "A", Tags: []string{"t:1"}}}, store.AppendCondition{FailIfEventsMatch: query})
			return err
		},
		"ReadQuery": func() error {
			for _, err := range s.ReadQuery(ctx, query, 0) {
				return err
			}
			return nil
		},
	} {
		if err := call(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s on a closed handle whose adapter does not implement it: %v; want an error matching store.ErrClosed", what, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}
