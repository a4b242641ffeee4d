package proptest

import (
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/view"
)

// MaxCommands is the longest command sequence [ReplayEqualsLive] and
// [EvolveIsPure] draw unless [Length] says otherwise.
const MaxCommands = 60

// Commands is what [ReplayEqualsLive] and [EvolveIsPure] draw commands
// from: either a generator of commands that ignores the state, or a
// function that draws the next command given the current state, so that a
// run reaches the states where the rules bite (an account that is open,
// an order that is paid) instead of being refused at the door:
//
//	proptest.ReplayEqualsLive(t, bank.Decider, command) // *rapid.Generator[bank.Command]
//	proptest.ReplayEqualsLive(t, bank.Decider, func(t *rapid.T, a bank.Account) bank.Command {
//		if !a.Open {
//			return bank.Open{Owner: "ada"}
//		}
//		return bank.Withdraw{Amount: rapid.Int64Range(1, a.Balance+1).Draw(t, "amount")}
//	})
type Commands[C, S any] interface {
	*rapid.Generator[C] | func(*rapid.T, S) C
}

// An Option tunes how [ReplayEqualsLive], [EvolveIsPure] and
// [ViewEvolveIsPure] draw their runs.
type Option func(*options)

type options struct{ min, max int }

func configure(opts []Option) options {
	o := options{min: 0, max: MaxCommands}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Length makes each run draw from shortest to longest commands (or
// events), both included. The default is 0 to [MaxCommands]. A negative
// bound counts as 0, and longest below shortest as shortest.
func Length(shortest, longest int) Option {
	return func(o *options) { o.min, o.max = max(shortest, 0), max(longest, shortest, 0) }
}

// nextCommand turns either kind of [Commands] into one function.
func nextCommand[C, S any, G Commands[C, S]](commands G) func(*rapid.T, S) C {
	switch g := any(commands).(type) {
	case *rapid.Generator[C]:
		return func(t *rapid.T, _ S) C { return g.Draw(t, "command") }
	case func(*rapid.T, S) C:
		return g
	}
	panic("unreachable: Commands has two kinds")
}

// drawLength draws a run's length uniformly between the bounds: rapid's
// own slice lengths average about four, too few to reach the states where
// rules bite.
func drawLength(t *rapid.T, o options) int {
	return rapid.IntRange(o.min, o.max).Draw(t, "length")
}

// ReplayEqualsLive checks, for any sequence of commands drawn from
// commands, that running the decider live — deciding each command on the
// current state and evolving by the events — reaches the state that a
// replay of all the events emitted reaches from the initial state, and
// that deciding each command again on the replayed state gives the same
// events. Rejected commands must emit nothing.
//
// It runs the purity check of [EvolveIsPure] at every step as well.
//
// A decider fails it when it is not pure: when Evolve changes the state it
// is given, when Evolve or Initial share mutable values (maps, slices,
// spare capacity of a slice) between states, or when Decide or Evolve read
// anything but their arguments. States and events are compared with
// reflect.DeepEqual, so unexported fields count; a failure names the
// command and prints values with %#v, so nil and empty differ.
//
// It takes testing.TB, not [T]: it is a whole property and runs
// rapid.Check itself, so a test calls it, never another property.
func ReplayEqualsLive[C, E, S any, G Commands[C, S]](t testing.TB, d decider.Decider[C, E, S], commands G, opts ...Option) {
	t.Helper()
	next, o := nextCommand[C, S](commands), configure(opts)
	rapid.Check(t, func(t *rapid.T) {
		r := &liveRun[C, E, S]{d: d, live: d.InitialState()}
		for i := range drawLength(t, o) {
			parent := r.live
			c := next(t, parent)
			events, msg := r.step(c)
			if msg != "" {
				t.Fatal(msg)
			}
			if msg := r.siblings(i, parent, c, events, next(t, parent)); msg != "" {
				t.Fatal(msg)
			}
		}
	})
}

// EvolveIsPure checks, for any sequence of commands drawn from commands,
// that evolving a state never changes it nor any state evolved from it
// before: at each step it evolves the current state by the events of the
// command drawn and, from the same state, by those of a second command,
// and requires the first result, the second and the state they came from
// to stay as they were.
//
// That catches what comparing a live run with a replay cannot see: an
// Evolve that appends to a slice of the state it was given
// (s.Items = append(s.Items, e.Item)) writes into the spare capacity that
// the state shares with every other state evolved from it, so two
// siblings evolved from one parent — a state a runner caches and decides
// on twice, a retry after a conflict — overwrite each other's last item.
// Copy the slice (slices.Clip or slices.Clone) before appending.
//
// It takes testing.TB, not [T]: it is a whole property and runs
// rapid.Check itself, so a test calls it, never another property.
func EvolveIsPure[C, E, S any, G Commands[C, S]](t testing.TB, d decider.Decider[C, E, S], commands G, opts ...Option) {
	t.Helper()
	next, o := nextCommand[C, S](commands), configure(opts)
	rapid.Check(t, func(t *rapid.T) {
		r := &liveRun[C, E, S]{d: d, live: d.InitialState()}
		for i := range drawLength(t, o) {
			parent := r.live
			c := next(t, parent)
			events, err := d.Decide(c, parent)
			if err != nil {
				continue
			}
			if msg := r.siblings(i, parent, c, events, next(t, parent)); msg != "" {
				t.Fatal(msg)
			}
			r.live = d.Fold(parent, events)
		}
	})
}

// ViewEvolveIsPure is the check of [EvolveIsPure] for a view: for any
// sequence of events drawn from events, evolving a state by one event and
// the same state by another changes neither the state nor the first
// result.
//
// It takes testing.TB, not [T]: it is a whole property and runs
// rapid.Check itself, so a test calls it, never another property.
func ViewEvolveIsPure[S, E any](t testing.TB, v view.View[S, E], events *rapid.Generator[E], opts ...Option) {
	t.Helper()
	o := configure(opts)
	rapid.Check(t, func(t *rapid.T) {
		s := v.InitialState()
		for i := range drawLength(t, o) {
			e, other := events.Draw(t, "event"), events.Draw(t, "sibling")
			if msg := siblingMismatch(v.Evolve, s, []E{e}, []E{other}); msg != "" {
				t.Fatalf("at event %d (%s): %s", i, show(e), msg)
			}
			s = v.Evolve(s, e)
		}
	})
}

// A liveRun runs commands live and checks each step against a replay.
type liveRun[C, E, S any] struct {
	d       decider.Decider[C, E, S]
	live    S
	history []E
	index   int
}

// step decides c on the live state and evolves it, and describes the
// first way the step differs from a replay, or returns "". It returns the
// events c decided (none when it was rejected).
func (r *liveRun[C, E, S]) step(c C) ([]E, string) {
	i, d := r.index, r.d
	r.index++
	events, err := d.Decide(c, r.live)
	if err != nil {
		if len(events) > 0 {
			return nil, fmt.Sprintf("command %d, %s, was rejected (%v) but also emitted %s; a rejection must emit nothing", i, show(c), err, lines(events))
		}
		return nil, ""
	}
	// Evolve must leave the state it starts from as it was: the runner
	// retries and caches from states it already holds.
	from := fieldLines(r.live)
	next := d.Fold(r.live, events)
	if changed := diff(from, fieldLines(r.live)); changed != "" {
		return nil, fmt.Sprintf("command %d, %s: evolving by %s changed the state it started from (- before, + after):\n%sEvolve must copy a map, slice or pointer before changing it", i, show(c), lines(events), changed)
	}
	r.live = next
	r.history = append(r.history, events...)

	// Render the live state before replaying: a replay that changes it
	// shares mutable values with it.
	before := fieldLines(r.live)
	replayed := d.Replay(r.history)
	if changed := diff(before, fieldLines(r.live)); changed != "" {
		return nil, fmt.Sprintf("after command %d, %s, replaying the history changed the live state (- before, + after):\n%sEvolve or Initial share a map, slice or pointer between states; copy it before changing it", i, show(c), changed)
	}
	if !reflect.DeepEqual(r.live, replayed) {
		return nil, fmt.Sprintf("after command %d, %s, the live and replayed states differ (- live, + replayed):\n%s\nhistory: %s", i, show(c), diffValues(r.live, replayed), lines(r.history))
	}
	again, err := d.Decide(c, d.Replay(r.history[:len(r.history)-len(events)]))
	if err != nil || !reflect.DeepEqual(again, events) {
		return nil, fmt.Sprintf("command %d, %s, decided twice on equal states gave %s, then %s (error %v); Decide must depend only on the command and the state", i, show(c), lines(events), lines(again), err)
	}
	return events, ""
}

// siblings evolves parent by the events that c, command i, decided and,
// from the same parent, by those another command decides, and describes
// how one evolution changed the other's result, or returns "".
func (r *liveRun[C, E, S]) siblings(i int, parent S, c C, events []E, other C) string {
	otherEvents, err := r.d.Decide(other, parent)
	if err != nil || len(events) == 0 || len(otherEvents) == 0 {
		return ""
	}
	if msg := siblingMismatch(r.d.Evolve, parent, events, otherEvents); msg != "" {
		return fmt.Sprintf("command %d, %s, and another command on the same state, %s: %s", i, show(c), show(other), msg)
	}
	return ""
}

// siblingMismatch folds parent by a and then, from the same parent, by b,
// and the other way round, and describes how one fold changed the other's
// result or the parent, or returns "".
func siblingMismatch[S, E any](evolve func(S, E) S, parent S, a, b []E) string {
	fold := func(s S, events []E) S {
		for _, e := range events {
			s = evolve(s, e)
		}
		return s
	}
	for _, order := range [][2][]E{{a, b}, {b, a}} {
		parentBefore := fieldLines(parent)
		first := fold(parent, order[0])
		firstBefore := fieldLines(first)
		fold(parent, order[1])
		if changed := diff(firstBefore, fieldLines(first)); changed != "" {
			return fmt.Sprintf("evolving one state by %s and then the same state by %s changed the first result (- before, + after):\n%sthe two results share memory: an append into the spare capacity of a slice, or a map or pointer changed in place; copy it before changing it (slices.Clip before append)",
				lines(order[0]), lines(order[1]), changed)
		}
		if changed := diff(parentBefore, fieldLines(parent)); changed != "" {
			return fmt.Sprintf("evolving by %s changed the state it was given (- before, + after):\n%s", lines(order[1]), changed)
		}
	}
	return ""
}
