package memory

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Store is an in-memory event store. The zero value is not usable; call
// [New].
type Store struct {
	mu          sync.RWMutex
	log         eventLog // the record at position p is log.at(p-1)
	streams     map[string][]int
	ids         map[uuid.UUID]int // the index in log of each event
	checkpoints map[string]int64
	snapshots   map[string]snapshot.Snapshot // the latest per stream
	keys        map[string]store.SubjectKey
	changed     chan struct{} // made by a waiter, closed by the next append
	consumers   consumers
	closed      bool
	tagged      taggedIndex // the tagged events, for queries
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.EventFinder = (*Store)(nil)
	_ snapshot.Store    = (*Store)(nil)
	_ store.KeyStore    = (*Store)(nil)
	_ store.DCB         = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		streams:     map[string][]int{},
		ids:         map[uuid.UUID]int{},
		checkpoints: map[string]int64{},
		snapshots:   map[string]snapshot.Snapshot{},
		keys:        map[string]store.SubjectKey{},
		consumers: consumers{
			states: map[string]map[string][]byte{},
			leases: map[string]chan struct{}{},
		},
	}
}

// newRecords builds the records of an append before the lock is taken:
// IDs and copies are not shared state. It builds them in buf when they
// fit, so that a small append's records, which the log copies, can live
// on the caller's stack.
func newRecords(streamID string, events []store.Event, buf []store.Record) ([]store.Record, error) {
	now := time.Now().UTC()
	records := buf[:0]
	if cap(buf) < len(events) {
		records = make([]store.Record, len(events))
	}
	records = records[:len(events)]
	for i, e := range events {
		id := e.ID
		if id == uuid.Nil {
			var err error
			if id, err = uuid.NewV7(); err != nil {
				return nil, fmt.Errorf("append to stream %q: %w", streamID, err)
			}
		}
		records[i] = store.Record{
			ID: id, StreamID: streamID, Type: e.Type, SchemaVersion: max(e.SchemaVersion, 1),
			Time: now, Data: clone(e.Data), Encoding: e.Encoding, Metadata: cloneMeta(e.Metadata), Tags: cloneTags(e.Tags),
		}
	}
	return records, nil
}

// smallAppend is how many records an append builds on its stack.
const smallAppend = 4

// Append implements [store.Store].
func (s *Store) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	if err := check.Append(streamID, expected, events); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var small [smallAppend]store.Record
	records, err := newRecords(streamID, events, small[:])
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(ctx); err != nil {
		return 0, err
	}
	return s.appendLocked(streamID, expected, records)
}

// appendLocked appends records to a stream expected at version expected,
// holding s.mu.
func (s *Store) appendLocked(streamID string, expected int64, records []store.Record) (int64, error) {
	idx := s.streams[streamID]
	actual := int64(len(idx))
	if err := check.Expected(streamID, expected, actual); err != nil {
		return 0, err
	}
	for _, r := range records {
		if _, dup := s.ids[r.ID]; dup {
			return 0, fmt.Errorf("append to stream %q: event ID %v is already stored: %w", streamID, r.ID, store.ErrDuplicateEvent)
		}
	}
	for i := range records {
		s.ids[records[i].ID] = s.log.len()
		records[i].Version = actual + int64(i) + 1
		records[i].Position = int64(s.log.len()) + 1
		idx = append(idx, s.log.len())
		s.tagged.add(s.log.len(), records[i])
		s.log.append(records[i])
	}
	s.streams[streamID] = idx
	if len(records) > 0 && s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return actual + int64(len(records)), nil
}

var errClosed = fmt.Errorf("memory store: %w", store.ErrClosed)

// writable returns why a write must not happen: the store is closed or
// ctx has ended. Writers call it holding s.mu, right before they write,
// so that a write whose context ended while it waited for the lock
// stores nothing and says so. A write in memory cannot be cut half-way:
// once it has begun, it is stored, and its caller told so.
func (s *Store) writable(ctx context.Context) error {
	if s.closed {
		return errClosed
	}
	return ctx.Err()
}

// readable returns the error of a read, described by what, on a closed
// store, or nil while it is open. Readers call it holding s.mu: a read
// after Close fails as a write does, rather than answer as if the store
// were open, so that a consumer's loop stops.
func (s *Store) readable(what string) error {
	if s.closed {
		return fmt.Errorf("%s: %w", what, errClosed)
	}
	return nil
}

// streamChunk is how many records ReadStream copies under one read lock.
const streamChunk = 32

// FindEvent implements [store.EventFinder].
func (s *Store) FindEvent(ctx context.Context, id uuid.UUID) (store.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable(fmt.Sprintf("find event %v", id)); err != nil {
		return store.Record{}, false, err
	}
	i, ok := s.ids[id]
	if !ok {
		return store.Record{}, false, nil
	}
	return copyRecord(*s.log.at(i)), true, nil
}

// ReadStream implements [store.Store]. It copies the records in chunks,
// each under the read lock, and yields them with the lock released, so
// that the caller may append while it iterates.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		if err := check.ReadStream(streamID); err != nil {
			yield(store.Record{}, err)
			return
		}
		var chunk [streamChunk]store.Record
		for next := max(from, 1) - 1; ; {
			if err := ctx.Err(); err != nil {
				yield(store.Record{}, err)
				return
			}
			s.mu.RLock()
			if err := s.readable(fmt.Sprintf("read stream %q", streamID)); err != nil {
				s.mu.RUnlock()
				yield(store.Record{}, err)
				return
			}
			idx := s.streams[streamID]
			n := 0
			for ; n < streamChunk && next+int64(n) < int64(len(idx)); n++ {
				chunk[n] = *s.log.at(idx[next+int64(n)])
			}
			copyRecords(chunk[:n])
			s.mu.RUnlock()
			for i := range n {
				if err := ctx.Err(); err != nil {
					yield(store.Record{}, err)
					return
				}
				if !yield(chunk[i], nil) {
					return
				}
			}
			if n < streamChunk {
				return
			}
			next += streamChunk
		}
	}
}

// ReadLog implements [store.Store].
func (s *Store) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	if err := check.ReadLog(q); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLogLimit
	}
	in := func(rec *store.Record) bool { return len(q.Types) == 0 || slices.Contains(q.Types, rec.Type) }
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable(fmt.Sprintf("read log after %d", q.After)); err != nil {
		return nil, err
	}
	// The page is counted first, so that it is allocated at its size
	// rather than grown record by record: from start to end, n records.
	start, end, n := max(q.After, 0), max(q.After, 0), 0
	for ; end < int64(s.log.len()) && n < limit; end++ {
		if in(s.log.at(int(end))) {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]store.Record, 0, n)
	for i := start; i < end; i++ {
		if rec := s.log.at(int(i)); in(rec) {
			out = append(out, *rec)
		}
	}
	copyRecords(out)
	return out, nil
}

// Head implements [store.Store].
func (s *Store) Head(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable("head"); err != nil {
		return 0, err
	}
	return int64(s.log.len()), nil
}

// Wait implements [store.Store].
func (s *Store) Wait(ctx context.Context, after int64) error {
	for {
		s.mu.Lock()
		head := int64(s.log.len())
		if s.changed == nil && head <= after && !s.closed {
			s.changed = make(chan struct{})
		}
		changed, closed := s.changed, s.closed
		s.mu.Unlock()
		if closed {
			return fmt.Errorf("wait after %d: %w", after, errClosed)
		}
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
	if err := check.Consumer(consumer); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable(fmt.Sprintf("consumer %q: read checkpoint", consumer)); err != nil {
		return 0, err
	}
	return s.checkpoints[consumer], nil
}

// SetCheckpoint implements [store.Store].
func (s *Store) SetCheckpoint(ctx context.Context, consumer string, position int64) error {
	if err := check.Consumer(consumer); err != nil {
		return fmt.Errorf("set checkpoint: %w", err)
	}
	if err := check.NegativeCheckpoint(consumer, position); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(ctx); err != nil {
		return err
	}
	if old := s.checkpoints[consumer]; position < old {
		return fmt.Errorf("consumer %q: checkpoint %d is below the recorded %d: %w", consumer, position, old, store.ErrCheckpointBackwards)
	}
	s.checkpoints[consumer] = position
	return nil
}

// Close implements [store.Store]. Every call after Close, a read as much
// as a write, fails with an error matching [store.ErrClosed], and so does
// a Wait in progress when Close is called: no event will come. Closing
// twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return nil
}

// SaveSnapshot implements [snapshot.Store].
func (s *Store) SaveSnapshot(ctx context.Context, snap snapshot.Snapshot) error {
	if err := check.Snapshot(snap); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	snap.Data = clone(snap.Data)
	snap.Time = snap.Time.UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(ctx); err != nil {
		return err
	}
	if old, ok := s.snapshots[snap.StreamID]; ok && old.Version > snap.Version {
		return nil
	}
	s.snapshots[snap.StreamID] = snap
	return nil
}

// LatestSnapshot implements [snapshot.Store].
func (s *Store) LatestSnapshot(ctx context.Context, streamID string) (snapshot.Snapshot, bool, error) {
	if err := check.StreamID(streamID); err != nil {
		return snapshot.Snapshot{}, false, fmt.Errorf("latest snapshot: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return snapshot.Snapshot{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable(fmt.Sprintf("latest snapshot of stream %q", streamID)); err != nil {
		return snapshot.Snapshot{}, false, err
	}
	snap, ok := s.snapshots[streamID]
	snap.Data = clone(snap.Data)
	return snap, ok, nil
}

// CreateSubjectKey implements [store.KeyStore].
func (s *Store) CreateSubjectKey(ctx context.Context, k store.SubjectKey) (store.SubjectKey, error) {
	if err := check.SubjectKey(k); err != nil {
		return store.SubjectKey{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.SubjectKey{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(ctx); err != nil {
		return store.SubjectKey{}, err
	}
	if old, ok := s.keys[k.Subject]; ok {
		return copyKey(old), nil
	}
	k = copyKey(k)
	s.keys[k.Subject] = k
	return copyKey(k), nil
}

// SubjectKey implements [store.KeyStore].
func (s *Store) SubjectKey(ctx context.Context, subject string) (store.SubjectKey, error) {
	if err := check.Subject(subject); err != nil {
		return store.SubjectKey{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.SubjectKey{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable(fmt.Sprintf("key of data subject %q", subject)); err != nil {
		return store.SubjectKey{}, err
	}
	k, ok := s.keys[subject]
	if !ok {
		return store.SubjectKey{}, fmt.Errorf("key of data subject %q: %w", subject, store.ErrNotFound)
	}
	return copyKey(k), nil
}

// DeleteSubjectKey implements [store.KeyStore].
func (s *Store) DeleteSubjectKey(ctx context.Context, subject string) error {
	if err := check.Subject(subject); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(ctx); err != nil {
		return err
	}
	delete(s.keys, subject)
	return nil
}

func copyKey(k store.SubjectKey) store.SubjectKey {
	k.Wrapped = clone(k.Wrapped)
	return k
}

// clone copies b; never nil, as the other adapters read an empty payload
// (see store.Record.Data).
func clone(b []byte) []byte { return append([]byte{}, b...) }

// cloneMeta copies m's Extra; nil when empty, as the other adapters read
// it (see store.Metadata.Extra).
func cloneMeta(m store.Metadata) store.Metadata {
	if len(m.Extra) == 0 {
		m.Extra = nil
	} else {
		extra := make(map[string]string, len(m.Extra))
		for k, v := range m.Extra {
			extra[k] = v
		}
		m.Extra = extra
	}
	return m
}

// logBlock is how many records a block of the log holds.
const logBlock = 4096

// eventLog is the global log in blocks of logBlock records: appending
// never copies the records already stored, as growing one slice would.
type eventLog struct {
	blocks [][]store.Record
	n      int
}

func (l *eventLog) len() int { return l.n }

func (l *eventLog) append(r store.Record) {
	if l.n%logBlock == 0 {
		l.blocks = append(l.blocks, make([]store.Record, 0, logBlock))
	}
	last := &l.blocks[len(l.blocks)-1]
	*last = append(*last, r)
	l.n++
}

// at returns the record at index i (position i+1).
func (l *eventLog) at(i int) *store.Record { return &l.blocks[i/logBlock][i%logBlock] }

// copyRecords makes each of recs, shallow copies of stored records, a
// copy of its own, as copyRecord does, but with the payloads of all in
// one allocation: a read costs one for its payloads, not one an event.
// Each payload is capped at its length, so that appending to one never
// writes over the next; a caller that keeps one payload keeps the
// others' bytes allocated with it.
func copyRecords(recs []store.Record) {
	n := 0
	for i := range recs {
		n += len(recs[i].Data)
	}
	buf := make([]byte, 0, n)
	for i := range recs {
		r := &recs[i]
		start := len(buf)
		buf = append(buf, r.Data...)
		r.Data = buf[start:len(buf):len(buf)]
		r.Metadata = cloneMeta(r.Metadata)
		r.Tags = cloneTags(r.Tags)
	}
}

func copyRecord(r store.Record) store.Record {
	r.Data = clone(r.Data)
	r.Metadata = cloneMeta(r.Metadata)
	r.Tags = cloneTags(r.Tags)
	return r
}
