package proptest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/store"
)

// contractTimeout bounds each contract test that waits on other goroutines,
// so that a store that loses a wake-up fails the test instead of hanging it.
// It is a deadlock guard, not a speed requirement.
const contractTimeout = 3 * time.Minute

// StoreContract runs the behaviour every [store.Store] must have against the
// stores that open returns. Each subtest calls open once and uses the store
// alone; open should return a fresh, empty store and register its cleanup
// with t.Cleanup. Among the behaviours: writes cut by deadlines at any
// moment tell their callers the truth, as [store.Store.Append] says (on a
// store that is also a [store.StateStore], consumers' commits too); and
// once the store is closed, every exported method of its type that
// returns an error, or an iter.Seq2 that yields one, fails with an error
// matching [store.ErrClosed], whichever interface it belongs to.
//
// Adapters run it from their own tests:
//
//	func TestContract(t *testing.T) {
//		proptest.StoreContract(t, func(t *testing.T) store.Store {
//			s, err := mystore.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// It takes *testing.T, not [T]: it runs each behaviour as a subtest
// (t.Run) and hands that subtest's t to open.
func StoreContract(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, store.Store)
	}{
		{"StateMachine", contractStateMachine},
		{"FailedBatchWritesNothing", contractFailedBatch},
		{"DuplicateEventIDs", contractDuplicateIDs},
		{"InvalidInput", contractInvalidInput},
		{"Payloads", contractPayloads},
		{"EmptyValues", contractEmptyValues},
		{"ReadStreamFrom", contractReadStreamFrom},
		{"ReadLogLimits", contractReadLogLimits},
		{"Checkpoints", contractCheckpoints},
		{"Wait", contractWait},
		{"CloseEndsWaits", contractCloseEndsWaits},
		{"CallsAfterCloseFail", contractCallsAfterClose},
		{"Cancellation", contractCancellation},
		{"DeadlinesTellTheTruth", contractDeadlines},
		{"ConcurrentWritersTailingReader", contractConcurrentLog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// modelEvent is what the state machine remembers of an appended event.
type modelEvent struct {
	id       uuid.UUID
	stream   string
	version  int64
	typ      string
	schema   int
	data     []byte
	encoding string
	metadata store.Metadata
}

// storeMachine checks a store against a list of the events it should hold.
// One store serves every rapid run: each run uses its own stream names and
// checks only the part of the global log written after it started.
type storeMachine struct {
	s        store.Store
	ctx      context.Context
	run      string
	base     int64 // head of the log when the run started
	log      []modelEvent
	versions map[string]int64
}

var machineTypes = []string{"Opened", "Deposited", "Withdrawn", "Ünïcødé ✓"}

// machineEncodings are Encoding values a store must keep as they are.
var machineEncodings = []string{"", "", "deflate", "aes256gcm:k1", "personal+deflate+aes256gcm:key-2.b_c"}

func (m *storeMachine) stream(t *rapid.T) string {
	return m.run + "/" + rapid.SampledFrom([]string{"a", "b", "c", "δ"}).Draw(t, "stream")
}

func (m *storeMachine) events(t *rapid.T) []store.Event {
	n := rapid.IntRange(0, 4).Draw(t, "batch")
	events := make([]store.Event, n)
	for i := range events {
		events[i] = store.Event{
			Type:          rapid.SampledFrom(machineTypes).Draw(t, "type"),
			SchemaVersion: rapid.IntRange(1, 3).Draw(t, "schema"),
			Data:          rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, "data"),
			Encoding:      rapid.SampledFrom(machineEncodings).Draw(t, "encoding"),
			Metadata: store.Metadata{
				CorrelationID: rapid.StringMatching(`[a-z0-9]{0,8}`).Draw(t, "correlation"),
				CausationID:   rapid.StringMatching(`[a-z0-9]{0,8}`).Draw(t, "causation"),
			},
		}
		if rapid.Bool().Draw(t, "own id") {
			events[i].ID = uuid.New()
		}
	}
	return events
}

func (m *storeMachine) appendEvents(t *rapid.T, streamID string, expected int64, events []store.Event) {
	actual := m.versions[streamID]
	version, err := m.s.Append(m.ctx, streamID, expected, events)
	if expected != store.AnyVersion && expected != actual {
		var conflict *store.ConflictError
		if !errors.Is(err, store.ErrConflict) || !errors.As(err, &conflict) {
			t.Fatalf("append to %q expecting %d at version %d: got error %v, want a *store.ConflictError", streamID, expected, actual, err)
		}
		if conflict.StreamID != streamID || conflict.Expected != expected || conflict.Actual != actual {
			t.Fatalf("conflict error says stream %q expected %d actual %d, want %q, %d, %d",
				conflict.StreamID, conflict.Expected, conflict.Actual, streamID, expected, actual)
		}
		return
	}
	if err != nil {
		t.Fatalf("append %d events to %q expecting %d at version %d: %v", len(events), streamID, expected, actual, err)
	}
	if want := actual + int64(len(events)); version != want {
		t.Fatalf("append to %q returned version %d, want %d", streamID, version, want)
	}
	for i, e := range events {
		m.log = append(m.log, modelEvent{
			id: e.ID, stream: streamID, version: actual + int64(i) + 1, typ: e.Type,
			schema: e.SchemaVersion, data: e.Data, encoding: e.Encoding, metadata: e.Metadata,
		})
	}
	m.versions[streamID] = version
}

// Check compares every stream, the whole log and the head with the model.
func (m *storeMachine) Check(t *rapid.T) {
	head, err := m.s.Head(m.ctx)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if want := m.base + int64(len(m.log)); head != want {
		t.Fatalf("head is %d, want %d", head, want)
	}
	for streamID := range m.versions {
		var want []modelEvent
		for _, e := range m.log {
			if e.stream == streamID {
				want = append(want, e)
			}
		}
		got, err := collect(m.s.ReadStream(m.ctx, streamID, 0))
		if err != nil {
			t.Fatalf("read stream %q: %v", streamID, err)
		}
		compareRecords(t, "stream "+streamID, got, want)
		// A store that finds events by ID finds each one as its stream
		// holds it (its position aside, which PostgreSQL may give only
		// later), and no other.
		if f, ok := m.s.(store.EventFinder); ok {
			for _, r := range got {
				found, ok, err := f.FindEvent(m.ctx, r.ID)
				if err != nil || !ok {
					t.Fatalf("find event %v (%s@%d): found %v, %v", r.ID, r.StreamID, r.Version, ok, err)
				}
				found.Position, r.Position = 0, 0
				if !reflect.DeepEqual(found, r) {
					t.Fatalf("find event %v: %+v; the stream holds %+v", r.ID, found, r)
				}
			}
		}
	}
	if f, ok := m.s.(store.EventFinder); ok {
		if rec, found, err := f.FindEvent(m.ctx, uuid.New()); err != nil || found {
			t.Fatalf("find an event ID never stored: %+v, %v, %v; want not found", rec, found, err)
		}
	}
}

func compareRecords(t *rapid.T, what string, got []store.Record, want []modelEvent) {
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		switch {
		case r.StreamID != w.stream || r.Version != w.version:
			t.Fatalf("%s record %d: stream %q version %d, want %q version %d", what, i, r.StreamID, r.Version, w.stream, w.version)
		case r.Type != w.typ || r.SchemaVersion != w.schema:
			t.Fatalf("%s record %d: type %q v%d, want %q v%d", what, i, r.Type, r.SchemaVersion, w.typ, w.schema)
		case !bytes.Equal(r.Data, w.data):
			t.Fatalf("%s record %d: data %x, want %x", what, i, r.Data, w.data)
		case r.Encoding != w.encoding:
			t.Fatalf("%s record %d: encoding %q, want %q", what, i, r.Encoding, w.encoding)
		case r.Metadata.CorrelationID != w.metadata.CorrelationID || r.Metadata.CausationID != w.metadata.CausationID:
			t.Fatalf("%s record %d: metadata %+v, want %+v", what, i, r.Metadata, w.metadata)
		case r.ID == uuid.Nil || (w.id != uuid.Nil && r.ID != w.id):
			t.Fatalf("%s record %d: ID %v, want %v (or a fresh one when none was given)", what, i, r.ID, w.id)
		case r.Time.IsZero() || r.Time.Location() != time.UTC:
			t.Fatalf("%s record %d: time %v, want a UTC timestamp", what, i, r.Time)
		}
	}
}

func contractStateMachine(t *testing.T, s store.Store) {
	ctx := context.Background()
	runs := 0
	rapid.Check(t, func(t *rapid.T) {
		runs++
		base, err := s.Head(ctx)
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		m := &storeMachine{s: s, ctx: ctx, run: fmt.Sprintf("sm-%d-%s", runs, uuid.NewString()[:8]), base: base, versions: map[string]int64{}}
		t.Repeat(map[string]func(*rapid.T){
			"append expecting the current version": func(t *rapid.T) {
				id := m.stream(t)
				m.appendEvents(t, id, m.versions[id], m.events(t))
			},
			"append expecting a wrong version": func(t *rapid.T) {
				id := m.stream(t)
				wrong := rapid.Int64Range(0, 8).Filter(func(v int64) bool { return v != m.versions[id] }).Draw(t, "wrong")
				m.appendEvents(t, id, wrong, m.events(t))
			},
			"append expecting no stream": func(t *rapid.T) {
				id := m.stream(t)
				m.appendEvents(t, id, store.NoStream, m.events(t))
			},
			"append to any version": func(t *rapid.T) {
				id := m.stream(t)
				m.appendEvents(t, id, store.AnyVersion, m.events(t))
			},
			"read the log in pages": func(t *rapid.T) {
				limit := rapid.IntRange(1, 7).Draw(t, "limit")
				var types []string
				if rapid.Bool().Draw(t, "filter") {
					types = rapid.SliceOfNDistinct(rapid.SampledFrom(machineTypes), 1, 2, rapid.ID).Draw(t, "types")
				}
				var got []store.Record
				after := m.base
				for {
					page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: limit, Types: types})
					if err != nil {
						t.Fatalf("read log after %d: %v", after, err)
					}
					if len(page) > limit {
						t.Fatalf("read log with limit %d returned %d records", limit, len(page))
					}
					if len(page) == 0 {
						break
					}
					for _, r := range page {
						if r.Position <= after {
							t.Fatalf("read log after %d returned position %d", after, r.Position)
						}
						after = r.Position
					}
					got = append(got, page...)
				}
				var want []modelEvent
				for _, e := range m.log {
					if len(types) == 0 || slices.Contains(types, e.typ) {
						want = append(want, e)
					}
				}
				compareRecords(t, fmt.Sprintf("log (types %q)", types), got, want)
				if len(types) == 0 {
					for i, r := range got {
						if want := m.base + int64(i) + 1; r.Position != want {
							t.Fatalf("log record %d has position %d, want %d: positions must be contiguous", i, r.Position, want)
						}
					}
				}
			},
			"": m.Check,
		})
	})
}

func contractFailedBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Append(ctx, "batch", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	bad := []store.Event{{Type: "A"}, {Type: "B"}, {Type: ""}, {Type: "C"}}
	if _, err := s.Append(ctx, "batch", 1, bad); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("batch with an empty type: got %v, want store.ErrInvalid", err)
	}
	if _, err := s.Append(ctx, "batch", 0, []store.Event{{Type: "A"}, {Type: "B"}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("batch expecting version 0 of a stream at 1: got %v, want store.ErrConflict", err)
	}
	recs, err := collect(s.ReadStream(ctx, "batch", 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("after two failed batches the stream has %d events, want 1", len(recs))
	}
	if head, err := s.Head(ctx); err != nil || head != 1 {
		t.Fatalf("head after two failed batches = %d, %v; want 1", head, err)
	}
}

func contractDuplicateIDs(t *testing.T, s store.Store) {
	ctx := context.Background()
	x, y := uuid.New(), uuid.New()
	if _, err := s.Append(ctx, "first", store.NoStream, []store.Event{{ID: x, Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	// An ID already stored, in another stream, refuses the whole batch.
	if _, err := s.Append(ctx, "second", store.NoStream, []store.Event{{ID: y, Type: "A"}, {ID: x, Type: "B"}}); !errors.Is(err, store.ErrDuplicateEvent) {
		t.Fatalf("batch reusing a stored event ID: got %v, want store.ErrDuplicateEvent", err)
	}
	// So does an ID given twice in one batch.
	if _, err := s.Append(ctx, "second", store.NoStream, []store.Event{{ID: y, Type: "A"}, {ID: y, Type: "B"}}); !errors.Is(err, store.ErrDuplicateEvent) {
		t.Fatalf("batch with one ID twice: got %v, want store.ErrDuplicateEvent", err)
	}
	if head, err := s.Head(ctx); err != nil || head != 1 {
		t.Fatalf("head after refused duplicates = %d, %v; want 1", head, err)
	}
	if recs, err := collect(s.ReadStream(ctx, "second", 0)); err != nil || len(recs) != 0 {
		t.Fatalf("stream of refused batches holds %d events, %v; want none", len(recs), err)
	}
	// The refused ID is free to use once.
	if _, err := s.Append(ctx, "second", store.NoStream, []store.Event{{ID: y, Type: "A"}}); err != nil {
		t.Fatalf("append with the ID of a refused batch: %v", err)
	}
	// Writers racing with the same ID on different streams: exactly one
	// wins, whatever the interleaving.
	for round := range 20 {
		id := uuid.New()
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for w := range errs {
			wg.Go(func() {
				_, errs[w] = s.Append(ctx, fmt.Sprintf("race-%d-%d", round, w), store.NoStream, []store.Event{{ID: id, Type: "R"}})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrDuplicateEvent):
				t.Fatalf("racing append of one event ID: %v, want nil or store.ErrDuplicateEvent", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of 4 racing appends of one event ID succeeded, want exactly 1", won)
		}
	}
}

func contractInvalidInput(t *testing.T, s store.Store) {
	ctx := context.Background()
	long := strings.Repeat("x", store.MaxStreamIDLen+1)
	overSchema := int(int64(store.MaxSchemaVersion) + 1) // where int is 32 bits, negative: refused all the same
	cases := []struct {
		name   string
		stream string
		events []store.Event
	}{
		{"empty stream ID", "", []store.Event{{Type: "A"}}},
		{"stream ID too long", long, []store.Event{{Type: "A"}}},
		{"stream ID not UTF-8", "bad\xff", []store.Event{{Type: "A"}}},
		{"stream ID with NUL", "bad\x00id", []store.Event{{Type: "A"}}},
		{"empty type", "s", []store.Event{{Type: ""}}},
		{"type too long", "s", []store.Event{{Type: strings.Repeat("t", store.MaxTypeLen+1)}}},
		{"negative schema version", "s", []store.Event{{Type: "A", SchemaVersion: -1}}},
		{"schema version past the limit", "s", []store.Event{{Type: "A"}, {Type: "A", SchemaVersion: overSchema}}},
		{"encoding with NUL", "s", []store.Event{{Type: "A", Encoding: "deflate\x00"}}},
		{"encoding not UTF-8", "s", []store.Event{{Type: "A", Encoding: "\xff"}}},
		{"encoding too long", "s", []store.Event{{Type: "A", Encoding: strings.Repeat("e", store.MaxEncodingLen+1)}}},
		{"correlation ID not UTF-8", "s", []store.Event{{Type: "A", Metadata: store.Metadata{CorrelationID: "bad\xff"}}}},
		{"causation ID with NUL", "s", []store.Event{{Type: "A", Metadata: store.Metadata{CausationID: "bad\x00id"}}}},
		{"metadata value with NUL", "s", []store.Event{{Type: "A"}, {Type: "A", Metadata: store.Metadata{Extra: map[string]string{"k": "a\x00b"}}}}},
		{"metadata key not UTF-8", "s", []store.Event{{Type: "A", Metadata: store.Metadata{Extra: map[string]string{"\xfe": "v"}}}}},
	}
	for _, c := range cases {
		_, err := s.Append(ctx, c.stream, store.AnyVersion, c.events)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "append") {
			t.Errorf("%s: got %v, want an error matching store.ErrInvalid that names the append", c.name, err)
		}
	}
	if _, err := s.Append(ctx, "s", -2, []store.Event{{Type: "A"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("expected version -2: got %v, want store.ErrInvalid", err)
	}
	// Versions past the largest int64 are refused alike, not left to
	// overflow in a database.
	if _, err := s.Append(ctx, "s", math.MaxInt64, []store.Event{{Type: "A"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("expected version MaxInt64: got %v, want store.ErrInvalid", err)
	}
	// A read of what no append could have stored is refused alike,
	// rather than answered with nothing by one adapter and with a
	// database's error by another.
	unstorable := []struct{ name, stream, typ string }{
		{"empty", "", ""},
		{"too long", long, strings.Repeat("t", store.MaxTypeLen+1)},
		{"not UTF-8", "bad\xff", "A\xff"},
		{"with NUL", "bad\x00id", "A\x00"},
	}
	for _, c := range unstorable {
		recs, err := collect(s.ReadStream(ctx, c.stream, 0))
		if !errors.Is(err, store.ErrInvalid) || len(recs) != 0 {
			t.Errorf("read stream with a stream ID %s: %d records, %v; want none and store.ErrInvalid", c.name, len(recs), err)
		}
		recs, err = s.ReadLog(ctx, store.LogQuery{Types: []string{"A", c.typ}})
		if !errors.Is(err, store.ErrInvalid) || len(recs) != 0 {
			t.Errorf("read log of a type %s: %d records, %v; want none and store.ErrInvalid", c.name, len(recs), err)
		}
	}
	// The longest valid names, and the highest schema version, are kept
	// whole, not truncated or wrapped around.
	maxID := strings.Repeat("é", store.MaxStreamIDLen/2)
	maxType := strings.Repeat("t", store.MaxTypeLen)
	if _, err := s.Append(ctx, maxID, store.NoStream, []store.Event{{Type: maxType, SchemaVersion: store.MaxSchemaVersion}}); err != nil {
		t.Fatalf("append with the longest valid stream ID and type, and the highest schema version: %v", err)
	}
	recs, err := collect(s.ReadStream(ctx, maxID, 0))
	if err != nil || len(recs) != 1 || recs[0].Type != maxType || recs[0].StreamID != maxID || recs[0].SchemaVersion != store.MaxSchemaVersion {
		t.Fatalf("longest names or highest schema version did not round-trip: %d records, err %v", len(recs), err)
	}
	if head, err := s.Head(ctx); err != nil || head != 1 {
		t.Fatalf("head = %d, %v after refused appends; want 1", head, err)
	}
	// What could have been stored but was not is simply absent.
	if recs, err := collect(s.ReadStream(ctx, "bad", 0)); err != nil || len(recs) != 0 {
		t.Fatalf("read stream of a valid ID never appended to: %d records, %v; want none and no error", len(recs), err)
	}
	if recs, err := s.ReadLog(ctx, store.LogQuery{Types: []string{"Never"}}); err != nil || len(recs) != 0 {
		t.Fatalf("read log of a valid type never appended: %d records, %v; want none and no error", len(recs), err)
	}
}

func contractPayloads(t *testing.T, s store.Store) {
	ctx := context.Background()
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>8)
	}
	payloads := map[string][]byte{
		"empty":   {},
		"nil":     nil,
		"unicode": []byte(`{"name":"Fido 🐕","city":"Zürich","note":"中文"}`),
		"binary":  {0, 1, 2, 0xff, 0xfe, 0},
		"1MiB":    big,
	}
	for name, data := range payloads {
		meta := store.Metadata{CorrelationID: "c-" + name, CausationID: "ç-" + name, Extra: map[string]string{"ключ": "значение"}}
		before := time.Now()
		if _, err := s.Append(ctx, "payload-"+name, store.NoStream, []store.Event{{Type: "Typé", Data: data, Encoding: "test", Metadata: meta}}); err != nil {
			t.Fatalf("append %s payload: %v", name, err)
		}
		after := time.Now()
		recs, err := collect(s.ReadStream(ctx, "payload-"+name, 0))
		if err != nil {
			t.Fatalf("read %s payload: %v", name, err)
		}
		if len(recs) != 1 {
			t.Fatalf("%s payload: %d records, want 1", name, len(recs))
		}
		r := recs[0]
		if !bytes.Equal(r.Data, data) || r.Encoding != "test" || r.Type != "Typé" || r.SchemaVersion != 1 {
			t.Fatalf("%s payload did not round-trip: %d bytes (want %d), encoding %q, type %q v%d",
				name, len(r.Data), len(data), r.Encoding, r.Type, r.SchemaVersion)
		}
		if r.Metadata.CorrelationID != meta.CorrelationID || r.Metadata.CausationID != meta.CausationID || r.Metadata.Extra["ключ"] != "значение" {
			t.Fatalf("%s metadata did not round-trip: %+v", name, r.Metadata)
		}
		if r.Data == nil {
			t.Fatalf("%s payload read back as nil; want an empty slice: a record's Data is never nil", name)
		}
		// The time is when the append happened, whatever unit the store
		// keeps it in; the slack allows for a database's own clock and
		// coarser precision.
		if r.Time.Before(before.Add(-time.Minute)) || r.Time.After(after.Add(time.Minute)) {
			t.Fatalf("%s payload recorded at %v, but appended between %v and %v", name, r.Time, before.UTC(), after.UTC())
		}
	}
}

// contractEmptyValues: an empty payload, nil or not, reads back as an
// empty slice, and empty extra metadata, nil or not, as nil, on every
// adapter alike (see store.Record.Data and store.Metadata.Extra).
func contractEmptyValues(t *testing.T, s store.Store) {
	ctx := context.Background()
	events := []store.Event{
		{Type: "A", Data: nil, Metadata: store.Metadata{Extra: map[string]string{}}},
		{Type: "A", Data: []byte{}, Metadata: store.Metadata{CorrelationID: "c", Extra: map[string]string{}}},
		{Type: "A", Data: nil},
	}
	if _, err := s.Append(ctx, "empty", store.NoStream, events); err != nil {
		t.Fatal(err)
	}
	stream, err := collect(s.ReadStream(ctx, "empty", 0))
	if err != nil {
		t.Fatal(err)
	}
	log, err := s.ReadLog(ctx, store.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for what, recs := range map[string][]store.Record{"stream": stream, "log": log} {
		if len(recs) != len(events) {
			t.Fatalf("%s: %d records, want %d", what, len(recs), len(events))
		}
		for i, r := range recs {
			if r.Data == nil || len(r.Data) != 0 || r.Metadata.Extra != nil {
				t.Errorf("%s record %d: data %#v, extra %#v; want an empty, non-nil slice and nil", what, i, r.Data, r.Metadata.Extra)
			}
		}
	}
}

func contractReadStreamFrom(t *testing.T, s store.Store) {
	ctx := context.Background()
	events := make([]store.Event, 10)
	for i := range events {
		events[i] = store.Event{Type: "N", Data: []byte{byte(i + 1)}}
	}
	if _, err := s.Append(ctx, "from", store.NoStream, events); err != nil {
		t.Fatal(err)
	}
	for _, from := range []int64{-1, 0, 1, 4, 10, 11} {
		recs, err := collect(s.ReadStream(ctx, "from", from))
		if err != nil {
			t.Fatal(err)
		}
		first := max(from, 1)
		if want := max(0, 10-first+1); int64(len(recs)) != want {
			t.Fatalf("read from %d: %d records, want %d", from, len(recs), want)
		}
		for i, r := range recs {
			if r.Version != first+int64(i) || r.Data[0] != byte(r.Version) {
				t.Fatalf("read from %d: record %d has version %d", from, i, r.Version)
			}
		}
	}
	// A consumer may stop early, and the store keeps working.
	n := 0
	for _, err := range s.ReadStream(ctx, "from", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	if _, err := s.Append(ctx, "from", 10, []store.Event{{Type: "N", Data: []byte{11}}}); err != nil {
		t.Fatalf("append after an abandoned read: %v", err)
	}
	if recs, err := collect(s.ReadStream(ctx, "missing", 0)); err != nil || len(recs) != 0 {
		t.Fatalf("reading a missing stream: %d records, %v; want none and no error", len(recs), err)
	}
}

// contractReadLogLimits: a Limit of 0 or less reads a page of
// store.DefaultLogLimit records, any larger Limit and any After are
// accepted, and an After below 0 reads from the start, whatever a
// database's integers can hold.
func contractReadLogLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Small appends and a large one: a database may keep them apart.
	const n = store.DefaultLogLimit + 1
	for i := range 3 {
		if _, err := s.Append(ctx, fmt.Sprint("limits-", i), store.NoStream, []store.Event{{Type: "L"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, "limits", store.NoStream, slices.Repeat([]store.Event{{Type: "L"}}, n-3)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		after int64
		limit int
		types []string
		want  int
	}{
		{0, 0, nil, store.DefaultLogLimit},
		{0, -1, nil, store.DefaultLogLimit},
		{0, math.MinInt, []string{"L"}, store.DefaultLogLimit},
		{0, math.MaxInt32, nil, n},
		{0, math.MaxInt32 + 1, nil, n},
		{0, math.MaxInt, nil, n},
		{0, math.MaxInt, []string{"L"}, n},
		{-5, 10, nil, 10},
		{math.MinInt64, math.MaxInt, nil, n},
		{math.MinInt64, 10, []string{"L"}, 10},
		{n - 1, math.MaxInt, nil, 1},
		{n - 1, math.MaxInt, []string{"L"}, 1},
		{math.MaxInt32 + 1, 10, nil, 0},
		{math.MaxInt32 + 1, 10, []string{"L"}, 0},
		{math.MaxInt64 - 1, math.MaxInt, nil, 0},
		{math.MaxInt64 - 1, math.MaxInt, []string{"L"}, 0},
		{math.MaxInt64, 0, nil, 0},
		{math.MaxInt64, math.MaxInt, []string{"L"}, 0},
	}
	for _, c := range cases {
		recs, err := s.ReadLog(ctx, store.LogQuery{After: c.after, Limit: c.limit, Types: c.types})
		if err != nil {
			t.Errorf("read log after %d, limit %d, types %q: %v", c.after, c.limit, c.types, err)
			continue
		}
		if len(recs) != c.want {
			t.Errorf("read log after %d, limit %d, types %q: %d records, want %d", c.after, c.limit, c.types, len(recs), c.want)
			continue
		}
		for i, r := range recs {
			if want := max(c.after, 0) + int64(i) + 1; r.Position != want {
				t.Errorf("read log after %d, limit %d, types %q: record %d has position %d, want %d", c.after, c.limit, c.types, i, r.Position, want)
				break
			}
		}
	}
}

func contractCheckpoints(t *testing.T, s store.Store) {
	ctx := context.Background()
	if pos, err := s.Checkpoint(ctx, "projector"); err != nil || pos != 0 {
		t.Fatalf("new consumer checkpoint = %d, %v; want 0", pos, err)
	}
	for _, pos := range []int64{5, 5, 9} {
		if err := s.SetCheckpoint(ctx, "projector", pos); err != nil {
			t.Fatalf("set checkpoint %d: %v", pos, err)
		}
	}
	if err := s.SetCheckpoint(ctx, "projector", 4); !errors.Is(err, store.ErrCheckpointBackwards) {
		t.Fatalf("moving a checkpoint from 9 to 4: got %v, want store.ErrCheckpointBackwards", err)
	}
	if pos, err := s.Checkpoint(ctx, "projector"); err != nil || pos != 9 {
		t.Fatalf("checkpoint after a refused move = %d, %v; want 9", pos, err)
	}
	if pos, err := s.Checkpoint(ctx, "other"); err != nil || pos != 0 {
		t.Fatalf("another consumer's checkpoint = %d, %v; want 0", pos, err)
	}
	// A negative checkpoint is no position: it is refused as bad input,
	// not as a move backwards, and says that it is negative, for a
	// consumer that has none recorded yet too.
	if err := s.SetCheckpoint(ctx, "unseen", -5); !errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrCheckpointBackwards) || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("checkpoint -5: got %v, want store.ErrInvalid (not ErrCheckpointBackwards) saying it is negative", err)
	}
	// A name no checkpoint can have is refused, and the error names the
	// call it refuses.
	if err := s.SetCheckpoint(ctx, "", 1); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "set checkpoint") {
		t.Fatalf("empty consumer name: got %v, want store.ErrInvalid naming \"set checkpoint\"", err)
	}
	if _, err := s.Checkpoint(ctx, "bad\x00name"); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("a consumer name with NUL: got %v, want store.ErrInvalid naming \"checkpoint\"", err)
	}
	// Racing consumers: whatever the interleaving, the checkpoint ends at
	// the highest position recorded and never lower.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for pos := int64(10); pos < 60; pos++ {
				err := s.SetCheckpoint(ctx, "racing", pos+int64(w))
				if err != nil && !errors.Is(err, store.ErrCheckpointBackwards) {
					t.Errorf("racing checkpoint: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if pos, err := s.Checkpoint(ctx, "racing"); err != nil || pos != 62 {
		t.Fatalf("racing checkpoint ended at %d, %v; want 62", pos, err)
	}
}

func contractWait(t *testing.T, s store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	if _, err := s.Append(ctx, "wait", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(ctx, 0); err != nil {
		t.Fatalf("wait after 0 with one event stored: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx, 1) }()
	if _, err := s.Append(ctx, "wait", 1, []store.Event{{Type: "B"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("wait after 1, woken by an append: %v", err)
	}
	short, stop := context.WithCancel(ctx)
	stop()
	if err := s.Wait(short, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: got %v, want context.Canceled", err)
	}
	// With nothing new, Wait blocks until its context ends: a Wait that
	// returned at once would make every tailing consumer spin.
	idle, stopIdle := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stopIdle()
	if err := s.Wait(idle, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait after the head with no new events: got %v, want it to block until context.DeadlineExceeded", err)
	}
}

// contractCloseEndsWaits: Close ends a Wait in progress, with an error
// matching store.ErrClosed, without waiting for the Wait's context; a
// Wait after Close for an event that is not there fails the same way at
// once. A tailing consumer then stops instead of blocking Close or
// waiting for good. An append or SetCheckpoint after Close fails with
// store.ErrClosed too.
func contractCloseEndsWaits(t *testing.T, s store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	if _, err := s.Append(ctx, "closing", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait(ctx, 1) }()
	time.Sleep(50 * time.Millisecond) // most often, the Wait is blocked by now
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for _, step := range []struct {
		what string
		ch   chan error
		want error
	}{{"a Wait in progress", waited, store.ErrClosed}, {"Close", closed, nil}} {
		select {
		case err := <-step.ch:
			if !errors.Is(err, step.want) {
				t.Fatalf("%s, when the store was closed, returned %v; want %v", step.what, err, step.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return within 10 s of Close: a closed store must end its waits", step.what)
		}
	}
	after, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	if err := s.Wait(after, 1); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("a Wait after Close returned %v; want an error matching store.ErrClosed at once", err)
	}
	// Writes after Close are refused the same way, and change nothing.
	if _, err := s.Append(after, "closing", 1, []store.Event{{Type: "A"}}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("an append after Close returned %v; want an error matching store.ErrClosed", err)
	}
	if err := s.SetCheckpoint(after, "closing", 1); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("SetCheckpoint after Close returned %v; want an error matching store.ErrClosed", err)
	}
}

func contractCancellation(t *testing.T, s store.Store) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Append(cancelled, "c", store.NoStream, []store.Event{{Type: "A"}}); err == nil {
		t.Fatal("append with a cancelled context succeeded")
	}
	if _, err := s.ReadLog(cancelled, store.LogQuery{}); err == nil {
		t.Fatal("read log with a cancelled context succeeded")
	}
	if _, err := collect(s.ReadStream(cancelled, "c", 0)); err == nil {
		t.Fatal("read stream with a cancelled context succeeded")
	}
	if head, err := s.Head(ctx); err != nil || head != 0 {
		t.Fatalf("head after a cancelled append = %d, %v; want 0", head, err)
	}
	// Appends cancelled at random moments leave each batch whole or absent.
	const batch = 5
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				ctx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
				events := make([]store.Event, batch)
				for j := range events {
					events[j] = store.Event{Type: "C", Data: []byte{byte(j)}}
				}
				_, _ = s.Append(ctx, fmt.Sprintf("c-%d-%d", w, i), store.NoStream, events)
				cancel()
			}
		})
	}
	wg.Wait()
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log, err := readAll(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(log)) != head || head%batch != 0 {
		t.Fatalf("after cancelled appends the log holds %d records and head %d; want whole batches of %d", len(log), head, batch)
	}
	for i := 0; i < len(log); i += batch {
		for j, r := range log[i : i+batch] {
			if r.StreamID != log[i].StreamID || r.Version != int64(j+1) {
				t.Fatalf("log position %d: stream %q version %d breaks the batch of %q", r.Position, r.StreamID, r.Version, log[i].StreamID)
			}
		}
	}
	if _, err := s.Append(ctx, "after", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatalf("append after cancelled appends: %v", err)
	}
}

// deadlineWorkers is how many goroutines call the store at once in
// contractDeadlines, so that calls also queue for connections and locks
// while their deadlines run.
const deadlineWorkers = 4

// deadlineCall is one write of contractDeadlines and what its caller was
// told.
type deadlineCall struct {
	op       string // "append", "checkpoint" or "commit"
	deadline time.Duration
	events   int  // append: the size of the batch
	stale    bool // append: expect a wrong version, to draw a conflict

	// Set by the call.
	stream   string      // append
	expected int64       // append
	ids      []uuid.UUID // append: the events' IDs
	consumer string      // checkpoint, commit
	position int64       // checkpoint
	key      string      // commit: the state it saves
	version  int64       // append: the version returned
	err      error
	cut      bool // the call's context was done when it returned
}

func (c *deadlineCall) String() string {
	switch c.op {
	case "append":
		return fmt.Sprintf("append of %d events to %q expecting %d with a deadline of %v", c.events, c.stream, c.expected, c.deadline)
	case "checkpoint":
		return fmt.Sprintf("checkpoint of %q to %d with a deadline of %v", c.consumer, c.position, c.deadline)
	}
	return fmt.Sprintf("commit of %q saving state %q with a deadline of %v", c.consumer, c.key, c.deadline)
}

// deadlineWorker runs one goroutine's calls of contractDeadlines, each on
// what the worker believes the store holds, and learns again from the
// store after each failure.
type deadlineWorker struct {
	s          store.Store
	states     store.StateStore // nil when the store keeps no view states
	view       string
	stream     string
	consumer   string // of the commits
	prefix     string // of the checkpoints' consumers
	version    int64  // of stream, as last seen
	checkpoint int64  // of consumer, as last seen
	readErr    error  // of learning again; fails the run
}

func (w *deadlineWorker) run(c *deadlineCall, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), c.deadline)
	defer cancel()
	switch c.op {
	case "append":
		c.stream, c.expected = w.stream, w.version
		if c.stale {
			c.expected = w.version + 1
		}
		events := make([]store.Event, c.events)
		for i := range events {
			c.ids = append(c.ids, uuid.New())
			events[i] = store.Event{ID: c.ids[i], Type: "Timed", Data: []byte{byte(i)}}
		}
		c.version, c.err = w.s.Append(ctx, c.stream, c.expected, events)
	case "checkpoint":
		// A consumer of its own, whose checkpoint is 0 unless this call
		// stored it.
		c.consumer, c.position = fmt.Sprintf("%s/%d", w.prefix, n), int64(n+1)
		c.err = w.s.SetCheckpoint(ctx, c.consumer, c.position)
	case "commit":
		c.consumer, c.key = w.consumer, fmt.Sprintf("%s/%d", w.consumer, n)
		c.err = w.states.Commit(ctx, c.consumer, w.checkpoint, w.checkpoint+1, func(tx store.StateTx) error {
			return tx.SaveState(ctx, w.view, c.key, []byte(c.key))
		})
	}
	c.cut = ctx.Err() != nil
	switch {
	case c.err == nil && c.op == "append":
		w.version = c.version
	case c.err == nil && c.op == "commit":
		w.checkpoint++
	case c.err != nil && w.readErr == nil:
		// Whatever the error says, read what is true now.
		bg := context.Background()
		var recs []store.Record
		recs, w.readErr = collect(w.s.ReadStream(bg, w.stream, 0))
		w.version = int64(len(recs))
		if w.readErr == nil && w.states != nil {
			w.checkpoint, w.readErr = w.s.Checkpoint(bg, w.consumer)
		}
	}
}

// contractDeadlines runs appends, checkpoint moves and, on a store that
// keeps view states, consumer commits, several at a time, each under a
// deadline drawn around the time an append takes, so that deadlines cut
// calls before they reach the store, while they wait, while they write
// and while they commit. Then it holds every call to what its caller was
// told: a call that returned nil is stored; a call whose error does not
// match [store.ErrOutcomeUnknown] is not; no error matches both that and
// [store.ErrConflict]; and an error of a call whose deadline had passed
// matches context.DeadlineExceeded, unless it is a conflict.
func contractDeadlines(t *testing.T, s store.Store) {
	ctx := context.Background()
	states, _ := s.(store.StateStore)
	ops := []string{"append", "append", "checkpoint"}
	if states != nil {
		ops = append(ops, "commit")
	}

	// The pace of the store: the median time of an append nothing cuts.
	var took []time.Duration
	for i := range 15 {
		start := time.Now()
		if _, err := s.Append(ctx, "pace", int64(i), []store.Event{{Type: "Timed"}}); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	pace := took[len(took)/2]
	// Deadlines spread evenly on a log scale, from a fraction of the pace
	// to many times it, so that some cut calls before they start, some
	// while they queue behind the other workers' calls, some while they
	// write, and some not at all, whatever the pace.
	shortest, longest := pace/8, 8*deadlineWorkers*pace
	logSpan := math.Log(float64(longest) / float64(shortest))

	outcomes := map[string]int{}
	runs := 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		run := fmt.Sprintf("dl-%d-%s", runs, uuid.NewString()[:8])
		// The deadlines are drawn from a seed rather than one by one:
		// rapid's draws lean to small numbers.
		spread := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 0))
		workers := make([]*deadlineWorker, deadlineWorkers)
		plans := make([][]*deadlineCall, deadlineWorkers)
		for i := range workers {
			workers[i] = &deadlineWorker{
				s: s, states: states, view: run,
				stream: fmt.Sprintf("%s/%d", run, i), consumer: fmt.Sprintf("%s/c%d", run, i), prefix: fmt.Sprintf("%s/p%d", run, i),
			}
			for range rapid.IntRange(1, 6).Draw(rt, "calls") {
				plans[i] = append(plans[i], &deadlineCall{
					op:       rapid.SampledFrom(ops).Draw(rt, "op"),
					deadline: time.Duration(float64(shortest) * math.Exp(spread.Float64()*logSpan)),
					events:   rapid.IntRange(1, 4).Draw(rt, "events"),
					stale:    rapid.IntRange(0, 5).Draw(rt, "stale") == 0,
				})
			}
		}
		var wg sync.WaitGroup
		for i, w := range workers {
			wg.Go(func() {
				for n, c := range plans[i] {
					w.run(c, n)
				}
			})
		}
		wg.Wait()

		for i, w := range workers {
			if w.readErr != nil {
				rt.Fatalf("worker %d: reading the store after a failed call: %v", i, w.readErr)
			}
			recs, err := collect(s.ReadStream(ctx, w.stream, 0))
			if err != nil {
				rt.Fatalf("read stream %q: %v", w.stream, err)
			}
			stored := map[uuid.UUID]bool{}
			for v, r := range recs {
				if r.Version != int64(v+1) {
					rt.Fatalf("stream %q: record %d has version %d", w.stream, v, r.Version)
				}
				stored[r.ID] = true
			}
			// A consumer's checkpoint is moved once by each stored
			// commit, with its state. Commits whose outcome is unknown
			// may still land while this reads: the checkpoint read
			// before the states and the one read after bound them.
			var before int64
			if states != nil {
				if before, err = s.Checkpoint(ctx, w.consumer); err != nil {
					rt.Fatalf("checkpoint of %q: %v", w.consumer, err)
				}
			}
			var commits int64
			for _, c := range plans[i] {
				var isStored bool
				switch c.op {
				case "append":
					n := 0
					for _, id := range c.ids {
						if stored[id] {
							n++
						}
					}
					if n != 0 && n != len(c.ids) {
						rt.Fatalf("%v: %d of its events are stored", c, n)
					}
					isStored = n > 0
					if c.err == nil && c.version != c.expected+int64(c.events) {
						rt.Fatalf("%v returned version %d, want %d", c, c.version, c.expected+int64(c.events))
					}
				case "checkpoint":
					pos, err := s.Checkpoint(ctx, c.consumer)
					if err != nil {
						rt.Fatalf("checkpoint of %q: %v", c.consumer, err)
					}
					if pos != 0 && pos != c.position {
						rt.Fatalf("%v: the checkpoint is %d", c, pos)
					}
					isStored = pos == c.position
				case "commit":
					_, ok, err := states.LoadState(ctx, w.view, c.key)
					if err != nil {
						rt.Fatalf("load state %q: %v", c.key, err)
					}
					isStored = ok
					if ok {
						commits++
					}
				}
				checkTold(rt, c, isStored, outcomes)
			}
			if states != nil {
				after, err := s.Checkpoint(ctx, w.consumer)
				if err != nil {
					rt.Fatalf("checkpoint of %q: %v", w.consumer, err)
				}
				if commits < before || commits > after {
					rt.Fatalf("consumer %q: %d commits stored their state, but its checkpoint moved %d times (%d when read again): a state was stored without its checkpoint, or a checkpoint without its state", w.consumer, commits, before, after)
				}
			}
		}
	})
	t.Logf("pace %v, deadlines from %v to %v; outcomes: %v", pace, shortest, longest, outcomes)
	// A test that was given nothing to check fails.
	if outcomes["succeeded"] == 0 || outcomes["cut, nothing stored"]+outcomes["cut, outcome unknown, stored"]+outcomes["cut, outcome unknown, not stored"] == 0 {
		t.Fatalf("no call both succeeded and was cut by its deadline (outcomes %v): the deadlines checked nothing", outcomes)
	}
}

// checkTold fails the run unless what call c returned is true of the
// store, which holds its write when stored.
func checkTold(t *rapid.T, c *deadlineCall, stored bool, outcomes map[string]int) {
	err := c.err
	unknown := errors.Is(err, store.ErrOutcomeUnknown)
	conflict := errors.Is(err, store.ErrConflict)
	switch {
	case err == nil && !stored:
		t.Fatalf("%v returned nil, but nothing of it is stored", c)
	case err != nil && !unknown && stored:
		t.Fatalf("%v failed with %q, which does not match store.ErrOutcomeUnknown, but it is stored", c, err)
	case unknown && conflict:
		t.Fatalf("%v failed with %q, which matches both store.ErrOutcomeUnknown and store.ErrConflict", c, err)
	case err != nil && c.cut && !conflict && !errors.Is(err, context.DeadlineExceeded):
		t.Fatalf("%v failed after its deadline with %q, which does not match context.DeadlineExceeded", c, err)
	case err != nil && !c.cut && !conflict:
		t.Fatalf("%v failed before its deadline: %v", c, err)
	}
	switch {
	case err == nil:
		outcomes["succeeded"]++
	case conflict:
		outcomes["conflict"]++
	case unknown && stored:
		outcomes["cut, outcome unknown, stored"]++
	case unknown:
		outcomes["cut, outcome unknown, not stored"]++
	default:
		outcomes["cut, nothing stored"]++
	}
}

// contractConcurrentLog has 8 writers append 10,000 events in batches while
// a reader tails the log. The reader must see every event once, in the
// order a later full read gives, and each batch contiguous.
func contractConcurrentLog(t *testing.T, s store.Store) {
	const writers, total = 8, 10_000
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			streamID := fmt.Sprintf("writer-%d", w)
			var version int64
			for written := 0; written < total/writers; {
				n := min(1+rng.IntN(9), total/writers-written)
				events := make([]store.Event, n)
				for i := range events {
					// Data holds the event's version and its batch's last
					// version, so the check below can find batch edges.
					data := binary.BigEndian.AppendUint64(nil, uint64(version)+uint64(i)+1)
					events[i] = store.Event{Type: "W", Data: binary.BigEndian.AppendUint64(data, uint64(version)+uint64(n))}
				}
				v, err := s.Append(ctx, streamID, version, events)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					cancel()
					return
				}
				version, written = v, written+n
			}
		})
	}

	// The reader stops at the first empty page read after every writer
	// finished; waiting is cut short when they finish.
	waitCtx, writersDone := context.WithCancel(ctx)
	go func() { wg.Wait(); writersDone() }()
	var tailed []store.Record
	for after := int64(0); ; {
		finished := waitCtx.Err() != nil
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 1 + rand.IntN(200)})
		if err != nil {
			t.Fatalf("tailing reader: %v", err)
		}
		for _, r := range page {
			if r.Position <= after {
				t.Fatalf("tailing reader: position %d after %d", r.Position, after)
			}
			after = r.Position
		}
		tailed = append(tailed, page...)
		if len(page) > 0 {
			continue
		}
		if finished {
			break
		}
		if err := s.Wait(waitCtx, after); err != nil && waitCtx.Err() == nil {
			t.Fatalf("tailing reader waiting after %d with %d of %d events seen: %v", after, len(tailed), total, err)
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("writers did not finish: %v", ctx.Err())
	}

	full, err := readAll(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != total || len(tailed) != total {
		t.Fatalf("tailing reader saw %d events, a full read %d; want %d", len(tailed), len(full), total)
	}
	seen := map[uuid.UUID]bool{}
	next := map[string]int64{}
	for i, r := range full {
		if tailed[i].ID != r.ID || tailed[i].Position != r.Position {
			t.Fatalf("position %d: the tailing reader saw %v at %d, a full read %v at %d", i, tailed[i].ID, tailed[i].Position, r.ID, r.Position)
		}
		if seen[r.ID] {
			t.Fatalf("event %v appears twice in the log", r.ID)
		}
		seen[r.ID] = true
		if next[r.StreamID]++; r.Version != next[r.StreamID] || binary.BigEndian.Uint64(r.Data[:8]) != uint64(r.Version) {
			t.Fatalf("stream %q: version %d comes after %d in the log", r.StreamID, r.Version, next[r.StreamID]-1)
		}
	}
	// The events of one append are contiguous in the log: every record
	// that is not the last of its batch is followed by the next one.
	for i, r := range full {
		if last := binary.BigEndian.Uint64(r.Data[8:]); uint64(r.Version) < last {
			if i+1 == len(full) || full[i+1].StreamID != r.StreamID || full[i+1].Version != r.Version+1 {
				t.Fatalf("stream %q: the batch ending at version %d is split in the log after version %d (position %d)", r.StreamID, last, r.Version, r.Position)
			}
		}
	}
}

func collect(seq func(func(store.Record, error) bool)) ([]store.Record, error) {
	var out []store.Record
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func readAll(ctx context.Context, s store.Store) ([]store.Record, error) {
	var out []store.Record
	for after := int64(0); ; {
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 1000})
		if err != nil {
			return out, err
		}
		if len(page) == 0 {
			return out, nil
		}
		out = append(out, page...)
		after = page[len(page)-1].Position
	}
}
