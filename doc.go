// Package annals runs event-sourced applications in the decider style: pure
// deciders, views and sagas (packages decider, view and saga) against an
// event store.
//
// An application holds one [Store], opened from a URL that is usually read
// from the ANNALS_STORE environment variable ([EnvVar]), with the adapter
// registered for its scheme:
//
//	import _ "github.com/annals-dev/annals/store/sqlite"
//
//	s, err := annals.Open(ctx, os.Getenv(annals.EnvVar))
//
// [New] makes the same handle from an adapter value, such as
// memory.New() in a test. The handle does everything its adapter can —
// events, checkpoints, view states, snapshots, data subjects' keys, leases,
// SQL read models ([SQL], and [ReadDB] for their queries) — without a type assertion; a feature the adapter
// lacks fails with an error that matches [store.ErrUnsupported], and
// [Store.Unsupported] lists them.
//
// # Commands
//
// A [Runner] handles the commands of one kind of aggregate, a
// [decider.Decider], one stream per instance, with optimistic concurrency:
//
//	load (state, version) → decide → append(expected = version)
//	    ↺ on store.ErrConflict: catch up from version, decide again (bounded)
//
// A stale writer's append fails and writes nothing; the runner decides
// afresh on the caught-up state, [DefaultRetries] times unless
// [WithRetries] says otherwise. Events are encoded by a [codec.Mapper]: a
// [codec.JSON], or a [codec.NewMapper] pipeline with upcasting,
// compression, encryption and personal data. [WithSnapshots] loads long
// streams from their latest snapshot, [WithCache] keeps recent states in
// memory, and [Runner.LoadAt] and [Runner.LoadAsOf] read the past.
//
// A composed decider is stored one stream per instance: [NewInstances]
// runs decider.Many with the stream named from each command's key, and
// [NewComposite] routes each command of a combination of such parts
// (decider.Combine, decider.Combine3…) to its part by the case of its sum.
//
// # What a write tells its caller
//
// Every call that writes ends in one of three outcomes, told apart with
// errors.Is: stored (nil, or [ErrStored] when something after the write
// failed), maybe stored ([store.ErrOutcomeUnknown]: retry with the same
// [WithIdempotencyKey]), or nothing stored (any other error, such as
// [store.ErrConflict], [ErrRejected], or [store.ErrUnavailable] when the
// store could not be reached). An idempotency key is bound to its
// stream and its command: a retry is answered with [Result.Duplicate],
// the events the first call appended and the current state, and a key
// reused elsewhere fails with
// [ErrIdempotencyKey].
//
// # Consumers of the log
//
// Every event also has a position in one global log. A [Projection]
// applies the log to a read model, and a [SagaRunner] dispatches the
// commands a saga or process returns; both commit each batch with their
// checkpoint through a [store.Committer], compared and set, so a crash
// neither loses nor repeats an event:
//
//	read batch after checkpoint → handle (in the transaction) → commit with checkpoint
//
// [NewViewProjection] keeps a [view.View]'s states in the store itself.
// [NewProjection] hands a handler each event as an [Envelope], inside the
// adapter's own transaction (*sql.Tx, pgx.Tx), for read models in the
// application's tables, whose migrations [WithSchema] runs once each;
// [NewBatchProjection] takes a batch at once, and [NewRecordProjection]
// the records undecoded. A consumer built with a mapper reads only the
// types it decodes. [NewSaga] and [NewProcess] hand each command to a
// [Dispatcher] with its [Cause], whose [Cause.Options] make the command
// take effect once however often its event is replayed. A consumer whose
// handler fails stops at that event with a [*ConsumerError].
//
// # Systems
//
// A [System] runs the consumers with the deciders, in the appending
// goroutine ([Sync]) or concurrently and across processes under leases
// ([Async]), with the same results. It attaches to its store, so every
// runner built on the store is part of it. In sync mode a consumer's
// failure after an append is reported to the command as [ErrStored],
// never as a failed write; [System.Status] and [System.WaitQuiet] report
// a stopped consumer.
//
// The design and its reasons are in docs/architecture.md,
// docs/read-side.md and docs/evolving-data.md; the README follows an
// application from its store to its operation.
package annals
