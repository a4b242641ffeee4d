package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/annals-dev/annals"
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

func main() {
	url := os.Getenv(annals.EnvVar)
	if url == "" {
		url = "sqlite://" + filepath.Join(os.TempDir(), "annals-courses.db")
		fmt.Fprintln(os.Stderr, "ANNALS_STORE is not set: using", url)
	}
	if err := run(context.Background(), url, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "courses:", err)
		os.Exit(1)
	}
}

// run plays a short term of the catalogue on the store url names. Each
// run uses course and student names of its own, so that runs on one
// store do not meet.
func run(ctx context.Context, url string, w io.Writer) error {
	s, err := annals.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	app, err := NewApp(s, annals.Sync)
	if err != nil {
		return err
	}
	// A Sync system settles after its own commands only: catch its read
	// models up with what earlier runs or other processes appended.
	if err := app.System.Settle(ctx); err != nil {
		return err
	}
	head, err := s.Head(ctx)
	if err != nil {
		return err
	}
	term := fmt.Sprint("t", head) // names of this run's own
	id := func(name string) string { return term + "-" + name }
	say := func(what string, err error) {
		switch {
		case err == nil:
			fmt.Fprintf(w, "%s: done\n", what)
		case errors.Is(err, annals.ErrRejected):
			fmt.Fprintf(w, "%s: refused, %v\n", what, err)
		default:
			fmt.Fprintf(w, "%s: %v\n", what, err)
		}
	}

	_, err = app.HandleCourse(ctx, DefineCourse{Course: id("go"), Title: "Go", Capacity: 2})
	say("define Go with 2 seats", err)
	_, err = app.HandleCourse(ctx, DefineCourse{Course: id("sql"), Title: "SQL", Capacity: 10})
	say("define SQL with 10 seats", err)
	for _, student := range []string{"ada", "bob", "cy"} {
		_, err = app.HandleSubscription(ctx, Subscribe{Student: id(student), Course: id("go")})
		say("subscribe "+student+" to Go", err)
	}
	_, err = app.HandleCourse(ctx, RenameCourse{Course: id("go"), Title: "Go in depth"})
	say("rename Go to Go in depth", err)
	_, err = app.HandleSubscription(ctx, Unsubscribe{Student: id("bob"), Course: id("go")})
	say("unsubscribe bob from Go in depth", err)
	_, err = app.HandleSubscription(ctx, Subscribe{Student: id("cy"), Course: id("go")})
	say("subscribe cy to Go in depth", err)
	for i := range MaxCourses {
		course := id(fmt.Sprint("elective-", i+1))
		if _, err := app.HandleCourse(ctx, DefineCourse{Course: course, Title: fmt.Sprint("Elective ", i+1), Capacity: 30}); err != nil {
			return err
		}
		_, err = app.HandleSubscription(ctx, Subscribe{Student: id("ada"), Course: course})
		say(fmt.Sprintf("subscribe ada to elective %d", i+1), err)
	}
	_, err = app.HandleCourse(ctx, CancelCourse{Course: id("sql")})
	say("cancel SQL", err)
	_, err = app.HandleSubscription(ctx, Subscribe{Student: id("bob"), Course: id("sql")})
	say("subscribe bob to SQL", err)

	for _, course := range []string{"go", "sql", "elective-1"} {
		l, err := app.Listing.Get(ctx, id(course))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "listing of %s: %v\n", course, l)
	}
	return nil
}
