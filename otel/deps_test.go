package annalsotel_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// A program that does not import this module links no OpenTelemetry:
// no package of the main module, nor of its tests, depends on one.
func TestTheMainModuleImportsNoOpenTelemetry(t *testing.T) {
	list := exec.Command("go", "list", "-deps", "-test", "./...")
	list.Dir = ".."
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list in the main module: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/annals-dev/annals") {
		t.Fatalf("go list listed no package of the main module:\n%s", out)
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "go.opentelemetry.io/") || strings.HasPrefix(p, "github.com/annals-dev/annals/otel") {
			t.Errorf("the main module depends on %s", p)
		}
	}
}
