package annals_test

import (
	"context"
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
				opts = append(opts, annals.WithSnapshots(s, snapshot.Every(100), accountStateCodec()))
			}
			r := annals.NewRunner(s, accounts, accountCodec(), opts...)
			if _, err := r.Handle(ctx, "a", accountCmd{Open: true, CustomerID: "c-1", Holder: "Ann"}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := r.Handle(ctx, "a", accountCmd{Amount: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
