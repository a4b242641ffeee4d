package proptest

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/view"
)

// Vouchers are the domain of the checks that run several instances of an
// application on one database. A voucher is issued once and redeemed
// once; redeeming spends and closes it in one command of two events, and
// earns a reward voucher, which a saga issues. Issuing twice is rejected,
// so a command misreported as not stored shows as "already issued" on
// the caller's retry.
type (
	voucherCmd struct {
		Redeem bool `json:"redeem,omitempty"`
		Amount int  `json:"amount"`
	}
	voucherEvent    interface{ isVoucherEvent() }
	voucherIssued   struct{ Amount int }
	voucherRedeemed struct{ Amount int }
	voucherClosed   struct{ Balance int }
	voucher         struct {
		Issued, Redeemed bool
		Amount           int
	}
)

func (voucherIssued) isVoucherEvent()   {}
func (voucherRedeemed) isVoucherEvent() {}
func (voucherClosed) isVoucherEvent()   {}

var (
	errAlreadyIssued   = errors.New("voucher already issued")
	errNotIssued       = errors.New("voucher not issued")
	errAlreadyRedeemed = errors.New("voucher already redeemed")
)

var vouchers = decider.Decider[voucherCmd, voucherEvent, voucher]{
	Decide: func(c voucherCmd, v voucher) ([]voucherEvent, error) {
		switch {
		case !c.Redeem && v.Issued:
			return nil, errAlreadyIssued
		case !c.Redeem:
			return []voucherEvent{voucherIssued{Amount: c.Amount}}, nil
		case !v.Issued:
			return nil, errNotIssued
		case v.Redeemed:
			return nil, errAlreadyRedeemed
		}
		return []voucherEvent{voucherRedeemed{Amount: v.Amount}, voucherClosed{}}, nil
	},
	Evolve: func(v voucher, e voucherEvent) voucher {
		switch e := e.(type) {
		case voucherIssued:
			v.Issued, v.Amount = true, e.Amount
		case voucherRedeemed:
			v.Redeemed = true
		case voucherClosed:
			v.Amount = e.Balance
		}
		return v
	},
}

// eventsOf is how many events a command decides when it is accepted.
func eventsOf(c voucherCmd) int {
	if c.Redeem {
		return 2
	}
	return 1
}

func voucherCodec() *codec.JSON[voucherEvent] {
	return codec.NewJSON[voucherEvent]().
		Register("VoucherIssued", voucherIssued{}).
		Register("VoucherRedeemed", voucherRedeemed{}).
		Register("VoucherClosed", voucherClosed{})
}

// voucherTally counts the events of a stream, or of every stream; a view that
// lost, doubled or skipped an event differs from the replay's.
type voucherTally struct {
	Events, Issued, Redeemed, Closed, Amount int
}

var voucherTallies = view.View[voucherTally, voucherEvent]{
	Evolve: func(t voucherTally, e voucherEvent) voucherTally {
		t.Events++
		switch e := e.(type) {
		case voucherIssued:
			t.Issued++
			t.Amount += e.Amount
		case voucherRedeemed:
			t.Redeemed++
		case voucherClosed:
			t.Closed++
		}
		return t
	},
}

// rewards issues a reward voucher for every redeemed voucher.
var rewards = saga.Saga[voucherEvent, voucherCmd]{React: func(e voucherEvent) []voucherCmd {
	if r, ok := e.(voucherRedeemed); ok {
		return []voucherCmd{{Amount: r.Amount/10 + 1}}
	}
	return nil
}}

// Streams of a run: ns/voucher-N, and ns/reward-N for the reward of
// voucher N.
func voucherStream(ns string, n int) string { return ns + "/voucher-" + strconv.Itoa(n) }

func voucherStreams(ns string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = voucherStream(ns, i)
	}
	return out
}

func rewardOf(stream string) string { return strings.Replace(stream, "/voucher-", "/reward-", 1) }

// app is one instance of the voucher application: a handle on the
// database with its Sync system, the runner, a view by stream, a view
// of the totals and the rewards saga.
type app struct {
	store  *annals.Store
	sys    *annals.System
	runner *annals.Runner[voucherCmd, voucherEvent, voucher]
	byID   *annals.ViewProjection[voucherTally, voucherEvent]
	totals *annals.ViewProjection[voucherTally, voucherEvent]
	saga   *annals.SagaRunner[struct{}, voucherEvent, voucherCmd]
}

// newApp builds an instance on adapter. ns names the run: its consumers
// and streams are its own. Its consumers take batch events at a time (0:
// the default). A saga's command that is rejected stops the saga, so
// that a reward issued twice cannot pass unseen.
func newApp(adapter store.Store, ns string, mode annals.Mode, batch int, opts ...annals.RunnerOption) (*app, error) {
	s := annals.New(adapter)
	sys, err := annals.NewSystem(s, mode)
	if err != nil {
		return nil, err
	}
	sys.OnError(func(string, error) {}) // the checks read every outcome
	a := &app{store: s, sys: sys, runner: annals.NewRunner(s, vouchers, voucherCodec(), opts...)}
	var consumer []annals.ConsumerOption
	if batch > 0 {
		consumer = append(consumer, annals.WithBatchSize(batch))
	}
	a.byID = annals.NewViewProjection(s, ns+"/by-stream", voucherTallies, voucherCodec(), inRun(ns, func(r store.Record) string { return r.StreamID }), consumer...)
	a.totals = annals.NewViewProjection(s, ns+"/totals", voucherTallies, voucherCodec(), inRun(ns, func(store.Record) string { return "total" }), consumer...)
	a.saga = annals.NewSaga(s, ns+"/rewards", rewards, voucherCodec(), a.dispatch,
		annals.WithRejections(func(_ context.Context, _ voucherCmd, _ annals.Cause, err error) error { return err }),
		annals.WithConsumerOptions[voucherCmd](consumer...))
	return a, sys.Add(a.byID, a.totals, a.saga)
}

// inRun keys the events of run ns, and ignores the others.
func inRun(ns string, key func(store.Record) string) func(store.Record, voucherEvent) (string, bool) {
	return func(r store.Record, _ voucherEvent) (string, bool) {
		return key(r), strings.HasPrefix(r.StreamID, ns+"/")
	}
}

func (a *app) dispatch(ctx context.Context, c voucherCmd, cause annals.Cause) error {
	_, err := a.runner.Handle(ctx, rewardOf(cause.Event.StreamID), c, cause.Options()...)
	return err
}
