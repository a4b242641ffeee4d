package postgres_test

import (
	"context"
	"testing"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store/postgres"
)

// instances opens n stores on one schema, each with a pool of its own,
// as n processes would.
func instances(t *testing.T, n int) []proptest.InstanceStore {
	t.Helper()
	db := pgtest.New(t)
	out := make([]proptest.InstanceStore, n)
	for i := range out {
		s, err := postgres.Open(context.Background(), db.URL+"&pool_max_conns=2", postgres.WithSchema(db.Schema))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

func TestOutcomeContract(t *testing.T) {
	t.Parallel()
	proptest.OutcomeContract(t, func(t *testing.T, n int) []proptest.InstanceStore {
		return instances(t, n)
	})
}

// Fifty processes on one database, each with its own Sync system.
func TestInstancesMisreportNothing(t *testing.T) {
	t.Parallel()
	proptest.InstancesMisreportNothing(t, 50, instances)
}

func TestCatchUpRace(t *testing.T) {
	t.Parallel()
	proptest.CatchUpRace(t, 8, instances)
}
