// Package annalsotel reports what an annals store does to OpenTelemetry:
// traces of commands, appends, reads and consumer batches, and metrics of
// command outcomes, latencies and consumers' lag. It is a module of its
// own, so that a program that does not import it links no OpenTelemetry.
//
// It wraps the handle without changing its API, as OpenTelemetry's
// contrib instrumentations do: [Instrument] sets an [annals.Observer] on
// the store, and [ObserveSystem] registers gauges read from the system's
// status. Both take the providers as options, the global ones by default:
//
//	s, err := annals.Open(ctx, os.Getenv(annals.EnvVar))
//	err = annalsotel.Instrument(s, annalsotel.WithTracerProvider(tp), annalsotel.WithMeterProvider(mp))
//	sys, err := annals.NewSystem(s, annals.Async)
//	reg, err := annalsotel.ObserveSystem(sys, annalsotel.WithMeterProvider(mp))
//
// # Spans
//
//   - "handle <Command>" (internal): a command that a runner
//     ([annals.Runner], [annals.DCBRunner]) handled, named by its type
//     without its package (a pointer's by the type it points to; the
//     command of a combined decider, a sum of package decider such as
//     decider.Combine's Either, by the case it holds: "handle Deposit";
//     a generic type without the packages of its type arguments), so
//     that the names, and the values of annals.command.type, are the
//     domain's few commands; with annals.stream, annals.command.type, annals.command.outcome ("ok",
//     "rejected", "conflict", "stored_with_error", "outcome_unknown",
//     "error"), annals.command.attempts and annals.command.conflicts,
//     annals.events (appended), annals.stream.version (the version
//     after its events, or the one it was decided on), and the
//     correlation and causation IDs of its metadata
//     (annals.correlation_id, annals.causation_id); a command repeated
//     with its idempotency key has annals.command.duplicate and the
//     outcome "ok". A rejection is the domain's answer: its span's status
//     stays unset. So does that of a command stored before something
//     after its write failed (outcome "stored_with_error", such as a
//     consumer of a Sync system, whose own span fails): its events
//     stand, so it is no failed write; the error that followed is
//     recorded on its span as an exception event, without error.type. A DCB runner's command is decided on a query, not on
//     a stream: its span has annals.query (the query, as
//     store.Query's String shows it, such as
//     "(SeatTaken|SlotClosed)[slot:a]") and annals.log.after (the
//     position of the last event of the query it read, its append's
//     condition) instead of annals.stream.version, and annals.stream
//     once it appended: the stream of its decision. A command that
//     failed, or whose outcome is unknown, has neither
//     annals.stream.version nor annals.log.after: where it read to is
//     not known (a conflict that outlasted the retries has them, from
//     its last attempt). annals.query holds at most 1 KiB of the query,
//     then its length and number of items.
//   - "append", "read_stream", "read_log", "read_query" (client): the
//     handle's database operations, with the semantic conventions'
//     db.system.name (sqlite, postgresql, or the adapter's package name),
//     db.operation.name, db.response.returned_rows and error.type; an
//     append has annals.stream, annals.stream.expected_version (the
//     version it expects the stream at) and annals.events. A
//     conditional append ([annals.Store.AppendIf], a DCB decision's) is
//     an "append" too, with its condition: annals.query and
//     annals.log.after. "read_query" is a read by query
//     ([annals.Store.ReadQuery], a DCB decision's load), with
//     annals.query and annals.log.after. A command's loads and appends
//     are its children. A read_stream or read_query span lasts as long
//     as its reader ranges over it: a load's includes folding the
//     events. The commands that a runner appends together
//     (the commands queued on a stream, see [annals.Runner]) each have
//     an append span of their own events, within their own command, with
//     annals.append.together, the number of commands that share the one
//     write; each of those spans lasts as long as the write. An append
//     of a command with an idempotency key that the store refuses
//     because the key's events are stored already is how the command
//     learns it was handled before (or that its key was another
//     command's, which the command's span tells): its span has
//     annals.append.duplicate and no error, and
//     db.client.operation.duration counts it without error.type.
//   - "process <consumer>" (consumer): a batch that a projection or saga
//     handled and committed, with annals.consumer, annals.events,
//     annals.checkpoint.from and .to, annals.consumer.handled. In a Sync
//     system it is a child of the command whose append it follows, and
//     the commands a saga sends are its children. A consumer that
//     stopped at an event is tried again at that event as the log moves
//     on (in a Sync system by each later command, in an Async one at
//     most once a second): each try that fails again is a span of its
//     own, with status Error, error.type "stopped" and the same
//     annals.log.position and annals.event.id, for it ran and took its
//     time (in a Sync system, within an answered command's). A stop is
//     therefore not one failed span but a run of them.
//
// An append writes its span's context into its events' metadata with
// the propagators ([WithPropagators]; the global ones by default, which
// write nothing until the program sets some, such as
// propagation.TraceContext{}), and a batch's span links to the appends
// whose events it handles, with each event's annals.event.id and
// annals.log.position: a trace crosses from the process that appended
// to the one that consumed.
//
// # Metrics
//
//   - annals.commands ({command}), counter: commands handled, by
//     annals.command.type and annals.command.outcome.
//   - annals.command.duration (s), histogram: the same, timed.
//   - db.client.operation.duration (s), histogram: appends (conditional
//     or not) and reads, by db.system.name, db.operation.name ("append",
//     "read_stream", "read_log", "read_query") and error.type; a write
//     that holds the events of several commands counts once.
//   - annals.consumer.events ({event}), counter: events consumers
//     handled and committed, by annals.consumer.
//   - annals.consumer.batch.duration (s), histogram: the consumers'
//     batches, by annals.consumer and error.type. Its count with
//     error.type "stopped" counts the tries of stopped consumers, not
//     the stops: it grows while a consumer stays stopped. Count and
//     alert on stops with annals.consumer.stopped.
//   - the gauges of [ObserveSystem]: annals.consumer.lag,
//     annals.consumer.lag.age, annals.consumer.position,
//     annals.consumer.stopped, annals.log.head.
//
// # Errors
//
// A span that failed has status Error and error.type, which the metrics
// that carry error.type carry too: the class of its error, one of a few
// stable values, never the error's Go type nor its message. It is the
// outcome the error says ("outcome_unknown", "conflict", and
// "stored_with_error" on a batch of a saga whose command was stored with
// an error), "stopped" for a consumer stopped at an event,
// "idempotency_key" for a key used for another command ([annals.ErrIdempotencyKey]),
// "timeout" and "canceled" for a context that ended, the store's
// errors by their sentinel ("duplicate_event", "closed", "invalid",
// "corrupt", "unsupported", "not_found", "checkpoint_backwards"), and
// "_OTHER", as the semantic conventions name a class of their own, for
// any other. A rejection and a duplicate are answers, not failures,
// and a write stored with an error after it is no failed write: they
// have neither.
//
// docs/operations.md of the module says what to alert on.
package annalsotel
