package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/ops"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/sqlite"
	"github.com/annals-dev/annals/view"
)

// A bank: deposits to accounts, a bonus process that counts each
// account's deposits and grants a bonus at every third, and a balances
// view. The process and the view keep their states in the store.
type (
	deposit   struct{ Amount int }
	deposited struct{ Amount int }
	grant     struct{ Nth int }
	granted   struct{ Nth int }
)

func deposits() *codec.JSON[deposited] {
	return codec.NewJSON[deposited]().Register("Deposited", deposited{})
}

// tb is what the bank's helpers need of a test: a *testing.T or a
// *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// sent is a command the bonus process dispatched, and its answer.
type sent struct {
	Account   string
	Nth       int
	Duplicate bool
}

type bank struct {
	sys      *annals.System
	accounts *annals.Runner[deposit, deposited, int]
	bonus    *annals.SagaRunner[int, deposited, grant]
	balances *annals.ViewProjection[int, deposited]
	mu       sync.Mutex
	sent     []sent
}

// newBank wires the bank on s, as each process of the application does.
func newBank(t tb, s *annals.Store) *bank {
	t.Helper()
	sys, err := annals.NewSystem(s, annals.Async)
	if err != nil {
		t.Fatal(err)
	}
	b := &bank{sys: sys}
	b.accounts = annals.NewRunner(s, decider.Decider[deposit, deposited, int]{
		Decide: func(c deposit, _ int) ([]deposited, error) { return []deposited{{c.Amount}}, nil },
		Evolve: func(n int, e deposited) int { return n + e.Amount },
	}, deposits())
	bonuses := annals.NewRunner(s, decider.Decider[grant, granted, int]{
		Decide: func(c grant, _ int) ([]granted, error) { return []granted{{c.Nth}}, nil },
		Evolve: func(n int, _ granted) int { return n + 1 },
	}, codec.NewJSON[granted]().Register("Granted", granted{}))
	byAccount := func(r store.Record, _ deposited) (string, bool) { return r.StreamID, true }
	b.bonus = annals.NewProcess(s, "bonus", saga.Process[int, deposited, grant]{
		React: func(n int, _ deposited) []grant {
			if (n+1)%3 == 0 {
				return []grant{{Nth: (n + 1) / 3}}
			}
			return nil
		},
		Evolve: func(n int, _ deposited) int { return n + 1 },
	}, deposits(), byAccount, func(ctx context.Context, c grant, cause annals.Cause) error {
		res, err := bonuses.Handle(ctx, "bonus-"+cause.Instance, c, cause.Options()...)
		if err == nil {
			b.mu.Lock()
			b.sent = append(b.sent, sent{cause.Instance, c.Nth, res.Duplicate})
			b.mu.Unlock()
		}
		return err
	}, annals.WithConsumerOptions[grant](annals.WithBatchSize(4)))
	b.balances = annals.NewViewProjection(s, "balances", view.View[int, deposited]{
		Evolve: func(n int, e deposited) int { return n + e.Amount },
	}, deposits(), byAccount, annals.WithBatchSize(3))
	if err := sys.Add(b.bonus, b.balances); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bank) deposit(t tb, account string, amount int) {
	t.Helper()
	if _, err := b.accounts.Handle(context.Background(), account, deposit{amount}); err != nil {
		t.Fatal(err)
	}
}

func (b *bank) catchUp(t tb) {
	t.Helper()
	for _, c := range []annals.Consumer{b.bonus, b.balances} {
		if _, err := c.(interface {
			CatchUp(context.Context) (int, error)
		}).CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// replay catches name up after a reset, as ops replay does: a consumer
// that last committed at the head does not look at its checkpoint again
// until the log moves on.
func (b *bank) replay(t tb, name string) {
	t.Helper()
	if _, err := b.sys.Retry(context.Background(), name); err != nil {
		t.Fatal(err)
	}
}

// takeSent returns the commands dispatched since the last call.
func (b *bank) takeSent() []sent {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.sent
	b.sent = nil
	return out
}

// reset runs ops reset -yes -json NAME 0 on the bank's system and
// returns its result.
func (b *bank) reset(t tb, name string) ops.Reset {
	t.Helper()
	var out, errs bytes.Buffer
	cmds := ops.Commands{System: b.sys, Stdout: &out, Stderr: &errs}
	if code := cmds.Run(context.Background(), []string{"reset", "-yes", "-json", name, "0"}); code != ops.ExitOK {
		t.Fatalf("reset %s = %d, %s", name, code, errs.String())
	}
	var r ops.Reset
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("reset %s: %v\n%s", name, err, out.String())
	}
	return r
}

// folded is what the log says of each account: its balance and how many
// deposits it had, read from the log itself.
func folded(t tb, s *annals.Store) (balances, counts map[string]int) {
	t.Helper()
	ctx := context.Background()
	recs, err := s.ReadLog(ctx, store.LogQuery{Types: []string{"Deposited"}, Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	balances, counts = map[string]int{}, map[string]int{}
	for _, r := range recs {
		e, err := deposits().FromRecord(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		balances[r.StreamID] += e.Amount
		counts[r.StreamID]++
	}
	return balances, counts
}

// checkFold checks the bank's read side against the log: each account's
// balance in the view, its count of deposits in the process, and the
// bonuses granted, one at every third deposit.
func (b *bank) checkFold(t tb) {
	t.Helper()
	ctx := context.Background()
	s := b.sys.Store()
	balances, counts := folded(t, s)
	for account, want := range balances {
		if got, err := b.balances.Get(ctx, account); err != nil || got != want {
			t.Errorf("balance of %s = %d, %v; the log's fold is %d", account, got, err, want)
		}
		if got, err := b.bonus.State(ctx, account); err != nil || got != counts[account] {
			t.Errorf("process state of %s = %d, %v; it saw %d deposits", account, got, err, counts[account])
		}
		var nths []int
		for r, err := range s.ReadStream(ctx, "bonus-"+account, 0) {
			if err != nil {
				t.Fatal(err)
			}
			var g granted
			if err := json.Unmarshal(r.Data, &g); err != nil {
				t.Fatal(err)
			}
			nths = append(nths, g.Nth)
		}
		if want := lo.RangeFrom(1, counts[account]/3); !slices.Equal(nths, want) {
			t.Errorf("bonuses of %s after %d deposits = %v, want %v", account, counts[account], nths, want)
		}
	}
}

// A process reset to 0 handles the log again from empty states, as its
// first run did: it sends the same commands in the same order, each
// answered "done before", and ends in the same states; a view reset to 0
// folds each event once. Whatever the deposits before and after the
// reset.
func TestResetToZeroReplaysFromEmptyStates(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		b := newBank(rt, annals.New(memory.New()))
		account := rapid.SampledFrom([]string{"a", "b", "c"})
		amount := rapid.IntRange(1, 9)
		before := rapid.IntRange(0, 14).Draw(rt, "before")
		for range before {
			b.deposit(rt, account.Draw(rt, "account"), amount.Draw(rt, "amount"))
		}
		b.catchUp(rt)
		first := b.takeSent()

		for _, name := range []string{"bonus", "balances"} {
			if r := b.reset(rt, name); r.To != 0 || r.StatesEmptied != (r.From > 0) {
				rt.Fatalf("reset %s = %+v; want the states emptied when it moved back", name, r)
			}
			b.replay(rt, name)
		}
		if again := b.takeSent(); !slices.Equal(again, lo.Map(first, func(s sent, _ int) sent { s.Duplicate = true; return s })) {
			rt.Fatalf("commands sent again after the reset:\n%+v\nthe first run sent\n%+v\nwant them again, each a duplicate", again, first)
		}
		b.checkFold(rt)

		// Deposits after the replay are handled as before it.
		for range rapid.IntRange(0, 6).Draw(rt, "after") {
			b.deposit(rt, account.Draw(rt, "account"), amount.Draw(rt, "amount"))
		}
		b.catchUp(rt)
		if dup := lo.Filter(b.takeSent(), func(s sent, _ int) bool { return s.Duplicate }); len(dup) > 0 {
			rt.Fatalf("commands of new deposits answered as duplicates: %+v", dup)
		}
		b.checkFold(rt)
	})
}

// A reset that only moves a checkpoint keeps the states: a forward one
// (skipping events), and any of a stateless saga or of a projection
// whose handler writes the read model itself, which is the handler's to
// empty (ops rebuild with ops.RebuildWith), even when it writes states.
func TestResetKeepsStatesItDoesNotReplayFrom(t *testing.T) {
	ctx := context.Background()
	b := newBank(t, annals.New(memory.New()))
	notes, err := annals.NewRecordProjection(b.sys.Store(), "notes", func(ctx context.Context, tx store.StateTx, r store.Record) error {
		return tx.SaveState(ctx, "notes", r.StreamID, []byte(`"noted"`))
	})
	if err != nil {
		t.Fatal(err)
	}
	echo := annals.NewSaga(b.sys.Store(), "echo", saga.Saga[deposited, grant]{React: func(deposited) []grant { return nil }}, deposits(),
		func(context.Context, grant, annals.Cause) error { return nil })
	if err := b.sys.Add(notes, echo); err != nil {
		t.Fatal(err)
	}
	b.deposit(t, "a", 1)
	b.deposit(t, "a", 2)
	for _, c := range []interface {
		CatchUp(context.Context) (int, error)
	}{b.balances, notes, echo} {
		if _, err := c.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"echo", "notes"} {
		if r := b.reset(t, name); r != (ops.Reset{Name: name, From: 2, To: 0}) {
			t.Errorf("reset %s to 0 = %+v; want it moved, nothing emptied", name, r)
		}
	}
	if _, ok, err := b.sys.Store().LoadState(ctx, "notes", "a"); err != nil || !ok {
		t.Errorf("state of the notes projection after its reset: %v, %v; want it kept", ok, err)
	}

	// The view reset forward, past an event it then never sees.
	b.deposit(t, "a", 4)
	b.deposit(t, "a", 8)
	var out, errs bytes.Buffer
	cmds := ops.Commands{System: b.sys, Stdout: &out, Stderr: &errs}
	if code := cmds.Run(ctx, []string{"reset", "-yes", "balances", "3"}); code != ops.ExitOK || out.String() != "moved balances from 2 to 3: it skips 1 event after 2\n" {
		t.Fatalf("reset balances forward = %d, %q, %q", code, out.String(), errs.String())
	}
	if got, err := b.balances.Get(ctx, "a"); err != nil || got != 3 {
		t.Fatalf("balance of a after a forward reset = %d, %v; want its state kept, 3", got, err)
	}
	b.catchUp(t)
	if got, err := b.balances.Get(ctx, "a"); err != nil || got != 11 {
		t.Fatalf("balance of a after the forward reset and a catch-up = %d, %v; want 3+8", got, err)
	}

	// Back to 0, the view says what the reset does to its states before
	// it does it, and then does it.
	out.Reset()
	errs.Reset()
	if code := cmds.Run(ctx, []string{"reset", "balances", "0"}); code != ops.ExitFailure ||
		!strings.Contains(errs.String(), "moving balances from 5 to 0 handles all 5 events again, from empty states (its states in the store are deleted); run again with -yes") {
		t.Fatalf("reset balances to 0 without -yes = %d, %q", code, errs.String())
	}
	if code := cmds.Run(ctx, []string{"reset", "-yes", "balances", "0"}); code != ops.ExitOK ||
		out.String() != "moved balances from 5 to 0: it handles all 5 events again, from empty states (its states in the store are deleted)\n" {
		t.Fatalf("reset balances to 0 = %d, %q, %q", code, out.String(), errs.String())
	}
	if _, err := b.balances.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("balance of a after the reset: %v; want none until the replay", err)
	}
	b.replay(t, "balances")
	if got, err := b.balances.Get(ctx, "a"); err != nil || got != 15 {
		t.Fatalf("balance of a after the replay = %d, %v; want 15, each event once", got, err)
	}
}

// An operator's reset, run from another process than the application's
// (two handles on one SQLite file), empties the states the running
// application's process and view keep: the application's next batches
// replay from them, and neither its view's cache nor its process reuses
// a state from before the reset.
func TestResetFromAnotherProcessEmptiesTheRunningApplicationsStates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "bank.db"))
	open := func() *annals.Store {
		s, err := annals.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	app := newBank(t, open())
	running := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { running <- app.sys.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-running; err != nil {
			t.Error(err)
		}
	}()
	for i, account := range []string{"a", "b", "a", "a", "b", "a", "c", "b"} {
		app.deposit(t, account, i+1)
	}
	if err := app.sys.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	first := app.takeSent()
	app.checkFold(t)

	operator := newBank(t, open())
	for _, name := range []string{"bonus", "balances"} {
		if r := operator.reset(t, name); !r.StatesEmptied || r.To != 0 {
			t.Fatalf("reset %s = %+v", name, r)
		}
	}
	// The application runs its consumers again once the log moves.
	app.deposit(t, "c", 100)
	if err := app.sys.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	again := app.takeSent()
	want := lo.Map(first, func(s sent, _ int) sent { s.Duplicate = true; return s })
	if !slices.Equal(again, want) {
		t.Fatalf("commands the application sent after the reset:\n%+v\nwant the first run's, each a duplicate:\n%+v", again, want)
	}
	app.checkFold(t)
	operator.checkFold(t)
}
