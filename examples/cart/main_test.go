package main

import (
	"bytes"
	"context"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
)

// documentedOutput returns the block the package doc says main prints:
// the indented lines after "it prints:".
func documentedOutput(t *testing.T) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(f.Doc.Text(), "it prints:\n\n")
	if !ok {
		t.Fatal(`the package doc has no "it prints:" followed by the output`)
	}
	var out strings.Builder
	for line := range strings.Lines(rest) {
		text, indented := strings.CutPrefix(line, "\t")
		if !indented {
			break
		}
		out.WriteString(text)
	}
	if out.Len() == 0 {
		t.Fatal("the package doc shows no output")
	}
	return out.String()
}

// main, as go run runs it with no configuration, prints what the package
// doc says, the second time on the same store too; it says on standard
// error which store it opened and that the demo key protects nothing.
func TestMainPrintsWhatItsDocSays(t *testing.T) {
	want := documentedOutput(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.TempDir, where the default store lives
	t.Setenv(annals.EnvVar, "")
	t.Setenv(codec.CipherKeyEnv, "")
	t.Setenv(codec.CipherOldKeysEnv, "")

	for _, run := range []string{"first run", "second run"} {
		var out, log bytes.Buffer
		if err := runMain(&out, &log); err != nil {
			t.Fatalf("%s: %v\nstderr:\n%s", run, err, log.String())
		}
		if out.String() != want {
			t.Fatalf("%s printed:\n%s\nthe package doc says:\n%s", run, out.String(), want)
		}
		for _, w := range []string{
			"ANNALS_STORE is not set: using sqlite://" + filepath.Join(tmp, "annals-cart.db"),
			"WARNING: ANNALS_CIPHER_KEY is not set",
		} {
			if !strings.Contains(log.String(), w) {
				t.Errorf("%s: stderr lacks %q:\n%s", run, w, log.String())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "annals-cart.db")); err != nil {
		t.Fatalf("the default store: %v", err)
	}
}

// On the memory store main runs without the read model, and says so.
func TestMainOnMemory(t *testing.T) {
	t.Setenv(annals.EnvVar, "memory:")
	t.Setenv(codec.CipherKeyEnv, "")
	var out, log bytes.Buffer
	if err := runMain(&out, &log); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(documentedOutput(t), "store sqlite,", "store memory,", 1)
	want, _, _ = strings.Cut(want, "orders per customer")
	got, last, _ := strings.Cut(out.String(), "orders per customer")
	if got != want || !strings.Contains(last, "store memory has no SQL tables for read models") {
		t.Fatalf("printed:\n%s\nwant:\n%s\nand the store's reason why there is no read model", out.String(), want)
	}
}

// runMain runs main's body, as go run would, with its output captured.
func runMain(out, log *bytes.Buffer) error {
	return run(context.Background(), out, log, os.Getenv)
}
