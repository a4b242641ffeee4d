package proptest

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
)

// ForDCB starts a specification of a decider whose consistency boundary
// is a query ([annals.DCBDecider]). The given events are the log, in
// order: the command is decided on those its query matches, each event
// named by m's type name and tagged by d.Tags, and a decider made by
// [annals.CombineDCB] evolves each part by the events that part's own
// query matches — what a [annals.DCBRunner] would read. So a
// specification may give events that the command does not see, and
// check that they do not count.
//
// The events are placed as a runner would place them: an event of an
// instance stored one stream per instance (a [codec.KeyedMapper], alone
// or in a [codec.Sum]) in its instance's stream, which m names as a
// [codec.Placer], and any other in one stream. A given event m cannot
// encode fails the Then with that error, never as the command's.
//
// ThenState needs a When: the command's query says which events its
// state sees. As with [For], inside a rapid property t is the property's
// *rapid.T ([T]).
func ForDCB[C, E, S any](t T, d annals.DCBDecider[C, E, S], m codec.Mapper[E]) *Spec[C, E, S] {
	s := &Spec[C, E, S]{d: d.Decider}
	s.dcb = func(cmd C, state S, events []E) (S, error) {
		state, _, err := foldQuery(d, m, cmd, state, events)
		return state, err
	}
	s.expect(t, s.context)
	return s
}

// foldQuery evolves state by the events of log that cmd's query matches,
// as a [annals.DCBRunner] reads them: each named by m's type name, tagged
// by d.Tags, and placed as a runner places it (an instance's event in its
// instance's stream when m is a [codec.Placer], any other in one stream),
// and returns for each event the indexes of the query's items that
// matched it. An event m cannot encode is an error.
func foldQuery[C, E, S any](d annals.DCBDecider[C, E, S], m codec.Mapper[E], cmd C, state S, log []E) (S, [][]int, error) {
	placer, _ := m.(codec.Placer[E])
	q, evolve := d.Query(cmd), d.Evolver(cmd)
	versions := map[string]int64{}
	matched := make([][]int, len(log))
	for i, e := range log {
		at := codec.Placement{StreamID: "spec"}
		if placer != nil {
			if stream, ok := placer.StreamOf(e); ok {
				at.StreamID = stream
			}
		}
		versions[at.StreamID]++
		at.Version = versions[at.StreamID]
		ev, err := m.ToEvent(context.Background(), at, e, store.Metadata{})
		if err != nil {
			return state, matched, fmt.Errorf("event %d (%#v): %w", i, e, err)
		}
		tags := d.Tags(e)
		if q.Matches(ev.Type, tags) {
			state = evolve(state, ev.Type, tags, e)
		}
		for j, it := range q.Items {
			if it.Matches(ev.Type, tags) {
				matched[i] = append(matched[i], j+1)
			}
		}
	}
	return state, matched, nil
}
