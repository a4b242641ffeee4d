package snapshot_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/snapshot"
)

func TestEverySnapshotsExactlyWhenNEventsHavePassed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.Int64Range(-2, 50).Draw(t, "n")
		last := rapid.Int64Range(0, 1000).Draw(t, "snapshot version")
		version := rapid.Int64Range(last, last+120).Draw(t, "version")
		got := snapshot.Every(n)(snapshot.Info{Version: version, SnapshotVersion: last})
		if want := version-last >= max(n, 1); got != want {
			t.Fatalf("Every(%d) at version %d after a snapshot at %d = %v, want %v", n, version, last, got, want)
		}
	})
}

func TestEveryNTakesOneSnapshotPerNEvents(t *testing.T) {
	// A stream loaded from its latest snapshot before every command, one
	// event per command, snapshots at n, 2n, 3n…
	const n = 7
	p := snapshot.Every(n)
	var taken []int64
	last := int64(0)
	for v := int64(1); v <= 30; v++ {
		if p(snapshot.Info{Version: v, SnapshotVersion: last}) {
			taken = append(taken, v)
			last = v
		}
	}
	if len(taken) != 4 || taken[0] != 7 || taken[3] != 28 {
		t.Fatalf("snapshots at %v, want 7 14 21 28", taken)
	}
}

func TestOnTypesAndAny(t *testing.T) {
	p := snapshot.Any(snapshot.Every(100), snapshot.OnTypes("MonthClosed"))
	cases := []struct {
		info snapshot.Info
		want bool
	}{
		{snapshot.Info{Version: 5, Types: []string{"Deposited", "MonthClosed"}}, true},
		{snapshot.Info{Version: 5, Types: []string{"Deposited"}}, false},
		{snapshot.Info{Version: 100, Types: []string{"Deposited"}}, true},
		{snapshot.Info{Version: 150, SnapshotVersion: 100}, false},
	}
	for _, c := range cases {
		if got := p(c.info); got != c.want {
			t.Errorf("policy(%+v) = %v, want %v", c.info, got, c.want)
		}
	}
}
