package annals

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A consumer's error names it once, however many layers name it.
func TestConsumerErrNamesTheConsumerOnce(t *testing.T) {
	cause := errors.New("timeout")
	adapter := fmt.Errorf("consumer %q: read checkpoint: %w", "tally", cause)
	for _, err := range []error{cause, adapter, consumerErr("tally", adapter), consumerErr("tally", consumerErr("tally", cause))} {
		got := consumerErr("tally", err)
		if n := strings.Count(got.Error(), `consumer "tally"`); n != 1 || !errors.Is(got, cause) || !strings.HasPrefix(got.Error(), `consumer "tally": `) {
			t.Errorf("consumerErr of %q: %q; want it named once, first, wrapping the cause", err, got)
		}
	}
	// Another consumer's name is not this one's.
	other := fmt.Errorf("consumer %q: %w", "tally-2", cause)
	if got := consumerErr("tally", other); !strings.HasPrefix(got.Error(), `consumer "tally": consumer "tally-2"`) {
		t.Errorf("consumerErr of another consumer's error: %q", got)
	}
}
