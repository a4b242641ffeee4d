package decider_test

import (
	"reflect"
	"testing"

	"github.com/annals-dev/annals/decider"
)

// The law of Combine3 to Combine6: the flat combination behaves as the
// nested one, Combine(d1, Combine(d2, …)), up to the flattening of
// commands and events into a sum and of states into a tuple. With the
// laws of Combine, that is: each part decides alone on its own state,
// each part of the state evolves by its own events only, and the whole is
// terminal when every part is.

// nestedCase numbers the cases of an Either nested n cases deep as its
// flat counterpart does.
func nestedCase(x any, n int) (int, any) {
	i, v := x.(decider.Sum).Case()
	if i == 0 || n == 2 {
		return i, v
	}
	j, w := nestedCase(v, n-1)
	return 1 + j, w
}

// flattened converts a nested Either of n cases into the flat sum F that
// holds the same case, through the SumSetter contract.
func flattened[N, F any](n int) func(N) F {
	return func(x N) F {
		var f F
		i, v := nestedCase(x, n)
		if err := any(&f).(decider.SumSetter).SetCase(i, v); err != nil {
			panic(err)
		}
		return f
	}
}

// nested converts a flat tuple into the nested pairs P, field by field.
func nested[P, T any](tuple T) P {
	var p P
	fill(reflect.ValueOf(&p).Elem(), reflect.ValueOf(tuple), 0)
	return p
}

func fill(pair, tuple reflect.Value, i int) {
	pair.Field(0).Set(tuple.Field(i))
	if i+2 == tuple.NumField() {
		pair.Field(1).Set(tuple.Field(i + 1))
		return
	}
	fill(pair.Field(1), tuple, i+1)
}

func checkFlatIsNested[C, E, S, FC, FE, FS any](flat decider.Decider[FC, FE, FS], nest decider.Decider[C, E, S], n int) func(runInput[C, E]) string {
	via := embedding[C, E, S, FC, FE, FS]{command: flattened[C, FC](n), event: flattened[E, FE](n), state: nested[S, FS]}
	return func(in runInput[C, E]) string { return checkBehavesAs(flat, nest, via, in) }
}

func TestCombineNBehavesAsNestedCombine(t *testing.T) {
	t.Run("Combine3", func(t *testing.T) {
		flat := decider.Combine3(counter, tally, counter)
		nest := decider.Combine(counter, decider.Combine(tally, counter))
		inputs := runInputs(eithers(counterCmds, eithers(tallyCmds, counterCmds)), eithers(counterEvents, eithers(tallyEvents, counterEvents)))
		lawHolds(t, inputs, checkFlatIsNested(flat.Decider, nest, 3))
	})
	t.Run("Combine3 of terminal parts", func(t *testing.T) {
		flat := decider.Combine3(counter, counter, counter)
		nest := decider.Combine(counter, decider.Combine(counter, counter))
		inputs := runInputs(eithers(counterCmds, eithers(counterCmds, counterCmds)), eithers(counterEvents, eithers(counterEvents, counterEvents)))
		lawHolds(t, inputs, checkFlatIsNested(flat.Decider, nest, 3))
	})
	t.Run("Combine4", func(t *testing.T) {
		flat := decider.Combine4(tally, counter, tally, counter)
		nest := decider.Combine(tally, decider.Combine(counter, decider.Combine(tally, counter)))
		inputs := runInputs(
			eithers(tallyCmds, eithers(counterCmds, eithers(tallyCmds, counterCmds))),
			eithers(tallyEvents, eithers(counterEvents, eithers(tallyEvents, counterEvents))))
		lawHolds(t, inputs, checkFlatIsNested(flat.Decider, nest, 4))
	})
	t.Run("Combine5", func(t *testing.T) {
		flat := decider.Combine5(counter, tally, counter, tally, counter)
		nest := decider.Combine(counter, decider.Combine(tally, decider.Combine(counter, decider.Combine(tally, counter))))
		inputs := runInputs(
			eithers(counterCmds, eithers(tallyCmds, eithers(counterCmds, eithers(tallyCmds, counterCmds)))),
			eithers(counterEvents, eithers(tallyEvents, eithers(counterEvents, eithers(tallyEvents, counterEvents)))))
		lawHolds(t, inputs, checkFlatIsNested(flat.Decider, nest, 5))
	})
	t.Run("Combine6", func(t *testing.T) {
		flat := decider.Combine6(counter, tally, counter, tally, counter, counter)
		nest := decider.Combine(counter, decider.Combine(tally, decider.Combine(counter, decider.Combine(tally, decider.Combine(counter, counter)))))
		inputs := runInputs(
			eithers(counterCmds, eithers(tallyCmds, eithers(counterCmds, eithers(tallyCmds, eithers(counterCmds, counterCmds))))),
			eithers(counterEvents, eithers(tallyEvents, eithers(counterEvents, eithers(tallyEvents, eithers(counterEvents, counterEvents))))))
		lawHolds(t, inputs, checkFlatIsNested(flat.Decider, nest, 6))
	})
}

func TestCombineNLawCatchesABrokenCombineN(t *testing.T) {
	nest := decider.Combine(counter, decider.Combine(counter, counter))
	inputs := runInputs(eithers(counterCmds, eithers(counterCmds, counterCmds)), eithers(counterEvents, eithers(counterEvents, counterEvents)))
	type tuple = decider.Tuple3[counterState, counterState, counterState]
	t.Run("parts of the state in the wrong fields", func(t *testing.T) {
		// Flattening the state in another order is still an isomorphism,
		// so the decider works, but s.Second is not the second part.
		swap := func(s tuple) tuple { return tuple{First: s.First, Second: s.Third, Third: s.Second} }
		broken := decider.MapState(decider.Combine3(counter, counter, counter).Decider, swap, swap)
		lawCatches(t, inputs, checkFlatIsNested(broken, nest, 3))
	})
	t.Run("terminal when any part is", func(t *testing.T) {
		broken := decider.Combine3(counter, counter, counter)
		broken.IsTerminal = func(s tuple) bool {
			return counter.Terminal(s.First) || counter.Terminal(s.Second) || counter.Terminal(s.Third)
		}
		lawCatches(t, inputs, checkFlatIsNested(broken.Decider, nest, 3))
	})
	t.Run("third part's events evolving the second", func(t *testing.T) {
		broken := decider.Combine3(counter, counter, counter)
		good := broken.Evolve
		broken.Evolve = func(s tuple, e decider.Sum3[counterEvent, counterEvent, counterEvent]) tuple {
			s = good(s, e)
			if v, ok := e.Third(); ok {
				s.Second = counter.Evolve(s.Second, v)
			}
			return s
		}
		lawCatches(t, inputs, checkFlatIsNested(broken.Decider, nest, 3))
	})
}

// Combining three deciders and sending a command to each needs no type
// argument, alias or helper: the combination's routers infer from their
// parts, and a command of a concrete type converts to a part's
// interface type.
func TestCombine3NeedsNoTypeArguments(t *testing.T) {
	d := decider.Combine3(counter, tally, decider.MapCommand(counter, command.counterCmd))
	_, s, err1 := d.Step(d.InitialState(), d.First(counterCmd{Op: "inc", By: 2}))
	_, s, err2 := d.Step(s, d.Second(tallyCmd{Op: "vote", Option: "x"}))
	_, s, err3 := d.Step(s, d.Third(incBy(1))) // an incBy converts to command
	if err1 != nil || err2 != nil || err3 != nil || s.First.N != 2 || s.Second["x"] != 1 || s.Third.N != 1 {
		t.Errorf("state %v, errors %v, %v, %v", s, err1, err2, err3)
	}
}

// command is a part's command of an interface type.
type command interface{ counterCmd() counterCmd }

type incBy int

func (n incBy) counterCmd() counterCmd { return counterCmd{Op: "inc", By: int(n)} }
