package annalsnats_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/annals-dev/annals"
	annalsnats "github.com/annals-dev/annals/nats"
	"github.com/annals-dev/annals/store"
)

// A relay publishes an order's events to JetStream, where a subscriber
// reads them back as records.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "annalsnats")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	// A NATS server with JetStream, in this process.
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		panic(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		panic("the NATS server is not ready")
	}

	s, err := annals.Open(ctx, "memory:")
	if err != nil {
		panic(err)
	}
	defer s.Close()
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1)) // reconnect for ever: see the package doc
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		panic(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       "ANNALS",
		Subjects:   []string{"annals.>"},
		Duplicates: time.Hour,
	})
	if err != nil {
		panic(err)
	}
	pub, err := annalsnats.NewPublisher(js)
	if err != nil {
		panic(err)
	}
	relay, err := annals.NewRelay(s, "to-nats", pub)
	if err != nil {
		panic(err)
	}

	_, err = s.Append(ctx, "order-7", store.NoStream, []store.Event{
		{Type: "OrderPlaced", Data: []byte(`{"total":42}`)},
		{Type: "order.shipped", Data: []byte(`{}`)},
	})
	if err != nil {
		panic(err)
	}
	n, err := relay.CatchUp(ctx) // or Run(ctx), or add it to a System
	if err != nil {
		panic(err)
	}
	fmt.Println("published", n)

	sub, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		panic(err)
	}
	batch, err := sub.Fetch(n)
	if err != nil {
		panic(err)
	}
	for msg := range batch.Messages() {
		rec, err := annalsnats.Record(msg)
		if err != nil {
			panic(err)
		}
		fmt.Println(msg.Subject(), rec.StreamID, rec.Version, rec.Type, string(rec.Data))
	}
	// Output:
	// published 2
	// annals.OrderPlaced order-7 1 OrderPlaced {"total":42}
	// annals.order%2Eshipped order-7 2 order.shipped {}
}
