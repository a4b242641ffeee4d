package check

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
)

// Records checks the records of [store.Importer.ImportEvents] before they
// are written: each must be storable as an appended event would be, with
// an ID, a time (see [Time]), a version and a schema version of at least
// 1, and tags Store.Append takes; no two may share an ID; and their
// positions must be head+1, head+2, … in order. A position out of line
// fails with an error matching [store.ErrConflict] (the log is not where
// the caller thought), anything else with [store.ErrInvalid]. Adapters
// call it with the head read in their write transaction.
func Records(records []store.Record, head int64) error {
	ids := make(map[uuid.UUID]int, len(records))
	for i, r := range records {
		if want := head + int64(i) + 1; r.Position != want {
			return fmt.Errorf("import events: record %d (%s@%d) has position %d, but the log's head is %d, so the next position is %d: %w",
				i, r.StreamID, r.Version, r.Position, head+int64(i), want, store.ErrConflict)
		}
		if r.ID == uuid.Nil {
			return fmt.Errorf("import events: record at position %d has no ID: %w", r.Position, store.ErrInvalid)
		}
		if j, dup := ids[r.ID]; dup {
			return fmt.Errorf("import events: records %d and %d share the ID %v: %w", j, i, r.ID, store.ErrDuplicateEvent)
		}
		ids[r.ID] = i
		if r.Time.IsZero() {
			return fmt.Errorf("import events: record at position %d (%s@%d) has no time: give each record the time it was appended: %w", r.Position, r.StreamID, r.Version, store.ErrInvalid)
		}
		if err := Time(r.Time); err != nil {
			return fmt.Errorf("import events: record at position %d (%s@%d): %w", r.Position, r.StreamID, r.Version, err)
		}
		if r.Version < 1 || r.SchemaVersion < 1 {
			return fmt.Errorf("import events: record at position %d (%s@%d) has version %d and schema version %d, want both ≥ 1: %w",
				r.Position, r.StreamID, r.Version, r.Version, r.SchemaVersion, store.ErrInvalid)
		}
		e := store.Event{ID: r.ID, Type: r.Type, SchemaVersion: r.SchemaVersion, Data: r.Data, Encoding: r.Encoding, Metadata: r.Metadata, Tags: r.Tags}
		if err := Append(r.StreamID, store.AnyVersion, []store.Event{e}); err != nil {
			return fmt.Errorf("import events: record at position %d: %w", r.Position, err)
		}
	}
	return nil
}

// ImportCheckpoint returns an error matching [store.ErrInvalid] when a
// checkpoint cannot be stored: an invalid consumer name or a negative
// position.
func ImportCheckpoint(c store.Checkpoint) error {
	if err := Consumer(c.Consumer); err != nil {
		return err
	}
	if c.Position < 0 {
		return fmt.Errorf("consumer %q: checkpoint %d is negative: %w", c.Consumer, c.Position, store.ErrInvalid)
	}
	if err := Time(c.Time); err != nil {
		return fmt.Errorf("consumer %q: checkpoint %d: %w", c.Consumer, c.Position, err)
	}
	return nil
}

// Time returns an error matching [store.ErrInvalid] when t is neither
// zero nor between [store.MinTime] and [store.MaxTime], the times every
// adapter keeps.
func Time(t time.Time) error {
	if !t.IsZero() && (t.Before(store.MinTime) || t.After(store.MaxTime)) {
		return fmt.Errorf("time %v is outside the years 1677 to 2262 that every store keeps (store.MinTime to store.MaxTime): %w", t, store.ErrInvalid)
	}
	return nil
}
