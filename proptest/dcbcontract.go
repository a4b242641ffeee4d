package proptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/store"
)

// DCBStore is what [DCBContract] checks: a store that reads events by
// query and appends with a condition.
type DCBStore interface {
	store.Store
	store.DCB
}

// DCBContract runs the behaviour every [store.DCB] must have against the
// stores that open returns; like [StoreContract], each subtest calls open
// once and uses the store alone. Among the behaviours:
//
//   - reading by query equals filtering the whole log by the query;
//   - an append condition fails exactly when an event matching its query
//     was appended after its position, whoever appended it, numbered or
//     not yet, and a failed append writes nothing;
//   - a batch is stored whole, its events contiguous in the log, with
//     their tags;
//   - writers that race on overlapping and disjoint queries never both
//     pass conditions they would break together, and the log shows every
//     successful conditional append after the events its decision read
//     and before any event that would have broken its condition.
//
// It takes *testing.T, not [T]: it runs each behaviour as a subtest
// (t.Run) and hands that subtest's t to open.
func DCBContract(t *testing.T, open func(t *testing.T) DCBStore) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, DCBStore)
	}{
		{"StateMachine", dcbStateMachine},
		{"InvalidInput", dcbInvalidInput},
		{"ConditionSeesEveryCommittedEvent", dcbConditionSeesEverything},
		{"ConditionPastTheHeadIsRefused", dcbConditionPastTheHead},
		{"UntaggedEventsAreNotQueried", dcbUntagged},
		{"Cancellation", dcbCancellation},
		{"RacingWriters", dcbRacingWriters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// taggedEvent is what the DCB state machine remembers of an event.
type taggedEvent struct {
	modelEvent
	tags []string
}

// dcbMachine checks a store's queries and conditions against a list of
// the events it should hold. One store serves every rapid run: each run
// uses tags and streams of its own and reads only after the position at
// which it started.
type dcbMachine struct {
	s        DCBStore
	ctx      context.Context
	run      string
	base     int64
	seen     int64 // the highest position the store has shown this run
	log      []taggedEvent
	versions map[string]int64
}

var dcbTypes = []string{"Defined", "Joined", "Left"}

func (m *dcbMachine) tag(t *rapid.T, label string) string {
	return m.run + ":" + rapid.SampledFrom([]string{"a", "b", "c", "ü"}).Draw(t, label)
}

func (m *dcbMachine) stream(t *rapid.T) string {
	return m.run + "/" + rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "stream")
}

func (m *dcbMachine) tags(t *rapid.T, min int) []string {
	n := rapid.IntRange(min, 3).Draw(t, "tags")
	var tags []string
	for len(tags) < n {
		if tag := m.tag(t, "tag"); !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	return tags
}

func (m *dcbMachine) events(t *rapid.T, minEvents, minTags int) []store.Event {
	n := rapid.IntRange(minEvents, 3).Draw(t, "batch")
	events := make([]store.Event, n)
	for i := range events {
		events[i] = store.Event{
			Type:     rapid.SampledFrom(dcbTypes).Draw(t, "type"),
			Data:     rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "data"),
			Metadata: store.Metadata{CorrelationID: rapid.StringMatching(`[a-z]{0,4}`).Draw(t, "correlation")},
			Tags:     m.tags(t, minTags),
		}
		if rapid.Bool().Draw(t, "own id") {
			events[i].ID = uuid.New()
		}
	}
	return events
}

func (m *dcbMachine) query(t *rapid.T) store.Query {
	if rapid.IntRange(0, 9).Draw(t, "all") == 0 {
		return store.QueryAll()
	}
	n := rapid.IntRange(1, 3).Draw(t, "items")
	items := make([]store.QueryItem, n)
	for i := range items {
		types := rapid.SliceOfNDistinct(rapid.SampledFrom(dcbTypes), 0, 2, rapid.ID).Draw(t, "types")
		var tags []string
		for k := rapid.IntRange(0, 2).Draw(t, "item tags"); len(tags) < k || (len(tags) == 0 && len(types) == 0); {
			if tag := m.tag(t, "item tag"); !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
		}
		items[i] = store.QueryItem{Types: types, Tags: tags}
	}
	return store.QueryItems(items...)
}

// after draws a position to read or check from: often the position of the
// last event the query matches, as a decision would have it.
func (m *dcbMachine) after(t *rapid.T, q store.Query) int64 {
	if rapid.Bool().Draw(t, "after last match") {
		last := m.base
		for i, e := range m.log {
			if q.Matches(e.typ, e.tags) {
				last = m.base + int64(i) + 1
			}
		}
		return last
	}
	return m.base + rapid.Int64Range(0, int64(len(m.log))).Draw(t, "after")
}

// matching returns the events of the model that match q after position
// after, and their positions.
func (m *dcbMachine) matching(q store.Query, after int64) ([]taggedEvent, []int64) {
	var events []taggedEvent
	var positions []int64
	for i, e := range m.log {
		if pos := m.base + int64(i) + 1; pos > after && q.Matches(e.typ, e.tags) {
			events = append(events, e)
			positions = append(positions, pos)
		}
	}
	return events, positions
}

func (m *dcbMachine) record(streamID string, from int64, events []store.Event) {
	for i, e := range events {
		m.log = append(m.log, taggedEvent{
			modelEvent: modelEvent{id: e.ID, stream: streamID, version: from + int64(i) + 1, typ: e.Type,
				schema: max(e.SchemaVersion, 1), data: e.Data, encoding: e.Encoding, metadata: e.Metadata},
			tags: e.Tags,
		})
	}
	m.versions[streamID] = from + int64(len(events))
}

// appendIf appends with a condition whose position is one the store has
// shown: after a read of the query, as a decision does, or any position
// seen before. (A store that numbers the log after commit cannot tell
// where an event it has not numbered yet will be; positions no reader has
// seen mean nothing to it, so a caller never passes one.)
func (m *dcbMachine) appendIf(t *rapid.T) {
	q := m.query(t)
	var after int64
	if rapid.Bool().Draw(t, "decide") {
		after = m.base
		for r, err := range m.s.ReadQuery(m.ctx, q, m.base) {
			if err != nil {
				t.Fatalf("read query %v: %v", q, err)
			}
			after = r.Position
		}
		m.seen = max(m.seen, after)
	} else {
		after = m.base + rapid.Int64Range(0, m.seen-m.base).Draw(t, "after")
	}
	id := m.stream(t)
	expected := m.versions[id]
	switch rapid.IntRange(0, 5).Draw(t, "version") {
	case 0:
		expected = rapid.Int64Range(0, 6).Draw(t, "expected")
	case 1:
		expected = store.AnyVersion
	}
	events := m.events(t, 0, 1)
	cond := store.AppendCondition{FailIfEventsMatch: q, After: after}
	version, err := m.s.AppendIf(m.ctx, id, expected, events, cond)

	_, moved := m.matching(q, after)
	versionOK := expected == m.versions[id] || expected == store.AnyVersion
	if expected == store.AnyVersion {
		expected = m.versions[id]
	}
	switch {
	case len(moved) > 0 || !versionOK:
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("append if %v after %d to %q expecting %d (at %d), with %d matching events after it: got %v, want a conflict",
				q, after, id, expected, m.versions[id], len(moved), err)
		}
		var ce *store.ConditionError
		if versionOK && !errors.As(err, &ce) {
			t.Fatalf("append if %v after %d: got %v, want a *store.ConditionError", q, after, err)
		}
		if ce != nil {
			m.checkConditionError(t, ce, id, cond)
		}
		return
	case err != nil:
		t.Fatalf("append if %v after %d to %q expecting %d: %v", q, after, id, expected, err)
	case version != expected+int64(len(events)):
		t.Fatalf("append if returned version %d, want %d", version, expected+int64(len(events)))
	}
	m.record(id, expected, events)
}

// checkConditionError checks that a condition error names the condition
// and a query item that did match an event after its position.
func (m *dcbMachine) checkConditionError(t *rapid.T, ce *store.ConditionError, streamID string, cond store.AppendCondition) {
	if ce.StreamID != streamID || ce.Condition.After != cond.After || ce.Condition.FailIfEventsMatch.String() != cond.FailIfEventsMatch.String() {
		t.Fatalf("condition error names stream %q, condition %v after %d; want %q, %v after %d",
			ce.StreamID, ce.Condition.FailIfEventsMatch, ce.Condition.After, streamID, cond.FailIfEventsMatch, cond.After)
	}
	item := cond.FailIfEventsMatch
	switch {
	case len(item.Items) == 0 && ce.Item != -1:
		t.Fatalf("condition error on a query of every tagged event names item %d, want -1", ce.Item)
	case len(item.Items) > 0 && (ce.Item < 0 || ce.Item >= len(item.Items)):
		t.Fatalf("condition error names item %d of a query of %d items", ce.Item, len(item.Items))
	case len(item.Items) > 0:
		item = store.QueryItems(item.Items[ce.Item])
	}
	_, positions := m.matching(item, cond.After)
	if len(positions) == 0 {
		t.Fatalf("condition error names %v, which matches no event after %d", item, cond.After)
	}
	if ce.Position != 0 && !slices.Contains(positions, ce.Position) {
		t.Fatalf("condition error says an event matching %v is at position %d; the matching events after %d are at %v",
			item, ce.Position, cond.After, positions)
	}
	if !strings.Contains(ce.Error(), item.String()) && len(cond.FailIfEventsMatch.Items) > 0 {
		t.Fatalf("condition error %q does not show the item %v", ce.Error(), item)
	}
}

func (m *dcbMachine) readQuery(t *rapid.T) {
	q := m.query(t)
	after := m.after(t, q)
	got, err := collect(m.s.ReadQuery(m.ctx, q, after))
	if err != nil {
		t.Fatalf("read query %v after %d: %v", q, after, err)
	}
	want, positions := m.matching(q, after)
	compareTagged(t, fmt.Sprintf("query %v after %d", q, after), got, want, positions)
	if len(positions) > 0 {
		m.seen = max(m.seen, positions[len(positions)-1])
	}

	// Stopping after the first record is allowed, and leaves nothing open.
	if len(positions) == 0 {
		return
	}
	for r, err := range m.s.ReadQuery(m.ctx, q, after) {
		if err != nil || r.Position != positions[0] {
			t.Fatalf("first record of query %v after %d: position %d, %v; want %d", q, after, r.Position, err, positions[0])
		}
		break
	}
}

// Check compares the whole log since the run began with the model, tags
// included: a failed append wrote nothing, a successful one its whole
// batch, contiguous.
func (m *dcbMachine) Check(t *rapid.T) {
	got, err := readAllAfter(m.ctx, m.s, m.base)
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	positions := make([]int64, len(m.log))
	for i := range positions {
		positions[i] = m.base + int64(i) + 1
	}
	compareTagged(t, "log", got, m.log, positions)
	m.seen = m.base + int64(len(m.log))
}

func compareTagged(t *rapid.T, what string, got []store.Record, want []taggedEvent, positions []int64) {
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		switch {
		case r.Position != positions[i]:
			t.Fatalf("%s record %d: position %d, want %d", what, i, r.Position, positions[i])
		case r.StreamID != w.stream || r.Version != w.version:
			t.Fatalf("%s record %d: stream %q version %d, want %q version %d", what, i, r.StreamID, r.Version, w.stream, w.version)
		case r.Type != w.typ || !bytes.Equal(r.Data, w.data) || r.Metadata.CorrelationID != w.metadata.CorrelationID:
			t.Fatalf("%s record %d: %s %x %+v, want %s %x %+v", what, i, r.Type, r.Data, r.Metadata, w.typ, w.data, w.metadata)
		case !slices.Equal(r.Tags, w.tags):
			t.Fatalf("%s record %d: tags %q, want %q", what, i, r.Tags, w.tags)
		case r.ID == uuid.Nil || (w.id != uuid.Nil && r.ID != w.id):
			t.Fatalf("%s record %d: ID %v, want %v", what, i, r.ID, w.id)
		}
	}
}

func dcbStateMachine(t *testing.T, s DCBStore) {
	ctx := context.Background()
	runs := 0
	rapid.Check(t, func(t *rapid.T) {
		runs++
		base, err := s.Head(ctx)
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		m := &dcbMachine{s: s, ctx: ctx, run: fmt.Sprintf("dcb-%d-%s", runs, uuid.NewString()[:8]), base: base, seen: base, versions: map[string]int64{}}
		t.Repeat(map[string]func(*rapid.T){
			"append tagged and untagged events to a stream": func(t *rapid.T) {
				id := m.stream(t)
				events := m.events(t, 1, 0)
				v, err := s.Append(ctx, id, m.versions[id], events)
				if err != nil {
					t.Fatalf("append to %q: %v", id, err)
				}
				if v != m.versions[id]+int64(len(events)) {
					t.Fatalf("append returned version %d, want %d", v, m.versions[id]+int64(len(events)))
				}
				m.record(id, m.versions[id], events)
			},
			"append tagged events to any version": func(t *rapid.T) {
				id := m.stream(t)
				events := m.events(t, 1, 1)
				v, err := s.Append(ctx, id, store.AnyVersion, events)
				if err != nil || v != m.versions[id]+int64(len(events)) {
					t.Fatalf("append to %q at any version: %d, %v; want version %d", id, v, err, m.versions[id]+int64(len(events)))
				}
				m.record(id, m.versions[id], events)
			},
			"append if":        m.appendIf,
			"read by query":    m.readQuery,
			"append if, twice": func(t *rapid.T) { m.appendIf(t); m.appendIf(t) },
			"":                 m.Check,
		})
	})
}

func dcbInvalidInput(t *testing.T, s DCBStore) {
	ctx := context.Background()
	ok := store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Tags: []string{"t"}})}
	tagged := []store.Event{{Type: "A", Tags: []string{"t"}}}
	long := strings.Repeat("x", store.MaxTagLen+1)
	many := make([]string, store.MaxTags+1)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	cases := []struct {
		name   string
		events []store.Event
		cond   store.AppendCondition
	}{
		{"untagged event", []store.Event{{Type: "A", Tags: []string{"t"}}, {Type: "B"}}, ok},
		{"empty tag", []store.Event{{Type: "A", Tags: []string{""}}}, ok},
		{"tag too long", []store.Event{{Type: "A", Tags: []string{long}}}, ok},
		{"too many tags", []store.Event{{Type: "A", Tags: many}}, ok},
		{"repeated tag", []store.Event{{Type: "A", Tags: []string{"t", "u", "t"}}}, ok},
		{"tag with NUL", []store.Event{{Type: "A", Tags: []string{"a\x00b"}}}, ok},
		{"tag not UTF-8", []store.Event{{Type: "A", Tags: []string{"\xff"}}}, ok},
		{"empty query item", tagged, store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{})}},
		{"query tag too long", tagged, store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Tags: []string{long}})}},
		{"query type empty", tagged, store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Types: []string{""}})}},
		{"negative position", tagged, store.AppendCondition{FailIfEventsMatch: ok.FailIfEventsMatch, After: -1}},
	}
	for i, c := range cases {
		if _, err := s.AppendIf(ctx, "bad", store.NoStream, c.events, c.cond); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("append if with %s: got %v, want an error matching store.ErrInvalid", c.name, err)
		}
		if _, err := collect(s.ReadQuery(ctx, c.cond.FailIfEventsMatch, c.cond.After)); i >= 7 && !errors.Is(err, store.ErrInvalid) {
			t.Errorf("read query with %s: got %v, want an error matching store.ErrInvalid", c.name, err)
		}
	}
	// Plain appends refuse bad tags too; an untagged event is fine there.
	for _, c := range cases[1:7] {
		if _, err := s.Append(ctx, "bad", store.NoStream, c.events); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("append with %s: got %v, want an error matching store.ErrInvalid", c.name, err)
		}
	}
	if head, err := s.Head(ctx); err != nil || head != 0 {
		t.Fatalf("head after refused appends = %d, %v; want 0", head, err)
	}
	// The limits themselves are accepted.
	most := make([]string, store.MaxTags)
	for i := range most {
		most[i] = fmt.Sprintf("%0*d", store.MaxTagLen, i)
	}
	if _, err := s.AppendIf(ctx, "limits", store.NoStream, []store.Event{{Type: "A", Tags: most}}, store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Tags: most})}); err != nil {
		t.Fatalf("append if with %d tags of %d bytes: %v", store.MaxTags, store.MaxTagLen, err)
	}
	got, err := collect(s.ReadQuery(ctx, store.QueryItems(store.QueryItem{Tags: most[5:7]}), 0))
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Tags, most) {
		t.Fatalf("read back the event with the most tags: %v, %v", got, err)
	}
}

// dcbConditionPastTheHead checks that a condition's position past the
// head of the log, which no read can have reached and which would let
// through an append that the events after it conflict with, is refused
// with ErrInvalid, nothing written, while the head itself is a position a
// condition may give.
func dcbConditionPastTheHead(t *testing.T, s DCBStore) {
	ctx := context.Background()
	q := store.QueryItems(store.QueryItem{Tags: []string{"seat:1"}})
	claim := []store.Event{{Type: "Claimed", Tags: []string{"seat:1"}}}
	refused := func(after int64, events []store.Event) {
		t.Helper()
		before, err := s.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendIf(ctx, fmt.Sprint("past-", after), store.AnyVersion, events, store.AppendCondition{FailIfEventsMatch: q, After: after}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "past the head") {
			t.Errorf("append if after %d, past the head %d: got %v, want store.ErrInvalid saying so", after, before, err)
		}
		if head, err := s.Head(ctx); err != nil || head != before {
			t.Fatalf("head after a refused append = %d, %v; want %d", head, err, before)
		}
	}
	refused(1, claim)
	for i := range 3 {
		if _, err := s.AppendIf(ctx, fmt.Sprint("claim-", i), store.NoStream, claim, store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Tags: []string{fmt.Sprint("other:", i)}}), After: int64(i)}); err != nil {
			t.Fatalf("append if after %d, the head: %v", i, err)
		}
	}
	refused(4, claim)
	refused(1<<60, claim)
	refused(4, nil) // a decision that appends nothing checks its condition all the same
	// At the head, the condition holds: no event after it matches.
	if _, err := s.AppendIf(ctx, "at-head", store.NoStream, claim, store.AppendCondition{FailIfEventsMatch: q, After: 3}); err != nil {
		t.Fatalf("append if after the head: %v", err)
	}
}

// dcbConditionSeesEverything checks that a condition counts every event
// committed before the check, including events the store has not given a
// position yet, and those appended without a condition.
func dcbConditionSeesEverything(t *testing.T, s DCBStore) {
	ctx := context.Background()
	q := store.QueryItems(store.QueryItem{Types: []string{"Claimed"}, Tags: []string{"name:ada"}})
	read := func(after int64) []store.Record {
		t.Helper()
		recs, err := collect(s.ReadQuery(ctx, q, after))
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	claim := func(stream string, after int64) error {
		_, err := s.AppendIf(ctx, stream, store.NoStream, []store.Event{{Type: "Claimed", Tags: []string{"name:ada", "user:" + stream}}},
			store.AppendCondition{FailIfEventsMatch: q, After: after})
		return err
	}
	if recs := read(0); len(recs) != 0 {
		t.Fatalf("empty store: query yields %d records", len(recs))
	}
	// Unrelated events first, so that positions are not trivial.
	for i := range 3 {
		if _, err := s.Append(ctx, fmt.Sprint("other-", i), store.NoStream, []store.Event{{Type: "Claimed", Tags: []string{"name:bob"}}, {Type: "Noise"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := claim("u1", 0); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	// A second claim that read nothing must fail: the first is committed,
	// though no reader may have numbered it yet.
	var ce *store.ConditionError
	if err := claim("u2", 0); !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second claim after nothing read: %v, want a *store.ConditionError", err)
	}
	recs := read(0)
	if len(recs) != 1 || recs[0].StreamID != "u1" || recs[0].Position != 7 {
		t.Fatalf("query after the first claim yields %v, want u1's claim at position 7", recs)
	}
	last := recs[0].Position
	// An event appended without a condition, and not read since, breaks a
	// condition on the position read before it.
	if _, err := s.Append(ctx, "u3", store.NoStream, []store.Event{{Type: "Claimed", Tags: []string{"name:ada", "user:u3"}}}); err != nil {
		t.Fatal(err)
	}
	if err := claim("u4", last); !errors.As(err, &ce) || ce.Item != 0 || (ce.Position != 0 && ce.Position != 8) {
		t.Fatalf("claim after an unread plain append: %v, want a *store.ConditionError for item 0 at 8 (or not numbered yet)", err)
	}
	if recs := read(last); len(recs) != 1 || recs[0].StreamID != "u3" || recs[0].Position != 8 {
		t.Fatalf("query after %d yields %v, want u3's claim at 8", last, recs)
	}
	// With the position of the last event read, the condition holds.
	if err := claim("u5", 8); err != nil {
		t.Fatalf("claim after reading everything: %v", err)
	}
	// Other tags, other types: no conflict.
	if _, err := s.AppendIf(ctx, "u6", store.NoStream, []store.Event{{Type: "Claimed", Tags: []string{"name:cy"}}},
		store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Types: []string{"Claimed"}, Tags: []string{"name:cy"}})}); err != nil {
		t.Fatalf("claim of another name: %v", err)
	}
	// A condition with no events to append checks and writes nothing.
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendIf(ctx, "u7", store.NoStream, nil, store.AppendCondition{FailIfEventsMatch: q, After: 8}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("empty append if after 8: %v, want a conflict (u5 claimed at 9)", err)
	}
	if _, err := s.AppendIf(ctx, "u7", store.NoStream, nil, store.AppendCondition{FailIfEventsMatch: q, After: head}); err != nil {
		t.Fatalf("empty append if after the head: %v", err)
	}
	if again, err := s.Head(ctx); err != nil || again != head {
		t.Fatalf("head after empty appends = %d, %v; want %d", again, err, head)
	}
}

// dcbUntagged checks that queries see tagged events only, even those of
// a type the query names, and that a query of every tagged event sees all
// of them.
func dcbUntagged(t *testing.T, s DCBStore) {
	ctx := context.Background()
	if _, err := s.Append(ctx, "s", store.NoStream, []store.Event{{Type: "A"}, {Type: "A", Tags: []string{"t"}}, {Type: "B"}, {Type: "B", Tags: []string{"u"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    store.Query
		want []int64
	}{
		{store.QueryItems(store.QueryItem{Types: []string{"A"}}), []int64{2}},
		{store.QueryItems(store.QueryItem{Types: []string{"A", "B"}}), []int64{2, 4}},
		{store.QueryAll(), []int64{2, 4}},
		{store.QueryItems(store.QueryItem{Tags: []string{"t"}}, store.QueryItem{Types: []string{"B"}}), []int64{2, 4}},
		{store.QueryItems(store.QueryItem{Tags: []string{"t", "u"}}), nil},
	} {
		recs, err := collect(s.ReadQuery(ctx, c.q, 0))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]int64, len(recs))
		for i, r := range recs {
			got[i] = r.Position
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("query %v yields positions %v, want %v", c.q, got, c.want)
		}
	}
	// The log and the stream carry the tags back, nil for none.
	log, err := readAllAfter(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := collect(s.ReadStream(ctx, "s", 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, recs := range [][]store.Record{log, stream} {
		if len(recs) != 4 || recs[0].Tags != nil || !slices.Equal(recs[1].Tags, []string{"t"}) || recs[2].Tags != nil {
			t.Fatalf("records carry tags %q, want nil, [t], nil, [u]", lo.Map(recs, func(r store.Record, _ int) []string { return r.Tags }))
		}
	}
}

func dcbCancellation(t *testing.T, s DCBStore) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cond := store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Tags: []string{"t"}})}
	if _, err := s.AppendIf(cancelled, "c", store.NoStream, []store.Event{{Type: "A", Tags: []string{"t"}}}, cond); !errors.Is(err, context.Canceled) {
		t.Fatalf("append if with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := collect(s.ReadQuery(cancelled, cond.FailIfEventsMatch, 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("read query with a cancelled context: %v, want context.Canceled", err)
	}
	if head, err := s.Head(ctx); err != nil || head != 0 {
		t.Fatalf("head after a cancelled append if = %d, %v; want 0", head, err)
	}
}

// raceWriter is one writer of dcbRacingWriters: it takes seats in the
// slots it is given, one seat per append, while each of its slots has
// fewer than capacity seats taken.
type raceWriter struct {
	slots []string
	blind bool // appends noise to its slots without a condition
}

// raceAppend is a successful conditional append and the condition it
// passed.
type raceAppend struct {
	id   uuid.UUID
	cond store.AppendCondition
}

// dcbRacingWriters runs writers concurrently, each on a few of a handful
// of slots, so that some share slots and some do not. Each writer reads
// the seats and noise of its slots, and takes a seat in all of them at
// once when every one has room, on the condition that nothing it read
// has changed; on a conflict it reads again. Some writers append noise
// to their slots without a condition. At the end no slot is over
// capacity, and the log shows every successful conditional append after
// what it read and before anything that would have broken its
// condition.
func dcbRacingWriters(t *testing.T, s DCBStore) {
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	const capacity = 3
	runs := 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		run := fmt.Sprintf("race-%d-%s", runs, uuid.NewString()[:8])
		slotNames := []string{run + ":p", run + ":q", run + ":r", run + ":s"}
		writers := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) raceWriter {
			return raceWriter{
				slots: rapid.SliceOfNDistinct(rapid.SampledFrom(slotNames), 1, 2, rapid.ID).Draw(t, "slots"),
				blind: rapid.IntRange(0, 4).Draw(t, "blind") == 0,
			}
		}), 2, 6).Draw(rt, "writers")
		base, err := s.Head(ctx)
		if err != nil {
			rt.Fatal(err)
		}

		var mu sync.Mutex
		var successes []raceAppend
		var failures []error
		var wg sync.WaitGroup
		for w, wr := range writers {
			wg.Go(func() {
				items := make([]store.QueryItem, len(wr.slots))
				for i, slot := range wr.slots {
					items[i] = store.QueryItem{Types: []string{"Seat", "Noise"}, Tags: []string{slot}}
				}
				q := store.QueryItems(items...)
				for n := 0; n < 2*capacity; n++ {
					if wr.blind {
						if _, err := s.Append(ctx, fmt.Sprintf("%s/noise-%d-%d", run, w, n), store.NoStream,
							[]store.Event{{Type: "Noise", Tags: wr.slots}}); err != nil {
							mu.Lock()
							failures = append(failures, err)
							mu.Unlock()
						}
						continue
					}
					seats := map[string]int{}
					var last int64
					for r, err := range s.ReadQuery(ctx, q, 0) {
						if err != nil {
							mu.Lock()
							failures = append(failures, err)
							mu.Unlock()
							return
						}
						if r.Type == "Seat" {
							for _, tag := range r.Tags {
								seats[tag]++
							}
						}
						last = r.Position
					}
					if slices.ContainsFunc(wr.slots, func(slot string) bool { return seats[slot] >= capacity }) {
						return
					}
					id := uuid.New()
					cond := store.AppendCondition{FailIfEventsMatch: q, After: last}
					_, err := s.AppendIf(ctx, fmt.Sprintf("%s/w%d-%d", run, w, n), store.NoStream,
						[]store.Event{{ID: id, Type: "Seat", Tags: wr.slots}}, cond)
					mu.Lock()
					switch {
					case err == nil:
						successes = append(successes, raceAppend{id: id, cond: cond})
					case !errors.Is(err, store.ErrConflict):
						failures = append(failures, err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(failures) > 0 {
			rt.Fatalf("writers failed: %v", errors.Join(failures...))
		}
		log, err := readAllAfter(ctx, s, base)
		if err != nil {
			rt.Fatal(err)
		}
		seats := map[string]int{}
		at := map[uuid.UUID]int{}
		for i, r := range log {
			at[r.ID] = i
			if r.Type == "Seat" {
				for _, tag := range r.Tags {
					seats[tag]++
				}
			}
		}
		for slot, n := range seats {
			if n > capacity {
				rt.Fatalf("slot %s has %d seats, capacity %d", slot, n, capacity)
			}
		}
		for _, a := range successes {
			i, ok := at[a.id]
			if !ok {
				rt.Fatalf("a successful append (%v) is not in the log", a.id)
			}
			for _, r := range log[:i] {
				if r.Position > a.cond.After && a.cond.FailIfEventsMatch.Matches(r.Type, r.Tags) {
					rt.Fatalf("the log shows %s %v at %d between the position %d its condition read and the append at %d that it should have failed",
						r.Type, r.Tags, r.Position, a.cond.After, log[i].Position)
				}
			}
		}
	})
}

// readAllAfter reads the whole log after position after.
func readAllAfter(ctx context.Context, s store.Store, after int64) ([]store.Record, error) {
	var all []store.Record
	for {
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 500})
		if err != nil || len(page) == 0 {
			return all, err
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
}
