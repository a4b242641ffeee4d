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
	// The library reports with it too a call on one of its values that
	// no constructor made (a zero value, or a nil pointer), naming the
	// constructor to call (see docs/architecture.md).
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
	// ErrUnavailable reports a call that the store could not serve
	// because it could not be reached or could not take the call: a
	// connection that could not be opened or broke, a server shutting
	// down or out of connections, a write lock that another process held
	// for longer than the busy timeout. A server that answers but
	// refuses the connection's database, user, privilege or settings is
	// not unavailable: the same call gets the same answer. A later try
	// may succeed: retry it after a pause. A write that fails with it
	// stored nothing, unless its error matches [ErrOutcomeUnknown] too
	// (the connection broke after the write was sent), or the root
	// package's ErrStored (the write was stored, and what ran after it,
	// a consumer of a Sync system, could not reach the store). The
	// handle that package annals opens marks its adapter's errors with
	// it when the adapter is a [FaultClassifier]; consumers of a System
	// retry, rather than stop at, an event whose handling failed with it.
	ErrUnavailable = errors.New("the store is unavailable")
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

// FaultClassifier is implemented by an adapter that can tell, of an
// error that one of its calls returned, whether the store was
// unavailable (see [ErrUnavailable]) rather than refusing the call or
// holding corrupt records. Unavailable must be cheap and must not do
// I/O; it is asked only about errors.
type FaultClassifier interface {
	Unavailable(err error) bool
}

// Unavailable returns err marked as [ErrUnavailable]: it matches that
// sentinel and whatever err matches, and its message is err's. nil and
// an error that matches ErrUnavailable already are returned as they are.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailableError{err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string        { return e.err.Error() }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
