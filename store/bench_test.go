package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// seedAccount writes an account with n events (an opening and deposits)
// straight to s, and a snapshot every 100 events at versions 50, 150, …,
// so that the latest snapshot is 50 events behind the head, as it is on
// average with a snapshot every 100 events.
func seedAccount(b *testing.B, s *memory.Store, stream string, n int) {
	ctx := context.Background()
	events, states := accountCodec(), accountStateCodec()
	state := account{}
	var batch []store.Event
	flush := func(upTo int) {
		if _, err := s.Append(ctx, stream, int64(upTo-len(batch)), batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for v := 1; v <= n; v++ {
		var e accountEvent = moneyDeposited{Amount: int64(v % 997), Note: "salary"}
		if v == 1 {
			e = accountOpened{CustomerID: "c-1", Holder: "Ann Smith"}
		}
		ev, err := events.ToEvent(ctx, store.Placement{StreamID: stream, Version: int64(v)}, e, store.Metadata{})
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, ev)
		state = accounts.Evolve(state, e)
		if v%100 == 50 {
			flush(v)
			snap, err := states.ToSnapshot(ctx, stream, int64(v), state)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.SaveSnapshot(ctx, snap); err != nil {
				b.Fatal(err)
			}
		}
	}
	flush(n)
}

// BenchmarkLoadAccount loads an account of 1,000 and of 100,000 events
// with a snapshot every 100 events; with snapshots the cost stays flat.
// raw-snapshot-and-tail is the baseline: reading the snapshot and the
// same 50 records from the store without decoding anything. full-replay
// folds every event, for contrast.
func BenchmarkLoadAccount(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 100_000} {
		s := memory.New()
		seedAccount(b, s, "account", n)
		withSnaps := store.NewRunner(s, accounts, accountCodec(), store.WithSnapshots(s, nil, accountStateCodec()))
		replay := store.NewRunner(s, accounts, accountCodec())
		check := func(b *testing.B, v int64, err error) {
			if err != nil || v != int64(n) {
				b.Fatalf("loaded version %d, %v; want %d", v, err, n)
			}
		}
		b.Run(fmt.Sprintf("events=%d/raw-snapshot-and-tail", n), func(b *testing.B) {
			for b.Loop() {
				snap, _, err := s.LatestSnapshot(ctx, "account")
				v := snap.Version
				for rec, err := range s.ReadStream(ctx, "account", snap.Version+1) {
					if err != nil {
						b.Fatal(err)
					}
					v = rec.Version
				}
				check(b, v, err)
			}
		})
		b.Run(fmt.Sprintf("events=%d/snapshot-every-100", n), func(b *testing.B) {
			for b.Loop() {
				_, v, err := withSnaps.Load(ctx, "account")
				check(b, v, err)
			}
		})
		if n <= 1_000 || !testing.Short() {
			b.Run(fmt.Sprintf("events=%d/full-replay", n), func(b *testing.B) {
				for b.Loop() {
					_, v, err := replay.Load(ctx, "account")
					check(b, v, err)
				}
			})
		}
	}
}

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
			s := memory.New()
			opts := []store.RunnerOption{store.WithCache(16)}
			if snapshots {
				opts = append(opts, store.WithSnapshots(s, snapshot.Every(100), accountStateCodec()))
			}
			r := store.NewRunner(s, accounts, accountCodec(), opts...)
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
