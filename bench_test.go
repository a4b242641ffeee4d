package annals_test

import (
	"context"
	"github.com/annals-dev/annals/internal/testdomain"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store/memory"
)

// BenchmarkHandleWithSnapshots is a command on a long-lived account, with
// the runner's state cache so that neither variant replays: the
// difference is the cost of saving a snapshot every 100 events.
func BenchmarkHandleWithSnapshots(b *testing.B) {
	ctx := context.Background()
	for _, snapshots := range []bool{false, true} {
		name := "cache"
		if snapshots {
			name = "cache+snapshot-every-100"
		}
		b.Run(name, func(b *testing.B) {
			s := annals.New(memory.New())
			opts := []annals.RunnerOption{annals.WithCache(16)}
			if snapshots {
				opts = append(opts, annals.WithSnapshots(s, snapshot.Every(100), testdomain.AccountStateCodec()))
			}
			r := annals.NewRunner(s, testdomain.Accounts, testdomain.AccountCodec(), opts...)
			if _, err := r.Handle(ctx, "a", testdomain.AccountCmd{Open: true, CustomerID: "c-1", Holder: "Ann"}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := r.Handle(ctx, "a", testdomain.AccountCmd{Amount: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
