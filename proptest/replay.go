package proptest

import (
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
)

// MaxCommands is the longest command sequence [ReplayEqualsLive] draws.
const MaxCommands = 60

// ReplayEqualsLive checks, for any sequence of commands drawn from
// command, that running the decider live — deciding each command on the
// current state and evolving by the events — reaches the state that a
// replay of all the events emitted reaches from the initial state, and
// that deciding each command again on the replayed state gives the same
// events. Rejected commands must emit nothing.
//
// A decider fails it when it is not pure: when Evolve changes the state it
// is given, when Evolve or Initial share mutable values (maps, slices)
// between states, or when Decide or Evolve read anything but their
// arguments. States and events are compared with
// reflect.DeepEqual, so unexported fields count.
func ReplayEqualsLive[C, E, S any](t *testing.T, d decider.Decider[C, E, S], command *rapid.Generator[C]) {
	t.Helper()
	rapid.Check(t, func(t *rapid.T) {
		// rapid's own slice lengths average about four, too few to reach
		// the states where rules bite; draw the length first to spread it
		// over the whole range.
		n := rapid.IntRange(0, MaxCommands).Draw(t, "length")
		commands := rapid.SliceOfN(command, n, n).Draw(t, "commands")
		if msg := replayMismatch(d, commands); msg != "" {
			t.Fatal(msg)
		}
	})
}

// replayMismatch runs commands live and by replay and describes the first
// difference, or returns "".
func replayMismatch[C, E, S any](d decider.Decider[C, E, S], commands []C) string {
	live := d.InitialState()
	var history []E
	for i, c := range commands {
		events, err := d.Decide(c, live)
		if err != nil {
			if len(events) > 0 {
				return fmt.Sprintf("command %d (%+v) was rejected (%v) but also emitted %d events; a rejection must emit nothing", i, c, err, len(events))
			}
			continue
		}
		// Evolve must leave the state it starts from as it was: the runner
		// retries and caches from states it already holds.
		from := fmt.Sprintf("%#v", live)
		next := d.Fold(live, events)
		if after := fmt.Sprintf("%#v", live); after != from {
			return fmt.Sprintf("command %d (%+v): evolving by %+v changed the state it started from, from\n%s\nto\n%s\nEvolve must copy a map, slice or pointer before changing it", i, c, events, from, after)
		}
		live = next
		history = append(history, events...)

		// Render the live state before replaying: a replay that changes it
		// shares mutable values with it.
		before := fmt.Sprintf("%#v", live)
		replayed := d.Replay(history)
		if after := fmt.Sprintf("%#v", live); after != before {
			return fmt.Sprintf("after command %d (%+v), replaying the history changed the live state from\n%s\nto\n%s\nEvolve or Initial share a map, slice or pointer between states; copy it before changing it", i, c, before, after)
		}
		if !reflect.DeepEqual(live, replayed) {
			return fmt.Sprintf("after command %d (%+v):\nlive state:     %+v\nreplayed state: %+v\nhistory: %+v", i, c, live, replayed, history)
		}
		again, err := d.Decide(c, d.Replay(history[:len(history)-len(events)]))
		if err != nil || !reflect.DeepEqual(again, events) {
			return fmt.Sprintf("command %d (%+v) decided twice on equal states gave %+v, then %+v (error %v); Decide must depend only on the command and the state", i, c, events, again, err)
		}
	}
	return ""
}
