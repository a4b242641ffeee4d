package proptest_test

import (
	"testing"

	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

func TestStoreContractMemory(t *testing.T) {
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestConsumerContractMemory(t *testing.T) {
	proptest.ConsumerContract(t, func(t *testing.T) proptest.ConsumerStore {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestDCBContractMemory(t *testing.T) {
	proptest.DCBContract(t, func(t *testing.T) proptest.DCBStore { return memory.New() })
}
