package annalsotel_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	annalsotel "github.com/annals-dev/annals/otel"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/sqlite"
	"github.com/annals-dev/annals/view"
)

// A bank of accounts: deposits, rejected unless positive; an audit saga
// flags every account that receives 100 or more; a balances view.
type (
	command   interface{ isCommand() }
	Deposit   struct{ Amount int }
	Flag      struct{}
	event     interface{ isEvent() }
	Deposited struct{ Amount int }
	Flagged   struct{}
)

func (Deposit) isCommand() {}
func (Flag) isCommand()    {}
func (Deposited) isEvent() {}
func (Flagged) isEvent()   {}
func events() codec.Mapper[event] {
	return codec.NewJSON[event]().Register("Deposited", Deposited{}).Register("Flagged", Flagged{})
}

var errNotPositive = errors.New("amount must be positive")

var account = decider.Decider[command, event, int]{
	Decide: func(c command, balance int) ([]event, error) {
		switch c := c.(type) {
		case Deposit:
			if c.Amount <= 0 {
				return nil, errNotPositive
			}
			return []event{Deposited(c)}, nil
		case Flag:
			return []event{Flagged{}}, nil
		}
		return nil, fmt.Errorf("unknown command %T", c)
	},
	Evolve: func(balance int, e event) int {
		if d, ok := e.(Deposited); ok {
			return balance + d.Amount
		}
		return balance
	},
}

var audit = saga.Saga[event, command]{React: func(e event) []command {
	if d, ok := e.(Deposited); ok && d.Amount >= 100 {
		return []command{Flag{}}
	}
	return nil
}}

var balances = view.View[int, event]{Evolve: account.Evolve}

// bank is the bank wired on a store, with the telemetry's recorders.
type bank struct {
	store    *annals.Store
	sys      *annals.System
	accounts *annals.Runner[command, event, int]
	spans    *tracetest.SpanRecorder
	metrics  *sdkmetric.ManualReader
}

func newBank(t *testing.T, s *annals.Store, mode annals.Mode, opts ...annalsotel.Option) *bank {
	t.Helper()
	b := &bank{store: s, spans: tracetest.NewSpanRecorder(), metrics: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(b.metrics))
	opts = append([]annalsotel.Option{annalsotel.WithTracerProvider(tp), annalsotel.WithMeterProvider(mp)}, opts...)
	if err := annalsotel.Instrument(s, opts...); err != nil {
		t.Fatal(err)
	}
	sys, err := annals.NewSystem(s, mode)
	if err != nil {
		t.Fatal(err)
	}
	b.sys = sys
	b.accounts = annals.NewRunner(s, account, events(), annals.WithBackoff(func(int) time.Duration { return 0 }))
	byStream := func(r store.Record, _ event) (string, bool) { return r.StreamID, true }
	auditor := annals.NewSaga(s, "audit", audit, events(), func(ctx context.Context, c command, cause annals.Cause) error {
		_, err := b.accounts.Handle(ctx, "audit-"+cause.Event.StreamID, c, cause.Options()...)
		return err
	})
	if err := sys.Add(annals.NewViewProjection(s, "balances", balances, events(), byStream), auditor); err != nil {
		t.Fatal(err)
	}
	if _, err := annalsotel.ObserveSystem(sys, opts...); err != nil {
		t.Fatal(err)
	}
	return b
}

// ended returns the ended spans named name.
func (b *bank) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range b.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// has reports the attributes of want that s lacks or has otherwise.
func has(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	got := attrs(s)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("span %q: %s = %q, want %q (attributes %v)", s.Name(), k, got[k], v, got)
		}
	}
}

// collect returns the metrics' data points, each as name{attributes} =
// value: the sum of a counter, the value of a gauge, the count of a
// histogram.
func (b *bank) collect(t *testing.T) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := b.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return points(t, rm)
}

// points returns the data points of rm as [bank.collect] does.
func points(t *testing.T, rm metricdata.ResourceMetrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	key := func(name string, set attribute.Set) string {
		var parts []string
		for _, kv := range set.ToSlice() {
			parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
		}
		return name + "{" + strings.Join(parts, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != annalsotel.ScopeName {
			t.Errorf("metrics under scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Count)
				}
			default:
				t.Errorf("metric %s has data of type %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// A scripted run on a Sync system: each command's span says its outcome
// and nests its loads and appends, the batches that followed, and the
// command the saga sent; the counters count each outcome.
func TestScriptedRunTracesAndCounts(t *testing.T) {
	ctx := context.Background()
	adapter := memory.New()
	b := newBank(t, annals.New(adapter), annals.Sync)

	if _, err := b.accounts.Handle(ctx, "acct-1", Deposit{Amount: 50}, annals.WithMetadata(store.Metadata{CorrelationID: "req-1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := b.accounts.Handle(ctx, "acct-1", Deposit{Amount: 0}); !errors.Is(err, annals.ErrRejected) {
		t.Fatalf("deposit of 0 = %v, want rejected", err)
	}
	if _, err := b.accounts.Handle(ctx, "acct-1", Deposit{Amount: 150}, annals.WithMetadata(store.Metadata{CorrelationID: "req-2"})); err != nil {
		t.Fatal(err)
	}
	// A writer that always appends first: the command gives up.
	racing := account
	racing.Decide = func(c command, balance int) ([]event, error) {
		if _, err := adapter.Append(ctx, "acct-2", store.AnyVersion, []store.Event{{Type: "Flagged", Data: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		return account.Decide(c, balance)
	}
	loser := annals.NewRunner(b.store, racing, events(), annals.WithRetries(1), annals.WithBackoff(func(int) time.Duration { return 0 }))
	if _, err := loser.Handle(ctx, "acct-2", Deposit{Amount: 5}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("racing deposit = %v, want a conflict", err)
	}

	deposits := b.ended("handle Deposit")
	if len(deposits) != 4 {
		t.Fatalf("%d spans named %q, want 4", len(deposits), "handle Deposit")
	}
	first, rejected, big, conflicted := deposits[0], deposits[1], deposits[2], deposits[3]
	has(t, first, map[string]string{
		"annals.stream": "acct-1", "annals.command.type": "Deposit", "annals.command.outcome": "ok",
		"annals.events": "1", "annals.stream.version": "1", "annals.command.attempts": "1",
		"annals.command.conflicts": "0", "annals.correlation_id": "req-1",
	})
	has(t, rejected, map[string]string{"annals.command.outcome": "rejected", "annals.events": "0", "annals.stream.version": "1"})
	if rejected.Status().Code != codes.Unset {
		t.Errorf("a rejection's span has status %v, want unset: the domain answered", rejected.Status())
	}
	// The racing writer appended before each of the two attempts: the
	// last was decided on version 1.
	has(t, conflicted, map[string]string{
		"annals.command.outcome": "conflict", "annals.command.attempts": "2", "annals.command.conflicts": "2", "error.type": "conflict",
		"annals.stream.version": "1",
	})
	if conflicted.Status().Code != codes.Error {
		t.Errorf("a conflict's span has status %v, want error", conflicted.Status())
	}

	// The first command's load and append are its children.
	children := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range b.spans.Ended() {
		if s.Parent().SpanID() == first.SpanContext().SpanID() {
			children[s.Name()] = s
		}
	}
	if got := slices.Sorted(maps.Keys(children)); !slices.Equal(got, []string{"append", "process audit", "process balances", "read_log", "read_stream"}) {
		t.Fatalf("the first command's children are %v", got)
	}
	appendSpan := children["append"]
	if appendSpan.SpanKind() != trace.SpanKindClient {
		t.Errorf("append span kind %v, want client", appendSpan.SpanKind())
	}
	has(t, appendSpan, map[string]string{
		"db.system.name": "memory", "db.operation.name": "append", "annals.stream": "acct-1",
		"annals.stream.expected_version": "0", "annals.stream.version": "1", "annals.events": "1", "annals.correlation_id": "req-1",
	})
	has(t, children["read_stream"], map[string]string{"db.operation.name": "read_stream", "db.response.returned_rows": "0", "annals.stream.from_version": "1"})
	has(t, children["process balances"], map[string]string{
		"annals.consumer": "balances", "annals.events": "1", "annals.checkpoint.from": "0", "annals.checkpoint.to": "1",
		"annals.consumer.handled": "1", "annals.correlation_id": "req-1",
	})

	// The saga's command is a child of its batch, caused by the deposit.
	flags := b.ended("handle Flag")
	if len(flags) != 1 {
		t.Fatalf("%d spans named %q, want 1", len(flags), "handle Flag")
	}
	var batch sdktrace.ReadOnlySpan
	for _, s := range b.ended("process audit") {
		if s.SpanContext().SpanID() == flags[0].Parent().SpanID() {
			batch = s
		}
	}
	if batch == nil || batch.Parent().SpanID() != big.SpanContext().SpanID() {
		t.Fatalf("the saga's command is not a child of a batch of the deposit of 150")
	}
	if batch.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("batch span kind %v, want consumer", batch.SpanKind())
	}
	var cause store.Record
	for r, err := range b.store.ReadStream(ctx, "acct-1", 2) {
		if err != nil {
			t.Fatal(err)
		}
		cause = r
	}
	has(t, flags[0], map[string]string{
		"annals.stream": "audit-acct-1", "annals.command.outcome": "ok",
		"annals.causation_id": cause.ID.String(), "annals.correlation_id": "req-2",
		"annals.command.idempotency_key": "audit/" + cause.ID.String() + "/0",
	})

	got := b.collect(t)
	wantMetrics(t, got, map[string]float64{
		"annals.commands{annals.command.outcome=ok,annals.command.type=Deposit}":         2,
		"annals.commands{annals.command.outcome=rejected,annals.command.type=Deposit}":   1,
		"annals.commands{annals.command.outcome=conflict,annals.command.type=Deposit}":   1,
		"annals.commands{annals.command.outcome=ok,annals.command.type=Flag}":            1,
		"annals.command.duration{annals.command.outcome=ok,annals.command.type=Deposit}": 2,
		// Three appends stored events; the racing command's two conflicted.
		"db.client.operation.duration{db.operation.name=append,db.system.name=memory}":                     3,
		"db.client.operation.duration{db.operation.name=append,db.system.name=memory,error.type=conflict}": 2,
		"annals.consumer.events{annals.consumer=balances}":                                                 3,
		"annals.consumer.events{annals.consumer=audit}":                                                    3,
		// The racing writer's two events went around the system, which
		// has not seen them yet.
		"annals.consumer.lag{annals.consumer=balances}":      2,
		"annals.consumer.position{annals.consumer=balances}": 3,
		"annals.log.head{}": 5,
	})
	if t.Failed() {
		t.Logf("metrics: %v", got)
	}
}

// An append carries its span's context in its events' metadata, and the
// batch that handles them later, in another goroutine or process, links
// to it.
func TestBatchesLinkToTheAppendsOfTheirEvents(t *testing.T) {
	ctx := context.Background()
	b := newBank(t, annals.New(memory.New()), annals.Async, annalsotel.WithPropagators(propagation.TraceContext{}))
	request, span := sdktrace.NewTracerProvider().Tracer("test").Start(ctx, "POST /deposits")
	if _, err := b.accounts.Handle(request, "acct-1", Deposit{Amount: 10}); err != nil {
		t.Fatal(err)
	}
	span.End()
	if err := b.sys.Settle(ctx); err != nil { // elsewhere, later
		t.Fatal(err)
	}

	appends := b.ended("append")
	if len(appends) != 1 {
		t.Fatalf("%d append spans, want 1", len(appends))
	}
	appended := appends[0].SpanContext()
	if appended.TraceID() != span.SpanContext().TraceID() {
		t.Fatalf("the append is not in the request's trace")
	}
	var stored store.Record
	for r, err := range b.store.ReadStream(ctx, "acct-1", 1) {
		if err != nil {
			t.Fatal(err)
		}
		stored = r
	}
	if want := fmt.Sprintf("00-%s-%s-01", appended.TraceID(), appended.SpanID()); stored.Metadata.Extra["traceparent"] != want {
		t.Fatalf("stored metadata %v, want traceparent %s", stored.Metadata.Extra, want)
	}
	batches := b.ended("process balances")
	if len(batches) != 1 {
		t.Fatalf("%d batches of balances, want 1", len(batches))
	}
	batch := batches[0]
	if batch.Parent().IsValid() {
		t.Fatalf("the batch ran under no span, yet has parent %v", batch.Parent())
	}
	links := batch.Links()
	if len(links) != 1 || links[0].SpanContext.SpanID() != appended.SpanID() || links[0].SpanContext.TraceID() != appended.TraceID() {
		t.Fatalf("the batch links to %+v, want the append %v", links, appended)
	}
	got := map[string]string{}
	for _, kv := range links[0].Attributes {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	if got["annals.event.id"] != stored.ID.String() || got["annals.log.position"] != "1" || got["annals.stream"] != "acct-1" {
		t.Fatalf("link attributes %v", got)
	}
}

// The gauges say how far behind each consumer is, in events and in
// seconds, where its checkpoint is, and whether it stopped.
func TestGaugesShowLagPositionAndStoppedConsumers(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	b := newBank(t, s, annals.Async)
	failing := true
	picky, err := annals.NewRecordProjection(s, "picky", func(context.Context, store.StateTx, store.Record) error {
		if failing {
			return errors.New("picky refuses")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.sys.OnError(func(string, error) {}) // the test looks at the gauge
	if err := b.sys.Add(picky); err != nil {
		t.Fatal(err)
	}
	for _, amount := range []int{1, 2, 3} {
		if _, err := b.accounts.Handle(ctx, "acct-1", Deposit{Amount: amount}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	got := b.collect(t)
	wantMetrics(t, got, map[string]float64{
		"annals.log.head{}":                                  3,
		"annals.consumer.lag{annals.consumer=balances}":      3,
		"annals.consumer.position{annals.consumer=balances}": 0,
		"annals.consumer.stopped{annals.consumer=balances}":  0,
		"annals.consumer.lag{annals.consumer=picky}":         3,
	})
	if age := got["annals.consumer.lag.age{annals.consumer=balances}"]; age < 0.02 || age > 60 {
		t.Errorf("lag age = %vs, want the age of the first deposit", age)
	}

	if err := b.sys.Settle(ctx); err == nil {
		t.Fatal("Settle succeeded, want picky stopped")
	}
	got = b.collect(t)
	wantMetrics(t, got, map[string]float64{
		"annals.consumer.lag{annals.consumer=balances}":                            0,
		"annals.consumer.lag.age{annals.consumer=balances}":                        0,
		"annals.consumer.position{annals.consumer=balances}":                       3,
		"annals.consumer.stopped{annals.consumer=picky}":                           1,
		"annals.consumer.lag{annals.consumer=picky}":                               3,
		"annals.consumer.batch.duration{annals.consumer=picky,error.type=stopped}": 1,
	})
	failing = false
	if _, err := b.sys.Retry(ctx, "picky"); err != nil {
		t.Fatal(err)
	}
	if got := b.collect(t)["annals.consumer.stopped{annals.consumer=picky}"]; got != 0 {
		t.Errorf("picky still reported stopped after Retry: %v", got)
	}
	stopped := b.ended("process picky")[0]
	has(t, stopped, map[string]string{"error.type": "stopped", "annals.log.position": "1", "annals.consumer.handled": "0"})
	if stopped.Status().Code != codes.Error {
		t.Errorf("a stopped batch's span has status %v", stopped.Status())
	}
}

// The SQL adapters are named as the semantic conventions name them.
func TestDBSystemNamesTheDatabase(t *testing.T) {
	ctx := context.Background()
	s, err := annals.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bank.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := newBank(t, s, annals.Sync)
	if _, err := b.accounts.Handle(ctx, "acct-1", Deposit{Amount: 1}); err != nil {
		t.Fatal(err)
	}
	has(t, b.ended("append")[0], map[string]string{"db.system.name": "sqlite"})
}

// countingStore counts the appends its adapter is asked for.
type countingStore struct {
	*memory.Store
	appends atomic.Int64
}

func (s *countingStore) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	s.appends.Add(1)
	return s.Store.Append(ctx, id, expected, events)
}

// Commands queued on one stream are appended together, and each still
// has an append span of its own, within its own command, whose context
// its event carries; the write they share is timed once.
func TestCommandsAppendedTogetherEachHaveTheirAppend(t *testing.T) {
	ctx := context.Background()
	adapter := &countingStore{Store: memory.New()}
	b := newBank(t, annals.New(adapter), annals.Async, annalsotel.WithPropagators(propagation.TraceContext{}))
	// The first deposit holds the stream's turn until the others wait
	// for it.
	deciding, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	gated := account
	gated.Decide = func(c command, balance int) ([]event, error) {
		first.Do(func() {
			close(deciding)
			<-release
		})
		return account.Decide(c, balance)
	}
	r := annals.NewRunner(b.store, gated, events())
	const n = 5
	var wg sync.WaitGroup
	errs := make([]error, n)
	handle := func(i int) {
		wg.Go(func() { _, errs[i] = r.Handle(ctx, "acct-1", Deposit{Amount: i + 1}) })
	}
	handle(0)
	<-deciding
	for i := 1; i < n; i++ {
		handle(i)
	}
	for deadline := time.Now().Add(5 * time.Second); len(b.spans.Started()) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the commands did not start")
		}
	}
	time.Sleep(100 * time.Millisecond) // from their spans to the stream's queue
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("deposit %d: %v", i, err)
		}
	}
	if got := adapter.appends.Load(); got >= n {
		t.Fatalf("%d appends for %d commands: none were appended together", got, n)
	}

	appendOf := map[trace.SpanID]sdktrace.ReadOnlySpan{} // by its command's span
	together := 0
	for _, s := range b.ended("append") {
		if _, dup := appendOf[s.Parent().SpanID()]; dup {
			t.Fatalf("a command has two append spans")
		}
		appendOf[s.Parent().SpanID()] = s
		if attrs(s)["annals.append.together"] != "" {
			together++
		}
	}
	commands := b.ended("handle Deposit")
	if len(commands) != n {
		t.Fatalf("%d command spans, want %d", len(commands), n)
	}
	if together == 0 {
		t.Fatalf("no append span says it was written together with others")
	}
	traceparents := map[string]string{} // by the version the event is at
	for r, err := range b.store.ReadStream(ctx, "acct-1", 1) {
		if err != nil {
			t.Fatal(err)
		}
		traceparents[fmt.Sprint(r.Version)] = r.Metadata.Extra["traceparent"]
	}
	for _, c := range commands {
		a, ok := appendOf[c.SpanContext().SpanID()]
		if !ok {
			t.Fatalf("command %v has no append span", attrs(c))
		}
		version := attrs(c)["annals.stream.version"]
		want := fmt.Sprintf("00-%s-%s-01", a.SpanContext().TraceID(), a.SpanContext().SpanID())
		has(t, a, map[string]string{"annals.events": "1", "annals.stream.version": version})
		if traceparents[version] != want {
			t.Errorf("the event at %s carries %q, want its own command's append %s", version, traceparents[version], want)
		}
	}
	// The wrapper's package names the store.
	got := b.collect(t)["db.client.operation.duration{db.operation.name=append,db.system.name=otel_test}"]
	if got != float64(adapter.appends.Load()) {
		t.Errorf("%v appends timed, want the %d writes", got, adapter.appends.Load())
	}
}

// Names claimed with a dynamic consistency boundary: a name is claimed
// once.
type (
	Claim   struct{ Name string }
	Claimed struct{ Name string }
)

var errTaken = errors.New("name taken")

var names = annals.DCBDecider[Claim, Claimed, bool]{
	Decider: decider.Decider[Claim, Claimed, bool]{
		Decide: func(c Claim, taken bool) ([]Claimed, error) {
			if taken {
				return nil, errTaken
			}
			return []Claimed{{c.Name}}, nil
		},
		Evolve: func(bool, Claimed) bool { return true },
	},
	Query: func(c Claim) store.Query {
		return store.QueryItems(store.QueryItem{Types: []string{"Claimed"}, Tags: []string{"name:" + c.Name}})
	},
	Tags: func(e Claimed) []string { return []string{"name:" + e.Name} },
	Name: "claim",
}

func claims() codec.Mapper[Claimed] { return codec.NewJSON[Claimed]().Register("Claimed", Claimed{}) }

// A DCB decision is a command span with its read by query and its
// conditional append as children, counted by outcome; its append
// carries its span's context in the event's metadata, and the batch of
// a Sync consumer that handles the event is a child of the command and
// links to the append.
func TestDCBCommandsTraceCountAndLink(t *testing.T) {
	ctx := context.Background()
	adapter := memory.New()
	b := newBank(t, annals.New(adapter), annals.Sync, annalsotel.WithPropagators(propagation.TraceContext{}))
	seen, err := annals.NewRecordProjection(b.store, "claims", func(context.Context, store.StateTx, store.Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := b.sys.Add(seen); err != nil {
		t.Fatal(err)
	}
	r := annals.NewDCBRunner(b.store, names, claims(), annals.WithBackoff(func(int) time.Duration { return 0 }))

	res, err := r.Handle(ctx, Claim{"ada"}, annals.WithMetadata(store.Metadata{CorrelationID: "req-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Handle(ctx, Claim{"ada"}); !errors.Is(err, errTaken) {
		t.Fatalf("ada again = %v, want taken", err)
	}
	for range 2 {
		if _, err := r.Handle(ctx, Claim{"bob"}, annals.WithIdempotencyKey("req-2")); err != nil {
			t.Fatal(err)
		}
	}
	// Someone else always claims cy first: the command gives up.
	racing := names
	racing.Decide = func(c Claim, taken bool) ([]Claimed, error) {
		ev := store.Event{Type: "Claimed", Data: []byte(`{"Name":"cy"}`), Tags: []string{"name:cy"}}
		if _, err := adapter.Append(ctx, "elsewhere", store.AnyVersion, []store.Event{ev}); err != nil {
			t.Fatal(err)
		}
		return []Claimed{{c.Name}}, nil
	}
	loser := annals.NewDCBRunner(b.store, racing, claims(), annals.WithRetries(1), annals.WithBackoff(func(int) time.Duration { return 0 }))
	_, err = loser.Handle(ctx, Claim{"cy"})
	var lost *store.ConditionError
	if !errors.As(err, &lost) || lost.Condition.After == 0 {
		t.Fatalf("racing claim = %v, want a conflict of a decision that read an event", err)
	}

	handles := b.ended("handle Claim")
	if len(handles) != 5 {
		t.Fatalf("%d spans named %q, want 5", len(handles), "handle Claim")
	}
	first, rejected, duplicate, conflicted := handles[0], handles[1], handles[3], handles[4]
	has(t, first, map[string]string{
		"annals.query": "(Claimed)[name:ada]", "annals.stream": res.StreamID, "annals.command.type": "Claim",
		"annals.command.outcome": "ok", "annals.events": "1", "annals.log.after": "0",
		"annals.command.attempts": "1", "annals.command.conflicts": "0", "annals.correlation_id": "req-1",
	})
	has(t, rejected, map[string]string{"annals.command.outcome": "rejected", "annals.events": "0", "annals.log.after": "1"})
	if rejected.Status().Code != codes.Unset {
		t.Errorf("a rejection's span has status %v, want unset: the domain answered", rejected.Status())
	}
	has(t, duplicate, map[string]string{"annals.command.outcome": "ok", "annals.command.duplicate": "true", "annals.command.idempotency_key": "req-2"})
	has(t, conflicted, map[string]string{
		"annals.command.outcome": "conflict", "annals.command.attempts": "2", "annals.command.conflicts": "2", "error.type": "conflict",
		"annals.log.after": strconv.FormatInt(lost.Condition.After, 10),
	})

	children := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range b.spans.Ended() {
		if s.Parent().SpanID() == first.SpanContext().SpanID() {
			children[s.Name()] = s
		}
	}
	if got := slices.Sorted(maps.Keys(children)); !slices.Equal(got, []string{"append", "process claims", "read_log", "read_query"}) {
		t.Fatalf("the first claim's children are %v", got)
	}
	appended := children["append"]
	has(t, appended, map[string]string{
		"db.operation.name": "append", "annals.stream": res.StreamID, "annals.query": "(Claimed)[name:ada]",
		"annals.log.after": "0", "annals.stream.version": "1", "annals.events": "1",
	})
	has(t, children["read_query"], map[string]string{
		"db.operation.name": "read_query", "annals.query": "(Claimed)[name:ada]", "annals.log.after": "0", "db.response.returned_rows": "0",
	})
	var stored store.Record
	for rec, err := range b.store.ReadStream(ctx, res.StreamID, 1) {
		if err != nil {
			t.Fatal(err)
		}
		stored = rec
	}
	sc := appended.SpanContext()
	if want := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID()); stored.Metadata.Extra["traceparent"] != want {
		t.Fatalf("stored metadata %v, want traceparent %s", stored.Metadata.Extra, want)
	}
	links := children["process claims"].Links()
	if len(links) != 1 || links[0].SpanContext.SpanID() != sc.SpanID() {
		t.Fatalf("the batch of the claim links to %+v, want the append %v", links, sc)
	}

	got := b.collect(t)
	wantMetrics(t, got, map[string]float64{
		"annals.commands{annals.command.outcome=ok,annals.command.type=Claim}":       3,
		"annals.commands{annals.command.outcome=rejected,annals.command.type=Claim}": 1,
		"annals.commands{annals.command.outcome=conflict,annals.command.type=Claim}": 1,
		// Two claims stored events; the racing one's two appends conflicted.
		"db.client.operation.duration{db.operation.name=append,db.system.name=memory}":                     2,
		"db.client.operation.duration{db.operation.name=append,db.system.name=memory,error.type=conflict}": 2,
	})
	if got["db.client.operation.duration{db.operation.name=read_query,db.system.name=memory}"] == 0 {
		t.Errorf("no read by query was timed")
	}
	if t.Failed() {
		t.Logf("metrics: %v", got)
	}
}

// wantMetrics reports each metric of want whose value in got differs.
func wantMetrics(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// A command whose Decide panics ends its span, marked as an error, before
// the panic goes on: an open span would never be exported.
func TestACommandThatPanicsEndsItsSpan(t *testing.T) {
	b := newBank(t, annals.New(memory.New()), annals.Sync)
	panicky := account
	panicky.Decide = func(command, int) ([]event, error) { panic("Decide cannot take this") }
	r := annals.NewRunner(b.store, panicky, events())
	func() {
		defer func() {
			if v := recover(); v != "Decide cannot take this" {
				t.Errorf("Handle panicked with %v; want Decide's own value", v)
			}
		}()
		_, _ = r.Handle(context.Background(), "acc-1", Deposit{Amount: 5})
	}()
	spans := b.ended("handle Deposit")
	if len(spans) != 1 {
		t.Fatalf("%d handle spans ended; want 1", len(spans))
	}
	has(t, spans[0], map[string]string{"annals.command.outcome": "outcome_unknown"})
	if st := spans[0].Status(); st.Code != codes.Error || !strings.Contains(st.Description, "panicked") {
		t.Errorf("the span's status is %v %q; want an error saying the command panicked", st.Code, st.Description)
	}
}

// An idempotent retry is answered as a duplicate: its append, which the
// store refuses because the key's events are stored, is how the command
// learns so, and is no error on its span nor in the metric.
func TestAnIdempotentRetryIsNotAnError(t *testing.T) {
	ctx := context.Background()
	b := newBank(t, annals.New(memory.New()), annals.Sync)
	for i := range 2 {
		res, err := b.accounts.Handle(ctx, "acct-1", Deposit{Amount: 5}, annals.WithIdempotencyKey("k"))
		if err != nil || res.Duplicate != (i == 1) {
			t.Fatalf("deposit %d: duplicate %v, %v", i, res.Duplicate, err)
		}
	}
	handles := b.ended("handle Deposit")
	if len(handles) != 2 {
		t.Fatalf("%d command spans, want 2", len(handles))
	}
	retry := handles[1]
	has(t, retry, map[string]string{"annals.command.outcome": "ok", "annals.command.duplicate": "true"})
	var appended sdktrace.ReadOnlySpan
	for _, s := range b.ended("append") {
		if s.Parent().SpanID() == retry.SpanContext().SpanID() {
			appended = s
		}
	}
	if appended == nil {
		t.Fatal("the retry made no append")
	}
	has(t, appended, map[string]string{"annals.append.duplicate": "true", "error.type": ""})
	if st := appended.Status(); st.Code != codes.Unset {
		t.Errorf("the retry's append has status %v %q, want unset: a duplicate is the key's answer", st.Code, st.Description)
	}
	if len(appended.Events()) != 0 {
		t.Errorf("the retry's append recorded %v", appended.Events())
	}
	got := b.collect(t)
	wantMetrics(t, got, map[string]float64{
		"db.client.operation.duration{db.operation.name=append,db.system.name=memory}": 2,
		"annals.commands{annals.command.outcome=ok,annals.command.type=Deposit}":       2,
	})
	for k := range got {
		if strings.HasPrefix(k, "db.client.operation.duration{") && strings.Contains(k, "error.type") {
			t.Errorf("an operation failed: %s", k)
		}
	}
}

// failingStore fails every append with the error it is set to.
type failingStore struct {
	*memory.Store
	fail error
}

func (s *failingStore) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	if s.fail != nil {
		return 0, s.fail
	}
	return s.Store.Append(ctx, id, expected, events)
}

// error.type is the error's class, a few stable values, never its Go
// type: on the span and in the metric of the append that failed, and on
// the span of its command.
func TestErrorTypeIsTheErrorsClass(t *testing.T) {
	ctx := context.Background()
	adapter := &failingStore{Store: memory.New()}
	b := newBank(t, annals.New(adapter), annals.Async)
	cases := []struct {
		err  error
		want string
	}{
		{errors.New("disk full"), "_OTHER"},
		{fmt.Errorf("write: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("write: %w", context.Canceled), "canceled"},
		{fmt.Errorf("lost: %w", store.ErrOutcomeUnknown), "outcome_unknown"},
		{fmt.Errorf("bad: %w", store.ErrInvalid), "invalid"},
		{store.ErrClosed, "closed"},
		{store.ErrCorrupt, "corrupt"},
		{store.ErrDuplicateEvent, "duplicate_event"},
	}
	for i, c := range cases {
		adapter.fail = c.err
		stream := fmt.Sprintf("acct-%d", i)
		if _, err := b.accounts.Handle(ctx, stream, Deposit{Amount: 1}); !errors.Is(err, c.err) {
			t.Fatalf("%v: Handle = %v", c.err, err)
		}
		var appended, handled sdktrace.ReadOnlySpan
		for _, s := range b.spans.Ended() {
			if attrs(s)["annals.stream"] == stream {
				switch s.Name() {
				case "append":
					appended = s
				case "handle Deposit":
					handled = s
				}
			}
		}
		if appended == nil || handled == nil {
			t.Fatalf("%v: no append or command span", c.err)
		}
		has(t, appended, map[string]string{"error.type": c.want})
		has(t, handled, map[string]string{"error.type": c.want})
		// Where a failed command read to is not known: no 0 says it
		// read nothing.
		if v, ok := attrs(handled)["annals.stream.version"]; ok {
			t.Errorf("%v: the failed command's span has annals.stream.version %s", c.err, v)
		}
		if appended.Status().Code != codes.Error || handled.Status().Code != codes.Error {
			t.Errorf("%v: statuses %v and %v, want errors", c.err, appended.Status(), handled.Status())
		}
	}
	got := b.collect(t)
	for _, c := range cases {
		if n := got["db.client.operation.duration{db.operation.name=append,db.system.name=otel_test,error.type="+c.want+"}"]; n != 1 {
			t.Errorf("appends of error.type %s timed: %v, want 1", c.want, n)
		}
	}
	// Nothing else, spans included, names an error by its Go type.
	for k := range got {
		if _, et, ok := strings.Cut(k, "error.type="); ok && strings.ContainsAny(et, "*.") {
			t.Errorf("metric %s", k)
		}
	}
	for _, s := range b.spans.Ended() {
		if et := attrs(s)["error.type"]; strings.ContainsAny(et, "*.") {
			t.Errorf("span %s has error.type %q", s.Name(), et)
		}
	}
}

// sumOfEvents is the mapper of the events of the bank's accounts
// combined with the names.
func sumOfEvents() codec.Mapper[decider.Either[event, Claimed]] {
	return codec.NewSum[decider.Either[event, Claimed]](codec.PartOf(events()), codec.PartOf(claims()))
}

// Wrapped is a generic command that is not a sum.
type Wrapped[T any] struct{ Inner T }

// A command's span is named by its type without packages, whatever
// shape the type has: a pointer as its value, the sum a combined
// decider's runner handles as the case it holds, a generic type without
// the packages of its arguments; its annals.command.type is the same.
func TestCommandSpansAreNamedByTheDomainsCommand(t *testing.T) {
	ctx := context.Background()
	b := newBank(t, annals.New(memory.New()), annals.Async)
	handle := func(what string, h func() error) {
		t.Helper()
		if err := h(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	pointers := annals.NewRunner(b.store, decider.Decider[*Deposit, event, int]{
		Decide: func(c *Deposit, balance int) ([]event, error) { return account.Decide(*c, balance) },
		Evolve: account.Evolve,
	}, events())
	handle("a pointer", func() error { _, err := pointers.Handle(ctx, "p-1", &Deposit{Amount: 1}); return err })

	combined := annals.NewRunner(b.store, decider.Combine(account, names.Decider),
		sumOfEvents())
	handle("a left case", func() error {
		_, err := combined.Handle(ctx, "c-1", decider.Left[command, Claim](Deposit{Amount: 2}))
		return err
	})
	handle("a right case", func() error {
		_, err := combined.Handle(ctx, "c-1", decider.Right[command](Claim{"ada"}))
		return err
	})
	handle("a pointer to a sum", func() error {
		either := decider.Left[command, Claim](Flag{})
		_, err := annals.NewRunner(b.store, decider.Decider[*decider.Either[command, Claim], decider.Either[event, Claimed], decider.Pair[int, bool]]{
			Decide: func(c *decider.Either[command, Claim], s decider.Pair[int, bool]) ([]decider.Either[event, Claimed], error) {
				return decider.Combine(account, names.Decider).Decide(*c, s)
			},
			Evolve: decider.Combine(account, names.Decider).Evolve,
		}, sumOfEvents()).Handle(ctx, "c-2", &either)
		return err
	})

	wrapped := annals.NewRunner(b.store, decider.Decider[Wrapped[Deposit], event, int]{
		Decide: func(c Wrapped[Deposit], balance int) ([]event, error) { return account.Decide(c.Inner, balance) },
		Evolve: account.Evolve,
	}, events())
	handle("a generic command", func() error {
		_, err := wrapped.Handle(ctx, "w-1", Wrapped[Deposit]{Deposit{Amount: 3}})
		return err
	})

	var got []string
	for _, s := range b.spans.Ended() {
		if strings.HasPrefix(s.Name(), "handle ") {
			got = append(got, s.Name()+" ("+attrs(s)["annals.command.type"]+")")
		}
	}
	want := []string{
		"handle Deposit (Deposit)",
		"handle Deposit (Deposit)",
		"handle Claim (Claim)",
		"handle Flag (Flag)",
		"handle Wrapped[Deposit] (Wrapped[Deposit])",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("command spans\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	metrics := b.collect(t)
	wantMetrics(t, metrics, map[string]float64{
		"annals.commands{annals.command.outcome=ok,annals.command.type=Deposit}":          2,
		"annals.commands{annals.command.outcome=ok,annals.command.type=Claim}":            1,
		"annals.commands{annals.command.outcome=ok,annals.command.type=Flag}":             1,
		"annals.commands{annals.command.outcome=ok,annals.command.type=Wrapped[Deposit]}": 1,
	})
	if t.Failed() {
		t.Logf("metrics: %v", metrics)
	}
}

// In a Sync system a stopped consumer is tried again by each later
// command, at the event it stopped at: each try is a batch that ran, in
// that command's time, so each has its failed span, a child of the
// command, and its point in annals.consumer.batch.duration; the stop is
// one, as the gauge and OnError tell. The package documentation and
// docs/operations.md say so, for the dashboards that count stops.
func TestAStoppedConsumerIsTriedByEachLaterSyncCommand(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	b := newBank(t, s, annals.Sync)
	picky, err := annals.NewRecordProjection(s, "picky", func(context.Context, store.StateTx, store.Record) error {
		return errors.New("picky refuses")
	})
	if err != nil {
		t.Fatal(err)
	}
	reported := 0
	b.sys.OnError(func(string, error) { reported++ })
	if err := b.sys.Add(picky); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := b.accounts.Handle(ctx, "acct-1", Deposit{Amount: i + 1})
		if stored := errors.Is(err, annals.ErrStored); stored != (i == 0) {
			t.Fatalf("deposit %d: %v; want only the first, whose event picky stopped at, stored with an error", i, err)
		}
	}
	commands := map[trace.SpanID]string{}
	for _, c := range b.ended("handle Deposit") {
		commands[c.SpanContext().SpanID()] = attrs(c)["annals.command.outcome"]
		if attrs(c)["annals.command.outcome"] != "stored_with_error" {
			continue
		}
		// Its events stand: no failed write, but what failed after it
		// is on its span.
		if c.Status().Code != codes.Unset || attrs(c)["error.type"] != "" {
			t.Errorf("a command stored with an error has status %v and error.type %q, want unset and none", c.Status(), attrs(c)["error.type"])
		}
		if ev := c.Events(); len(ev) != 1 || ev[0].Name != "exception" {
			t.Errorf("a command stored with an error has events %v, want the exception that followed its write", ev)
		}
	}
	batches := b.ended("process picky")
	if len(batches) != 3 {
		t.Fatalf("%d batches of picky, want one for each command", len(batches))
	}
	var outcomes []string
	for _, batch := range batches {
		has(t, batch, map[string]string{"error.type": "stopped", "annals.log.position": "1", "annals.checkpoint.from": "0"})
		if batch.Status().Code != codes.Error {
			t.Errorf("a batch that stopped has status %v", batch.Status())
		}
		outcomes = append(outcomes, commands[batch.Parent().SpanID()])
	}
	if want := []string{"stored_with_error", "ok", "ok"}; !slices.Equal(outcomes, want) {
		t.Errorf("the batches are children of commands with outcomes %v, want %v", outcomes, want)
	}
	if reported != 1 {
		t.Errorf("OnError told %d times, want once", reported)
	}
	wantMetrics(t, b.collect(t), map[string]float64{
		"annals.consumer.batch.duration{annals.consumer=picky,error.type=stopped}": 3,
		"annals.consumer.stopped{annals.consumer=picky}":                           1,
	})
}
