package annals_test

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store/memory"
)

// InterestPaid is one of the many events of a savings account that lives
// for decades.
type InterestPaid struct {
	Cents int64 `json:"cents"`
}

// Savings is the account's state. Its snapshots are stored as "Savings"
// at schema version 1; bump the version when the struct, or what Evolve
// makes of it, changes, and old snapshots are ignored instead of misread.
type Savings struct {
	Balance  int64 `json:"balance"`
	Payments int   `json:"payments"`
}

var savings = decider.Decider[int64, InterestPaid, Savings]{
	Decide: func(cents int64, _ Savings) ([]InterestPaid, error) { return []InterestPaid{{Cents: cents}}, nil },
	Evolve: func(s Savings, e InterestPaid) Savings {
		return Savings{Balance: s.Balance + e.Cents, Payments: s.Payments + 1}
	},
}

// Snapshots for a long-lived account: after every 100 events the runner
// saves the state, and loads the latest snapshot plus the events after it,
// so loading costs the same after 1,000 or 100,000 events. The memory
// store is also a snapshot store, as every adapter is.
func ExampleWithSnapshots() {
	ctx := context.Background()
	s := annals.New(memory.New())
	// docs:begin snapshots
	events := codec.NewJSON[InterestPaid]().Register("InterestPaid", InterestPaid{})
	state := codec.NewJSON[Savings]().Register("Savings", Savings{})
	accounts := annals.NewRunner(s, savings, events, annals.WithSnapshots(s, snapshot.Every(100), state))
	// docs:end snapshots

	for range 1042 {
		if _, err := accounts.Handle(ctx, "savings-1", 3); err != nil {
			fmt.Println(err)
			return
		}
	}
	snap, _, _ := s.LatestSnapshot(ctx, "savings-1")
	fmt.Printf("latest snapshot: %s v%d at version %d\n", snap.Type, snap.SchemaVersion, snap.Version)

	acct, version, err := accounts.Load(ctx, "savings-1") // the snapshot and 42 events
	fmt.Println(acct, version, err)
	// Output:
	// latest snapshot: Savings v1 at version 1000
	// {3126 1042} 1042 <nil>
}
