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
