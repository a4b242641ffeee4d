package saga_test

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/saga"
)

// Shipping waits for both the payment and the stock, in either order.
type (
	paid     struct{}
	reserved struct{}
	shipped  struct{}
	ship     struct{}
)

type shipping struct{ Paid, Reserved, Shipped bool }

var fulfilment = saga.Process[shipping, any, ship]{
	Evolve: func(s shipping, e any) shipping {
		switch e.(type) {
		case paid:
			s.Paid = true
		case reserved:
			s.Reserved = true
		case shipped:
			s.Shipped = true
		}
		return s
	},
	React: func(s shipping, e any) []ship {
		if s.Shipped {
			return nil
		}
		switch e.(type) {
		case paid:
			if s.Reserved && !s.Paid {
				return []ship{{}}
			}
		case reserved:
			if s.Paid && !s.Reserved {
				return []ship{{}}
			}
		}
		return nil
	},
	IsTerminal: func(s shipping) bool { return s.Shipped },
}

// Whatever the order and repetition of payment and reservation events, the
// process asks to ship exactly once when it has seen both, and never
// before.
func TestProcessShipsOnceWhenBothArrived(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		events := rapid.SliceOfN(rapid.SampledFrom([]any{paid{}, reserved{}}), 0, 10).Draw(t, "events")
		commands, s := fulfilment.Run(events)
		var sawPaid, sawReserved bool
		for _, e := range events {
			switch e.(type) {
			case paid:
				sawPaid = true
			case reserved:
				sawReserved = true
			}
		}
		want := 0
		if sawPaid && sawReserved {
			want = 1
		}
		if len(commands) != want {
			t.Fatalf("events %s: %d ship commands, want %d", fmt.Sprint(events...), len(commands), want)
		}
		if s.Paid != sawPaid || s.Reserved != sawReserved {
			t.Fatalf("state %+v after %v", s, events)
		}
	})
}

func TestProcessStepReactsBeforeEvolving(t *testing.T) {
	cs, s := fulfilment.Step(shipping{Paid: true}, reserved{})
	if len(cs) != 1 || !s.Reserved {
		t.Fatalf("step = %v, %+v; want one ship and a reserved state", cs, s)
	}
	if !fulfilment.Terminal(shipping{Shipped: true}) || fulfilment.Terminal(s) {
		t.Fatal("only a shipped process is terminal")
	}
	if (saga.Process[int, int, int]{}).Terminal(0) {
		t.Fatal("a process without IsTerminal is never terminal")
	}
}
