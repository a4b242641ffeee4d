package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// A subscription is about a course and a student at once: the course has
// a capacity, and a student takes at most MaxCourses courses. No one
// stream holds both, and a stream per pair would check neither rule. So
// a subscription is decided on a dynamic consistency boundary: the events
// of its course and of its student, read by a query, and appended on the
// condition that none of them changed meanwhile. Renaming a course is not
// in that query: a rename never makes a subscription retry.

// MaxCourses is how many courses a student takes at most.
const MaxCourses = 5

// SubscriptionCommand is a command on a student's subscription to a
// course.
type SubscriptionCommand interface {
	Pair() (student, course string)
}

// Subscribe takes a seat of a course for a student.
type Subscribe struct{ Student, Course string }

// Unsubscribe gives a student's seat back.
type Unsubscribe struct{ Student, Course string }

func (c Subscribe) Pair() (string, string)   { return c.Student, c.Course }
func (c Unsubscribe) Pair() (string, string) { return c.Student, c.Course }

// The rules of subscriptions.
var (
	ErrCourseFull        = errors.New("course full")
	ErrTooManyCourses    = fmt.Errorf("a student takes at most %d courses", MaxCourses)
	ErrAlreadySubscribed = errors.New("already subscribed")
	ErrNotSubscribed     = errors.New("not subscribed")
)

// Enrolment is what a subscription decision reads: the courses and
// students its query's events are about. Only the command's own course
// and student are complete in it; Decide looks at nothing else.
type Enrolment struct {
	Courses  map[string]Seats    // by course
	Students map[string][]string // each student's courses
}

// Seats is a course's capacity and its subscribed students.
type Seats struct {
	Defined   bool
	Cancelled bool
	Capacity  int
	Students  []string
}

// SubscriptionDecider decides subscriptions.
var SubscriptionDecider = decider.Decider[SubscriptionCommand, Event, Enrolment]{
	Decide: func(c SubscriptionCommand, e Enrolment) ([]Event, error) {
		student, course := c.Pair()
		seats, taken := e.Courses[course], e.Students[student]
		switch c.(type) {
		case Subscribe:
			switch {
			case !seats.Defined:
				return nil, fmt.Errorf("subscribe %s to %s: %w", student, course, ErrNoSuchCourse)
			case seats.Cancelled:
				return nil, fmt.Errorf("subscribe %s to %s: %w", student, course, ErrCancelled)
			case slices.Contains(seats.Students, student):
				return nil, fmt.Errorf("subscribe %s to %s: %w", student, course, ErrAlreadySubscribed)
			case len(seats.Students) >= seats.Capacity:
				return nil, fmt.Errorf("subscribe %s to %s: all %d seats are taken: %w", student, course, seats.Capacity, ErrCourseFull)
			case len(taken) >= MaxCourses:
				return nil, fmt.Errorf("subscribe %s to %s: %s takes %d courses already: %w", student, course, student, len(taken), ErrTooManyCourses)
			}
			return []Event{StudentSubscribed{Student: student, Course: course}}, nil
		case Unsubscribe:
			if !slices.Contains(taken, course) {
				return nil, fmt.Errorf("unsubscribe %s from %s: %w", student, course, ErrNotSubscribed)
			}
			return []Event{StudentUnsubscribed{Student: student, Course: course}}, nil
		}
		return nil, fmt.Errorf("unknown subscription command %T", c)
	},
	Evolve: func(e Enrolment, ev Event) Enrolment {
		// Evolve is pure: it copies the maps and slices it changes.
		course := func(id string, f func(Seats) Seats) {
			e.Courses = maps.Clone(e.Courses)
			if e.Courses == nil {
				e.Courses = map[string]Seats{}
			}
			e.Courses[id] = f(e.Courses[id])
		}
		student := func(id string, f func([]string) []string) {
			e.Students = maps.Clone(e.Students)
			if e.Students == nil {
				e.Students = map[string][]string{}
			}
			e.Students[id] = f(e.Students[id])
		}
		switch ev := ev.(type) {
		case CourseDefined:
			course(ev.Course, func(s Seats) Seats { s.Defined, s.Capacity = true, ev.Capacity; return s })
		case CourseCancelled:
			course(ev.Course, func(s Seats) Seats { s.Cancelled = true; return s })
		case StudentSubscribed:
			course(ev.Course, func(s Seats) Seats { s.Students = append(slices.Clip(s.Students), ev.Student); return s })
			student(ev.Student, func(c []string) []string { return append(slices.Clip(c), ev.Course) })
		case StudentUnsubscribed:
			course(ev.Course, func(s Seats) Seats {
				s.Students = slices.DeleteFunc(slices.Clone(s.Students), func(x string) bool { return x == ev.Student })
				return s
			})
			student(ev.Student, func(c []string) []string {
				return slices.DeleteFunc(slices.Clone(c), func(x string) bool { return x == ev.Course })
			})
		}
		return e
	},
}

// docs:begin dcb-1
// CourseSeats is the query of what a course's seats depend on: its
// definition, its cancellation, and its subscriptions. Not its renames.
func CourseSeats(course string) store.Query {
	return store.QueryItems(store.QueryItem{
		Types: []string{"CourseDefined", "CourseCancelled", "StudentSubscribed", "StudentUnsubscribed"},
		Tags:  []string{CourseTag(course)},
	})
}

// docs:end dcb-1

// StudentCourses is the query of a student's subscriptions.
func StudentCourses(student string) store.Query {
	return store.QueryItems(store.QueryItem{
		Types: []string{"StudentSubscribed", "StudentUnsubscribed"},
		Tags:  []string{StudentTag(student)},
	})
}

// Subscriptions is the boundary of subscription decisions. A
// subscription reads its course's seats or its student's courses; an
// unsubscription only the pair's own subscriptions, both tags at once.
// docs:begin dcb-2
var Subscriptions = annals.Boundary[SubscriptionCommand, Event]{
	Name: "subscription",
	Query: func(c SubscriptionCommand) store.Query {
		student, course := c.Pair()
		if _, ok := c.(Unsubscribe); ok {
			return store.QueryItems(store.QueryItem{
				Types: []string{"StudentSubscribed", "StudentUnsubscribed"},
				Tags:  []string{CourseTag(course), StudentTag(student)},
			})
		}
		return CourseSeats(course).Or(StudentCourses(student))
	},
	Tags: Tags,
}

// docs:end dcb-2
