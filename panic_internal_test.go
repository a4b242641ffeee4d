package annals

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A panic's error names the function and line that panicked, past the
// runtime's own frames (a write to a nil map panics inside the runtime),
// on one line.
func TestAPanicsErrorNamesWhereItPanicked(t *testing.T) {
	for name, f := range map[string]func() error{
		"panic":                func() error { panic(errors.New("no")) },
		"a value of two lines": func() error { panic(errors.New("no\nnever")) },
		"nil map":              func() error { var m map[string]int; m["x"] = 1; return nil },
		// encoding/json recovers a MarshalJSON's panic and panics again.
		"MarshalJSON": func() error { _, err := json.Marshal(panicsMarshalling{}); return err },
	} {
		var pe *PanicError
		if err := recovered(f); !errors.As(err, &pe) {
			t.Fatalf("%s: recovered %v, want a *PanicError", name, err)
		}
		msg := pe.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "panic_internal_test.go:") || strings.Contains(msg, "runtime.") || strings.Contains(msg, "encoding/json") {
			t.Errorf("%s: %q, want one line naming the test's function and line", name, msg)
		}
	}
	if got := panickedAt([]byte("no stack")); got != "" {
		t.Errorf("panickedAt of no stack = %q", got)
	}
}

// panicsMarshalling panics when encoding/json writes it.
type panicsMarshalling struct{}

func (panicsMarshalling) MarshalJSON() ([]byte, error) { panic("cannot write it") }
