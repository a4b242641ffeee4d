package decider_test

import (
	"errors"
	"fmt"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/decider"
)

// A light is switched on and off; switching it to the state it is already
// in is refused.
type (
	Switch   struct{ On bool } // command
	Switched struct{ On bool } // event
)

var light = decider.Decider[Switch, Switched, bool]{
	Decide: func(c Switch, on bool) ([]Switched, error) {
		if c.On == on {
			return nil, fmt.Errorf("the light is already %s", onOff(on))
		}
		return []Switched{{On: c.On}}, nil
	},
	Evolve: func(_ bool, e Switched) bool { return e.On },
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// A bell rings at most twice.
type (
	Ring struct{} // command
	Rang struct{} // event
)

var bell = decider.Decider[Ring, Rang, int]{
	Decide: func(_ Ring, rings int) ([]Rang, error) {
		if rings >= 2 {
			return nil, errors.New("the bell has rung twice already")
		}
		return []Rang{{}}, nil
	},
	Evolve: func(rings int, _ Rang) int { return rings + 1 },
}

func ExampleDecider() {
	// The state is the fold of the history.
	on := light.Replay([]Switched{{On: true}, {On: false}, {On: true}})
	fmt.Println("light on:", on)

	// A command decides events, or is refused by a business rule.
	events, err := light.Decide(Switch{On: false}, on)
	fmt.Println(events, err)
	_, err = light.Decide(Switch{On: true}, on)
	fmt.Println(err)
	// Output:
	// light on: true
	// [{false}] <nil>
	// the light is already on
}

func ExampleDecider_Run() {
	// Run decides each command on the state the previous ones led to, and
	// stops at the first refusal.
	events, on, err := light.Run([]Switch{{On: true}, {On: false}, {On: false}, {On: true}})
	fmt.Println(events, on)
	fmt.Println(err)
	// Output:
	// [{true} {false}] false
	// the light is already off
}

func ExampleCombine() {
	// One decider for a light and a bell: commands and events are routed
	// by side, and the state is a pair.
	room := decider.Combine(light, bell)

	events, state, err := room.Run([]decider.Either[Switch, Ring]{
		decider.Left[Switch, Ring](Switch{On: true}),
		decider.Right[Switch](Ring{}),
		decider.Right[Switch](Ring{}),
	})
	for _, e := range events {
		if s, ok := e.Left(); ok {
			fmt.Printf("light: %+v\n", s)
		} else {
			fmt.Println("bell: rang")
		}
	}
	fmt.Printf("%+v %v\n", state, err)

	_, err = room.Decide(decider.Right[Switch](Ring{}), state)
	fmt.Println(err)
	// Output:
	// light: {On:true}
	// bell: rang
	// bell: rang
	// {First:true Second:2} <nil>
	// the bell has rung twice already
}

func ExampleMany() {
	// One light per room, each with its own state.
	lights := decider.Many[string](light)

	_, rooms, err := lights.Run([]decider.Keyed[string, Switch]{
		{Key: "kitchen", Value: Switch{On: true}},
		{Key: "hall", Value: Switch{On: true}},
		{Key: "kitchen", Value: Switch{On: false}},
	})
	fmt.Println(rooms, err)

	// The kitchen light is off: switching it off again is refused, though
	// the hall light is on.
	_, err = lights.Decide(decider.Keyed[string, Switch]{Key: "kitchen", Value: Switch{On: false}}, rooms)
	fmt.Println(err)
	// Output:
	// map[hall:true kitchen:false] <nil>
	// the light is already off
}

// A thermostat is set to a temperature between 10 and 30 degrees.
type (
	Set    struct{ Degrees int } // command
	WasSet struct{ Degrees int } // event
)

var heating = decider.Decider[Set, WasSet, int]{
	Decide: func(c Set, _ int) ([]WasSet, error) {
		if c.Degrees < 10 || c.Degrees > 30 {
			return nil, fmt.Errorf("%d degrees is out of range", c.Degrees)
		}
		return []WasSet{{Degrees: c.Degrees}}, nil
	},
	Evolve:  func(_ int, e WasSet) int { return e.Degrees },
	Initial: func() int { return 18 },
}

func ExampleCombine3() {
	// Three deciders as one. The combination builds each part's commands
	// and events from the part's own types: no type arguments to spell.
	home := decider.Combine3(light, bell, heating)

	s := home.InitialState()
	events, s, _ := home.Step(s, home.First(Switch{On: true}))
	fmt.Println(events)
	events, s, _ = home.Step(s, home.Second(Ring{}))
	fmt.Println(events)
	events, s, _ = home.Step(s, home.Third(Set{Degrees: 21}))
	fmt.Println(events)
	_, _, err := home.Step(s, home.Third(Set{Degrees: 45}))
	fmt.Println(err)

	// Each part's state is a named field of a flat tuple, and an event
	// tells which part it belongs to.
	fmt.Println(s, s.Third)
	if set, ok := events[0].Third(); ok {
		fmt.Println("heating set to", set.Degrees)
	}

	// Replaying a history built with the event constructors gives the
	// same state.
	fmt.Println(home.Replay([]decider.Sum3[Switched, Rang, WasSet]{
		home.FirstEvent(Switched{On: true}), home.SecondEvent(Rang{}), home.ThirdEvent(WasSet{Degrees: 21}),
	}))
	// Output:
	// [First(Switched{On:true})]
	// [Second(Rang{})]
	// [Third(WasSet{Degrees:21})]
	// 45 degrees is out of range
	// {First:true Second:1 Third:21} 21
	// heating set to 21
	// {First:true Second:1 Third:21}
}

func ExampleFanOut() {
	// "All off" switches off the light of every room it names, or none.
	type AllOff struct{ Rooms []string }
	lights := decider.Many[string](light)
	allOff := decider.FanOut(lights, func(c AllOff) []decider.Keyed[string, Switch] {
		return lo.Map(c.Rooms, func(room string, _ int) decider.Keyed[string, Switch] {
			return decider.Keyed[string, Switch]{Key: room, Value: Switch{On: false}}
		})
	})

	_, rooms, _ := lights.Run([]decider.Keyed[string, Switch]{
		{Key: "kitchen", Value: Switch{On: true}},
		{Key: "hall", Value: Switch{On: true}},
	})
	events, err := allOff.Decide(AllOff{Rooms: []string{"kitchen", "hall"}}, rooms)
	fmt.Println(events, err)

	// The cellar light is already off: the whole command is refused and
	// the kitchen's light stays on.
	events, err = allOff.Decide(AllOff{Rooms: []string{"kitchen", "cellar"}}, rooms)
	fmt.Println(events, err)
	// Output:
	// [{Key:"kitchen" Value:Switched{On:false}} {Key:"hall" Value:Switched{On:false}}] <nil>
	// [] instance cellar: the light is already off
}

// A codec persists a sum by its parts: the index of its case and the
// case's value, each stored as its own type.
func ExampleSumSetter() {
	home := decider.Combine3(light, bell, heating)
	event := home.ThirdEvent(WasSet{Degrees: 21})

	index, value := event.Case()
	fmt.Println(index, event.CaseTypes()[index], value)

	var restored decider.Sum3[Switched, Rang, WasSet]
	if err := restored.SetCase(index, value); err != nil {
		panic(err)
	}
	fmt.Printf("%v %#v\n", restored, restored)

	// A value that does not fit the case is refused.
	err := restored.SetCase(0, WasSet{Degrees: 21})
	fmt.Println(errors.Is(err, decider.ErrCase))
	// Output:
	// 2 decider_test.WasSet {21}
	// Third(WasSet{Degrees:21}) decider.Sum3{Third:decider_test.WasSet{Degrees:21}}
	// true
}

// A sum that no combination's value builds, such as an event of a log
// read through a codec of its parts, is built case by case with the
// type's own constructors, checked by the compiler: the last case's
// type is inferred from its value.
func ExampleSum3Second() {
	type HomeEvent = decider.Sum3[Switched, Rang, WasSet]
	log := []HomeEvent{
		decider.Sum3First[Switched, Rang, WasSet](Switched{On: true}),
		decider.Sum3Second[Switched, Rang, WasSet](Rang{}),
		decider.Sum3Third[Switched, Rang](WasSet{Degrees: 19}),
	}
	for _, e := range log {
		i, _ := e.Case()
		fmt.Println(i, e)
	}
	_, isBell := log[1].Second()
	fmt.Println(isBell)
	// Output:
	// 0 First(Switched{On:true})
	// 1 Second(Rang{})
	// 2 Third(WasSet{Degrees:19})
	// true
}
