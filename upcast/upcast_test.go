package upcast_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/upcast"
)

// mark returns a step that appends its own label to the payload, so the
// result of a chain spells out exactly which steps ran, in which order.
func mark(label string) upcast.Func {
	return func(data []byte) ([]byte, error) {
		out := append([]byte(nil), data...) // never modify the input
		return append(out, "|"+label...), nil
	}
}

func targetOf(versions map[string]int) upcast.Target {
	return func(name string) (int, bool) {
		v, ok := versions[name]
		return v, ok
	}
}

// chain is a generated history of one type: versions 1..current, with a
// step from each version except those in missing. Before version renameAt
// the type was called "Old"; RenameAt moves Old v(renameAt) to New
// v(renameAt). Older names ("Oldest") reach Old by a name-wide Rename.
type chain struct {
	current  int
	renameAt int // 0: never renamed
	missing  map[int]bool
	r        *upcast.Registry
}

func (c chain) nameAt(v int) string {
	if c.renameAt > 0 && v < c.renameAt {
		return "Old"
	}
	return "New"
}

func drawChain(t *rapid.T, allSteps bool) chain {
	c := chain{current: rapid.IntRange(1, 8).Draw(t, "current"), missing: map[int]bool{}, r: upcast.New()}
	if rapid.Bool().Draw(t, "renamed") && c.current > 1 {
		c.renameAt = rapid.IntRange(2, c.current).Draw(t, "renameAt")
		c.r.Rename("Oldest", "Old")
	}
	for v := 1; v < c.current; v++ {
		if !allSteps && rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("drop step %d", v)) == 0 {
			c.missing[v] = true
			continue
		}
		c.r.Add(c.nameAt(v), v, mark(fmt.Sprint(v)))
	}
	if c.renameAt > 0 {
		c.r.RenameAt("Old", c.renameAt, "New", c.renameAt)
	}
	return c
}

// target is the code as it was when version was current: the type had
// the name it had then.
func (c chain) target(version int) upcast.Target {
	return targetOf(map[string]int{c.nameAt(version): version})
}

// want is the payload a chain must produce from version from to version
// to, or the first version without a step.
func (c chain) want(data []byte, from, to int) ([]byte, int) {
	out := append([]byte(nil), data...)
	for v := from; v < to; v++ {
		if c.missing[v] {
			return nil, v
		}
		out = append(out, fmt.Sprintf("|%d", v)...)
	}
	return out, 0
}

func TestChainsCompose(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawChain(t, true)
		a := rapid.IntRange(1, c.current).Draw(t, "a")
		b := rapid.IntRange(a, c.current).Draw(t, "b")
		data := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "data")
		stored := upcast.Payload{Type: c.nameAt(a), Version: a, Data: data}

		direct, err := c.r.Upcast(stored, c.target(c.current))
		if err != nil {
			t.Fatalf("upcast v%d → v%d: %v", a, c.current, err)
		}
		mid, err := c.r.Upcast(stored, c.target(b))
		if err != nil {
			t.Fatalf("upcast v%d → v%d: %v", a, b, err)
		}
		if mid.Version != b || mid.Type != c.nameAt(b) {
			t.Fatalf("upcast v%d → v%d stopped at %q v%d", a, b, mid.Type, mid.Version)
		}
		twoSteps, err := c.r.Upcast(mid, c.target(c.current))
		if err != nil {
			t.Fatalf("upcast v%d → v%d: %v", b, c.current, err)
		}
		if direct.Type != twoSteps.Type || direct.Version != twoSteps.Version || !bytes.Equal(direct.Data, twoSteps.Data) {
			t.Fatalf("v%d→v%d gave %q v%d %q; via v%d gave %q v%d %q",
				a, c.current, direct.Type, direct.Version, direct.Data, b, twoSteps.Type, twoSteps.Version, twoSteps.Data)
		}
		if want, _ := c.want(data, a, c.current); !bytes.Equal(direct.Data, want) {
			t.Fatalf("v%d→v%d gave %q, want %q", a, c.current, direct.Data, want)
		}
		if !bytes.Equal(stored.Data, data) {
			t.Fatalf("upcasting changed the stored payload to %q", stored.Data)
		}
	})
}

func TestRegistryNeverSkipsAVersion(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawChain(t, false)
		from := rapid.IntRange(1, c.current+2).Draw(t, "from")
		name := c.nameAt(from)
		if c.renameAt > 0 && name == "Old" && rapid.Bool().Draw(t, "oldest name") {
			name = "Oldest"
		}
		data := []byte("x")
		got, err := c.r.Upcast(upcast.Payload{Type: name, Version: from, Data: data}, c.target(c.current))

		if from > c.current {
			var ve *upcast.VersionError
			if !errors.Is(err, upcast.ErrSchemaVersion) || !errors.As(err, &ve) {
				t.Fatalf("v%d with current v%d: error %v, want a VersionError", from, c.current, err)
			}
			for _, part := range []string{fmt.Sprintf("%q", name), fmt.Sprint(from), fmt.Sprint(c.current), "newer"} {
				if !strings.Contains(err.Error(), part) {
					t.Fatalf("error %q does not mention %s", err, part)
				}
			}
			return
		}
		want, missing := c.want(data, from, c.current)
		if missing > 0 {
			if !errors.Is(err, upcast.ErrSchemaVersion) {
				t.Fatalf("v%d → v%d with no step from v%d: got %q v%d %q, %v; want ErrSchemaVersion", from, c.current, missing, got.Type, got.Version, got.Data, err)
			}
			parts := []string{fmt.Sprintf("%q", name), fmt.Sprintf("%q v%d", c.nameAt(missing), missing)}
			if c.nameAt(missing) == "New" {
				parts = append(parts, fmt.Sprintf("reads version %d", c.current))
			} else {
				parts = append(parts, `does not read "Old"`)
			}
			for _, part := range parts {
				if !strings.Contains(err.Error(), part) {
					t.Fatalf("error %q does not mention %s", err, part)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("v%d → v%d: %v", from, c.current, err)
		}
		if got.Type != "New" || got.Version != c.current || !bytes.Equal(got.Data, want) {
			t.Fatalf("v%d → v%d gave %q v%d %q, want \"New\" v%d %q", from, c.current, got.Type, got.Version, got.Data, c.current, want)
		}
	})
}

// A stored schema version below 1 is reported as invalid, not as a step
// to register: Add and RenameAt refuse such a version.
func TestInvalidStoredVersionIsNamed(t *testing.T) {
	current := targetOf(map[string]int{"W": 3})
	for name, r := range map[string]*upcast.Registry{
		"a type the code reads": upcast.New().Add("W", 1, mark("1")),
		"a renamed type":        upcast.New().Rename("Old", "W"),
		"an old name":           upcast.New().RenameAt("Old", 1, "W", 1),
	} {
		typ := "W"
		if name != "a type the code reads" {
			typ = "Old"
		}
		for _, version := range []int{0, -1} {
			_, err := r.Upcast(upcast.Payload{Type: typ, Version: version, Data: []byte("x")}, current)
			var ve *upcast.VersionError
			if !errors.Is(err, upcast.ErrSchemaVersion) || !errors.As(err, &ve) {
				t.Fatalf("%s, v%d: %v, want a VersionError", name, version, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprintf("stored schema version %d is invalid", version)) || !strings.Contains(msg, "starts at 1") ||
				strings.Contains(msg, "Add(") || strings.Contains(msg, "RenameAt") {
				t.Errorf("%s, v%d: %q, want it to say the stored version is invalid and not to advise a step from it", name, version, msg)
			}
		}
	}
}

func TestUnknownTypePassesThrough(t *testing.T) {
	r := upcast.New().Add("Known", 1, mark("1"))
	p := upcast.Payload{Type: "Stranger", Version: 3, Data: []byte("x")}
	got, err := r.Upcast(p, targetOf(map[string]int{"Known": 2}))
	if err != nil || got.Type != "Stranger" || got.Version != 3 || string(got.Data) != "x" {
		t.Fatalf("got %+v, %v; want the payload unchanged for the decoder to report", got, err)
	}
}

func TestNilTargetRunsEveryStep(t *testing.T) {
	r := upcast.New().Add("T", 1, mark("1")).Add("T", 2, mark("2")).Rename("S", "T")
	got, err := r.Upcast(upcast.Payload{Type: "S", Version: 1, Data: []byte("x")}, nil)
	if err != nil || got.Type != "T" || got.Version != 3 || string(got.Data) != "x|1|2" {
		t.Fatalf("got %q v%d %q, %v; want \"T\" v3 \"x|1|2\"", got.Type, got.Version, got.Data, err)
	}
}

func TestExactStepTakesPrecedenceOverRename(t *testing.T) {
	// "Old" v1 was upcast to v2 before the type was renamed.
	r := upcast.New().Add("Old", 1, mark("1")).Rename("Old", "New")
	got, err := r.Upcast(upcast.Payload{Type: "Old", Version: 1, Data: []byte("x")}, targetOf(map[string]int{"New": 2}))
	if err != nil || got.Type != "New" || got.Version != 2 || string(got.Data) != "x|1" {
		t.Fatalf("got %q v%d %q, %v; want \"New\" v2 \"x|1\"", got.Type, got.Version, got.Data, err)
	}
}

func TestRenameCycleIsAnError(t *testing.T) {
	r := upcast.New().Rename("A", "B").Rename("B", "A")
	_, err := r.Upcast(upcast.Payload{Type: "A", Version: 1}, targetOf(map[string]int{"C": 1}))
	if !errors.Is(err, upcast.ErrSchemaVersion) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("error = %v, want ErrSchemaVersion reporting a cycle", err)
	}
}

func TestStepErrorNamesTheStep(t *testing.T) {
	boom := errors.New("boom")
	r := upcast.New().Add("T", 1, mark("1")).Add("T", 2, func([]byte) ([]byte, error) { return nil, boom })
	_, err := r.Upcast(upcast.Payload{Type: "T", Version: 1}, targetOf(map[string]int{"T": 3}))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `"T" from schema version 2 to 3`) {
		t.Fatalf("error = %v, want boom naming the step", err)
	}
}

func TestNilAndZeroRegistries(t *testing.T) {
	p := upcast.Payload{Type: "T", Version: 1, Data: []byte("x")}
	var nilReg *upcast.Registry
	if got, err := nilReg.Upcast(p, targetOf(map[string]int{"T": 1})); err != nil || string(got.Data) != "x" {
		t.Fatalf("nil registry: %+v, %v", got, err)
	}
	if _, err := nilReg.Upcast(p, targetOf(map[string]int{"T": 2})); !errors.Is(err, upcast.ErrSchemaVersion) {
		t.Fatalf("nil registry, missing step: %v, want ErrSchemaVersion", err)
	}
	// A type the reader does not know is left for the decoder to report.
	if got, err := nilReg.Upcast(p, targetOf(map[string]int{"U": 1})); err != nil || got.Type != "T" || string(got.Data) != "x" {
		t.Fatalf("nil registry, unknown type: %+v, %v; want it as it is", got, err)
	}
	if got := nilReg.Reads(targetOf(map[string]int{"U": 1}), []string{"U"}); !slices.Equal(got, []string{"U"}) {
		t.Fatalf("nil registry reads %q, want the reader's own names", got)
	}
	var zero upcast.Registry
	zero.Add("T", 1, mark("1")).Rename("S", "T")
	if got, err := zero.Upcast(upcast.Payload{Type: "S", Version: 1, Data: []byte("x")}, targetOf(map[string]int{"T": 2})); err != nil || string(got.Data) != "x|1" {
		t.Fatalf("zero registry: %+v, %v", got, err)
	}
}

func TestRegistrationMistakesPanic(t *testing.T) {
	for name, register := range map[string]func(*upcast.Registry){
		"duplicate step":        func(r *upcast.Registry) { r.Add("T", 1, mark("a")).Add("T", 1, mark("b")) },
		"step and RenameAt":     func(r *upcast.Registry) { r.Add("T", 1, mark("a")).RenameAt("T", 1, "U", 1) },
		"version 0":             func(r *upcast.Registry) { r.Add("T", 0, mark("a")) },
		"nil step":              func(r *upcast.Registry) { r.Add("T", 1, nil) },
		"empty name":            func(r *upcast.Registry) { r.Add("", 1, mark("a")) },
		"rename twice":          func(r *upcast.Registry) { r.Rename("A", "B").Rename("A", "C") },
		"rename to itself":      func(r *upcast.Registry) { r.Rename("A", "A") },
		"RenameAt to itself":    func(r *upcast.Registry) { r.RenameAt("A", 2, "A", 2) },
		"RenameAt to version 0": func(r *upcast.Registry) { r.RenameAt("A", 2, "B", 0) },
		"a NUL in a name":       func(r *upcast.Registry) { r.Rename("A\x00", "B") },
		"a name not UTF-8":      func(r *upcast.Registry) { r.RenameAt("A", 1, "B\xff", 1) },
		"a name past 255 bytes": func(r *upcast.Registry) { r.Add(strings.Repeat("T", 256), 1, mark("a")) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			register(upcast.New())
		})
	}
}

// Check reports a reader exactly when some type it reads, at the version
// it reads, is one that the registry takes elsewhere: when running every
// step of the registry from that name and version would move it (or
// meet a cycle). Such a step never runs for that reader, which reads the
// payload as it is, so records of the old meaning of the name would be
// read as the reader's type.
func TestCheckReportsANameTheRegistryTakesElsewhere(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		alphabet := []string{"a", "b", "c"}
		r := &upcast.Registry{}
		steps, renames := map[string]bool{}, map[string]bool{}
		for range rapid.IntRange(0, 5).Draw(t, "ops") {
			name := rapid.SampledFrom(alphabet).Draw(t, "name")
			v := rapid.IntRange(1, 3).Draw(t, "version")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				to := rapid.SampledFrom(alphabet).Draw(t, "to")
				if to != name && !renames[name] {
					renames[name] = true
					r.Rename(name, to)
				}
			case 1:
				if k := fmt.Sprint(name, v); !steps[k] {
					steps[k] = true
					r.Add(name, v, mark(k))
				}
			case 2:
				to := rapid.SampledFrom(alphabet).Draw(t, "to")
				w := rapid.IntRange(1, 3).Draw(t, "to version")
				if k := fmt.Sprint(name, v); !steps[k] && (to != name || w != v) {
					steps[k] = true
					r.RenameAt(name, v, to, w)
				}
			}
		}
		reads := map[string]int{}
		for _, n := range alphabet {
			if rapid.Bool().Draw(t, "reads "+n) {
				reads[n] = rapid.IntRange(1, 3).Draw(t, "reads "+n+" at")
			}
		}
		names := slices.Sorted(maps.Keys(reads))
		moved := ""
		for _, n := range names {
			p, err := r.Upcast(upcast.Payload{Type: n, Version: reads[n]}, nil)
			if err != nil || p.Type != n || p.Version != reads[n] {
				moved = n
				break
			}
		}
		err := r.Check(targetOf(reads), names)
		switch {
		case moved != "" && err == nil:
			t.Fatalf("Check passed a reader of %v, though the registry takes %q v%d elsewhere", reads, moved, reads[moved])
		case moved == "" && err != nil:
			t.Fatalf("Check refused a reader of %v that no step moves: %v", reads, err)
		case err != nil && !errors.Is(err, upcast.ErrSchemaVersion):
			t.Fatalf("Check's error %v does not match ErrSchemaVersion", err)
		}
	})
}

// Without versions, Check reports the names the registry renames away.
func TestCheckWithoutVersionsReportsRenames(t *testing.T) {
	r := (&upcast.Registry{}).Rename("Registered", "UserRegistered").Add("Moved", 1, mark("m"))
	if err := r.Check(nil, []string{"Moved", "UserRegistered"}); err != nil {
		t.Fatalf("a reader of the new name and of a type with steps: %v", err)
	}
	err := r.Check(nil, []string{"Registered", "UserRegistered"})
	if !errors.Is(err, upcast.ErrSchemaVersion) || !strings.Contains(err.Error(), `"Registered"`) {
		t.Fatalf("a reader that reuses a name renamed away: %v; want an error naming it, matching ErrSchemaVersion", err)
	}
	if err := (*upcast.Registry)(nil).Check(nil, []string{"Registered"}); err != nil {
		t.Fatalf("a nil registry: %v", err)
	}
}
