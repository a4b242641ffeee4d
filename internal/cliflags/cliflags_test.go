package cliflags

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestFlagsEndAtDoubleDashWhereverItComes(t *testing.T) {
	for _, c := range []struct {
		args    []string
		name    string
		yes     bool
		wantPos []string
	}{
		{args: []string{"reset", "-yes", "ledger", "5"}, name: "reset", wantPos: []string{"ledger", "5"}, yes: true},
		{args: []string{"-yes", "reset", "ledger", "5"}, name: "reset", wantPos: []string{"ledger", "5"}, yes: true},
		{args: []string{"reset", "-yes", "--", "ledger", "-1"}, name: "reset", wantPos: []string{"ledger", "-1"}, yes: true},
		{args: []string{"-yes", "--", "reset", "ledger", "-1"}, name: "reset", wantPos: []string{"ledger", "-1"}, yes: true},
		{args: []string{"--", "reset", "-yes"}, name: "reset", wantPos: []string{"-yes"}},
		{args: []string{"-yes"}, name: ""},
		{args: []string{"--"}, name: ""},
		// "--" as a flag's value ends nothing.
		{args: []string{"-store", "--", "reset", "-yes", "ledger"}, name: "reset", wantPos: []string{"ledger"}, yes: true},
		{args: []string{"reset", "-store", "--", "-yes", "ledger"}, name: "reset", wantPos: []string{"ledger"}, yes: true},
		// A negative number is an argument, for the command to judge,
		// unless it is a flag's value.
		{args: []string{"reset", "-yes", "ledger", "-1"}, name: "reset", wantPos: []string{"ledger", "-1"}, yes: true},
		{args: []string{"reset", "ledger", "-1", "-yes"}, name: "reset", wantPos: []string{"ledger", "-1"}, yes: true},
		{args: []string{"reset", "-2.5", "-store", "-3", "x"}, name: "reset", wantPos: []string{"-2.5", "x"}},
	} {
		var yes bool
		var store string
		top := flag.NewFlagSet("top", flag.ContinueOnError)
		top.SetOutput(io.Discard)
		top.BoolVar(&yes, "yes", false, "")
		top.StringVar(&store, "store", "", "")
		name, rest, err := Leading(top, c.args)
		if err != nil || name != c.name {
			t.Errorf("Leading(%q) = %q, %q, %v; want the command %q", c.args, name, rest, err, c.name)
			continue
		}
		if name == "" {
			continue
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.BoolVar(&yes, "yes", yes, "")
		fs.StringVar(&store, "store", store, "")
		pos, err := Interleaved(fs, rest)
		if err != nil || !slices.Equal(pos, c.wantPos) || yes != c.yes {
			t.Errorf("%q: arguments %q, -yes %v, %v; want %q, -yes %v", c.args, pos, yes, err, c.wantPos, c.yes)
		}
	}
}

func TestAsksJSON(t *testing.T) {
	for args, want := range map[string]bool{
		"head":                       false,
		"-json head":                 true,
		"head --json":                true,
		"head -json=true":            true,
		"head -json=false":           false,
		"stream -- -json":            false,
		"stream -from x -json dog-1": true,
		"stream -jsonx dog-1":        false,
		"head -json=T":               true,
		"head -json -json=false":     false,
	} {
		if got := AsksJSON(strings.Fields(args)); got != want {
			t.Errorf("AsksJSON(%s) = %v, want %v", args, got, want)
		}
	}
}

func TestAFlagWithoutItsValueIsRefusedNotGivenTheNextFlag(t *testing.T) {
	for _, c := range []struct {
		args    []string
		refused bool
		wantPos []string
		from    string
	}{
		{args: []string{"-from", "-to", "x"}, refused: true},
		{args: []string{"-from", "--to=x"}, refused: true},
		{args: []string{"a", "-to", "-json"}, refused: true},
		{args: []string{"-from", "a", "-to", "b"}, wantPos: []string{}, from: "a"},
		{args: []string{"-from=-to", "x"}, wantPos: []string{"x"}, from: "-to"},
		{args: []string{"-from", "-notaflag"}, wantPos: []string{}, from: "-notaflag"},
		{args: []string{"--", "-from", "-to"}, wantPos: []string{"-from", "-to"}},
	} {
		var from, to string
		var asJSON bool
		fs := flag.NewFlagSet("copy", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.StringVar(&from, "from", "", "")
		fs.StringVar(&to, "to", "", "")
		fs.BoolVar(&asJSON, "json", false, "")
		pos, err := Interleaved(fs, c.args)
		if c.refused {
			if err == nil || !strings.Contains(err.Error(), "was given no value") {
				t.Errorf("Interleaved(%q) = %q, %v; want it refused", c.args, pos, err)
			}
			continue
		}
		if err != nil || !slices.Equal(pos, c.wantPos) || from != c.from {
			t.Errorf("Interleaved(%q) = %q, -from %q, %v; want %q, -from %q", c.args, pos, from, err, c.wantPos, c.from)
		}
	}
	top := flag.NewFlagSet("top", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	top.String("store", "", "")
	top.Bool("json", false, "")
	if _, _, err := Leading(top, []string{"-store", "-json", "lag"}); err == nil {
		t.Error("Leading gave -store the flag -json as its value")
	}
}
