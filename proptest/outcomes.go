package proptest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// OpenInstances returns n adapters on one fresh database, each opened as
// a separate process of an application would open it (for an in-memory
// store, the same store n times), and closes them with t.Cleanup.
type OpenInstances func(t *testing.T, n int) []InstanceStore

// outcomeVouchers is how many vouchers a run of [OutcomeContract] works
// on: few, so that the instances' commands collide.
const outcomeVouchers = 3

// OutcomeContract checks that every command tells its caller the truth
// about what it stored, whatever fails, with another instance of the
// application racing on the same database. Two handles, on adapters that
// open returns, each run a [annals.Sync] system with a view by stream, a
// view of totals and a saga; each handles a script of commands drawn by
// rapid, in a goroutine of its own, while a fault hits one call of its
// store per command: an Append, a stream or log read, a head or
// checkpoint read, or a consumer's commit fails before it reaches the
// database, runs with a context that ends before or during it, runs late,
// commits and then loses its answer, or is lost. Commands use
// idempotency keys, fresh, retried, and reused for another stream or
// command.
//
// For every command, what its caller was told must be what the store
// holds afterwards:
//
//   - nil or [annals.ErrStored]: the command's events are stored, once,
//     at the versions the result says, and the result's state is their
//     replay; ErrStored only when a fault hit the command (a checkpoint
//     another instance moved is progress); a nil result means the views
//     show the command;
//   - [store.ErrOutcomeUnknown]: only when the fault left the Append's
//     outcome unknown, and all or none of the events are stored;
//   - any other error: none of its events are stored; a rejection was
//     decided on the state and version it returned, and deciding again
//     there rejects; [annals.ErrIdempotencyKey] only for a key first used
//     for another stream or command; and a retry of a key already stored
//     is answered as a duplicate with the current state, never rejected.
//
// When the scripts are done and the faults gone, both systems settle
// without error, the views equal the replay of the streams, and the saga
// issued one reward per redeemed voucher.
//
// The faults that end a write's context while it runs are a subtest of
// their own, WritesCancelledInFlight: the adapter must then tell whether
// the write committed, or say the outcome is unknown. The other faults
// are the subtest Faults. Each subtest calls open once, with its own t
// (an adapter that cannot pass a subtest yet may skip it there, saying
// what it misses); each rapid run works on streams and consumers of its
// own, which start at the head of the log.
//
// It takes *testing.T, not [T]: it runs each behaviour as a subtest
// (t.Run) and hands that subtest's t to open.
func OutcomeContract(t *testing.T, open OpenInstances) {
	t.Helper()
	inFlight := map[step][]faultKind{stepAppend: {cancelDuring}, stepCommit: {cancelDuring}}
	others := map[step][]faultKind{}
	for st, ks := range kinds {
		for _, k := range ks {
			if k != cancelDuring || inFlight[st] == nil {
				others[st] = append(others[st], k)
			}
		}
	}
	t.Run("Faults", func(t *testing.T) { outcomes(t, open(t, 2), others) })
	t.Run("WritesCancelledInFlight", func(t *testing.T) { outcomes(t, open(t, 2), inFlight) })
}

// outcomes runs the scripts on stores with faults drawn from menu.
func outcomes(t *testing.T, stores []InstanceStore, menu map[step][]faultKind) {
	var steps []step
	for st := range kinds { // in a fixed order, for rapid
		if menu[st] != nil {
			steps = append(steps, st)
		}
	}
	slices.Sort(steps)
	var runs atomic.Int64
	rapid.Check(t, func(t *rapid.T) {
		ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
		defer cancel()
		ns := fmt.Sprintf("outcomes-%d-%d", time.Now().UnixNano(), runs.Add(1))
		start, err := stores[0].Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var apps []*app
		var faults []*faulty
		for i, s := range stores {
			f := &faulty{InstanceStore: s}
			opts := []annals.RunnerOption{annals.WithBackoff(func(int) time.Duration { return time.Millisecond })}
			if i == 1 { // one instance keeps states in a cache, which a fault must not corrupt
				opts = append(opts, annals.WithCache(outcomeVouchers))
			}
			a, err := newApp(f, ns, annals.Sync, 0, opts...)
			if err != nil {
				t.Fatal(err)
			}
			apps, faults = append(apps, a), append(faults, f)
		}
		// The consumers of the run start at the head: the log before it
		// is other runs'.
		for _, c := range []string{ns + "/by-stream", ns + "/totals", ns + "/rewards"} {
			if err := stores[0].SetCheckpoint(ctx, c, start); err != nil {
				t.Fatal(err)
			}
		}
		scripts := make([][]*call, len(stores))
		for i := range scripts {
			scripts[i] = drawScript(t, ns, i, steps, menu)
		}

		var wg sync.WaitGroup
		for i, script := range scripts {
			wg.Go(func() {
				for _, c := range script {
					c.held = heldKey(ctx, stores[i], c.key, voucherStreams(ns, outcomeVouchers)...)
					faults[i].arm(c.fault)
					c.res, c.err = apps[i].runner.Handle(ctx, c.stream, c.cmd, c.options()...)
					c.fired = faults[i].disarm()
					if c.err == nil && !c.fired {
						c.behind = apps[i].lagging(ctx, c)
					}
				}
			})
		}
		wg.Wait()

		for i, a := range apps {
			if err := a.sys.Settle(ctx); err != nil {
				t.Fatalf("instance %d: settle once the faults are gone: %v", i, err)
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
		var problems []string
		for _, script := range scripts {
			for _, c := range script {
				if p := h.misreport(ctx, c, calls); p != "" {
					problems = append(problems, fmt.Sprintf("%v\n\t%s", c, p))
				}
			}
		}
		problems = append(problems, h.consistent(ctx, apps[0])...)
		if len(problems) > 0 {
			t.Fatalf("%d misreports or inconsistencies:\n%s", len(problems), strings.Join(problems, "\n"))
		}
	})
}

// drawScript draws the commands of instance i.
func drawScript(t *rapid.T, ns string, i int, steps []step, menu map[step][]faultKind) []*call {
	n := rapid.IntRange(0, 10).Draw(t, fmt.Sprintf("commands of instance %d", i))
	script := make([]*call, 0, n)
	var keyed []*call
	for j := range n {
		label := func(what string) string { return fmt.Sprintf("instance %d command %d %s", i, j, what) }
		c := &call{
			id:       fmt.Sprintf("%s/i%d-c%d", ns, i, j),
			instance: i,
			voucher:  rapid.IntRange(0, outcomeVouchers-1).Draw(t, label("voucher")),
			cmd:      voucherCmd{Redeem: rapid.Bool().Draw(t, label("redeem")), Amount: 10 * rapid.IntRange(1, 2).Draw(t, label("amount"))},
			keyUse:   rapid.SampledFrom([]keyUse{noKey, freshKey, freshKey, retryKey, retryKey, otherStream, otherCommand}).Draw(t, label("key")),
		}
		c.stream = voucherStream(ns, c.voucher)
		if len(keyed) == 0 && c.keyUse != noKey {
			c.keyUse = freshKey
		}
		switch c.keyUse {
		case freshKey:
			c.key = fmt.Sprintf("%s/i%d-k%d", ns, i, j)
		case retryKey, otherStream, otherCommand:
			first := rapid.SampledFrom(keyed).Draw(t, label("earlier key"))
			c.key, c.voucher, c.stream, c.cmd = first.key, first.voucher, first.stream, first.cmd
			switch c.keyUse {
			case otherStream:
				n := (first.voucher + rapid.IntRange(1, outcomeVouchers-1).Draw(t, label("other voucher"))) % outcomeVouchers
				c.voucher, c.stream = n, voucherStream(ns, n)
			case otherCommand:
				c.cmd.Amount += 5
			}
		}
		if c.key != "" {
			keyed = append(keyed, c)
		}
		if rapid.IntRange(0, 4).Draw(t, label("faulty")) > 0 {
			st := rapid.SampledFrom(steps).Draw(t, label("fault step"))
			c.fault = fault{
				Step:  st,
				Kind:  rapid.SampledFrom(menu[st]).Draw(t, label("fault kind")),
				Nth:   rapid.IntRange(1, 3).Draw(t, label("fault call")),
				After: time.Duration(rapid.IntRange(0, 2000).Draw(t, label("cancel after µs"))) * time.Microsecond,
			}
		}
		script = append(script, c)
	}
	return script
}

// heldKey returns the first event of key when the store holds it in one
// of streams.
func heldKey(ctx context.Context, s store.Store, key string, streams ...string) *store.Record {
	if key == "" {
		return nil
	}
	id := annals.EventID(key, 0)
	for _, stream := range streams {
		for r, err := range s.ReadStream(ctx, stream, 1) {
			if err != nil {
				return nil
			}
			if r.ID == id {
				return &r
			}
		}
	}
	return nil
}

// lagging says how the views or the saga lag a command that a Sync
// system told succeeded, or "" when they show the command: the view of
// its stream counts its events, and the reward of a redeemed voucher is
// issued. This holds for a duplicate too, whose first attempt may have
// been stored without its answer.
func (a *app) lagging(ctx context.Context, c *call) string {
	v, err := a.byID.Get(ctx, c.stream)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Sprintf("reading the view after the command: %v", err)
	}
	if int64(v.Events) < c.res.Version {
		return fmt.Sprintf("told it succeeded at version %d, but the view shows %d events of the stream", c.res.Version, v.Events)
	}
	if !c.cmd.Redeem {
		return ""
	}
	reward, _, err := a.runner.Load(ctx, rewardOf(c.stream))
	if err != nil {
		return fmt.Sprintf("reading the reward after the command: %v", err)
	}
	if !reward.Issued {
		return "told the voucher was redeemed, but the saga has not issued its reward"
	}
	return ""
}
