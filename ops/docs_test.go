package ops_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlock is a Go code block of the docs and the line before it.
var goBlock = regexp.MustCompile("(?m)^(.*)\n```go\n((?s:.*?))```$")

// fromFile names the file a code block is copied from.
var fromFile = regexp.MustCompile(`^<!-- from (\S+) -->$`)

// Each Go code block of docs/operations.md is a verbatim copy of whole
// lines of a file that compiles (in this module or the otel modules),
// named by the line before it.
func TestOperationsDocCodeIsCopiedFromCompiledFiles(t *testing.T) {
	root := filepath.Join("..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) == 0 {
		t.Fatal("docs/operations.md has no Go code block to check")
	}
	for _, b := range blocks {
		from := fromFile.FindStringSubmatch(b[1])
		if from == nil {
			t.Errorf("a Go block is not preceded by <!-- from PATH -->; it follows %q", b[1])
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(from[1])))
		if err != nil {
			t.Errorf("the block from %s: %v", from[1], err)
			continue
		}
		if !strings.HasSuffix(from[1], ".go") || !strings.Contains("\n"+string(src), "\n"+b[2]) {
			t.Errorf("the block from %s is not a copy of whole lines of it:\n%s", from[1], b[2])
		}
	}
}
