package annalsotel_test

import (
	"context"
	"path/filepath"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/workload"
	annalsotel "github.com/annals-dev/annals/otel"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/sqlite"
)

// nop is an observer that does nothing: the cost of the hooks alone.
type nop struct{}

func (nop) StartCommand(ctx context.Context, _ annals.CommandStart) context.Context { return ctx }
func (nop) EndCommand(context.Context, annals.CommandEnd)                           {}
func (nop) StartAppend(ctx context.Context, _ *annals.AppendStart) context.Context  { return ctx }
func (nop) EndAppend(context.Context, annals.AppendEnd)                             {}
func (nop) StartRead(ctx context.Context, _ annals.ReadStart) context.Context       { return ctx }
func (nop) EndRead(context.Context, annals.ReadEnd)                                 {}
func (nop) StartBatch(ctx context.Context, _ annals.BatchStart) context.Context     { return ctx }
func (nop) EndBatch(context.Context, annals.BatchEnd)                               {}

// BenchmarkHandle is the command workload of docs/benchmarks.md (one new
// stream per command) with no observer, with one that does nothing, and
// with this package's, every span sampled and batched to an exporter
// that drops it.
func BenchmarkHandle(b *testing.B) {
	ctx := context.Background()
	stores := map[string]func(b *testing.B) *annals.Store{
		"memory": func(*testing.B) *annals.Store { return annals.New(memory.New()) },
		"sqlite": func(b *testing.B) *annals.Store {
			s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sqlite.SyncNormal))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return annals.New(s)
		},
	}
	observers := []struct {
		name    string
		observe func(b *testing.B, s *annals.Store)
	}{
		{"none", func(*testing.B, *annals.Store) {}},
		{"nop", func(_ *testing.B, s *annals.Store) { s.Observe(nop{}) }},
		{"otel", func(b *testing.B, s *annals.Store) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			b.Cleanup(func() { tp.Shutdown(ctx) })
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			if err := annalsotel.Instrument(s, annalsotel.WithTracerProvider(tp), annalsotel.WithMeterProvider(mp)); err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, storeName := range []string{"memory", "sqlite"} {
		for _, o := range observers {
			b.Run(storeName+"/observer="+o.name, func(b *testing.B) {
				s := stores[storeName](b)
				o.observe(b, s)
				r := annals.NewRunner(s, workload.Decider(), workload.Codec())
				workload.Loop(b, 1, workload.Handle(ctx, r, 1))
			})
		}
	}
}
