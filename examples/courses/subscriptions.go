package main

import (
	"errors"
	"fmt"
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

// docs:begin dcb-commands
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

// docs:end dcb-commands

// A subscription is decided by two rules, each a decider with a query of
// its own, combined into one decision on one boundary: the course's
// seats, which decide the subscription, and the student's limit, which
// decides no event but may refuse one. Each rule's state is folded from
// the events of its own query only, so neither looks at IDs.

// docs:begin dcb-state
// Seats is a course's capacity and its subscribed students, as the
// query of its seats shows them.
type Seats struct {
	Defined   bool
	Cancelled bool
	Capacity  int
	Students  []string
}

// docs:end dcb-state

// docs:begin dcb-seats
// CourseSeating decides subscriptions on the seats of the course: the
// course must be open and have a seat left, and a student takes one seat.
var CourseSeating = annals.DCBDecider[SubscriptionCommand, Event, Seats]{
	Decider: decider.Decider[SubscriptionCommand, Event, Seats]{
		Decide: func(c SubscriptionCommand, seats Seats) ([]Event, error) {
			student, course := c.Pair()
			subscribed := slices.Contains(seats.Students, student)
			switch c.(type) {
			case Subscribe:
				switch {
				case !seats.Defined:
					return nil, fmt.Errorf("subscribe %s to %s: %w", student, course, ErrNoSuchCourse)
				case seats.Cancelled:
					return nil, fmt.Errorf("subscribe %s to %s: %w", student, course, ErrCancelled)
				case subscribed:
					return nil, fmt.Errorf("subscribe %s to %s: %w", student, course, ErrAlreadySubscribed)
				case len(seats.Students) >= seats.Capacity:
					return nil, fmt.Errorf("subscribe %s to %s: all %d seats are taken: %w", student, course, seats.Capacity, ErrCourseFull)
				}
				return []Event{StudentSubscribed{Student: student, Course: course}}, nil
			case Unsubscribe:
				if !subscribed {
					return nil, fmt.Errorf("unsubscribe %s from %s: %w", student, course, ErrNotSubscribed)
				}
				return []Event{StudentUnsubscribed{Student: student, Course: course}}, nil
			}
			return nil, fmt.Errorf("unknown subscription command %T", c)
		},
		Evolve: func(s Seats, e Event) Seats {
			switch e := e.(type) {
			case CourseDefined:
				s.Defined, s.Capacity = true, e.Capacity
			case CourseCancelled:
				s.Cancelled = true
			case StudentSubscribed:
				s.Students = append(slices.Clip(s.Students), e.Student)
			case StudentUnsubscribed:
				s.Students = slices.DeleteFunc(slices.Clone(s.Students), func(x string) bool { return x == e.Student })
			}
			return s
		},
	},
	Name: "subscription",
	Query: func(c SubscriptionCommand) store.Query {
		student, course := c.Pair()
		if _, ok := c.(Unsubscribe); ok {
			return PairSubscriptions(student, course)
		}
		return CourseSeats(course)
	},
	Tags: Tags,
}

// docs:end dcb-seats

// docs:begin dcb-limit
// StudentLimit guards subscriptions with the student's limit: it decides
// no event, and refuses a subscription beyond MaxCourses.
var StudentLimit = annals.DCBDecider[SubscriptionCommand, Event, []string]{
	Decider: decider.Decider[SubscriptionCommand, Event, []string]{
		Decide: func(c SubscriptionCommand, courses []string) ([]Event, error) {
			student, course := c.Pair()
			if _, ok := c.(Subscribe); ok && len(courses) >= MaxCourses {
				return nil, fmt.Errorf("subscribe %s to %s: %s takes %d courses already: %w", student, course, student, len(courses), ErrTooManyCourses)
			}
			return nil, nil
		},
		Evolve: func(courses []string, e Event) []string {
			switch e := e.(type) {
			case StudentSubscribed:
				return append(slices.Clip(courses), e.Course)
			case StudentUnsubscribed:
				return slices.DeleteFunc(slices.Clone(courses), func(x string) bool { return x == e.Course })
			}
			return courses
		},
	},
	Query: func(c SubscriptionCommand) store.Query {
		student, course := c.Pair()
		if _, ok := c.(Unsubscribe); ok {
			// An unsubscription frees a place whatever the count: it
			// reads only the pair's own subscriptions, as the seats do.
			return PairSubscriptions(student, course)
		}
		return StudentCourses(student)
	},
	Tags: Tags,
}

// docs:end dcb-limit

// docs:begin dcb-2
// Subscriptions decides subscriptions on both rules at once: its query is
// the course's seats OR the student's courses, one append condition
// covers both, and each rule sees only its own query's events.
var Subscriptions = annals.CombineDCB(CourseSeating, StudentLimit)

// Enrolment is what a subscription is decided on: the course's seats and
// the student's courses.
type Enrolment = decider.Pair[Seats, []string]

// docs:end dcb-2

// docs:begin dcb-1
// CourseSeats is the query of what a course's seats depend on: its
// definition, its cancellation, and its subscriptions. Not its renames.
func CourseSeats(course string) store.Query {
	return store.QueryItems(store.QueryItem{
		Types: []string{"CourseDefined", "CourseCancelled", "StudentSubscribed", "StudentUnsubscribed"},
		Tags:  []string{CourseTag(course)},
	})
}

// StudentCourses is the query of a student's subscriptions.
func StudentCourses(student string) store.Query {
	return store.QueryItems(store.QueryItem{
		Types: []string{"StudentSubscribed", "StudentUnsubscribed"},
		Tags:  []string{StudentTag(student)},
	})
}

// PairSubscriptions is the query of one student's subscriptions to one
// course: both tags at once.
func PairSubscriptions(student, course string) store.Query {
	return store.QueryItems(store.QueryItem{
		Types: []string{"StudentSubscribed", "StudentUnsubscribed"},
		Tags:  []string{CourseTag(course), StudentTag(student)},
	})
}

// docs:end dcb-1
