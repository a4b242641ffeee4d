package annalsnats_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// deps lists the packages that the packages of dir depend on.
func deps(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	list := exec.Command("go", append([]string{"list", "-deps"}, args...)...)
	list.Dir = dir
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v", dir, err)
	}
	return strings.Fields(string(out))
}

// A program that does not import this module links no NATS client: no
// package of the main module, nor of its tests, depends on one.
func TestTheMainModuleImportsNoNATS(t *testing.T) {
	ds := deps(t, "..", "-test", "./...")
	if !slices.Contains(ds, "github.com/annals-dev/annals") {
		t.Fatalf("go list listed no package of the main module:\n%s", strings.Join(ds, "\n"))
	}
	for _, p := range ds {
		if strings.HasPrefix(p, "github.com/nats-io/") || strings.HasPrefix(p, "github.com/annals-dev/annals/nats") {
			t.Errorf("the main module depends on %s", p)
		}
	}
}

// A program that publishes with this package links the NATS client, and
// not the server its tests run.
func TestThePackageLinksNoNATSServer(t *testing.T) {
	ds := deps(t, ".", ".")
	if !slices.Contains(ds, "github.com/nats-io/nats.go/jetstream") {
		t.Fatalf("go list listed no jetstream package:\n%s", strings.Join(ds, "\n"))
	}
	for _, p := range ds {
		if strings.HasPrefix(p, "github.com/nats-io/nats-server") {
			t.Errorf("the package depends on %s", p)
		}
	}
}
