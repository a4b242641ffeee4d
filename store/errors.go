package store

import (
	"errors"
	"fmt"
)

var (
	// ErrConflict reports that a stream's version was not the one a writer
	// expected: someone else appended first. Reload and decide again.
	ErrConflict = errors.New("version conflict")
	// ErrInvalid reports input a store refuses: an empty or too long
	// stream ID or type name, a bad expected version, a malformed URL.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound reports that something looked up does not exist.
	ErrNotFound = errors.New("not found")
	// ErrCheckpointBackwards reports an attempt to move a consumer's
	// checkpoint to a lower position.
	ErrCheckpointBackwards = errors.New("checkpoint moves backwards")
	// ErrUnknownScheme reports a store URL whose scheme no linked adapter
	// handles.
	ErrUnknownScheme = errors.New("unknown store scheme")
	// ErrDuplicateEvent reports an append of an event whose ID the store
	// already holds. Event IDs are unique in a store, so an append that
	// derives its IDs from an idempotency key happens at most once; the
	// whole batch is refused.
	ErrDuplicateEvent = errors.New("duplicate event ID")
	// ErrOutcomeUnknown reports a write whose outcome the store cannot
	// know: the request was sent, then the connection broke or the
	// context ended before the answer came back, so it may or may not
	// have committed. Read the stream (or retry with an idempotency key)
	// to find out. An error that matches it never matches [ErrConflict].
	// A write that fails before its request left, or that the database
	// is known to have rolled back, does not match it: nothing was stored.
	ErrOutcomeUnknown = errors.New("outcome unknown: the write may have been stored")
	// ErrClosed reports a call on a store after its Close, and a Wait
	// that Close ended. It wraps [ErrInvalid], so an error that matches
	// it matches ErrInvalid too: nothing will succeed on the store again,
	// so a consumer's loop stops rather than retry.
	ErrClosed = fmt.Errorf("the store is closed: %w", ErrInvalid)
	// ErrCorrupt reports stored records that break what the store's
	// writes keep: a stream whose versions skip or repeat one, as no
	// append writes them, or a column that does not decode. Package
	// codec reports with it a payload that cannot be as written (bytes
	// that do not inflate, JSON that does not parse). It is not retried;
	// `annals verify` lists every such place in the store, which its
	// operator repairs.
	ErrCorrupt = errors.New("the store's records are corrupt")
	// ErrUnsupported reports a call that the store's adapter does not
	// implement, such as view states on an adapter that keeps only events
	// and checkpoints. It is [errors.ErrUnsupported].
	ErrUnsupported = errors.ErrUnsupported
)

// ConflictError is the error of an append whose expected version did not
// match. It matches [ErrConflict] with errors.Is.
type ConflictError struct {
	StreamID string
	Expected int64
	Actual   int64
}

// Error names the stream and both versions.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("append to stream %q: expected version %s, actual version %d: %v",
		e.StreamID, versionString(e.Expected), e.Actual, ErrConflict)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func versionString(v int64) string {
	switch v {
	case NoStream:
		return "0 (no stream)"
	case AnyVersion:
		return "any"
	}
	return fmt.Sprint(v)
}
