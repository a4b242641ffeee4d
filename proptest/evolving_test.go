package proptest_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/internal/ledger"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
	"github.com/annals-dev/annals/store/memory"
)

func TestKeyStoreContractMemory(t *testing.T) {
	proptest.KeyStoreContract(t, func(t *testing.T) store.KeyStore { return memory.New() })
}

func TestSnapshotStoreContractMemory(t *testing.T) {
	proptest.SnapshotStoreContract(t, func(t *testing.T) snapshot.Store { return memory.New() })
}

func TestSnapshotEqualsReplayMemory(t *testing.T) {
	s := annals.New(memory.New())
	proptest.SnapshotEqualsReplay(t, s, s, ledger.Decider, ledger.Events(), ledger.States(), ledger.Commands)
}

// Defects that the contracts and the snapshot property must catch, each
// in a wrapper around the memory store or the state mapper.

type keepsFirstSnapshot struct{ *memory.Store }

// SaveSnapshot ignores a snapshot when the stream has one already.
func (s keepsFirstSnapshot) SaveSnapshot(ctx context.Context, snap snapshot.Snapshot) error {
	if _, ok, _ := s.LatestSnapshot(ctx, snap.StreamID); ok {
		return nil
	}
	return s.Store.SaveSnapshot(ctx, snap)
}

// lastSnapshotWins keeps the snapshot saved last, whatever its version.
type lastSnapshotWins struct {
	*memory.Store
	mu     sync.Mutex
	latest map[string]snapshot.Snapshot
}

func (s *lastSnapshotWins) SaveSnapshot(ctx context.Context, snap snapshot.Snapshot) error {
	if err := check.Snapshot(snap); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap.Data = slices.Clone(snap.Data)
	s.latest[snap.StreamID] = snap
	return nil
}

func (s *lastSnapshotWins) LatestSnapshot(ctx context.Context, id string) (snapshot.Snapshot, bool, error) {
	if err := check.StreamID(id); err != nil {
		return snapshot.Snapshot{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return snapshot.Snapshot{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, ok := s.latest[id]
	snap.Data = slices.Clone(snap.Data)
	return snap, ok, nil
}

type lastKeyWins struct{ *memory.Store }

// CreateSubjectKey replaces a stored key.
func (s lastKeyWins) CreateSubjectKey(ctx context.Context, k store.SubjectKey) (store.SubjectKey, error) {
	if err := s.DeleteSubjectKey(ctx, k.Subject); err != nil {
		return store.SubjectKey{}, err
	}
	return s.Store.CreateSubjectKey(ctx, k)
}

type softDelete struct{ *memory.Store }

// DeleteSubjectKey keeps the key.
func (softDelete) DeleteSubjectKey(context.Context, string) error { return nil }

type staleSnapshotVersion struct{ *annals.Store }

// LatestSnapshot claims the state is one version older than it is, so the
// event at the snapshot's version is folded twice.
func (s staleSnapshotVersion) LatestSnapshot(ctx context.Context, id string) (snapshot.Snapshot, bool, error) {
	snap, ok, err := s.Store.LatestSnapshot(ctx, id)
	if ok && snap.Version > 1 {
		snap.Version--
	}
	return snap, ok, err
}

// forgetfulState loses the tag counts when it takes a snapshot.
type forgetfulState struct{ *codec.JSON[ledger.State] }

func (f forgetfulState) ToSnapshot(ctx context.Context, id string, v int64, s ledger.State) (snapshot.Snapshot, error) {
	s.Counts = nil
	return f.JSON.ToSnapshot(ctx, id, v, s)
}

var brokenEvolving = map[string]struct {
	run     func(t *testing.T)
	failing string
}{
	"keeps-first-snapshot": {func(t *testing.T) {
		proptest.SnapshotStoreContract(t, func(*testing.T) snapshot.Store { return keepsFirstSnapshot{memory.New()} })
	}, "TestBrokenEvolving/LatestWins"},
	"last-snapshot-wins": {func(t *testing.T) {
		proptest.SnapshotStoreContract(t, func(*testing.T) snapshot.Store {
			return &lastSnapshotWins{Store: memory.New(), latest: map[string]snapshot.Snapshot{}}
		})
	}, "TestBrokenEvolving/LatestWins"},
	"last-key-wins": {func(t *testing.T) {
		proptest.KeyStoreContract(t, func(*testing.T) store.KeyStore { return lastKeyWins{memory.New()} })
	}, "TestBrokenEvolving/FirstKeyWins"},
	"soft-delete": {func(t *testing.T) {
		proptest.KeyStoreContract(t, func(*testing.T) store.KeyStore { return softDelete{memory.New()} })
	}, "TestBrokenEvolving/DeleteIsForGood"},
	"stale-snapshot-version": {func(t *testing.T) {
		s := annals.New(memory.New())
		proptest.SnapshotEqualsReplay(t, s, staleSnapshotVersion{s}, ledger.Decider, ledger.Events(), ledger.States(), ledger.Commands)
	}, "TestBrokenEvolving"},
	"forgetful-state-mapper": {func(t *testing.T) {
		s := annals.New(memory.New())
		proptest.SnapshotEqualsReplay(t, s, s, ledger.Decider, ledger.Events(), forgetfulState{ledger.States()}, ledger.Commands)
	}, "TestBrokenEvolving"},
}

const brokenEvolvingEnv = "ANNALS_PROPTEST_BROKEN_EVOLVING"

// TestBrokenEvolving runs a check against the defect named by the
// environment; it runs only as a subprocess of
// TestEvolvingChecksCatchDefects, which expects it to fail.
func TestBrokenEvolving(t *testing.T) {
	name := os.Getenv(brokenEvolvingEnv)
	if name == "" {
		t.Skip("runs as a subprocess of TestEvolvingChecksCatchDefects")
	}
	brokenEvolving[name].run(t)
}

func TestEvolvingChecksCatchDefects(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a test binary per defect")
	}
	for name, b := range brokenEvolving {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenEvolving$", "-test.v", "-rapid.nofailfile")
			cmd.Env = append(os.Environ(), brokenEvolvingEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the check passed the %s defect:\n%s", name, out)
			}
			if want := "--- FAIL: " + b.failing; !strings.Contains(string(out), want) {
				t.Fatalf("the check did not fail %s for the %s defect:\n%s", b.failing, name, out)
			}
		})
	}
}
