package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// JSONCheck checks values that are stored as JSON outside a codec, the
// root package's view and process states, and values whose JSON is only
// compared, the commands it fingerprints for idempotency keys (see
// [JSONCheck.MarshalFingerprint]). The zero value is ready to use; it
// inspects each type once, and must not be copied after first use.
type JSONCheck struct {
	shapes sync.Map // shapeKey → shape
	fields sync.Map // reflect.Type → []field, of the structs met in a value
	// timeFields holds, for the structs met in a value, the fields that
	// can hold a time (see badZone).
	timeFields sync.Map // reflect.Type → []field
	// zeroFields holds, for the structs met in a value, the fields that
	// can hold a field tagged omitzero whose type has an IsZero method
	// (see badZero).
	zeroFields sync.Map // reflect.Type → []zeroField
	encoders   sync.Map // reflect.Type → encoders
	// zeros holds, for the types met that write themselves, what they
	// write for their zero value (see ownZero); a nil slice for others.
	zeros sync.Map // reflect.Type → []byte
}

// writesAsZero reports whether v is a value of a type that writes itself
// whose method wrote data, what it writes for the zero value, while v is
// not zero: the method left out v's content.
func (c *JSONCheck) writesAsZero(v any, data []byte) bool {
	t := reflect.TypeOf(v)
	if t == nil {
		return false
	}
	z, ok := c.zeros.Load(t)
	if !ok {
		z, _ = c.zeros.LoadOrStore(t, ownZero(t))
	}
	zero := z.([]byte)
	return zero != nil && bytes.Equal(data, zero) && !reflect.ValueOf(v).IsZero()
}

// fieldsOf returns the fields of struct t that JSON encodes, found once:
// a value with fields of type any is walked on every encode.
func (c *JSONCheck) fieldsOf(t reflect.Type) []field {
	if fs, ok := c.fields.Load(t); ok {
		return fs.([]field)
	}
	fs, _ := c.fields.LoadOrStore(t, jsonFields(t).fields)
	return fs.([]field)
}

// shapeKey is a type inspected for a use: what loses a value's content
// depends on what its JSON is for. (Whether a shape has times does not:
// either shape of a type says.)
type shapeKey struct {
	t reflect.Type
	u use
}

// shapeOf inspects t for u, once.
func (c *JSONCheck) shapeOf(t reflect.Type, u use) shape {
	k := shapeKey{t, u}
	if s, ok := c.shapes.Load(k); ok {
		return s.(shape)
	}
	s, _ := c.shapes.LoadOrStore(k, inspect(t, u))
	return s.(shape)
}

// Check reports whether encoding/json stores v with its content: nil, or
// an error matching [ErrUnencodable] that says where in v's type the
// content would be lost and what to do. It makes the checks of
// [JSON.Register] on v's type (a struct whose fields are all unexported
// would be stored as {}, an unexported field beside exported ones would be
// left out, unless it is a channel or a function; a channel or a function
// cannot be encoded in an exported field; a method JSON would not call)
// and those of [JSON.Encode] on v's value: what it holds in fields of
// type any, its times, and its fields tagged omitzero whose IsZero would
// leave out a value that is not zero. A nil v holds nothing and passes. doing names the check in the error, such as
// "encode the state". Check walks v, which must hold no cycle of
// pointers; [JSONCheck.Marshal] refuses one.
func (c *JSONCheck) Check(doing string, v any) error {
	s, err := c.checkType(doing, v, stored)
	if err != nil || s == nil {
		return err
	}
	return c.checkValue(doing, v, *s, stored)
}

// checkType makes Check's checks on v's type, for u, and returns its
// shape (nil for a nil v).
func (c *JSONCheck) checkType(doing string, v any, u use) (*shape, error) {
	if v == nil {
		return nil, nil
	}
	t := reflect.TypeOf(v)
	s := c.shapeOf(t, u)
	if s.fault != nil {
		return nil, s.fault.err(doing, t)
	}
	return &s, nil
}

// checkValue makes Check's checks on v's value, of shape s, for u.
func (c *JSONCheck) checkValue(doing string, v any, s shape, u use) error {
	if f := c.valueFault(reflect.ValueOf(v), s, u); f != nil {
		return f.err(doing, reflect.TypeOf(v))
	}
	if s.times {
		return c.checkZones(func() string { return doing }, v)
	}
	return nil
}

// valueFault is what v's value, of shape s, holds that JSON would lose,
// for u: in its positions of type any (see dynamic), or in a field tagged
// omitzero (see badZero). It costs nothing for a shape with neither.
func (c *JSONCheck) valueFault(v reflect.Value, s shape, u use) *fault {
	if s.dynamic {
		if f := c.dynamic(v, u); f != nil {
			return f
		}
	}
	if s.zeroers {
		return c.zeroFault(v, u)
	}
	return nil
}

// CheckEncoded reports whether data, what encoding/json wrote for v after
// [JSONCheck.Check] passed, reads back as v: nil, or an error matching
// [ErrUnencodable]. It refuses data that nests arrays and objects deeper
// than the 10,000 levels encoding/json decodes, which could be stored but
// never read back, naming the depth; and a value holding a string that is
// not valid UTF-8, which JSON wrote with each invalid byte replaced by
// U+FFFD, naming the field that holds it. It scans data for its depth
// only when data is long enough to be that deep, and walks v only when
// data holds such a replacement, so it costs next to nothing otherwise.
// doing names the check in the error, such as "encode the state".
func (c *JSONCheck) CheckEncoded(doing string, v any, data []byte) error {
	if len(data) > 2*maxJSONDepth { // each level takes two bytes at least
		if d := jsonDepth(data); d > maxJSONDepth {
			return fmt.Errorf("%s (%T): its JSON nests arrays and objects %d levels deep, and encoding/json reads no more than %d: it would be stored and then fail every read; store the value with fewer levels of nesting: %w", doing, v, d, maxJSONDepth, ErrUnencodable)
		}
	}
	if v == nil || !bytes.Contains(data, replaced) {
		return nil
	}
	if where, bad := c.badString(reflect.ValueOf(v), false, ""); bad {
		return fmt.Errorf("%s (%T): %s holds a string that is not valid UTF-8: JSON would store it changed; store bytes as []byte: %w", doing, v, where, ErrUnencodable)
	}
	return nil
}

// Marshal encodes v with encoding/json after [JSONCheck.Check], and checks
// what it wrote with [JSONCheck.CheckEncoded]: the JSON of v, or an error
// matching [ErrUnencodable] that says what JSON could not write and what
// to do, whether the checks or encoding/json itself refused v (a NaN, an
// infinity or a cycle of pointers, a channel held in a field of type
// any, a MarshalJSON of v's that failed). doing names the encoding in
// the error, such as "encode the state".
func (c *JSONCheck) Marshal(doing string, v any) ([]byte, error) {
	return c.marshal(doing, v, stored)
}

// MarshalFingerprint is [JSONCheck.Marshal] for a value whose JSON is
// compared and never decoded, such as a command fingerprinted for an
// idempotency key: what matters there is that the JSON tells values
// apart. So a type that writes itself (MarshalJSON or MarshalText) passes
// without a method to read itself back, since what its method writes is
// its own; and an unexported field beside exported ones is refused
// because JSON leaves it out, so that two values that differ only in it
// would be taken for one, which is what the error says. Fields of kind
// chan or func pass there, as everywhere: they are not data.
func (c *JSONCheck) MarshalFingerprint(doing string, v any) ([]byte, error) {
	return c.marshal(doing, v, compared)
}

// marshal is Marshal for u.
func (c *JSONCheck) marshal(doing string, v any, u use) ([]byte, error) {
	s, err := c.checkType(doing, v, u)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, marshalFailed(doing, v, err)
	}
	if c.writesAsZero(v, data) {
		return nil, fmt.Errorf("%s (%T): the value, which is not its type's zero value, is written as the zero value is (%s): the type's own %s leaves out its content; make it write every field that holds content: %w",
			doing, v, clip(data), ownEncoder(reflect.TypeOf(v)), ErrUnencodable)
	}
	// Encoded without error, v holds no cycle: its value can be walked.
	if s != nil {
		if err := c.checkValue(doing, v, *s, u); err != nil {
			return nil, err
		}
	}
	if err := c.CheckEncoded(doing, v, data); err != nil {
		return nil, err
	}
	return data, nil
}

// marshalFailed is the error of doing, whose json.Marshal of v failed with
// err: it matches err and [ErrUnencodable], and says what to do.
func marshalFailed(doing string, v any, err error) error {
	fix := "store a value JSON can write"
	var (
		value     *json.UnsupportedValueError
		typ       *json.UnsupportedTypeError
		marshaler *json.MarshalerError
	)
	switch {
	case errors.As(err, &value):
		fix = "JSON has no form for a float's NaN or infinities, nor for a cycle of pointers: keep such a value out (a nil pointer for a number that has none, say)"
	case errors.As(err, &typ):
		fix = "JSON has no form for a channel, a function or a complex number, held here in a field of type any: hold a type JSON writes there"
	case errors.As(err, &marshaler):
		fix = "the type's own MarshalJSON or MarshalText failed: make it write valid JSON for every value, or keep the value out"
	}
	return fmt.Errorf("%s (%T): %w; %s: %w", doing, v, err, fix, ErrUnencodable)
}
