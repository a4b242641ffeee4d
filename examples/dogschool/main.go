// Command dogschool is the dog school of the seed library's README: it
// registers a dog, teaches it tricks, gets the dog back and reads the first
// ten notifications of the global log.
//
// The store comes from the ANNALS_STORE environment variable (memory: when
// unset), so the same program runs on every adapter:
//
//	go run ./examples/dogschool
//	ANNALS_STORE=sqlite:///tmp/dogs.db go run ./examples/dogschool
//	ANNALS_STORE='postgres://localhost/dogs?schema=dogschool' go run ./examples/dogschool
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

func main() {
	url := os.Getenv(annals.EnvVar)
	if url == "" {
		url = "memory:"
	}
	if err := run(context.Background(), os.Stdout, url); err != nil {
		fmt.Fprintln(os.Stderr, "dogschool:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, url string) error {
	s, err := annals.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	school := NewSchool(s)

	id, err := school.RegisterDog(ctx, "Fido")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "registered dog %s\n", id)
	for _, trick := range []string{"roll over", "fetch ball"} {
		if err := school.AddTrick(ctx, id, trick); err != nil {
			return err
		}
		fmt.Fprintf(w, "taught %q\n", trick)
	}

	dog, err := school.GetDog(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "dog: name=%s tricks=%s\n", dog.Name, strings.Join(dog.Tricks, ", "))

	notes, err := s.ReadLog(ctx, store.LogQuery{After: 0, Limit: 10})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "first %d notifications (store %s):\n", len(notes), scheme(url))
	for _, n := range notes {
		fmt.Fprintf(w, "  #%d %s v%d %s %s\n", n.Position, n.StreamID, n.Version, n.Type, n.Data)
	}
	if len(notes) > 3 {
		fmt.Fprintln(w, "(the store is durable: earlier runs' dogs are in the log too)")
	}
	return nil
}

func scheme(url string) string {
	s, _, _ := strings.Cut(url, ":")
	return s
}
