package decider_test

import (
	"errors"
	"fmt"

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
