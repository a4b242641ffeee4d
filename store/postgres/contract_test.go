package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

func TestContract(t *testing.T) {
	t.Parallel()
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		return open(t)
	})
}

// The contract again with sequencing steps that number a single event
// at least, rather than thousands, so that reads, heads and waits take
// the path where one step does not number all that is pending.
func TestContractInSmallBatches(t *testing.T) {
	t.Parallel()
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s := open(t)
		postgres.SetSequenceBatch(s, 1)
		return s
	})
}

func TestSnapshotStoreContract(t *testing.T) {
	t.Parallel()
	proptest.SnapshotStoreContract(t, func(t *testing.T) snapshot.Store { return open(t) })
}

func TestKeyStoreContract(t *testing.T) {
	t.Parallel()
	proptest.KeyStoreContract(t, func(t *testing.T) store.KeyStore { return open(t) })
}

func TestConsumerContract(t *testing.T) {
	t.Parallel()
	proptest.ConsumerContract(t, func(t *testing.T) proptest.ConsumerStore { return open(t) })
}

// open returns a store in a schema of the test's own.
func open(t *testing.T, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	db := pgtest.New(t)
	s, err := postgres.Open(context.Background(), db.URL+"&pool_max_conns=12", append([]postgres.Option{postgres.WithSchema(db.Schema)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDCBContract(t *testing.T) {
	t.Parallel()
	proptest.DCBContract(t, func(t *testing.T) proptest.DCBStore { return open(t) })
}

func TestDCBContractInSmallBatches(t *testing.T) {
	t.Parallel()
	proptest.DCBContract(t, func(t *testing.T) proptest.DCBStore {
		s := open(t)
		postgres.SetSequenceBatch(s, 1)
		return s
	})
}

// On a pool of the caller's, which Close leaves open, a read after Close
// fails with store.ErrClosed as on a pool the store opened: the store
// refuses it, rather than answer as if it were open.
func TestReadsAfterCloseOnTheCallersPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	pool, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := postgres.New(ctx, pool, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "a", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for what, read := range map[string]func() error{
		"Head":       func() error { _, err := s.Head(ctx); return err },
		"ReadLog":    func() error { _, err := s.ReadLog(ctx, store.LogQuery{}); return err },
		"Checkpoint": func() error { _, err := s.Checkpoint(ctx, "c"); return err },
		"LoadState":  func() error { _, _, err := s.LoadState(ctx, "v", "k"); return err },
		"LoadStates": func() error { _, err := s.LoadStates(ctx, "v", nil); return err },
		"ReadStream": func() error {
			for _, err := range s.ReadStream(ctx, "a", 0) {
				return err
			}
			return nil
		},
		"ExportCheckpoints": func() error {
			for _, err := range s.ExportCheckpoints(ctx) {
				return err
			}
			return nil
		},
	} {
		if err := read(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close, on the caller's pool: %v; want an error matching store.ErrClosed", what, err)
		}
	}
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("the caller's pool after the store's Close: %v; want it open", err)
	}
}
