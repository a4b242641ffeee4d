package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"

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
