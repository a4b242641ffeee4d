// Package check holds the checks that every adapter of package store calls,
// so that all adapters refuse the same input with the same errors: stream
// IDs, type names and metadata ([Append], [StreamID]), reads of streams
// and of the log ([ReadStream], [ReadLog]), expected versions
// ([Expected]), consumers and their checkpoints ([Consumer], [Commit],
// [Checkpoint]), view states ([State]), snapshots ([Snapshot]) and data
// subjects' keys ([Subject], [SubjectKey], [KeyID]).
//
// Each returns nil for input a store accepts, and otherwise an error that
// matches [store.ErrInvalid] ([store.ErrConflict] for a version or checkpoint
// that is not the one expected) and says what is wrong. An adapter calls
// them where the adapters of this module do: before it reads or writes,
// or inside its write transaction for what depends on the stored state.
// [StoredVersion] checks what a store read instead, and reports a version
// no append writes with [store.ErrCorrupt].
package check
