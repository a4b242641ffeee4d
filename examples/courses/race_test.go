package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/pgtest"
)

// stores are the durable stores the races run on.
var stores = map[string]func(t *testing.T) string{
	"sqlite": func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "courses.db") },
	"postgres": func(t *testing.T) string {
		db := pgtest.New(t)
		return db.URL + "&schema=" + db.Schema
	},
}

func openApp(t *testing.T, url string) *App {
	t.Helper()
	s, err := annals.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	app, err := NewApp(s, annals.Sync)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// 32 students race for the last 5 seats of a course, 20 times over,
// half of them through a second app on the same store, as another
// process would (the subscriptions of one app take turns, and those of
// two conflict): 5 of them get a seat, the course never holds more than
// its capacity, and each of the others is told that the course is full.
func TestRaceForTheLastSeats(t *testing.T) {
	const (
		rounds   = 20
		racers   = 32
		capacity = 10
		left     = 5
	)
	for name, url := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			u := url(t)
			app, other := openApp(t, u), openApp(t, u)
			for round := range rounds {
				course := fmt.Sprint("course-", round)
				if _, err := app.HandleCourse(ctx, DefineCourse{Course: course, Title: "Go", Capacity: capacity}); err != nil {
					t.Fatal(err)
				}
				for i := range capacity - left {
					if _, err := app.HandleSubscription(ctx, Subscribe{Student: fmt.Sprintf("early-%d-%d", round, i), Course: course}); err != nil {
						t.Fatal(err)
					}
				}
				errs := make([]error, racers)
				var wg sync.WaitGroup
				for i := range racers {
					wg.Go(func() {
						_, errs[i] = []*App{app, other}[i%2].HandleSubscription(ctx, Subscribe{Student: fmt.Sprintf("racer-%d-%d", round, i), Course: course})
					})
				}
				wg.Wait()
				won := 0
				for i, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, ErrCourseFull) || !errors.Is(err, annals.ErrRejected):
						t.Fatalf("round %d: racer %d was told %v, want a seat or course full", round, i, err)
					}
				}
				seats, _, err := annals.NewDCBRunner(app.Store, CourseSeating, Codec()).Load(ctx, Subscribe{Course: course})
				if err != nil {
					t.Fatal(err)
				}
				if taken := len(seats.Students); won != left || taken != capacity {
					t.Fatalf("round %d: %d racers won and the course holds %d students; want %d and %d", round, won, taken, left, capacity)
				}
				listing, err := app.Listing.Get(ctx, course)
				if err != nil || listing.Taken != capacity {
					t.Fatalf("round %d: the listing says %+v (%v); want %d seats taken", round, listing, err, capacity)
				}
			}
		})
	}
}

// One student subscribes to eight courses at once: five subscriptions
// pass, and the other three are told the student has enough.
func TestRaceForAStudentsLastCourses(t *testing.T) {
	for name, url := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			app := openApp(t, url(t))
			for round := range 5 {
				courses := make([]string, 8)
				for i := range courses {
					courses[i] = fmt.Sprintf("c-%d-%d", round, i)
					if _, err := app.HandleCourse(ctx, DefineCourse{Course: courses[i], Title: "Elective", Capacity: 30}); err != nil {
						t.Fatal(err)
					}
				}
				student := fmt.Sprint("ada-", round)
				errs := make([]error, len(courses))
				var wg sync.WaitGroup
				for i, c := range courses {
					wg.Go(func() { _, errs[i] = app.HandleSubscription(ctx, Subscribe{Student: student, Course: c}) })
				}
				wg.Wait()
				won := 0
				for _, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, ErrTooManyCourses):
						t.Fatalf("round %d: told %v, want a seat or too many courses", round, err)
					}
				}
				if won != MaxCourses {
					t.Fatalf("round %d: %s got %d courses, want %d", round, student, won, MaxCourses)
				}
			}
		})
	}
}
