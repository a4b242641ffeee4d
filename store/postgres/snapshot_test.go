package postgres_test

import (
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/ledger"
	"github.com/annals-dev/annals/proptest"
)

// For any history and snapshot interval, loading from the latest
// snapshot in PostgreSQL and the events after it equals a full replay.
func TestSnapshotEqualsReplay(t *testing.T) {
	t.Parallel()
	s := open(t)
	proptest.SnapshotEqualsReplay(t, annals.New(s), s, ledger.Decider, ledger.Events(), ledger.States(), ledger.Commands)
}
