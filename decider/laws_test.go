package decider_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
)

// The laws of the combinators, as properties.
//
// Each law is a check function that takes the decider under test and one
// drawn input, and returns a description of what went wrong, or "". The
// property tests run a check on the real combinators; the tests named
// ...Catches... run the same check on a deliberately broken combinator and
// require it to report a failure, so that no law passes only because it
// cannot fail.

// lawHolds checks the law on inputs drawn by rapid, which shrinks any
// counterexample it finds.
func lawHolds[V any](t *testing.T, inputs *rapid.Generator[V], check func(V) string) {
	t.Helper()
	rapid.Check(t, func(t *rapid.T) {
		if msg := check(inputs.Draw(t, "input")); msg != "" {
			t.Fatal(msg)
		}
	})
}

// lawCatches requires the law to report a failure on one of the first
// examples the generator gives for fixed seeds, so it is deterministic.
func lawCatches[V any](t *testing.T, inputs *rapid.Generator[V], check func(V) string) {
	t.Helper()
	const examples = 1000
	for seed := range examples {
		if msg := check(inputs.Example(seed)); msg != "" {
			t.Logf("caught on example %d: %s", seed, msg)
			return
		}
	}
	t.Fatalf("the law found nothing wrong with a broken combinator in %d examples", examples)
}

// ---- Combine ----

type combined[C1, E1, S1, C2, E2, S2 any] = decider.Decider[decider.Either[C1, C2], decider.Either[E1, E2], decider.Pair[S1, S2]]

// A combineInput is a mixed history and one command for each side.
type combineInput[C1, E1, C2, E2 any] struct {
	History []decider.Either[E1, E2]
	Left    C1
	Right   C2
}

func combineInputs[C1, E1, C2, E2 any](c1 *rapid.Generator[C1], e1 *rapid.Generator[E1], c2 *rapid.Generator[C2], e2 *rapid.Generator[E2]) *rapid.Generator[combineInput[C1, E1, C2, E2]] {
	return rapid.Custom(func(t *rapid.T) combineInput[C1, E1, C2, E2] {
		return combineInput[C1, E1, C2, E2]{
			History: rapid.SliceOfN(eithers(e1, e2), 0, maxHistory).Draw(t, "history"),
			Left:    c1.Draw(t, "left"),
			Right:   c2.Draw(t, "right"),
		}
	})
}

func split[L, R any](history []decider.Either[L, R]) (lefts []L, rights []R) {
	lefts = lo.FilterMap(history, func(e decider.Either[L, R], _ int) (L, bool) { return e.Left() })
	rights = lo.FilterMap(history, func(e decider.Either[L, R], _ int) (R, bool) { return e.Right() })
	return lefts, rights
}

// Replaying a mixed history and projecting gives each decider's replay of
// its own events.
func checkCombineReplay[C1, E1, S1, C2, E2, S2 any](ab combined[C1, E1, S1, C2, E2, S2], a decider.Decider[C1, E1, S1], b decider.Decider[C2, E2, S2], in combineInput[C1, E1, C2, E2]) string {
	lefts, rights := split(in.History)
	got := ab.Replay(in.History)
	want := decider.Pair[S1, S2]{First: a.Replay(lefts), Second: b.Replay(rights)}
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("replaying %v on the combined decider gives %+v; each decider replaying its own events gives %+v", in.History, got, want)
	}
	return ""
}

// The combined decider is terminal exactly when both parts are.
func checkCombineTerminal[C1, E1, S1, C2, E2, S2 any](ab combined[C1, E1, S1, C2, E2, S2], a decider.Decider[C1, E1, S1], b decider.Decider[C2, E2, S2], in combineInput[C1, E1, C2, E2]) string {
	lefts, rights := split(in.History)
	s := decider.Pair[S1, S2]{First: a.Replay(lefts), Second: b.Replay(rights)}
	if got, want := ab.Terminal(s), a.Terminal(s.First) && b.Terminal(s.Second); got != want {
		return fmt.Sprintf("in state %+v the combined decider says terminal=%t; left terminal=%t and right terminal=%t", s, got, a.Terminal(s.First), b.Terminal(s.Second))
	}
	return ""
}

// A Left command is decided by the left decider alone on the First part,
// with the same events (wrapped Left) and the same error, and the events
// leave the Second part untouched.
func checkCombineLeft[C1, E1, S1, C2, E2, S2 any](ab combined[C1, E1, S1, C2, E2, S2], a decider.Decider[C1, E1, S1], b decider.Decider[C2, E2, S2], in combineInput[C1, E1, C2, E2]) string {
	lefts, rights := split(in.History)
	s := decider.Pair[S1, S2]{First: a.Replay(lefts), Second: b.Replay(rights)}
	got, err := ab.Decide(decider.Left[C1, C2](in.Left), s)
	want, wantErr := a.Decide(in.Left, s.First)
	if !sameError(err, wantErr) {
		return fmt.Sprintf("Left(%+v) in %+v: error %v, the left decider alone says %v", in.Left, s, err, wantErr)
	}
	if !sameEvents(got, lo.Map(want, noIndex(decider.Left[E1, E2]))) {
		return fmt.Sprintf("Left(%+v) in %+v: events %v, the left decider alone decides %+v", in.Left, s, got, want)
	}
	if err != nil {
		return ""
	}
	next := ab.Fold(s, got)
	if !reflect.DeepEqual(next.Second, s.Second) {
		return fmt.Sprintf("Left(%+v) in %+v: its events changed the Second part to %+v", in.Left, s, next.Second)
	}
	if wantFirst := a.Fold(s.First, want); !reflect.DeepEqual(next.First, wantFirst) {
		return fmt.Sprintf("Left(%+v) in %+v: First part %+v, the left decider alone reaches %+v", in.Left, s, next.First, wantFirst)
	}
	return ""
}

// The mirror of checkCombineLeft for Right commands.
func checkCombineRight[C1, E1, S1, C2, E2, S2 any](ab combined[C1, E1, S1, C2, E2, S2], a decider.Decider[C1, E1, S1], b decider.Decider[C2, E2, S2], in combineInput[C1, E1, C2, E2]) string {
	lefts, rights := split(in.History)
	s := decider.Pair[S1, S2]{First: a.Replay(lefts), Second: b.Replay(rights)}
	got, err := ab.Decide(decider.Right[C1](in.Right), s)
	want, wantErr := b.Decide(in.Right, s.Second)
	if !sameError(err, wantErr) {
		return fmt.Sprintf("Right(%+v) in %+v: error %v, the right decider alone says %v", in.Right, s, err, wantErr)
	}
	if !sameEvents(got, lo.Map(want, noIndex(decider.Right[E1, E2]))) {
		return fmt.Sprintf("Right(%+v) in %+v: events %v, the right decider alone decides %+v", in.Right, s, got, want)
	}
	if err != nil {
		return ""
	}
	next := ab.Fold(s, got)
	if !reflect.DeepEqual(next.First, s.First) {
		return fmt.Sprintf("Right(%+v) in %+v: its events changed the First part to %+v", in.Right, s, next.First)
	}
	if wantSecond := b.Fold(s.Second, want); !reflect.DeepEqual(next.Second, wantSecond) {
		return fmt.Sprintf("Right(%+v) in %+v: Second part %+v, the right decider alone reaches %+v", in.Right, s, next.Second, wantSecond)
	}
	return ""
}

// combineLaws runs every Combine law on Combine(a, b).
func combineLaws[C1, E1, S1, C2, E2, S2 any](t *testing.T, a decider.Decider[C1, E1, S1], b decider.Decider[C2, E2, S2], inputs *rapid.Generator[combineInput[C1, E1, C2, E2]]) {
	ab := decider.Combine(a, b)
	laws := map[string]func(combined[C1, E1, S1, C2, E2, S2], decider.Decider[C1, E1, S1], decider.Decider[C2, E2, S2], combineInput[C1, E1, C2, E2]) string{
		"left command":       checkCombineLeft[C1, E1, S1, C2, E2, S2],
		"right command":      checkCombineRight[C1, E1, S1, C2, E2, S2],
		"replay projects":    checkCombineReplay[C1, E1, S1, C2, E2, S2],
		"terminal when both": checkCombineTerminal[C1, E1, S1, C2, E2, S2],
	}
	for name, law := range laws {
		t.Run(name, func(t *testing.T) {
			lawHolds(t, inputs, func(in combineInput[C1, E1, C2, E2]) string { return law(ab, a, b, in) })
		})
	}
}

var (
	counterTallyInputs   = combineInputs(counterCmds, counterEvents, tallyCmds, tallyEvents)
	counterCounterInputs = combineInputs(counterCmds, counterEvents, counterCmds, counterEvents)
)

func TestCombineLaws(t *testing.T) {
	t.Run("counter and tally", func(t *testing.T) { combineLaws(t, counter, tally, counterTallyInputs) })
	t.Run("tally and counter", func(t *testing.T) {
		combineLaws(t, tally, counter, combineInputs(tallyCmds, tallyEvents, counterCmds, counterEvents))
	})
	// Both sides can be terminal, so the conjunction is tested both ways.
	t.Run("counter and counter", func(t *testing.T) { combineLaws(t, counter, counter, counterCounterInputs) })
}

// evolveBoth is a broken Combine: an event of either side evolves both
// parts of the state.
func evolveBoth[C, E, S any](a, b decider.Decider[C, E, S]) combined[C, E, S, C, E, S] {
	d := decider.Combine(a, b)
	d.Evolve = func(s decider.Pair[S, S], e decider.Either[E, E]) decider.Pair[S, S] {
		v, ok := e.Left()
		if !ok {
			v, _ = e.Right()
		}
		return decider.Pair[S, S]{First: a.Evolve(s.First, v), Second: b.Evolve(s.Second, v)}
	}
	return d
}

// eitherTerminal is a broken Combine: terminal when either part is.
func eitherTerminal[C1, E1, S1, C2, E2, S2 any](a decider.Decider[C1, E1, S1], b decider.Decider[C2, E2, S2]) combined[C1, E1, S1, C2, E2, S2] {
	d := decider.Combine(a, b)
	d.IsTerminal = func(s decider.Pair[S1, S2]) bool { return a.Terminal(s.First) || b.Terminal(s.Second) }
	return d
}

func TestCombineLawsCatchABrokenCombine(t *testing.T) {
	broken := evolveBoth(counter, counter)
	t.Run("evolving both sides breaks replay", func(t *testing.T) {
		lawCatches(t, counterCounterInputs, func(in combineInput[counterCmd, counterEvent, counterCmd, counterEvent]) string {
			return checkCombineReplay(broken, counter, counter, in)
		})
	})
	t.Run("evolving both sides breaks a left command", func(t *testing.T) {
		lawCatches(t, counterCounterInputs, func(in combineInput[counterCmd, counterEvent, counterCmd, counterEvent]) string {
			return checkCombineLeft(broken, counter, counter, in)
		})
	})
	t.Run("terminal when either side is", func(t *testing.T) {
		d := eitherTerminal(counter, tally)
		lawCatches(t, counterTallyInputs, func(in combineInput[counterCmd, counterEvent, tallyCmd, tallyEvent]) string {
			return checkCombineTerminal(d, counter, tally, in)
		})
	})
}

// ---- Behaving as another decider: Neutral and the maps ----

// An embedding says how the commands, events and state of a decider d show
// in a decider d2 that should behave as d: command and event carry d's
// values into d2, state projects d2's state back onto d's.
type embedding[C, E, S, C2, E2, S2 any] struct {
	command func(C) C2
	event   func(E) E2
	state   func(S2) S
}

func same[C, E, S any]() embedding[C, E, S, C, E, S] {
	return embedding[C, E, S, C, E, S]{command: identity[C], event: identity[E], state: identity[S]}
}

// A runInput is a history to start from and commands to run after it.
type runInput[C, E any] struct {
	History  []E
	Commands []C
}

func runInputs[C, E any](commands *rapid.Generator[C], events *rapid.Generator[E]) *rapid.Generator[runInput[C, E]] {
	return rapid.Custom(func(t *rapid.T) runInput[C, E] {
		return runInput[C, E]{
			History:  rapid.SliceOfN(events, 0, maxHistory).Draw(t, "history"),
			Commands: rapid.SliceOfN(commands, 0, 20).Draw(t, "commands"),
		}
	})
}

func withCommands[C, C2, E any](in runInput[C, E], f func(C) C2) runInput[C2, E] {
	return runInput[C2, E]{History: in.History, Commands: lo.Map(in.Commands, noIndex(f))}
}

func withHistory[C, E, E2 any](in runInput[C, E], f func(E) E2) runInput[C, E2] {
	return runInput[C, E2]{History: lo.Map(in.History, noIndex(f)), Commands: in.Commands}
}

// checkBehavesAs replays the history on d and (embedded) on d2, then runs
// the commands on both, and requires the same initial state, the same
// events, the same errors, the same states and the same terminal flags at
// every step, up to the embedding.
func checkBehavesAs[C, E, S, C2, E2, S2 any](d2 decider.Decider[C2, E2, S2], d decider.Decider[C, E, S], via embedding[C, E, S, C2, E2, S2], in runInput[C, E]) string {
	if got, want := via.state(d2.InitialState()), d.InitialState(); !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("initial state %+v, want %+v", got, want)
	}
	s, s2 := d.Replay(in.History), d2.Replay(lo.Map(in.History, noIndex(via.event)))
	compare := func(when string) string {
		if got := via.state(s2); !reflect.DeepEqual(got, s) {
			return fmt.Sprintf("%s: state %+v, want %+v", when, got, s)
		}
		if got, want := d2.Terminal(s2), d.Terminal(s); got != want {
			return fmt.Sprintf("%s: in state %+v terminal=%t, want %t", when, s, got, want)
		}
		return ""
	}
	if msg := compare(fmt.Sprintf("after replaying %+v", in.History)); msg != "" {
		return msg
	}
	for i, c := range in.Commands {
		events, err := d.Decide(c, s)
		events2, err2 := d2.Decide(via.command(c), s2)
		if !sameError(err2, err) {
			return fmt.Sprintf("command %d (%+v) in state %+v: error %v, want %v", i, c, s, err2, err)
		}
		if want := lo.Map(events, noIndex(via.event)); !sameEvents(events2, want) {
			return fmt.Sprintf("command %d (%+v) in state %+v: events %+v, want %+v", i, c, s, events2, want)
		}
		if err != nil {
			continue
		}
		s, s2 = d.Fold(s, events), d2.Fold(s2, events2)
		if msg := compare(fmt.Sprintf("after command %d (%+v)", i, c)); msg != "" {
			return msg
		}
	}
	return ""
}

type none = struct{}

// leftOf embeds d as the Left side of Combine(d, other).
func leftOf[C, E, S, C2, E2, S2 any]() embedding[C, E, S, decider.Either[C, C2], decider.Either[E, E2], decider.Pair[S, S2]] {
	return embedding[C, E, S, decider.Either[C, C2], decider.Either[E, E2], decider.Pair[S, S2]]{
		command: decider.Left[C, C2],
		event:   decider.Left[E, E2],
		state:   func(p decider.Pair[S, S2]) S { return p.First },
	}
}

// rightOf embeds d as the Right side of Combine(other, d).
func rightOf[C, E, S, C1, E1, S1 any]() embedding[C, E, S, decider.Either[C1, C], decider.Either[E1, E], decider.Pair[S1, S]] {
	return embedding[C, E, S, decider.Either[C1, C], decider.Either[E1, E], decider.Pair[S1, S]]{
		command: decider.Right[C1, C],
		event:   decider.Right[E1, E],
		state:   func(p decider.Pair[S1, S]) S { return p.Second },
	}
}

var (
	counterRuns = runInputs(counterCmds, counterEvents)
	tallyRuns   = runInputs(tallyCmds, tallyEvents)
)

func TestNeutralIsAnIdentityOfCombine(t *testing.T) {
	t.Run("counter, Neutral", func(t *testing.T) {
		d := decider.Combine(counter, decider.Neutral[none, none]())
		via := leftOf[counterCmd, counterEvent, counterState, none, none, none]()
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string { return checkBehavesAs(d, counter, via, in) })
	})
	t.Run("Neutral, counter", func(t *testing.T) {
		d := decider.Combine(decider.Neutral[none, none](), counter)
		via := rightOf[counterCmd, counterEvent, counterState, none, none, none]()
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string { return checkBehavesAs(d, counter, via, in) })
	})
	// tally has no IsTerminal: the combination must not become terminal.
	t.Run("tally, Neutral", func(t *testing.T) {
		d := decider.Combine(tally, decider.Neutral[none, none]())
		via := leftOf[tallyCmd, tallyEvent, tallyState, none, none, none]()
		lawHolds(t, tallyRuns, func(in runInput[tallyCmd, tallyEvent]) string { return checkBehavesAs(d, tally, via, in) })
	})
	t.Run("Neutral, tally", func(t *testing.T) {
		d := decider.Combine(decider.Neutral[none, none](), tally)
		via := rightOf[tallyCmd, tallyEvent, tallyState, none, none, none]()
		lawHolds(t, tallyRuns, func(in runInput[tallyCmd, tallyEvent]) string { return checkBehavesAs(d, tally, via, in) })
	})
}

func TestNeutralLawCatchesANeutralThatIsNeverTerminal(t *testing.T) {
	// A neutral element that is not terminal keeps every combination alive
	// after its real part has finished.
	endless := decider.Neutral[none, none]()
	endless.IsTerminal = nil
	d := decider.Combine(counter, endless)
	via := leftOf[counterCmd, counterEvent, counterState, none, none, none]()
	lawCatches(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string { return checkBehavesAs(d, counter, via, in) })
}

// Isomorphisms for the map laws: commands as text, events as numbers,
// states as a differently shaped struct or a sorted list.

func cmdText(c counterCmd) string { return c.Op + ":" + strconv.Itoa(c.By) }

func parseCmd(s string) counterCmd {
	op, by, _ := strings.Cut(s, ":")
	n, _ := strconv.Atoi(by)
	return counterCmd{Op: op, By: n}
}

type boxed struct{ Text string }

func box(s string) boxed   { return boxed{Text: s} }
func unbox(b boxed) string { return b.Text }
func eventCode(e counterEvent) int {
	switch e.Op {
	case "incremented":
		return 1
	case "decremented":
		return -1
	}
	return 0
}

func codeEvent(n int) counterEvent {
	switch n {
	case 1:
		return counterEvent{Op: "incremented"}
	case -1:
		return counterEvent{Op: "decremented"}
	}
	return counterEvent{Op: "sealed"}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

type counterView struct {
	Count int
	Open  bool
}

func toView(s counterState) counterView   { return counterView{Count: s.N, Open: !s.Sealed} }
func fromView(v counterView) counterState { return counterState{N: v.Count, Sealed: !v.Open} }
func viewText(v counterView) string       { return fmt.Sprintf("%d/%t", v.Count, v.Open) }

func parseView(s string) counterView {
	var v counterView
	fmt.Sscanf(s, "%d/%t", &v.Count, &v.Open)
	return v
}

type optionVotes struct {
	Option string
	Votes  int
}

func toList(s tallyState) []optionVotes {
	return lo.Map(slices.Sorted(maps.Keys(s)), func(k string, _ int) optionVotes { return optionVotes{Option: k, Votes: s[k]} })
}

func fromList(l []optionVotes) tallyState {
	return lo.SliceToMap(l, func(o optionVotes) (string, int) { return o.Option, o.Votes })
}

func TestMapsByIdentityChangeNothing(t *testing.T) {
	check := func(d decider.Decider[counterCmd, counterEvent, counterState]) func(runInput[counterCmd, counterEvent]) string {
		return func(in runInput[counterCmd, counterEvent]) string {
			return checkBehavesAs(d, counter, same[counterCmd, counterEvent, counterState](), in)
		}
	}
	t.Run("MapCommand", func(t *testing.T) { lawHolds(t, counterRuns, check(decider.MapCommand(counter, identity[counterCmd]))) })
	t.Run("MapEvent", func(t *testing.T) {
		lawHolds(t, counterRuns, check(decider.MapEvent(counter, identity[counterEvent], identity[counterEvent])))
	})
	t.Run("MapState", func(t *testing.T) {
		lawHolds(t, counterRuns, check(decider.MapState(counter, identity[counterState], identity[counterState])))
	})
	t.Run("MapState without IsTerminal", func(t *testing.T) {
		d := decider.MapState(tally, identity[tallyState], identity[tallyState])
		lawHolds(t, tallyRuns, func(in runInput[tallyCmd, tallyEvent]) string {
			return checkBehavesAs(d, tally, same[tallyCmd, tallyEvent, tallyState](), in)
		})
	})
}

func TestMapsByAnIsomorphismChangeNothingButTheShape(t *testing.T) {
	t.Run("MapCommand", func(t *testing.T) {
		d := decider.MapCommand(counter, parseCmd)
		via := embedding[counterCmd, counterEvent, counterState, string, counterEvent, counterState]{command: cmdText, event: identity[counterEvent], state: identity[counterState]}
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string { return checkBehavesAs(d, counter, via, in) })
	})
	t.Run("MapEvent", func(t *testing.T) {
		d := decider.MapEvent(counter, eventCode, codeEvent)
		via := embedding[counterCmd, counterEvent, counterState, counterCmd, int, counterState]{command: identity[counterCmd], event: eventCode, state: identity[counterState]}
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string { return checkBehavesAs(d, counter, via, in) })
	})
	t.Run("MapState", func(t *testing.T) {
		d := decider.MapState(counter, toView, fromView)
		via := embedding[counterCmd, counterEvent, counterState, counterCmd, counterEvent, counterView]{command: identity[counterCmd], event: identity[counterEvent], state: fromView}
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string { return checkBehavesAs(d, counter, via, in) })
	})
	t.Run("MapState of a map state, without IsTerminal", func(t *testing.T) {
		d := decider.MapState(tally, toList, fromList)
		via := embedding[tallyCmd, tallyEvent, tallyState, tallyCmd, tallyEvent, []optionVotes]{command: identity[tallyCmd], event: identity[tallyEvent], state: fromList}
		lawHolds(t, tallyRuns, func(in runInput[tallyCmd, tallyEvent]) string { return checkBehavesAs(d, tally, via, in) })
	})
}

func TestMapStateLawCatchesALostIsTerminal(t *testing.T) {
	d := decider.MapState(counter, toView, fromView)
	d.IsTerminal = nil
	via := embedding[counterCmd, counterEvent, counterState, counterCmd, counterEvent, counterView]{command: identity[counterCmd], event: identity[counterEvent], state: fromView}
	lawCatches(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string { return checkBehavesAs(d, counter, via, in) })
}

func TestMapsCompose(t *testing.T) {
	t.Run("MapCommand", func(t *testing.T) {
		twice := decider.MapCommand(decider.MapCommand(counter, parseCmd), unbox)
		once := decider.MapCommand(counter, func(b boxed) counterCmd { return parseCmd(unbox(b)) })
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string {
			return checkBehavesAs(twice, once, same[boxed, counterEvent, counterState](), withCommands(in, func(c counterCmd) boxed { return box(cmdText(c)) }))
		})
	})
	t.Run("MapEvent", func(t *testing.T) {
		twice := decider.MapEvent(decider.MapEvent(counter, eventCode, codeEvent), strconv.Itoa, atoi)
		to := func(e counterEvent) string { return strconv.Itoa(eventCode(e)) }
		once := decider.MapEvent(counter, to, func(s string) counterEvent { return codeEvent(atoi(s)) })
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string {
			return checkBehavesAs(twice, once, same[counterCmd, string, counterState](), withHistory(in, to))
		})
	})
	t.Run("MapState", func(t *testing.T) {
		twice := decider.MapState(decider.MapState(counter, toView, fromView), viewText, parseView)
		once := decider.MapState(counter, func(s counterState) string { return viewText(toView(s)) }, func(s string) counterState { return fromView(parseView(s)) })
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string {
			return checkBehavesAs(twice, once, same[counterCmd, counterEvent, string](), in)
		})
	})
}

// ---- Many ----

type manyDecider[C, E, S any] = decider.Decider[decider.Keyed[string, C], decider.Keyed[string, E], map[string]S]

// A manyInput is a history of events addressed to keys and one command.
type manyInput[C, E any] struct {
	History []decider.Keyed[string, E]
	Command decider.Keyed[string, C]
}

func manyInputs[C, E any](commands *rapid.Generator[C], events *rapid.Generator[E]) *rapid.Generator[manyInput[C, E]] {
	return rapid.Custom(func(t *rapid.T) manyInput[C, E] {
		return manyInput[C, E]{
			History: rapid.SliceOfN(keyed(events), 0, maxHistory).Draw(t, "history"),
			Command: keyed(commands).Draw(t, "command"),
		}
	})
}

func eventsOf[E any](history []decider.Keyed[string, E], key string) []E {
	return lo.FilterMap(history, func(e decider.Keyed[string, E], _ int) (E, bool) { return e.Value, e.Key == key })
}

// instance is the state of key's instance: its entry, or the initial state.
func instance[C, E, S any](d decider.Decider[C, E, S], m map[string]S, key string) S {
	return lo.ValueOr(m, key, d.InitialState())
}

// The state of each key's instance is the replay of that key's events
// alone, whatever the other keys did and whether or not it is terminal.
func checkManyReplay[C, E, S any](m manyDecider[C, E, S], d decider.Decider[C, E, S], in manyInput[C, E]) string {
	state := m.Replay(in.History)
	for _, k := range instanceKeys {
		own := eventsOf(in.History, k)
		if got, want := instance(d, state, k), d.Replay(own); !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("after %+v instance %q is in state %+v; replaying its own events %+v gives %+v", in.History, k, got, own, want)
		}
	}
	return ""
}

// A command for key k is decided by k's instance on k's state, as the
// decider alone would on k's events; its events are addressed to k and
// change k's state only; the state the caller held is not changed.
func checkManyDecide[C, E, S any](m manyDecider[C, E, S], d decider.Decider[C, E, S], in manyInput[C, E]) string {
	k := in.Command.Key
	state := m.Replay(in.History)
	held := maps.Clone(state)
	own := d.Replay(eventsOf(in.History, k))
	got, err := m.Decide(in.Command, state)
	want, wantErr := d.Decide(in.Command.Value, own)
	if !sameError(err, wantErr) {
		return fmt.Sprintf("%+v after %+v: error %v; the decider alone on %q's state %+v says %v", in.Command, in.History, err, k, own, wantErr)
	}
	address := func(e E) decider.Keyed[string, E] { return decider.Keyed[string, E]{Key: k, Value: e} }
	if !sameEvents(got, lo.Map(want, noIndex(address))) {
		return fmt.Sprintf("%+v after %+v: events %+v; the decider alone decides %+v for %q", in.Command, in.History, got, want, k)
	}
	if err != nil {
		return ""
	}
	next := m.Fold(state, got)
	if !reflect.DeepEqual(state, held) {
		return fmt.Sprintf("%+v after %+v: evolving changed the state the caller held from %+v to %+v", in.Command, in.History, held, state)
	}
	for _, other := range instanceKeys {
		got, was := instance(d, next, other), instance(d, state, other)
		switch {
		case other == k:
			if want := d.Fold(own, want); !reflect.DeepEqual(got, want) {
				return fmt.Sprintf("%+v after %+v: instance %q reached %+v; the decider alone reaches %+v", in.Command, in.History, k, got, want)
			}
		case !reflect.DeepEqual(got, was):
			return fmt.Sprintf("%+v after %+v: instance %q changed from %+v to %+v", in.Command, in.History, other, was, got)
		}
	}
	return ""
}

var (
	manyCounterInputs = manyInputs(counterCmds, counterEvents)
	manyTallyInputs   = manyInputs(tallyCmds, tallyEvents)
)

func TestManyLaws(t *testing.T) {
	mc, mt := decider.Many[string](counter), decider.Many[string](tally)
	t.Run("replay per key, counter", func(t *testing.T) {
		lawHolds(t, manyCounterInputs, func(in manyInput[counterCmd, counterEvent]) string { return checkManyReplay(mc, counter, in) })
	})
	t.Run("decide per key, counter", func(t *testing.T) {
		lawHolds(t, manyCounterInputs, func(in manyInput[counterCmd, counterEvent]) string { return checkManyDecide(mc, counter, in) })
	})
	t.Run("replay per key, tally", func(t *testing.T) {
		lawHolds(t, manyTallyInputs, func(in manyInput[tallyCmd, tallyEvent]) string { return checkManyReplay(mt, tally, in) })
	})
	t.Run("decide per key, tally", func(t *testing.T) {
		lawHolds(t, manyTallyInputs, func(in manyInput[tallyCmd, tallyEvent]) string { return checkManyDecide(mt, tally, in) })
	})
}

// forgetfulMany is Many as it was first written: an instance that reaches
// a terminal state is dropped from the map, so its key is back in the
// initial state and a finished instance starts over.
func forgetfulMany[C, E, S any](d decider.Decider[C, E, S]) manyDecider[C, E, S] {
	m := decider.Many[string](d)
	m.Evolve = func(state map[string]S, e decider.Keyed[string, E]) map[string]S {
		next := maps.Clone(state)
		s := d.Evolve(instance(d, state, e.Key), e.Value)
		if d.Terminal(s) {
			delete(next, e.Key)
		} else {
			next[e.Key] = s
		}
		return next
	}
	return m
}

// inPlaceMany is a broken Many that updates the caller's map.
func inPlaceMany[C, E, S any](d decider.Decider[C, E, S]) manyDecider[C, E, S] {
	m := decider.Many[string](d)
	m.Evolve = func(state map[string]S, e decider.Keyed[string, E]) map[string]S {
		state[e.Key] = d.Evolve(instance(d, state, e.Key), e.Value)
		return state
	}
	return m
}

func TestManyLawsCatchABrokenMany(t *testing.T) {
	t.Run("forgetting a terminal instance breaks replay", func(t *testing.T) {
		lawCatches(t, manyCounterInputs, func(in manyInput[counterCmd, counterEvent]) string {
			return checkManyReplay(forgetfulMany(counter), counter, in)
		})
	})
	t.Run("forgetting a terminal instance breaks decide", func(t *testing.T) {
		lawCatches(t, manyCounterInputs, func(in manyInput[counterCmd, counterEvent]) string {
			return checkManyDecide(forgetfulMany(counter), counter, in)
		})
	})
	t.Run("evolving in place", func(t *testing.T) {
		lawCatches(t, manyCounterInputs, func(in manyInput[counterCmd, counterEvent]) string {
			return checkManyDecide(inPlaceMany(counter), counter, in)
		})
	})
}

// A finished instance stays finished: Many once forgot terminal instances,
// which let a sealed counter (or a closed account) start over.
func TestManyKeepsFinishedInstances(t *testing.T) {
	m := decider.Many[string](counter)
	state := m.Replay([]decider.Keyed[string, counterEvent]{
		{Key: "a", Value: counterEvent{Op: "incremented"}},
		{Key: "a", Value: counterEvent{Op: "sealed"}},
		{Key: "b", Value: counterEvent{Op: "incremented"}},
	})
	if want := (counterState{N: 1, Sealed: true}); state["a"] != want {
		t.Errorf("instance a is in state %+v, want %+v", state["a"], want)
	}
	events, err := m.Decide(decider.Keyed[string, counterCmd]{Key: "a", Value: counterCmd{Op: "inc", By: 1}}, state)
	if err != errSealed || len(events) != 0 {
		t.Errorf("inc on the sealed instance a: events %+v, error %v; want the rejection %v", events, err, errSealed)
	}
	if m.Terminal(state) {
		t.Error("Many is terminal; a command for a new key can always come")
	}
}

// ---- Fold, Replay, Step and Run ----

// Replay is Fold from the initial state, and folding in two parts is
// folding the whole.
func checkReplayIsFold[C, E, S any](d decider.Decider[C, E, S], history []E, cut int) string {
	cut = min(cut, len(history))
	whole := d.Replay(history)
	if got := d.Fold(d.InitialState(), history); !reflect.DeepEqual(got, whole) {
		return fmt.Sprintf("Fold(initial, %+v) = %+v, Replay = %+v", history, got, whole)
	}
	if got := d.Fold(d.Replay(history[:cut]), history[cut:]); !reflect.DeepEqual(got, whole) {
		return fmt.Sprintf("folding %+v in two parts at %d gives %+v, at once %+v", history, cut, got, whole)
	}
	return ""
}

// Step is Decide then Fold; a rejection decides nothing and keeps the state.
func checkStep[C, E, S any](d decider.Decider[C, E, S], in runInput[C, E]) string {
	s := d.Replay(in.History)
	for _, c := range in.Commands {
		events, next, err := d.Step(s, c)
		want, wantErr := d.Decide(c, s)
		switch {
		case !sameError(err, wantErr):
			return fmt.Sprintf("Step(%+v, %+v): error %v, Decide says %v", s, c, err, wantErr)
		case err != nil && (len(events) > 0 || !reflect.DeepEqual(next, s)):
			return fmt.Sprintf("Step(%+v, %+v) was rejected (%v) but returned events %+v and state %+v", s, c, err, events, next)
		case err == nil && !sameEvents(events, want):
			return fmt.Sprintf("Step(%+v, %+v): events %+v, Decide says %+v", s, c, events, want)
		case err == nil && !reflect.DeepEqual(next, d.Fold(s, want)):
			return fmt.Sprintf("Step(%+v, %+v): state %+v, Fold gives %+v", s, c, next, d.Fold(s, want))
		}
		s = next
	}
	return ""
}

type runFunc[C, E, S any] func([]C) ([]E, S, error)

// Run is a loop of Step from the initial state that stops at the first
// rejection.
func checkRunIsSteps[C, E, S any](d decider.Decider[C, E, S], run runFunc[C, E, S], commands []C) string {
	events, state, err := run(commands)
	s := d.InitialState()
	var all []E
	var rejection error
	for _, c := range commands {
		step, next, err := d.Step(s, c)
		if err != nil {
			rejection = err
			break
		}
		all, s = append(all, step...), next
	}
	switch {
	case !sameError(err, rejection):
		return fmt.Sprintf("Run(%+v): error %v, stepping gives %v", commands, err, rejection)
	case !sameEvents(events, all):
		return fmt.Sprintf("Run(%+v): events %+v, stepping gives %+v", commands, events, all)
	case !reflect.DeepEqual(state, s):
		return fmt.Sprintf("Run(%+v): state %+v, stepping reaches %+v", commands, state, s)
	}
	return ""
}

type foldInput[E any] struct {
	History []E
	Cut     int
}

func foldInputs[E any](events *rapid.Generator[E]) *rapid.Generator[foldInput[E]] {
	return rapid.Custom(func(t *rapid.T) foldInput[E] {
		return foldInput[E]{History: rapid.SliceOfN(events, 0, maxHistory).Draw(t, "history"), Cut: rapid.IntRange(0, maxHistory).Draw(t, "cut")}
	})
}

func TestFoldReplayStepRunAgree(t *testing.T) {
	t.Run("replay is fold, counter", func(t *testing.T) {
		lawHolds(t, foldInputs(counterEvents), func(in foldInput[counterEvent]) string { return checkReplayIsFold(counter, in.History, in.Cut) })
	})
	t.Run("replay is fold, tally", func(t *testing.T) {
		lawHolds(t, foldInputs(tallyEvents), func(in foldInput[tallyEvent]) string { return checkReplayIsFold(tally, in.History, in.Cut) })
	})
	t.Run("step, counter", func(t *testing.T) {
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string { return checkStep(counter, in) })
	})
	t.Run("step, tally", func(t *testing.T) {
		lawHolds(t, tallyRuns, func(in runInput[tallyCmd, tallyEvent]) string { return checkStep(tally, in) })
	})
	t.Run("run is steps, counter", func(t *testing.T) {
		lawHolds(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string {
			return checkRunIsSteps(counter, counter.Run, in.Commands)
		})
	})
	t.Run("run is steps, tally", func(t *testing.T) {
		lawHolds(t, tallyRuns, func(in runInput[tallyCmd, tallyEvent]) string { return checkRunIsSteps(tally, tally.Run, in.Commands) })
	})
}

func TestRunLawCatchesDecidingOnTheInitialState(t *testing.T) {
	// The classic slip: every command decided on the state the run
	// started from, the events only folded at the end.
	stale := func(commands []counterCmd) ([]counterEvent, counterState, error) {
		s := counter.InitialState()
		var all []counterEvent
		for _, c := range commands {
			events, err := counter.Decide(c, s)
			if err != nil {
				return all, counter.Fold(s, all), err
			}
			all = append(all, events...)
		}
		return all, counter.Fold(s, all), nil
	}
	lawCatches(t, counterRuns, func(in runInput[counterCmd, counterEvent]) string {
		return checkRunIsSteps(counter, stale, in.Commands)
	})
}

func TestDefaultsOfTheOptionalFields(t *testing.T) {
	// counter has no Initial: it starts from the zero value.
	if got := counter.InitialState(); got != (counterState{}) {
		t.Errorf("counter starts in %+v, want the zero value", got)
	}
	// tally has no IsTerminal: it is never terminal.
	if tally.Terminal(tallyState{"x": tallyMax, "y": tallyMax, "z": tallyMax}) {
		t.Error("a decider without IsTerminal reports a terminal state")
	}
	if !counter.Terminal(counterState{Sealed: true}) || counter.Terminal(counterState{N: counterMax}) {
		t.Error("Terminal does not follow IsTerminal")
	}
}
