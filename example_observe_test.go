package annals_test

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store/memory"
)

// outcomes is an observer that prints each command's outcome; the rest
// it is told, it ignores.
type outcomes struct{}

func (outcomes) StartCommand(ctx context.Context, _ annals.CommandStart) context.Context { return ctx }
func (outcomes) EndCommand(_ context.Context, c annals.CommandEnd) {
	fmt.Printf("%T on %s: %v, %d events, version %d\n", c.Command, c.StreamID, c.Outcome, c.Events, c.Version)
}
func (outcomes) StartAppend(ctx context.Context, _ *annals.AppendStart) context.Context { return ctx }
func (outcomes) EndAppend(context.Context, annals.AppendEnd)                            {}
func (outcomes) StartRead(ctx context.Context, _ annals.ReadStart) context.Context      { return ctx }
func (outcomes) EndRead(context.Context, annals.ReadEnd)                                {}
func (outcomes) StartBatch(ctx context.Context, _ annals.BatchStart) context.Context    { return ctx }
func (outcomes) EndBatch(context.Context, annals.BatchEnd)                              {}

// An observer set on the store sees what every runner built on it does.
// The module github.com/annals-dev/annals/otel is the observer that
// reports to OpenTelemetry.
func ExampleStore_Observe() {
	ctx := context.Background()
	s := annals.New(memory.New())
	s.Observe(outcomes{})
	counters := annals.NewRunner(s, counter, counterCodec())
	counters.Handle(ctx, "c-1", increment{Limit: 1})
	counters.Handle(ctx, "c-1", increment{Limit: 1})
	// Output:
	// annals_test.increment on c-1: ok, 1 events, version 1
	// annals_test.increment on c-1: rejected, 0 events, version 1
}
