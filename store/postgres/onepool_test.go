package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/view"
	"github.com/jackc/pgx/v5"
)

type signUp struct{ Customer, Name string }

type signedUp struct {
	Customer string `json:"customer"`
	Name     string `json:"name" annals:"personal"`
}

func (e signedUp) DataSubject() string { return e.Customer }

var signUps = decider.Decider[signUp, signedUp, int]{
	Decide: func(c signUp, n int) ([]signedUp, error) {
		return []signedUp{{Customer: c.Customer, Name: c.Name}}, nil
	},
	Evolve: func(n int, _ signedUp) int { return n + 1 },
}

// With one connection in the pool, as a serverless function may have, a
// command loads a stream whose events hold personal data (each decoded
// with its data subject's key, which is read from the store) and a retry
// with its idempotency key loads it again, while a Sync system's view and
// SQL read model decode the same events: no read waits for a connection
// that another read of the same call holds.
func TestOneConnectionIsEnough(t *testing.T) {
	t.Parallel()
	// A read that waited for the one connection would wait for good: the
	// deadline tells that from a slow run, with room for a loaded machine
	// (601 Sync commands, each settling two consumers, take a few seconds
	// alone).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := pgtest.New(t)
	adapter, err := postgres.Open(ctx, db.URL+"&pool_max_conns=1", postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	s := annals.New(adapter)
	defer s.Close()
	secret := make([]byte, codec.KeySize)
	rand.Read(secret)
	key, err := codec.ParseKey("k1:" + base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		t.Fatal(err)
	}
	master, err := codec.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	events := codec.NewMapper(codec.NewJSON[signedUp]().Register("SignedUp", signedUp{}), codec.WithSubjectKeys(s, master))
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		t.Fatal(err)
	}
	names := annals.NewViewProjection(s, "names", view.View[[]string, signedUp]{
		Evolve: func(names []string, e signedUp) []string { return append(slices.Clip(names), e.Name) },
	}, events, func(r store.Record, _ signedUp) (string, bool) { return r.StreamID, true })
	perCustomer, err := annals.NewProjection(s, "per-customer", events, func(ctx context.Context, tx pgx.Tx, ev annals.Envelope[signedUp]) error {
		_, err := tx.Exec(ctx, `INSERT INTO per_customer VALUES ($1, 1) ON CONFLICT (customer) DO UPDATE SET n = per_customer.n + 1`, ev.Event.Customer)
		return err
	}, annals.WithSchema(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE per_customer (customer text PRIMARY KEY, n int NOT NULL)`)
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Add(names, perCustomer); err != nil {
		t.Fatal(err)
	}
	cached := annals.NewRunner(s, signUps, events, annals.WithCache(1))
	for i := range 600 { // more than one query's worth of a stream
		if _, err := cached.Handle(ctx, "sign-ups", signUp{Customer: "c-1", Name: "Ada"}); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	r := annals.NewRunner(s, signUps, events)
	if n, v, err := r.Load(ctx, "sign-ups"); err != nil || n != 600 || v != 600 {
		t.Fatalf("load = %d at %d, %v; want 600", n, v, err)
	}
	res, err := r.Handle(ctx, "sign-ups", signUp{Customer: "c-2", Name: "Bob"}, annals.WithIdempotencyKey("last"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Handle(ctx, "sign-ups", signUp{Customer: "c-2", Name: "Bob"}, annals.WithIdempotencyKey("last"))
	if err != nil || !again.Duplicate || again.Version != res.Version || again.State != 601 {
		t.Fatalf("retry = %+v, %v; want a duplicate at version %d", again, err, res.Version)
	}
	got, err := names.Get(ctx, "sign-ups")
	if err != nil || len(got) != 601 || got[0] != "Ada" || got[600] != "Bob" {
		t.Fatalf("the view holds %d names (%v); want the 601 decoded", len(got), err)
	}
}
