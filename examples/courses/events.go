package main

import (
	"github.com/annals-dev/annals/codec"
)

// Event is an event of the catalogue: a course's life, kept in the
// course's own stream, and students' subscriptions, each decided on a
// dynamic consistency boundary.
type Event interface{ isEvent() }

// CourseDefined opens a course with a number of seats.
type CourseDefined struct {
	Course   string
	Title    string
	Capacity int
}

// CourseRenamed gives a course a new title.
type CourseRenamed struct{ Course, Title string }

// CourseCancelled closes a course to new subscriptions.
type CourseCancelled struct{ Course string }

// StudentSubscribed takes a seat of a course for a student.
type StudentSubscribed struct{ Student, Course string }

// StudentUnsubscribed gives a student's seat back.
type StudentUnsubscribed struct{ Student, Course string }

func (CourseDefined) isEvent()       {}
func (CourseRenamed) isEvent()       {}
func (CourseCancelled) isEvent()     {}
func (StudentSubscribed) isEvent()   {}
func (StudentUnsubscribed) isEvent() {}

// Codec returns the codec of the catalogue's events.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("CourseDefined", CourseDefined{}).
		Register("CourseRenamed", CourseRenamed{}).
		Register("CourseCancelled", CourseCancelled{}).
		Register("StudentSubscribed", StudentSubscribed{}).
		Register("StudentUnsubscribed", StudentUnsubscribed{})
}

// docs:begin dcb-tags
// CourseTag and StudentTag are the tags by which queries find the events
// of a course and of a student.
func CourseTag(course string) string   { return "course:" + course }
func StudentTag(student string) string { return "student:" + student }

// Tags returns the tags of an event: the course it is about, and the
// student for a subscription, which is about both.
func Tags(e Event) []string {
	switch e := e.(type) {
	case CourseDefined:
		return []string{CourseTag(e.Course)}
	case CourseRenamed:
		return []string{CourseTag(e.Course)}
	case CourseCancelled:
		return []string{CourseTag(e.Course)}
	case StudentSubscribed:
		return []string{CourseTag(e.Course), StudentTag(e.Student)}
	case StudentUnsubscribed:
		return []string{CourseTag(e.Course), StudentTag(e.Student)}
	}
	return nil
}

// docs:end dcb-tags
