package store

import (
	"context"
	"iter"
	"time"

	"github.com/annals-dev/annals/snapshot"
)

// Checkpoint is a consumer's place in the global log, as a store keeps it.
type Checkpoint struct {
	// Consumer is the consumer's name.
	Consumer string
	// Position is the position of the last event the consumer handled,
	// or, for a read model's schema (a name made by
	// annals.SchemaConsumer), the version of its schema.
	Position int64
	// Time is when the checkpoint last moved, in UTC; zero when the store
	// does not record it. An imported one is zero or between [MinTime]
	// and [MaxTime].
	Time time.Time
}

// State is a view state as a [StateStore] keeps it.
type State struct {
	// View and Key name the state, as in [StateTx.SaveState].
	View, Key string
	// Data is the state as stored.
	Data []byte
}

// Inventory counts what a store holds.
type Inventory struct {
	// Events counts the events of the global log.
	Events int64
	// Checkpoints counts the consumers' checkpoints.
	Checkpoints int64
	// Snapshots counts the streams that have a snapshot.
	Snapshots int64
	// States counts the view states.
	States int64
	// SubjectKeys counts the data subjects' keys.
	SubjectKeys int64
}

// Empty reports whether the store holds nothing at all.
func (i Inventory) Empty() bool { return i == Inventory{} }

// An Exporter reads out everything a store keeps, for the tools that copy
// a store to another adapter and inspect it (cmd/annals). The events are
// read with [Store.ReadLog]; an Exporter reads the rest, which the
// Store's methods reach only by name.
//
// Every adapter of this module implements it. Each iterator yields in
// the byte order of its keys (consumer; stream; view, then key; subject),
// whatever the database's collation, so that two stores can be compared
// by merging; each reads in pages or one streamed query, and what is
// written meanwhile may or may not be seen.
type Exporter interface {
	// Inventory counts what the store holds.
	Inventory(ctx context.Context) (Inventory, error)
	// ExportCheckpoints yields every consumer's checkpoint.
	ExportCheckpoints(ctx context.Context) iter.Seq2[Checkpoint, error]
	// ExportSnapshots yields the stored snapshot of every stream that has
	// one.
	ExportSnapshots(ctx context.Context) iter.Seq2[snapshot.Snapshot, error]
	// ExportStates yields every view state.
	ExportStates(ctx context.Context) iter.Seq2[State, error]
	// ExportSubjectKeys yields every data subject's key, wrapped as stored.
	ExportSubjectKeys(ctx context.Context) iter.Seq2[SubjectKey, error]
}

// An Importer writes records into a store exactly as another store
// holds them, for copying a store to another adapter: event IDs, streams,
// versions, times, types, schema versions, payloads, encodings and
// metadata are kept, and nothing is decoded, so encrypted payloads are
// copied without their keys. Positions are given by the caller.
//
// Every adapter of this module implements it. An Importer is for a
// store that nothing else writes meanwhile; it is not how applications
// append.
type Importer interface {
	// ImportEvents stores records, which continue the global log: the
	// first has the position after the store's head, the next ones the
	// positions after it, in order. It writes them all or none. Records
	// that do not continue the log fail with an error matching
	// [ErrConflict]; an ID or a stream version already stored fails as
	// [Store.Append] would. It does not check that each stream's versions
	// are contiguous: the caller does (the memory store, which finds a
	// version by its place in the stream, refuses a gap with
	// [ErrInvalid]). A record's tags are checked as Store.Append checks
	// them, and its time must lie between [MinTime] and [MaxTime]; a time
	// finer than TimePrecision is truncated to it.
	ImportEvents(ctx context.Context, records []Record) error
	// ImportCheckpoints sets each consumer's checkpoint to the position
	// and time given, even a lower position than the stored one.
	ImportCheckpoints(ctx context.Context, cps []Checkpoint) error
	// DeleteCheckpoints removes the checkpoints of the consumers named,
	// in one transaction, as if they had never been set: a consumer
	// without one is no error. A copy removes with it the checkpoint
	// that marks its target as unfinished, once the copy is whole.
	DeleteCheckpoints(ctx context.Context, consumers []string) error
	// ImportSnapshots stores each snapshot as its stream's snapshot,
	// replacing the stored one whatever its version.
	ImportSnapshots(ctx context.Context, snaps []snapshot.Snapshot) error
	// ImportStates stores each view state, replacing the stored one.
	ImportStates(ctx context.Context, states []State) error
	// ImportSubjectKeys stores each data subject's key, replacing the
	// stored one.
	ImportSubjectKeys(ctx context.Context, keys []SubjectKey) error
	// TimePrecision is the finest time the store keeps: time.Nanosecond
	// for SQLite and memory, time.Microsecond for PostgreSQL.
	TimePrecision() time.Duration
}

// An IndexVerifier checks what an adapter derives from its records and
// keeps beside them, such as SQLite's index of tags, against the records:
// a hand's edit of it makes reads by query answer wrongly without an
// error. `annals verify` calls it. An adapter whose indexes the database
// keeps itself (PostgreSQL's GIN index on the tags column) has nothing
// to check.
type IndexVerifier interface {
	// VerifyIndexes yields a description of each place where an index
	// and the records disagree, naming the position; an error ends the
	// walk.
	VerifyIndexes(ctx context.Context) iter.Seq2[string, error]
}

// A LeaseInspector tells who holds a lease (see [Locker]), for operators.
type LeaseInspector interface {
	// LeaseHolder returns the holder of the lease on name, and false when
	// nobody holds it.
	LeaseHolder(ctx context.Context, name string) (LeaseHolder, bool, error)
}

// LeaseHolder describes the holder of a lease, as far as the store knows
// it.
type LeaseHolder struct {
	// Holder names the holder: a database session (PostgreSQL), an
	// opaque token (SQLite) or this process (memory).
	Holder string
	// Since is when the holder's session began; zero when the store
	// does not know.
	Since time.Time
	// Expires is when the lease ends unless renewed; zero for a lease that
	// lasts as long as its holder's session.
	Expires time.Time
}
