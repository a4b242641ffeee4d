// Package storecopy copies a whole event store to another, of any adapter,
// and verifies the copy: the engine of `annals copy`.
//
//	report, err := storecopy.Copy(ctx, from, to, storecopy.Options{Progress: show})
//
// What is copied, as stored: the events, with their IDs, streams,
// versions, times, types, schema versions, payloads, encodings and
// metadata, in the order of the global log; snapshots; data subjects'
// keys (wrapped, as stored); view states; and consumers' checkpoints.
// Nothing is decoded, so encrypted payloads are copied without their
// keys. The adapters must implement [store.Exporter] (the source) and
// [store.Importer] and [store.Exporter] (the target), as every adapter of
// this module does. A time finer than the target keeps (PostgreSQL keeps
// microseconds) is truncated to it.
//
// # Positions and checkpoints
//
// The target numbers the events 1, 2, 3… in the source's log order: the
// same positions as the source's when those have no gaps, as they never
// do in the adapters of this module ([Report.PositionGaps] counts the
// gaps of a source that has some: in these adapters' stores, events
// deleted by hand). A snapshot past the end of its stream in the source
// is refused with an error matching store.ErrCorrupt, since no event of
// the copy leads to it. A checkpoint is the position of the
// last event its consumer handled; the copy maps it to the position of
// that same event in the target (and 0 to 0), so that every consumer
// resumes at the event after the last it handled, whatever its number.
// A checkpoint named by annals.SchemaConsumer holds a read model's schema
// version, not a position, and is copied as it is.
//
// # Read models in the application's own tables
//
// A projection's read model in the application's own tables (one with
// a schema version, from annals.WithSchema, and no view states in the
// store) is not in the store, and the copy does not carry it: each such
// consumer must be named. [Options.Rebuild] leaves its checkpoint and
// schema version out, so that it rebuilds from the start in the target,
// its migrations creating its tables there; [Options.Keep] copies them
// as they are, for tables that are in the target already, copied by
// other means. A source with such a consumer named in neither is
// refused with store.ErrInvalid before the target is opened or written:
// copied as it is, its schema version would tell the application on the
// target that its tables are there, and it would fail on the first of
// them, and so would a rebuild, whose migrations would not run again.
// A view whose states the store keeps is copied whole, states, schema
// version and checkpoint, and needs no flag; naming it in Rebuild is
// refused, as are a consumer named in both and one in Keep without a
// schema version. [CheckSource] refuses the same before a target is
// opened.
//
// # Phases, resuming and verification
//
// The copy runs in phases: events, in batches, each one transaction of
// the target; snapshots; subject keys; view states; the checkpoints; and
// the verification of the rest. Each batch of events is read back from
// the target once written and compared with the source's, event by
// event, while the next batch is written; at the end of the events the
// copy checks that neither log holds more, and compares each stream's
// count and checksum. Then, after the checkpoints, it compares the
// checkpoints (mapped), snapshots, states and keys.
//
// A copy that is killed at any point leaves the target holding a prefix
// of the source's log and some of the rest, each item as the source
// holds it: each stream's versions contiguous from 1, but streams that
// go on later in the log cut short. Run again, it first compares that
// prefix with the source (the phase "verify log"), goes on from there,
// and ends with the same target as a copy that ran through. A target
// that holds anything else (an event that is not the source's at the
// same place, a checkpoint, snapshot, state or key the source does not
// have, the checkpoint of a consumer that [Options.Rebuild] leaves out)
// is refused with [ErrNotEmpty], and nothing is written. So is, with
// [ErrOtherOptions], a target whose interrupted copy had other
// Rebuild or Keep than this run (see the mark, below): resumed, it would
// hold part of one copy and part of another.
//
// A difference fails the copy with a [*MismatchError] naming it, before
// the checkpoints are written when it is in the log. Writers and
// consumers of the source should be stopped while it runs: events
// appended to the source after the copy began are reported as missing
// from the target, and a copy run again after they stopped picks them up.
// The checkpoints are read at the start and the view states late, so the
// copy reads the source's checkpoints again once the states are copied,
// before it writes the checkpoints, and once more after it compared the
// states: a consumer that committed in between (its checkpoint moved,
// appeared or went, or was committed again where it was, which the
// checkpoint's time tells; the memory store keeps no time) fails the
// copy with [ErrSourceChanged], naming it, since the states copied may be
// ahead of its checkpoint and a consumer in the target would handle the
// same events again. The target stays marked unfinished, and a run again
// with the consumers stopped goes on from it; when the consumer went
// back (a rebuild) after the checkpoints were written, the target holds
// a checkpoint ahead of the source's, which a copy does not move back,
// and the error says to start over in an empty target.
//
// # The mark of an unfinished copy
//
// The target of a copy that stopped looks like a store of its own: a
// log without a gap, and no sign of the keys, snapshots, states and
// checkpoints it lacks. So
// before a run writes anything to the target, it sets a checkpoint
// named [MarkName] there, in a transaction of its own: committed, like
// every write of an adapter, before the next write begins, so that a
// run killed at any point after leaves it. Its position counts the
// source's events, its time is when the run began writing. The run
// deletes it ([store.Importer.DeleteCheckpoints]) last, once the whole
// copy is written and verified; a run that fails, or whose verification
// finds a difference, leaves it. A run that finds the mark in its target
// takes it as its own: it resumes, and the mark is neither compared
// with the source nor a reason to refuse, but for the options it
// records. [FindUnfinished] finds it; `annals verify` reports it as a
// problem and `annals consumers` shows it. A store that holds it is
// refused as a source, with [ErrUnfinished]: it may lack part of its own
// source.
//
// With the mark, in the same import, a run records the options that
// change what it writes, [Options.Rebuild] and [Options.Keep] (as sets;
// Batch and Progress change nothing written), in checkpoints named
// MarkName + ":options:" and a piece of their canonical text,
// URL-encoded: a checkpoint holds nothing but a name, a position and a
// time, and a name is at most [store.MaxStreamIDLen] bytes. They are
// part of the mark ([IsMark]): deleted with it, never copied, never
// listed as consumers. A run whose target holds a mark with other
// options is refused with [ErrOtherOptions] before it writes anything;
// a mark with none recorded, which an older version of the copy set,
// is resumed whatever the options, as that version did.
//
// The mark is a checkpoint, not a table of the copy's own, because
// every adapter keeps checkpoints durably, in every version of its
// schema, and exports them, so the mark lives in the target store
// itself and needs no migration. A consumer reads only its own
// checkpoint, by name, and the name is reserved, so no application
// reads it; the tools that list checkpoints leave it out.
package storecopy
