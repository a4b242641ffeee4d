package annals_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// An order is paid for and packed, in either order, and shipped once both
// have happened.
type (
	PayOrder     struct{}
	PackOrder    struct{}
	ShipOrder    struct{}
	OrderPaid    struct{}
	OrderPacked  struct{}
	OrderShipped struct{}
)

type orderState struct{ Paid, Packed, Shipped bool }

var errNotReady = errors.New("the order is not paid and packed")

var order = decider.Decider[any, any, orderState]{
	Decide: func(c any, s orderState) ([]any, error) {
		switch c.(type) {
		case PayOrder:
			return []any{OrderPaid{}}, nil
		case PackOrder:
			return []any{OrderPacked{}}, nil
		case ShipOrder:
			if !s.Paid || !s.Packed {
				return nil, errNotReady
			}
			if s.Shipped {
				return nil, nil
			}
			return []any{OrderShipped{}}, nil
		}
		return nil, fmt.Errorf("unknown command %T", c)
	},
	Evolve: func(s orderState, e any) orderState {
		switch e.(type) {
		case OrderPaid:
			s.Paid = true
		case OrderPacked:
			s.Packed = true
		case OrderShipped:
			s.Shipped = true
		}
		return s
	},
}

func orderCodec() *codec.JSON[any] {
	return codec.NewJSON[any]().
		Register("OrderPaid", OrderPaid{}).
		Register("OrderPacked", OrderPacked{}).
		Register("OrderShipped", OrderShipped{})
}

// docs:begin ship-when-ready
// shipWhenReady remembers what it has seen of an order and asks for
// shipping on the second of the two events it waits for.
var shipWhenReady = saga.Process[orderState, any, ShipOrder]{
	React: func(s orderState, e any) []ShipOrder {
		switch e.(type) {
		case OrderPaid:
			if s.Packed && !s.Paid {
				return []ShipOrder{{}}
			}
		case OrderPacked:
			if s.Paid && !s.Packed {
				return []ShipOrder{{}}
			}
		}
		return nil
	},
	Evolve:     order.Evolve,
	IsTerminal: func(s orderState) bool { return s.Shipped },
}

// docs:end ship-when-ready

// A process runs over the log, one instance per order, and dispatches
// its commands with the options of their cause: the command takes effect
// once however often the event is replayed, and its events name the event
// that caused them.
func ExampleNewProcess() {
	ctx := context.Background()
	s := annals.New(memory.New())
	orders := annals.NewRunner(s, order, orderCodec())

	// docs:begin process
	shipping := annals.NewProcess(s, "shipping", shipWhenReady, orderCodec(),
		func(r store.Record, _ any) (string, bool) { return r.StreamID, true }, // an instance per order
		func(ctx context.Context, c ShipOrder, cause annals.Cause) error {
			_, err := orders.Handle(ctx, cause.Instance, c, cause.Options()...)
			return err
		})
	// docs:end process

	for _, c := range []any{PackOrder{}, PayOrder{}} {
		if _, err := orders.Handle(ctx, "order-7", c); err != nil {
			panic(err)
		}
	}
	if _, err := shipping.CatchUp(ctx); err != nil { // or Run(ctx), or a System
		panic(err)
	}
	types := map[string]string{} // event ID → type
	for rec, err := range s.ReadStream(ctx, "order-7", 1) {
		if err != nil {
			panic(err)
		}
		types[rec.ID.String()] = rec.Type
		if cause := rec.Metadata.CausationID; cause != "" {
			fmt.Printf("%d %s, caused by %s\n", rec.Version, rec.Type, types[cause])
		} else {
			fmt.Printf("%d %s\n", rec.Version, rec.Type)
		}
	}
	// Output:
	// 1 OrderPacked
	// 2 OrderPaid
	// 3 OrderShipped, caused by OrderPaid
}
