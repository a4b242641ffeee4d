// Command example sends an annals store's traces and metrics to an
// OpenTelemetry collector over OTLP/HTTP: the exporters read
// OTEL_EXPORTER_OTLP_ENDPOINT (http://localhost:4318 by default) and the
// rest of the standard OTEL_* variables. It counts visits to a few pages
// in the store that ANNALS_STORE names (memory: by default), with a view
// of the totals, and exits once the view has caught up:
//
//	OTEL_SERVICE_NAME=visits ANNALS_STORE=sqlite:///tmp/visits.db go run .
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	annalsotel "github.com/annals-dev/annals/otel"
	"github.com/annals-dev/annals/store"
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
	"github.com/annals-dev/annals/view"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// A visit to a page, counted in the page's stream.
type visit struct{}

type visited struct{}

var page = decider.Decider[visit, visited, int]{
	Decide: func(visit, int) ([]visited, error) { return []visited{{}}, nil },
	Evolve: func(n int, _ visited) int { return n + 1 },
}

func run(ctx context.Context) (err error) {
	// docs:begin operations-otlp
	// OTLP exporters behind the SDK's providers, made the global ones,
	// and the W3C trace context to carry a trace from an append to the
	// consumers that read its events.
	traces, err := otlptracehttp.New(ctx)
	if err != nil {
		return err
	}
	metrics, err := otlpmetrichttp.New(ctx)
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traces))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics)))
	defer func() {
		// Flush what is left, even when ctx was interrupted.
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, tp.Shutdown(flush), mp.Shutdown(flush))
	}()
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	// The store reports to the global providers; the system's gauges
	// are read at each export.
	url := os.Getenv(annals.EnvVar)
	if url == "" {
		url = "memory:"
	}
	s, err := annals.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := annalsotel.Instrument(s); err != nil {
		return err
	}
	sys, err := annals.NewSystem(s, annals.Async)
	if err != nil {
		return err
	}
	if _, err := annalsotel.ObserveSystem(sys); err != nil {
		return err
	}
	// docs:end operations-otlp

	events := codec.NewJSON[visited]().Register("Visited", visited{})
	totals := annals.NewViewProjection(s, "totals", view.View[int, visited]{Evolve: page.Evolve}, events,
		func(r store.Record, _ visited) (string, bool) { return r.StreamID, true })
	if err := sys.Add(totals); err != nil {
		return err
	}
	runCtx, stopConsumers := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	defer func() { stopConsumers(); err = errors.Join(err, <-done) }()

	pages := annals.NewRunner(s, page, events)
	for i := range 10 {
		if _, err := pages.Handle(ctx, fmt.Sprintf("page-%d", i%3), visit{}); err != nil {
			return err
		}
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sys.WaitQuiet(wait); err != nil {
		return err
	}
	n, err := totals.Get(ctx, "page-0")
	fmt.Printf("page-0 was visited %d times\n", n)
	return err
}
