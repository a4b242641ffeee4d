package check

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/annals-dev/annals/store"
)

// A Horizon is the furthest position of the log that a store has seen
// exist, in a head it read or an event it yielded. For a store that
// never gives a position out twice (PostgreSQL counts the ones it gave),
// a position within it is within the head, and a check of a position
// against the head reads the head only for a position past it. A store
// that numbers its log from its rows (SQLite, whose deleted last
// positions are given again) checks against the head it reads in the
// write instead. The zero value has seen nothing.
type Horizon struct{ at atomic.Int64 }

// Saw records that position exists.
func (h *Horizon) Saw(position int64) {
	for {
		old := h.at.Load()
		if position <= old || h.at.CompareAndSwap(old, position) {
			return
		}
	}
}

// ConditionAfter checks that an append condition's position is not past
// the head of the log, reading the head with head only when the position
// is past every one h has seen. No read can have reached such a
// position: one taken as a condition's would let through an append that
// an event it should have seen conflicts with.
func (h *Horizon) ConditionAfter(ctx context.Context, streamID string, after int64, head func(context.Context) (int64, error)) error {
	if after <= h.at.Load() {
		return nil
	}
	at, err := head(ctx)
	if err != nil {
		return fmt.Errorf("append to stream %q: read the head to check the condition's position: %w", streamID, err)
	}
	h.Saw(at)
	return ConditionPosition(streamID, after, at)
}

// ConditionPosition checks an append condition's position against the
// head of the log.
func ConditionPosition(streamID string, after, head int64) error {
	if after > head {
		return fmt.Errorf("append to stream %q: condition after position %d, past the head of the log (%d): no read reached it; give the position of the last event the decision read, or 0 when it read none: %w",
			streamID, after, head, store.ErrInvalid)
	}
	return nil
}
