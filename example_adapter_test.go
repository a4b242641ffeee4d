package annals_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// docs:begin register
// logOnly is an adapter that keeps events and checkpoints and nothing
// more: it implements store.Store only. (It borrows the memory store's
// methods; an adapter of another database implements them on it.)
type logOnly struct{ store.Store }

func init() {
	// An adapter registers its URL scheme when its package is imported.
	store.Register("logonly", func(ctx context.Context, u *url.URL) (store.Store, error) {
		return logOnly{memory.New()}, nil // on failure: nil and the error, never a typed nil
	})
}

// docs:end register

// A handle on an adapter that implements only store.Store: commands,
// reads of streams and of the log, and relays work; what needs more fails
// with store.ErrUnsupported, and Unsupported lists it up front.
func ExampleStore_Unsupported() {
	ctx := context.Background()
	// docs:begin partial
	s, err := annals.Open(ctx, "logonly:")
	if err != nil {
		panic(err)
	}
	for _, missing := range s.Unsupported() {
		fmt.Println("-", missing)
	}
	// docs:end partial

	wallets := annals.NewRunner(s, wallet, walletCodec())
	_, err = wallets.Handle(ctx, "ada", Pay{Amount: 10})
	fmt.Println("a command:", err)

	var published []string
	relay, err := annals.NewRelay(s, "outbox", publishFunc(func(_ context.Context, recs []store.Record) error {
		for _, r := range recs {
			published = append(published, r.Type)
		}
		return nil
	}))
	if err != nil {
		panic(err)
	}
	_, err = relay.CatchUp(ctx)
	fmt.Println("a relay:", published, err)

	counts := annals.NewViewProjection(s, "counts", view.Of(wallet), walletCodec(),
		func(r store.Record, _ Paid) (string, bool) { return r.StreamID, true })
	_, err = counts.CatchUp(ctx)
	fmt.Println("a view projection:", errors.Is(err, store.ErrUnsupported))
	// Output:
	// - view states and consumer commits (store.StateStore): projections (but SQL ones on an adapter with SQL()), processes and sagas
	// - snapshots (snapshot.Store)
	// - data subjects' keys (store.KeyStore): codec.WithSubjectKeys
	// - leases (store.Locker): consumers run without one
	// - reads by query and conditional appends (store.DCB): DCB runners
	// a command: <nil>
	// a relay: [Paid] <nil>
	// a view projection: true
}

// publishFunc is a Publisher of a function.
type publishFunc func(context.Context, []store.Record) error

func (f publishFunc) Publish(ctx context.Context, recs []store.Record) error { return f(ctx, recs) }

// docs:begin contract
func TestLogOnlyContract(t *testing.T) {
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s := logOnly{memory.New()} // a fresh, empty store for each subtest
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// docs:end contract
