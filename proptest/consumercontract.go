package proptest

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
)

// ConsumerStore is what [ConsumerContract] checks: a store that keeps view
// states, commits them with checkpoints, and grants leases.
type ConsumerStore interface {
	store.Store
	store.StateStore
	store.Locker
}

// ConsumerContract runs the behaviour that projections and sagas rely on
// against the stores open returns: view states committed atomically with
// compared-and-set checkpoints, and exclusive leases. Like
// [StoreContract], each subtest opens a fresh store.
//
// It takes *testing.T, not [T]: it runs each behaviour as a subtest
// (t.Run) and hands that subtest's t to open.
func ConsumerContract(t *testing.T, open func(t *testing.T) ConsumerStore) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, ConsumerStore)
	}{
		{"CommitMovesCheckpointWithStates", consumerCommit},
		{"FailedCommitKeepsNothing", consumerFailedCommit},
		{"CheckpointComparedAndSet", consumerCompareAndSet},
		{"RacingCommitsLoseNoUpdate", consumerRacingCommits},
		{"TransactionReadsItsOwnWrites", consumerOwnWrites},
		{"BatchLoadOutsideATransaction", consumerLoadStates},
		{"ResetToRebuild", consumerReset},
		{"InvalidInput", consumerInvalid},
		{"Leases", consumerLeases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

func mustState(t *testing.T, s store.StateStore, view, key string) ([]byte, bool) {
	t.Helper()
	data, ok, err := s.LoadState(context.Background(), view, key)
	if err != nil {
		t.Fatalf("load state %s/%s: %v", view, key, err)
	}
	return data, ok
}

func consumerCommit(t *testing.T, s ConsumerStore) {
	ctx := context.Background()
	payloads := map[string][]byte{"empty": {}, "unicode": []byte("Zürich 🐕"), "binary": {0, 0xff, 0}, "big": bytes.Repeat([]byte("x"), 1<<16)}
	err := s.Commit(ctx, "c", 0, 7, func(tx store.StateTx) error {
		for k, v := range payloads {
			if err := tx.SaveState(ctx, "v", k, v); err != nil {
				return err
			}
		}
		// Not visible outside the transaction before it commits.
		if _, ok, err := s.LoadState(ctx, "v", "unicode"); err != nil || ok {
			t.Errorf("a state saved in an open transaction is visible outside it (ok=%v, err=%v)", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	for k, v := range payloads {
		if got, ok := mustState(t, s, "v", k); !ok || !bytes.Equal(got, v) {
			t.Fatalf("state %q: %d bytes (found %v), want %d", k, len(got), ok, len(v))
		}
	}
	if _, ok := mustState(t, s, "other", "unicode"); ok {
		t.Fatal("a state is visible under another view name")
	}
	if pos, err := s.Checkpoint(ctx, "c"); err != nil || pos != 7 {
		t.Fatalf("checkpoint after commit = %d, %v; want 7", pos, err)
	}
	// A commit with no progress and no writes is allowed and changes nothing.
	if err := s.Commit(ctx, "c", 7, 7, func(store.StateTx) error { return nil }); err != nil {
		t.Fatalf("empty commit: %v", err)
	}
	err = s.Commit(ctx, "c", 7, 9, func(tx store.StateTx) error { return tx.DeleteState(ctx, "v", "binary") })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mustState(t, s, "v", "binary"); ok {
		t.Fatal("a deleted state is still there")
	}
}

func consumerFailedCommit(t *testing.T, s ConsumerStore) {
	ctx := context.Background()
	if err := s.Commit(ctx, "c", 0, 3, func(tx store.StateTx) error { return tx.SaveState(ctx, "v", "k", []byte("one")) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.Commit(ctx, "c", 3, 5, func(tx store.StateTx) error {
		if err := tx.SaveState(ctx, "v", "k", []byte("two")); err != nil {
			return err
		}
		if err := tx.SaveState(ctx, "v", "new", []byte("x")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("commit whose function fails: got %v, want its error", err)
	}
	if got, _ := mustState(t, s, "v", "k"); string(got) != "one" {
		t.Fatalf("state after a failed commit = %q, want %q", got, "one")
	}
	if _, ok := mustState(t, s, "v", "new"); ok {
		t.Fatal("a failed commit left a new state behind")
	}
	if pos, _ := s.Checkpoint(ctx, "c"); pos != 3 {
		t.Fatalf("checkpoint after a failed commit = %d, want 3", pos)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Commit(cancelled, "c", 3, 4, func(tx store.StateTx) error { return tx.SaveState(cancelled, "v", "k", []byte("three")) }); err == nil {
		t.Fatal("commit with a cancelled context succeeded")
	}
	if got, _ := mustState(t, s, "v", "k"); string(got) != "one" {
		t.Fatalf("state after a cancelled commit = %q, want %q", got, "one")
	}
}

func consumerCompareAndSet(t *testing.T, s ConsumerStore) {
	ctx := context.Background()
	if err := s.Commit(ctx, "c", 0, 10, func(store.StateTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, "c", 4, 12, func(tx store.StateTx) error { return tx.SaveState(ctx, "v", "k", []byte("stale")) })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("commit from 4 with the checkpoint at 10: got %v, want store.ErrConflict", err)
	}
	if _, ok := mustState(t, s, "v", "k"); ok {
		t.Fatal("a commit that lost the compare-and-set kept its writes")
	}
	if pos, _ := s.Checkpoint(ctx, "c"); pos != 10 {
		t.Fatalf("checkpoint = %d after a lost compare-and-set, want 10", pos)
	}
	// SetCheckpoint and Commit agree on the same checkpoint.
	if err := s.SetCheckpoint(ctx, "c", 15); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "c", 10, 16, func(store.StateTx) error { return nil }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("commit from 10 after SetCheckpoint(15): got %v, want store.ErrConflict", err)
	}
}

// Workers increment one counter state, each commit moving the checkpoint
// by one. Whatever the interleaving, the counter equals the checkpoint:
// state and checkpoint commit together, and no update is lost.
func consumerRacingCommits(t *testing.T, s ConsumerStore) {
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	const workers, commits = 4, 25
	var wg sync.WaitGroup
	var won atomic.Int64
	for range workers {
		wg.Go(func() {
			for done := 0; done < commits; {
				from, err := s.Checkpoint(ctx, "racing")
				if err != nil {
					t.Error(err)
					return
				}
				err = s.Commit(ctx, "racing", from, from+1, func(tx store.StateTx) error {
					data, _, err := tx.LoadState(ctx, "counter", "n")
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(data))
					return tx.SaveState(ctx, "counter", "n", []byte(strconv.Itoa(n+1)))
				})
				switch {
				case err == nil:
					done++
					won.Add(1)
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("racing commit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	data, _ := mustState(t, s, "counter", "n")
	pos, err := s.Checkpoint(ctx, "racing")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(workers * commits); won.Load() != want || pos != want || string(data) != strconv.FormatInt(want, 10) {
		t.Fatalf("%d commits won, checkpoint %d, counter %q; want all %d", won.Load(), pos, data, want)
	}
}

func consumerOwnWrites(t *testing.T, s ConsumerStore) {
	ctx := context.Background()
	if err := s.Commit(ctx, "c", 0, 1, func(tx store.StateTx) error {
		for _, k := range []string{"a", "b"} {
			if err := tx.SaveState(ctx, "v", k, []byte("old-"+k)); err != nil {
				return err
			}
		}
		return tx.SaveState(ctx, "w", "a", []byte("other view"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "c", 1, 1, func(tx store.StateTx) error {
		batch, ok := tx.(store.StateBatchTx)
		if !ok {
			return errors.New("roll back")
		}
		if err := tx.SaveState(ctx, "v", "new", []byte("unsaved")); err != nil {
			return err
		}
		got, err := batch.LoadStates(ctx, "v", []string{"a", "b", "new", "missing"})
		if err != nil {
			return err
		}
		if len(got) != 3 || string(got["a"]) != "old-a" || string(got["b"]) != "old-b" || string(got["new"]) != "unsaved" {
			t.Errorf("LoadStates = %q, want a and b as committed and new as written in the transaction", got)
		}
		return errors.New("roll back")
	}); err == nil {
		t.Fatal("a commit whose function failed succeeded")
	}
	err := s.Commit(ctx, "c", 1, 2, func(tx store.StateTx) error {
		check := func(key, want string, found bool) {
			got, ok, err := tx.LoadState(ctx, "v", key)
			if err != nil || ok != found || string(got) != want {
				t.Errorf("in the transaction, state %q = %q (found %v, err %v); want %q (found %v)", key, got, ok, err, want, found)
			}
		}
		check("a", "old-a", true)
		if err := tx.SaveState(ctx, "v", "a", []byte("new-a")); err != nil {
			return err
		}
		check("a", "new-a", true)
		if err := tx.DeleteState(ctx, "v", "b"); err != nil {
			return err
		}
		check("b", "", false)
		if err := tx.DeleteStates(ctx, "v"); err != nil {
			return err
		}
		check("a", "", false)
		if err := tx.SaveState(ctx, "v", "c", []byte("after clear")); err != nil {
			return err
		}
		check("c", "after clear", true)
		if batch, ok := tx.(store.StateBatchTx); ok {
			got, err := batch.LoadStates(ctx, "v", []string{"a", "b", "c", "d"})
			if err != nil {
				return err
			}
			if len(got) != 1 || string(got["c"]) != "after clear" {
				t.Errorf("LoadStates in the transaction = %q, want only c, as the transaction left it", got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"a": "", "b": "", "c": "after clear"} {
		if got, _ := mustState(t, s, "v", key); string(got) != want {
			t.Errorf("after commit, state %q = %q, want %q", key, got, want)
		}
	}
	if got, _ := mustState(t, s, "w", "a"); string(got) != "other view" {
		t.Errorf("clearing view v changed view w: %q", got)
	}
}

// consumerLoadStates checks a store that loads many states at once
// outside a transaction ([store.StateBatchStore]): it reads the committed
// states of the keys that have one, and nothing a transaction has not
// committed.
func consumerLoadStates(t *testing.T, s ConsumerStore) {
	batch, ok := s.(store.StateBatchStore)
	if !ok {
		t.Skip("the store loads states one by one")
	}
	ctx := context.Background()
	if err := s.Commit(ctx, "c", 0, 1, func(tx store.StateTx) error {
		for k, v := range map[string]string{"a": "state a", "b": "state b", "empty": ""} {
			if err := tx.SaveState(ctx, "v", k, []byte(v)); err != nil {
				return err
			}
		}
		return tx.SaveState(ctx, "w", "c", []byte("other view"))
	}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "empty", "c", "new", "missing"}
	err := s.Commit(ctx, "c", 1, 2, func(tx store.StateTx) error {
		if err := tx.SaveState(ctx, "v", "new", []byte("unsaved")); err != nil {
			return err
		}
		got, err := batch.LoadStates(ctx, "v", keys)
		if err != nil {
			return err
		}
		if _, ok := got["new"]; ok {
			t.Errorf("LoadStates outside the transaction found a state it has not committed: %q", got)
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("a commit whose function failed succeeded")
	}
	got, err := batch.LoadStates(ctx, "v", keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got["a"]) != "state a" || string(got["b"]) != "state b" || got["empty"] == nil || len(got["empty"]) != 0 {
		t.Errorf("LoadStates = %q, want a, b and empty (an empty, non-nil state) as committed, and nothing of view w", got)
	}
	if got, err := batch.LoadStates(ctx, "v", nil); err != nil || len(got) != 0 {
		t.Errorf("LoadStates of no keys = %q, %v; want nothing", got, err)
	}
	for _, bad := range []struct {
		view string
		keys []string
	}{{"", []string{"a"}}, {"v", []string{"a", "nul\x00"}}} {
		if _, err := batch.LoadStates(ctx, bad.view, bad.keys); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("LoadStates(%q, %q) = %v, want ErrInvalid", bad.view, bad.keys, err)
		}
	}
}

func consumerReset(t *testing.T, s ConsumerStore) {
	ctx := context.Background()
	if err := s.Commit(ctx, "c", 0, 50, func(tx store.StateTx) error { return tx.SaveState(ctx, "v", "k", []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "c", 50, 0, func(tx store.StateTx) error { return tx.DeleteStates(ctx, "v") }); err != nil {
		t.Fatalf("reset to 0: %v", err)
	}
	if pos, _ := s.Checkpoint(ctx, "c"); pos != 0 {
		t.Fatalf("checkpoint after reset = %d, want 0", pos)
	}
	if _, ok := mustState(t, s, "v", "k"); ok {
		t.Fatal("state survived the reset")
	}
}

func consumerInvalid(t *testing.T, s ConsumerStore) {
	ctx := context.Background()
	noop := func(store.StateTx) error { return nil }
	for name, err := range map[string]error{
		"backwards to 3":  s.Commit(ctx, "c", 5, 3, noop),
		"negative from":   s.Commit(ctx, "c", -1, 3, noop),
		"empty consumer":  s.Commit(ctx, "", 0, 1, noop),
		"nil function":    s.Commit(ctx, "c", 0, 1, nil),
		"empty view name": s.Commit(ctx, "c", 0, 1, func(tx store.StateTx) error { return tx.SaveState(ctx, "", "k", nil) }),
		"key not UTF-8":   s.Commit(ctx, "c", 0, 1, func(tx store.StateTx) error { return tx.SaveState(ctx, "v", "bad\xff", nil) }),
	} {
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: got %v, want store.ErrInvalid", name, err)
		}
	}
	if pos, _ := s.Checkpoint(ctx, "c"); pos != 0 {
		t.Fatalf("checkpoint moved to %d by refused commits", pos)
	}
}

func consumerLeases(t *testing.T, s ConsumerStore) {
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	first, err := s.Lock(ctx, "lease")
	if err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	if l, err := s.Lock(short, "lease"); err == nil {
		l.Release()
		t.Fatal("a second Lock of a held lease succeeded")
	}
	stop()
	other, err := s.Lock(ctx, "another")
	if err != nil {
		t.Fatalf("lock of another name while the first is held: %v", err)
	}
	other.Release()
	waited := make(chan store.Lease, 1)
	go func() {
		l, err := s.Lock(ctx, "lease")
		if err != nil {
			t.Error(err)
		}
		waited <- l
	}()
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second := <-waited
	if second == nil {
		t.Fatal("a waiting Lock did not get the released lease")
	}
	second.Release()

	// Racing holders: never two at once.
	var holders, most atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				l, err := s.Lock(ctx, "racing")
				if err != nil {
					t.Error(err)
					return
				}
				n := holders.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				holders.Add(-1)
				if err := l.Release(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d holders of one lease at once, want 1", most.Load())
	}
}
