package postgres_test

import (
	"context"
	"testing"

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
