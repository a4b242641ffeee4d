package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/samber/lo"
)

// The Go blocks of docs/composition.md follow the module's convention
// for Markdown: a block is a copy of compiled Go, named on the line
// before its fence by its path from the module root and a region,
//
//	<!-- from: examples/lending/lending/desk.go#stored -->
//
// the lines between "// docs:begin stored" and "// docs:end stored", less
// their common indentation, the blank lines at either end and the
// markers of other regions.
var (
	goBlock    = regexp.MustCompile("(?m)^(.*)\n```go\n((?s:.*?))```$")
	fromLine   = regexp.MustCompile(`^\s*<!--\s*from:\s*(.*?)\s*-->\s*$`)
	markerLine = regexp.MustCompile(`^\s*//\s*docs:(begin|end)\s+(\S+)\s*$`)
)

// region returns the region name of a Go file's lines, and whether the
// file has it.
func region(lines []string, name string) (string, bool) {
	begin := lo.IndexOf(lo.Map(lines, func(l string, _ int) string { return markerName(l, "begin") }), name)
	end := lo.IndexOf(lo.Map(lines, func(l string, _ int) string { return markerName(l, "end") }), name)
	if begin < 0 || end < begin {
		return "", false
	}
	body := lo.Reject(lines[begin+1:end], func(l string, _ int) bool { return markerLine.MatchString(l) })
	blank := func(l string) bool { return strings.TrimSpace(l) == "" }
	body = lo.DropWhile(lo.DropRightWhile(body, blank), blank)
	indent := lo.Min(lo.FilterMap(body, func(l string, _ int) (int, bool) {
		return len(l) - len(strings.TrimLeft(l, " \t")), !blank(l)
	}))
	return strings.Join(lo.Map(body, func(l string, _ int) string {
		if blank(l) {
			return ""
		}
		return l[indent:]
	}), "\n") + "\n", true
}

func markerName(line, kind string) string {
	if m := markerLine.FindStringSubmatch(line); m != nil && m[1] == kind {
		return m[2]
	}
	return ""
}

// Every Go block of docs/composition.md is a region of a file of this
// example, so that the page shows code that compiles and runs in these
// tests, and every region of the example is shown.
func TestCompositionPageShowsThisExample(t *testing.T) {
	root := filepath.Join("..", "..")
	page, err := os.ReadFile(filepath.Join(root, "docs", "composition.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllStringSubmatch(string(page), -1)
	if len(blocks) == 0 {
		t.Fatal("docs/composition.md has no Go block")
	}
	shown := map[string]bool{}
	for i, b := range blocks {
		m := fromLine.FindStringSubmatch(b[1])
		if m == nil {
			t.Errorf("Go block %d is not preceded by <!-- from: examples/lending/FILE#REGION -->, but by %q", i+1, b[1])
			continue
		}
		var want []string
		for _, ref := range strings.Fields(m[1]) {
			file, name, _ := strings.Cut(ref, "#")
			if !strings.HasPrefix(file, "examples/lending/") || !strings.HasSuffix(file, ".go") {
				t.Errorf("Go block %d names %s, not a Go file of this example", i+1, ref)
				continue
			}
			src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
			if err != nil {
				t.Errorf("Go block %d: %v", i+1, err)
				continue
			}
			text, ok := string(src), true
			if name != "" {
				text, ok = region(strings.Split(string(src), "\n"), name)
			}
			if !ok {
				t.Errorf("Go block %d names region %q, which %s does not mark", i+1, name, file)
			}
			want = append(want, text)
			shown[ref] = true
		}
		if got := b[2]; got != strings.Join(want, "\n") {
			t.Errorf("Go block %d is not a copy of %s:\n%s\nwant:\n%s", i+1, m[1], got, strings.Join(want, "\n"))
		}
	}
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		src, err := os.ReadFile(path)
		for _, line := range strings.Split(string(src), "\n") {
			if name := markerName(line, "begin"); name != "" && !shown["examples/lending/"+filepath.ToSlash(path)+"#"+name] {
				t.Errorf("%s marks region %q, which docs/composition.md does not show", path, name)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
