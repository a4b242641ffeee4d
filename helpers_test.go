package annals_test

import (
	"context"
	"testing"
	"time"
)

// runtimeYield lets background consumers run between polls of a test.
func runtimeYield() { time.Sleep(time.Millisecond) }

// must returns v, or panics with err: for constructors in tests.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// awaitPosition waits until c's checkpoint is at, or fails t when ctx
// ends first, naming what did not catch up.
func awaitPosition(t *testing.T, ctx context.Context, c interface {
	Position(context.Context) (int64, error)
}, at int64, what string) {
	t.Helper()
	for {
		if pos, err := c.Position(ctx); err == nil && pos == at {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s did not reach position %d", what, at)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
