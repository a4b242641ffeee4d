package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store/sqlite"
)

// fileInstances opens n stores on one file, as n processes would. They
// flush only at checkpoints: what they tell does not depend on it, and
// the tests run faster.
func fileInstances(t *testing.T, n int) []proptest.InstanceStore {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	out := make([]proptest.InstanceStore, n)
	for i := range out {
		out[i] = openAt(t, path, sqlite.WithSynchronous(sqlite.SyncNormal))
	}
	return out
}

func TestOutcomeContract(t *testing.T) {
	proptest.OutcomeContract(t, fileInstances)
}

// Four processes on one file, each with its own Sync system.
func TestInstancesMisreportNothing(t *testing.T) {
	proptest.InstancesMisreportNothing(t, 4, fileInstances)
}

func TestCatchUpRace(t *testing.T) {
	proptest.CatchUpRace(t, 8, fileInstances)
}
