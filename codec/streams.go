package codec

import (
	stdenc "encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/annals-dev/annals/store"
)

// Streams names the streams of the instances of a decider.Many: each
// instance is stored in a stream of its own, named from its key, and a
// record's stream gives back the key of the instance it belongs to.
//
// Key must invert Stream: Key(Stream(k)) is k, true for every key (or a
// key that Stream names alike, such as a time.Time read back in another
// location: keys that Stream names alike are one instance), and a
// stream that Stream does not name for any key gives false. [StreamOf]
// checks it for a key, and annals.Instances and [KeyedMapper] refuse
// the commands and events of a key whose stream Key does not read back:
// the log's readers would take its events for another instance's, or
// skip them as no instance's. Two kinds
// of instances stored in one store need names that never meet, which a
// prefix per kind gives: see [StreamPrefix], the usual way to build one.
type Streams[K comparable] struct {
	// Stream returns the stream of the instance key.
	Stream func(key K) string
	// Key returns the key of the instance whose stream is streamID, or
	// false when streamID is not the stream of an instance.
	Key func(streamID string) (K, bool)

	// Set by StreamPrefix, so that NewSum can check that two kinds of
	// instances never share a stream.
	prefix   string
	byPrefix bool
}

// StreamOf returns the stream of the instance key, or an error matching
// [store.ErrInvalid] when Key does not read that stream back as key, or
// as a key whose stream it is (see [Streams]).
func (s Streams[K]) StreamOf(key K) (string, error) {
	stream := s.Stream(key)
	back, ok := s.Key(stream)
	switch {
	case !ok:
		return "", fmt.Errorf("the stream %q of instance %v reads back as no instance's: the Key of its codec.Streams must invert Stream; correct it, or build it with codec.StreamPrefix: %w", stream, key, store.ErrInvalid)
	case back != key && s.Stream(back) != stream:
		return "", fmt.Errorf("the stream %q of instance %v reads back as instance %v, whose stream is %q: the Key of its codec.Streams must invert Stream; correct it, or build it with codec.StreamPrefix: %w", stream, key, back, s.Stream(back), store.ErrInvalid)
	}
	return stream, nil
}

// StreamPrefix names the stream of the instance key prefix followed by
// the key as text: "book-" and the ISBN "978-0" give "book-978-0". The
// text of a key is its own text when its type implements
// encoding.TextMarshaler and its pointer encoding.TextUnmarshaler (a
// uuid.UUID), the string for a string type, and the decimal number for an
// integer type. Key accepts only the stream Stream would name, so "book-07"
// is no instance of an integer key.
//
// It panics for a key type with no text form (a struct, a float): give
// [Streams] a Stream and a Key function of your own for it.
func StreamPrefix[K comparable](prefix string) Streams[K] {
	format, parse := keyText[K]()
	st := Streams[K]{prefix: prefix, byPrefix: true}
	st.Stream = func(key K) string { return prefix + format(key) }
	st.Key = func(streamID string) (K, bool) {
		var zero K
		text, ok := strings.CutPrefix(streamID, prefix)
		if !ok {
			return zero, false
		}
		k, ok := parse(text)
		if !ok || st.Stream(k) != streamID {
			return zero, false
		}
		return k, true
	}
	return st
}

// keyText returns how a key of type K is written as text and read back.
func keyText[K comparable]() (func(K) string, func(string) (K, bool)) {
	t := reflect.TypeFor[K]()
	if t.Implements(textMarshaler) && reflect.PointerTo(t).Implements(textUnmarshaler) {
		return func(k K) string {
				text, err := any(k).(stdenc.TextMarshaler).MarshalText()
				if err != nil {
					panic(fmt.Sprintf("annals: codec.StreamPrefix: key %v has no text: %v", k, err))
				}
				return string(text)
			}, func(s string) (K, bool) {
				var k K
				err := any(&k).(stdenc.TextUnmarshaler).UnmarshalText([]byte(s))
				return k, err == nil
			}
	}
	switch t.Kind() {
	case reflect.String:
		return func(k K) string { return reflect.ValueOf(k).String() },
			func(s string) (K, bool) {
				var k K
				reflect.ValueOf(&k).Elem().SetString(s)
				return k, true
			}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(k K) string { return strconv.FormatInt(reflect.ValueOf(k).Int(), 10) },
			func(s string) (K, bool) {
				var k K
				n, err := strconv.ParseInt(s, 10, t.Bits())
				if err != nil {
					return k, false
				}
				reflect.ValueOf(&k).Elem().SetInt(n)
				return k, true
			}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(k K) string { return strconv.FormatUint(reflect.ValueOf(k).Uint(), 10) },
			func(s string) (K, bool) {
				var k K
				n, err := strconv.ParseUint(s, 10, t.Bits())
				if err != nil {
					return k, false
				}
				reflect.ValueOf(&k).Elem().SetUint(n)
				return k, true
			}
	}
	panic(fmt.Sprintf("annals: codec.StreamPrefix: key type %v has no text form; give codec.Streams a Stream and a Key function for it", t))
}
