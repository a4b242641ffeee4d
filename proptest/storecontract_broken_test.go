package proptest_test

import (
	"context"
	"errors"
	"iter"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// Broken stores, each with one defect the contract must catch. They wrap
// the memory store and change one behaviour.
type lossyLog struct{ *memory.Store }

// ReadLog drops every 37th position, as a store that skips events
// committed out of order would.
func (s lossyLog) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	recs, err := s.Store.ReadLog(ctx, q)
	out := recs[:0]
	for _, r := range recs {
		if r.Position%37 != 0 {
			out = append(out, r)
		}
	}
	return out, err
}

type piecemeal struct{ *memory.Store }

// Append writes events one at a time: a batch that fails half-way is
// half-written.
func (s piecemeal) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	v := expected
	for _, e := range events {
		var err error
		if v, err = s.Store.Append(ctx, id, v, []store.Event{e}); err != nil {
			return v, err
		}
	}
	if len(events) == 0 {
		return s.Store.Append(ctx, id, expected, nil)
	}
	return v, nil
}

type forgivingCheckpoint struct{ *memory.Store }

// SetCheckpoint ignores a backwards move instead of refusing it.
func (s forgivingCheckpoint) SetCheckpoint(ctx context.Context, consumer string, pos int64) error {
	if err := s.Store.SetCheckpoint(ctx, consumer, pos); err != nil && !errors.Is(err, store.ErrCheckpointBackwards) {
		return err
	}
	return nil
}

type vagueConflict struct{ *memory.Store }

// Append reports conflicts without saying which versions clashed.
func (s vagueConflict) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	v, err := s.Store.Append(ctx, id, expected, events)
	if errors.Is(err, store.ErrConflict) {
		return v, &store.ConflictError{StreamID: id, Expected: expected}
	}
	return v, err
}

type reissuedIDs struct{ *memory.Store }

// Append replaces a duplicate event ID with a fresh one instead of
// refusing the batch, so an idempotent append happens twice.
func (s reissuedIDs) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	v, err := s.Store.Append(ctx, id, expected, events)
	if errors.Is(err, store.ErrDuplicateEvent) {
		fresh := slices.Clone(events)
		for i := range fresh {
			fresh[i].ID = uuid.Nil
		}
		return s.Store.Append(ctx, id, expected, fresh)
	}
	return v, err
}

// nullEmpties loads many states as a driver might that reads an empty
// value as NULL: an empty state is missing.
type nullEmpties struct{ *memory.Store }

func (s nullEmpties) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	out, err := s.Store.LoadStates(ctx, view, keys)
	maps.DeleteFunc(out, func(_ string, data []byte) bool { return len(data) == 0 })
	return out, err
}

type laxCommit struct{ *memory.Store }

// Commit moves the checkpoint without comparing it: two instances of a
// consumer both commit.
func (s laxCommit) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	actual, err := s.Store.Checkpoint(ctx, consumer)
	if err != nil {
		return err
	}
	if to < actual && to != 0 {
		to = actual
	}
	return s.Store.Commit(ctx, consumer, actual, to, fn)
}

type sharedLease struct{ *memory.Store }

// Lock grants every caller the lease at once.
func (s sharedLease) Lock(ctx context.Context, name string) (store.Lease, error) {
	return s.Store.Lock(ctx, name+"/"+uuid.NewString())
}

type impatientWait struct{ *memory.Store }

// Wait returns at once, so a tailing consumer spins instead of waiting.
func (s impatientWait) Wait(ctx context.Context, after int64) error { return ctx.Err() }

type epochClock struct{ *memory.Store }

// ReadStream reports every event as recorded at the Unix epoch, as a store
// that read nanoseconds as seconds, or the reverse, would.
func (s epochClock) ReadStream(ctx context.Context, id string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		for r, err := range s.Store.ReadStream(ctx, id, from) {
			r.Time = time.Unix(0, 0).UTC()
			if !yield(r, err) {
				return
			}
		}
	}
}

type staleFinder struct{ *memory.Store }

// FindEvent finds an event with its metadata as it was at first, before
// any: a lookup that reads a cache rather than the stored row.
func (s staleFinder) FindEvent(ctx context.Context, id uuid.UUID) (store.Record, bool, error) {
	r, ok, err := s.Store.FindEvent(ctx, id)
	r.Metadata = store.Metadata{}
	return r, ok, err
}

type forgetfulExtra struct{ *memory.Store }

// Streams is a method of the adapter's own, outside every interface of
// package store, that answers after Close as if the store were open.
func (s forgetfulExtra) Streams(ctx context.Context) ([]string, error) { return nil, ctx.Err() }

var brokenStores = map[string]struct {
	open     func() store.Store
	failing  string // the contract subtest that must fail
	consumer bool   // run ConsumerContract rather than StoreContract
}{
	"lax-commit":           {func() store.Store { return laxCommit{memory.New()} }, "CheckpointComparedAndSet", true},
	"null-empties":         {func() store.Store { return nullEmpties{memory.New()} }, "BatchLoadOutsideATransaction", true},
	"shared-lease":         {func() store.Store { return sharedLease{memory.New()} }, "Leases", true},
	"lossy-log":            {func() store.Store { return lossyLog{memory.New()} }, "ConcurrentWritersTailingReader", false},
	"piecemeal":            {func() store.Store { return piecemeal{memory.New()} }, "FailedBatchWritesNothing", false},
	"forgiving-checkpoint": {func() store.Store { return forgivingCheckpoint{memory.New()} }, "Checkpoints", false},
	"vague-conflict":       {func() store.Store { return vagueConflict{memory.New()} }, "StateMachine", false},
	"reissued-ids":         {func() store.Store { return reissuedIDs{memory.New()} }, "DuplicateEventIDs", false},
	"impatient-wait":       {func() store.Store { return impatientWait{memory.New()} }, "Wait", false},
	"epoch-clock":          {func() store.Store { return epochClock{memory.New()} }, "Payloads", false},
	"stale-finder":         {func() store.Store { return staleFinder{memory.New()} }, "StateMachine", false},
	"forgetful-extra":      {func() store.Store { return forgetfulExtra{memory.New()} }, "CallsAfterCloseFail", false},
}

const brokenEnv = "ANNALS_PROPTEST_BROKEN_STORE"

// TestBrokenStore runs the contract against the broken store named by the
// environment; it runs only as a subprocess of
// TestStoreContractCatchesBrokenStores, which expects it to fail.
func TestBrokenStore(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("runs as a subprocess of TestStoreContractCatchesBrokenStores")
	}
	if brokenStores[name].consumer {
		proptest.ConsumerContract(t, func(t *testing.T) proptest.ConsumerStore { return brokenStores[name].open().(proptest.ConsumerStore) })
		return
	}
	proptest.StoreContract(t, func(t *testing.T) store.Store { return brokenStores[name].open() })
}

func TestStoreContractCatchesBrokenStores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a test binary per broken store")
	}
	for name, b := range brokenStores {
		t.Run(name, func(t *testing.T) {
			// -rapid.nofailfile: the expected failures must not leave files behind.
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStore$", "-test.v", "-rapid.nofailfile")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the contract passed a store with the %s defect:\n%s", name, out)
			}
			if want := "--- FAIL: TestBrokenStore/" + b.failing; !strings.Contains(string(out), want) {
				t.Fatalf("the contract did not fail %s for the %s defect:\n%s", b.failing, name, out)
			}
		})
	}
}
