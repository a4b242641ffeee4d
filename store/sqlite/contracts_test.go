package sqlite_test

import (
	"context"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/ledger"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// stores are the kinds of database the contracts run on: a file, a file
// whose log the store checkpoints itself every 16 pages (so that
// checkpoints run all through a test), and an in-memory database, which
// lives in one connection.
var stores = map[string]func(t *testing.T) *sqlite.Store{
	"file":         func(t *testing.T) *sqlite.Store { s, _ := openFile(t); return s },
	"checkpointer": func(t *testing.T) *sqlite.Store { s, _ := openFile(t, sqlite.WithCheckpointPages(16)); return s },
	"memory":       func(t *testing.T) *sqlite.Store { return openAt(t, sqlite.Memory) },
}

func TestSnapshotStoreContract(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			proptest.SnapshotStoreContract(t, func(t *testing.T) snapshot.Store { return open(t) })
		})
	}
}

func TestKeyStoreContract(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			proptest.KeyStoreContract(t, func(t *testing.T) store.KeyStore { return open(t) })
		})
	}
}

func TestConsumerContract(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			proptest.ConsumerContract(t, func(t *testing.T) proptest.ConsumerStore { return open(t) })
		})
	}
}

func TestSnapshotEqualsReplay(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			proptest.SnapshotEqualsReplay(t, annals.New(s), s, ledger.Decider, ledger.Events(), ledger.States(), ledger.Commands)
		})
	}
}

// The snapshots and states of one file are there after reopening it.
func TestSnapshotsAndStatesSurviveReopening(t *testing.T) {
	ctx := context.Background()
	s, path := openFile(t)
	snap := snapshot.Snapshot{StreamID: "acct-1", Version: 40, Type: "Account", SchemaVersion: 3, Data: []byte(`{"balance":7}`), Encoding: "deflate"}
	if err := s.SaveSnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "summary", 0, 12, func(tx store.StateTx) error { return tx.SaveState(ctx, "summary", "acct-1", []byte("seven")) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, path)
	got, ok, err := s.LatestSnapshot(ctx, "acct-1")
	if err != nil || !ok || got.Version != 40 || string(got.Data) != `{"balance":7}` || got.Encoding != "deflate" || !got.Time.IsZero() {
		t.Fatalf("snapshot after reopening: %+v, found %v, %v; want version 40 as saved, with the zero time", got, ok, err)
	}
	data, ok, err := s.LoadState(ctx, "summary", "acct-1")
	if err != nil || !ok || string(data) != "seven" {
		t.Fatalf("state after reopening: %q, found %v, %v", data, ok, err)
	}
	if pos, err := s.Checkpoint(ctx, "summary"); err != nil || pos != 12 {
		t.Fatalf("checkpoint after reopening: %d, %v; want 12", pos, err)
	}
}

func TestDCBContract(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			proptest.DCBContract(t, func(t *testing.T) proptest.DCBStore { return open(t) })
		})
	}
}
