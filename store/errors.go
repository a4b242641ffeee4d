package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/upcast"
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
	// ErrUnknownEventType reports a stored type name that the codec has no
	// Go type for. Register the type, or an upcaster that renames it.
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrSchemaVersion reports a stored schema version that the code cannot
	// read: newer than it knows, or with no upcaster to the current one.
	// It is [upcast.ErrSchemaVersion], so errors from either package match.
	ErrSchemaVersion = upcast.ErrSchemaVersion
	// ErrDecrypt reports a payload that cannot be decrypted: its key is not
	// configured, the key is wrong, or the stored bytes were changed or
	// copied from another record. The error names the key ID.
	ErrDecrypt = errors.New("decryption failed")
	// ErrUnknownEncoding reports a record whose Encoding names a
	// transformation this code does not know or in an order it does not
	// write, so its payload cannot be read.
	ErrUnknownEncoding = errors.New("unknown encoding")
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

// CheckExpected returns a [*ConflictError] when an append that expects
// version expected meets a stream at version actual, and nil when the
// append may go ahead. Adapters call it inside their write transaction.
func CheckExpected(streamID string, expected, actual int64) error {
	if expected == AnyVersion || expected == actual {
		return nil
	}
	return &ConflictError{StreamID: streamID, Expected: expected, Actual: actual}
}

// ValidateAppend checks the arguments of [Store.Append] and returns an error
// matching [ErrInvalid] that says what is wrong. Adapters call it before
// they write anything, so that all of them refuse the same input.
func ValidateAppend(streamID string, expected int64, events []Event) error {
	if err := ValidateStreamID(streamID); err != nil {
		return err
	}
	if expected < AnyVersion {
		return fmt.Errorf("append to stream %q: expected version %d: must be a version ≥ 0, NoStream or AnyVersion: %w", streamID, expected, ErrInvalid)
	}
	var ids map[uuid.UUID]int // only built when the writer chose IDs
	for i, e := range events {
		if e.ID != uuid.Nil {
			if ids == nil {
				ids = make(map[uuid.UUID]int, len(events))
			}
			if j, dup := ids[e.ID]; dup {
				return fmt.Errorf("append to stream %q: events %d and %d share the ID %v: %w", streamID, j, i, e.ID, ErrDuplicateEvent)
			}
			ids[e.ID] = i
		}
		switch {
		case e.Type == "":
			return fmt.Errorf("append to stream %q: event %d has an empty type name: %w", streamID, i, ErrInvalid)
		case len(e.Type) > MaxTypeLen:
			return fmt.Errorf("append to stream %q: event %d type name is %d bytes, the limit is %d: %w", streamID, i, len(e.Type), MaxTypeLen, ErrInvalid)
		case !validText(e.Type):
			return fmt.Errorf("append to stream %q: event %d type name %q is not valid UTF-8 or contains a NUL byte: %w", streamID, i, e.Type, ErrInvalid)
		case e.SchemaVersion < 0:
			return fmt.Errorf("append to stream %q: event %d (%s) has schema version %d, want ≥ 1: %w", streamID, i, e.Type, e.SchemaVersion, ErrInvalid)
		case !validText(e.Encoding):
			return fmt.Errorf("append to stream %q: event %d (%s) encoding %q is not valid UTF-8 or contains a NUL byte: %w", streamID, i, e.Type, e.Encoding, ErrInvalid)
		case !validMetadata(e.Metadata):
			return fmt.Errorf("append to stream %q: event %d (%s) has metadata that is not valid UTF-8 or contains a NUL byte: %w", streamID, i, e.Type, ErrInvalid)
		}
	}
	return nil
}

// validMetadata reports whether every text of m can be stored as it is:
// adapters keep metadata as JSON, which would replace invalid UTF-8, and
// PostgreSQL's jsonb refuses NUL.
func validMetadata(m Metadata) bool {
	if !validText(m.CorrelationID) || !validText(m.CausationID) {
		return false
	}
	for k, v := range m.Extra {
		if !validText(k) || !validText(v) {
			return false
		}
	}
	return true
}

// ValidateStreamID returns an error matching [ErrInvalid] when id is empty
// or longer than [MaxStreamIDLen] bytes.
func ValidateStreamID(id string) error {
	if id == "" {
		return fmt.Errorf("stream ID is empty: %w", ErrInvalid)
	}
	if len(id) > MaxStreamIDLen {
		return fmt.Errorf("stream ID %.32q… is %d bytes, the limit is %d: %w", id, len(id), MaxStreamIDLen, ErrInvalid)
	}
	if !validText(id) {
		return fmt.Errorf("stream ID %q is not valid UTF-8 or contains a NUL byte: %w", id, ErrInvalid)
	}
	return nil
}

// ValidateConsumer returns an error matching [ErrInvalid] when a consumer
// name is empty or longer than [MaxStreamIDLen] bytes.
func ValidateConsumer(name string) error {
	return validName("consumer name", name)
}

// validName checks a name that adapters store as text, and says which
// kind of name is wrong.
func validName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s is empty: %w", what, ErrInvalid)
	}
	if len(name) > MaxStreamIDLen {
		return fmt.Errorf("%s is %d bytes, the limit is %d: %w", what, len(name), MaxStreamIDLen, ErrInvalid)
	}
	if !validText(name) {
		return fmt.Errorf("%s %q is not valid UTF-8 or contains a NUL byte: %w", what, name, ErrInvalid)
	}
	return nil
}

// validText reports whether s can be stored as text by every adapter:
// PostgreSQL refuses invalid UTF-8 and NUL bytes in text columns, so all
// adapters refuse them alike.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
