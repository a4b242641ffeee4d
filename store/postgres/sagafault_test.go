package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
)

type (
	placeOrder  struct{}
	orderPlaced struct{ N int }
	grant       struct{}
	grantGiven  struct{ N int }
)

// count is a decider that numbers its events: Placed or SlowInsert (a
// grant, which the test's trigger may make sleep).
func count[C, E any](mk func(n int) E, n func(E) int) decider.Decider[C, E, int] {
	return decider.Decider[C, E, int]{
		Decide: func(_ C, s int) ([]E, error) { return []E{mk(s + 1)}, nil },
		Evolve: func(_ int, e E) int { return n(e) },
	}
}

// A process whose command's append loses its connection (the server
// ends the session while the insert runs) is not stopped at the event,
// though nothing else is appended afterwards to wake it: the system
// retries it, and the command is stored once.
func TestASagaWhoseCommandLostItsConnectionIsNotStopped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := openFaulty(t)
	events := pgx.Identifier{f.db.Schema, "annals_events"}.Sanitize()
	slept := pgx.Identifier{f.db.Schema, "slept"}.Sanitize()
	f.exec(t, `CREATE SEQUENCE `+slept)
	// Only the first grant's insert sleeps: a sequence is not rolled back
	// with the killed transaction.
	f.exec(t, `CREATE FUNCTION `+pgx.Identifier{f.db.Schema, "slow_grant"}.Sanitize()+`() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.type = 'SlowInsert' AND nextval('`+slept+`') = 1 THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$`)
	f.exec(t, `CREATE TRIGGER slow_grant BEFORE INSERT ON `+events+` FOR EACH ROW EXECUTE FUNCTION `+pgx.Identifier{f.db.Schema, "slow_grant"}.Sanitize()+`()`)

	s := annals.New(f.Store)
	orders := annals.NewRunner(s, count[placeOrder](func(n int) orderPlaced { return orderPlaced{n} }, func(e orderPlaced) int { return e.N }),
		codec.NewJSON[orderPlaced]().Register("Placed", orderPlaced{}))
	grants := annals.NewRunner(s, count[grant](func(n int) grantGiven { return grantGiven{n} }, func(e grantGiven) int { return e.N }),
		codec.NewJSON[grantGiven]().Register("SlowInsert", grantGiven{}))
	sys := must(annals.NewSystem(s, annals.Async))
	var mu sync.Mutex
	var failures []error
	sys.OnError(func(_ string, err error) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, err)
	})
	process := annals.NewProcess(s, "granter", saga.Process[int, orderPlaced, grant]{
		Evolve: func(_ int, e orderPlaced) int { return e.N },
		React:  func(int, orderPlaced) []grant { return []grant{{}} },
	}, codec.NewJSON[orderPlaced]().Register("Placed", orderPlaced{}), func(r store.Record, _ orderPlaced) (string, bool) { return r.StreamID, true },
		func(ctx context.Context, c grant, cause annals.Cause) error {
			_, err := grants.Handle(ctx, "grants-"+cause.Instance, c, cause.Options()...)
			return err
		})
	if err := sys.Add(process); err != nil {
		t.Fatal(err)
	}
	const orderStreams = 3
	for i := range orderStreams {
		if _, err := orders.Handle(ctx, fmt.Sprint("order-", i), placeOrder{}); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- sys.Run(runCtx) }()
	if !f.terminateWhenSleeping(t) {
		t.Fatal("the grant's insert never slept")
	}
	if err := sys.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	<-ran

	mu.Lock()
	defer mu.Unlock()
	if len(failures) == 0 {
		t.Fatal("no failure reported: the killed append was not met")
	}
	for _, err := range failures {
		if ce := (*annals.ConsumerError)(nil); errors.As(err, &ce) {
			t.Fatalf("failure %v: want the store's, retried, not a consumer stopped at an event", err)
		}
	}
	for i := range orderStreams {
		if n, v, err := grants.Load(ctx, fmt.Sprint("grants-order-", i)); err != nil || n != 1 || v != 1 {
			t.Fatalf("stream grants-order-%d at version %d (state %d), %v; want the process's command stored once", i, v, n, err)
		}
	}
}
