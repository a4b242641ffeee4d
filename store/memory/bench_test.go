package memory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/workload"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// The benchmarks of this file run the workloads of docs/benchmarks.md on
// the memory store ("lib") and on rawStore ("raw"), the least an
// in-memory event store written by hand does: a slice for the log and an
// index per stream behind one lock, a version check, UUIDv7 event IDs
// kept unique (as the databases' unique index on them does), and
// encoding/json for payloads and states.
//
//	go test -run '^$' -bench . -benchmem ./store/memory

// rawEvent is a stored event of rawStore.
type rawEvent struct {
	id       uuid.UUID
	stream   string
	version  int64
	position int64
	typ      string
	at       time.Time
	data     []byte
}

// rawSnapshot is a stored state of rawStore.
type rawSnapshot struct {
	version int64
	data    []byte
}

type rawStore struct {
	mu        sync.RWMutex
	log       []rawEvent
	streams   map[string][]int // positions-1 of each stream's events
	ids       map[uuid.UUID]struct{}
	snapshots map[string]rawSnapshot
}

func newRawStore() *rawStore {
	return &rawStore{streams: map[string][]int{}, ids: map[uuid.UUID]struct{}{}, snapshots: map[string]rawSnapshot{}}
}

// rawPayload is an event to append: its type name and JSON.
type rawPayload struct {
	typ  string
	data []byte
}

func (s *rawStore) append(stream string, expected int64, events []rawPayload) error {
	now := time.Now().UTC()
	stored := make([]rawEvent, len(events))
	for i, e := range events {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		stored[i] = rawEvent{id: id, stream: stream, typ: e.typ, at: now, data: e.data}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.streams[stream]
	if int64(len(idx)) != expected {
		return fmt.Errorf("stream %s is at version %d, not %d", stream, len(idx), expected)
	}
	for _, e := range stored {
		if _, dup := s.ids[e.id]; dup {
			return fmt.Errorf("event ID %v is already stored", e.id)
		}
	}
	for i := range stored {
		s.ids[stored[i].id] = struct{}{}
		stored[i].version = expected + int64(i) + 1
		stored[i].position = int64(len(s.log)) + 1
		idx = append(idx, len(s.log))
		s.log = append(s.log, stored[i])
	}
	s.streams[stream] = idx
	return nil
}

// load folds the stream's events after version from into a.
func (s *rawStore) load(stream string, a workload.Account, from int64) (workload.Account, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx := s.streams[stream]
	for _, i := range idx[from:] {
		e, err := workload.DecodeEvent(s.log[i].typ, s.log[i].data)
		if err != nil {
			return a, 0, err
		}
		a = workload.Evolve(a, e)
	}
	return a, int64(len(idx)), nil
}

// handle is command handling by hand: load, decide, encode, append.
func (s *rawStore) handle(stream string, cmd workload.Command) error {
	a, version, err := s.load(stream, workload.Account{}, 0)
	if err != nil {
		return err
	}
	events, err := workload.Decide(cmd, a)
	if err != nil {
		return err
	}
	payloads := make([]rawPayload, len(events))
	for i, e := range events {
		if payloads[i].typ, payloads[i].data, err = workload.EncodeEvent(e); err != nil {
			return err
		}
	}
	return s.append(stream, version, payloads)
}

// readLog reads the log in pages, decoding every event.
func (s *rawStore) readLog() (workload.Total, error) {
	var t workload.Total
	for after := 0; ; after += workload.Page {
		s.mu.RLock()
		page := s.log[min(after, len(s.log)):min(after+workload.Page, len(s.log))]
		s.mu.RUnlock()
		for _, r := range page {
			e, err := workload.DecodeEvent(r.typ, r.data)
			if err != nil {
				return t, err
			}
			t.Add(e)
		}
		if len(page) < workload.Page {
			return t, nil
		}
	}
}

// copyFrom fills s with the events and snapshots of lib.
func (s *rawStore) copyFrom(b *testing.B, lib *memory.Store, streams ...string) {
	ctx := context.Background()
	for after := int64(0); ; {
		recs, err := lib.ReadLog(ctx, store.LogQuery{After: after, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			s.ids[r.ID] = struct{}{}
			s.streams[r.StreamID] = append(s.streams[r.StreamID], len(s.log))
			s.log = append(s.log, rawEvent{id: r.ID, stream: r.StreamID, version: r.Version, position: r.Position, typ: r.Type, at: r.Time, data: r.Data})
		}
		after = recs[len(recs)-1].Position
	}
	for _, stream := range streams {
		if snap, ok, err := lib.LatestSnapshot(ctx, stream); err != nil {
			b.Fatal(err)
		} else if ok {
			s.snapshots[stream] = rawSnapshot{version: snap.Version, data: snap.Data}
		}
	}
}

func BenchmarkHandle(b *testing.B) {
	ctx := context.Background()
	for _, perStream := range []int{1, workload.CommandsPerAgg} {
		b.Run(fmt.Sprintf("memory/per-stream=%d/lib", perStream), func(b *testing.B) {
			r := annals.NewRunner(annals.New(memory.New()), workload.Decider(), workload.Codec())
			workload.Loop(b, 1, workload.Handle(ctx, r, perStream))
		})
		b.Run(fmt.Sprintf("memory/per-stream=%d/raw", perStream), func(b *testing.B) {
			s := newRawStore()
			workload.Loop(b, 1, func(i int) error {
				return s.handle(workload.StreamID(i, perStream), workload.CommandFor(i%perStream))
			})
		})
	}
}

// BenchmarkAppend appends pre-encoded events: one per append to 1,000
// streams in turn, or a batch of 100 to a new stream.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	const streams = 1000
	for _, n := range []int{1, workload.BatchSize} {
		events, err := workload.Events(ctx, "account", 1, n+1)
		if err != nil {
			b.Fatal(err)
		}
		stream := func(i int, versions []int64) (string, int64) {
			if n == 1 {
				return workload.StreamID(i%streams, 1), versions[i%streams]
			}
			return workload.StreamID(i, 1), 0
		}
		b.Run(fmt.Sprintf("memory/events=%d/lib", n), func(b *testing.B) {
			s := memory.New()
			versions := make([]int64, streams)
			workload.Loop(b, n, func(i int) error {
				id, expected := stream(i, versions)
				v, err := s.Append(ctx, id, expected, events)
				if n == 1 {
					versions[i%streams] = v
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("memory/events=%d/raw", n), func(b *testing.B) {
			payloads := make([]rawPayload, n)
			for i, e := range events {
				payloads[i] = rawPayload{typ: e.Type, data: e.Data}
			}
			s := newRawStore()
			versions := make([]int64, streams)
			workload.Loop(b, n, func(i int) error {
				id, expected := stream(i, versions)
				if n == 1 {
					versions[i%streams] = expected + 1
				}
				return s.append(id, expected, payloads)
			})
		})
	}
}

func BenchmarkReadLog(b *testing.B) {
	ctx := context.Background()
	n := workload.Size(b, workload.LogEvents)
	streams := min(workload.LogStreams, n)
	lib := memory.New()
	if err := workload.SeedLog(ctx, lib, streams, n/streams); err != nil {
		b.Fatal(err)
	}
	raw := newRawStore()
	raw.copyFrom(b, lib)
	want := workload.ExpectedLog(streams, n/streams)
	codec := workload.Codec()
	b.Run(fmt.Sprintf("memory/events=%d/lib", n), func(b *testing.B) {
		workload.Loop(b, want.Events, func(int) error {
			t, err := workload.ReadLog(ctx, lib, codec)
			if err != nil {
				return err
			}
			return workload.Check("ReadLog", t, want)
		})
	})
	b.Run(fmt.Sprintf("memory/events=%d/raw", n), func(b *testing.B) {
		workload.Loop(b, want.Events, func(int) error {
			t, err := raw.readLog()
			if err != nil {
				return err
			}
			return workload.Check("raw read", t, want)
		})
	})
}

func BenchmarkLoadStream(b *testing.B) {
	ctx := context.Background()
	n := workload.Size(b, workload.StreamEvents)
	lib := memory.New()
	if err := workload.SeedAccount(ctx, lib, nil, "account", n); err != nil {
		b.Fatal(err)
	}
	raw := newRawStore()
	raw.copyFrom(b, lib)
	want := workload.AccountAt(n)
	b.Run(fmt.Sprintf("memory/events=%d/lib", n), func(b *testing.B) {
		r := annals.NewRunner(annals.New(lib), workload.Decider(), workload.Codec())
		workload.Loop(b, n, workload.Load(ctx, r, "account", n))
	})
	b.Run(fmt.Sprintf("memory/events=%d/raw", n), func(b *testing.B) {
		workload.Loop(b, n, func(int) error {
			a, _, err := raw.load("account", workload.Account{}, 0)
			if err != nil {
				return err
			}
			return workload.CheckAccount(a, want)
		})
	})
}

func BenchmarkLoadAggregate(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{workload.SmallAggregate, workload.LargeAggregate} {
		n := workload.Size(b, size)
		lib := memory.New()
		if err := workload.SeedAccount(ctx, lib, lib, "account", n); err != nil {
			b.Fatal(err)
		}
		raw := newRawStore()
		raw.copyFrom(b, lib, "account")
		tail := n - workload.SnapshotVersion(n)
		want := workload.AccountAt(n)
		b.Run(fmt.Sprintf("memory/events=%d/snapshots/lib", n), func(b *testing.B) {
			r := annals.NewRunner(annals.New(lib), workload.Decider(), workload.Codec(), annals.WithSnapshots(lib, nil, workload.StateCodec()))
			workload.Loop(b, tail, workload.Load(ctx, r, "account", n))
		})
		b.Run(fmt.Sprintf("memory/events=%d/snapshots/raw", n), func(b *testing.B) {
			workload.Loop(b, tail, func(int) error {
				raw.mu.RLock()
				snap, ok := raw.snapshots["account"]
				raw.mu.RUnlock()
				var a workload.Account
				if ok {
					if err := json.Unmarshal(snap.data, &a); err != nil {
						return err
					}
				}
				a, _, err := raw.load("account", a, snap.version)
				if err != nil {
					return err
				}
				return workload.CheckAccount(a, want)
			})
		})
		b.Run(fmt.Sprintf("memory/events=%d/replay/lib", n), func(b *testing.B) {
			r := annals.NewRunner(annals.New(lib), workload.Decider(), workload.Codec())
			workload.Loop(b, n, workload.Load(ctx, r, "account", n))
		})
		b.Run(fmt.Sprintf("memory/events=%d/replay/raw", n), func(b *testing.B) {
			workload.Loop(b, n, func(int) error {
				a, _, err := raw.load("account", workload.Account{}, 0)
				if err != nil {
					return err
				}
				return workload.CheckAccount(a, want)
			})
		})
	}
}

func BenchmarkCatchUp(b *testing.B) {
	ctx := context.Background()
	n := workload.Size(b, workload.LogEvents)
	streams := min(workload.LogStreams, n)
	lib := memory.New()
	if err := workload.SeedLog(ctx, lib, streams, n/streams); err != nil {
		b.Fatal(err)
	}
	raw := newRawStore()
	raw.copyFrom(b, lib)
	want := workload.ExpectedLog(streams, n/streams)
	rawRead := func(b *testing.B) {
		workload.Loop(b, want.Events, func(int) error {
			t, err := raw.readLog()
			if err != nil {
				return err
			}
			return workload.Check("raw read", t, want)
		})
	}
	b.Run(fmt.Sprintf("memory/events=%d/decode/lib", n), func(b *testing.B) {
		catchUp := workload.CatchUpDecode(ctx, annals.New(lib))
		workload.Loop(b, want.Events, func(int) error {
			t, err := catchUp()
			if err != nil {
				return err
			}
			return workload.Check("projection", t, want)
		})
	})
	b.Run(fmt.Sprintf("memory/events=%d/decode/raw-read", n), rawRead)
	b.Run(fmt.Sprintf("memory/events=%d/view/lib", n), func(b *testing.B) {
		catchUp := workload.CatchUpView(ctx, annals.New(lib), n/streams)
		workload.Loop(b, want.Events, func(int) error { return catchUp() })
	})
	b.Run(fmt.Sprintf("memory/events=%d/view/raw-read", n), rawRead)
}
