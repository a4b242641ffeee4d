package main

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/view"
)

// App is the catalogue on one store and one system: courses decided on
// their streams, subscriptions on dynamic consistency boundaries, and a
// listing of the courses that follows both.
type App struct {
	Store         *annals.Store
	System        *annals.System
	Courses       *annals.Runner[CourseCommand, Event, Course]
	Subscriptions *annals.DCBRunner[SubscriptionCommand, Event, Enrolment]
	Listing       *annals.ViewProjection[Listing, Event]
}

// Retries bounds how often a subscription is decided again after another
// process took a seat meanwhile (the subscriptions of one process take
// turns on their course and student, and do not conflict). A decision
// conflicts only with another that appended to its course or its
// student, and a course fills after Capacity subscriptions, so a command
// needs about as many retries as there are seats left when many
// processes race for them.
const Retries = 20

// NewApp wires the catalogue on s, in mode.
func NewApp(s *annals.Store, mode annals.Mode) (*App, error) {
	sys, err := annals.NewSystem(s, mode)
	if err != nil {
		return nil, err
	}
	app := &App{
		Store:  s,
		System: sys,
		// The course's stream tags its events, so subscription decisions
		// see a course defined and cancelled.
		// docs:begin dcb-3
		Courses:       annals.NewRunner(s, CourseDecider, Codec(), annals.WithTags(Tags)),
		Subscriptions: annals.NewDCBRunner(s, Subscriptions, Codec(), annals.WithRetries(Retries)),
		// docs:end dcb-3
		Listing: annals.NewViewProjection(s, "course-listing", ListingView, Codec(), byCourse),
	}
	if err := sys.Add(app.Listing); err != nil {
		return nil, err
	}
	return app, nil
}

// HandleCourse decides a command of a course's life on the course's
// stream.
func (a *App) HandleCourse(ctx context.Context, c CourseCommand) (Course, error) {
	res, err := a.Courses.Handle(ctx, CourseStream(c.CourseID()), c)
	return res.State, err
}

// HandleSubscription decides a subscription command on the events of its
// course and its student.
func (a *App) HandleSubscription(ctx context.Context, c SubscriptionCommand) (annals.DCBResult[Event, Enrolment], error) {
	return a.Subscriptions.Handle(ctx, c)
}

// Listing is a course as the catalogue lists it.
type Listing struct {
	Title     string `json:"title"`
	Capacity  int    `json:"capacity"`
	Taken     int    `json:"taken"`
	Cancelled bool   `json:"cancelled,omitempty"`
}

// String shows a listing on one line.
func (l Listing) String() string {
	s := fmt.Sprintf("%s, %d of %d seats taken", l.Title, l.Taken, l.Capacity)
	if l.Cancelled {
		s += ", cancelled"
	}
	return s
}

// ListingView folds a course's events, from its stream and from
// subscriptions alike, into its listing.
var ListingView = view.View[Listing, Event]{
	Evolve: func(l Listing, e Event) Listing {
		switch e := e.(type) {
		case CourseDefined:
			l.Title, l.Capacity = e.Title, e.Capacity
		case CourseRenamed:
			l.Title = e.Title
		case CourseCancelled:
			l.Cancelled = true
		case StudentSubscribed:
			l.Taken++
		case StudentUnsubscribed:
			l.Taken--
		}
		return l
	},
}

func byCourse(_ store.Record, e Event) (string, bool) {
	switch e := e.(type) {
	case CourseDefined:
		return e.Course, true
	case CourseRenamed:
		return e.Course, true
	case CourseCancelled:
		return e.Course, true
	case StudentSubscribed:
		return e.Course, true
	case StudentUnsubscribed:
		return e.Course, true
	}
	return "", false
}
