package snapshot_test

import (
	"fmt"

	"github.com/annals-dev/annals/snapshot"
)

// A policy sees where the stream is and where its last snapshot was.
// Every(100) snapshots once 100 events have passed; combined with OnTypes,
// a month-end closing is snapshotted too.
func ExampleEvery() {
	policy := snapshot.Any(snapshot.Every(100), snapshot.OnTypes("MonthClosed"))
	for _, info := range []snapshot.Info{
		{StreamID: "account-1", Version: 99, SnapshotVersion: 0, Types: []string{"Deposited"}},
		{StreamID: "account-1", Version: 100, SnapshotVersion: 0, Types: []string{"Deposited"}},
		{StreamID: "account-1", Version: 150, SnapshotVersion: 100, Types: []string{"Deposited"}},
		{StreamID: "account-1", Version: 151, SnapshotVersion: 100, Types: []string{"Deposited", "MonthClosed"}},
	} {
		fmt.Println(info.Version, policy(info))
	}
	// Output:
	// 99 false
	// 100 true
	// 150 false
	// 151 true
}
