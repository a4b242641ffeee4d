package decider_test

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
)

// The law of FanOut: a fanned-out command is its parts decided one after
// another by the Many decider, each on the state the earlier parts led
// to, and its events are theirs; when a part is rejected, the whole is
// rejected with that part's error and decides nothing. The state the
// caller held does not change.

type fanOutInput struct {
	History []decider.Keyed[string, counterEvent]
	Parts   []decider.Keyed[string, counterCmd]
}

var fanOutInputs = rapid.Custom(func(t *rapid.T) fanOutInput {
	return fanOutInput{
		History: rapid.SliceOfN(keyed(counterEvents), 0, maxHistory).Draw(t, "history"),
		Parts:   rapid.SliceOfN(keyed(counterCmds), 0, 4).Draw(t, "parts"),
	}
})

type fanOutDecider = decider.Decider[[]decider.Keyed[string, counterCmd], decider.Keyed[string, counterEvent], map[string]counterState]

// parts is the split of a command that is its parts already.
func parts(c []decider.Keyed[string, counterCmd]) []decider.Keyed[string, counterCmd] { return c }

func checkFanOut(f fanOutDecider, m manyDecider[counterCmd, counterEvent, counterState], in fanOutInput) string {
	state := m.Replay(in.History)
	held := maps.Clone(state)
	got, err := f.Decide(in.Parts, state)
	if !reflect.DeepEqual(state, held) {
		return fmt.Sprintf("deciding %v changed the state the caller held from %v to %v", in.Parts, held, state)
	}
	s := state
	var want []decider.Keyed[string, counterEvent]
	for i, part := range in.Parts {
		events, next, stepErr := m.Step(s, part)
		if stepErr != nil {
			switch {
			case err == nil:
				return fmt.Sprintf("%v after %v: accepted with %v, but part %d (%v) is rejected: %v", in.Parts, in.History, got, i, part, stepErr)
			case !strings.HasSuffix(err.Error(), stepErr.Error()) || !strings.Contains(err.Error(), part.Key):
				return fmt.Sprintf("%v after %v: rejected with %q, want part %d's rejection %q with its key", in.Parts, in.History, err, i, stepErr)
			case len(got) > 0:
				return fmt.Sprintf("%v after %v: rejected (%v) but decided %v; a rejection decides nothing", in.Parts, in.History, err, got)
			}
			return ""
		}
		want, s = append(want, events...), next
	}
	if err != nil {
		return fmt.Sprintf("%v after %v: rejected with %v, but every part is accepted in turn", in.Parts, in.History, err)
	}
	if !sameEvents(got, want) {
		return fmt.Sprintf("%v after %v: events %v, the parts in turn decide %v", in.Parts, in.History, got, want)
	}
	if next := f.Fold(state, got); !reflect.DeepEqual(next, s) {
		return fmt.Sprintf("%v after %v: reaches %v, the parts in turn reach %v", in.Parts, in.History, next, s)
	}
	return ""
}

func TestFanOutLaw(t *testing.T) {
	m := decider.Many[string](counter)
	lawHolds(t, fanOutInputs, func(in fanOutInput) string { return checkFanOut(decider.FanOut(m, parts), m, in) })
}

func TestFanOutLawCatchesABrokenFanOut(t *testing.T) {
	m := decider.Many[string](counter)
	t.Run("every part decided on the state before the command", func(t *testing.T) {
		stale := decider.FanOut(m, parts)
		stale.Decide = func(c []decider.Keyed[string, counterCmd], s map[string]counterState) ([]decider.Keyed[string, counterEvent], error) {
			var all []decider.Keyed[string, counterEvent]
			for _, part := range c {
				events, err := m.Decide(part, s)
				if err != nil {
					return nil, fmt.Errorf("instance %v: %w", part.Key, err)
				}
				all = append(all, events...)
			}
			return all, nil
		}
		lawCatches(t, fanOutInputs, func(in fanOutInput) string { return checkFanOut(stale, m, in) })
	})
	t.Run("the parts before a rejection kept", func(t *testing.T) {
		partial := decider.FanOut(m, parts)
		good := partial.Decide
		partial.Decide = func(c []decider.Keyed[string, counterCmd], s map[string]counterState) ([]decider.Keyed[string, counterEvent], error) {
			for i := range c {
				if _, err := good(c[:i+1], s); err != nil {
					events, _ := good(c[:i], s)
					return events, err
				}
			}
			return good(c, s)
		}
		lawCatches(t, fanOutInputs, func(in fanOutInput) string { return checkFanOut(partial, m, in) })
	})
}

func TestFanOutRejectionSaysWhichInstance(t *testing.T) {
	m := decider.Many[string](counter)
	f := decider.FanOut(m, parts)
	state := m.Replay([]decider.Keyed[string, counterEvent]{{Key: "b", Value: counterEvent{Op: "sealed"}}})
	_, err := f.Decide([]decider.Keyed[string, counterCmd]{{Key: "a", Value: counterCmd{Op: "inc", By: 1}}, {Key: "b", Value: counterCmd{Op: "inc", By: 1}}}, state)
	if !errors.Is(err, errSealed) || !strings.Contains(err.Error(), `instance b`) {
		t.Errorf("error %v, want instance b's %v", err, errSealed)
	}
}
