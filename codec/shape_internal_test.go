package codec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"
)

// Shapes of embedding that encoding/json resolves by its own rules.
type (
	innerX  struct{ X, Y int }
	otherX  struct{ X int }
	deeperX struct{ innerX }
	tagX    struct {
		Z int `json:"X"`
	}
	// twice reaches innerX by two paths at depth 2: encoding/json walks
	// the type once and counts its fields twice, so they clash.
	twiceA struct{ innerX }
	twiceB struct{ innerX }
	twice  struct {
		twiceA
		twiceB
	}
	// nestedTwice reaches deeperX by two paths at depth 2, and innerX
	// below it: encoding/json walks deeperX once and finds innerX once
	// there, so X and Y, reached by two paths, are counted once and kept.
	viaA        struct{ deeperX }
	viaB        struct{ deeperX }
	nestedTwice struct {
		viaA
		viaB
	}
	clashing struct {
		innerX
		otherX
	}
	shallow struct {
		innerX
		otherX
		X int
	}
	deepLoses struct {
		deeperX
		otherX
	}
	tagWins struct {
		innerX
		tagX
	}
	badTag struct {
		A int `json:"a\\b"`
		B int `json:"-,"`
	}
	recursive struct {
		N int
		*recursive
	}
)

// jsonFields keeps the fields encoding/json encodes, in its order, and
// calls clashes exactly the names it drops.
func TestJSONFieldsAsEncodingJSON(t *testing.T) {
	for _, v := range []any{
		innerX{}, deeperX{}, twice{}, nestedTwice{}, clashing{}, shallow{}, deepLoses{}, tagWins{}, badTag{}, recursive{},
	} {
		typ := reflect.TypeOf(v)
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want := keys(t, data)
		sf := jsonFields(typ)
		if got := lo.Map(sf.fields, func(f field, _ int) string { return f.name }); !slices.Equal(got, want) {
			t.Errorf("%v: fields %v, encoding/json encodes %v (%s)", typ, got, want, data)
		}
		for _, c := range sf.clashes {
			if slices.Contains(want, c[0].name) || len(c) < 2 {
				t.Errorf("%v: clash %v, but encoding/json encodes %s", typ, c, data)
			}
		}
	}
}

// keys returns the keys of a JSON object, in order.
func keys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The fields that JSON loses are refused in the program's own types,
// whose author can export or tag them, and not in a dependency's. This
// test binary, like any, lists no dependencies in its build info: they
// come from go.mod.
func TestOwnPackage(t *testing.T) {
	m, ok := ownModules()
	if !ok || m.main != "github.com/annals-dev/annals" {
		t.Fatalf("main module %q (build info %v), want the module under test", m.main, ok)
	}
	if !slices.Contains(m.deps, "github.com/samber/lo") {
		t.Errorf("dependencies %q, want those go.mod requires", m.deps)
	}
	for path, own := range map[string]bool{
		"main":                          true,
		m.main:                          true,
		m.main + "_test":                true,
		m.main + "/codec":               true,
		m.main + "/codec_test":          true,
		m.main + "s/other":              false,
		"github.com/samber/lo":          false,
		"pgregory.net/rapid":            false,
		"encoding/json":                 false,
		"vendor/golang.org/x/net/http2": false,
		"":                              false,
	} {
		if ownPackage(path) != own {
			t.Errorf("ownPackage(%q) = %v, want %v", path, !own, own)
		}
	}
}

// A package is the program's own when the module whose path is its
// longest prefix is the main module.
func TestOwns(t *testing.T) {
	const app = "example.com/app"
	deps := []string{"example.com/app/api", "google.golang.org/protobuf", "example.com/application", "shared"}
	for _, tc := range []struct {
		name      string
		main, pkg string
		deps      []string
		own       bool
	}{
		{"the main module's root", app, app, deps, true},
		{"a package of the main module", app, app + "/domain", deps, true},
		{"an external test package", app, app + "/domain_test", deps, true},
		{"the root's external test package", app, app + "_test", deps, true},
		{"package main", app, "main", deps, true},
		{"a module nested in the main module's path", app, app + "/api", deps, false},
		{"a package of the nested module", app, app + "/api/bookingv1", deps, false},
		{"the nested module's external test package", app, app + "/api/bookingv1_test", deps, false},
		{"a main-module package beside the nested module", app, app + "/apikeys", deps, true},
		{"a module whose path begins as the main module's", app, "example.com/application/x", deps, false},
		{"a dependency", app, "google.golang.org/protobuf/types/known/timestamppb", deps, false},
		{"a dependency named without a dot", app, "shared/money", deps, false},
		{"the standard library", app, "net/http", deps, false},
		{"the standard library's vendored packages", app, "vendor/golang.org/x/net/http2", deps, false},
		{"a builtin type's package", app, "", deps, false},
		{"a package of no module the build names", app, "example.org/elsewhere", deps, false},
		{"a main module named without a dot", "myapp", "myapp/domain", []string{"shared"}, true},
		{"the main module nested in a dependency's path", "example.com/lib/cmd", "example.com/lib/cmd/x", []string{"example.com/lib"}, true},
		{"the dependency the main module is nested in", "example.com/lib/cmd", "example.com/lib/x", []string{"example.com/lib"}, false},
		{"no main module", "", app + "/domain", []string{"google.golang.org/protobuf"}, false},
		{"no main module: package main", "", "main", nil, true},
	} {
		if got := owns(tc.main, tc.deps, tc.pkg); got != tc.own {
			t.Errorf("%s: owns(%q, %q, %q) = %v, want %v", tc.name, tc.main, tc.deps, tc.pkg, got, tc.own)
		}
	}
}

// owns agrees with the rule told another way: walk the package's path up
// from itself, element by element, and the first module found there is
// the package's; it is own when that is the main module (or it is
// package main). The order of the dependencies does not matter, nor a
// module that does not hold the package.
func TestOwnsIsTheLongestModulePrefix(t *testing.T) {
	element := rapid.SampledFrom([]string{"a.com", "b", "api", "x", "x_test", "main"})
	path := rapid.Custom(func(t *rapid.T) string {
		return strings.Join(rapid.SliceOfN(element, 1, 4).Draw(t, "elements"), "/")
	})
	rapid.Check(t, func(t *rapid.T) {
		// Modules nest often: below the main module, or above it.
		extend := func(base, label string) string {
			tail := rapid.SliceOfN(element, 0, 2).Draw(t, label)
			return strings.Trim(base+"/"+strings.Join(tail, "/"), "/")
		}
		main := rapid.OneOf(rapid.Just(""), path).Draw(t, "main")
		var deps []string
		for range rapid.IntRange(0, 4).Draw(t, "modules") {
			d := path.Draw(t, "dep")
			switch rapid.IntRange(0, 2).Draw(t, "nesting") {
			case 1:
				d = extend(main, "below main")
			case 2:
				if at := strings.LastIndex(main, "/"); at > 0 {
					d = main[:at] // above main
				}
			}
			if d != "" && d != main && !slices.Contains(deps, d) {
				deps = append(deps, d)
			}
		}
		pkg := extend(rapid.SampledFrom(append([]string{main, path.Draw(t, "elsewhere")}, deps...)).Draw(t, "in"), "pkg")
		want := func() bool {
			p := strings.TrimSuffix(pkg, "_test")
			if p == "main" {
				return true // a program's package main, which no module can import
			}
			for at := p; at != ""; at = at[:max(strings.LastIndex(at, "/"), 0)] {
				if at == main {
					return true
				}
				if slices.Contains(deps, at) {
					return false
				}
			}
			return false
		}()
		if got := owns(main, deps, pkg); got != want {
			t.Fatalf("owns(%q, %q, %q) = %v, want %v", main, deps, pkg, got, want)
		}
		other := rapid.SampledFrom([]string{"z.net", "z.net/a.com", "b/zz"}).Draw(t, "other")
		if got := owns(main, append(rapid.Permutation(deps).Draw(t, "order"), other), pkg); got != want {
			t.Fatalf("owns(%q, reordered %q and %q, %q) = %v, want %v", main, deps, other, pkg, got, want)
		}
	})
}

// The modules are read from the build info as the go command writes it.
func TestModulesOf(t *testing.T) {
	devel := func(path string) *debug.Module { return &debug.Module{Path: path, Version: "(devel)"} }
	replaced := &debug.Module{Path: "example.com/app/api", Version: "v0.0.0", Replace: &debug.Module{Path: "./api"}}
	proto := &debug.Module{Path: "google.golang.org/protobuf", Version: "v1.36.0"}
	app := debug.Module{Path: "example.com/app", Version: "(devel)"}
	goMod := []byte(`// the app
module example.com/app // here

go 1.26

require example.com/app/api v0.0.0

require (
	"google.golang.org/protobuf" v1.36.0
	github.com/google/uuid v1.6.0 // indirect
)

replace example.com/app/api => ./api
`)
	for _, tc := range []struct {
		name  string
		bi    debug.BuildInfo
		goMod []byte // nil: not to be read
		want  modules
	}{
		{"go build", debug.BuildInfo{Path: "example.com/app", Main: app, Deps: []*debug.Module{replaced, proto}}, nil,
			modules{main: "example.com/app", deps: []string{"example.com/app/api", "google.golang.org/protobuf"}}},
		{"go run main.go", debug.BuildInfo{Path: "command-line-arguments", Deps: []*debug.Module{devel("example.com/app"), replaced, proto}}, nil,
			modules{main: "example.com/app", deps: []string{"example.com/app/api", "google.golang.org/protobuf"}}},
		{"go run main.go in a workspace", debug.BuildInfo{Path: "command-line-arguments", Deps: []*debug.Module{devel("example.com/app"), devel("example.com/app/api"), proto}}, nil,
			modules{main: "", deps: []string{"google.golang.org/protobuf", "example.com/app", "example.com/app/api"}}},
		{"a workspace", debug.BuildInfo{Path: "example.com/app", Main: app, Deps: []*debug.Module{devel("example.com/app/api"), proto}}, nil,
			modules{main: "example.com/app", deps: []string{"example.com/app/api", "google.golang.org/protobuf"}}},
		{"go test", debug.BuildInfo{Path: "example.com/app/domain.test", Main: app}, goMod,
			modules{main: "example.com/app", deps: []string{"example.com/app/api", "google.golang.org/protobuf", "github.com/google/uuid"}}},
		{"go test, run where another module is", debug.BuildInfo{Path: "example.com/app/domain.test", Main: app}, []byte("module example.com/other\nrequire example.com/app/api v0.0.0\n"),
			modules{main: "example.com/app", deps: nil}},
		{"go test, run outside a module", debug.BuildInfo{Path: "example.com/app/domain.test", Main: app}, []byte{},
			modules{main: "example.com/app", deps: nil}},
	} {
		read := func() ([]byte, string) {
			if tc.goMod == nil {
				t.Errorf("%s: go.mod read though the build info lists the dependencies", tc.name)
			}
			return tc.goMod, "/src/app"
		}
		got := modulesOf(&tc.bi, read)
		if got.main != tc.want.main || !slices.Equal(got.deps, tc.want.deps) {
			t.Errorf("%s: modulesOf = %+v, want %+v", tc.name, got, tc.want)
		}
		if wantRoot := tc.want.deps != nil && tc.goMod != nil; (got.root == "/src/app") != wantRoot {
			t.Errorf("%s: root %q; want the go.mod's directory only where the dependencies come from it", tc.name, got.root)
		}
	}
}

// In a test binary a module nested in the main module's directory (a
// workspace's, which the go.mod does not require) is found on disk.
func TestNestedModule(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{"api/v1", "domain/events"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "api", "go.mod"), []byte("module example.com/app/api\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for pkg, want := range map[string]bool{
		"example.com/app":               false,
		"example.com/app/domain":        false,
		"example.com/app/domain/events": false,
		"example.com/app/api":           true,
		"example.com/app/api/v1":        true,
		"example.com/app/api_test":      true,
		"example.com/other/api":         false,
	} {
		if got := nestedModule(root, "example.com/app", pkg); got != want {
			t.Errorf("nestedModule(%q) = %v, want %v", pkg, got, want)
		}
	}
}
