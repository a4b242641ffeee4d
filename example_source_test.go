package annals_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/httplog"
	"github.com/annals-dev/annals/view"
)

// A warehouse service keeps its own view of the orders that another
// service records, reading that service's log over HTTP: it holds no
// credentials of the orders' database.
func ExampleWithSource() {
	ctx := context.Background()
	orders, err := annals.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	// docs:begin serve-log
	mux := http.NewServeMux()
	mux.Handle("/log-api/", http.StripPrefix("/log-api", httplog.NewHandler(orders)))
	// docs:end serve-log
	srv := httptest.NewServer(mux) // the orders service's server, behind its authentication
	defer srv.Close()
	runner := annals.NewRunner(orders, order, orderCodec())
	for _, c := range []any{PayOrder{}, PackOrder{}} {
		if _, err := runner.Handle(ctx, "order-7", c); err != nil {
			panic(err)
		}
	}

	// docs:begin follow-log
	src, err := httplog.NewClient(srv.URL+"/log-api", httplog.WithHeader("Authorization", "Bearer token"))
	if err != nil {
		panic(err)
	}
	warehouse, err := annals.Open(ctx, "memory:") // the warehouse's own database
	if err != nil {
		panic(err)
	}
	readyToShip := annals.NewViewProjection(warehouse, "orders", view.View[orderState, any]{Evolve: order.Evolve}, orderCodec(),
		func(r store.Record, _ any) (string, bool) { return r.StreamID, true },
		annals.WithSource(src))
	if _, err := readyToShip.CatchUp(ctx); err != nil { // or Run, to follow the log
		panic(err)
	}
	// docs:end follow-log
	st, err := readyToShip.Get(ctx, "order-7")
	fmt.Printf("order-7: %+v, %v\n", st, err)
	at, _ := readyToShip.Position(ctx)
	fmt.Println("the warehouse's checkpoint:", at)
	// Output:
	// order-7: {Paid:true Packed:true Shipped:false}, <nil>
	// the warehouse's checkpoint: 2
}

// printer is a broker that prints what it is given; a real one (NATS
// JetStream, package github.com/annals-dev/annals/nats) returns once the
// broker has acknowledged every record.
type printer struct{}

func (printer) Publish(_ context.Context, recs []store.Record) error {
	for _, r := range recs {
		fmt.Printf("publish %s %s v%d at %d\n", r.Type, r.StreamID, r.Version, r.Position)
	}
	return nil
}

// A relay hands the log's events to a broker, the event's ID as the
// message's ID, and moves its checkpoint once the broker has them.
func ExampleNewRelay() {
	ctx := context.Background()
	s, err := annals.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	runner := annals.NewRunner(s, order, orderCodec())
	for _, c := range []any{PayOrder{}, PackOrder{}} {
		if _, err := runner.Handle(ctx, "order-7", c); err != nil {
			panic(err)
		}
	}
	// docs:begin relay
	relay, err := annals.NewRelay(s, "to-broker", printer{}, annals.WithTypes("OrderPaid"))
	if err != nil {
		panic(err)
	}
	if _, err := relay.CatchUp(ctx); err != nil { // or Run, or add it to the system
		panic(err)
	}
	// docs:end relay
	at, _ := relay.Position(ctx)
	fmt.Println("checkpoint:", at)
	// Output:
	// publish OrderPaid order-7 v1 at 1
	// checkpoint: 2
}
