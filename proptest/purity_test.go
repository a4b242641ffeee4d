package proptest

import (
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/view"
)

// A basket collects items. Its Evolve appends to the state's slice:
// pure-looking, but once the slice has spare capacity two states evolved
// from one parent share it, and the second append overwrites the first's
// last item.
type (
	add    struct{ Item string }
	added  struct{ Item string }
	basket struct{ Items []string }
)

func basketDecider(evolve func(basket, added) basket) decider.Decider[add, added, basket] {
	return decider.Decider[add, added, basket]{
		Decide: func(c add, _ basket) ([]added, error) { return []added{{Item: c.Item}}, nil },
		Evolve: evolve,
	}
}

var (
	appendInPlace = func(s basket, e added) basket {
		s.Items = append(s.Items, e.Item)
		return s
	}
	appendToACopy = func(s basket, e added) basket {
		s.Items = append(slices.Clip(s.Items), e.Item)
		return s
	}
	items = rapid.Custom(func(t *rapid.T) add {
		return add{Item: rapid.SampledFrom([]string{"apple", "bread", "cheese"}).Draw(t, "item")}
	})
)

func TestSiblingCheckCatchesSharedSpareCapacity(t *testing.T) {
	// Three items leave a slice of length 3 and capacity 4.
	parent := basket{Items: append(append(append([]string(nil), "a"), "b"), "c")}
	if cap(parent.Items) == len(parent.Items) {
		t.Fatalf("the parent has no spare capacity: %d of %d", len(parent.Items), cap(parent.Items))
	}
	a, b := []added{{Item: "apple"}}, []added{{Item: "bread"}}
	msg := siblingMismatch(appendInPlace, parent, a, b)
	for _, frag := range []string{"changed the first result", `-   Items: []string{"a", "b", "c", "apple"}`, `+   Items: []string{"a", "b", "c", "bread"}`, "spare capacity"} {
		if !strings.Contains(msg, frag) {
			t.Errorf("the failure lacks %q:\n%s", frag, msg)
		}
	}
	if msg := siblingMismatch(appendToACopy, parent, a, b); msg != "" {
		t.Errorf("an Evolve that copies before appending was reported: %s", msg)
	}
}

func TestReplayEqualsLiveAloneWouldMissSharedSpareCapacity(t *testing.T) {
	// The live run and the replay build their slices apart, so without
	// the sibling check the defect passes.
	if msg := runMismatch(basketDecider(appendInPlace), []add{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}); msg != "" {
		t.Fatalf("the replay check alone caught it after all: %s", msg)
	}
}

func TestPurityChecksFailOnSharedSpareCapacity(t *testing.T) {
	for name, check := range map[string]func(tb testing.TB, d decider.Decider[add, added, basket]){
		"EvolveIsPure":     func(tb testing.TB, d decider.Decider[add, added, basket]) { EvolveIsPure(tb, d, items) },
		"ReplayEqualsLive": func(tb testing.TB, d decider.Decider[add, added, basket]) { ReplayEqualsLive(tb, d, items) },
	} {
		r := &recorder{TB: t}
		check(r, basketDecider(appendInPlace))
		if out := r.output(); !strings.Contains(out, "changed the first result") || !strings.Contains(out, "add{Item:") {
			t.Errorf("%s passed an Evolve that appends into shared spare capacity, or did not say which command:\n%s", name, out)
		}
		r = &recorder{TB: t}
		check(r, basketDecider(appendToACopy))
		if r.Failed() {
			t.Errorf("%s failed an Evolve that copies before appending:\n%s", name, r.output())
		}
	}
}

func TestViewEvolveIsPure(t *testing.T) {
	events := rapid.Custom(func(t *rapid.T) added { return added{Item: items.Draw(t, "add").Item} })
	r := &recorder{TB: t}
	ViewEvolveIsPure(r, view.View[basket, added]{Evolve: appendInPlace}, events)
	if !strings.Contains(r.output(), "changed the first result") {
		t.Errorf("ViewEvolveIsPure passed an Evolve that appends into shared spare capacity:\n%s", r.output())
	}
	ViewEvolveIsPure(t, view.View[basket, added]{Evolve: appendToACopy}, events, Length(0, 20))
}
