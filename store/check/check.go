package check

import (
	"fmt"
	"math"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/internal/names"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// Expected returns a [*store.ConflictError] when an append that expects
// version expected meets a stream at version actual, and nil when the
// append may go ahead. Adapters call it inside their write transaction.
func Expected(streamID string, expected, actual int64) error {
	if expected == store.AnyVersion || expected == actual {
		return nil
	}
	return &store.ConflictError{StreamID: streamID, Expected: expected, Actual: actual}
}

// Append checks the arguments of [store.Store.Append] and returns an error
// matching [store.ErrInvalid] that says what is wrong. Adapters call it before
// they write anything, so that all of them refuse the same input.
func Append(streamID string, expected int64, events []store.Event) error {
	if err := StreamID(streamID); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if expected < store.AnyVersion {
		return fmt.Errorf("append to stream %q: expected version %d: must be a version ≥ 0, NoStream or AnyVersion: %w", streamID, expected, store.ErrInvalid)
	}
	if expected > math.MaxInt64-int64(len(events)) {
		return fmt.Errorf("append to stream %q: expected version %d leaves no room for %d events below the largest version, %d: %w", streamID, expected, len(events), int64(math.MaxInt64), store.ErrInvalid)
	}
	var ids map[uuid.UUID]int // only built when the writer chose IDs
	for i, e := range events {
		if e.ID != uuid.Nil {
			if ids == nil {
				ids = make(map[uuid.UUID]int, len(events))
			}
			if j, dup := ids[e.ID]; dup {
				return fmt.Errorf("append to stream %q: events %d and %d share the ID %v: %w", streamID, j, i, e.ID, store.ErrDuplicateEvent)
			}
			ids[e.ID] = i
		}
		if err := TypeName(e.Type); err != nil {
			return fmt.Errorf("append to stream %q: event %d: %w", streamID, i, err)
		}
		switch {
		case e.SchemaVersion < 0:
			return fmt.Errorf("append to stream %q: event %d (%s) has schema version %d, want ≥ 1: %w", streamID, i, e.Type, e.SchemaVersion, store.ErrInvalid)
		case e.SchemaVersion > store.MaxSchemaVersion:
			return fmt.Errorf("append to stream %q: event %d (%s) has schema version %d, the limit is %d: %w", streamID, i, e.Type, e.SchemaVersion, store.MaxSchemaVersion, store.ErrInvalid)
		case len(e.Encoding) > store.MaxEncodingLen:
			return fmt.Errorf("append to stream %q: event %d (%s) encoding %.32q… is %d bytes, the limit is %d: %w", streamID, i, e.Type, e.Encoding, len(e.Encoding), store.MaxEncodingLen, store.ErrInvalid)
		case !validText(e.Encoding):
			return fmt.Errorf("append to stream %q: event %d (%s) encoding %.64q is not valid UTF-8 or contains a NUL byte: %w", streamID, i, e.Type, e.Encoding, store.ErrInvalid)
		case !validMetadata(e.Metadata):
			return fmt.Errorf("append to stream %q: event %d (%s) has metadata that is not valid UTF-8 or contains a NUL byte: %w", streamID, i, e.Type, store.ErrInvalid)
		}
		if err := Tags(e.Tags); err != nil {
			return fmt.Errorf("append to stream %q: event %d (%s): %w", streamID, i, e.Type, err)
		}
	}
	return nil
}

// ReadStream checks the stream ID of [store.Store.ReadStream]. An ID that
// no append could have stored (see [StreamID]) is refused rather than read
// as a stream that does not exist: PostgreSQL cannot even be asked for it,
// and every adapter answers alike.
func ReadStream(streamID string) error {
	if err := StreamID(streamID); err != nil {
		return fmt.Errorf("read stream: no stream can have this ID: %w", err)
	}
	return nil
}

// ReadLog checks the arguments of [store.Store.ReadLog]. A type that no
// event could have (empty, longer than [store.MaxTypeLen] bytes, not
// valid UTF-8 or holding a NUL byte) is refused rather than matched by
// nothing, as [ReadStream] refuses a stream ID. Any After and Limit are
// accepted: a Limit of 0 or less is [store.DefaultLogLimit].
func ReadLog(q store.LogQuery) error {
	for i, typ := range q.Types {
		if err := TypeName(typ); err != nil {
			return fmt.Errorf("read log: LogQuery.Types[%d]: no event can have this type: %w", i, err)
		}
	}
	return nil
}

// TypeName returns an error matching [store.ErrInvalid] when no event or
// snapshot could have the type name typ: it is empty, longer than
// [store.MaxTypeLen] bytes, not valid UTF-8 or holds a NUL byte. Package
// codec refuses such a name when it is registered.
func TypeName(typ string) error {
	if problem := names.TypeName(typ); problem != "" {
		return fmt.Errorf("%s: %w", problem, store.ErrInvalid)
	}
	return nil
}

// validMetadata reports whether every text of m can be stored as it is:
// adapters keep metadata as JSON, which would replace invalid UTF-8, and
// PostgreSQL's jsonb refuses NUL.
func validMetadata(m store.Metadata) bool {
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

// StreamID returns an error matching [store.ErrInvalid] when id is empty
// or longer than [store.MaxStreamIDLen] bytes.
func StreamID(id string) error {
	if id == "" {
		return fmt.Errorf("stream ID is empty: %w", store.ErrInvalid)
	}
	if len(id) > store.MaxStreamIDLen {
		return fmt.Errorf("stream ID %.32q… is %d bytes, the limit is %d: %w", id, len(id), store.MaxStreamIDLen, store.ErrInvalid)
	}
	if !validText(id) {
		return fmt.Errorf("stream ID %q is not valid UTF-8 or contains a NUL byte: %w", id, store.ErrInvalid)
	}
	return nil
}

// Consumer returns an error matching [store.ErrInvalid] when a consumer
// name is empty or longer than [store.MaxStreamIDLen] bytes.
func Consumer(name string) error {
	return validName("consumer name", name)
}

// validName checks a name that adapters store as text, and says which
// kind of name is wrong.
func validName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s is empty: %w", what, store.ErrInvalid)
	}
	if len(name) > store.MaxStreamIDLen {
		return fmt.Errorf("%s is %d bytes, the limit is %d: %w", what, len(name), store.MaxStreamIDLen, store.ErrInvalid)
	}
	if !validText(name) {
		return fmt.Errorf("%s %q is not valid UTF-8 or contains a NUL byte: %w", what, name, store.ErrInvalid)
	}
	return nil
}

// validText reports whether s can be stored as text by every adapter:
// PostgreSQL refuses invalid UTF-8 and NUL bytes in text columns, so all
// adapters refuse them alike.
func validText(s string) bool { return names.Text(s) }

// Checkpoint returns an error matching [store.ErrConflict] when a consumer
// that expects its checkpoint at from finds it at actual. Adapters call it
// inside Commit's transaction.
func Checkpoint(consumer string, from, actual int64) error {
	if from == actual {
		return nil
	}
	return fmt.Errorf("consumer %q: checkpoint is %d, expected %d (another instance moved it, or an earlier commit of this one whose answer was lost): %w", consumer, actual, from, store.ErrConflict)
}

// NegativeCheckpoint returns the error of a checkpoint set below 0, which
// matches [store.ErrInvalid]: it is no position, not a move backwards
// from one. It returns nil for a position of 0 or above.
func NegativeCheckpoint(consumer string, position int64) error {
	if position >= 0 {
		return nil
	}
	return fmt.Errorf("consumer %q: checkpoint %d is negative; positions are ≥ 0 (they start at 1, and 0 is before the first event): %w", consumer, position, store.ErrInvalid)
}

// State returns an error matching [store.ErrInvalid] when a view name or
// key cannot be stored.
func State(view, key string) error {
	if err := validName("view name", view); err != nil {
		return err
	}
	if key == "" {
		return nil // the view's single state
	}
	return validName("view key", key)
}

// States checks the arguments of a load of many states: a view name and
// keys, each as [State] checks them.
func States(view string, keys []string) error {
	if err := State(view, ""); err != nil {
		return err
	}
	for _, k := range keys {
		if err := State(view, k); err != nil {
			return err
		}
	}
	return nil
}

// Commit checks the arguments of [store.Committer.Commit] and returns an
// error matching [store.ErrInvalid] that says what is wrong. noFn says
// that the function to run in the transaction is nil.
func Commit(consumer string, from, to int64, noFn bool) error {
	if err := Consumer(consumer); err != nil {
		return err
	}
	if noFn {
		return fmt.Errorf("consumer %q: commit from %d to %d: nil function: give the function that writes the read model in the transaction (one that returns nil, to move the checkpoint alone): %w", consumer, from, to, store.ErrInvalid)
	}
	if from < 0 || to < 0 || (to < from && to != 0) {
		return fmt.Errorf("consumer %q: commit from %d to %d: positions must be ≥ 0 and move forward, or back to 0 to rebuild: %w", consumer, from, to, store.ErrInvalid)
	}
	return nil
}

// Subject returns an error matching [store.ErrInvalid] when a data
// subject's ID is empty, longer than [store.MaxStreamIDLen] bytes, not valid
// UTF-8 or holds a NUL byte.
func Subject(subject string) error {
	switch {
	case subject == "":
		return fmt.Errorf("data subject ID is empty: %w", store.ErrInvalid)
	case len(subject) > store.MaxStreamIDLen:
		return fmt.Errorf("data subject ID is %d bytes, the limit is %d: %w", len(subject), store.MaxStreamIDLen, store.ErrInvalid)
	case !validText(subject):
		return fmt.Errorf("data subject ID %q is not valid UTF-8 or contains a NUL byte: %w", subject, store.ErrInvalid)
	}
	return nil
}

// SubjectKey returns an error matching [store.ErrInvalid] when k cannot
// be stored: an invalid subject, a malformed key ID, or wrapped bytes that
// are empty or longer than [store.MaxWrappedKeyLen]. Adapters call it before
// they write.
func SubjectKey(k store.SubjectKey) error {
	if err := Subject(k.Subject); err != nil {
		return err
	}
	if err := KeyID(k.KeyID); err != nil {
		return fmt.Errorf("key of subject %q: master %v: %w", k.Subject, err, store.ErrInvalid)
	}
	if len(k.Wrapped) == 0 || len(k.Wrapped) > store.MaxWrappedKeyLen {
		return fmt.Errorf("key of subject %q: wrapped key is %d bytes, want 1 to %d: %w", k.Subject, len(k.Wrapped), store.MaxWrappedKeyLen, store.ErrInvalid)
	}
	return nil
}

// Snapshot returns an error matching [store.ErrInvalid] when a snapshot
// cannot be stored: an invalid stream ID, a version or schema version
// below 1, a schema version above [store.MaxSchemaVersion], an empty, too
// long or malformed type name, an encoding too long or malformed, or a
// time no store keeps (see [Time]). Adapters call it before they write.
func Snapshot(s snapshot.Snapshot) error {
	if err := StreamID(s.StreamID); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	switch {
	case s.Version < 1:
		return fmt.Errorf("snapshot of stream %q: version %d, want ≥ 1: %w", s.StreamID, s.Version, store.ErrInvalid)
	case TypeName(s.Type) != nil:
		return fmt.Errorf("snapshot of stream %q: %w", s.StreamID, TypeName(s.Type))
	case s.SchemaVersion < 1:
		return fmt.Errorf("snapshot of stream %q: schema version %d, want ≥ 1: %w", s.StreamID, s.SchemaVersion, store.ErrInvalid)
	case s.SchemaVersion > store.MaxSchemaVersion:
		return fmt.Errorf("snapshot of stream %q: schema version %d, the limit is %d: %w", s.StreamID, s.SchemaVersion, store.MaxSchemaVersion, store.ErrInvalid)
	case len(s.Encoding) > store.MaxEncodingLen:
		return fmt.Errorf("snapshot of stream %q: encoding %.32q… is %d bytes, the limit is %d: %w", s.StreamID, s.Encoding, len(s.Encoding), store.MaxEncodingLen, store.ErrInvalid)
	case !validText(s.Encoding):
		return fmt.Errorf("snapshot of stream %q: encoding %.64q is not valid UTF-8 or contains a NUL byte: %w", s.StreamID, s.Encoding, store.ErrInvalid)
	}
	if err := Time(s.Time); err != nil {
		return fmt.Errorf("snapshot of stream %q: %w", s.StreamID, err)
	}
	return nil
}

// KeyID returns an error when id cannot can name a key in an Encoding string.
func KeyID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("key ID %q: want 1 to 64 characters", id)
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("key ID %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

// StoredVersion returns an error matching [store.ErrCorrupt] when a stored
// event of stream streamID is at version, below 1: no append writes one,
// so the row was changed by hand (or restored badly), and a stream that
// holds it reads as shorter than it is. Adapters call it on what they
// read of a stream from its start and on the version an append meets.
func StoredVersion(streamID string, version int64) error {
	if version >= 1 {
		return nil
	}
	return fmt.Errorf("stream %q holds an event at version %d, below 1, which no append writes (every stream's versions run 1, 2, 3…): it was changed by hand; run `annals verify` to find every such place: %w", streamID, version, store.ErrCorrupt)
}
