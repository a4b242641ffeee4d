// Command courses is a course catalogue on dynamic consistency boundaries
// (DCB, docs/dcb.md): courses have a capacity, a student takes at most
// five courses, and a course can be renamed or cancelled.
//
// # Why not streams alone
//
// A course's life (defined, renamed, cancelled) is an aggregate of the
// classic kind, and lives in the course's stream, decided by an
// [annals.Runner]. A subscription is another matter: it must respect the
// course's capacity and the student's limit at once. No single stream
// holds both; a course's stream would not see the student's other
// courses, and a stream per student would not see the course's seats.
// Putting subscriptions into both streams would take a saga and leave
// windows where a rule is broken.
//
// So a subscription is decided by an [annals.DCBRunner] on the events of a
// query. Each rule is a decider with its own query: [CourseSeating]
// reads the course's definition, cancellation and subscriptions (tag
// course:…) and decides the subscription; [StudentLimit] reads the
// student's subscriptions (tag student:…) and refuses a sixth course.
// [Subscriptions] combines them ([annals.CombineDCB]): its query is the
// OR of theirs, and each rule's state is folded from its own query's
// events. The runner reads them, the rules decide, and the event
// (tagged with the course and the student) is appended on the condition
// that no event matching the query was appended after the last one read.
// Two subscriptions to one course, or of one student, are ordered; two
// that share neither run in parallel; and a rename, which is not in the
// query, never makes a subscription try again. The course's stream tags
// its events ([annals.WithTags]) so that the subscription's query sees a
// course defined or cancelled. The listing, a view projection, follows
// both kinds of event in one [annals.System].
//
// # Running it
//
//	go run ./examples/courses
//
// opens the store that ANNALS_STORE names (by default the SQLite file
// annals-courses.db in the temporary directory) and plays a short term
// with names of its own (t0-… on a new store, t<head>-… on one that holds
// events). On a new store it prints:
//
//	define Go with 2 seats: done
//	define SQL with 10 seats: done
//	subscribe ada to Go: done
//	subscribe bob to Go: done
//	subscribe cy to Go: refused, subscribe t0-cy to t0-go: all 2 seats are taken: course full
//	rename Go to Go in depth: done
//	unsubscribe bob from Go in depth: done
//	subscribe cy to Go in depth: done
//	subscribe ada to elective 1: done
//	subscribe ada to elective 2: done
//	subscribe ada to elective 3: done
//	subscribe ada to elective 4: done
//	subscribe ada to elective 5: refused, subscribe t0-ada to t0-elective-5: t0-ada takes 5 courses already: a student takes at most 5 courses
//	cancel SQL: done
//	subscribe bob to SQL: refused, subscribe t0-bob to t0-sql: course cancelled
//	listing of go: Go in depth, 2 of 2 seats taken
//	listing of sql: SQL, 0 of 10 seats taken, cancelled
//	listing of elective-1: Elective 1, 1 of 30 seats taken
//
// # Tests
//
// The rules are given/when/then specifications: proptest.For for the
// course's life, and proptest.ForDCB for subscriptions, whose givens are
// the log, of which each rule sees what its query matches. The races run
// on SQLite and PostgreSQL: 32 students race for the last 5 seats of a
// course, 20 times over, and the course never holds more than its
// capacity, each refused student being told that it is full; and one
// student subscribes to eight courses at once and gets five.
package main
