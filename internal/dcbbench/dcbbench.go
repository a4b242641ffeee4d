// Package dcbbench holds the benchmarks of dynamic consistency boundaries
// (docs/dcb.md), written once and run by each adapter's tests against the
// same work on streams in the same run. Each benchmark's variants follow
// internal/benchtable's convention: "lib" is the DCB way, the other
// variant the baseline, and each reports events/op.
package dcbbench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// Store is what the benchmarks run on: a store that reads by query and
// appends with a condition.
type Store interface {
	store.Store
	store.DCB
}

// handful is how many events of a course the setup appends: what a
// query of one course matches.
const handful = 5

// payload is a subscription event's payload, about the size of the
// examples'.
var payload = []byte(`{"Student":"student-000042","Course":"course-000042"}`)

func courseTag(i int) string  { return fmt.Sprintf("course:%06d", i) }
func studentTag(i int) string { return fmt.Sprintf("student:%06d", i) }
func courseQuery(i int) store.Query {
	return store.QueryItems(store.QueryItem{Types: []string{"CourseDefined", "StudentSubscribed"}, Tags: []string{courseTag(i)}})
}

// courses appends n courses of a handful of events each: with tags, each
// course in a stream of its own ("dcb-" + i), for queries; or without,
// in the course's stream ("course-" + i), for the baseline.
func courses(ctx context.Context, s Store, first, n int, tagged bool) error {
	const perAppend = 50 // courses per append, to make the setup quick
	for start := first; start < first+n; start += perAppend {
		for i := start; i < min(start+perAppend, first+n); i++ {
			events := make([]store.Event, handful)
			for j := range events {
				events[j] = store.Event{Type: "StudentSubscribed", Data: payload}
				if j == 0 {
					events[j].Type = "CourseDefined"
				}
				if tagged {
					events[j].Tags = []string{courseTag(i), studentTag(i*handful + j)}
				}
			}
			stream := fmt.Sprint("course-", i)
			if tagged {
				stream = fmt.Sprint("dcb-", i)
			}
			if _, err := s.Append(ctx, stream, store.NoStream, events); err != nil {
				return err
			}
		}
	}
	return nil
}

// Append measures one writer appending one event: with a condition whose
// query matches the handful of events of a course (lib), against an
// append to the course's stream at its version (stream). Each op appends
// to a course of its own, so that the condition holds.
func Append(b *testing.B, open func(b *testing.B) Store) {
	ctx := context.Background()
	b.Run("lib", func(b *testing.B) {
		s := open(b)
		if err := courses(ctx, s, 0, b.N, true); err != nil {
			b.Fatal(err)
		}
		head, err := s.Head(ctx) // the position a decision would have read
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			e := store.Event{Type: "StudentSubscribed", Data: payload, Tags: []string{courseTag(i), studentTag(1_000_000 + i)}}
			cond := store.AppendCondition{FailIfEventsMatch: courseQuery(i), After: head}
			if _, err := s.AppendIf(ctx, fmt.Sprint("subscription-", i), store.NoStream, []store.Event{e}, cond); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(1, "events/op")
	})
	b.Run("stream", func(b *testing.B) {
		s := open(b)
		if err := courses(ctx, s, 0, b.N, false); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			e := store.Event{Type: "StudentSubscribed", Data: payload}
			if _, err := s.Append(ctx, fmt.Sprint("course-", i), handful, []store.Event{e}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(1, "events/op")
	})
}

// ConcurrentAppend is Append with 8 writers at once, each on courses of
// its own.
func ConcurrentAppend(b *testing.B, open func(b *testing.B) Store) {
	ctx := context.Background()
	run := func(b *testing.B, tagged bool) {
		s := open(b)
		if err := courses(ctx, s, 0, b.N, tagged); err != nil {
			b.Fatal(err)
		}
		head, err := s.Head(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		err = writers(b.N, func(i int) error {
			if !tagged {
				_, err := s.Append(ctx, fmt.Sprint("course-", i), handful, []store.Event{{Type: "StudentSubscribed", Data: payload}})
				return err
			}
			e := store.Event{Type: "StudentSubscribed", Data: payload, Tags: []string{courseTag(i), studentTag(1_000_000 + i)}}
			_, err := s.AppendIf(ctx, fmt.Sprint("subscription-", i), store.NoStream, []store.Event{e},
				store.AppendCondition{FailIfEventsMatch: courseQuery(i), After: head})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(1, "events/op")
	}
	b.Run("lib", func(b *testing.B) { run(b, true) })
	b.Run("stream", func(b *testing.B) { run(b, false) })
}

// writers runs n operations on 8 goroutines, operation i once.
func writers(n int, op func(i int) error) error {
	const count = 8
	var wg sync.WaitGroup
	errs := make([]error, count)
	for w := range count {
		wg.Go(func() {
			for i := w; i < n; i += count {
				if err := op(i); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Read measures reading the handful of events of one course among many:
// by query (lib), against reading the course's stream (stream).
func Read(b *testing.B, open func(b *testing.B) Store) {
	ctx := context.Background()
	const n = 2000 // courses: 10,000 events in the log
	s := open(b)
	if err := courses(ctx, s, 0, n, true); err != nil {
		b.Fatal(err)
	}
	if err := courses(ctx, s, 0, n, false); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Head(ctx); err != nil { // numbered, as a reader would find them
		b.Fatal(err)
	}
	count := func(b *testing.B, seq func(func(store.Record, error) bool)) {
		got := 0
		for _, err := range seq {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != handful {
			b.Fatalf("read %d events, want %d", got, handful)
		}
	}
	b.Run("lib", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			count(b, s.ReadQuery(ctx, courseQuery(i%n), 0))
		}
		b.ReportMetric(handful, "events/op")
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			count(b, s.ReadStream(ctx, fmt.Sprint("course-", i%n), 0))
		}
		b.ReportMetric(handful, "events/op")
	})
}

// A counter per course and round: every command appends one event,
// decided on the events of its course's round. Its decisions conflict
// with each other on one course, and not across courses. A round holds 8
// events whatever the variant, so that a decision reads as much in each.
type bump struct{ Course, Round int }
type bumped struct{ Course, Round int }

var counter = decider.Decider[bump, bumped, int]{
	Decide: func(c bump, _ int) ([]bumped, error) { return []bumped{bumped(c)}, nil },
	Evolve: func(n int, _ bumped) int { return n + 1 },
}

var counting = annals.DCBDecider[bump, bumped, int]{
	Decider: counter,
	Name:    "bump",
	Query: func(c bump) store.Query {
		return store.QueryItems(store.QueryItem{Types: []string{"Bumped"}, Tags: []string{courseTag(c.Course), fmt.Sprint("round:", c.Round)}})
	},
	Tags: func(e bumped) []string { return []string{courseTag(e.Course), fmt.Sprint("round:", e.Round)} },
}

// Decisions measures 8 writers handling commands with a DCBRunner, each
// command reading its course's events and appending one more: on 8
// courses, one per writer (lib), against all 8 writers on one course
// (one-course), whose decisions conflict and are retried. Writers on
// disjoint courses must not wait for each other.
func Decisions(b *testing.B, open func(b *testing.B) Store) {
	ctx := context.Background()
	run := func(b *testing.B, courses int) {
		s := annals.New(open(b))
		r := annals.NewDCBRunner(s, counting, codec.NewJSON[bumped]().Register("Bumped", bumped{}), annals.WithRetries(10_000))
		b.ReportAllocs()
		b.ResetTimer()
		err := writers(b.N, func(i int) error {
			// The k-th command on a course is in round k/8.
			k := i / courses
			_, err := r.Handle(ctx, bump{Course: i % 8 % courses, Round: k / 8})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(1, "events/op")
	}
	b.Run("lib", func(b *testing.B) { run(b, 8) })
	b.Run("one-course", func(b *testing.B) { run(b, 1) })
}

// Writers measures 8 writers appending with conditions that hold, each
// event tagged with a course and the writer: on 8 courses, one per
// writer (lib), against all 8 on one course (one-course). A condition on
// a course orders the appends that touch the course, so on one course
// the writers take turns, and on 8 they run side by side. The condition
// asks for a type that no event has, so that it holds and no append is
// retried: the difference is the ordering alone. As in Decisions, events
// and conditions carry a round tag too, so that a condition's index
// lookup meets 8 events of its course and round in either variant.
func Writers(b *testing.B, open func(b *testing.B) Store) {
	ctx := context.Background()
	run := func(b *testing.B, courses int) {
		s := open(b)
		b.ReportAllocs()
		b.ResetTimer()
		err := writers(b.N, func(i int) error {
			course, round := i%8%courses, fmt.Sprint("round:", i/courses/8)
			e := store.Event{Type: "StudentSubscribed", Data: payload, Tags: []string{courseTag(course), round, studentTag(i)}}
			cond := store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Types: []string{"CourseCancelled"}, Tags: []string{courseTag(course), round}})}
			_, err := s.AppendIf(ctx, fmt.Sprint("subscription-", i), store.NoStream, []store.Event{e}, cond)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(1, "events/op")
	}
	b.Run("lib", func(b *testing.B) { run(b, 8) })
	b.Run("one-course", func(b *testing.B) { run(b, 1) })
}
