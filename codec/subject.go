package codec

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// PersonalData is implemented by events (and states) that hold personal
// data about one data subject, such as a customer. DataSubject returns the
// subject's ID: a stable identifier that is not itself personal data (a
// customer number, not an e-mail address), since it stays readable after
// the subject is forgotten.
//
// The personal fields are the top-level fields tagged `annals:"personal"`:
//
//	type CustomerRegistered struct {
//		CustomerID string `json:"customer_id"`
//		Name       string `json:"name" annals:"personal"`
//		Email      string `json:"email" annals:"personal"`
//		Tier       string `json:"tier"`
//	}
//
//	func (e CustomerRegistered) DataSubject() string { return e.CustomerID }
//
// A mapper configured with [WithSubjectKeys] encrypts those fields with a
// key of their own per subject, kept in a [store.KeyStore]. [ForgetSubject]
// deletes the key: from then on the personal fields of that subject's
// events decode as zero values, while every other field, and every other
// subject's data, still loads, so Evolve still runs. With WithSubjectKeys,
// a value whose fields carry the tag but that is not a PersonalData (no
// DataSubject, or one declared on the pointer receiver of a value event)
// fails to encode with [ErrUnencodable] rather than be stored in clear.
// Without WithSubjectKeys the tags are ignored and the fields are stored
// like the others.
type PersonalData interface {
	DataSubject() string
}

// personalTag is the struct tag key that marks personal fields.
const personalTag = "annals"

var personalDataType = reflect.TypeFor[PersonalData]()

// ForgetSubject deletes the data subject's key from ks: the personal
// fields of every event and snapshot written for the subject become
// unreadable, in every copy of the database that does not keep the key.
// Events written for the subject later get a new key, and those written
// before still read as forgotten.
//
// It returns nil when the subject has no key (it never had one, or was
// forgotten already), so that it may be repeated; ks.SubjectKey tells
// beforehand whether there is one.
//
// Personal data outside the marked fields is not affected:
//   - records written without [WithSubjectKeys] hold their personal
//     fields in clear, as they were written, and keep them;
//   - states that hold personal data must themselves implement
//     [PersonalData] and tag their fields, or their snapshots keep it; a
//     state that holds it in a map, slice or array of such structs is
//     refused (see [Pipeline.Err]), since no one subject's key covers it;
//   - a runner's in-memory cache keeps states until they are evicted;
//   - a process's states (annals.NewProcess) are stored as plain JSON
//     and never rebuilt, so a process whose state type has fields tagged
//     personal is refused when it is made: keep the subject's ID in the
//     state, and the personal data in events;
//   - read models keep what their handlers wrote: the states of a view
//     (annals.NewViewProjection) are stored as JSON, tags or not, and SQL
//     read models as their handlers wrote them. Rebuild them, or delete
//     the subject's rows, after forgetting;
//   - a command handled under an idempotency key leaves a fingerprint of
//     its JSON (a hash, not the command) in the metadata of its first
//     event, from which a guessed command can be confirmed. Keep personal
//     data out of the commands you handle under a key.
//
// A delete whose outcome the store cannot tell (an error matching
// [store.ErrOutcomeUnknown]: the connection broke after the request left)
// is settled by looking the key up: gone, the subject is forgotten and
// ForgetSubject returns nil; there, or not looked up, the error stands,
// and calling ForgetSubject again is safe.
func ForgetSubject(ctx context.Context, ks store.KeyStore, subject string) error {
	if lo.IsNil(ks) {
		return fmt.Errorf("forget subject %q: nil key store: give the store that keeps the data subjects' keys: %w", subject, store.ErrInvalid)
	}
	if err := check.Subject(subject); err != nil {
		return err
	}
	err := ks.DeleteSubjectKey(ctx, subject)
	if errors.Is(err, store.ErrOutcomeUnknown) && ctx.Err() == nil {
		if _, lerr := ks.SubjectKey(ctx, subject); errors.Is(lerr, store.ErrNotFound) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("forget subject %q: %w", subject, err)
	}
	return nil
}

// subjects encrypts personal fields with per-subject keys.
type subjects struct {
	store  store.KeyStore
	master *Keyring
	fields sync.Map // reflect.Type → personalFields
}

type personalFields struct {
	names []string // JSON names of the personal fields
	err   error
}

// fieldsOf returns the JSON names of the personal fields of t.
func (s *subjects) fieldsOf(t reflect.Type) ([]string, error) {
	if f, ok := s.fields.Load(t); ok {
		pf := f.(personalFields)
		return pf.names, pf.err
	}
	names, err := findPersonalFields(t)
	if err != nil {
		err = fmt.Errorf("%w: %w", err, ErrUnencodable)
	}
	s.fields.Store(t, personalFields{names, err})
	return names, err
}

func findPersonalFields(t reflect.Type) ([]string, error) {
	if t == nil {
		return nil, nil
	}
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() != reflect.Struct {
		// A map, slice or array of structs with personal fields holds
		// several subjects' data, or one's in a place no envelope names:
		// it would be stored in clear, out of ForgetSubject's reach.
		if nested := nestedTag(t, map[reflect.Type]bool{}); nested != "" {
			return nil, fmt.Errorf("%v holds the field %s tagged %s:\"personal\" in a map, slice or array, where it would be stored in clear: only the top-level fields of a struct that names one subject can be personal; store such a struct, or keep the personal data out of %v", t, nested, personalTag, t)
		}
		return nil, nil
	}
	var names []string
	for _, f := range reflect.VisibleFields(st) {
		tag, tagged := f.Tag.Lookup(personalTag)
		if !tagged {
			if nested := nestedTag(f.Type, map[reflect.Type]bool{st: true}); nested != "" && !f.Anonymous {
				return nil, fmt.Errorf("%v.%s: holds the field %s tagged %s:..., but only top-level fields can be personal; tag %s itself", st, f.Name, nested, personalTag, f.Name)
			}
			continue
		}
		if tag != "personal" {
			return nil, fmt.Errorf("%v.%s: unknown tag %s:%q; the only value is \"personal\"", st, f.Name, personalTag, tag)
		}
		if !f.IsExported() || f.Anonymous {
			return nil, fmt.Errorf("%v.%s: only exported, named fields can be personal", st, f.Name)
		}
		if len(f.Index) > 1 {
			return nil, fmt.Errorf("%v.%s: a personal field must be a field of %v itself, not of an embedded struct; tag the embedding field", st, f.Name, st)
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" && f.Tag.Get("json") == "-":
			return nil, fmt.Errorf("%v.%s: personal, but not encoded (json:\"-\")", st, f.Name)
		case !validName(name):
			name = f.Name // as encoding/json names it
		}
		names = append(names, name)
	}
	if len(names) > 0 && (t.Implements(jsonMarshaler) || reflect.PointerTo(st).Implements(jsonMarshaler) || st.Implements(jsonMarshaler)) {
		return nil, fmt.Errorf("%v has personal fields and its own MarshalJSON; the field names it writes cannot be known, so personal fields are not supported on it", st)
	}
	return names, nil
}

// PersonalField returns the name of a field of t, or of a struct that t
// holds (through pointers, slices, arrays and maps), that is tagged
// annals:"personal", as "Type.Field"; or "" when there is none. What
// keeps values of a type as plain JSON, with no subject's key to delete,
// uses it to refuse personal data that [ForgetSubject] could not reach: a
// process's states (annals.NewProcess), for one.
func PersonalField(t reflect.Type) string {
	if t == nil {
		return ""
	}
	return nestedTag(t, map[reflect.Type]bool{})
}

// nestedTag returns the name of a field inside t (a struct, or a pointer,
// slice, array or map of one) that carries the personal tag, or "".
func nestedTag(t reflect.Type, seen map[reflect.Type]bool) string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return ""
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		if _, tagged := f.Tag.Lookup(personalTag); tagged {
			return t.String() + "." + f.Name
		}
		if n := nestedTag(f.Type, seen); n != "" {
			return n
		}
	}
	return ""
}

// envelope is the payload of a record with personal fields: the other
// fields as they were, and the personal ones encrypted with the subject's
// key, bound to the record and the subject. Key names that key (see
// keyCheck): a subject forgotten and then seen again has a new key, and
// an envelope sealed with the old one is then read as forgotten, not
// taken for one whose bytes were changed. Envelopes written before Key
// existed have none; they are opened with whatever key the subject has.
type envelope struct {
	Subject  string          `json:"subject"`
	Key      []byte          `json:"key,omitempty"`
	Personal []byte          `json:"personal"`
	Data     json.RawMessage `json:"data"`
}

// keyCheckSize is how many bytes of a subject key's check value an
// envelope keeps: enough that a new key of the subject never has the old
// one's, and nothing of the key can be learned from it.
const keyCheckSize = 8

// keyCheck is the check value of a subject key: a MAC under the key of a
// constant, as key check values are made, which names the key without
// telling anything about it.
func keyCheck(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(aadPrefix + "subject key check"))
	return m.Sum(nil)[:keyCheckSize]
}

// check returns the error that seal would return for every value of t,
// a type whose personal fields are misplaced or name no subject, so that
// a pipeline can report it before anything is written (see
// [Pipeline.Err]); nil for an interface type, whose values' types are
// not known until they are sealed.
func (s *subjects) check(t reflect.Type) error {
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	names, err := s.fieldsOf(t)
	if err != nil {
		return err
	}
	if len(names) > 0 && !t.Implements(personalDataType) {
		return notPersonalData(t, names)
	}
	return nil
}

// notPersonalData refuses t, whose fields names are tagged personal but
// which names no subject: they would be stored in clear, which the tags
// say they must not be.
func notPersonalData(t reflect.Type, names []string) error {
	hint := "give it a method DataSubject() string"
	if reflect.PointerTo(t).Implements(personalDataType) {
		hint = "its DataSubject method has a pointer receiver, and the value is not a pointer: declare DataSubject on the value receiver"
	}
	return fmt.Errorf("(%v) has fields tagged %s:\"personal\" (%s) but is not a codec.PersonalData, so they would be stored in clear: %s: %w",
		t, personalTag, strings.Join(names, ", "), hint, ErrUnencodable)
}

// seal moves the personal fields of data (the codec's JSON of value) into
// an envelope. A personal field that is absent, an empty string or null
// holds no personal data and stays where it is, so that no key is made
// for it: the snapshot of a forgotten subject's state, whose personal
// fields read back empty, does not give the subject a key again. It
// returns data unchanged and false when value names no subject's
// personal data or none of its personal fields holds any.
func (s *subjects) seal(ctx context.Context, id identity, value any, data []byte) ([]byte, bool, error) {
	t := reflect.TypeOf(value)
	names, err := s.fieldsOf(t)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", id.typ, err)
	}
	pd, ok := value.(PersonalData)
	if !ok && len(names) > 0 {
		return nil, false, fmt.Errorf("%s %w", id.typ, notPersonalData(t, names))
	}
	if !ok || len(names) == 0 {
		return data, false, nil
	}
	subject := pd.DataSubject()
	if err := check.Subject(subject); err != nil {
		return nil, false, fmt.Errorf("%s has personal fields: DataSubject: %w", id.typ, err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, false, fmt.Errorf("%s has personal fields, but its codec did not write a JSON object", id.typ)
	}
	personal := make(map[string]json.RawMessage, len(names))
	for _, n := range names {
		if v, ok := obj[n]; ok && !holdsNothing(v) {
			personal[n] = v
			delete(obj, n)
		}
	}
	if len(personal) == 0 {
		return data, false, nil
	}
	aead, check, err := s.key(ctx, subject, true)
	if err != nil {
		return nil, false, err
	}
	plain, err := marshalJSON(personal)
	if err != nil {
		return nil, false, err
	}
	rest, err := marshalJSON(obj)
	if err != nil {
		return nil, false, err
	}
	out, err := marshalJSON(envelope{Subject: subject, Key: check, Personal: aead.Seal(nil, nil, plain, personalAAD(id, subject)), Data: rest})
	return out, true, err
}

// holdsNothing reports whether v, a field's JSON, is an empty string or
// null. An empty list or object is sealed all the same: JSON tells it
// from an absent field, and a false or a 0 can be personal data.
func holdsNothing(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return string(v) == `""` || string(v) == "null"
}

// open restores the personal fields of an envelope. When the subject's key
// is gone it returns the other fields alone and forgotten = true.
func (s *subjects) open(ctx context.Context, id identity, data []byte) (_ []byte, forgotten bool, _ error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Subject == "" || len(env.Data) == 0 {
		return nil, false, fmt.Errorf("%s: malformed personal-data envelope", id)
	}
	if s == nil {
		return nil, false, fmt.Errorf("%s holds personal data of subject %q; configure codec.WithSubjectKeys to read it: %w", id, env.Subject, ErrDecrypt)
	}
	aead, check, err := s.key(ctx, env.Subject, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && env.Key != nil && !hmac.Equal(env.Key, check)) {
		// Forgotten: its key is gone, or replaced by the key of the
		// subject seen again.
		return env.Data, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	plain, err := aead.Open(nil, nil, env.Personal, personalAAD(id, env.Subject))
	if err != nil {
		return nil, false, fmt.Errorf("decrypt personal data of %s with the key of subject %q: the stored bytes were changed or belong to another record: %w", id, env.Subject, ErrDecrypt)
	}
	var personal, obj map[string]json.RawMessage
	if err := json.Unmarshal(plain, &personal); err != nil {
		return nil, false, fmt.Errorf("%s: personal data is not a JSON object: %w", id, err)
	}
	if err := json.Unmarshal(env.Data, &obj); err != nil || obj == nil {
		return nil, false, fmt.Errorf("%s: data beside the personal fields is not a JSON object", id)
	}
	for k, v := range personal {
		obj[k] = v
	}
	out, err := marshalJSON(obj)
	return out, false, err
}

// key returns the AEAD of subject's key and the key's check value,
// creating the key when create is set and there is none. A missing key
// fails with ErrNotFound.
func (s *subjects) key(ctx context.Context, subject string, create bool) (cipher.AEAD, []byte, error) {
	k, err := s.store.SubjectKey(ctx, subject)
	if errors.Is(err, store.ErrNotFound) && create {
		secret := make([]byte, KeySize)
		rand.Read(secret) // never fails
		k, err = s.store.CreateSubjectKey(ctx, store.SubjectKey{
			Subject: subject,
			KeyID:   s.master.WriteKeyID(),
			Wrapped: s.master.seal(secret, wrapAAD(subject)),
		})
		if errors.Is(err, store.ErrOutcomeUnknown) && ctx.Err() == nil {
			// The store cannot tell whether the key was created: the
			// key stored now, if any, is the one to use (this one or a
			// racing writer's, which CreateSubjectKey would have
			// returned). None stored: nothing of the write that needed
			// it was stored either, and its error must not say it may
			// have been; the key, if it is created after all, is found
			// by the next write.
			got, lerr := s.store.SubjectKey(ctx, subject)
			switch {
			case lerr == nil:
				k, err = got, nil
			case errors.Is(lerr, store.ErrNotFound):
				err = fmt.Errorf("create key: the store could not tell whether it did (%v), and no key is stored", err)
			}
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("key of data subject %q: %w", subject, err)
	}
	secret, err := s.master.open(k.KeyID, k.Wrapped, wrapAAD(subject), fmt.Sprintf("key of data subject %q", subject))
	if err != nil {
		return nil, nil, err
	}
	if len(secret) != KeySize {
		return nil, nil, fmt.Errorf("key of data subject %q is %d bytes, want %d: %w", subject, len(secret), KeySize, ErrDecrypt)
	}
	aead, err := newAEAD(secret)
	return aead, keyCheck(secret), err
}

func personalAAD(id identity, subject string) []byte {
	return appendString(append(id.aad(), 'p'), subject)
}

func wrapAAD(subject string) []byte {
	return appendString([]byte(aadPrefix+"k"), subject)
}

// marshalJSON encodes v without escaping HTML, so values keep the bytes
// the codec wrote.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
