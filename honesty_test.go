package annals_test

import (
	"testing"

	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store/memory"
)

// memoryInstances opens n handles' adapters on one in-memory store.
func memoryInstances(t *testing.T, n int) []proptest.InstanceStore {
	s := memory.New()
	out := make([]proptest.InstanceStore, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestOutcomeContract(t *testing.T) {
	proptest.OutcomeContract(t, memoryInstances)
}

func TestInstancesMisreportNothing(t *testing.T) {
	proptest.InstancesMisreportNothing(t, 8, memoryInstances)
}

func TestCatchUpRace(t *testing.T) {
	proptest.CatchUpRace(t, 8, memoryInstances)
}
