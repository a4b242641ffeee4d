package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/workload"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/sqlite"
)

// Dogs and tricks of BenchmarkDogSchool at scale 1.
const (
	benchDogs   = 1000
	benchTricks = 10
)

var benchTrickNames = func() []string {
	names := make([]string, benchTricks)
	for i := range names {
		names[i] = "trick number " + strconv.Itoa(i+1)
	}
	return names
}()

// BenchmarkDogSchool is the dog school of the seed library's README at
// scale: register 1,000 dogs, teach each 10 tricks, one command each
// (commands: 11,000 per operation, on new dogs each time), then get every
// dog (gets: 1,000 per operation). The library runs the School of this
// example; the baselines run the same commands by hand on the same rows:
// read the dog's stream, decode and fold its events with the example's
// decider, decide, encode, and insert the event with the version read plus
// one. On SQLite they use database/sql with the store's schema and pragmas;
// on memory, a map of slices behind a lock.
func BenchmarkDogSchool(b *testing.B) {
	ctx := context.Background()
	dogs := workload.Size(b, benchDogs)
	stores := []struct {
		name string
		lib  func(b *testing.B) store.Store
		raw  func(b *testing.B) rawEvents
	}{
		{"memory", func(*testing.B) store.Store { return memory.New() }, func(*testing.B) rawEvents { return newRawMemory() }},
		{"sqlite", func(b *testing.B) store.Store {
			s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "dogs.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}, func(b *testing.B) rawEvents { return openRawSQLite(b, filepath.Join(b.TempDir(), "raw.db")) }},
	}
	for _, st := range stores {
		name := func(phase, variant string) string {
			return fmt.Sprintf("%s/dogs=%d/%s/%s", st.name, dogs, phase, variant)
		}
		b.Run(name("commands", "lib"), func(b *testing.B) {
			school := NewSchool(annals.New(st.lib(b)))
			loop(b, "commands", dogs*(1+benchTricks), func() error {
				_, err := teach(ctx, school, dogs)
				return err
			})
		})
		b.Run(name("commands", "raw"), func(b *testing.B) {
			school := rawSchool{st.raw(b)}
			loop(b, "commands", dogs*(1+benchTricks), func() error {
				_, err := teach(ctx, school, dogs)
				return err
			})
		})
		b.Run(name("gets", "lib"), func(b *testing.B) {
			school := NewSchool(annals.New(st.lib(b)))
			ids, err := teach(ctx, school, dogs)
			if err != nil {
				b.Fatal(err)
			}
			loop(b, "gets", dogs, func() error { return getAll(ctx, school, ids) })
		})
		b.Run(name("gets", "raw"), func(b *testing.B) {
			school := rawSchool{st.raw(b)}
			ids, err := teach(ctx, school, dogs)
			if err != nil {
				b.Fatal(err)
			}
			loop(b, "gets", dogs, func() error { return getAll(ctx, school, ids) })
		})
	}
}

// school is what the workload calls: the example's School, or rawSchool.
type school interface {
	RegisterDog(ctx context.Context, name string) (uuid.UUID, error)
	AddTrick(ctx context.Context, id uuid.UUID, trick string) error
	GetDog(ctx context.Context, id uuid.UUID) (Dog, error)
}

// teach registers dogs new dogs and teaches each its tricks.
func teach(ctx context.Context, s school, dogs int) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, dogs)
	for i := range ids {
		var err error
		if ids[i], err = s.RegisterDog(ctx, "Dog "+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		for _, trick := range benchTrickNames {
			if err := s.AddTrick(ctx, id, trick); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

// getAll gets every dog and checks that it learnt its tricks.
func getAll(ctx context.Context, s school, ids []uuid.UUID) error {
	for i, id := range ids {
		dog, err := s.GetDog(ctx, id)
		if err != nil {
			return err
		}
		if dog.Name != "Dog "+strconv.Itoa(i) || !slices.Equal(dog.Tricks, benchTrickNames) {
			return fmt.Errorf("dog %d is %+v", i, dog)
		}
	}
	return nil
}

// loop runs op in b.Loop, reporting perOp units of work per operation
// and the processor time per operation.
func loop(b *testing.B, unit string, perOp int, op func() error) {
	b.ReportAllocs()
	var cpu time.Duration
	first := true
	for b.Loop() {
		if first {
			cpu, first = workload.CPUTime(b), false
		}
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(workload.CPUTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(perOp), unit+"/op")
}

// rawEvents stores a baseline's events: the events of a stream in
// version order, and an insert with the version it must take.
type rawEvents interface {
	stream(ctx context.Context, id string, visit func(typ string, data []byte) error) (version int64, err error)
	insert(ctx context.Context, id string, version int64, typ string, data []byte) error
}

// rawSchool is the dog school by hand on rawEvents.
type rawSchool struct{ events rawEvents }

func (s rawSchool) load(ctx context.Context, stream string) (Dog, int64, error) {
	var dog Dog
	version, err := s.events.stream(ctx, stream, func(typ string, data []byte) error {
		var e Event
		switch typ {
		case "DogRegistered":
			var r Registered
			if err := json.Unmarshal(data, &r); err != nil {
				return err
			}
			e = r
		case "TrickAdded":
			var t TrickAdded
			if err := json.Unmarshal(data, &t); err != nil {
				return err
			}
			e = t
		default:
			return fmt.Errorf("unknown event type %q", typ)
		}
		dog = Decider.Evolve(dog, e)
		return nil
	})
	return dog, version, err
}

func (s rawSchool) handle(ctx context.Context, id uuid.UUID, cmd Command) error {
	stream := "dog-" + id.String()
	dog, version, err := s.load(ctx, stream)
	if err != nil {
		return err
	}
	events, err := Decider.Decide(cmd, dog)
	if err != nil {
		return err
	}
	for _, e := range events {
		typ := "TrickAdded"
		if _, ok := e.(Registered); ok {
			typ = "DogRegistered"
		}
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		version++
		if err := s.events.insert(ctx, stream, version, typ, data); err != nil {
			return err
		}
	}
	return nil
}

func (s rawSchool) RegisterDog(ctx context.Context, name string) (uuid.UUID, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, err
	}
	return id, s.handle(ctx, id, RegisterDog{Name: name})
}

func (s rawSchool) AddTrick(ctx context.Context, id uuid.UUID, trick string) error {
	return s.handle(ctx, id, AddTrick{Trick: trick})
}

func (s rawSchool) GetDog(ctx context.Context, id uuid.UUID) (Dog, error) {
	dog, version, err := s.load(ctx, "dog-"+id.String())
	if err == nil && version == 0 {
		err = errors.New("no such dog")
	}
	return dog, err
}

// rawMemory keeps events in a log and an index per stream, behind a lock,
// with their IDs kept unique.
type rawMemory struct {
	mu      sync.RWMutex
	log     []rawEvent
	streams map[string][]int
	ids     map[uuid.UUID]struct{}
}

type rawEvent struct {
	id       uuid.UUID
	stream   string
	version  int64
	position int64
	typ      string
	at       time.Time
	data     []byte
}

func newRawMemory() *rawMemory {
	return &rawMemory{streams: map[string][]int{}, ids: map[uuid.UUID]struct{}{}}
}

func (m *rawMemory) stream(_ context.Context, id string, visit func(string, []byte) error) (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	idx := m.streams[id]
	for _, i := range idx {
		if err := visit(m.log[i].typ, m.log[i].data); err != nil {
			return 0, err
		}
	}
	return int64(len(idx)), nil
}

func (m *rawMemory) insert(_ context.Context, stream string, version int64, typ string, data []byte) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	e := rawEvent{id: id, stream: stream, version: version, typ: typ, at: time.Now().UTC(), data: data}
	m.mu.Lock()
	defer m.mu.Unlock()
	if int64(len(m.streams[stream]))+1 != version {
		return fmt.Errorf("stream %s is not at version %d", stream, version-1)
	}
	if _, dup := m.ids[id]; dup {
		return fmt.Errorf("event ID %v is already stored", id)
	}
	m.ids[id] = struct{}{}
	e.position = int64(len(m.log)) + 1
	m.streams[stream] = append(m.streams[stream], len(m.log))
	m.log = append(m.log, e)
	return nil
}

// rawSQLite writes on one connection in BEGIN IMMEDIATE transactions and
// reads on a pool of query-only connections, with the pragmas the store
// sets, on a file whose tables the store created.
type rawSQLite struct {
	w, r      *sql.DB
	load, ins *sql.Stmt
}

func openRawSQLite(b *testing.B, path string) *rawSQLite {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path) // creates the tables
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	const pragmas = "?_busy_timeout=5000&_foreign_keys=1&_synchronous=FULL"
	w, err := sql.Open("sqlite", path+pragmas+"&_journal_mode=WAL&_txlock=immediate&_pragma=secure_delete%3DON")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	r, err := sql.Open("sqlite", path+pragmas+"&_query_only=1")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	db := &rawSQLite{w: w, r: r}
	if db.load, err = r.PrepareContext(ctx, `SELECT position, event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata
		FROM annals_events WHERE stream_id = ? ORDER BY version`); err != nil {
		b.Fatal(err)
	}
	if db.ins, err = w.PrepareContext(ctx, `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata)
		VALUES (?, ?, ?, ?, 1, ?, ?, '', NULL)`); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.load.Close(); db.ins.Close() })
	return db
}

func (db *rawSQLite) stream(ctx context.Context, id string, visit func(string, []byte) error) (int64, error) {
	rows, err := db.load.QueryContext(ctx, id)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var version int64
	for rows.Next() {
		var (
			position, schema, recordedAt int64
			eventID, data, meta          sql.RawBytes
			stream, typ, encoding        string
		)
		if err := rows.Scan(&position, &eventID, &stream, &version, &typ, &schema, &recordedAt, &data, &encoding, &meta); err != nil {
			return 0, err
		}
		if err := visit(typ, data); err != nil {
			return 0, err
		}
	}
	return version, rows.Err()
}

func (db *rawSQLite) insert(ctx context.Context, stream string, version int64, typ string, data []byte) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, db.ins).ExecContext(ctx, id[:], stream, version, typ, time.Now().UnixNano(), data); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
