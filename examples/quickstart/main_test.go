package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// The README shows main.go as it is: the first Go block after the "Quick
// start" heading must be this file, byte for byte.
func TestReadmeShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Quick start\n")
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal("the README's quick start has no ```go block")
	}
	block, _, ok = strings.Cut(block, "```\n")
	if !ok {
		t.Fatal("the README's quick start block is not closed")
	}
	program, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if block != string(program) {
		t.Fatalf("the README's quick start and examples/quickstart/main.go differ; copy one onto the other\nREADME:\n%s\nmain.go:\n%s", block, program)
	}
}

// main prints what the comment on its Println line says it prints.
func TestPrintsWhatItSays(t *testing.T) {
	program, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for line := range strings.Lines(string(program)) {
		if strings.Contains(line, "fmt.Println(") {
			_, want, _ = strings.Cut(line, "// ")
		}
	}
	if want == "" {
		t.Fatal("main.go has no fmt.Println line with a comment saying what it prints")
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	main()
	os.Stdout = stdout
	w.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("main printed %q; the comment says %q", got, want)
	}
}

func Example() {
	main()
	// Output: 42 2
}
