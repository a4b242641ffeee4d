package upcast

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/annals-dev/annals/internal/names"
)

// ErrSchemaVersion reports a stored schema version that the code cannot
// read: newer than the current version, or with no chain of upcasters
// leading to it. Package codec's ErrSchemaVersion is this same value.
var ErrSchemaVersion = errors.New("unsupported schema version")

// Func turns a payload of one schema version into the payload of the next
// version. It must not modify data; it returns new bytes, or data itself
// when nothing changes.
type Func func(data []byte) ([]byte, error)

// Payload is a stored payload with the type name and schema version it was
// written as.
type Payload struct {
	Type    string
	Version int
	Data    []byte
}

// Target reports the current schema version of a type name, and whether
// the code knows the type at all. A decoder (such as the store's JSON
// codec) provides it.
type Target func(typeName string) (version int, ok bool)

// Registry holds upcasters and renames. The zero value is an empty
// registry ready to use, as is the result of [New]; a nil *Registry
// upcasts nothing.
type Registry struct {
	steps   map[key]step
	renames map[string]string
	names   map[string]bool // every name a step or rename leads from or to
}

type key struct {
	name    string
	version int
}

// step turns (name, version) of its key into (to.name, to.version).
type step struct {
	to key
	f  Func // nil for a rename that leaves the bytes alone
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{steps: map[key]step{}, renames: map[string]string{}}
}

// Add registers f as the upcaster from schema version from of typeName to
// version from+1. It returns r, so that calls chain. It panics when the
// name is one no store keeps (empty, longer than 255 bytes, not valid
// UTF-8 or holding a NUL byte, as the stores' limit on type names has
// it), from is below 1, f is nil, or a step from (typeName, from) is
// already registered: that is a programming error found at start-up.
func (r *Registry) Add(typeName string, from int, f Func) *Registry {
	if r == nil {
		panic("annals: upcast.Add: nil *Registry: make one with upcast.New()")
	}
	switch {
	case f == nil:
		panic(fmt.Sprintf("annals: upcast.Add(%q, %d): nil upcaster", typeName, from))
	case from == int(^uint(0)>>1):
		panic(fmt.Sprintf("annals: upcast.Add(%q, %d): no version after it", typeName, from))
	}
	r.addStep(typeName, from, step{to: key{typeName, from + 1}, f: f}, "Add")
	return r
}

// Rename makes payloads stored under oldName read as newName, at the same
// schema version. A step registered with [Registry.Add] or
// [Registry.RenameAt] for the exact name and version of a payload runs
// instead. It panics when a name is one no store keeps (see
// [Registry.Add]), the names are equal, or oldName is already renamed.
func (r *Registry) Rename(oldName, newName string) *Registry {
	if r == nil {
		panic("annals: upcast.Rename: nil *Registry: make one with upcast.New()")
	}
	badName("Rename", oldName, newName)
	switch {
	case oldName == newName:
		panic(fmt.Sprintf("annals: upcast.Rename(%q, %q): a type cannot be renamed to itself", oldName, newName))
	}
	if prev, dup := r.renames[oldName]; dup {
		panic(fmt.Sprintf("annals: upcast.Rename(%q, %q): already renamed to %q", oldName, newName, prev))
	}
	if r.renames == nil {
		r.renames = map[string]string{}
	}
	r.renames[oldName] = newName
	r.addNames(oldName, newName)
	return r
}

// RenameAt makes payloads stored under oldName at schema version version
// read as newName at schema version newVersion, with unchanged bytes: for a
// type that got a new name, and perhaps a fresh version count, when its
// schema changed. It panics on a name no store keeps (see
// [Registry.Add]), a version below 1, a rename to the same name and
// version, or a step already registered from (oldName, version).
func (r *Registry) RenameAt(oldName string, version int, newName string, newVersion int) *Registry {
	if r == nil {
		panic("annals: upcast.RenameAt: nil *Registry: make one with upcast.New()")
	}
	badName("RenameAt", oldName, newName)
	switch {
	case newVersion < 1:
		panic(fmt.Sprintf("annals: upcast.RenameAt(%q, %d, %q, %d): schema version %d, want ≥ 1", oldName, version, newName, newVersion, newVersion))
	case oldName == newName && version == newVersion:
		panic(fmt.Sprintf("annals: upcast.RenameAt(%q, %d, %q, %d): renames a version to itself", oldName, version, newName, newVersion))
	}
	r.addStep(oldName, version, step{to: key{newName, newVersion}}, "RenameAt")
	return r
}

func (r *Registry) addStep(name string, version int, s step, method string) {
	badName(method, name)
	switch {
	case version < 1:
		panic(fmt.Sprintf("annals: upcast.%s(%q, %d): schema version %d, want ≥ 1", method, name, version, version))
	}
	k := key{name, version}
	if prev, dup := r.steps[k]; dup {
		panic(fmt.Sprintf("annals: upcast.%s(%q, %d): a step from this version is already registered (to %q v%d)", method, name, version, prev.to.name, prev.to.version))
	}
	if r.steps == nil {
		r.steps = map[key]step{}
	}
	r.steps[k] = s
	r.addNames(name, s.to.name)
}

// badName panics when one of names is a type name that no store keeps:
// empty, longer than store.MaxTypeLen bytes, not valid UTF-8 or holding a
// NUL byte. A step from such a name would never meet a record, and one
// to it would lead to no type a codec registers.
func badName(method string, typeNames ...string) {
	for _, n := range typeNames {
		if problem := names.TypeName(n); problem != "" {
			panic(fmt.Sprintf("annals: upcast.%s: %s; name the type as the store keeps it", method, problem))
		}
	}
}

func (r *Registry) addNames(typeNames ...string) {
	if r.names == nil {
		r.names = map[string]bool{}
	}
	for _, n := range typeNames {
		r.names[n] = true
	}
}

// leadsToRead reports whether some step or rename of r leads from name,
// at any version and through any chain, to a type that current reads. A
// nil registry, which has none, leads nowhere.
func (r *Registry) leadsToRead(name string, current Target) bool {
	if r == nil {
		return false
	}
	seen := map[string]bool{}
	var from func(n string) bool
	from = func(n string) bool {
		if seen[n] {
			return false
		}
		seen[n] = true
		if _, ok := current(n); ok && n != name {
			return true
		}
		for k, st := range r.steps {
			if k.name == n && st.to.name != n && from(st.to.name) {
				return true
			}
			if k.name == n && st.to.name == n {
				if _, ok := current(n); ok {
					return true
				}
			}
		}
		if to, ok := r.renames[n]; ok && from(to) {
			return true
		}
		return false
	}
	return from(name)
}

// Reads returns the names of r that a reader of the types current reads
// must take from the log: those types, and every name some step or rename
// leads from to one of them. A name that leads only to types the reader
// does not read is left out, so that readers sharing a registry each read
// only their own records.
func (r *Registry) Reads(current Target, names []string) []string {
	out := slices.Clone(names)
	for _, n := range r.Names() {
		if r.leadsToRead(n, current) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Sources returns name and every name some step or rename of r leads
// from to name, sorted: the names under which records that a reader of
// name takes may be stored. A query for name's records must ask for them
// all, or it misses those stored before a rename.
func (r *Registry) Sources(name string) []string {
	only := func(n string) (int, bool) { return 0, n == name }
	out := []string{name}
	for _, n := range r.Names() {
		if n != name && r.leadsToRead(n, only) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Check reports a type that a reader reads, at the version it reads
// (current), but that r would take elsewhere: a name renamed away with
// Rename, or a step (Add, RenameAt) registered from the version the
// reader reads. Such a step never runs, since a payload at the version
// the reader reads is not upcast, so records stored under the old
// meaning of the name would be read as the reader's type: typically a
// name given to a new type after the old type of that name was renamed
// away. names are the names the reader reads; current is nil when the
// reader does not say its versions, and then only renames are checked.
// The error matches [ErrSchemaVersion] and says what to do.
func (r *Registry) Check(current Target, names []string) error {
	if r == nil {
		return nil
	}
	for _, n := range names {
		if current != nil {
			v, ok := current(n)
			if !ok {
				continue
			}
			if s, ok := r.next(n, v); ok {
				return fmt.Errorf("upcast: the codec reads %q at schema version %d, which the upcasters take to %q v%d: that step never runs, and records stored as %q v%d would be read as the codec's type; give the codec's type another name, or remove the step: %w",
					n, v, s.to.name, s.to.version, n, v, ErrSchemaVersion)
			}
			continue
		}
		if to, ok := r.renames[n]; ok {
			return fmt.Errorf("upcast: the codec reads %q, which the upcasters rename to %q: that rename never runs, and records stored as %q would be read as the codec's type; give the codec's type another name, or remove the rename: %w",
				n, to, n, ErrSchemaVersion)
		}
	}
	return nil
}

// Names returns every type name a step or rename of r reads or leads to,
// sorted: with the codec's names, the types a reader of the log must take
// so that no record stored under an old name escapes it.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	names := make([]string, 0, len(r.names))
	for n := range r.names {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// next returns the step that applies to a payload of name at version.
func (r *Registry) next(name string, version int) (step, bool) {
	if r == nil {
		return step{}, false
	}
	if s, ok := r.steps[key{name, version}]; ok {
		return s, true
	}
	if to, ok := r.renames[name]; ok {
		return step{to: key{to, version}}, true
	}
	return step{}, false
}

// Upcast brings p to the current schema version of its type, as current
// reports it, running one step at a time. It returns p unchanged when it is
// already current.
//
// When current does not know the type, the registry has no step for it and
// p has not been upcast yet, p is returned as it is, for the decoder to
// report the unknown type. When current is nil, every step that applies
// runs and the decoder judges the result.
//
// A payload newer than the current version, a missing step, a chain that
// leads back to where it started, or a stored version below 1, which no
// step can be registered from, fails with an error that matches
// [ErrSchemaVersion] and is a [*VersionError]. An upcaster's own error is
// returned wrapped with the type and versions of the failed step.
func (r *Registry) Upcast(p Payload, current Target) (Payload, error) {
	start := p
	var seen []key
	for {
		want, known := 0, false
		if current != nil {
			want, known = current(p.Type)
		}
		if known {
			switch {
			case p.Version == want:
				return p, nil
			case p.Version > want:
				return p, &VersionError{Type: p.Type, Version: p.Version, Current: want, StoredType: start.Type, StoredVersion: start.Version, newer: true}
			}
		}
		s, ok := r.next(p.Type, p.Version)
		if !ok {
			// A chain that stops short of the version the code reads is
			// broken. A type the code does not read at all is not this
			// code's: the codec reports it as unknown, so that a reader
			// that shares an upcaster with others skips it.
			if known || (current != nil && r.leadsToRead(p.Type, current)) {
				return p, &VersionError{Type: p.Type, Version: p.Version, Current: want, StoredType: start.Type, StoredVersion: start.Version}
			}
			return p, nil
		}
		k := key{p.Type, p.Version}
		if slices.Contains(seen, k) {
			return p, &VersionError{Type: p.Type, Version: p.Version, StoredType: start.Type, StoredVersion: start.Version, cycle: true}
		}
		seen = append(seen, k)
		if s.f != nil {
			data, err := s.f(p.Data)
			if err != nil {
				return p, fmt.Errorf("upcast %q from schema version %d to %d: %w", p.Type, p.Version, s.to.version, err)
			}
			p.Data = data
		}
		p.Type, p.Version = s.to.name, s.to.version
	}
}

// VersionError is the error of a payload that cannot be brought to the
// current schema version. It matches [ErrSchemaVersion] with errors.Is.
type VersionError struct {
	// Type and Version are where the chain stopped.
	Type    string
	Version int
	// Current is the version the code reads for Type; 0 when it does not
	// read Type at all (the chain stopped at an old name), or for a cycle.
	Current int
	// StoredType and StoredVersion are what the payload was stored as.
	StoredType    string
	StoredVersion int

	newer, cycle bool
}

// Error names the type and the versions stored, reached and wanted.
func (e *VersionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upcast %q", e.StoredType)
	if e.StoredType != e.Type || e.StoredVersion != e.Version {
		fmt.Fprintf(&b, " v%d (now %q v%d)", e.StoredVersion, e.Type, e.Version)
	}
	switch {
	case e.cycle:
		fmt.Fprintf(&b, ": the upcasters lead back to %q v%d in a cycle; fix the renames", e.Type, e.Version)
	case e.Version < 1:
		fmt.Fprintf(&b, ": stored schema version %d is invalid: a schema version starts at 1, so the record was not written by this library's codec, or was changed since; correct the record's schema version", e.Version)
	case e.newer:
		fmt.Fprintf(&b, ": stored schema version %d is newer than version %d that this code reads; deploy the newer code", e.Version, e.Current)
	case e.Current == 0:
		fmt.Fprintf(&b, ": this code does not read %q, and no upcaster or rename is registered from %q v%d; register one with Add(%q, %d, f) or RenameAt",
			e.Type, e.Type, e.Version, e.Type, e.Version)
	default:
		fmt.Fprintf(&b, ": stored schema version %d, this code reads version %d, and no upcaster is registered from %q v%d; register one with Add(%q, %d, f)",
			e.Version, e.Current, e.Type, e.Version, e.Type, e.Version)
	}
	b.WriteString(": ")
	b.WriteString(ErrSchemaVersion.Error())
	return b.String()
}

// Is makes errors.Is(err, ErrSchemaVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrSchemaVersion }
