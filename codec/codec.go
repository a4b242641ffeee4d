package codec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Codec turns typed events into stored bytes and back.
//
// Encode returns the type name, the schema version and the payload of an
// event. Decode returns the event of a type name, schema version and
// payload; a type name it does not know fails with [ErrUnknownEventType].
type Codec[E any] interface {
	Encode(e E) (typeName string, schemaVersion int, data []byte, err error)
	Decode(typeName string, schemaVersion int, data []byte) (E, error)
}

// JSON is a [Codec] that stores events as JSON, with a registry from
// type names to Go types. Register every concrete type that can appear in
// E before use; a type that implements json.Marshaler and
// json.Unmarshaler (on its pointer) encodes itself.
//
// A JSON refuses at registration a type whose values it would store
// without their content, since reloading them would give another state
// and no error: see [JSON.RegisterVersion] and [ErrUnencodable]. After a
// refusal, [JSON.Err] reports it and every call that encodes or decodes
// returns it, so nothing is stored until the registration is fixed.
//
// A JSON is also a [Mapper] and a [SnapshotMapper] that stores plain
// JSON, for the simple case: annals.NewRunner(s, d, codec). It reads
// compressed records too, but not encrypted ones, and upcasts nothing;
// wrap it with [NewMapper] for that.
//
// A JSON is safe for concurrent use once its types are registered.
type JSON[E any] struct {
	byName map[string]jsonType
	byType map[reflect.Type]jsonType
	plain  *pipeline // reads what needs no configuration: compression
	err    error     // the first registration refused
	check  JSONCheck // inspects the values found in fields of type any
}

var (
	_ Mapper[int]         = (*JSON[int])(nil)
	_ SnapshotMapper[int] = (*JSON[int])(nil)
	_ SchemaVersioner     = (*JSON[int])(nil)
)

type jsonType struct {
	name    string
	version int
	typ     reflect.Type
	shape   shape // what Encode checks of a value: see shape
	// zero is what a type that writes itself writes for its zero value,
	// nil for others: see ownZero.
	zero []byte
}

// NewJSON returns a JSON codec with no registered types.
func NewJSON[E any]() *JSON[E] {
	return &JSON[E]{byName: map[string]jsonType{}, byType: map[reflect.Type]jsonType{}, plain: &pipeline{}}
}

// Register maps the type name to the dynamic type of sample, at schema
// version 1. sample must be a value of a concrete type that E holds, such
// as DogRegistered{} for an interface E. It returns c, so that calls chain.
// It panics when the name is one no store keeps (empty, longer than
// [store.MaxTypeLen] bytes, not valid UTF-8 or holding a NUL byte, which
// every append would refuse) or either the name or the type is already
// registered: that is a programming error found at start-up.
//
// A type whose values JSON would store without their content is refused
// (see [JSON.RegisterVersion]): the refusal is kept, [JSON.Err] reports
// it, and every later call that encodes or decodes returns it.
func (c *JSON[E]) Register(name string, sample E) *JSON[E] {
	return c.RegisterVersion(name, 1, sample)
}

// RegisterVersion is [JSON.Register] for a type whose current schema
// version is not 1. Records of older versions are upcast before they reach
// the codec (see package upcast).
//
// It refuses, with an error matching [ErrUnencodable], a type whose
// values would not survive JSON:
//
//   - a struct with fields but none that JSON encodes (all unexported, or
//     all tagged json:"-"), which would be stored as {} — decider.Either
//     is one — unless it
//     implements json.Marshaler (or encoding.TextMarshaler) and its
//     pointer json.Unmarshaler (or encoding.TextUnmarshaler); the same for
//     every struct reached through its exported fields, slices, arrays,
//     maps and pointers;
//   - a struct of the program's own module with an unexported field
//     beside exported ones, which JSON never reads (and writes only by
//     the struct's own MarshalJSON), unless the struct decodes itself
//     (UnmarshalJSON or UnmarshalText) or the field holds no data: its
//     type has size zero, or is a channel or a function (tag the field
//     json:"-" when it holds nothing that must be kept); a dependency's
//     types, such as generated protobuf messages, are taken as their
//     authors made them, and a module nested in the main module's path
//     (example.com/app/api beside example.com/app) is a dependency;
//   - a struct with fields of one JSON name of which JSON stores none:
//     two embedded structs with an X at the same depth (and no shallower
//     X), or two fields tagged with the same name. A field hidden by a
//     shallower one of its name, or by one tagged with its name at its
//     depth, is left out as encoding/json leaves it out, and passes: in Go
//     too, v.X names the field that hides it;
//   - a struct whose MarshalJSON or UnmarshalJSON is promoted from an
//     embedded field, such as a time.Time, while it has other fields: JSON
//     would encode the embedded field alone;
//   - a type that declares MarshalJSON on its pointer where JSON does not
//     call it (the registered value itself, a map value);
//   - a chan, func, complex number or unsafe.Pointer, an interface other
//     than any, and a map key that is not a string, an integer or a text
//     marshaler;
//   - a sample that does not survive encoding: it must decode to a value
//     that is reflect.DeepEqual to it or that encodes to the same bytes,
//     and hold nothing that [JSON.Encode] refuses; a sample that is not
//     its type's zero value and that the type's own MarshalJSON or
//     MarshalText writes as it writes the zero value ({} or "") is
//     refused, and so is every such value [JSON.Encode] is given. Pass a
//     sample with its fields set to check a type's own marshalers.
//
// An empty struct, such as a marker event, is accepted: it has nothing to
// lose; declare an event with no content so, rather than with fields
// tagged json:"-". The content of a field of type any is known only from
// a value: [JSON.Encode] refuses a value that holds a type refused here,
// or an integer beyond ±2^53, a json.Number, or a number written by a
// value's own MarshalJSON (a *big.Int, a json.RawMessage) that a float64
// (which JSON decodes a number into there) cannot hold exactly, and
// decodes as JSON's own types (map[string]any, []any, float64, string,
// bool). It refuses too a value nested deeper than the 10,000 levels
// encoding/json decodes, and a field tagged omitzero whose IsZero
// method calls a value zero that is not the zero value of its type,
// which JSON would leave out (see the package documentation).
//
// Only the first refusal is kept; later registrations are not checked.
func (c *JSON[E]) RegisterVersion(name string, version int, sample E) *JSON[E] {
	if c == nil || c.byName == nil {
		mustBeMade("JSON.Register", c.Err())
	}
	t := reflect.TypeOf(any(sample))
	if err := check.TypeName(name); err != nil {
		panic(fmt.Sprintf("annals: JSON.Register: %v; name the type as the store can keep it", err))
	}
	switch {
	case t == nil:
		panic(fmt.Sprintf("annals: JSON.Register(%q): sample is a nil interface; pass a value of the concrete type", name))
	case version < 1:
		panic(fmt.Sprintf("annals: JSON.Register(%q): schema version %d, want ≥ 1", name, version))
	}
	if old, ok := c.byName[name]; ok {
		panic(fmt.Sprintf("annals: JSON.Register: type name %q already maps to %v", name, old.typ))
	}
	if old, ok := c.byType[t]; ok {
		panic(fmt.Sprintf("annals: JSON.Register: %v already registered as %q", t, old.name))
	}
	if c.err != nil {
		return c
	}
	s := inspect(t, stored)
	if s.fault == nil {
		s.fault = roundTrip(t, any(sample))
		if s.fault != nil && s.dynamic && encodes(any(sample)) {
			// A value below an interface that the sample loses (a large
			// integer in a field of type any) says why better than the
			// round trip's advice, which is for a type's own methods.
			if f := c.check.valueFault(reflect.ValueOf(any(sample)), s, stored); f != nil {
				s.fault = f
			}
		}
	}
	if s.fault == nil {
		// Encoded without error, the sample holds no cycle. What Encode
		// would refuse of it, registering it refuses: a filled sample is
		// how a value's loss shows before anything is stored.
		s.fault = c.check.valueFault(reflect.ValueOf(any(sample)), s, stored)
	}
	if s.fault != nil {
		c.err = s.fault.err(fmt.Sprintf("register %q", name), t)
		return c
	}
	jt := jsonType{name: name, version: version, typ: t, shape: s, zero: ownZero(t)}
	c.byName[name] = jt
	c.byType[t] = jt
	return c
}

// registeredAs says, for the error of a type t that is not registered,
// that its pointer, or the type it points to, is registered under a
// name: a sample registered as &Event{} where Decide returns Event{}, or
// the other way round; otherwise, for a struct, how to register it.
func (c *JSON[E]) registeredAs(t reflect.Type) string {
	if t == nil {
		return ""
	}
	other := reflect.PointerTo(t)
	if t.Kind() == reflect.Pointer {
		other = t.Elem()
	}
	if jt, ok := c.byType[other]; ok {
		return fmt.Sprintf(" (%v is, as %q: register a sample of the type the decider returns, %v, or return %v)", other, jt.name, t, other)
	}
	if t.Kind() != reflect.Struct || t.Name() == "" {
		return ""
	}
	return fmt.Sprintf(" (register it under its stored name, as in .Register(%q, %v{}), on the codec that the runner or consumer is given)", t.Name(), t)
}

// Err returns the first registration that was refused, an error matching
// [ErrUnencodable], or nil. While it is not nil, every call that encodes
// or decodes returns it.
func (c *JSON[E]) Err() error {
	if c == nil || c.byName == nil {
		return notMade("JSON", "make one with codec.NewJSON")
	}
	return c.err
}

// replaced is how encoding/json writes each byte of a string that is not
// valid UTF-8. Encode looks for it in what JSON wrote, which costs next to
// nothing, and only then walks the value for such a string: a valid
// string holding U+FFFD is written as the character itself, and the text
// \ufffd with its backslash escaped.
var replaced = []byte(`\ufffd`)

// Encode implements [Codec]. A value that holds, in a field of type any,
// a value of a type that [JSON.RegisterVersion] would refuse fails with
// [ErrUnencodable], and so does a value that holds a string that is not
// valid UTF-8, which JSON would store changed (store bytes as []byte), a
// time.Time in a zone whose offset has seconds, which JSON writes to the
// minute (store it in UTC), a field tagged omitzero whose IsZero calls a
// value zero that is not the zero value of its type, which JSON would
// leave out (drop omitzero, or make IsZero true only for the zero value),
// or what encoding/json cannot write (a NaN, an infinity, a cycle of
// pointers).
func (c *JSON[E]) Encode(e E) (string, int, []byte, error) {
	if err := c.Err(); err != nil {
		return "", 0, nil, err
	}
	t := reflect.TypeOf(any(e))
	if t == nil {
		return "", 0, nil, fmt.Errorf("encode a nil %v: an event must hold a value of a registered type; a decider or reaction returned a nil event (leave it out of the slice instead): %w", reflect.TypeFor[E](), store.ErrInvalid)
	}
	jt, ok := c.byType[t]
	if !ok {
		return "", 0, nil, fmt.Errorf("encode %v: type not registered with the codec%s: %w", t, c.registeredAs(t), ErrUnknownEventType)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return "", 0, nil, marshalFailed(fmt.Sprintf("encode %q", jt.name), any(e), err)
	}
	if jt.zero != nil && bytes.Equal(data, jt.zero) && !reflect.ValueOf(any(e)).IsZero() {
		return "", 0, nil, fmt.Errorf("encode %q: %v writes this value, which is not its zero value, as it writes its zero value (%s): its own %s leaves out the value's content, which would be stored without it; make it write every field that holds content: %w",
			jt.name, t, clip(data), ownEncoder(t), ErrUnencodable)
	}
	if bytes.Contains(data, replaced) || len(data) > 2*maxJSONDepth { // rare: formats doing only then
		if err := c.check.CheckEncoded(fmt.Sprintf("encode %q", jt.name), any(e), data); err != nil {
			return "", 0, nil, err
		}
	}
	if jt.shape.dynamic || jt.shape.zeroers {
		if f := c.check.valueFault(reflect.ValueOf(any(e)), jt.shape, stored); f != nil {
			return "", 0, nil, f.err(fmt.Sprintf("encode %q", jt.name), t)
		}
	}
	if jt.shape.times {
		if err := c.check.checkZones(func() string { return fmt.Sprintf("encode %q", jt.name) }, any(e)); err != nil {
			return "", 0, nil, err
		}
	}
	return jt.name, jt.version, data, nil
}

// Decode implements [Codec]. A schema version other than the registered one
// is an error: upcast old records before decoding them.
func (c *JSON[E]) Decode(name string, version int, data []byte) (E, error) {
	var zero E
	if err := c.Err(); err != nil {
		return zero, err
	}
	jt, ok := c.byName[name]
	if !ok {
		return zero, fmt.Errorf("decode %q: no Go type registered for this name: register the type such events decode to, as in .Register(%q, T{}), or, for a name the code no longer has, an upcaster that renames it to the name that replaced it (upcast.New().Rename(old, new)): %w", name, name, ErrUnknownEventType)
	}
	switch {
	case version < 1:
		return zero, fmt.Errorf("decode %q: stored schema version %d is invalid: a schema version starts at 1, so the record was not written by a codec of this library, or was changed since: %w", name, version, ErrSchemaVersion)
	case version > jt.version:
		return zero, fmt.Errorf("decode %q: stored schema version %d is newer than version %d that this code reads; deploy the newer code: %w", name, version, jt.version, ErrSchemaVersion)
	case version < jt.version:
		return zero, fmt.Errorf("decode %q: stored schema version %d, the codec reads version %d; upcast old records before decoding them (codec.NewMapper with codec.WithUpcaster): %w", name, version, jt.version, ErrSchemaVersion)
	}
	if jt.typ.Kind() == reflect.Struct && !writesItself(jt.typ) && string(bytes.TrimSpace(data)) == "null" {
		// JSON would leave the value zero. A struct written field by
		// field is written as an object, never as null; one that reads
		// itself decides what null means.
		return zero, fmt.Errorf("decode %q v%d: the stored payload is null, which the codec writes for no %v, so it was changed since it was written: %w", name, version, jt.typ, store.ErrCorrupt)
	}
	p := reflect.New(jt.typ)
	if err := json.Unmarshal(data, p.Interface()); err != nil {
		if _, syntax := errors.AsType[*json.SyntaxError](err); syntax {
			// A codec writes only valid JSON.
			return zero, fmt.Errorf("decode %q v%d: the stored payload is not valid JSON (%w), so it was changed since it was written, or its encoding does not name a step it went through: %w", name, version, err, store.ErrCorrupt)
		}
		if _, mismatch := errors.AsType[*json.UnmarshalTypeError](err); mismatch {
			return zero, fmt.Errorf("decode %q v%d: the stored payload does not fit %v (%w): the record was changed since it was written, or the type changed a field's type without a new schema version and an upcaster for the records written before", name, version, jt.typ, err)
		}
		return zero, fmt.Errorf("decode %q v%d: %w", name, version, err)
	}
	e, ok := p.Elem().Interface().(E)
	if !ok {
		return zero, fmt.Errorf("decode %q: %v is not a %v", name, jt.typ, reflect.TypeFor[E]())
	}
	return e, nil
}

// Types implements [Mapper]: the registered type names, sorted, so that a
// consumer of the log reads only the events it can decode.
func (c *JSON[E]) Types() []string {
	if c == nil {
		return nil
	}
	names := make([]string, 0, len(c.byName))
	for name := range c.byName {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// SchemaVersion implements [SchemaVersioner]: it returns the schema version
// registered for a type name.
func (c *JSON[E]) SchemaVersion(name string) (int, bool) {
	if c == nil {
		return 0, false
	}
	jt, ok := c.byName[name]
	return jt.version, ok
}

// ToEvent implements [Mapper]: the event's JSON, stored as it is.
func (c *JSON[E]) ToEvent(_ context.Context, at Placement, e E, meta store.Metadata) (store.Event, error) {
	name, version, data, err := c.Encode(e)
	if err != nil {
		return store.Event{}, err
	}
	return store.Event{ID: at.ID, Type: name, SchemaVersion: version, Data: data, Metadata: meta}, nil
}

// FromRecord implements [Mapper].
func (c *JSON[E]) FromRecord(ctx context.Context, r store.Record) (E, error) {
	if err := c.Err(); err != nil {
		var zero E
		return zero, err
	}
	id := identity{kind: 'e', streamID: r.StreamID, version: r.Version, eventID: r.ID, typ: r.Type, schema: r.SchemaVersion}
	data, _, err := c.plain.open(ctx, id, r.Data, r.Encoding)
	if err != nil {
		var zero E
		return zero, err
	}
	return c.Decode(r.Type, r.SchemaVersion, data)
}

// ToSnapshot implements [SnapshotMapper]: the state's JSON, stored as it
// is, under the name and version the state's type is registered with.
func (c *JSON[E]) ToSnapshot(_ context.Context, streamID string, version int64, s E) (snapshot.Snapshot, error) {
	name, schema, data, err := c.Encode(s)
	if err != nil {
		return snapshot.Snapshot{}, err
	}
	return snapshot.Snapshot{StreamID: streamID, Version: version, Type: name, SchemaVersion: schema, Time: time.Now().UTC(), Data: data}, nil
}

// FromSnapshot implements [SnapshotMapper]. A snapshot of a type name or
// schema version other than the registered one fails with
// [ErrUnknownEventType] or [ErrSchemaVersion], and so does one whose JSON
// has another shape than the registered type writes (an object key that
// one has and the other has not, at any depth, or an array of another
// length): the type changed without a new schema version, and the
// snapshot would be misread.
func (c *JSON[E]) FromSnapshot(ctx context.Context, s snapshot.Snapshot) (E, error) {
	if err := c.Err(); err != nil {
		var zero E
		return zero, err
	}
	id := identity{kind: 's', streamID: s.StreamID, version: s.Version, typ: s.Type, schema: s.SchemaVersion}
	var zero E
	data, _, err := c.plain.open(ctx, id, s.Data, s.Encoding)
	if err != nil {
		return zero, err
	}
	v, err := c.Decode(s.Type, s.SchemaVersion, data)
	if err != nil {
		return zero, err
	}
	if _, _, written, err := c.Encode(v); err == nil {
		if err := checkSnapshotShape(s.Type, s.SchemaVersion, data, written); err != nil {
			return zero, err
		}
	}
	return v, nil
}

// writesItself reports whether t, or its pointer, writes or reads itself
// (MarshalJSON, MarshalText, UnmarshalJSON or UnmarshalText): what JSON
// holds for it is then the type's to say.
func writesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler)
}
