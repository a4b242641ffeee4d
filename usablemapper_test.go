package annals_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// A mapper whose registration was refused fails every encode and decode,
// so a runner or consumer built on it is refused when it is built, with
// the mapper's error: a consumer would otherwise fail only at its first
// event, and say nothing on an empty log.
func TestARunnerOrConsumerOfARefusedMapperIsRefusedWhenBuilt(t *testing.T) {
	type (
		command = decider.Either[increment, increment]
		event   = decider.Either[incremented, incremented]
	)
	s := annals.New(memory.New())
	// Both parts read the type Incremented: the sum cannot tell them apart.
	refused := codec.NewSum[event](counterCodec(), counterCodec())
	if refused.Err() == nil {
		t.Fatal("the sum of two parts of one type name was not refused")
	}
	twice := decider.Combine(counter, counter)
	dcb := annals.DCBDecider[command, event, decider.Pair[int, int]]{
		Decider: twice,
		Query:   func(command) store.Query { return store.QueryItems(store.QueryItem{Tags: []string{"t"}}) },
		Tags:    func(event) []string { return []string{"t"} },
	}
	byStream := func(r store.Record, _ event) (string, bool) { return r.StreamID, true }
	for name, build := range map[string]func(){
		"NewRunner":    func() { annals.NewRunner(s, twice, refused) },
		"NewInstances": func() { annals.NewInstances(s, twice, codec.NewKeyed(codec.StreamPrefix[string]("x-"), refused)) },
		"NewDCBRunner": func() { annals.NewDCBRunner(s, dcb, refused) },
		"NewViewProjection": func() {
			annals.NewViewProjection(s, "v", view.View[int, event]{Evolve: func(n int, _ event) int { return n + 1 }}, refused, byStream)
		},
		"NewSaga": func() {
			annals.NewSaga(s, "s", saga.Saga[event, increment]{React: func(event) []increment { return nil }}, refused,
				func(context.Context, increment, annals.Cause) error { return nil })
		},
	} {
		msg, panicked := panics(build)
		if !panicked || !strings.Contains(msg, "annals."+name) || !strings.Contains(msg, "its mapper cannot encode or decode") || !strings.Contains(msg, `"Incremented"`) {
			t.Errorf("%s on a refused mapper: panicked %v with %q; want a panic naming the constructor and the mapper's refusal", name, panicked, msg)
		}
	}
	handle := func(context.Context, store.StateTx, annals.Envelope[event]) error { return nil }
	if _, err := annals.NewProjection(s, "p", refused, handle); !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "its mapper cannot encode or decode") {
		t.Errorf("NewProjection on a refused mapper: %v; want the mapper's refusal", err)
	}
	// The same deciders on a mapper that reads each part apart are made.
	apart := codec.NewSum[event](counterCodec(), codec.NewJSON[incremented]().Register("IncrementedToo", incremented{}))
	if msg, panicked := panics(func() { annals.NewRunner(s, twice, apart) }); panicked {
		t.Errorf("NewRunner on a usable sum panicked: %s", msg)
	}
}
