package memory

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

var (
	_ store.Exporter       = (*Store)(nil)
	_ store.Importer       = (*Store)(nil)
	_ store.LeaseInspector = (*Store)(nil)
)

// Inventory implements [store.Exporter].
func (s *Store) Inventory(ctx context.Context) (store.Inventory, error) {
	if err := ctx.Err(); err != nil {
		return store.Inventory{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable("count what the store holds"); err != nil {
		return store.Inventory{}, err
	}
	inv := store.Inventory{
		Events:      int64(s.log.len()),
		Checkpoints: int64(len(s.checkpoints)),
		Snapshots:   int64(len(s.snapshots)),
		SubjectKeys: int64(len(s.keys)),
	}
	for _, states := range s.consumers.states {
		inv.States += int64(len(states))
	}
	return inv, nil
}

// exportSorted yields the values of a map copied under the read lock, in
// the byte order of their keys.
func exportSorted[K interface{ ~string }, V any](ctx context.Context, s *Store, what string, snap func() map[K]V) iter.Seq2[V, error] {
	return func(yield func(V, error) bool) {
		var zero V
		if err := ctx.Err(); err != nil {
			yield(zero, err)
			return
		}
		s.mu.RLock()
		if err := s.readable("export " + what); err != nil {
			s.mu.RUnlock()
			yield(zero, err)
			return
		}
		m := snap()
		s.mu.RUnlock()
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(m[k], nil) {
				return
			}
		}
	}
}

// ExportCheckpoints implements [store.Exporter]. The memory store does
// not record when a checkpoint moved: Time is zero.
func (s *Store) ExportCheckpoints(ctx context.Context) iter.Seq2[store.Checkpoint, error] {
	return exportSorted(ctx, s, "checkpoints", func() map[string]store.Checkpoint {
		out := make(map[string]store.Checkpoint, len(s.checkpoints))
		for name, pos := range s.checkpoints {
			out[name] = store.Checkpoint{Consumer: name, Position: pos}
		}
		return out
	})
}

// ExportSnapshots implements [store.Exporter].
func (s *Store) ExportSnapshots(ctx context.Context) iter.Seq2[snapshot.Snapshot, error] {
	return exportSorted(ctx, s, "snapshots", func() map[string]snapshot.Snapshot {
		out := make(map[string]snapshot.Snapshot, len(s.snapshots))
		for id, snap := range s.snapshots {
			snap.Data = clone(snap.Data)
			out[id] = snap
		}
		return out
	})
}

// ExportStates implements [store.Exporter].
func (s *Store) ExportStates(ctx context.Context) iter.Seq2[store.State, error] {
	return exportSorted(ctx, s, "view states", func() map[string]store.State {
		out := map[string]store.State{}
		for view, states := range s.consumers.states {
			for key, data := range states {
				// NUL sorts below every byte a name may hold (names hold
				// no NUL), so the order is by view, then key.
				out[view+"\x00"+key] = store.State{View: view, Key: key, Data: clone(data)}
			}
		}
		return out
	})
}

// ExportSubjectKeys implements [store.Exporter].
func (s *Store) ExportSubjectKeys(ctx context.Context) iter.Seq2[store.SubjectKey, error] {
	return exportSorted(ctx, s, "subject keys", func() map[string]store.SubjectKey {
		out := make(map[string]store.SubjectKey, len(s.keys))
		for subject, k := range s.keys {
			out[subject] = copyKey(k)
		}
		return out
	})
}

// ImportEvents implements [store.Importer].
func (s *Store) ImportEvents(ctx context.Context, records []store.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if err := check.Records(records, int64(s.log.len())); err != nil {
		return err
	}
	for _, r := range records {
		if _, dup := s.ids[r.ID]; dup {
			return fmt.Errorf("import events: event ID %v (%s@%d) is already stored: %w", r.ID, r.StreamID, r.Version, store.ErrDuplicateEvent)
		}
	}
	// Check each stream's versions against the stored ones and those
	// before them in the batch, before anything is written.
	next := map[string]int64{}
	for _, r := range records {
		v, ok := next[r.StreamID]
		if !ok {
			v = int64(len(s.streams[r.StreamID])) + 1
		}
		switch {
		case r.Version < v:
			return fmt.Errorf("import events: stream %q already has version %d: %w", r.StreamID, r.Version, store.ErrConflict)
		case r.Version > v:
			// The memory store finds a version by its place in the stream.
			return fmt.Errorf("import events: stream %q is at version %d; record %s@%d would leave a gap: %w", r.StreamID, v-1, r.StreamID, r.Version, store.ErrInvalid)
		}
		next[r.StreamID] = r.Version + 1
	}
	for _, r := range records {
		r = copyRecord(r)
		r.Time = r.Time.UTC()
		s.ids[r.ID] = s.log.len()
		s.streams[r.StreamID] = append(s.streams[r.StreamID], s.log.len())
		s.tagged.add(s.log.len(), r)
		s.log.append(r)
	}
	if len(records) > 0 && s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return nil
}

// ImportCheckpoints implements [store.Importer].
func (s *Store) ImportCheckpoints(ctx context.Context, cps []store.Checkpoint) error {
	for _, c := range cps {
		if err := check.ImportCheckpoint(c); err != nil {
			return err
		}
	}
	return s.locked(ctx, func() {
		for _, c := range cps {
			s.checkpoints[c.Consumer] = c.Position
		}
	})
}

// DeleteCheckpoints implements [store.Importer].
func (s *Store) DeleteCheckpoints(ctx context.Context, consumers []string) error {
	for _, c := range consumers {
		if err := check.Consumer(c); err != nil {
			return fmt.Errorf("delete checkpoints: %w", err)
		}
	}
	return s.locked(ctx, func() {
		for _, c := range consumers {
			delete(s.checkpoints, c)
		}
	})
}

// ImportSnapshots implements [store.Importer].
func (s *Store) ImportSnapshots(ctx context.Context, snaps []snapshot.Snapshot) error {
	for _, snap := range snaps {
		if err := check.Snapshot(snap); err != nil {
			return err
		}
	}
	return s.locked(ctx, func() {
		for _, snap := range snaps {
			snap.Data = clone(snap.Data)
			snap.Time = snap.Time.UTC()
			s.snapshots[snap.StreamID] = snap
		}
	})
}

// ImportStates implements [store.Importer].
func (s *Store) ImportStates(ctx context.Context, states []store.State) error {
	for _, st := range states {
		if err := check.State(st.View, st.Key); err != nil {
			return err
		}
	}
	return s.locked(ctx, func() {
		for _, st := range states {
			m := s.consumers.states[st.View]
			if m == nil {
				m = map[string][]byte{}
				s.consumers.states[st.View] = m
			}
			data := clone(st.Data)
			if data == nil {
				data = []byte{}
			}
			m[st.Key] = data
		}
	})
}

// ImportSubjectKeys implements [store.Importer].
func (s *Store) ImportSubjectKeys(ctx context.Context, keys []store.SubjectKey) error {
	for _, k := range keys {
		if err := check.SubjectKey(k); err != nil {
			return err
		}
	}
	return s.locked(ctx, func() {
		for _, k := range keys {
			s.keys[k.Subject] = copyKey(k)
		}
	})
}

// TimePrecision implements [store.Importer]: the memory store keeps
// times to the nanosecond.
func (s *Store) TimePrecision() time.Duration { return time.Nanosecond }

// locked runs f under the write lock of an open store.
func (s *Store) locked(ctx context.Context, f func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	f()
	return nil
}

// LeaseHolder implements [store.LeaseInspector]: leases of a memory store
// are held within this process.
func (s *Store) LeaseHolder(ctx context.Context, name string) (store.LeaseHolder, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.LeaseHolder{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.readable(fmt.Sprintf("read lease %q", name)); err != nil {
		return store.LeaseHolder{}, false, err
	}
	if _, held := s.consumers.leases[name]; !held {
		return store.LeaseHolder{}, false, nil
	}
	return store.LeaseHolder{Holder: "this process"}, true, nil
}
