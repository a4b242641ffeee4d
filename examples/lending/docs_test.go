package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlock is a Go block of a page, with the line before it.
var goBlock = regexp.MustCompile("(?m)^(.*)\n```go\n((?s:.*?))```$")

// Every Go block of docs/composition.md is a region of a file of this
// example, named on the line before it, so that the page shows code that
// compiles and runs in these tests.
func TestCompositionPageShowsThisExample(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "composition.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllStringSubmatch(string(page), -1)
	if len(blocks) == 0 {
		t.Fatal("docs/composition.md has no Go block")
	}
	from := regexp.MustCompile(`^<!-- from examples/lending/(\S+\.go) -->$`)
	for i, b := range blocks {
		m := from.FindStringSubmatch(b[1])
		if m == nil {
			t.Errorf("block %d is not preceded by <!-- from examples/lending/FILE -->, but by %q", i+1, b[1])
			continue
		}
		src, err := os.ReadFile(filepath.FromSlash(m[1]))
		if err != nil {
			t.Errorf("block %d: %v", i+1, err)
			continue
		}
		if !strings.Contains(string(src), b[2]) {
			t.Errorf("block %d is not a region of %s:\n%s", i+1, m[1], b[2])
		}
	}
}
