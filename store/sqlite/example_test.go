package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

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
	// Output:
	// 0 <nil>
	// open sqlite store: sqlite URL path "events.db" is relative; put an absolute path after three slashes, as in sqlite:///absolute/path/app.db (or use sqlite::memory:): invalid input
}
