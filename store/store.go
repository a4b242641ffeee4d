package store

import (
	"context"
	"iter"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/internal/names"
)

// Expected versions with a special meaning for [Store.Append].
const (
	// AnyVersion appends whatever the stream's current version is. Use it
	// only where lost updates cannot happen, such as a stream with one
	// writer; command handling always passes the version it loaded.
	AnyVersion int64 = -1
	// NoStream expects the stream not to exist yet.
	NoStream int64 = 0
)

// Limits on the identifiers a store accepts. Longer values are rejected with
// [ErrInvalid] rather than truncated.
const (
	MaxStreamIDLen = 255
	// MaxTypeLen bounds an event's or a snapshot's type name, 255 bytes.
	// Package codec and package upcast refuse a longer name when it is
	// registered.
	MaxTypeLen = names.MaxTypeLen
	// MaxEncodingLen bounds an event's or a snapshot's Encoding, the
	// steps its payload went through ("personal+deflate+aes256gcm:k1").
	MaxEncodingLen = 255
	// MaxSchemaVersion is the highest schema version of an event or a
	// snapshot: PostgreSQL keeps it in an integer column, and every
	// adapter refuses what one of them cannot hold, so that a store can
	// move from one to another (annals copy).
	MaxSchemaVersion = math.MaxInt32
)

// The times a store accepts, in a snapshot, an imported record or an
// imported checkpoint: from 1677-09-21 to 2262-04-11, what Unix
// nanoseconds in an int64 hold, which is how SQLite keeps them. Every
// adapter refuses a time outside with [ErrInvalid], so that a store can
// move from one to another (annals copy). The zero time is accepted
// where it means "none".
var (
	MinTime = time.Unix(0, math.MinInt64).UTC()
	MaxTime = time.Unix(0, math.MaxInt64).UTC()
)

// Record is an event as stored.
type Record struct {
	// ID identifies the event everywhere (a UUIDv7 unless the writer chose one).
	ID uuid.UUID
	// StreamID names the stream, usually one aggregate instance.
	StreamID string
	// Version is the 1-based position of the event in its stream;
	// versions in a stream are contiguous.
	Version int64
	// Position is the event's place in the global log: strictly increasing
	// in the order in which consumers see events.
	Position int64
	// Type is the event's type name, as the codec wrote it.
	Type string
	// SchemaVersion is the version of the payload's schema for Type.
	SchemaVersion int
	// Time is when the event was recorded, in UTC.
	Time time.Time
	// Data is the payload as stored; never nil: an empty payload, or a
	// nil one appended, reads back as an empty slice on every adapter.
	Data []byte
	// Encoding names the transformations applied to Data after the codec
	// (compression, encryption); empty means none.
	Encoding string
	// Metadata carries correlation and causation.
	Metadata Metadata
	// Tags are the event's tags, as appended (see [Event.Tags]); nil for
	// an event appended without tags.
	Tags []string
}

// Metadata travels with an event and is stored beside its payload.
type Metadata struct {
	// CorrelationID names the conversation the event belongs to: the ID of
	// the first command or event that started it.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the ID of the command or event that caused this one.
	CausationID string `json:"causation_id,omitempty"`
	// Extra holds application-defined values; nil when there are none:
	// an empty map reads back as nil on every adapter.
	Extra map[string]string `json:"extra,omitempty"`
}

// Event is an event to append.
type Event struct {
	// ID identifies the event; the zero UUID asks the store for a new UUIDv7.
	ID uuid.UUID
	// Type is the event's type name; it must not be empty.
	Type string
	// SchemaVersion is the version of Data's schema; 0 is stored as 1.
	SchemaVersion int
	// Data is the payload; it may be empty.
	Data []byte
	// Encoding names what was applied to Data after the codec; see Record.
	Encoding string
	// Metadata is stored with the event.
	Metadata Metadata
	// Tags, when not empty, make the event one that queries find (see
	// [Query] and [DCB]), beside its stream: such as "course:c1" or
	// "student:s7". At most [MaxTags], each 1 to [MaxTagLen] bytes of
	// text, none repeated. Tags are stored as they are, never encrypted:
	// they are index keys, so keep personal data out of them.
	Tags []string
}

// LogQuery selects a page of the global log.
type LogQuery struct {
	// After is the position after which to read; 0 (or less) reads from
	// the start.
	After int64
	// Limit caps how many records are returned; 0 or less means 100.
	// Any larger limit is accepted, however far past the log's end.
	Limit int
	// Types, when not empty, keeps only records whose Type is listed.
	Types []string
}

// DefaultLogLimit is the page size of [LogQuery] when Limit is not set.
const DefaultLogLimit = 100

// Store is an event store: streams of events with optimistic concurrency,
// a global log of all events in one total order, and consumer checkpoints.
//
// Implementations are safe for concurrent use. Every method honours the
// cancellation of its context.
type Store interface {
	// Append atomically appends events to a stream and returns the stream's
	// new version. expected is the version the caller last saw: NoStream
	// for a stream that must not exist, AnyVersion to skip the check. A
	// wrong expected version fails with an error that matches
	// [ErrConflict] and is a [*ConflictError]; nothing is written. Bad
	// input fails with [ErrInvalid]; nothing is written. Event IDs are
	// unique in a store: an event whose ID is already stored, in any
	// stream, fails the append with [ErrDuplicateEvent]; nothing is
	// written. Appending no events checks the expected version and writes
	// nothing.
	//
	// Every append ends in one of three outcomes, told apart with
	// errors.Is:
	//
	//   - nil: the whole batch is stored, even if ctx ended meanwhile.
	//   - an error matching [ErrOutcomeUnknown]: the request that commits
	//     the batch left, and its answer was cut off (ctx ended, or the
	//     connection broke), so the batch may be stored whole or not at
	//     all; read the stream, or retry with event IDs derived from an
	//     idempotency key, to find out. It never matches [ErrConflict].
	//   - any other error: nothing is stored.
	//
	// An append cut short by the end of ctx fails with an error that
	// also matches ctx's error, context.Canceled or
	// context.DeadlineExceeded, whether its outcome is unknown or nothing
	// is stored. The other writes of a store and of its adapter
	// (checkpoints, consumers' commits, snapshots, subject keys) end the
	// same three ways.
	Append(ctx context.Context, streamID string, expected int64, events []Event) (int64, error)

	// ReadStream yields the records of a stream in version order, starting
	// at version from (1 or less reads from the start). A stream that does
	// not exist yields nothing; a stream ID that no append could store
	// (empty, too long, not valid UTF-8 or holding a NUL byte) yields an
	// error matching [ErrInvalid]. A store that sequences the global log
	// after commit may yield Position 0 for an event it has not sequenced
	// yet; ReadLog always sets it.
	ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[Record, error]

	// ReadLog returns up to q.Limit records of the global log with
	// positions greater than q.After, in position order. A consumer that
	// passes the last position it saw as After never skips an event and
	// never sees one twice, whatever the writers do. A type in q.Types
	// that no event could have (empty, too long, not valid UTF-8 or
	// holding a NUL byte) fails with [ErrInvalid].
	ReadLog(ctx context.Context, q LogQuery) ([]Record, error)

	// Head returns the position of the last event in the global log, or 0
	// when the log is empty.
	Head(ctx context.Context) (int64, error)

	// Wait blocks until the global log holds an event after position
	// after, or ctx is done.
	Wait(ctx context.Context, after int64) error

	// Checkpoint returns the last position recorded for consumer, or 0.
	Checkpoint(ctx context.Context, consumer string) (int64, error)

	// SetCheckpoint records position for consumer. A position lower than
	// the recorded one fails with [ErrCheckpointBackwards]; a negative
	// one, which is no position, with [ErrInvalid]. A position past the
	// head of the log is recorded as it is: the consumer then skips the
	// events appended up to it, and `annals verify` reports it while the
	// log has not reached it.
	SetCheckpoint(ctx context.Context, consumer string, position int64) error

	// Close releases the store's resources. Every call on the store
	// after it, a read as much as a write, fails with an error matching
	// [ErrClosed], whichever interface the call belongs to, and so does
	// a Wait that it ends. Closing twice is harmless.
	Close() error
}

// Log is the part of a [Store] that a consumer reads: the global log, its
// head, and the wait for what comes after it. Every Store is a Log; so is
// a client of a log served over HTTP (package store/httplog), from which
// a process that holds no credentials of the database follows the log.
// Its methods keep the promises of the Store methods of the same names.
type Log interface {
	// ReadLog is [Store.ReadLog].
	ReadLog(ctx context.Context, q LogQuery) ([]Record, error)
	// Head is [Store.Head].
	Head(ctx context.Context) (int64, error)
	// Wait is [Store.Wait].
	Wait(ctx context.Context, after int64) error
}

// An EventFinder finds a record by its event ID, through the index that
// keeps event IDs unique ([ErrDuplicateEvent]): a runner looks up the
// events of a command retried with an idempotency key there, rather than
// reading the command's stream from its start. Every adapter of this
// module is one; a runner on a store that is not reads the stream.
type EventFinder interface {
	// FindEvent returns the record of the event whose ID is id, as
	// ReadStream returns it, and false when the store holds none.
	FindEvent(ctx context.Context, id uuid.UUID) (Record, bool, error)
}
