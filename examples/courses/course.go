package main

import (
	"errors"
	"fmt"

	"github.com/annals-dev/annals/decider"
)

// A course's life is an aggregate of the classic kind: one stream per
// course, decided on the course's own events. Its events carry the
// course's tag, so that subscription decisions see them.

// CourseCommand is a command on one course.
type CourseCommand interface{ CourseID() string }

// DefineCourse opens a course with capacity seats.
type DefineCourse struct {
	Course   string
	Title    string
	Capacity int
}

// RenameCourse changes a course's title.
type RenameCourse struct{ Course, Title string }

// CancelCourse closes a course to new subscriptions.
type CancelCourse struct{ Course string }

func (c DefineCourse) CourseID() string { return c.Course }
func (c RenameCourse) CourseID() string { return c.Course }
func (c CancelCourse) CourseID() string { return c.Course }

// Course is a course as its stream tells it.
type Course struct {
	Defined   bool
	Title     string
	Capacity  int
	Cancelled bool
}

// The rules of a course's life.
var (
	ErrCourseExists  = errors.New("course already defined")
	ErrNoSuchCourse  = errors.New("no such course")
	ErrCancelled     = errors.New("course cancelled")
	ErrInvalidCourse = errors.New("invalid course")
)

// CourseDecider decides the commands of a course's life.
var CourseDecider = decider.Decider[CourseCommand, Event, Course]{
	Decide: func(c CourseCommand, s Course) ([]Event, error) {
		switch c := c.(type) {
		case DefineCourse:
			switch {
			case s.Defined:
				return nil, fmt.Errorf("define %s: %w", c.Course, ErrCourseExists)
			case c.Title == "" || c.Capacity < 1:
				return nil, fmt.Errorf("define %s: a course needs a title and at least one seat: %w", c.Course, ErrInvalidCourse)
			}
			return []Event{CourseDefined(c)}, nil
		case RenameCourse:
			switch {
			case !s.Defined:
				return nil, fmt.Errorf("rename %s: %w", c.Course, ErrNoSuchCourse)
			case s.Cancelled:
				return nil, fmt.Errorf("rename %s: %w", c.Course, ErrCancelled)
			case c.Title == "":
				return nil, fmt.Errorf("rename %s: empty title: %w", c.Course, ErrInvalidCourse)
			case c.Title == s.Title:
				return nil, nil
			}
			return []Event{CourseRenamed(c)}, nil
		case CancelCourse:
			switch {
			case !s.Defined:
				return nil, fmt.Errorf("cancel %s: %w", c.Course, ErrNoSuchCourse)
			case s.Cancelled:
				return nil, nil
			}
			return []Event{CourseCancelled(c)}, nil
		}
		return nil, fmt.Errorf("unknown course command %T", c)
	},
	Evolve: func(s Course, e Event) Course {
		switch e := e.(type) {
		case CourseDefined:
			return Course{Defined: true, Title: e.Title, Capacity: e.Capacity}
		case CourseRenamed:
			s.Title = e.Title
		case CourseCancelled:
			s.Cancelled = true
		}
		return s
	},
}

// CourseStream is the stream of a course's life.
func CourseStream(course string) string { return "course-" + course }
