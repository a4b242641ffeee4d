package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunCountsVisits(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "visits.db")
	for want := 1; want <= 3; want++ {
		var out bytes.Buffer
		if err := run(context.Background(), &out, url); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out.String()); got != string(rune('0'+want)) {
			t.Fatalf("run %d printed %q, want %d", want, got, want)
		}
	}
}

// build compiles a package of this module into dir/name and returns the
// binary's path and size.
func build(b *testing.B, dir, name, pkg string, tags ...string) (string, float64) {
	b.Helper()
	bin := filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, pkg)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	return bin, float64(fi.Size())
}

// BenchmarkColdStart runs whole processes: the library's program ("lib")
// and the database/sql baseline ("raw") each open a SQLite file, append one
// event and exit. ns/op is the wall time of one run, start to exit;
// binary-bytes is the size of the binary, and for lib
// all-adapters-binary-bytes the size with all three adapters linked.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	lib, libSize := build(b, dir, "lib", ".")
	_, allSize := build(b, dir, "lib-all", ".", "coldstart_all")
	raw, rawSize := build(b, dir, "raw", "./raw")
	variants := []struct {
		name, bin string
		metrics   map[string]float64
	}{
		{"lib", lib, map[string]float64{"binary-bytes": libSize, "all-adapters-binary-bytes": allSize}},
		{"raw", raw, map[string]float64{"binary-bytes": rawSize}},
	}
	for _, v := range variants {
		b.Run("sqlite/"+v.name, func(b *testing.B) {
			db := filepath.Join(b.TempDir(), "cold.db")
			env := append(os.Environ(), "ANNALS_STORE=sqlite://"+db, "RAW_DB="+db)
			for range b.N {
				cmd := exec.Command(v.bin)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", v.name, err, out)
				}
			}
			b.ReportMetric(1, "events/op")
			for unit, value := range v.metrics {
				b.ReportMetric(value, unit)
			}
		})
	}
}

// The linker drops the methods a program never calls, unless code
// reachable from it calls reflect's MethodByName (or Method) with a name
// it cannot see: then it keeps every exported method of every type, and
// the binary grows by megabytes. No package of the library may do that,
// with any adapter linked.
func TestTheLibraryLetsTheLinkerDropUnusedMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program twice")
	}
	for _, tags := range []string{"", "coldstart_all"} {
		cmd := exec.Command("go", "build", "-tags", tags, "-ldflags=-dumpdep", "-o", filepath.Join(t.TempDir(), "coldstart"), ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go build -tags %q: %v\n%s", tags, err, out)
		}
		for line := range strings.Lines(string(out)) {
			if from, _, ok := strings.Cut(line, " -> "); ok && strings.Contains(from, "<ReflectMethod>") && strings.Contains(from, "annals-dev/annals") {
				t.Errorf("with tags %q, %s calls a reflect method by a name the linker cannot see: %s", tags, strings.Fields(from)[0], strings.TrimSpace(line))
			}
		}
	}
}
