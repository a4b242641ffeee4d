package codec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/upcast"
)

// Mapper turns typed events into events to append and stored records back
// into typed events. A command runner takes one; projections and other
// readers of the global log decode records with the same value.
//
// A [*JSON] is a Mapper that stores plain JSON. [NewMapper] wraps any
// [Codec] in the full pipeline:
//
//	write: event → codec → personal fields → compression → encryption → Event
//	read:  Record → decryption → decompression → personal fields → upcast → codec → event
//
// ToEvent gets the event's [Placement] — its stream, the version it will
// have and its ID — since an encrypted payload is bound to its place;
// FromRecord gets a context, since it may look up keys in the store.
//
// Types returns the type names of the records FromRecord decodes, so that
// a consumer of the global log reads only those instead of reading and
// skipping every other aggregate's events. A mapper that cannot list them
// returns nil, and its consumers read every record.
type Mapper[E any] interface {
	ToEvent(ctx context.Context, at Placement, e E, meta store.Metadata) (store.Event, error)
	FromRecord(ctx context.Context, r store.Record) (E, error)
	Types() []string
}

// Placement is where an event will be stored: its stream, the version it
// will have there, and its ID. The zero ID asks for a new UUIDv7; a
// command handled with an idempotency key gives IDs derived from the key
// (see annals.WithIdempotencyKey).
type Placement struct {
	StreamID string
	Version  int64
	ID       uuid.UUID
}

// A Placer is a [Mapper] that stores some events in streams it names
// itself: a [*KeyedMapper] stores an instance's event in the instance's
// stream, and refuses it placed elsewhere; a [*Sum] says what its case's
// part says. Code that encodes events outside a runner, such as a test
// harness that places a given history, asks it where each event goes.
type Placer[E any] interface {
	// StreamOf returns the stream e must be placed in, and false when
	// it may be placed in any.
	StreamOf(e E) (string, bool)
}

// SnapshotMapper turns a state into a snapshot and back. A [*JSON] of
// the state type is one; [NewMapper] builds one with upcasting,
// compression and encryption. FromSnapshot fails, rather than guess, when
// the snapshot's type name or schema version is not the one the codec
// reads and no upcaster leads to it.
type SnapshotMapper[S any] interface {
	ToSnapshot(ctx context.Context, streamID string, version int64, s S) (snapshot.Snapshot, error)
	FromSnapshot(ctx context.Context, s snapshot.Snapshot) (S, error)
}

// SchemaVersioner is implemented by codecs that know the current schema
// version of each type name, as [JSON] does. A [Pipeline] then
// upcasts every record to exactly that version, and reports a record it
// cannot bring there with [ErrSchemaVersion].
type SchemaVersioner interface {
	SchemaVersion(typeName string) (version int, ok bool)
}

// Pipeline is the [Mapper] and [SnapshotMapper] that [NewMapper] returns:
// a codec with optional upcasting, personal-data encryption, compression
// and encryption around it. Records say in their Encoding which steps
// applied, so a Pipeline reads records written with any subset of them:
// turning compression or encryption on keeps older records readable.
//
// A Pipeline is safe for concurrent use.
type Pipeline[T any] struct {
	codec  Codec[T]
	target upcast.Target
	p      *pipeline
	// refused is the subject keys' refusal of T (see Err), found once
	// when the pipeline is made rather than at every encode and decode.
	refused error
}

var (
	_ Mapper[int]         = (*Pipeline[int])(nil)
	_ SnapshotMapper[int] = (*Pipeline[int])(nil)
)

// MapperOption configures [NewMapper].
type MapperOption func(*pipeline)

// WithUpcaster upcasts every record and snapshot through r before
// decoding it.
func WithUpcaster(r *upcast.Registry) MapperOption {
	return func(p *pipeline) { p.upcaster = r }
}

// WithCompression compresses payloads with DEFLATE when that makes them
// smaller; payloads that would not shrink, and those under
// [MinCompressSize] bytes, are stored as they are. Reading compressed
// records needs no option.
func WithCompression() MapperOption {
	return func(p *pipeline) { p.compress = true }
}

// WithEncryption encrypts every payload with AES-256-GCM under the write
// key of k, and decrypts with any key of k. The ciphertext is bound to its
// record (stream, version, event ID, type and schema version; for a
// snapshot, stream, version, type and schema version): copied anywhere
// else, it fails to decrypt with [ErrDecrypt]. It panics when k is nil.
func WithEncryption(k *Keyring) MapperOption {
	if k == nil || k.aeads == nil {
		panic("annals: codec.WithEncryption: nil keyring: give one from codec.NewKeyring or codec.KeyringFromEnv")
	}
	return func(p *pipeline) { p.keyring = k }
}

// WithSubjectKeys encrypts the personal fields of events that implement
// [PersonalData] with one key per data subject, kept in ks and wrapped by
// the write key of master, which may be the keyring of [WithEncryption].
// See [PersonalData] and [ForgetSubject]. It panics when ks or master is
// nil.
func WithSubjectKeys(ks store.KeyStore, master *Keyring) MapperOption {
	if lo.IsNil(ks) || master == nil || master.aeads == nil {
		panic("annals: codec.WithSubjectKeys: nil key store or master keyring: give the application's store and a keyring from codec.NewKeyring or codec.KeyringFromEnv")
	}
	return func(p *pipeline) { p.subjects = &subjects{store: ks, master: master} }
}

// NewMapper returns a pipeline around codec c with the given options.
// Without options it reads and writes what c does, and also reads
// compressed records. It panics when c is nil.
//
// When c reports a refused registration, as [JSON.Err] does, the
// pipeline's [Pipeline.Err] reports it too and every call that encodes or
// decodes returns it, before any other step.
func NewMapper[T any](c Codec[T], opts ...MapperOption) *Pipeline[T] {
	if lo.IsNil(c) {
		panic("annals: codec.NewMapper: nil codec")
	}
	p := &pipeline{}
	for i, o := range opts {
		if o == nil {
			panic(fmt.Sprintf("annals: codec.NewMapper: option %d is nil: leave it out, or give the option it was meant to be", i))
		}
		o(p)
	}
	m := &Pipeline[T]{codec: c, p: p}
	if p.subjects != nil {
		m.refused = p.subjects.check(reflect.TypeFor[T]())
	}
	if sv, ok := c.(SchemaVersioner); ok {
		m.target = sv.SchemaVersion
	}
	if lister, ok := c.(interface{ Types() []string }); ok && m.refused == nil && p.upcaster != nil {
		m.refused = p.upcaster.Check(m.target, lister.Types())
	}
	return m
}

// Err returns the registration error of the codec, when the codec has an
// Err method as [JSON] does: an error matching [ErrUnencodable] for a
// type it refused. With [WithSubjectKeys], it also refuses a T (not an
// interface) whose personal fields would be stored in clear: a map,
// slice or array of structs with personal fields, a tag misplaced as
// docs/evolving-data.md lists, or tagged fields on a type with no
// DataSubject method. With [WithUpcaster], it refuses a codec that reads
// a name at a version the upcaster takes elsewhere (see
// [upcast.Registry.Check]): a name reused for a new type after the old
// type of that name was renamed away. While it is not nil, every call that encodes or
// decodes returns it, and [annals.WithSnapshots] refuses the pipeline.
func (m *Pipeline[T]) Err() error {
	if m == nil || m.codec == nil {
		return notMade("Pipeline", "make one with codec.NewMapper")
	}
	if r, ok := m.codec.(interface{ Err() error }); ok {
		if err := r.Err(); err != nil {
			return err
		}
	}
	return m.refused
}

// Types implements [Mapper]: the type names of the records the pipeline
// reads, when its codec can list its own (as [JSON.Types] does): the
// codec's names and every name its upcaster leads from to one of them,
// but not names its upcaster leads only to types the codec does not read,
// so that readers that share one upcaster read only their own. Consumers
// of the log read only these types. It returns nil when the codec cannot
// list its names, and consumers then read every record.
func (m *Pipeline[T]) Types() []string {
	if m == nil || m.p == nil {
		return nil
	}
	lister, ok := m.codec.(interface{ Types() []string })
	if !ok {
		return nil
	}
	if m.p.upcaster == nil {
		return lister.Types()
	}
	if m.target == nil {
		names := append(lister.Types(), m.p.upcaster.Names()...)
		slices.Sort(names)
		return slices.Compact(names)
	}
	return m.p.upcaster.Reads(m.target, lister.Types())
}

// Sources returns name, a type name the codec reads, and every name its
// upcaster leads from to name (a name it was renamed from), sorted: the
// names under which the records read as name may be stored. A DCB query
// for name's records asks for them all ([annals.DCBRunner] widens its
// queries so), or it misses those stored before a rename. For a name the
// codec does not read, or without an upcaster, it returns name alone.
func (m *Pipeline[T]) Sources(name string) []string {
	if m == nil || m.p == nil || m.p.upcaster == nil {
		return []string{name}
	}
	if lister, ok := m.codec.(interface{ Types() []string }); ok && !slices.Contains(lister.Types(), name) {
		return []string{name}
	}
	return m.p.upcaster.Sources(name)
}

// ToEvent implements [Mapper]. The event gets the ID of at, or a fresh
// UUIDv7 when at has none, and an encrypted payload is bound to it.
func (m *Pipeline[T]) ToEvent(ctx context.Context, at Placement, e T, meta store.Metadata) (store.Event, error) {
	if err := m.Err(); err != nil {
		return store.Event{}, err
	}
	name, schema, data, err := m.codec.Encode(e)
	if err != nil {
		return store.Event{}, err
	}
	eventID := at.ID
	if eventID == uuid.Nil {
		if eventID, err = uuid.NewV7(); err != nil {
			return store.Event{}, fmt.Errorf("encode %s: %w", name, err)
		}
	}
	id := identity{kind: 'e', streamID: at.StreamID, version: at.Version, eventID: eventID, typ: name, schema: max(schema, 1)}
	data, enc, err := m.p.seal(ctx, id, e, data)
	if err != nil {
		return store.Event{}, err
	}
	return store.Event{ID: eventID, Type: name, SchemaVersion: id.schema, Data: data, Encoding: enc, Metadata: meta}, nil
}

// FromRecord implements [Mapper]. Personal fields whose subject has been
// forgotten decode as zero values.
func (m *Pipeline[T]) FromRecord(ctx context.Context, r store.Record) (T, error) {
	data, _, err := m.Open(ctx, r)
	if err != nil {
		var zero T
		return zero, err
	}
	return m.decode(r.Type, r.SchemaVersion, data)
}

// Open undoes the steps r's encoding names (decryption, decompression,
// personal fields) and returns the payload as the codec's Decode is given
// it, before any upcaster. forgotten reports that r's personal fields
// belong to a forgotten subject: data then holds the other fields alone.
// It is for tools that show stored events without the application's
// types, as the annals command does; an application reads events with
// FromRecord.
func (m *Pipeline[T]) Open(ctx context.Context, r store.Record) (data []byte, forgotten bool, err error) {
	if err := m.Err(); err != nil {
		return nil, false, err
	}
	id := identity{kind: 'e', streamID: r.StreamID, version: r.Version, eventID: r.ID, typ: r.Type, schema: r.SchemaVersion}
	return m.p.open(ctx, id, r.Data, r.Encoding)
}

// ToSnapshot implements [SnapshotMapper].
func (m *Pipeline[T]) ToSnapshot(ctx context.Context, streamID string, version int64, s T) (snapshot.Snapshot, error) {
	if err := m.Err(); err != nil {
		return snapshot.Snapshot{}, err
	}
	name, schema, data, err := m.codec.Encode(s)
	if err != nil {
		return snapshot.Snapshot{}, err
	}
	id := identity{kind: 's', streamID: streamID, version: version, typ: name, schema: max(schema, 1)}
	data, enc, err := m.p.seal(ctx, id, s, data)
	if err != nil {
		return snapshot.Snapshot{}, err
	}
	return snapshot.Snapshot{StreamID: streamID, Version: version, Type: name, SchemaVersion: id.schema,
		Time: time.Now().UTC(), Data: data, Encoding: enc}, nil
}

// FromSnapshot implements [SnapshotMapper]. A snapshot whose personal
// fields belong to a forgotten subject fails with an error matching
// [store.ErrNotFound]: a state is not rebuilt from part of itself, so the runner
// replays the stream instead.
func (m *Pipeline[T]) FromSnapshot(ctx context.Context, s snapshot.Snapshot) (T, error) {
	var zero T
	if err := m.Err(); err != nil {
		return zero, err
	}
	id := identity{kind: 's', streamID: s.StreamID, version: s.Version, typ: s.Type, schema: s.SchemaVersion}
	data, forgotten, err := m.p.open(ctx, id, s.Data, s.Encoding)
	if err != nil {
		return zero, err
	}
	if forgotten {
		return zero, fmt.Errorf("%s holds personal data of a forgotten subject: %w", id, store.ErrNotFound)
	}
	v, p, err := m.decodePayload(s.Type, s.SchemaVersion, data)
	if err != nil {
		return zero, err
	}
	// An upcast payload is the upcaster's word on the shape: one that
	// leaves a new field out means it zero.
	if p.Type != s.Type || p.Version != s.SchemaVersion {
		return v, nil
	}
	if _, _, written, err := m.codec.Encode(v); err == nil {
		if err := checkSnapshotShape(p.Type, p.Version, p.Data, written); err != nil {
			return zero, err
		}
	}
	return v, nil
}

func (m *Pipeline[T]) decode(name string, schema int, data []byte) (T, error) {
	v, _, err := m.decodePayload(name, schema, data)
	return v, err
}

// decodePayload upcasts and decodes a payload, and returns the payload
// the codec read.
func (m *Pipeline[T]) decodePayload(name string, schema int, data []byte) (T, upcast.Payload, error) {
	p, err := m.p.upcaster.Upcast(upcast.Payload{Type: name, Version: schema, Data: data}, m.target)
	if err != nil {
		var zero T
		return zero, p, err
	}
	v, err := m.codec.Decode(p.Type, p.Version, p.Data)
	if err != nil && (p.Type != name || p.Version != schema) {
		// The payload the codec could not read is the upcasters', not
		// the store's: the record is as written.
		cause := err
		if mismatch, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			cause = mismatch // not the codec's guess that the record changed
		}
		if errors.Is(err, store.ErrCorrupt) || cause != err {
			return v, p, fmt.Errorf("the upcasters brought %q v%d to %q v%d, which the codec cannot read (%v): fix the upcaster: %w", name, schema, p.Type, p.Version, cause, ErrSchemaVersion)
		}
	}
	return v, p, err
}

// pipeline is the part of a Pipeline that does not depend on the value
// type: the steps between the codec's bytes and the stored ones.
type pipeline struct {
	upcaster *upcast.Registry
	compress bool
	keyring  *Keyring
	subjects *subjects
	zip      compressor
}

// seal applies the configured steps to data, the codec's bytes of value,
// and returns the stored bytes and their Encoding.
func (p *pipeline) seal(ctx context.Context, id identity, value any, data []byte) ([]byte, string, error) {
	var enc encoding
	if p.subjects != nil {
		var err error
		if data, enc.personal, err = p.subjects.seal(ctx, id, value, data); err != nil {
			return nil, "", err
		}
	}
	if p.compress {
		if z := p.zip.deflate(data); z != nil {
			data, enc.deflate = z, true
		}
	}
	if p.keyring != nil {
		if id.version < 1 {
			return nil, "", fmt.Errorf("encrypt %s: an encrypted payload is bound to its stream version; pass the version it will have (≥ 1): %w", id, store.ErrInvalid)
		}
		data, enc.keyID = p.keyring.seal(data, id.payloadAAD(enc)), p.keyring.WriteKeyID()
	}
	return data, enc.String(), nil
}

// open undoes the steps that encoding names, in reverse order. forgotten
// reports personal fields left out because their subject's key is gone.
func (p *pipeline) open(ctx context.Context, id identity, data []byte, encodingName string) (_ []byte, forgotten bool, _ error) {
	enc, err := parseEncoding(encodingName)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", id, err)
	}
	if enc.keyID != "" {
		if p.keyring == nil {
			return nil, false, fmt.Errorf("decrypt %s: it is encrypted with key %q and no keyring is configured; use codec.WithEncryption: %w", id, enc.keyID, ErrDecrypt)
		}
		plain, err := p.keyring.open(enc.keyID, data, id.payloadAAD(enc), id.String())
		if err != nil {
			// A payload sealed before the steps were bound (annals/1) is
			// read as it was written; a newer one never opens so.
			if old, oerr := p.keyring.open(enc.keyID, data, id.aad(), id.String()); oerr == nil {
				plain, err = old, nil
			}
		}
		if err != nil {
			return nil, false, err
		}
		data = plain
	}
	if enc.deflate {
		if data, err = p.zip.inflate(data); err != nil {
			return nil, false, fmt.Errorf("%s: %w", id, err)
		}
	}
	if enc.personal {
		if data, forgotten, err = p.subjects.open(ctx, id, data); err != nil {
			return nil, false, err
		}
	}
	return data, forgotten, nil
}
