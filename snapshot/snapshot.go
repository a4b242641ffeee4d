package snapshot

import (
	"context"
	"fmt"
	"time"

	"github.com/annals-dev/annals/internal/names"
)

// Snapshot is the state of one stream at one version, as stored.
type Snapshot struct {
	// StreamID names the stream whose state this is.
	StreamID string
	// Version is the stream version the state reflects: the fold of the
	// stream's events 1…Version.
	Version int64
	// Type is the state's type name, as the state codec wrote it.
	Type string
	// SchemaVersion is the version of the state's schema for Type.
	SchemaVersion int
	// Time is when the snapshot was taken, in UTC: zero, or between the
	// years 1677 and 2262 (store.MinTime and store.MaxTime), which every
	// store keeps. PostgreSQL keeps it to the microsecond, the others to
	// the nanosecond.
	Time time.Time
	// Data is the state as stored; never nil when read from a store.
	Data []byte
	// Encoding names the transformations applied to Data after the codec
	// (compression, encryption); empty means none.
	Encoding string
}

// Store keeps the latest snapshot of each stream.
//
// Implementations are safe for concurrent use and honour the cancellation
// of their context. The method names say "snapshot" so that one adapter
// value can implement this interface beside the event store's.
type Store interface {
	// SaveSnapshot stores s as the latest snapshot of s.StreamID, unless a
	// snapshot of a higher version is already stored, in which case it does
	// nothing and returns nil: concurrent writers may save out of order.
	// A snapshot of the same version replaces the stored one. An invalid
	// snapshot (empty or too long stream ID or type, version or schema
	// version below 1) is refused with an error and nothing is stored.
	SaveSnapshot(ctx context.Context, s Snapshot) error

	// LatestSnapshot returns the stored snapshot of streamID with the
	// highest version, and false when there is none.
	LatestSnapshot(ctx context.Context, streamID string) (Snapshot, bool, error)
}

// Info is what a [Policy] decides on, after a command appended events.
type Info struct {
	// StreamID names the stream.
	StreamID string
	// Version is the stream's version after the append.
	Version int64
	// SnapshotVersion is the version of the snapshot the state was loaded
	// from, or 0 when it was replayed from the start.
	SnapshotVersion int64
	// Types are the type names of the events just appended, in order.
	Types []string
}

// Policy decides, after a successful append, whether to save a snapshot of
// the new state. Any function of an [Info] is a policy.
type Policy func(Info) bool

// Every returns a policy that takes a snapshot once at least n events have
// been appended since the snapshot the state was loaded from (or since the
// start of the stream). A stream whose snapshot could not be used gets a
// new one on its next command past n events. n below 1 means 1.
func Every(n int64) Policy {
	n = max(n, 1)
	return func(i Info) bool { return i.Version-i.SnapshotVersion >= n }
}

// OnTypes returns a policy that takes a snapshot whenever a command
// appends an event of one of the named types, such as a month-end closing.
// It panics when a name is one no store keeps (empty, longer than 255
// bytes, not valid UTF-8 or holding a NUL byte): no event could have it,
// and the policy would never take a snapshot.
func OnTypes(types ...string) Policy {
	set := make(map[string]bool, len(types))
	for _, t := range types {
		if problem := names.TypeName(t); problem != "" {
			panic(fmt.Sprintf("annals: snapshot.OnTypes: %s; name the type as the store keeps it", problem))
		}
		set[t] = true
	}
	return func(i Info) bool {
		for _, t := range i.Types {
			if set[t] {
				return true
			}
		}
		return false
	}
}

// Any returns a policy that takes a snapshot when any of policies says so.
// It panics when one of policies is nil.
func Any(policies ...Policy) Policy {
	for i, p := range policies {
		if p == nil {
			panic(fmt.Sprintf("annals: snapshot.Any: policy %d is nil", i))
		}
	}
	return func(i Info) bool {
		for _, p := range policies {
			if p(i) {
				return true
			}
		}
		return false
	}
}
