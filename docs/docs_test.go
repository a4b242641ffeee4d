// Package docs_test keeps the Go in the module's Markdown files compiling.
//
// Every fenced code block of every Markdown file of the module (README.md,
// docs/*.md and any other) says what it holds after its opening fence
// (go, sh, text, json…), so that no Go hides in a block without a
// language. A Go block is a copy of Go code that `go test ./...` compiles,
// named by a comment on the line just before its fence, by its path from
// the module root:
//
//	<!-- from: examples/quickstart/main.go -->               the whole file
//	<!-- from: example_sql_test.go#sqlite -->                 a region of it
//	<!-- from: a_test.go#imports a_test.go#open -->           regions, a blank line between
//
// A region is the lines between "// docs:begin NAME" and "// docs:end NAME"
// in a Go file, less their common indentation, blank lines at either end
// and the markers of other regions inside it. The named file must be one that `go test ./...`
// builds: in this module, outside testdata and directories whose names
// start with "." or "_", with no build constraint that excludes it.
//
// TestGoBlocks fails, naming the Markdown file and line, for a Go block
// without such a comment or that differs from what it names, and, naming
// the Go file and line, for a region that no block shows. After changing
// a region,
//
//	go test ./docs -update
//
// copies every named source onto its block.
//
// TestArchitectureLayers checks the figure of docs/architecture.md that
// follows "<!-- layers -->": each package of the module is on one line,
// and imports only packages on lines below its own (or in internal/).
package docs_test

import (
	"errors"
	"flag"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "copy the Go each Markdown block names onto the block")

func TestGoBlocks(t *testing.T) {
	root := moduleRoot(t)
	fsys := os.DirFS(root)
	res := check(fsys)
	if res.goBlocks == 0 {
		t.Fatalf("found no Go block in the Markdown files under %s: the test checked nothing", root)
	}
	if *update {
		for name, data := range res.rewrites {
			if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(name)), data, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the Go blocks of %s", name)
		}
		res = check(fsys)
	}
	for _, p := range res.problems {
		t.Error(p)
	}
	t.Logf("%d Go blocks in %d Markdown files, each a copy of compiled Go", res.goBlocks, res.markdownFiles)
}

// The checker refuses every way around it that a writer might take by
// mistake.
func TestGoBlocksCheckerRefuses(t *testing.T) {
	const good = "package p\n\nfunc F() {\n\t// docs:begin f\n\tx := 1\n\t_ = x\n\t// docs:end f\n}\n"
	const fence = "```"
	cases := []struct {
		name   string
		files  fstest.MapFS
		want   string // a part of the one problem reported; "" for none
		blocks int
	}{
		{
			name:   "a copy of a region",
			files:  mapFS("a.go", good, "README.md", "<!-- from: a.go#f -->\n"+fence+"go\nx := 1\n_ = x\n"+fence+"\n"),
			blocks: 1,
		},
		{
			name:   "a copy of a whole file",
			files:  mapFS("a.go", "package p\n", "README.md", "<!-- from: a.go -->\n"+fence+"go\npackage p\n"+fence+"\n"),
			blocks: 1,
		},
		{
			name:   "two regions joined",
			files:  mapFS("a.go", good+"\n// docs:begin g\nvar G = 2\n// docs:end g\n", "README.md", "<!-- from: a.go#f a.go#g -->\n"+fence+"go\nx := 1\n_ = x\n\nvar G = 2\n"+fence+"\n"),
			blocks: 1,
		},
		{
			name:  "a Go block naming nothing",
			files: mapFS("docs/x.md", "intro\n\n"+fence+"go\nx := 1\n"+fence+"\n"),
			want:  "docs/x.md:3: this Go block names no compiled Go",
		},
		{
			name:  "a block without a language",
			files: mapFS("README.md", fence+"\nx := 1\n"+fence+"\n"),
			want:  "README.md:1: this code block does not say what it holds",
		},
		{
			name:  "an indented fence",
			files: mapFS("README.md", "- item\n\n   ~~~golang\n   x := 1\n   ~~~\n"),
			want:  "README.md:3: this Go block names no compiled Go",
		},
		{
			name:  "a block that drifted from its region",
			files: mapFS("a.go", good, "README.md", "<!-- from: a.go#f -->\n"+fence+"go\nx := 2\n_ = x\n"+fence+"\n"),
			want:  "README.md:2: this Go block differs from a.go#f at its line 1",
		},
		{
			name:  "a region that does not exist",
			files: mapFS("a.go", "package p\n", "README.md", "<!-- from: a.go#g -->\n"+fence+"go\nx\n"+fence+"\n"),
			want:  `a.go has no region "g"`,
		},
		{
			name:  "a file the build ignores",
			files: mapFS("a.go", "//go:build ignore\n\npackage p\n", "README.md", "<!-- from: a.go -->\n"+fence+"go\npackage p\n"+fence+"\n"),
			want:  "a.go is not built by go test ./...",
		},
		{
			name:  "a file in testdata",
			files: mapFS("testdata/a.go", "package p\n", "README.md", "<!-- from: testdata/a.go -->\n"+fence+"go\npackage p\n"+fence+"\n"),
			want:  "testdata/a.go is not built by go test ./...",
		},
		{
			name:  "a file of a nested module",
			files: mapFS("sub/go.mod", "module x\n", "sub/a.go", "package p\n", "README.md", "<!-- from: sub/a.go -->\n"+fence+"go\npackage p\n"+fence+"\n"),
			want:  "sub/a.go is not built by go test ./...",
		},
		{
			name:   "a file of a nested module that .ci/run tests",
			files:  mapFS("sub/go.mod", "module x\n", "sub/a.go", "package p\n", ".ci/run", "(cd sub && go vet ./... && go test ./...)\n", "README.md", "<!-- from: sub/a.go -->\n"+fence+"go\npackage p\n"+fence+"\n"),
			blocks: 1,
		},
		{
			name:  "a file that is not Go",
			files: mapFS("a.txt", "x\n", "README.md", "<!-- from: a.txt -->\n"+fence+"go\nx\n"+fence+"\n"),
			want:  "a.txt is not a Go file",
		},
		{
			name:  "a comment before a block that is not Go",
			files: mapFS("a.go", "package p\n", "README.md", "<!-- from: a.go -->\n"+fence+"sh\nls\n"+fence+"\n"),
			want:  "README.md:1: this from comment is not followed by a Go block",
		},
		{
			name:   "a region no block shows",
			files:  mapFS("a.go", good, "README.md", "# nothing\n"),
			want:   "a.go:4: region \"f\" is shown by no Markdown block",
			blocks: 0,
		},
		{
			name:  "a region left open",
			files: mapFS("a.go", "package p\n\n// docs:begin f\nvar F = 1\n", "README.md", "# nothing\n"),
			want:  `a.go:3: region "f" has no "// docs:end f"`,
		},
		{
			name:  "an unclosed block",
			files: mapFS("README.md", fence+"go\nx := 1\n"),
			want:  "README.md:1: this code block is never closed",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := check(c.files)
			if c.want == "" {
				if len(res.problems) > 0 {
					t.Fatalf("problems: %q", res.problems)
				}
				if res.goBlocks != c.blocks {
					t.Fatalf("%d Go blocks, want %d", res.goBlocks, c.blocks)
				}
				return
			}
			if len(res.problems) != 1 || !strings.Contains(res.problems[0], c.want) {
				t.Fatalf("problems: %q\nwant one that contains %q", res.problems, c.want)
			}
		})
	}
}

// -update copies the named Go onto a block that drifted, keeping the
// block's indentation.
func TestGoBlocksUpdate(t *testing.T) {
	const fence = "```"
	files := mapFS(
		"a.go", "package p\n\nfunc F() {\n\t// docs:begin f\n\tx := 1\n\n\t_ = x\n\t// docs:end f\n}\n",
		"README.md", "1. Step:\n   <!-- from: a.go#f -->\n   "+fence+"go\n   old\n   "+fence+"\n",
	)
	res := check(files)
	got := string(res.rewrites["README.md"])
	want := "1. Step:\n   <!-- from: a.go#f -->\n   " + fence + "go\n   x := 1\n\n   _ = x\n   " + fence + "\n"
	if got != want {
		t.Fatalf("rewrote README.md as\n%s\nwant\n%s", got, want)
	}
	files["README.md"].Data = []byte(got)
	if res := check(files); len(res.problems) > 0 {
		t.Fatalf("after the rewrite: %q", res.problems)
	}
}

func mapFS(nameData ...string) fstest.MapFS {
	m := fstest.MapFS{"go.mod": {Data: []byte("module example.com/m\n")}}
	for i := 0; i < len(nameData); i += 2 {
		m[nameData[i]] = &fstest.MapFile{Data: []byte(nameData[i+1])}
	}
	return m
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// result is what check found.
type result struct {
	problems      []string
	rewrites      map[string][]byte // Markdown files with each Go block copied from its source
	goBlocks      int
	markdownFiles int
}

// region is a marked part of a Go file.
type region struct {
	file  string
	name  string
	line  int // of the begin marker, 1-based
	text  string
	shown bool
}

var (
	fenceOpen  = regexp.MustCompile("^([ \t]*)(`{3,}|~{3,})[ \t]*(.*)$")
	fromLine   = regexp.MustCompile(`^\s*<!--\s*from:\s*(.*?)\s*-->\s*$`)
	fromAny    = regexp.MustCompile(`<!--\s*from:`)
	markerLine = regexp.MustCompile(`^\s*//\s*docs:(begin|end)\s+(\S+)\s*$`)
)

// check checks the Markdown files of the module in fsys, whose root holds
// its go.mod.
func check(fsys fs.FS) result {
	var res result
	regions := map[string]map[string]*region{} // file → name → region
	var markdown, goFiles []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (d.Name() == ".git" || d.Name() == "node_modules") {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".md"):
			markdown = append(markdown, p)
		case strings.HasSuffix(p, ".go"):
			goFiles = append(goFiles, p)
		}
		return nil
	})
	if err != nil {
		res.problems = append(res.problems, err.Error())
		return res
	}
	for _, p := range goFiles {
		rs, probs := readRegions(fsys, p)
		res.problems = append(res.problems, probs...)
		if len(rs) > 0 {
			regions[p] = rs
		}
	}
	res.rewrites = map[string][]byte{}
	for _, p := range markdown {
		res.markdownFiles++
		n, rewrite, probs := checkMarkdown(fsys, p, regions)
		res.goBlocks += n
		res.problems = append(res.problems, probs...)
		if rewrite != nil {
			res.rewrites[p] = rewrite
		}
	}
	for _, file := range slices.Sorted(maps.Keys(regions)) {
		for _, name := range slices.Sorted(maps.Keys(regions[file])) {
			if r := regions[file][name]; !r.shown {
				res.problems = append(res.problems, fmt.Sprintf("%s:%d: region %q is shown by no Markdown block; show it (<!-- from: %s#%s --> before a Go block) or remove its markers", file, r.line, name, file, name))
			}
		}
	}
	return res
}

// readRegions returns the regions marked in a Go file.
func readRegions(fsys fs.FS, file string) (map[string]*region, []string) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, []string{err.Error()}
	}
	var probs []string
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	found := map[string]*region{}
	open := map[string]int{} // name → index of its begin marker
	for i, l := range lines {
		m := markerLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		name := m[2]
		if m[1] == "begin" {
			if _, dup := found[name]; dup {
				probs = append(probs, fmt.Sprintf("%s:%d: region %q is marked twice in the file", file, i+1, name))
				continue
			}
			if _, dup := open[name]; dup {
				probs = append(probs, fmt.Sprintf("%s:%d: region %q begins again before it ends", file, i+1, name))
				continue
			}
			open[name] = i
			continue
		}
		begin, ok := open[name]
		if !ok {
			probs = append(probs, fmt.Sprintf("%s:%d: %q ends a region that did not begin", file, i+1, l))
			continue
		}
		delete(open, name)
		var body []string
		for _, bl := range lines[begin+1 : i] {
			if !markerLine.MatchString(bl) {
				body = append(body, bl)
			}
		}
		found[name] = &region{file: file, name: name, line: begin + 1, text: dedent(body)}
	}
	for name, begin := range open {
		probs = append(probs, fmt.Sprintf("%s:%d: region %q has no \"// docs:end %s\"", file, begin+1, name, name))
	}
	slices.Sort(probs)
	return found, probs
}

// dedent joins lines, less the indentation that all non-blank ones share
// and less blank lines at either end.
func dedent(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	prefix := ""
	first := true
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			prefix, first = indent, false
			continue
		}
		for !strings.HasPrefix(indent, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			b.WriteString(strings.TrimPrefix(l, prefix))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// checkMarkdown checks the code blocks of one Markdown file and returns
// how many are Go, the file with each Go block copied from its source
// when one differs, and the problems.
func checkMarkdown(fsys fs.FS, file string, regions map[string]map[string]*region) (int, []byte, []string) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return 0, nil, []string{err.Error()}
	}
	var probs []string
	lines := strings.Split(string(data), "\n")
	out := make([]string, 0, len(lines))
	changed := false
	goBlocks := 0
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		m := fenceOpen.FindStringSubmatch(l)
		if m == nil {
			if fromAny.MatchString(l) && !(i+1 < len(lines) && isGoFence(lines[i+1])) {
				probs = append(probs, fmt.Sprintf("%s:%d: this from comment is not followed by a Go block on the next line", file, i+1))
			}
			out = append(out, l)
			continue
		}
		indent, fence, info := m[1], m[2], strings.Fields(m[3])
		end := -1
		for j := i + 1; j < len(lines); j++ {
			if c := strings.TrimSpace(lines[j]); strings.HasPrefix(c, fence) && strings.Trim(c, fence[:1]) == "" {
				end = j
				break
			}
		}
		if end < 0 {
			probs = append(probs, fmt.Sprintf("%s:%d: this code block is never closed", file, i+1))
			out = append(out, lines[i:]...)
			break
		}
		out = append(out, l)
		body := lines[i+1 : end]
		if len(info) == 0 {
			probs = append(probs, fmt.Sprintf("%s:%d: this code block does not say what it holds: write %sgo (then name its source), %ssh, %stext…", file, i+1, fence, fence, fence))
		}
		if len(info) == 0 || !isGo(info[0]) {
			out = append(out, body...)
			out = append(out, lines[end])
			i = end
			continue
		}
		goBlocks++
		var sources []string
		if i > 0 {
			if fm := fromLine.FindStringSubmatch(lines[i-1]); fm != nil {
				sources = strings.Fields(fm[1])
			}
		}
		want, err := source(fsys, sources, regions)
		switch {
		case len(sources) == 0:
			probs = append(probs, fmt.Sprintf("%s:%d: this Go block names no compiled Go: copy it from a Go file that go test ./... builds, and write <!-- from: path/file.go --> or <!-- from: path/file.go#region --> on the line before it (see docs/docs_test.go)", file, i+1))
		case err != nil:
			probs = append(probs, fmt.Sprintf("%s:%d: %v", file, i+1, err))
		default:
			got := make([]string, len(body))
			for k, bl := range body {
				got[k] = strings.TrimPrefix(bl, indent)
			}
			wantLines := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
			if d := firstDifference(got, wantLines); d >= 0 {
				probs = append(probs, fmt.Sprintf("%s:%d: this Go block differs from %s at its line %d:\n\tblock:  %q\n\tsource: %q\nrun go test ./docs -update to copy the source onto the block", file, i+1, strings.Join(sources, " "), d+1, lineAt(got, d), lineAt(wantLines, d)))
				changed = true
				for _, wl := range wantLines {
					if wl == "" {
						out = append(out, "")
					} else {
						out = append(out, indent+wl)
					}
				}
				out = append(out, lines[end])
				i = end
				continue
			}
		}
		out = append(out, body...)
		out = append(out, lines[end])
		i = end
	}
	if !changed {
		return goBlocks, nil, probs
	}
	return goBlocks, []byte(strings.Join(out, "\n")), probs
}

func isGo(lang string) bool {
	return strings.EqualFold(lang, "go") || strings.EqualFold(lang, "golang")
}

func isGoFence(l string) bool {
	m := fenceOpen.FindStringSubmatch(l)
	if m == nil {
		return false
	}
	info := strings.Fields(m[3])
	return len(info) > 0 && isGo(info[0])
}

func firstDifference(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(the end)"
}

// source returns the Go that sources name, joined by blank lines, after
// checking that each is built by go test ./....
func source(fsys fs.FS, sources []string, regions map[string]map[string]*region) (string, error) {
	var parts []string
	for _, src := range sources {
		file, name, hasRegion := strings.Cut(src, "#")
		if err := built(fsys, file); err != nil {
			return "", err
		}
		if !hasRegion {
			data, err := fs.ReadFile(fsys, file)
			if err != nil {
				return "", err
			}
			parts = append(parts, string(data))
			continue
		}
		r := regions[file][name]
		if r == nil {
			return "", fmt.Errorf("%s has no region %q: mark it with // docs:begin %s and // docs:end %s", file, name, name, name)
		}
		r.shown = true
		parts = append(parts, r.text)
	}
	return strings.Join(parts, "\n"), nil
}

// built checks that file is a Go file that go test ./... run at the
// module's root compiles.
func built(fsys fs.FS, file string) error {
	if !fs.ValidPath(file) || file == "." {
		return fmt.Errorf("%q is not a path from the module root", file)
	}
	if !strings.HasSuffix(file, ".go") {
		return fmt.Errorf("%s is not a Go file", file)
	}
	if _, err := fs.Stat(fsys, file); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	notBuilt := func(why string) error {
		return fmt.Errorf("%s is not built by go test ./... (%s): show Go from a file that is", file, why)
	}
	dir := path.Dir(file)
	for d := dir; d != "."; d = path.Dir(d) {
		base := path.Base(d)
		if base == "testdata" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
			return notBuilt("the go command ignores the directory " + d)
		}
		if _, err := fs.Stat(fsys, path.Join(d, "go.mod")); err == nil && !ciTests(fsys, d) {
			return notBuilt(d + " is a module of its own, which .ci/run does not test")
		}
	}
	ctxt := build.Default
	ctxt.JoinPath = path.Join
	ctxt.OpenFile = func(p string) (io.ReadCloser, error) { return fsys.Open(p) }
	ok, err := ctxt.MatchFile(dir, path.Base(file))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if !ok {
		return notBuilt("its name or build constraints exclude it")
	}
	return nil
}

// sameApplication reports whether two packages belong to one example
// application (examples/NAME/…).
func sameApplication(a, b string) bool {
	app := func(p string) string {
		parts := strings.SplitN(p, "/", 3)
		if len(parts) < 2 || parts[0] != "examples" {
			return ""
		}
		return parts[1]
	}
	return app(a) != "" && app(a) == app(b)
}

// ciTests reports whether .ci/run vets and tests the nested module in
// dir, as it does the otel module, so that its Go is compiled too.
func ciTests(fsys fs.FS, dir string) bool {
	run, err := fs.ReadFile(fsys, ".ci/run")
	return err == nil && strings.Contains(string(run), "(cd "+dir+" && go vet ./... && go test")
}

// TestArchitectureLayers checks the layers that docs/architecture.md
// draws against the imports of the module's packages.
func TestArchitectureLayers(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, figure, ok := strings.Cut(string(doc), "<!-- layers -->\n")
	if !ok {
		t.Fatal(`docs/architecture.md has no "<!-- layers -->" before its figure of layers`)
	}
	if !fenceOpen.MatchString(strings.SplitN(figure, "\n", 2)[0]) {
		t.Fatal(`the line after "<!-- layers -->" in docs/architecture.md does not open a code block`)
	}
	lines := strings.Split(figure, "\n")[1:]
	type place struct {
		line  int
		label string
	}
	exact := map[string]place{}    // package path from the root ("." for annals) → its line
	prefixes := map[string]place{} // "examples/" → its line
	for i, l := range lines {
		if fenceOpen.MatchString(l) {
			lines = lines[:i]
			break
		}
		fields := strings.Fields(l)
		if len(fields) < 2 {
			t.Fatalf("docs/architecture.md: the layers line %q names no package", l)
		}
		for _, f := range fields[1:] {
			p := place{i, fields[0]}
			switch {
			case f == "annals":
				exact["."] = p
			case strings.HasSuffix(f, "/…"):
				prefixes[strings.TrimSuffix(f, "…")] = p
			default:
				exact[f] = p
			}
		}
	}
	where := func(pkg string) (place, bool) {
		if p, ok := exact[pkg]; ok {
			return p, true
		}
		for prefix, p := range prefixes {
			if strings.HasPrefix(pkg, prefix) {
				return p, true
			}
		}
		return place{}, false
	}
	name := func(pkg string) string {
		if pkg == "." {
			return "annals"
		}
		return pkg
	}

	const module = "github.com/annals-dev/annals"
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, dir)
		rel = filepath.ToSlash(rel)
		base := d.Name()
		if rel != "." && (base == "testdata" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
			return fs.SkipDir
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && rel != "." {
			return fs.SkipDir
		}
		pkg, err := build.Default.ImportDir(dir, 0)
		if err != nil {
			var none *build.NoGoError
			if errors.As(err, &none) {
				return nil
			}
			return err
		}
		if len(pkg.GoFiles) == 0 || rel == "internal" || strings.HasPrefix(rel, "internal/") {
			return nil // tests only, or a helper of the module's own
		}
		seen[rel] = true
		at, ok := where(rel)
		if !ok {
			t.Errorf("package %s is on no line of the layers in docs/architecture.md: add it where its imports put it", name(rel))
			return nil
		}
		for _, imp := range pkg.Imports {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok || (dep != "" && dep[0] != '/') {
				continue
			}
			dep = strings.TrimPrefix(dep, "/")
			if dep == "" {
				dep = "."
			}
			if dep == "internal" || strings.HasPrefix(dep, "internal/") {
				continue
			}
			if sameApplication(rel, dep) {
				continue // an example's own packages, which it layers itself
			}
			depAt, ok := where(dep)
			if ok && depAt.line <= at.line {
				t.Errorf("docs/architecture.md: %s (%s) imports %s (%s), which is not on a line below it: move one of them, or the import", name(rel), at.label, name(dep), depAt.label)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range exact {
		if !seen[pkg] {
			t.Errorf("docs/architecture.md: the layers name %s, which is not a package of the module", name(pkg))
		}
	}
	if len(seen) == 0 {
		t.Fatal("found no package: the test checked nothing")
	}
}
