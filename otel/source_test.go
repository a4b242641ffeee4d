package annalsotel_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/annals-dev/annals"
	annalsotel "github.com/annals-dev/annals/otel"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/httplog"
	"github.com/annals-dev/annals/store/memory"
)

// A consumer of a served log is measured against that log: its lag and
// the age of its lag come from the source, and annals.log.head stays the
// store's. With the source down, the consumers of the store are still
// observed, the other is left out rather than shown caught up, and the
// collection says why.
func TestObserveSystemMeasuresAConsumerAgainstItsSource(t *testing.T) {
	ctx := context.Background()
	origin := annals.New(memory.New())
	if _, err := annals.NewRunner(origin, account, events()).Handle(ctx, "a", Deposit{Amount: 5}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	srv := httptest.NewServer(httplog.NewHandler(origin))
	defer srv.Close()
	client, err := httplog.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	local := annals.New(memory.New())
	sys, err := annals.NewSystem(local, annals.Async)
	if err != nil {
		t.Fatal(err)
	}
	byStream := func(r store.Record, _ event) (string, bool) { return r.StreamID, true }
	if err := sys.Add(
		annals.NewViewProjection(local, "remote", balances, events(), byStream, annals.WithSource(client)),
		annals.NewViewProjection(local, "balances", balances, events(), byStream),
	); err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	if _, err := annalsotel.ObserveSystem(sys, annalsotel.WithMeterProvider(mp)); err != nil {
		t.Fatal(err)
	}
	collect := func() (map[string]float64, error) {
		var rm metricdata.ResourceMetrics
		err := reader.Collect(ctx, &rm)
		return points(t, rm), err
	}

	got, err := collect()
	if err != nil {
		t.Fatal(err)
	}
	if head := got["annals.log.head{}"]; head != 0 {
		t.Errorf("annals.log.head = %v; want the store's, 0", head)
	}
	if l := got["annals.consumer.lag{annals.consumer=remote}"]; l != 1 {
		t.Errorf("the remote consumer's lag = %v; want 1, against its source", l)
	}
	if age := got["annals.consumer.lag.age{annals.consumer=remote}"]; age < 0.02 || age > 60 {
		t.Errorf("the remote consumer's lag age = %vs; want the age of the source's event", age)
	}

	srv.Close()
	got, err = collect()
	if err == nil || !strings.Contains(err.Error(), `consumer "remote"`) {
		t.Errorf("a collection with the source down: error %v; want one naming the consumer", err)
	}
	for _, name := range []string{"annals.consumer.lag", "annals.consumer.lag.age", "annals.consumer.position", "annals.consumer.stopped"} {
		if _, ok := got[name+"{annals.consumer=remote}"]; ok {
			t.Errorf("%s observed for the consumer whose source is down: %v", name, got)
		}
		if _, ok := got[name+"{annals.consumer=balances}"]; !ok {
			t.Errorf("%s not observed for the consumer of the store while a source is down: %v", name, got)
		}
	}
}

// A collection after the store was closed, as a meter provider's Shutdown
// makes when it is deferred before the store's Close, observes nothing
// and fails nothing.
func TestACollectionAfterTheStoreClosedIsNotAnError(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	sys, err := annals.NewSystem(s, annals.Async)
	if err != nil {
		t.Fatal(err)
	}
	byStream := func(r store.Record, _ event) (string, bool) { return r.StreamID, true }
	if err := sys.Add(annals.NewViewProjection(s, "balances", balances, events(), byStream)); err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	if _, err := annalsotel.ObserveSystem(sys, annalsotel.WithMeterProvider(mp)); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil || points(t, rm)["annals.consumer.lag{annals.consumer=balances}"] != 0 {
		t.Fatalf("a collection while open: %v, %v", err, points(t, rm))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rm = metricdata.ResourceMetrics{}
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatalf("a collection after Close: %v; want none", err)
	}
	if got := points(t, rm); len(got) != 0 {
		t.Fatalf("a collection after Close observed %v; want nothing", got)
	}
}
