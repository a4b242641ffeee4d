package check_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// An error that passes NotStored twice (a DCB append through the write it
// makes) says once that nothing was stored, and still matches its causes;
// an answer of the database's, or any error while ctx lives, is returned
// as it is.
func TestNotStoredSaysItOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, cause := range []error{ctx.Err(), errors.New("disk I/O error")} {
		inner := check.NotStored(ctx, fmt.Errorf("commit: %w", cause), false)
		err := fmt.Errorf("append to stream %q: %w", "s", check.NotStored(ctx, inner, false))
		if n := strings.Count(err.Error(), "nothing was stored"); n != 1 {
			t.Errorf("%q says %d times that nothing was stored, want once", err, n)
		}
		if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
			t.Errorf("%q does not match both the context's end and %v", err, cause)
		}
	}
	conflict := &store.ConflictError{StreamID: "s", Expected: 1, Actual: 2}
	if err := check.NotStored(ctx, conflict, true); err != conflict {
		t.Errorf("an answer became %v", err)
	}
	plain := errors.New("disk I/O error")
	if err := check.NotStored(context.Background(), plain, false); err != plain {
		t.Errorf("an error while the context lives became %v", err)
	}
}
