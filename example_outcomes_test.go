package annals_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// outcome says what a caller of Handle knows after it returned.
func outcome(res annals.Result[Sold, int], err error) string {
	// docs:begin outcomes
	switch {
	case err == nil && res.Duplicate:
		return fmt.Sprintf("done before under this key; now at version %d", res.Version)
	case err == nil:
		return fmt.Sprintf("stored; now at version %d", res.Version)
	case errors.Is(err, annals.ErrStored):
		// Stored, then something after the append failed, such as a
		// consumer of a Sync system. res holds what was stored: do not retry.
		return fmt.Sprintf("stored at version %d, then: %v", res.Version, err)
	case errors.Is(err, store.ErrOutcomeUnknown):
		// The answer was lost: maybe stored. Retry with the same key.
		return "unknown: retry with the same key"
	case errors.Is(err, store.ErrUnavailable):
		// The store could not be reached: nothing stored. Retry later.
		return "store unavailable: retry after a pause"
	case errors.Is(err, annals.ErrRejected):
		// A business rule said no. Nothing stored; res is the state decided on.
		return fmt.Sprintf("rejected at version %d: %v", res.Version, err)
	default:
		// Nothing stored: store.ErrConflict after the retries,
		// annals.ErrIdempotencyKey, store.ErrInvalid, a cancelled context…
		return fmt.Sprintf("nothing stored: %v", err)
	}
	// docs:end outcomes
}

// lostAnswer stores an append, then loses its answer once, as a
// connection that breaks after the request left would.
type lostAnswer struct {
	*memory.Store
	lose bool
}

func (s *lostAnswer) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	v, err := s.Store.Append(ctx, streamID, expected, events)
	if err == nil && s.lose {
		s.lose = false
		return 0, fmt.Errorf("append: connection reset: %w", store.ErrOutcomeUnknown)
	}
	return v, err
}

// Every call that writes ends in one of three outcomes: stored, nothing
// stored, or unknown. An idempotency key, one per request, turns the
// unknown into one of the others: a retry with it is answered "done
// before" with the current state when the first try was stored.
func ExampleRunner_Handle() {
	ctx := context.Background()
	adapter := &lostAnswer{Store: memory.New()}
	box := annals.NewRunner(annals.New(adapter), concert, concertCodec())
	buy := func(stream, request string) string {
		return outcome(box.Handle(ctx, stream, Buy{}, annals.WithIdempotencyKey(request)))
	}

	fmt.Println("request 1:", buy("concert-1", "request-1"))
	fmt.Println("request 1 again:", buy("concert-1", "request-1"))
	adapter.lose = true
	fmt.Println("request 2:", buy("concert-1", "request-2"))
	fmt.Println("request 2 again:", buy("concert-1", "request-2"))
	fmt.Println("request 3:", buy("concert-1", "request-3"))
	fmt.Println("request 4:", buy("concert-1", "request-4"))
	fmt.Println("request 1 elsewhere:", buy("concert-2", "request-1"))
	// Output:
	// request 1: stored; now at version 1
	// request 1 again: done before under this key; now at version 1
	// request 2: unknown: retry with the same key
	// request 2 again: done before under this key; now at version 2
	// request 3: stored; now at version 3
	// request 4: rejected at version 3: sold out
	// request 1 elsewhere: nothing stored: handle command on stream "concert-2": idempotency key "request-1" was first used on stream "concert-1"; give each command a key of its own: idempotency key reused
}
