package annalsotel

import (
	"context"
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// The attributes of this package's spans and metrics, besides the
// semantic conventions' db.* and error.type.
const (
	StreamKey          = attribute.Key("annals.stream")
	ExpectedVersionKey = attribute.Key("annals.stream.expected_version")
	VersionKey         = attribute.Key("annals.stream.version")
	FromVersionKey     = attribute.Key("annals.stream.from_version")
	CommandTypeKey     = attribute.Key("annals.command.type")
	OutcomeKey         = attribute.Key("annals.command.outcome")
	AttemptsKey        = attribute.Key("annals.command.attempts")
	ConflictsKey       = attribute.Key("annals.command.conflicts")
	DuplicateKey       = attribute.Key("annals.command.duplicate")
	IdempotencyKeyKey  = attribute.Key("annals.command.idempotency_key")
	EventsKey          = attribute.Key("annals.events")
	CorrelationIDKey   = attribute.Key("annals.correlation_id")
	CausationIDKey     = attribute.Key("annals.causation_id")
	EventIDKey         = attribute.Key("annals.event.id")
	PositionKey        = attribute.Key("annals.log.position")
	AfterKey           = attribute.Key("annals.log.after")
	QueryKey           = attribute.Key("annals.query")
	ConsumerKey        = attribute.Key("annals.consumer")
	CheckpointFromKey  = attribute.Key("annals.checkpoint.from")
	CheckpointToKey    = attribute.Key("annals.checkpoint.to")
	HandledKey         = attribute.Key("annals.consumer.handled")
	TogetherKey        = attribute.Key("annals.append.together")
	AppendDuplicateKey = attribute.Key("annals.append.duplicate")
)

// The names of the database operations of the handle, as
// db.operation.name and as the names of their spans.
const (
	OpAppend     = "append"
	OpReadStream = "read_stream"
	OpReadLog    = "read_log"
	OpReadQuery  = "read_query"
)

// maxLinks bounds the links of a batch's span to the appends that wrote
// its events.
const maxLinks = 128

// durationBuckets are the semantic conventions' boundaries for the
// duration of database operations, in seconds.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// Instrument makes s report traces and metrics to OpenTelemetry: a span
// for each command a runner or DCB runner on s handles ("handle " and
// the command's type), each append and read of events ("append",
// "read_stream", "read_log", "read_query", with the semantic
// conventions' db.* attributes) and each batch a consumer handles
// ("process " and the consumer's name, linked to the appends of its
// events); counters of commands by outcome and of
// the events consumers handle, and histograms of the durations of
// commands, database operations and batches. See the package
// documentation for the names.
//
// It replaces the observer s had (see [annals.Store.Observe]). It fails
// only when the meter provider refuses an instrument.
func Instrument(s *annals.Store, opts ...Option) error {
	o, err := newObserver(dbSystem(s), newConfig(opts))
	if err != nil {
		return err
	}
	s.Observe(o)
	return nil
}

// dbSystem is the db.system.name of the store's adapter: the semantic
// conventions' name for the module's SQL adapters, the package's name
// for another.
func dbSystem(s *annals.Store) attribute.KeyValue {
	t := reflect.TypeOf(s.Adapter())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch name := path.Base(t.PkgPath()); name {
	case "sqlite":
		return semconv.DBSystemNameSQLite
	case "postgres":
		return semconv.DBSystemNamePostgreSQL
	default:
		return semconv.DBSystemNameKey.String(name)
	}
}

// observer is the [annals.Observer] that [Instrument] sets.
type observer struct {
	tracer      trace.Tracer
	propagators propagation.TextMapPropagator
	dbSystem    attribute.KeyValue

	commands       metric.Int64Counter
	commandTime    metric.Float64Histogram
	dbTime         metric.Float64Histogram
	consumerEvents metric.Int64Counter
	batchTime      metric.Float64Histogram
}

var _ annals.Observer = (*observer)(nil)

func newObserver(system attribute.KeyValue, c config) (*observer, error) {
	m := c.meterProvider.Meter(ScopeName)
	o := &observer{
		tracer:      c.tracerProvider.Tracer(ScopeName),
		propagators: c.propagators,
		dbSystem:    system,
	}
	var err error
	if o.commands, err = m.Int64Counter("annals.commands", metric.WithUnit("{command}"),
		metric.WithDescription("Commands handled, by type and outcome.")); err != nil {
		return nil, err
	}
	if o.commandTime, err = m.Float64Histogram("annals.command.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of handling a command, from the first load to the answer."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	if o.dbTime, err = m.Float64Histogram("db.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of appends and reads of events."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	if o.consumerEvents, err = m.Int64Counter("annals.consumer.events", metric.WithUnit("{event}"),
		metric.WithDescription("Events of the log that consumers handled and committed.")); err != nil {
		return nil, err
	}
	if o.batchTime, err = m.Float64Histogram("annals.consumer.batch.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of handling and committing a consumer's batch."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	return o, nil
}

// started is an operation under way: its span and when it began.
type started struct {
	span trace.Span
	at   time.Time
}

type startedKey struct{}

func (o *observer) start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) context.Context {
	return o.startLinked(ctx, name, kind, nil, attrs...)
}

func (o *observer) startLinked(ctx context.Context, name string, kind trace.SpanKind, links []trace.Link, attrs ...attribute.KeyValue) context.Context {
	ctx, span := o.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...), trace.WithLinks(links...))
	return context.WithValue(ctx, startedKey{}, &started{span: span, at: time.Now()})
}

// end ends the span of the operation ctx is the context of, and returns
// its duration in seconds.
func end(ctx context.Context, err error, failed bool, attrs ...attribute.KeyValue) float64 {
	st, ok := ctx.Value(startedKey{}).(*started)
	if !ok {
		return 0
	}
	st.span.SetAttributes(attrs...)
	if failed && err != nil {
		st.span.RecordError(err)
		st.span.SetStatus(codes.Error, err.Error())
	}
	st.span.End()
	return time.Since(st.at).Seconds()
}

// commandType names a command's type, without its package, as the name
// of its span and its annals.command.type: a pointer's as the value's it
// points to, and a sum of package decider (the command of a combined
// decider, such as decider.Combine's Either) as the case it holds, so
// that the names are the domain's commands, few and readable. A type
// that is neither is named by its name, without the packages of its
// type arguments: Pair[Deposit,Flag].
func commandType(cmd any) string {
	// A sum's case may be a sum of its own; a bound for a Sum that
	// holds itself.
	for range maxSumDepth {
		s, ok := cmd.(decider.Sum)
		if !ok || isNilPointer(cmd) {
			break
		}
		_, cmd = s.Case()
	}
	t := reflect.TypeOf(cmd)
	if t == nil {
		return "nil"
	}
	for t.Name() == "" && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := t.Name()
	if name == "" {
		name = t.String()
	}
	return qualifier.ReplaceAllString(name, "")
}

// maxSumDepth bounds how deep commandType looks into sums.
const maxSumDepth = 16

// qualifier matches the package before a type's name in a type's
// string, such as "github.com/annals-dev/annals/decider." or "bank.":
// whatever runs to a dot after a bracket, comma, space, parenthesis or
// star.
var qualifier = regexp.MustCompile(`[^\[\](),*\s{};]+\.`)

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func metadataAttrs(attrs []attribute.KeyValue, correlation, causation string) []attribute.KeyValue {
	if correlation != "" {
		attrs = append(attrs, CorrelationIDKey.String(correlation))
	}
	if causation != "" {
		attrs = append(attrs, CausationIDKey.String(causation))
	}
	return attrs
}

func (o *observer) StartCommand(ctx context.Context, c annals.CommandStart) context.Context {
	typ := commandType(c.Command)
	attrs := []attribute.KeyValue{CommandTypeKey.String(typ)}
	if c.Query != nil {
		// A DCB decision: its stream is known once it appended.
		attrs = append(attrs, queryAttr(*c.Query))
	} else {
		attrs = append(attrs, StreamKey.String(c.StreamID))
	}
	if c.IdempotencyKey != "" {
		attrs = append(attrs, IdempotencyKeyKey.String(c.IdempotencyKey))
	}
	attrs = metadataAttrs(attrs, c.Metadata.CorrelationID, c.Metadata.CausationID)
	return o.start(ctx, "handle "+typ, trace.SpanKindInternal, attrs...)
}

func (o *observer) EndCommand(ctx context.Context, c annals.CommandEnd) {
	outcome := OutcomeKey.String(c.Outcome.String())
	attrs := []attribute.KeyValue{outcome, EventsKey.Int(c.Events), AttemptsKey.Int(c.Attempts), ConflictsKey.Int(c.Conflicts)}
	switch {
	case c.Outcome == annals.OutcomeFailed || c.Outcome == annals.OutcomeUnknown:
		// Where the command read to is not known: a 0 would say it
		// read nothing.
	case c.Query == nil:
		attrs = append(attrs, VersionKey.Int64(c.Version))
	default:
		// A DCB decision: where it read to, and the stream it appended to.
		attrs = append(attrs, AfterKey.Int64(c.Position))
		if c.StreamID != "" {
			attrs = append(attrs, StreamKey.String(c.StreamID))
		}
	}
	if c.Duplicate {
		attrs = append(attrs, DuplicateKey.Bool(true))
	}
	// A rejection is the domain's answer, not a failure of the system;
	// a command stored before something after its write failed did what
	// it was asked: its events stand. What failed after it (a consumer,
	// whose own span fails) is recorded on it as an exception event.
	failed := c.Outcome != annals.OutcomeOK && c.Outcome != annals.OutcomeRejected && c.Outcome != annals.OutcomeStoredWithError
	switch {
	case c.Outcome == annals.OutcomeFailed:
		attrs = append(attrs, errorType(c.Err))
	case failed:
		attrs = append(attrs, semconv.ErrorTypeKey.String(c.Outcome.String()))
	case c.Outcome == annals.OutcomeStoredWithError:
		if st, ok := ctx.Value(startedKey{}).(*started); ok {
			st.span.RecordError(c.Err)
		}
	}
	d := end(ctx, c.Err, failed, attrs...)
	set := metric.WithAttributes(CommandTypeKey.String(commandType(c.Command)), outcome)
	o.commands.Add(ctx, 1, set)
	o.commandTime.Record(ctx, d, set)
}

func (o *observer) StartAppend(ctx context.Context, a *annals.AppendStart) context.Context {
	attrs := []attribute.KeyValue{o.dbSystem, semconv.DBOperationName(OpAppend), StreamKey.String(a.StreamID),
		ExpectedVersionKey.Int64(a.Expected), EventsKey.Int(len(a.Events))}
	if a.Together > 1 {
		attrs = append(attrs, TogetherKey.Int(a.Together))
	}
	if c := a.Condition; c != nil {
		attrs = append(attrs, queryAttr(c.FailIfEventsMatch), AfterKey.Int64(c.After))
	}
	if len(a.Events) > 0 {
		m := a.Events[0].Metadata
		attrs = metadataAttrs(attrs, m.CorrelationID, m.CausationID)
	}
	ctx = o.start(ctx, OpAppend, trace.SpanKindClient, attrs...)
	carrier := propagation.MapCarrier{}
	o.propagators.Inject(ctx, carrier)
	for k, v := range carrier {
		a.SetExtra(k, v)
	}
	return ctx
}

func (o *observer) EndAppend(ctx context.Context, a annals.AppendEnd) {
	var attrs []attribute.KeyValue
	err := a.Err
	switch {
	case a.Duplicate:
		// The store's answer to a command with an idempotency key that
		// was handled before: how the command learns so, not a failure.
		attrs, err = append(attrs, AppendDuplicateKey.Bool(true)), nil
	case err == nil:
		attrs = append(attrs, VersionKey.Int64(a.Version))
	}
	// Commands appended together share one write: it is timed once.
	o.endDB(ctx, OpAppend, err, a.Part == 0, attrs...)
}

// endDB ends a database operation's span and, if timed, records its
// duration.
func (o *observer) endDB(ctx context.Context, op string, err error, timed bool, attrs ...attribute.KeyValue) {
	set := []attribute.KeyValue{o.dbSystem, semconv.DBOperationName(op)}
	if err != nil {
		et := errorType(err)
		attrs = append(attrs, et)
		set = append(set, et)
	}
	d := end(ctx, err, err != nil, attrs...)
	if timed {
		o.dbTime.Record(ctx, d, metric.WithAttributes(set...))
	}
}

// errorType is the error.type of err: its class (see errorClass).
func errorType(err error) attribute.KeyValue {
	return semconv.ErrorTypeKey.String(errorClass(err))
}

// otherError is the class of an error of none of errorClass's classes,
// as the semantic conventions name it.
const otherError = "_OTHER"

// errorClass is the class of err, a few stable values that a dashboard
// can group by, never the error's Go type nor its message: the outcome
// it says ("stored_with_error", "outcome_unknown", "conflict",
// "rejected"), "stopped" for a consumer stopped at an event,
// "idempotency_key", "timeout" and "canceled" for a context's end, the
// store's sentinels ("duplicate_event", "closed", "invalid", "corrupt",
// "unsupported", "not_found", "checkpoint_backwards"), and "_OTHER".
func errorClass(err error) string {
	if errors.Is(err, annals.ErrStored) {
		// Before its consumers' stops, which it wraps.
		return annals.OutcomeStoredWithError.String()
	}
	if errors.As(err, new(*annals.ConsumerError)) {
		// Before the handler's error, which it wraps.
		return "stopped"
	}
	if outcome := annals.OutcomeOf(err); outcome != annals.OutcomeFailed {
		return outcome.String()
	}
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	return otherError
}

// errorClasses are the classes of the errors that errorClass names by
// the sentinel they match, the first that matches: ErrClosed before the
// ErrInvalid it wraps.
var errorClasses = []struct {
	err   error
	class string
}{
	{annals.ErrIdempotencyKey, "idempotency_key"},
	{context.DeadlineExceeded, "timeout"},
	{context.Canceled, "canceled"},
	{store.ErrDuplicateEvent, "duplicate_event"},
	{store.ErrClosed, "closed"},
	{store.ErrInvalid, "invalid"},
	{store.ErrCorrupt, "corrupt"},
	{store.ErrUnsupported, "unsupported"},
	{store.ErrNotFound, "not_found"},
	{store.ErrCheckpointBackwards, "checkpoint_backwards"},
}

func (o *observer) StartRead(ctx context.Context, r annals.ReadStart) context.Context {
	if r.Query != nil {
		return o.start(ctx, OpReadQuery, trace.SpanKindClient, o.dbSystem, semconv.DBOperationName(OpReadQuery),
			queryAttr(*r.Query), AfterKey.Int64(r.After))
	}
	if r.StreamID == "" {
		return o.start(ctx, OpReadLog, trace.SpanKindClient, o.dbSystem, semconv.DBOperationName(OpReadLog), AfterKey.Int64(r.Log.After))
	}
	return o.start(ctx, OpReadStream, trace.SpanKindClient, o.dbSystem, semconv.DBOperationName(OpReadStream),
		StreamKey.String(r.StreamID), FromVersionKey.Int64(r.From))
}

func (o *observer) EndRead(ctx context.Context, r annals.ReadEnd) {
	op := OpReadStream
	switch {
	case r.Query != nil:
		op = OpReadQuery
	case r.StreamID == "":
		op = OpReadLog
	}
	o.endDB(ctx, op, r.Err, true, semconv.DBResponseReturnedRows(r.Records))
}

func (o *observer) StartBatch(ctx context.Context, b annals.BatchStart) context.Context {
	attrs := []attribute.KeyValue{ConsumerKey.String(b.Consumer), CheckpointFromKey.Int64(b.From), EventsKey.Int(len(b.Records))}
	// The events' correlation, when they share one.
	if corr := firstCorrelation(b.Records); corr != "" {
		shared := true
		for _, r := range b.Records {
			shared = shared && r.Metadata.CorrelationID == corr
		}
		if shared {
			attrs = append(attrs, CorrelationIDKey.String(corr))
		}
	}
	var links []trace.Link
	seen := map[trace.SpanID]bool{}
	for _, r := range b.Records {
		if len(r.Metadata.Extra) == 0 || len(links) == maxLinks {
			continue
		}
		sc := trace.SpanContextFromContext(o.propagators.Extract(context.Background(), propagation.MapCarrier(r.Metadata.Extra)))
		if !sc.IsValid() || seen[sc.SpanID()] {
			continue
		}
		seen[sc.SpanID()] = true
		links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
			EventIDKey.String(r.ID.String()), PositionKey.Int64(r.Position), StreamKey.String(r.StreamID)}})
	}
	return o.startLinked(ctx, "process "+b.Consumer, trace.SpanKindConsumer, links, attrs...)
}

func (o *observer) EndBatch(ctx context.Context, b annals.BatchEnd) {
	attrs := []attribute.KeyValue{HandledKey.Int(b.Handled), CheckpointToKey.Int64(b.To)}
	var stopped *annals.ConsumerError
	set := []attribute.KeyValue{ConsumerKey.String(b.Consumer)}
	if b.Err != nil {
		et := errorType(b.Err)
		if errors.As(b.Err, &stopped) {
			attrs = append(attrs, PositionKey.Int64(stopped.Position), EventIDKey.String(stopped.EventID))
		}
		attrs = append(attrs, et)
		set = append(set, et)
	}
	d := end(ctx, b.Err, b.Err != nil, attrs...)
	if b.Handled > 0 {
		o.consumerEvents.Add(ctx, int64(b.Handled), metric.WithAttributes(ConsumerKey.String(b.Consumer)))
	}
	o.batchTime.Record(ctx, d, metric.WithAttributes(set...))
}

func firstCorrelation(recs []store.Record) string {
	if len(recs) == 0 {
		return ""
	}
	return recs[0].Metadata.CorrelationID
}

// maxQueryAttr is the most bytes of a query that annals.query holds.
const maxQueryAttr = 1024

// queryAttr is annals.query for q: the query as store.Query's String
// shows it, cut at maxQueryAttr bytes (on a rune's boundary) with its
// length and number of items after the cut, so that a query of many
// items and long tags does not make every span of its command that big.
func queryAttr(q store.Query) attribute.KeyValue {
	text := q.String()
	if len(text) <= maxQueryAttr {
		return QueryKey.String(text)
	}
	cut := maxQueryAttr
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return QueryKey.String(fmt.Sprintf("%s… (%d bytes, %d items)", text[:cut], len(text), len(q.Items)))
}
