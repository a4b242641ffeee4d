package decider_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// The N-ary combinators of packages decider, view and saga are what
// gennary.go writes: a change to the generator, or an edit by hand of a
// generated file, fails here until go generate is run.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the generator")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "run", "gennary.go", "-check").CombinedOutput()
	if err != nil {
		t.Fatalf("go run gennary.go -check: %v\n%s", err, out)
	}
}
