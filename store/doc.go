// Package store runs deciders against an event store.
//
// It defines the [Store] interface that every adapter implements
// (store/memory, store/sqlite, store/postgres), the [Record] of an event as
// stored, the [Codec] that turns typed events into bytes, and the [Runner]
// that handles commands with optimistic concurrency:
//
//	load (state, version) → decide → append(expected = version)
//	    ↺ on ErrConflict: catch up from version, decide again (bounded)
//
// A store is opened from a URL, usually read from the ANNALS_STORE
// environment variable, with the adapter registered for its scheme:
//
//	s, err := store.Open(ctx, os.Getenv(store.EnvVar))
//
// # Concurrency
//
// Every append names the version its writer expects. A stale writer gets
// an error that matches [ErrConflict] and is a [*ConflictError] naming the
// stream, the expected and the actual version; nothing is written. The
// Runner retries such a command from the caught-up state, deciding afresh,
// [DefaultRetries] times unless [WithRetries] says otherwise.
//
// # The global log
//
// Every event also has a position in one global log, read page by page
// with [Store.ReadLog]. A consumer that remembers the last position it saw
// never skips an event and never sees one twice.
//
// # Dynamic consistency boundaries
//
// An event may carry tags beside its stream ([Event.Tags]). A store that
// implements [DCB] reads the tagged events that match a [Query] (items
// OR'd, each of types OR'd and tags AND'd) and appends on an
// [AppendCondition]: no event matching a query after a position. A failed
// condition is a [*ConditionError], which matches [ErrConflict]. The
// design, the locking on PostgreSQL and the costs are in docs/dcb.md.
//
// # Evolving data
//
// A [Mapper] turns typed events into stored records and back; a
// [*JSONCodec] is one, and [NewMapper] wraps any [Codec] in a pipeline:
//
//	write: event → codec → personal fields → deflate → AES-256-GCM
//	read:  decrypt → inflate → personal fields → upcast → codec → event
//
// Each record's Encoding names the steps applied to it ("", "deflate",
// "aes256gcm:k2", "personal+deflate+aes256gcm:k2"…), so records written
// with and without them live side by side. [WithUpcaster] brings old
// schema versions to the current one (package upcast); [WithCompression]
// deflates payloads that shrink; [WithEncryption] seals them with a
// [Keyring] of key IDs, one writing and several reading, usually from
// [KeyringFromEnv]; [WithSubjectKeys] encrypts the personal fields of
// [PersonalData] with a key per data subject held in a [KeyStore], so that
// [ForgetSubject] makes them unreadable while the stream still loads. A
// payload that cannot be decrypted fails with [ErrDecrypt] naming the key;
// an unknown Encoding with [ErrUnknownEncoding].
//
// [WithSnapshots] makes a Runner load the latest snapshot (package
// snapshot) and the events after it, and save a snapshot after an append
// when its policy says so, without ever failing a command for it.
//
// The design and its reasons are in docs/evolving-data.md.
//
// # Consumers of the log
//
// A [Projection] applies the log to a read model, and a [SagaRunner]
// dispatches the commands a saga or process (package saga) returns; both
// commit each batch with their checkpoint through a [Committer], compared
// and set, so a crash neither loses nor repeats an event:
//
//	read batch after checkpoint → handle (in the transaction) → commit with checkpoint
//
// [NewViewProjection] keeps a [view.View]'s states in the store itself
// ([StateStore]); [NewProjection] and [NewBatchProjection] hand a handler
// the adapter's own transaction for the application's tables. A saga's
// commands carry an idempotency key derived from the causing event
// ([Cause.Options]), so a replayed event never takes effect twice. A
// [System] runs views and sagas with the deciders, in the appending
// goroutine ([Sync]) or concurrently and across processes under leases
// ([Async]), with the same results.
//
// The design and its reasons are in docs/read-side.md.
package store
