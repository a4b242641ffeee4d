package main

import (
	"slices"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/proptest"
)

func TestCourseRules(t *testing.T) {
	go101 := CourseDefined{Course: "go", Title: "Go", Capacity: 2}
	proptest.For(t, CourseDecider).
		When(DefineCourse{Course: "go", Title: "Go", Capacity: 2}).
		Then(go101)
	proptest.For(t, CourseDecider).
		When(DefineCourse{Course: "go", Title: "Go", Capacity: 0}).
		ThenError(ErrInvalidCourse)
	proptest.For(t, CourseDecider).
		Given(go101).
		When(DefineCourse{Course: "go", Title: "Go again", Capacity: 3}).
		ThenError(ErrCourseExists)
	proptest.For(t, CourseDecider).
		Given(go101).
		When(RenameCourse{Course: "go", Title: "Go in depth"}).
		Then(CourseRenamed{Course: "go", Title: "Go in depth"})
	proptest.For(t, CourseDecider).
		Given(go101).
		When(RenameCourse{Course: "go", Title: "Go"}).
		Then()
	proptest.For(t, CourseDecider).
		When(RenameCourse{Course: "go", Title: "Go"}).
		ThenError(ErrNoSuchCourse)
	proptest.For(t, CourseDecider).
		Given(go101, CourseCancelled{Course: "go"}).
		When(RenameCourse{Course: "go", Title: "Go?"}).
		ThenError(ErrCancelled)
	proptest.For(t, CourseDecider).
		Given(go101).
		When(CancelCourse{Course: "go"}).
		Then(CourseCancelled{Course: "go"})
	proptest.For(t, CourseDecider).
		Given(go101, CourseCancelled{Course: "go"}).
		When(CancelCourse{Course: "go"}).
		Then()
	proptest.For(t, CourseDecider).
		Given(go101, CourseRenamed{Course: "go", Title: "Go in depth"}, CourseCancelled{Course: "go"}).
		ThenState(Course{Defined: true, Title: "Go in depth", Capacity: 2, Cancelled: true})
}

// The given events of a subscription's specification are the log: the
// decision sees those its query matches, each rule those of its own.
func TestSubscriptionRules(t *testing.T) {
	goDefined := CourseDefined{Course: "go", Title: "Go", Capacity: 2}
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(goDefined).
		When(Subscribe{Student: "ada", Course: "go"}).
		Then(StudentSubscribed{Student: "ada", Course: "go"})
	proptest.ForDCB(t, Subscriptions, Codec()).
		When(Subscribe{Student: "ada", Course: "go"}).
		ThenError(ErrNoSuchCourse)
	// Another course's seats, full, are no concern of this one's.
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(goDefined, CourseDefined{Course: "sql", Title: "SQL", Capacity: 1},
			StudentSubscribed{Student: "bob", Course: "sql"}, StudentSubscribed{Student: "cy", Course: "go"}).
		When(Subscribe{Student: "ada", Course: "go"}).
		ThenState(Enrolment{
			First:  Seats{Defined: true, Capacity: 2, Students: []string{"cy", "ada"}},
			Second: []string{"go"},
		})
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(goDefined, CourseCancelled{Course: "go"}).
		When(Subscribe{Student: "ada", Course: "go"}).
		ThenError(ErrCancelled)
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(goDefined, StudentSubscribed{Student: "ada", Course: "go"}).
		When(Subscribe{Student: "ada", Course: "go"}).
		ThenError(ErrAlreadySubscribed)
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(goDefined, StudentSubscribed{Student: "ada", Course: "go"}, StudentSubscribed{Student: "bob", Course: "go"}).
		When(Subscribe{Student: "cy", Course: "go"}).
		ThenError(ErrCourseFull)
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(goDefined, StudentSubscribed{Student: "ada", Course: "go"}, StudentSubscribed{Student: "bob", Course: "go"},
			StudentUnsubscribed{Student: "bob", Course: "go"}).
		When(Subscribe{Student: "cy", Course: "go"}).
		Then(StudentSubscribed{Student: "cy", Course: "go"})

	// Five courses of the student's, each read through the student's tag.
	history := []Event{goDefined}
	for _, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		history = append(history, StudentSubscribed{Student: "ada", Course: c})
	}
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(history...).
		When(Subscribe{Student: "ada", Course: "go"}).
		ThenError(ErrTooManyCourses)
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(append(history, StudentUnsubscribed{Student: "ada", Course: "c3"})...).
		When(Subscribe{Student: "ada", Course: "go"}).
		Then(StudentSubscribed{Student: "ada", Course: "go"})

	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(StudentSubscribed{Student: "ada", Course: "go"}).
		When(Unsubscribe{Student: "ada", Course: "go"}).
		Then(StudentUnsubscribed{Student: "ada", Course: "go"})
	proptest.ForDCB(t, Subscriptions, Codec()).
		Given(StudentSubscribed{Student: "ada", Course: "go"}, StudentUnsubscribed{Student: "ada", Course: "go"}).
		When(Unsubscribe{Student: "ada", Course: "go"}).
		ThenError(ErrNotSubscribed)
}

// Every event a decision appends is found by the queries of the decisions
// it affects: a subscription by its course's seats and its student's
// courses; a course's life by its seats, except a rename, which changes
// no seat.
func TestQueriesFindTheEventsTheyNeed(t *testing.T) {
	events := []Event{
		CourseDefined{Course: "go", Title: "Go", Capacity: 2},
		CourseRenamed{Course: "go", Title: "Go!"},
		CourseCancelled{Course: "go"},
		StudentSubscribed{Student: "ada", Course: "go"},
		StudentUnsubscribed{Student: "ada", Course: "go"},
	}
	names := []string{"CourseDefined", "CourseRenamed", "CourseCancelled", "StudentSubscribed", "StudentUnsubscribed"}
	seats := CourseSeats("go")
	subscribe := Subscriptions.Query(Subscribe{Student: "ada", Course: "go"})
	unsubscribe := Subscriptions.Query(Unsubscribe{Student: "ada", Course: "go"})
	for i, e := range events {
		tags := Tags(e)
		want := names[i] != "CourseRenamed"
		if got := seats.Matches(names[i], tags); got != want {
			t.Errorf("course seats match %s: %v, want %v", names[i], got, want)
		}
		if got := subscribe.Matches(names[i], tags); got != want {
			t.Errorf("a subscription's query matches %s: %v, want %v", names[i], got, want)
		}
		if got, want := unsubscribe.Matches(names[i], tags), i >= 3; got != want {
			t.Errorf("an unsubscription's query matches %s: %v, want %v", names[i], got, want)
		}
	}
	// Another student's subscription to another course is not in the
	// boundary; another student's to this course is.
	if subscribe.Matches("StudentSubscribed", Tags(StudentSubscribed{Student: "bob", Course: "sql"})) {
		t.Error("a subscription's query matches another pair's event")
	}
	if !subscribe.Matches("StudentSubscribed", Tags(StudentSubscribed{Student: "bob", Course: "go"})) {
		t.Error("a subscription's query misses another student's seat in its course")
	}
}

// For any catalogue and any subscriptions, each subscription decided on
// its query's events is decided as the rules say on the whole log: no
// event a rule needs is outside its query.
func TestSubscriptionsDecideAsOnTheWholeLog(t *testing.T) {
	courses := []string{"c1", "c2", "c3", "c4", "c5", "c6"}
	next := func(t *rapid.T, log []Event) ([]Event, SubscriptionCommand) {
		var given []Event
		defined := lo.FilterMap(log, func(e Event, _ int) (string, bool) {
			d, ok := e.(CourseDefined)
			return d.Course, ok
		})
		switch course := rapid.SampledFrom(courses).Draw(t, "course"); {
		case !slices.Contains(defined, course) && rapid.IntRange(0, 3).Draw(t, "define") > 0:
			capacity := rapid.IntRange(1, 3).Draw(t, "capacity")
			given = append(given, CourseDefined{Course: course, Title: course, Capacity: capacity})
		case slices.Contains(defined, course) && rapid.IntRange(0, 20).Draw(t, "cancel") == 0:
			given = append(given, CourseCancelled{Course: course})
		}
		student := rapid.SampledFrom([]string{"ada", "bob", "cy"}).Draw(t, "student")
		course := rapid.SampledFrom(courses).Draw(t, "subscribe to")
		if rapid.IntRange(0, 4).Draw(t, "unsubscribe") == 0 {
			return given, Unsubscribe{Student: student, Course: course}
		}
		return given, Subscribe{Student: student, Course: course}
	}
	proptest.DecidesAsOnTheWholeLog(t, Subscriptions, Codec(), wholeCatalogue, next, proptest.Length(10, 60))
}

// wholeCatalogue is the rules of subscriptions, written on the whole log.
func wholeCatalogue(log []Event, c SubscriptionCommand) ([]Event, error) {
	student, course := c.Pair()
	var defined, cancelled bool
	capacity, seats, taken := 0, map[string]bool{}, map[string]bool{}
	for _, e := range log {
		switch e := e.(type) {
		case CourseDefined:
			if e.Course == course {
				defined, capacity = true, e.Capacity
			}
		case CourseCancelled:
			cancelled = cancelled || e.Course == course
		case StudentSubscribed:
			if e.Course == course {
				seats[e.Student] = true
			}
			if e.Student == student {
				taken[e.Course] = true
			}
		case StudentUnsubscribed:
			if e.Course == course {
				delete(seats, e.Student)
			}
			if e.Student == student {
				delete(taken, e.Course)
			}
		}
	}
	if _, ok := c.(Unsubscribe); ok {
		if !seats[student] {
			return nil, ErrNotSubscribed
		}
		return []Event{StudentUnsubscribed{Student: student, Course: course}}, nil
	}
	switch {
	case !defined:
		return nil, ErrNoSuchCourse
	case cancelled:
		return nil, ErrCancelled
	case seats[student]:
		return nil, ErrAlreadySubscribed
	case len(seats) >= capacity:
		return nil, ErrCourseFull
	case len(taken) >= MaxCourses:
		return nil, ErrTooManyCourses
	}
	return []Event{StudentSubscribed{Student: student, Course: course}}, nil
}
