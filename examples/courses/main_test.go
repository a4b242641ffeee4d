package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// run prints what the package documentation says it prints.
func TestPrintsWhatTheDocumentationSays(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), "memory:", &out); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	in := false
	for line := range strings.Lines(string(doc)) {
		switch {
		case strings.HasPrefix(line, "//\t") && in:
			want.WriteString(strings.TrimPrefix(line, "//\t"))
		case strings.Contains(line, "On a new store it prints:"):
			in = true
		case in && strings.TrimSpace(line) == "//":
			if want.Len() > 0 {
				in = false
			}
		}
	}
	if want.Len() == 0 {
		t.Fatal(`doc.go shows no output after "On a new store it prints:"`)
	}
	if out.String() != want.String() {
		t.Fatalf("run printed:\n%s\ndoc.go says:\n%s", out.String(), want.String())
	}
}

// Every Go block of docs/dcb.md is this example's code, as it is.
func TestTheDocsShowThisCode(t *testing.T) {
	doc, err := os.ReadFile("../../docs/dcb.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources strings.Builder
	for _, dir := range []string{".", "../username"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".go") {
				b, err := os.ReadFile(dir + "/" + e.Name())
				if err != nil {
					t.Fatal(err)
				}
				sources.Write(b)
			}
		}
	}
	blocks := 0
	for rest := string(doc); ; {
		_, after, ok := strings.Cut(rest, "```go\n")
		if !ok {
			break
		}
		block, tail, _ := strings.Cut(after, "```\n")
		rest = tail
		blocks++
		if !strings.Contains(sources.String(), block) {
			t.Errorf("docs/dcb.md shows code that examples/courses and examples/username do not hold:\n%s", block)
		}
	}
	if blocks == 0 {
		t.Fatal("docs/dcb.md has no Go block")
	}
}
