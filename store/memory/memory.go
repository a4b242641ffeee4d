// Package memory is an in-memory [store.Store], for tests, examples and
// single-process programs that need no durability.
//
// It keeps payloads as bytes, copied in and out, exactly as a database
// would: nothing works here only because a Go value was shared. It
// registers the URL scheme "memory:"; every Open returns a new, empty store.
package memory

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
)

func init() {
	store.Register("memory", func(context.Context, *url.URL) (store.Store, error) { return New(), nil })
}

// Store is an in-memory event store. The zero value is not usable; call
// [New].
type Store struct {
	mu          sync.RWMutex
	log         []store.Record // log[i].Position == i+1
	streams     map[string][]int
	ids         map[uuid.UUID]struct{}
	checkpoints map[string]int64
	changed     chan struct{} // closed and replaced on every append
	consumers   consumers
	closed      bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		streams:     map[string][]int{},
		ids:         map[uuid.UUID]struct{}{},
		checkpoints: map[string]int64{},
		changed:     make(chan struct{}),
		consumers: consumers{
			states: map[string]map[string][]byte{},
			leases: map[string]chan struct{}{},
		},
	}
}

// Append implements [store.Store].
func (s *Store) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	if err := store.ValidateAppend(streamID, expected, events); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// Build the records before taking the lock; IDs and copies are not
	// shared state.
	now := time.Now().UTC()
	records := make([]store.Record, len(events))
	for i, e := range events {
		id := e.ID
		if id == uuid.Nil {
			var err error
			if id, err = uuid.NewV7(); err != nil {
				return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
			}
		}
		records[i] = store.Record{
			ID: id, StreamID: streamID, Type: e.Type, SchemaVersion: max(e.SchemaVersion, 1),
			Time: now, Data: clone(e.Data), Encoding: e.Encoding, Metadata: cloneMeta(e.Metadata),
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	idx := s.streams[streamID]
	actual := int64(len(idx))
	if err := store.CheckExpected(streamID, expected, actual); err != nil {
		return 0, err
	}
	for _, r := range records {
		if _, dup := s.ids[r.ID]; dup {
			return 0, fmt.Errorf("append to stream %q: event ID %v is already stored: %w", streamID, r.ID, store.ErrDuplicateEvent)
		}
	}
	for i := range records {
		s.ids[records[i].ID] = struct{}{}
		records[i].Version = actual + int64(i) + 1
		records[i].Position = int64(len(s.log)) + 1
		idx = append(idx, len(s.log))
		s.log = append(s.log, records[i])
	}
	s.streams[streamID] = idx
	if len(records) > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return actual + int64(len(records)), nil
}

var errClosed = fmt.Errorf("memory store is closed: %w", store.ErrInvalid)

// ReadStream implements [store.Store].
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		for i := max(from, 1) - 1; ; i++ {
			if err := ctx.Err(); err != nil {
				yield(store.Record{}, err)
				return
			}
			s.mu.RLock()
			idx := s.streams[streamID]
			if i >= int64(len(idx)) {
				s.mu.RUnlock()
				return
			}
			rec := copyRecord(s.log[idx[i]])
			s.mu.RUnlock()
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// ReadLog implements [store.Store].
func (s *Store) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLogLimit
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []store.Record
	for i := max(q.After, 0); i < int64(len(s.log)) && len(out) < limit; i++ {
		rec := s.log[i]
		if len(q.Types) > 0 && !slices.Contains(q.Types, rec.Type) {
			continue
		}
		out = append(out, copyRecord(rec))
	}
	return out, nil
}

// Head implements [store.Store].
func (s *Store) Head(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.log)), nil
}

// Wait implements [store.Store].
func (s *Store) Wait(ctx context.Context, after int64) error {
	for {
		s.mu.RLock()
		head, changed := int64(len(s.log)), s.changed
		s.mu.RUnlock()
		if head > after {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Checkpoint implements [store.Store].
func (s *Store) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	if err := store.ValidateConsumer(consumer); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkpoints[consumer], nil
}

// SetCheckpoint implements [store.Store].
func (s *Store) SetCheckpoint(ctx context.Context, consumer string, position int64) error {
	if err := store.ValidateConsumer(consumer); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.checkpoints[consumer]; position < old {
		return fmt.Errorf("consumer %q: checkpoint %d is below the recorded %d: %w", consumer, position, old, store.ErrCheckpointBackwards)
	}
	s.checkpoints[consumer] = position
	return nil
}

// Close implements [store.Store]. Appends after Close fail; reads still
// work.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return slices.Clone(b)
}

func cloneMeta(m store.Metadata) store.Metadata {
	if m.Extra != nil {
		extra := make(map[string]string, len(m.Extra))
		for k, v := range m.Extra {
			extra[k] = v
		}
		m.Extra = extra
	}
	return m
}

func copyRecord(r store.Record) store.Record {
	r.Data = clone(r.Data)
	r.Metadata = cloneMeta(r.Metadata)
	return r
}
