package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

func openFile(t *testing.T, opts ...sqlite.Option) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestContractFile(t *testing.T) {
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s, _ := openFile(t)
		return s
	})
}

func TestContractMemory(t *testing.T) {
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s, err := store.Open(context.Background(), "sqlite::memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
