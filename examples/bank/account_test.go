package bank_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/examples/bank"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

func TestRules(t *testing.T) {
	d := bank.Decider
	opened := bank.Opened{Owner: "ada"}
	proptest.For(t, d).When(bank.Open{Owner: "ada"}).Then(opened)
	proptest.For(t, d).When(bank.Open{}).ThenError(bank.ErrNoOwner)
	proptest.For(t, d).Given(opened).When(bank.Open{Owner: "bob"}).ThenError(bank.ErrAlreadyOpen)
	proptest.For(t, d).When(bank.Deposit{Amount: 10}).ThenError(bank.ErrNotOpen)
	proptest.For(t, d).Given(opened).When(bank.Deposit{Amount: 10}).Then(bank.Deposited{Amount: 10})
	proptest.For(t, d).Given(opened).When(bank.Deposit{Amount: 0}).ThenError(bank.ErrInvalidAmount)
	proptest.For(t, d).Given(opened, bank.Deposited{Amount: math.MaxInt64}).When(bank.Deposit{Amount: 1}).ThenError(bank.ErrInvalidAmount)
	proptest.For(t, d).Given(opened, bank.Deposited{Amount: 10}).When(bank.Withdraw{Amount: 10}).Then(bank.Withdrawn{Amount: 10})
	proptest.For(t, d).Given(opened, bank.Deposited{Amount: 10}).When(bank.Withdraw{Amount: 11}).ThenError(bank.ErrInsufficientFunds)
	proptest.For(t, d).Given(opened).When(bank.Withdraw{Amount: -5}).ThenError(bank.ErrInvalidAmount)
	proptest.For(t, d).Given(opened, bank.Deposited{Amount: 10}).When(bank.Close{}).ThenError(bank.ErrBalanceNotZero)
	proptest.For(t, d).Given(opened).When(bank.Close{}).Then(bank.Closed{})
	proptest.For(t, d).Given(opened, bank.Closed{}).When(bank.Deposit{Amount: 1}).ThenError(bank.ErrClosed)
	proptest.For(t, d).Given(opened, bank.Closed{}).When(bank.Open{Owner: "ada"}).ThenError(bank.ErrClosed)
	proptest.For(t, d).Given(opened, bank.Deposited{Amount: 7}, bank.Withdrawn{Amount: 3}).
		ThenState(bank.Account{Owner: "ada", Balance: 4, Open: true})
}

// command draws any account command, valid or not.
var command = rapid.Custom(func(t *rapid.T) bank.Command {
	amount := rapid.Int64Range(-5, 100).Draw(t, "amount")
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0:
		return bank.Open{Owner: rapid.SampledFrom([]string{"", "ada", "bob"}).Draw(t, "owner")}
	case 1, 2, 3, 4:
		return bank.Deposit{Amount: amount}
	case 5, 6, 7, 8:
		return bank.Withdraw{Amount: amount}
	default:
		return bank.Close{}
	}
})

func TestReplayEqualsLive(t *testing.T) {
	proptest.ReplayEqualsLive(t, bank.Decider, command)
}

// The balance is what was accepted in minus what was accepted out, and
// never below zero, whatever the commands.
func TestBalanceIsAcceptedDepositsMinusWithdrawals(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		commands := rapid.SliceOfN(command, 0, 80).Draw(t, "commands")
		a := bank.Decider.InitialState()
		var in, out int64
		for _, c := range commands {
			events, next, err := bank.Decider.Step(a, c)
			if err != nil {
				continue
			}
			for _, e := range events {
				switch e := e.(type) {
				case bank.Deposited:
					in += e.Amount
				case bank.Withdrawn:
					out += e.Amount
				}
			}
			a = next
			if a.Balance < 0 {
				t.Fatalf("balance %d after %+v", a.Balance, c)
			}
		}
		if a.Balance != in-out {
			t.Fatalf("balance %d, want %d in - %d out", a.Balance, in, out)
		}
	})
}

// 32 goroutines depositing 1,000 times each on one account end with the
// exact balance: every conflict is absorbed by a retry that decides
// afresh, and no deposit is lost or applied twice.
func TestConcurrentDepositsEndExact(t *testing.T) {
	const goroutines, deposits = 32, 1000
	ctx := context.Background()
	s := annals.New(memory.New())
	b := bank.New(s, annals.WithCache(8), annals.WithRetries(1000), annals.WithBackoff(func(attempt int) time.Duration {
		return annals.JitterBackoff(min(attempt, 3))
	}))
	if _, err := b.Execute(ctx, "acc", bank.Open{Owner: "ada"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range deposits {
				if _, err := b.Execute(ctx, "acc", bank.Deposit{Amount: int64(g + 1)}); err != nil {
					t.Errorf("deposit %d of goroutine %d: %v", i, g, err)
					return
				}
			}
		})
	}
	wg.Wait()
	a, err := b.Account(ctx, "acc")
	if err != nil {
		t.Fatal(err)
	}
	// Goroutine g deposits g+1 cents each time: 1,000 × (1+2+…+32).
	if want := int64(deposits * goroutines * (goroutines + 1) / 2); a.Balance != want {
		t.Fatalf("balance %d, want %d", a.Balance, want)
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(goroutines*deposits + 1); head != want {
		t.Fatalf("%d events stored, want %d", head, want)
	}
}

func TestRejectedCommandStoresNothing(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	b := bank.New(s)
	if _, err := b.Execute(ctx, "acc", bank.Open{Owner: "ada"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Execute(ctx, "acc", bank.Withdraw{Amount: 1}); !errors.Is(err, bank.ErrInsufficientFunds) {
		t.Fatalf("overdraft: got %v, want ErrInsufficientFunds", err)
	}
	if head, _ := s.Head(ctx); head != 1 {
		t.Fatalf("%d events stored after a rejected withdrawal, want 1", head)
	}
	if _, err := b.Account(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing account: got %v, want store.ErrNotFound", err)
	}
}
