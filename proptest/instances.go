package proptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// InstancesMisreportNothing checks that n instances of an application on
// one database, each on its own store from open with its own [annals.Sync]
// system (a view by stream, a view of totals and a saga), misreport none
// of the commands they handle at once. Each instance issues and redeems
// vouchers that the others issue and redeem too (at least 200 commands
// in all), each with an idempotency key, and retries about half of them
// with the same key, as a client that did not hear the answer would.
//
// Every command told stored has its events stored exactly once; every
// rejection was decided on the state it returned and is genuine, and
// never "already issued" for a voucher the caller's own key issued; a
// retry of a stored command is answered as a duplicate; no command is
// told [annals.ErrStored], since nothing fails; one told nil is shown by
// the views. Afterwards the views equal the replay of the streams and the
// saga issued one reward per redeemed voucher. A conflict that outlasts
// the runner's retries is allowed, and must have stored nothing.
//
// It takes *testing.T, not [T]: open, an [OpenInstances], takes it to
// make a database per test (t.TempDir) and close it (t.Cleanup); and it
// is one long concurrent run, not a case of a property.
func InstancesMisreportNothing(t *testing.T, n int, open OpenInstances) {
	t.Helper()
	perInstance := max(8, 200/n) // at least 200 commands in all, plus retries
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	stores := open(t, n)
	ns := fmt.Sprintf("instances-%d", time.Now().UnixNano())
	start, err := stores[0].Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{ns + "/by-stream", ns + "/totals", ns + "/rewards"} {
		if err := stores[0].SetCheckpoint(ctx, c, start); err != nil {
			t.Fatal(err)
		}
	}
	apps := make([]*app, n)
	for i, s := range stores {
		if apps[i], err = newApp(s, ns, annals.Sync, 0, annals.WithRetries(20)); err != nil {
			t.Fatal(err)
		}
	}
	// About two instances to a voucher: each is issued by one of them and
	// refused to the other, and redeemed likewise.
	voucherCount := max(n*perInstance/4, 2)
	scripts := make([][]*call, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(i), uint64(start)))
			v := 0
			for j := range perInstance {
				if j%2 == 0 { // issue a voucher, then redeem it
					v = rnd.IntN(voucherCount)
				}
				c := &call{
					id: fmt.Sprintf("%s/i%d-c%d", ns, i, j), instance: i, voucher: v, stream: voucherStream(ns, v),
					cmd: voucherCmd{Redeem: j%2 == 1, Amount: 10}, key: fmt.Sprintf("%s/i%d-k%d", ns, i, j), keyUse: freshKey,
				}
				c.res, c.err = apps[i].runner.Handle(ctx, c.stream, c.cmd, c.options()...)
				if c.err == nil {
					c.behind = apps[i].lagging(ctx, c)
				}
				scripts[i] = append(scripts[i], c)
				if rnd.IntN(2) == 0 {
					continue
				}
				retry := *c
				retry.id, retry.keyUse, retry.behind = c.id+"-retry", retryKey, ""
				retry.held = heldKey(ctx, stores[i], c.key, c.stream)
				retry.res, retry.err = apps[i].runner.Handle(ctx, retry.stream, retry.cmd, retry.options()...)
				if retry.err == nil {
					retry.behind = apps[i].lagging(ctx, &retry)
				}
				scripts[i] = append(scripts[i], &retry)
			}
		})
	}
	wg.Wait()
	for i, a := range apps {
		if err := a.sys.Settle(ctx); err != nil {
			t.Fatalf("instance %d: settle: %v", i, err)
		}
	}
	h, err := readHistory(ctx, stores[0], ns, start)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]*call{}
	for _, script := range scripts {
		for _, c := range script {
			calls[c.id] = c
		}
	}
	counts := map[string]int{}
	var problems []string
	for _, script := range scripts {
		for _, c := range script {
			counts[outcomeOf(c)]++
			if p := h.misreport(ctx, c, calls); p != "" {
				problems = append(problems, fmt.Sprintf("%v\n\t%s", c, p))
			}
		}
	}
	t.Logf("%d instances, %d commands: %v", n, len(calls), counts)
	problems = append(problems, h.consistent(ctx, apps[0])...)
	if len(problems) > 0 {
		t.Fatalf("%d commands misreported, or views and saga inconsistent:\n%s", len(problems), strings.Join(problems[:min(len(problems), 20)], "\n"))
	}
}

// outcomeOf names what a call was told, for the log.
func outcomeOf(c *call) string {
	switch {
	case c.err == nil && c.res.Duplicate:
		return "duplicate"
	case c.err == nil:
		return "stored"
	case errors.Is(c.err, annals.ErrRejected):
		return "rejected"
	case errors.Is(c.err, store.ErrConflict):
		return "conflict"
	}
	return "other error"
}

// CatchUpRace checks that n instances of a projection, of a view and of
// a saga, each on its own store from open, catching up at once on the
// same log, all return without error: a batch another instance committed
// first is its progress. Afterwards the views equal the replay of the
// streams, the projection counted every event once, and the saga issued
// one reward per redeemed voucher, however many instances dispatched it.
//
// It takes *testing.T, not [T]: open, an [OpenInstances], takes it to
// make a database per test (t.TempDir) and close it (t.Cleanup); and it
// is one long concurrent run, not a case of a property.
func CatchUpRace(t *testing.T, n int, open OpenInstances) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	stores := open(t, n)
	ns := fmt.Sprintf("catch-up-%d", time.Now().UnixNano())
	start, err := stores[0].Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counter := ns + "/count"
	for _, c := range []string{ns + "/by-stream", ns + "/totals", ns + "/rewards", counter} {
		if err := stores[0].SetCheckpoint(ctx, c, start); err != nil {
			t.Fatal(err)
		}
	}
	// The log: 40 vouchers issued, half of them redeemed.
	writer := annals.NewRunner(annals.New(stores[0]), vouchers, voucherCodec())
	for v := range 40 {
		for _, redeem := range []bool{false, true}[:1+v%2] {
			if _, err := writer.Handle(ctx, voucherStream(ns, v), voucherCmd{Redeem: redeem, Amount: 10}); err != nil {
				t.Fatal(err)
			}
		}
	}
	type instance struct {
		app   *app
		count *annals.Projection[store.StateTx]
	}
	instances := make([]instance, n)
	for i, s := range stores {
		a, err := newApp(s, ns, annals.Async, 3)
		if err != nil {
			t.Fatal(err)
		}
		count, err := annals.NewRecordProjection(a.store, counter, countEvent(ns), annals.WithBatchSize(4))
		if err != nil {
			t.Fatal(err)
		}
		instances[i] = instance{a, count}
	}
	catchUps := func(in instance) map[string]func(context.Context) (int, error) {
		return map[string]func(context.Context) (int, error){
			"view by stream": in.app.byID.CatchUp, "view of totals": in.app.totals.CatchUp,
			"saga": in.app.saga.CatchUp, "projection": in.count.CatchUp,
		}
	}
	go1 := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i, in := range instances {
		for name, catchUp := range catchUps(in) {
			wg.Go(func() {
				<-go1
				if _, err := catchUp(ctx); err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("instance %d: %s: CatchUp: %v", i, name, err))
					mu.Unlock()
				}
			})
		}
	}
	close(go1)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d catch-ups failed:\n%s", len(failures), 4*n, strings.Join(failures, "\n"))
	}
	// The rewards the saga issued came after some consumers had caught
	// up: one more round takes them in.
	for name, catchUp := range catchUps(instances[0]) {
		if _, err := catchUp(ctx); err != nil {
			t.Fatalf("%s: CatchUp after the race: %v", name, err)
		}
	}
	h, err := readHistory(ctx, stores[0], ns, start)
	if err != nil {
		t.Fatal(err)
	}
	if problems := h.consistent(ctx, instances[0].app); len(problems) > 0 {
		t.Fatalf("after %d instances caught up at once:\n%s", n, strings.Join(problems, "\n"))
	}
	head, err := stores[0].Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var counted int64
	if data, ok, err := stores[0].LoadState(ctx, counter, "events"); err != nil || !ok || json.Unmarshal(data, &counted) != nil {
		t.Fatalf("the projection's count: %q, found %v, %v", data, ok, err)
	}
	if counted != head-start {
		t.Fatalf("the projection counted %d events, the log holds %d", counted, head-start)
	}
}

// countEvent counts the events of the log under the key "events" of the
// view named by the consumer: an event lost or handled twice changes the
// count.
func countEvent(ns string) func(ctx context.Context, tx store.StateTx, r store.Record) error {
	view := ns + "/count"
	return func(ctx context.Context, tx store.StateTx, r store.Record) error {
		var n int64
		data, ok, err := tx.LoadState(ctx, view, "events")
		if err != nil {
			return err
		}
		if ok {
			if err := json.Unmarshal(data, &n); err != nil {
				return err
			}
		}
		return tx.SaveState(ctx, view, "events", fmt.Append(nil, n+1))
	}
}
