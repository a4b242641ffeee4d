package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// Open a store in its own schema, append to a stream, and read the global
// log. The example needs a PostgreSQL server, so it is compiled but not
// run by go test; TestExampleFlow runs the same steps against the test
// server.
func ExampleOpen() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithSchema("dogschool"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	version, err := s.Append(ctx, "dog-fido", store.NoStream, []store.Event{
		{Type: "DogRegistered", Data: []byte(`{"name":"Fido"}`)},
		{Type: "TrickAdded", Data: []byte(`{"trick":"roll over"}`)},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stream version", version)

	page, err := s.ReadLog(ctx, store.LogQuery{After: 0, Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range page {
		fmt.Printf("%d %s %d %s\n", r.Position, r.StreamID, r.Version, r.Type)
	}
}

// Opening through store.Open, as an application that reads its store URL
// from ANNALS_STORE does; importing the package registers its schemes.
func Example_storeOpen() {
	ctx := context.Background()
	// For example postgres://app@db/app?schema=events&prefix=shop_
	s, err := store.Open(ctx, os.Getenv(store.EnvVar))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	head, err := s.Head(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("events in the log:", head)
}

// A read model in the application's own table: the projection's handler
// writes through the transaction that also moves its checkpoint, so the
// table and the checkpoint never disagree, whatever crashes. Compiled but
// not run by go test; TestExampleSQLFlow runs the same steps.
func ExampleStore_SQL() {
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithSchema("shop"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Pool().Exec(ctx, `CREATE TABLE IF NOT EXISTS shop.order_events (
		order_id text NOT NULL, events int NOT NULL, PRIMARY KEY (order_id))`); err != nil {
		log.Fatal(err)
	}
	if _, err := s.Append(ctx, "order-42", store.NoStream, []store.Event{{Type: "OrderPlaced"}, {Type: "OrderPaid"}}); err != nil {
		log.Fatal(err)
	}

	counts := must(annals.NewRecordProjection(annals.New(s), "order-events", func(ctx context.Context, tx pgx.Tx, r store.Record) error {
		_, err := tx.Exec(ctx, `INSERT INTO shop.order_events (order_id, events) VALUES ($1, 1)
			ON CONFLICT (order_id) DO UPDATE SET events = order_events.events + 1`, r.StreamID)
		return err
	}))
	if _, err := counts.CatchUp(ctx); err != nil { // or Run(ctx) to follow the log
		log.Fatal(err)
	}
	var events int
	if err := s.Pool().QueryRow(ctx, `SELECT events FROM shop.order_events WHERE order_id = 'order-42'`).Scan(&events); err != nil {
		log.Fatal(err)
	}
	fmt.Println("order-42 has", events, "events")
}
