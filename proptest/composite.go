package proptest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/decider"
)

// CompositeEqualsPure checks, for any sequence of commands drawn from
// commands, that a composite stored one stream per instance
// ([annals.Composite]) behaves as the pure composition d it runs: every
// command is decided alike by both (the same events, or a rejection with
// the same message, and nothing stored), and after each command the
// instances of the pure fold's state load back from their streams
// (past a cache of [annals.WithCache], see [annals.Composite.Load])
// exactly as the fold has them. It catches parts built from other
// deciders than d combines, streams of two kinds that meet, and events
// or states that do not survive the store.
//
// newComposite returns the composite of one run, built on streams that
// no other run writes (a stream prefix per run) or on a store of its own,
// since each run starts from d's initial state. d may be a
// [decider.Decider] or the value decider.Combine3 to Combine6 returns.
// Commands are drawn as [ReplayEqualsLive] draws them; commands that
// depend on the state see the pure one.
//
// It takes testing.TB, not [T]: it is a whole property and runs
// rapid.Check itself, so a test calls it, never another property.
func CompositeEqualsPure[C, E, S any, G Commands[C, S]](t testing.TB, d decider.Stepper[C, E, S], newComposite func(t *rapid.T) *annals.Composite[C, E, S], commands G, opts ...Option) {
	t.Helper()
	next, o := nextCommand[C, S](commands), configure(opts)
	ctx := context.Background()
	rapid.Check(t, func(t *rapid.T) {
		stored, pure := newComposite(t), d.InitialState()
		for i := range drawLength(t, o) {
			c := next(t, pure)
			events, after, rejection := d.Step(pure, c)
			res, err := stored.Handle(ctx, c)
			switch {
			case rejection != nil && !errors.Is(err, annals.ErrRejected):
				t.Fatalf("command %d, %s: the pure composition rejects it (%v), and the stored one says %v", i, show(c), rejection, err)
			case rejection != nil && err.Error() != rejection.Error():
				t.Fatalf("command %d, %s: the pure composition rejects it with %q, and the stored one with %q", i, show(c), rejection, err)
			case rejection == nil && err != nil:
				t.Fatalf("command %d, %s: the pure composition decides %s, and the stored one fails: %v", i, show(c), lines(events), err)
			case rejection == nil && !sameList(events, res.Events):
				t.Fatalf("command %d, %s: the pure composition and the stored one decide apart (- pure, + stored):\n%s", i, show(c), diffLists(events, res.Events))
			}
			pure = after
			loaded, err := stored.Load(ctx, pure)
			if err != nil {
				t.Fatalf("after command %d, %s: load the instances back: %v", i, show(c), err)
			}
			if !reflect.DeepEqual(loaded, pure) {
				t.Fatalf("after command %d, %s, the instances load back from the store other than the pure fold has them (- pure, + stored):\n%s", i, show(c), diffValues(pure, loaded))
			}
		}
	})
}
