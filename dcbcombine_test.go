package annals_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// Two rules on one decision, for the laws of CombineDCB: a quota of A
// events per key (the part that decides the event), and a budget of
// events of any kind per key (a guard that decides none).

type tick interface{ key() string }

type tickA struct{ Key string }
type tickB struct{ Key string }

func (e tickA) key() string { return e.Key }
func (e tickB) key() string { return e.Key }

// spend asks for an A event on Quota's key, within Budget's key's budget.
type spend struct{ Quota, Budget string }

var (
	errQuota  = errors.New("quota used up")
	errBudget = errors.New("budget spent")
)

func tickCodec() *codec.JSON[tick] {
	return codec.NewJSON[tick]().Register("A", tickA{}).Register("B", tickB{})
}

func tickTags(e tick) []string { return []string{"key:" + e.key()} }

// seen is the events a part's query brought, in order: its state shows
// exactly what it was evolved by.
func seenEvolve(s []tick, e tick) []tick { return append(slices.Clip(s), e) }

var quota = annals.DCBDecider[spend, tick, []tick]{
	Decider: decider.Decider[spend, tick, []tick]{
		Decide: func(c spend, s []tick) ([]tick, error) {
			if len(s) >= 2 {
				return nil, errQuota
			}
			return []tick{tickA{Key: c.Quota}}, nil
		},
		Evolve: seenEvolve,
	},
	Name: "quota",
	Query: func(c spend) store.Query {
		return store.QueryItems(store.QueryItem{Types: []string{"A"}, Tags: []string{"key:" + c.Quota}})
	},
	Tags: tickTags,
}

var budget = annals.DCBDecider[spend, tick, []tick]{
	Decider: decider.Decider[spend, tick, []tick]{
		Decide: func(c spend, s []tick) ([]tick, error) {
			if len(s) >= 3 {
				return nil, errBudget
			}
			return nil, nil
		},
		Evolve: seenEvolve,
	},
	Query: func(c spend) store.Query {
		return store.QueryItems(store.QueryItem{Tags: []string{"key:" + c.Budget}})
	},
	Tags: func(e tick) []string { return []string{"key:" + e.key(), "any"} },
}

// A combined decider's state is each part's state as that part's own
// query shows it, never what the other part's query brought in; its
// decision is the parts' decisions; and its query is the OR of theirs,
// so a decision conflicts with an event either part would have read.
func TestCombineDCBKeepsEachPartToItsQuery(t *testing.T) {
	keys := []string{"k1", "k2", "k3"}
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		s := annals.New(memory.New())
		both := annals.CombineDCB(quota, budget)
		for i, n := 0, rapid.IntRange(0, 12).Draw(t, "events"); i < n; i++ {
			k := rapid.SampledFrom(keys).Draw(t, "key")
			var e tick = tickA{Key: k}
			if rapid.Bool().Draw(t, "b") {
				e = tickB{Key: k}
			}
			stream := fmt.Sprintf("log-%d", i)
			rec, err := tickCodec().ToEvent(ctx, codec.Placement{StreamID: stream, Version: 1}, e, store.Metadata{})
			if err != nil {
				t.Fatal(err)
			}
			rec.Tags = both.Tags(e)
			if _, err := s.Append(ctx, stream, store.NoStream, []store.Event{rec}); err != nil {
				t.Fatal(err)
			}
		}
		cmd := spend{Quota: rapid.SampledFrom(keys).Draw(t, "quota"), Budget: rapid.SampledFrom(keys).Draw(t, "budget")}

		combined := annals.NewDCBRunner(s, both, tickCodec())
		got, gotPos, err := combined.Load(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		a, aPos, err := annals.NewDCBRunner(s, quota, tickCodec()).Load(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		b, bPos, err := annals.NewDCBRunner(s, budget, tickCodec()).Load(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if want := (decider.Pair[[]tick, []tick]{First: a, Second: b}); !reflect.DeepEqual(got, want) {
			t.Fatalf("combined state %#v, want the parts' own %#v", got, want)
		}
		if want := max(aPos, bPos); gotPos != want {
			t.Fatalf("combined position %d, want the later of the parts' %d and %d", gotPos, aPos, bPos)
		}

		// The decision is the parts' decisions, a's rule first.
		wantEvents, wantErr := quota.Decide(cmd, a)
		if wantErr == nil {
			_, wantErr = budget.Decide(cmd, b)
		}
		res, err := combined.Handle(ctx, cmd)
		switch {
		case wantErr != nil:
			if !errors.Is(err, wantErr) || !errors.Is(err, annals.ErrRejected) {
				t.Fatalf("handle %+v: %v, want the rejection %v", cmd, err, wantErr)
			}
			return
		case err != nil:
			t.Fatalf("handle %+v: %v", cmd, err)
		case !reflect.DeepEqual(res.Events, wantEvents):
			t.Fatalf("handle %+v decided %#v, want %#v", cmd, res.Events, wantEvents)
		}
		// The state after the decision is what loading shows now.
		after, _, err := combined.Load(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.State, after) {
			t.Fatalf("handle %+v returned state %#v, but the store shows %#v", cmd, res.State, after)
		}
	})
}

// An event that only the second part's query matches, appended after a
// decision read, fails the decision's condition: the combined query
// covers both parts.
func TestCombineDCBConditionCoversEveryPart(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	both := annals.CombineDCB(quota, budget)
	cmd := spend{Quota: "q", Budget: "b"}
	interloper := true
	racing := both
	racing.Decide = func(c spend, st decider.Pair[[]tick, []tick]) ([]tick, error) {
		if interloper {
			interloper = false
			rec, err := tickCodec().ToEvent(ctx, codec.Placement{StreamID: "other", Version: 1}, tickB{Key: "b"}, store.Metadata{})
			if err != nil {
				return nil, err
			}
			rec.Tags = budget.Tags(tickB{Key: "b"})
			if _, err := s.Append(ctx, "other", store.NoStream, []store.Event{rec}); err != nil {
				return nil, err
			}
		}
		return both.Decide(c, st)
	}
	res, err := annals.NewDCBRunner(s, racing, tickCodec(), annals.WithRetries(0)).Handle(ctx, cmd)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a decision whose budget moved after it read: %v (%+v), want a conflict", err, res)
	}
	res, err = annals.NewDCBRunner(s, racing, tickCodec()).Handle(ctx, cmd)
	if err != nil || len(res.State.Second) != 1 || len(res.State.First) != 1 {
		t.Fatalf("decided again: %+v, %v; want the new A seen by the quota and the interloper by the budget", res, err)
	}
}
