package codec

import (
	"bytes"
	"cmp"
	stdenc "encoding"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/decider"
)

// This file decides, when a type is registered with [JSON], whether its
// values survive encoding/json: a value that would be stored without its
// content ({} for a struct whose fields are all unexported) must be refused
// before it is stored, since reloading it gives another state and no error.

var (
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	jsonNumber      = reflect.TypeFor[json.Number]()
	timeType        = reflect.TypeFor[time.Time]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[stdenc.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[stdenc.TextUnmarshaler]()
	sumSetter       = reflect.TypeFor[decider.SumSetter]()
	isZeroer        = reflect.TypeFor[interface{ IsZero() bool }]()
)

// Remedies named in the errors, so that each says what to do.
const (
	fixStruct = "export the fields that hold its content, implement json.Marshaler and json.Unmarshaler on it, or register its parts (the types it holds) instead"
	fixHidden = "export them, tag them json:\"-\" if they hold nothing that must be kept (a cache), or implement json.Unmarshaler on it to fill them from what JSON stores"
	fixDashed = "for an event with no content declare an empty struct (struct{}), or remove json:\"-\" from the fields that hold its content"
	fixClash  = "give one of them another name with a json tag (json:\"name\"), or give the embedded struct a field name"
	fixField  = "leave the field out of the stored value (tag it json:\"-\") or store what it stands for in a type JSON encodes"
	fixIface  = "use a concrete type, or implement json.Marshaler and json.Unmarshaler on the enclosing type"
	fixSample = "make MarshalJSON and UnmarshalJSON inverse, or export the fields that hold the value's content"
	fixKeyed  = "a decider.Keyed event is stored in its instance's stream, as its Value alone: build its mapper with codec.NewKeyed from the Value's mapper"
	fixZero   = "drop omitzero from the field's tag, or make IsZero true only for the zero value of its type (for a pointer field, hold nil rather than a pointer to a value IsZero calls zero)"
	fixSum    = "a sum of package decider is stored by its parts: for events that are the sum, build their mapper with codec.NewSum from a mapper per case, which stores each case as its part alone; in a field, or in a view's or process's state, hold each case in a field of its own instead (a pointer per case, all nil but one)"

	// fixCompared is fixHidden for a value that is compared by its JSON
	// and never decoded (see compared).
	fixCompared = "export them, tag them json:\"-\" if they do not tell one value from another (a cache), or implement json.Marshaler on it to write them"
)

// fault is a reason why values of a registered type would not survive
// JSON.
type fault struct {
	path string       // where in the registered type: "" for itself, ".Items[]" for a part
	typ  reflect.Type // the type at path
	what string       // what is wrong
	fix  string       // what to do
}

// err is the error of doing (such as `register "Opened"`) for the Go type
// t.
func (f *fault) err(doing string, t reflect.Type) error {
	where := "the type"
	if f.path != "" {
		where = fmt.Sprintf("at %s, %v", f.path, f.typ)
	}
	return fmt.Errorf("%s (%v): %s %s; %s: %w", doing, t, where, f.what, f.fix, ErrUnencodable)
}

// shape is what inspecting a type found.
type shape struct {
	fault *fault
	// dynamic reports positions of type any that JSON encodes: what they
	// hold is known only from a value, so [JSON.Encode] checks it then.
	dynamic bool
	// times reports positions of type time.Time, which JSON writes with
	// its zone's offset to the minute: [JSON.Encode] checks the zone of
	// each (see badZone).
	times bool
	// zeroers reports fields tagged omitzero whose type has an IsZero
	// method, which JSON asks whether to leave the field out:
	// [JSON.Encode] checks that it leaves out only zero values (see
	// badZero).
	zeroers bool
}

// use is what the JSON of a checked value is for, which decides what
// loses its content.
type use uint8

const (
	// stored JSON is read back: what JSON leaves out is lost (events,
	// snapshots, the states of views and processes).
	stored use = iota
	// compared JSON is never read back, only compared (the fingerprint
	// of a command): what JSON leaves out cannot tell two values apart,
	// and a type that writes itself need not read itself back.
	compared
)

// inspect checks the values of t as JSON would encode them, for u, at the
// top level, where they are not addressable (an event held in an
// interface).
func inspect(t reflect.Type, u use) shape {
	in := inspector{seen: map[seenKey]bool{}, use: u}
	f := in.visit(t, false, "")
	return shape{fault: f, dynamic: in.dynamic, times: in.times, zeroers: in.zeroers}
}

type inspector struct {
	seen                    map[seenKey]bool
	use                     use
	dynamic, times, zeroers bool
}

// seenKey is a type at a position: whether the value there is addressable
// decides whether JSON calls the methods of its pointer.
type seenKey struct {
	t    reflect.Type
	addr bool
}

func (in *inspector) visit(t reflect.Type, addr bool, path string) *fault {
	k := seenKey{t, addr}
	if in.seen[k] {
		return nil // a recursive type: checked, or being checked, above
	}
	in.seen[k] = true
	if t == timeType {
		in.times = true
		return nil
	}
	if _, ok := embeddedTime(t); ok || t.Kind() == reflect.Map && t.Key() == timeType {
		in.times = true // written as a time (its promoted methods), or keyed by times
	}

	switch t.Kind() {
	case reflect.Pointer:
		return in.visit(t.Elem(), true, path)
	case reflect.Interface:
		if t.NumMethod() == 0 {
			in.dynamic = true
			return nil
		}
		return &fault{path, t, "is an interface other than any: JSON encodes what it holds but cannot decode into it", fixIface}
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
		return &fault{path, t, fmt.Sprintf("is a %v, which JSON cannot encode", t.Kind()), fixField}
	}

	enc, encOK := encoderOf(t, addr)
	dec, decOK := decoderOf(t)
	if f := promoted(t, path, enc, encOK, dec, decOK); f != nil {
		return f
	}
	if encOK && (decOK || in.use == compared) {
		// The type encodes and decodes itself, or encodes itself where
		// nothing is decoded: what its method writes is its own.
		return nil
	}
	if ptrEnc, ok := encoderOf(t, true); !encOK && ok {
		return &fault{path, t, fmt.Sprintf("declares %s on its pointer, which JSON does not call for a value that is not addressable (an event held in an interface, a map value): the value would be encoded as if it had no such method", ptrEnc),
			fmt.Sprintf("declare %s on the value receiver, or register a pointer", ptrEnc)}
	}
	if encOK && !decOK && (t.Kind() != reflect.Struct || enc == "MarshalText") {
		// JSON decodes what the method wrote as a t of its kind: a text
		// into a number or a struct fails, a redacted string reads back
		// changed. (A struct's MarshalJSON may write its own fields,
		// which JSON decodes one by one: the sample's round trip checks
		// that.)
		return &fault{path, t, fmt.Sprintf("implements %s but its pointer has no %s, so JSON would decode what it writes as a %v, which it cannot be trusted to read", enc, unmarshalerFor(enc), t.Kind()),
			fmt.Sprintf("implement %s on *%v", unmarshalerFor(enc), t)}
	}
	if encOK && !decOK && path != "" {
		if f := zeroRoundTrip(t, path, enc); f != nil {
			return f // below the registered type, which no sample reaches
		}
	}

	switch t.Kind() {
	case reflect.Struct:
		sf := jsonFields(t)
		if len(sf.unsettable) > 0 {
			return &fault{path, t, fmt.Sprintf("embeds %s, a pointer to an unexported struct, which JSON cannot set when decoding", sf.unsettable[0]),
				"embed the struct by value, export its type, or give it a named field"}
		}
		if len(sf.clashes) > 0 {
			c := sf.clashes[0]
			return &fault{path, t, fmt.Sprintf("has fields %s that JSON names %q at the same depth, so JSON stores none of them",
				strings.Join(lo.Map(c, func(f field, _ int) string { return fieldPath(t, f.index) }), " and "), c[0].name), fixClash}
		}
		if f := empty(t, path, sf, enc, encOK, in.use); f != nil {
			return f
		}
		if own := sf.ownHidden(); len(own) > 0 && !decOK {
			return hiddenFault(t, path, own, enc, encOK, in.use)
		}
		if encOK {
			return nil // encoded by its method, decoded field by field
		}
		for _, f := range sf.fields {
			if f.zeroer() {
				in.zeroers = true
			}
			if fl := in.visit(f.typ, addr, path+"."+f.name); fl != nil {
				if fl.typ.Kind() == reflect.Interface && isKeyed(t) {
					fl.fix = fixKeyed
				}
				return fl
			}
		}
	case reflect.Slice:
		if encOK || isBytes(t) {
			return nil
		}
		return in.visit(t.Elem(), true, path+"[]")
	case reflect.Array:
		if encOK {
			return nil
		}
		return in.visit(t.Elem(), addr, path+"[]")
	case reflect.Map:
		if encOK {
			return nil
		}
		if f := mapKey(t.Key(), path+" (key)"); f != nil {
			return f
		}
		return in.visit(t.Elem(), false, path+"[…]")
	}
	return nil
}

// hiddenFault is the fault, for u, of struct t, which has exported
// fields and the unexported fields own that JSON leaves out, and whose
// pointer has no decoding method (which could fill them from what is
// stored); enc is its encoding method, if it has one (then u is stored:
// see visit).
func hiddenFault(t reflect.Type, path string, own []string, enc string, encOK bool, u use) *fault {
	fields := strings.Join(own, ", ")
	switch {
	case u == compared:
		return &fault{path, t, fmt.Sprintf("has unexported fields (%s) that JSON leaves out of what it writes, so two values that differ only in them would be taken for one", fields),
			fixCompared}
	case encOK:
		// Its method may write them, but JSON decodes what it wrote
		// field by field, and cannot set these.
		return &fault{path, t, fmt.Sprintf("implements %s but its pointer has no UnmarshalJSON or UnmarshalText, and JSON cannot decode into its unexported fields (%s), so what they hold is lost", enc, fields),
			fmt.Sprintf("implement UnmarshalJSON on *%v to fill them from what %s writes, export them, or tag them json:\"-\" if they hold nothing that must be kept (a cache)", t, enc)}
	}
	return &fault{path, t, fmt.Sprintf("has unexported fields (%s) that JSON neither writes nor reads, so what they hold is lost", fields),
		fixHidden}
}

// empty reports a struct t that has fields but none that JSON encodes,
// so that JSON stores every value as {} (or, when t marshals itself,
// decodes none of them). A struct with no fields at all, or only blank
// ones, has nothing to lose and passes: it is how an event with no
// content is declared. Fields tagged json:"-" count as fields: a struct
// whose every field is tagged so declares content it never stores. u
// says what the wording says JSON's {} does: stored, it reads back as
// the zero value; compared, it takes every value for one.
func empty(t reflect.Type, path string, sf structFields, enc string, encOK bool, u use) *fault {
	if len(sf.fields) > 0 || len(sf.hidden) == 0 && len(sf.dashed) == 0 {
		return nil
	}
	if u == compared && sf.hiddenData == 0 {
		// Only fields that hold no data (a reply channel) or that are
		// tagged to be left out: every value is the same command.
		return nil
	}
	fix := fixStruct
	if reflect.PointerTo(t).Implements(sumSetter) {
		fix = fixSum
	}
	asEmpty := "so JSON would store every value as {}"
	if u == compared {
		asEmpty = "so JSON would write every value as {} and take them all for one"
	}
	if len(sf.hidden) == 0 {
		what := fmt.Sprintf("has fields, every one tagged json:\"-\" (%s), %s", strings.Join(sf.dashed, ", "), asEmpty)
		if encOK {
			what = fmt.Sprintf("implements %s but its pointer has no UnmarshalJSON or UnmarshalText, and JSON decodes none of its fields: every one is tagged json:\"-\" (%s)", enc, strings.Join(sf.dashed, ", "))
		}
		return &fault{path, t, what, fixDashed}
	}
	what := fmt.Sprintf("has no exported fields (only %s) and does not implement json.Marshaler, %s", strings.Join(sf.hidden, ", "), asEmpty)
	if encOK {
		what = fmt.Sprintf("implements %s but its pointer has no UnmarshalJSON or UnmarshalText, and JSON cannot decode into its unexported fields (%s)", enc, strings.Join(sf.hidden, ", "))
	}
	return &fault{path, t, what, fix}
}

// ownHidden returns the unexported fields beside exported ones that JSON
// would lose and that the author can export or tag: of the program's own
// module, and holding data (see holdsData). A type of a dependency (a
// message generated by protoc, say) keeps fields of its own bookkeeping,
// and is taken as its authors made it.
func (sf structFields) ownHidden() []string {
	if len(sf.fields) == 0 {
		return nil // no exported field at all: empty's to refuse
	}
	return sf.ownHiddenFields
}

// ownModules is what the program's build info says of its modules,
// read once; ok is false when the binary carries none (built outside
// module mode), and then no package counts as own: nothing is refused on
// a guess.
var ownModules = sync.OnceValues(func() (modules, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return modules{}, false
	}
	return modulesOf(bi, goModHere), true
})

// modules are the modules a program is built from, by path.
type modules struct {
	main string // "" when the build does not say
	deps []string
	// root is the directory of the main module's go.mod when the
	// dependencies were read from it (a test binary), "" otherwise: a
	// module nested in that directory is then found on disk (see
	// nestedModule), since a workspace's modules are not required.
	root string
}

// modulesOf reads the program's modules from its build info, bi.Main and
// bi.Deps, with two exceptions where the go command writes them
// otherwise:
//
//   - A program built from files (go run main.go, go build main.go) has
//     no bi.Main, and lists its main module among bi.Deps at version
//     (devel), not replaced: that one is taken for the main module. In a
//     workspace (go.work) every module of the workspace is listed so, and
//     which one holds the files cannot be told: none is.
//   - A test binary lists no dependencies (golang/go#76926): they are
//     read from the requirements of the go.mod that goMod returns (the
//     one above the working directory, where go test runs the binary),
//     if it is the main module's. A program that imports this module has
//     dependencies, so only a test binary lists none.
func modulesOf(bi *debug.BuildInfo, goMod func() ([]byte, string)) modules {
	m := modules{main: bi.Main.Path}
	var devel []string
	for _, d := range bi.Deps {
		if m.main == "" && d.Version == "(devel)" && d.Replace == nil {
			devel = append(devel, d.Path)
			continue
		}
		m.deps = append(m.deps, d.Path)
	}
	if len(devel) == 1 {
		m.main = devel[0]
	} else {
		m.deps = append(m.deps, devel...)
	}
	if len(bi.Deps) == 0 && m.main != "" {
		data, dir := goMod()
		if module, reqs := requirements(data); module == m.main {
			m.deps, m.root = reqs, dir
		}
	}
	return m
}

// goModHere returns the go.mod of the module that holds the working
// directory, and its directory, or nil.
func goModHere() ([]byte, string) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, ""
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			return data, dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return nil, ""
		}
		dir = up
	}
}

// nestedModule reports whether the package of path pkg, of the main
// module main whose go.mod is in directory root, lies in a module nested
// in root: a directory between root and the package's holds a go.mod.
// Such a module is the program's dependency, wired with replace or by a
// workspace (go.work), whose modules a go.mod does not require.
func nestedModule(root, main, pkg string) bool {
	rel := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSuffix(pkg, "_test"), main), "/")
	if rel == "" || rel == pkg {
		return false
	}
	dir := root
	for _, elem := range strings.Split(rel, "/") {
		dir = filepath.Join(dir, elem)
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return true
		}
	}
	return false
}

// requirements returns the module path that go.mod declares and the
// paths of the modules it requires, which since Go 1.17 are every
// module that provides a package to the module's own.
func requirements(gomod []byte) (module string, reqs []string) {
	block := false
	for line := range strings.Lines(string(gomod)) {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case block && f[0] == ")":
			block = false
		case block:
			reqs = append(reqs, unquote(f[0]))
		case f[0] == "module" && len(f) > 1:
			module = unquote(f[1])
		case f[0] == "require" && len(f) > 1 && f[1] == "(":
			block = true
		case f[0] == "require" && len(f) > 1:
			reqs = append(reqs, unquote(f[1]))
		}
	}
	return module, reqs
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// ownPackage reports whether the package of path belongs to the
// program's own module (see owns): its types are the program's, whose
// fields their author can export or tag.
func ownPackage(path string) bool {
	m, ok := ownModules()
	return ok && owns(m.main, m.deps, path) && (m.root == "" || !nestedModule(m.root, m.main, path))
}

// owns reports whether the package of path pkg is the program's own, in
// a program of main module main ("" when unknown) and dependencies deps
// (module paths): package main, and the packages of main. A package
// belongs to the module whose path is its longest prefix, so a module
// nested in the main module's path (example.com/app/api beside
// example.com/app, the usual home of generated protobuf code, wired with
// replace) is a dependency like any other. A package of no module is of
// the standard library, or of a module the build does not name: not own.
// An external test package (path_test) is its package's.
func owns(main string, deps []string, pkg string) bool {
	pkg = strings.TrimSuffix(pkg, "_test")
	if pkg == "main" {
		return true
	}
	longest, own := -1, false
	if within(pkg, main) {
		longest, own = len(main), true
	}
	for _, d := range deps {
		if len(d) > longest && within(pkg, d) {
			longest, own = len(d), false
		}
	}
	return own
}

// within reports whether the package of path pkg is in the module of
// path mod, going by paths alone.
func within(pkg, mod string) bool {
	return mod != "" && (pkg == mod || strings.HasPrefix(pkg, mod+"/"))
}

// holdsData reports whether a field of type t can hold data that JSON
// would lose by leaving the field out: not a type of size zero
// (struct{}, [0]int), which holds nothing, nor a channel or a function,
// which are not data: JSON cannot write one, and no two can be compared
// by what they hold (a command's reply channel, a hook).
func holdsData(t reflect.Type) bool {
	return t.Size() > 0 && t.Kind() != reflect.Chan && t.Kind() != reflect.Func
}

// isKeyed reports whether t is a decider.Keyed.
func isKeyed(t reflect.Type) bool {
	return t.PkgPath() == keyedType.PkgPath() && strings.HasPrefix(t.Name(), "Keyed[")
}

var keyedType = reflect.TypeFor[decider.Keyed[int, int]]()

// encoderOf returns the method JSON calls to encode a t, in the order
// encoding/json looks for one: MarshalJSON before MarshalText, and the
// methods of *t only when the value is addressable.
func encoderOf(t reflect.Type, addr bool) (string, bool) {
	for _, m := range []struct {
		iface reflect.Type
		name  string
	}{{jsonMarshaler, "MarshalJSON"}, {textMarshaler, "MarshalText"}} {
		if t.Implements(m.iface) || addr && reflect.PointerTo(t).Implements(m.iface) {
			return m.name, true
		}
	}
	return "", false
}

// unmarshalerFor names the decoding method that matches the encoding
// method enc.
func unmarshalerFor(enc string) string { return "Un" + strings.ToLower(enc[:1]) + enc[1:] }

// decoderOf returns the method JSON calls to decode into a t; decoding
// always goes through a pointer.
func decoderOf(t reflect.Type) (string, bool) {
	p := reflect.PointerTo(t)
	switch {
	case p.Implements(jsonUnmarshaler):
		return "UnmarshalJSON", true
	case p.Implements(textUnmarshaler):
		return "UnmarshalText", true
	}
	return "", false
}

// promoted reports a struct whose encoding or decoding method is promoted
// from an embedded field while the struct has other fields: JSON then
// encodes only the embedded value (the classic struct embedding a
// time.Time), and the other fields are lost.
func promoted(t reflect.Type, path, enc string, encOK bool, dec string, decOK bool) *fault {
	if t.Kind() != reflect.Struct || !twoFields(t) {
		return nil
	}
	for _, m := range []struct {
		name string
		ok   bool
	}{{enc, encOK}, {dec, decOK}} {
		if !m.ok || declares(t, m.name) || declares(reflect.PointerTo(t), m.name) {
			continue
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.Anonymous {
				continue
			}
			if _, ok := methodNamed(f.Type, m.name); ok || f.Type.Kind() != reflect.Pointer && hasMethod(reflect.PointerTo(f.Type), m.name) {
				return &fault{path, t, fmt.Sprintf("gets %s from its embedded %v, so JSON would encode only that field and lose the others", m.name, f.Type),
					fmt.Sprintf("declare MarshalJSON and UnmarshalJSON on %v, or give the embedded field a name", t)}
			}
		}
	}
	return nil
}

// twoFields reports whether struct t has more than one field that holds
// content: a promoted method that encodes the only one loses nothing.
func twoFields(t reflect.Type) bool {
	n := 0
	for i := range t.NumField() {
		if f := t.Field(i); f.Name != "_" && f.Tag.Get("json") != "-" {
			n++
		}
	}
	return n > 1
}

func hasMethod(t reflect.Type, name string) bool {
	_, ok := methodNamed(t, name)
	return ok
}

// methodNamed is t.MethodByName(name) for the names of the methods that
// JSON calls, each looked up by a constant: a call of MethodByName with a
// name the linker cannot see keeps every exported method of every type in
// the program, and its binary grows by megabytes.
func methodNamed(t reflect.Type, name string) (reflect.Method, bool) {
	switch name {
	case "MarshalJSON":
		return t.MethodByName("MarshalJSON")
	case "UnmarshalJSON":
		return t.MethodByName("UnmarshalJSON")
	case "MarshalText":
		return t.MethodByName("MarshalText")
	case "UnmarshalText":
		return t.MethodByName("UnmarshalText")
	}
	panic("codec: methodNamed(" + name + "): not a method JSON calls")
}

// declares reports whether t has the method name from its own
// declaration rather than by promotion from an embedded field. The
// compiler generates the code of a promoted method (and of the pointer's
// copy of a value method); reflect says only that the method exists, so
// the generated code's file name tells them apart. When the runtime cannot
// say, the method counts as declared: nothing is refused on a guess.
func declares(t reflect.Type, name string) bool {
	m, ok := methodNamed(t, name)
	if !ok {
		return false
	}
	fn := runtime.FuncForPC(m.Func.Pointer())
	if fn == nil {
		return true
	}
	file, _ := fn.FileLine(fn.Entry())
	return file != "<autogenerated>"
}

// mapKey checks a map's key type: JSON encodes keys that are strings,
// integers or text marshalers, and fails on any other.
func mapKey(k reflect.Type, path string) *fault {
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if k.Implements(textMarshaler) && !reflect.PointerTo(k).Implements(textUnmarshaler) {
			return &fault{path, k, "is the key type of a map, and implements MarshalText, which JSON writes the key with, but its pointer has no UnmarshalText: JSON would read the text back as a number, which fails",
				fmt.Sprintf("implement UnmarshalText on *%v", k)}
		}
		return nil
	case reflect.String:
		return nil // JSON writes and reads a string key as it is, methods or not
	}
	if k.Implements(textMarshaler) && reflect.PointerTo(k).Implements(textUnmarshaler) {
		return nil
	}
	return &fault{path, k, "is the key type of a map, and JSON encodes only string, integer and encoding.TextMarshaler keys (with UnmarshalText to decode)",
		"key the map by a string or an integer, or implement encoding.TextMarshaler and encoding.TextUnmarshaler on the key"}
}

func isBytes(t reflect.Type) bool {
	e := t.Elem()
	if e.Kind() != reflect.Uint8 {
		return false
	}
	p := reflect.PointerTo(e)
	return !p.Implements(jsonMarshaler) && !p.Implements(textMarshaler)
}

// field is a field that JSON encodes, with the index that reaches it
// through embedded structs.
type field struct {
	name   string
	typ    reflect.Type
	index  []int
	tagged bool // named by its json tag
	// omitZero reports the tag's omitzero option: JSON leaves the field
	// out when its value is zero, by the type's IsZero method if it has
	// one.
	omitZero bool
}

// zeroer reports a field that JSON leaves out when its type's IsZero
// method says so (omitzero), which can then drop a value that is not
// the zero value, read back as the zero value: see badZero. A
// time.Time's IsZero is true for the zero instant alone, which is all
// JSON keeps of a time (with an offset it reads back as another zone).
// An interface other than any, which could have the method, is refused
// by inspect.
func (f field) zeroer() bool {
	return f.omitZero && f.typ != timeType && f.typ.Kind() != reflect.Interface &&
		(f.typ.Implements(isZeroer) || reflect.PointerTo(f.typ).Implements(isZeroer))
}

// structFields is what JSON makes of the fields of a struct.
type structFields struct {
	fields []field // the fields JSON encodes, in the order of their indexes
	// hidden names the fields that hold content JSON leaves out
	// (unexported ones not tagged json:"-"), and dashed those tagged
	// json:"-", which JSON leaves out as told.
	hidden, dashed []string
	// ownHiddenFields names the hidden fields that hold data (see
	// holdsData) and that the program's own module declares (see
	// ownPackage).
	ownHiddenFields []string
	// hiddenData counts the hidden fields that hold data, wherever
	// they are declared.
	hiddenData int
	// unsettable names the embedded pointers to unexported structs, which
	// encoding/json encodes but cannot decode into (it fails, or panics
	// when the field is tagged with a name).
	unsettable []string
	// clashes are the fields JSON drops because others of their name are
	// at their depth, tagged as they are: a set per name, of which JSON
	// stores none.
	clashes [][]field
}

// jsonFields returns the fields of struct t as encoding/json's typeFields
// finds them: exported fields, and the fields of embedded structs,
// exported or not, depth by depth, each struct type once; then, of the
// fields of one JSON name, the shallowest, and of those the one tagged
// with the name, hides the others.
//
// A hidden field is never stored, and passes: a struct that declares its
// own X over an embedded one means the X it declares (in Go too, v.X
// names the shallowest X), and a json tag that gives a field the name of
// another at its depth is the author's choice. When no field of a name
// hides the others (two embedded structs each with an X at the same
// depth, two fields tagged with the same name), JSON stores none of them,
// though the author can set each (v.A.X): those are clashes, which
// inspecting refuses.
func jsonFields(t reflect.Type) structFields {
	var sf structFields
	var all []field
	// embedded is a struct type to walk at the next depth, with the index
	// of each place it is embedded at: encoding/json walks it once, and
	// counts its fields once per place, so that they clash.
	type embedded struct {
		typ reflect.Type
		at  [][]int
	}
	visited := map[reflect.Type]bool{}
	for next := []*embedded{{typ: t, at: [][]int{nil}}}; len(next) > 0; {
		depth := next
		next = nil
		queued := map[reflect.Type]*embedded{}
		for _, e := range depth {
			if visited[e.typ] {
				continue
			}
			visited[e.typ] = true
			for i := range e.typ.NumField() {
				f := e.typ.Field(i)
				if f.Name == "_" {
					continue
				}
				tag := f.Tag.Get("json")
				if tag == "-" {
					sf.dashed = append(sf.dashed, f.Name)
					continue
				}
				ft := f.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !f.IsExported() && !(f.Anonymous && ft.Kind() == reflect.Struct) {
					sf.hidden = append(sf.hidden, f.Name)
					if holdsData(f.Type) {
						sf.hiddenData++
						if ownPackage(f.PkgPath) {
							sf.ownHiddenFields = append(sf.ownHiddenFields, f.Name)
						}
					}
					continue
				}
				if f.Anonymous && !f.IsExported() && f.Type.Kind() == reflect.Pointer {
					sf.unsettable = append(sf.unsettable, f.Type.String())
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				omitZero := slices.Contains(strings.Split(opts, ","), "omitzero")
				if !validName(name) {
					name = ""
				}
				if name == "" && f.Anonymous && ft.Kind() == reflect.Struct {
					idx := append(slices.Clone(e.at[0]), i)
					if q, ok := queued[ft]; ok {
						q.at = append(q.at, idx)
					} else {
						queued[ft] = &embedded{typ: ft, at: [][]int{idx}}
						next = append(next, queued[ft])
					}
					continue
				}
				for _, at := range e.at {
					all = append(all, field{name: lo.Ternary(name == "", f.Name, name), typ: f.Type, index: append(slices.Clone(at), i), tagged: name != "", omitZero: omitZero})
				}
			}
		}
	}
	byName := lo.GroupBy(all, func(f field) string { return f.name })
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		same := byName[name]
		slices.SortFunc(same, func(a, b field) int {
			return cmp.Or(cmp.Compare(len(a.index), len(b.index)), compareBool(b.tagged, a.tagged), slices.Compare(a.index, b.index))
		})
		top := same[0]
		if len(same) > 1 && len(same[1].index) == len(top.index) && same[1].tagged == top.tagged {
			sf.clashes = append(sf.clashes, lo.Filter(same, func(f field, _ int) bool { return len(f.index) == len(top.index) && f.tagged == top.tagged }))
			continue
		}
		sf.fields = append(sf.fields, top)
	}
	slices.SortFunc(sf.fields, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return sf
}

func compareBool(a, b bool) int {
	return cmp.Compare(lo.Ternary(a, 1, 0), lo.Ternary(b, 1, 0))
}

// validName reports whether encoding/json takes a tag's name as the
// field's name; it uses the Go name for any other.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c): // not a backslash or a quote
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// fieldPath names the field of struct t at index, through the embedded
// structs that lead to it: ".shadowA.X".
func fieldPath(t reflect.Type, index []int) string {
	var b strings.Builder
	for _, i := range index {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		f := t.Field(i)
		b.WriteString("." + f.Name)
		t = f.Type
	}
	return b.String()
}

// encodes says whether JSON encodes v without an error or a panic: a
// value that holds no cycle.
func encodes(v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := json.Marshal(v)
	return err == nil
}

// roundTrip checks that sample, of type t, decodes to itself or at least
// to a value that encodes the same. A panic, of encoding/json or of the
// type's own methods, is a fault too.
func roundTrip(t reflect.Type, sample any) (f *fault) {
	defer func() {
		if r := recover(); r != nil {
			f = &fault{"", t, fmt.Sprintf("panics when the sample is encoded and decoded: %v", r), fixSample}
		}
	}()
	data, err := json.Marshal(sample)
	if err != nil {
		return &fault{"", t, fmt.Sprintf("cannot encode the sample: %v", err), fixSample}
	}
	p := reflect.New(t)
	if err := json.Unmarshal(data, p.Interface()); err != nil {
		return &fault{"", t, fmt.Sprintf("cannot decode the sample's encoding %s: %v", clip(data), err), fixSample}
	}
	if zero := ownZero(t); zero != nil && bytes.Equal(data, zero) && !reflect.ValueOf(sample).IsZero() {
		return &fault{"", t, fmt.Sprintf("writes the sample, which is not its zero value, as it writes its zero value (%s): its own %s leaves out the value's content", clip(data), ownEncoder(t)),
			"make it write every field that holds content"}
	}
	got := p.Elem().Interface()
	if reflect.DeepEqual(sample, got) {
		return nil
	}
	again, err := json.Marshal(got)
	if err != nil || !bytes.Equal(data, again) {
		return &fault{"", t, fmt.Sprintf("does not survive encoding: the sample encodes as %s and decodes to a value that encodes as %s", clip(data), clip(again)), fixSample}
	}
	return nil
}

// ownZero returns what t writes for its zero value when t writes itself
// (its own MarshalJSON or MarshalText, on the value: JSON calls no other
// for a registered value), and nil otherwise. A value that is not zero
// but written the same has lost its content in the type's own method:
// JSON.Encode refuses it (see JSON.Encode). A type that JSON writes field
// by field is not asked: an empty slice that is not nil, or a field
// tagged json:"-" that holds a cache, is written as the zero value is,
// and loses nothing that must be kept.
func ownZero(t reflect.Type) (zero []byte) {
	if !t.Implements(jsonMarshaler) && !t.Implements(textMarshaler) {
		return nil
	}
	defer func() {
		if recover() != nil {
			zero = nil // a method that panics on the zero value tells nothing
		}
	}()
	data, err := json.Marshal(reflect.Zero(t).Interface())
	if err != nil {
		return nil
	}
	return data
}

// ownEncoder names the method by which t writes itself.
func ownEncoder(t reflect.Type) string {
	if t.Implements(jsonMarshaler) {
		return "MarshalJSON"
	}
	return "MarshalText"
}

// zeroRoundTrip reports a struct t whose own enc (MarshalJSON) writes,
// for its zero value, what JSON cannot decode back into a t field by
// field (a string, say): every value would then be stored unreadable.
// A method that fails or panics on a zero value tells nothing, and
// passes.
func zeroRoundTrip(t reflect.Type, path, enc string) (f *fault) {
	defer func() {
		if recover() != nil {
			f = nil
		}
	}()
	data, err := json.Marshal(reflect.Zero(t).Interface())
	if err != nil {
		return nil
	}
	if err := json.Unmarshal(data, reflect.New(t).Interface()); err != nil {
		return &fault{path, t, fmt.Sprintf("implements %s, which writes %s for a zero value, but its pointer has no UnmarshalJSON, and JSON cannot decode that into a %v: %v", enc, clip(data), t, err),
			fmt.Sprintf("implement UnmarshalJSON on *%v", t)}
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// contents checks what the positions of type any in v hold, for u, which
// inspecting v's type could not see. v has been encoded without error, so
// it holds no cycle.
func (c *JSONCheck) contents(v reflect.Value, addr bool, path string, u use) *fault {
	t := v.Type()
	switch t.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		s := c.shapeOf(e.Type(), u)
		if s.fault != nil {
			f := *s.fault
			f.path = path + f.path
			return &f
		}
		if s.zeroers {
			if f := c.zeroFault(e, u); f != nil {
				f.path = path + f.path
				return f
			}
		}
		if s.dynamic {
			return c.contents(e, false, path, u)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return c.contents(v.Elem(), true, path, u)
		}
	case reflect.Struct:
		if _, ok := encoderOf(t, addr); ok {
			return nil
		}
		for _, f := range c.fieldsOf(t) {
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil {
				continue // behind a nil embedded pointer: not encoded
			}
			if fl := c.contents(fv, addr, path+"."+f.name, u); fl != nil {
				return fl
			}
		}
	case reflect.Slice, reflect.Array:
		if _, ok := encoderOf(t, addr); ok || leaf(t.Elem()) {
			return nil
		}
		for i := range v.Len() {
			if fl := c.contents(v.Index(i), addr || t.Kind() == reflect.Slice, fmt.Sprintf("%s[%d]", path, i), u); fl != nil {
				return fl
			}
		}
	case reflect.Map:
		if _, ok := encoderOf(t, addr); ok || leaf(t.Elem()) {
			return nil
		}
		for it := v.MapRange(); it.Next(); {
			if fl := c.contents(it.Value(), false, fmt.Sprintf("%s[%#v]", path, it.Key()), u); fl != nil {
				return fl
			}
		}
	}
	return nil
}

// dynamic checks what the positions of type any in v hold (see
// contents), for u, and the numbers below them (see inexactNumber).
func (c *JSONCheck) dynamic(v reflect.Value, u use) *fault {
	if f := c.contents(v, false, "", u); f != nil {
		return f
	}
	if at, f := c.inexactNumber(v, false); f != nil {
		f.path = strings.Join(lo.Reverse(at), "")
		return f
	}
	return nil
}

// maxExactFloat is 2^53: integers of larger magnitude are not all
// float64s.
const maxExactFloat = 1 << 53

// inexactNumber finds in v a number below an interface (below says v
// is), which JSON decodes into a float64 (what it decodes into any) that
// cannot hold it: an integer, a json.Number, or a number in what a value
// writes by its own MarshalJSON (a *big.Int, a json.RawMessage), which is
// read back as JSON's own types there. It returns the fault and its
// path, last step first: the path is built only for the number it finds.
// It asks reflect whether a value is addressable, as encoding/json does,
// to know which methods JSON calls.
func (c *JSONCheck) inexactNumber(v reflect.Value, below bool) (at []string, f *fault) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
	}
	if v.Kind() != reflect.Interface && mayHaveMethods(v.Type()) {
		if enc, ok := c.encoderAt(v.Type(), v.CanAddr()); ok {
			if !below || enc != "MarshalJSON" {
				return nil, nil // what its method writes is its own; a text reads back as a string
			}
			return nil, writtenNumber(v)
		}
	}
	fix := "give the field a concrete number type (an integer type, or json.Number), or hold the number in a string"
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if x := v.Int(); below && (x > maxExactFloat || x < -maxExactFloat) {
			return nil, &fault{"", v.Type(), fmt.Sprintf("is the number %v, held below an interface (any), which JSON decodes as a float64 that cannot hold it exactly", v), fix}
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if below && v.Uint() > maxExactFloat {
			return nil, &fault{"", v.Type(), fmt.Sprintf("is the number %v, held below an interface (any), which JSON decodes as a float64 that cannot hold it exactly", v), fix}
		}
	case reflect.String:
		// A json.Number is written as the number it holds, which a
		// field of type any reads back as a float64.
		if below && v.Type() == jsonNumber && !floatHolds(v.String()) {
			return nil, &fault{"", v.Type(), fmt.Sprintf("is the number %v, held below an interface (any), which JSON decodes as a float64 that cannot hold it exactly", v), fix}
		}
	case reflect.Interface:
		return c.inexactNumber(v.Elem(), true)
	case reflect.Pointer:
		return c.inexactNumber(v.Elem(), below)
	case reflect.Struct:
		for i := range v.NumField() {
			if sf := v.Type().Field(i); sf.IsExported() || sf.Anonymous {
				if at, f = c.inexactNumber(v.Field(i), below); f != nil {
					return append(at, "."+sf.Name), f
				}
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && isBytes(v.Type()) {
			return nil, nil
		}
		for i := range v.Len() {
			if at, f = c.inexactNumber(v.Index(i), below); f != nil {
				return append(at, fmt.Sprintf("[%d]", i)), f
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if at, f = c.inexactNumber(it.Value(), below); f != nil {
				return append(at, fmt.Sprintf("[%#v]", it.Key())), f
			}
		}
	}
	return nil, nil
}

// mayHaveMethods reports whether a value of type t can have a method
// JSON calls: a defined type, or a pointer to one, or a struct, which may
// have methods promoted from its embedded fields. Numbers, strings and
// the slices and maps JSON decodes into any have none, which spares them
// the look-up.
func mayHaveMethods(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() != "" || t.Kind() == reflect.Struct
}

// writtenNumber is the fault of v, below an interface, when what its
// MarshalJSON writes holds a number that a float64 cannot hold exactly:
// JSON reads it back there as its own types, the number as a float64.
// It calls the method again, as JSON did (a value whose method is on its
// pointer is addressable here, or JSON would not have called it); a
// method that fails or panics the second time tells nothing, and passes.
func writtenNumber(v reflect.Value) (f *fault) {
	if !v.CanInterface() {
		return nil
	}
	defer func() {
		if recover() != nil {
			f = nil
		}
	}()
	x := v.Interface()
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		x = v.Addr().Interface()
	}
	data, err := json.Marshal(x)
	if err != nil || len(data) > 0 && data[0] == '"' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if n, ok := tok.(json.Number); ok && !floatHolds(string(n)) {
			return &fault{"", v.Type(), fmt.Sprintf("writes the number %s (by its MarshalJSON), held below an interface (any), which JSON decodes as a float64 that cannot hold it exactly", clip([]byte(n))),
				fmt.Sprintf("give the field the value's own type, %v, whose UnmarshalJSON reads the number back, or hold the number in a string", v.Type())}
		}
	}
}

// floatHolds reports whether the JSON number n reads back as itself
// through a float64: whether the float64 nearest to it writes the same
// number, as 0.1 and 1e300 do and 9007199254740993 does not.
func floatHolds(n string) bool {
	if n == "" {
		return true // encoding/json writes an empty json.Number as 0
	}
	f, err := strconv.ParseFloat(n, 64)
	switch {
	case err != nil:
		return false // beyond a float64's range: it would not decode
	case f == 0:
		// Zero, or a number too small for a float64: which, by its
		// digits, without the exact arithmetic below, whose cost grows
		// with the exponent ("1e-1000000").
		mantissa, _, _ := strings.Cut(strings.ToLower(n), "e")
		return strings.Trim(mantissa, "+-0.") == ""
	case len(n) > maxExactDigits:
		return false // more digits than any float64 is written with
	}
	want, ok1 := new(big.Rat).SetString(n)
	got, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return ok1 && ok2 && want.Cmp(got) == 0
}

// maxExactDigits bounds the JSON numbers floatHolds compares exactly: a
// float64 is written in at most 24 characters, and a number of 800
// (zeros padding it out, say) is as far as the check goes.
const maxExactDigits = 800

// leaf reports a kind that holds no interface.
func leaf(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// badString returns where v, of a type [JSON] accepts, holds a string
// that is not valid UTF-8, which JSON would store changed (each invalid
// byte as U+FFFD): a string, or a string map key, that JSON encodes
// itself. What a type's own marshaler writes is its own. v has been
// encoded without error, so it holds no cycle.
func (c *JSONCheck) badString(v reflect.Value, addr bool, path string) (string, bool) {
	t := v.Type()
	if _, ok := encoderOf(t, addr); ok {
		return "", false
	}
	switch t.Kind() {
	case reflect.String:
		return named(path), !utf8.ValidString(v.String())
	case reflect.Interface:
		if !v.IsNil() {
			return c.badString(v.Elem(), false, path)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return c.badString(v.Elem(), true, path)
		}
	case reflect.Struct:
		for _, f := range c.fieldsOf(t) {
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil {
				continue // behind a nil embedded pointer: not encoded
			}
			if where, ok := c.badString(fv, addr, path+"."+f.name); ok {
				return where, true
			}
		}
	case reflect.Slice, reflect.Array:
		if isBytes(t) {
			return "", false
		}
		for i := range v.Len() {
			if where, ok := c.badString(v.Index(i), addr || t.Kind() == reflect.Slice, fmt.Sprintf("%s[%d]", path, i)); ok {
				return where, true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if k := it.Key(); k.Kind() == reflect.String && !utf8.ValidString(k.String()) {
				return "a key of " + named(path), true
			}
			if where, ok := c.badString(it.Value(), false, fmt.Sprintf("%s[%#v]", path, it.Key())); ok {
				return where, true
			}
		}
	}
	return "", false
}

// badZone finds in v, of a type [JSON] accepts, a time.Time whose zone's
// offset has seconds, as local mean times before the 20th century's
// zones do (Amsterdam's +00:19:32 until 1937): JSON writes the offset to
// the minute, so the time would be read back as another instant. It
// returns the time and its path, last step first: the path is built only
// for the time it finds. It walks only what can hold a time JSON writes
// itself (what a type's own marshaler writes is its own), so that a
// value's other content costs nothing. v has been encoded without error,
// so it holds no cycle.
func (c *JSONCheck) badZone(v reflect.Value, addr bool) (at []string, tm time.Time, bad bool) {
	t := v.Type()
	if t == timeType {
		tm, _ = reflect.TypeAssert[time.Time](v)
		_, offset := tm.Zone()
		return nil, tm, offset%60 != 0
	}
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, tm, false
		}
		return c.badZone(v.Elem(), true)
	}
	if i, ok := embeddedTime(t); ok {
		// Written by the time's own methods, promoted.
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && f.IsNil() {
			return nil, tm, false
		}
		return c.badZone(f, addr)
	}
	if _, ok := encoderOf(t, addr); ok {
		return nil, tm, false
	}
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range c.timeFieldsOf(t) {
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil {
				continue // behind a nil embedded pointer: not encoded
			}
			if at, tm, bad = c.badZone(fv, addr); bad {
				return append(at, "."+f.name), tm, true
			}
		}
	case reflect.Slice, reflect.Array:
		if !c.shapeOf(t.Elem(), stored).times {
			return nil, tm, false
		}
		for i := range v.Len() {
			if at, tm, bad = c.badZone(v.Index(i), addr || t.Kind() == reflect.Slice); bad {
				return append(at, fmt.Sprintf("[%d]", i)), tm, true
			}
		}
	case reflect.Map:
		keys, values := t.Key() == timeType, c.shapeOf(t.Elem(), stored).times
		if !keys && !values {
			return nil, tm, false
		}
		for it := v.MapRange(); it.Next(); {
			if keys {
				if _, tm, bad = c.badZone(it.Key(), false); bad {
					return []string{fmt.Sprintf(" key %v", tm)}, tm, true
				}
			}
			if values {
				if at, tm, bad = c.badZone(it.Value(), false); bad {
					return append(at, fmt.Sprintf("[%#v]", it.Key())), tm, true
				}
			}
		}
	}
	return nil, tm, false
}

// embeddedTime returns the index of the time.Time (or *time.Time) that
// struct t embeds, whose methods JSON then calls to write t: t is written
// as that time alone.
func embeddedTime(t reflect.Type) (int, bool) {
	if t.Kind() != reflect.Struct {
		return 0, false
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && (f.Type == timeType || f.Type == reflect.PointerTo(timeType)) {
			return i, true
		}
	}
	return 0, false
}

// timeFieldsOf returns the fields of struct t that JSON encodes and that
// can hold a time.Time, found once.
func (c *JSONCheck) timeFieldsOf(t reflect.Type) []field {
	if fs, ok := c.timeFields.Load(t); ok {
		return fs.([]field)
	}
	fs, _ := c.timeFields.LoadOrStore(t, lo.Filter(c.fieldsOf(t), func(f field, _ int) bool {
		return c.shapeOf(f.typ, stored).times
	}))
	return fs.([]field)
}

// checkZones is the error of doing when v holds a time.Time that JSON
// would write as another instant (see badZone), or nil. doing is called
// only then.
func (c *JSONCheck) checkZones(doing func() string, v any) error {
	at, tm, bad := c.badZone(reflect.ValueOf(v), false)
	if !bad {
		return nil
	}
	name, offset := tm.Zone()
	return fmt.Errorf("%s (%T): %s is %v, in zone %s whose offset from UTC has seconds (%v), and JSON writes an offset to the minute, so it would be read back %v off; convert it with t.UTC(), or to a zone whose offset is whole minutes: %w",
		doing(), v, named(strings.Join(lo.Reverse(at), "")), tm, name, time.Duration(offset)*time.Second, time.Duration(offset%60)*time.Second, ErrUnencodable)
}

// badZero finds in v, of a type [JSON] accepts, a field tagged omitzero
// whose type's IsZero method reports true while the field holds another
// value than its type's zero value: JSON leaves the field out, and it
// reads back as the zero value (nil for a pointer) without what it held.
// It returns the field's path, last step first, and its type. It walks
// only what can hold such a field that JSON writes itself (see zeroers);
// what a position of type any holds is contents' to check. It asks
// reflect whether a value is addressable, as encoding/json does, to know
// which methods JSON calls. v has been encoded without error, so it
// holds no cycle.
func (c *JSONCheck) badZero(v reflect.Value) (at []string, typ reflect.Type, bad bool) {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, nil, false
		}
		return c.badZero(v.Elem())
	}
	if _, ok := c.encoderAt(t, v.CanAddr()); ok {
		return nil, nil, false // written by its method, which omits nothing of JSON's
	}
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range c.zeroFieldsOf(t) {
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil {
				continue // behind a nil embedded pointer: not encoded
			}
			if f.zeroer && zeroByMethod(fv) {
				if fv.IsZero() {
					continue // left out, and read back as it was
				}
				return []string{"." + f.name}, f.typ, true
			}
			if !f.deeper {
				continue
			}
			if at, typ, bad = c.badZero(fv); bad {
				return append(at, "."+f.name), typ, true
			}
		}
	case reflect.Slice, reflect.Array:
		if !c.shapeOf(t.Elem(), stored).zeroers {
			return nil, nil, false
		}
		for i := range v.Len() {
			if at, typ, bad = c.badZero(v.Index(i)); bad {
				return append(at, fmt.Sprintf("[%d]", i)), typ, true
			}
		}
	case reflect.Map:
		if !c.shapeOf(t.Elem(), stored).zeroers {
			return nil, nil, false
		}
		for it := v.MapRange(); it.Next(); {
			if at, typ, bad = c.badZero(it.Value()); bad {
				return append(at, fmt.Sprintf("[%#v]", it.Key())), typ, true
			}
		}
	}
	return nil, nil, false
}

// zeroByMethod reports whether encoding/json's omitzero leaves out v, a
// field whose type has an IsZero method (see field.zeroer), calling it as
// JSON does: a nil pointer is zero, and a value whose method is on its
// pointer is copied to be addressed when it is not addressable.
func zeroByMethod(v reflect.Value) bool {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		return v.IsNil() || v.Interface().(interface{ IsZero() bool }).IsZero()
	case t.Implements(isZeroer):
		return v.Interface().(interface{ IsZero() bool }).IsZero()
	}
	if !v.CanAddr() {
		boxed := reflect.New(t).Elem()
		boxed.Set(v)
		v = boxed
	}
	return v.Addr().Interface().(interface{ IsZero() bool }).IsZero()
}

// isZeroMethod names the IsZero method that omitzero calls for a field of
// type t.
func isZeroMethod(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.Pointer:
		return fmt.Sprintf("(%v).IsZero", t)
	case t.Implements(isZeroer):
		return fmt.Sprintf("%v.IsZero", t)
	}
	return fmt.Sprintf("(*%v).IsZero", t)
}

// zeroFault is the fault, for u, of a field in v that omitzero would drop
// (see badZero), or nil.
func (c *JSONCheck) zeroFault(v reflect.Value, u use) *fault {
	at, typ, bad := c.badZero(v)
	if !bad {
		return nil
	}
	lost := "so JSON would leave the field out, and it would read back as the zero value (nil for a pointer), without what it holds"
	if u == compared {
		lost = "so JSON would leave the field out, and two values that differ only in it would be taken for one"
	}
	return &fault{strings.Join(lo.Reverse(at), ""), typ,
		fmt.Sprintf("is tagged omitzero and its IsZero method (%s) reports true for a value that is not the zero value of its type, %s", isZeroMethod(typ), lost),
		fixZero}
}

// zeroField is a field of a struct that omitzero asks IsZero about
// (zeroer), or that can hold such a field (deeper).
type zeroField struct {
	field
	zeroer, deeper bool
}

// zeroFieldsOf returns the fields of struct t that JSON encodes and that
// are, or can hold, a field omitzero asks IsZero about, found once.
func (c *JSONCheck) zeroFieldsOf(t reflect.Type) []zeroField {
	if fs, ok := c.zeroFields.Load(t); ok {
		return fs.([]zeroField)
	}
	var fs []zeroField
	for _, f := range c.fieldsOf(t) {
		zf := zeroField{f, f.zeroer(), c.shapeOf(f.typ, stored).zeroers}
		if zf.zeroer || zf.deeper {
			fs = append(fs, zf)
		}
	}
	got, _ := c.zeroFields.LoadOrStore(t, fs)
	return got.([]zeroField)
}

// encoders are the methods JSON calls to encode a type's values: for
// one that is not addressable, and for one that is (see encoderOf).
type encoders struct {
	value, addr     string
	valueOK, addrOK bool
}

// encoderAt is encoderOf, found once per type: a value is walked on
// every encode.
func (c *JSONCheck) encoderAt(t reflect.Type, addr bool) (string, bool) {
	e, ok := c.encoders.Load(t)
	if !ok {
		var enc encoders
		enc.value, enc.valueOK = encoderOf(t, false)
		enc.addr, enc.addrOK = encoderOf(t, true)
		e, _ = c.encoders.LoadOrStore(t, enc)
	}
	enc := e.(encoders)
	if addr {
		return enc.addr, enc.addrOK
	}
	return enc.value, enc.valueOK
}

// named names the position path in an encoded value.
func named(path string) string {
	if path == "" {
		return "the value"
	}
	return "field " + path
}
