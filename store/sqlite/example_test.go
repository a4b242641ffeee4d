package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "annals-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	s, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		panic(err)
	}
	defer s.Close()

	version, err := s.Append(ctx, "dog-1", store.NoStream, []store.Event{
		{Type: "DogRegistered", Data: []byte(`{"name":"Fido"}`)},
		{Type: "TrickAdded", Data: []byte(`{"trick":"roll over"}`)},
	})
	fmt.Println("version", version, err)

	_, err = s.Append(ctx, "dog-1", store.NoStream, []store.Event{{Type: "DogRegistered"}})
	fmt.Println(err)

	log, _ := s.ReadLog(ctx, store.LogQuery{After: 0, Limit: 10})
	for _, r := range log {
		fmt.Println(r.Position, r.StreamID, r.Version, r.Type, string(r.Data))
	}
	// Output:
	// version 2 <nil>
	// append to stream "dog-1": expected version 0 (no stream), actual version 2: version conflict
	// 1 dog-1 1 DogRegistered {"name":"Fido"}
	// 2 dog-1 2 TrickAdded {"trick":"roll over"}
}

// Applications usually open the store from a URL that they read from the
// environment (store.EnvVar), so that the same program runs on any
// adapter.
func Example_url() {
	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite::memory:") // or os.Getenv(store.EnvVar)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	head, err := s.Head(ctx)
	fmt.Println(head, err)

	_, err = store.Open(ctx, "sqlite:events.db")
	fmt.Println(err)
	_, err = store.Open(ctx, "sqlite://data/events.db") // two slashes: "data" is read as a host
	fmt.Println(err)
	// Output:
	// 0 <nil>
	// open sqlite store: sqlite URL path "events.db" is relative; put an absolute path after three slashes, as in sqlite:///absolute/path/app.db (or use sqlite::memory:): invalid input
	// open sqlite store: sqlite URL names host "data", but a file database has no host, and its path must be absolute: the path follows three slashes, as in sqlite:///path/to/data/events.db for data/events.db in a directory of yours (see filepath.Abs), or sqlite:///data/events.db for a file at the root: invalid input
}

// A read model in the application's own table: the projection's handler
// writes through the transaction that also moves the projection's
// checkpoint, so a crash never loses or doubles an event.
func ExampleStore_SQL() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	s.Append(ctx, "dog-1", store.NoStream, []store.Event{{Type: "DogRegistered"}, {Type: "TrickAdded"}, {Type: "TrickAdded"}})
	s.Append(ctx, "dog-2", store.NoStream, []store.Event{{Type: "DogRegistered"}, {Type: "TrickAdded"}})

	tricks := must(annals.NewRecordProjection(annals.New(s), "trick-counts", func(ctx context.Context, tx *sql.Tx, r store.Record) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO trick_counts (dog, tricks) VALUES (?, 1)
			ON CONFLICT (dog) DO UPDATE SET tricks = tricks + 1`, r.StreamID)
		return err
	}, annals.WithTypes("TrickAdded")))
	// Rebuild empties the read model (here it also creates the table) and
	// replays the log; later, tricks.Run(ctx) follows it.
	err = tricks.Rebuild(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS trick_counts (dog TEXT PRIMARY KEY, tricks INTEGER NOT NULL);
			DELETE FROM trick_counts`)
		return err
	}, nil)
	if err != nil {
		panic(err)
	}

	rows, err := s.ReadDB().QueryContext(ctx, `SELECT dog, tricks FROM trick_counts ORDER BY dog`)
	if err != nil {
		panic(err)
	}
	defer rows.Close()
	for rows.Next() {
		var dog string
		var n int
		rows.Scan(&dog, &n)
		fmt.Println(dog, n)
	}
	// Output:
	// dog-1 2
	// dog-2 1
}

// A lease lets one process of several do a job, such as running a
// projection: the others wait in Lock until it is released, or until it
// expires because its holder died.
func ExampleStore_Lock() {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		panic(err)
	}
	defer s.Close()

	lease, err := s.Lock(ctx, "nightly-report")
	fmt.Println("first:", err)

	wait, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = s.Lock(wait, "nightly-report")
	fmt.Println("second, while held:", errors.Is(err, context.DeadlineExceeded))

	select {
	case <-lease.Lost():
		fmt.Println("lost: stop working")
	default:
		fmt.Println("still held")
	}
	lease.Release()
	second, err := s.Lock(ctx, "nightly-report")
	fmt.Println("second, after release:", err)
	second.Release()
	// Output:
	// first: <nil>
	// second, while held: true
	// still held
	// second, after release: <nil>
}
