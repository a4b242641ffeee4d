// Package codec is the record pipeline: it turns typed events and states
// into the bytes a store keeps, and stored records back into values.
//
// A [Codec] maps a value to a type name, a schema version and a payload.
// [JSON] is the default one, a registry from type names to Go types:
//
//	events := codec.NewJSON[Event]().
//		Register("Opened", Opened{}).
//		Register("Deposited", Deposited{})
//	if err := events.Err(); err != nil {
//		return err // a type whose values would be stored without their content
//	}
//
// A [Mapper] turns values into events to append and records back into
// values, and lists the type names it decodes so that a consumer of the
// global log reads only those. A [*JSON] is a Mapper that stores plain
// JSON; [NewMapper] wraps any Codec in the full pipeline:
//
//	write: event → codec → personal fields → compression → encryption → Event
//	read:  Record → decryption → decompression → personal fields → upcast → codec → event
//
// A [SnapshotMapper] does the same for states.
//
// # Combined deciders: sums and instances
//
// The events of deciders combined by package decider are persisted by
// their parts, so that a record of a combined event is exactly the record
// of its part stored alone:
//
//   - [NewKeyed] stores a decider.Keyed event of a decider.Many in the
//     stream of its instance, which [Streams] names from the key
//     ([StreamPrefix] for "book-978-0"), as its value alone; reading a
//     record gives the key back from its stream;
//   - [NewSum] builds the mapper of a sum (decider.Either, Sum3 to Sum6)
//     from a mapper per case: a sum event is stored as its case's value,
//     by that case's mapper, and a record is read by the case whose
//     mapper lists its type name (and, for a keyed case, its stream).
//
// For many books and many members combined:
//
//	books := codec.NewKeyed(codec.StreamPrefix[string]("book-"), book.Codec())
//	members := codec.NewKeyed(codec.StreamPrefix[string]("member-"), member.Codec())
//	events := codec.NewSum[lending.Event](books, members)
//
// Each part keeps its names, its upcasters and its encryption. NewSum
// refuses, with [ErrUnencodable], cases whose records could not be told
// apart. annals.NewInstances and annals.NewComposite store combined
// deciders this way; docs/composition.md tells the design.
//
// # Nothing is stored without its content
//
// encoding/json stores a struct whose fields are all unexported, such as
// decider.Either, as {}; reloading it gives another state and no error. So
// [JSON] checks every type when it is registered, with the structs,
// slices, maps and pointers reachable through its exported fields, and
// encodes and decodes a sample of it. It refuses:
//
//   - a struct with fields but none that JSON encodes (all unexported, or
//     all tagged json:"-"), unless it marshals itself; an empty struct,
//     the way to declare an event with no content, passes;
//   - a struct of the program's own module with an unexported field
//     beside exported ones, unless it decodes itself (UnmarshalJSON or
//     UnmarshalText) or the field holds no data (a type of size zero such
//     as struct{}, a channel, a function): JSON never reads that field,
//     and writes it only by the struct's own MarshalJSON, so what it
//     holds is lost. Tag such a field json:"-" when it holds nothing that
//     must be kept. A type of a dependency, such as a generated protobuf
//     message, keeps fields of its own bookkeeping and is taken as its
//     authors made it. A package is of the module whose path is the
//     longest prefix of its own, so a module nested in the main module's
//     path (generated code wired with replace) is a dependency;
//   - fields of one JSON name of which JSON stores none, such as two
//     embedded structs with an X at the same depth; a field hidden by a
//     shallower one of its name (a struct's own X over an embedded X), or
//     by one tagged with its name at its depth, is not stored and passes,
//     as in Go, where v.X names the field that hides it;
//   - a MarshalJSON promoted from an embedded field over other fields, and
//     a MarshalJSON that JSON would not call;
//   - a field JSON cannot encode (chan, func, complex) or decode (an
//     interface other than any);
//   - a sample that does not survive the round trip, or that holds what
//     [JSON.Encode] refuses (below): a filled sample shows, before
//     anything is stored, what a type's values can lose.
//
// Register keeps its chaining signature, so the refusal is kept:
// [JSON.Err] reports the first, and every encode and decode, of the codec
// and of a [NewMapper] pipeline around it, returns it. Its error matches
// [ErrUnencodable] and says which type, what is wrong, and what to do:
// export the fields, implement json.Marshaler and json.Unmarshaler, or
// register the parts the type holds instead of the type.
//
// What a value holds is checked when it is encoded: [JSON.Encode] refuses,
// with [ErrUnencodable], a value of a refused type in a field of type any,
// and a string (or string map key) that is not valid UTF-8, which JSON
// would store with each invalid byte replaced by U+FFFD; bytes belong in a
// []byte. The string check costs next to nothing: Encode walks the value
// only when what JSON wrote holds a replaced byte. It refuses too:
//
//   - a field tagged omitzero whose type's IsZero method (of the value or
//     of its pointer, as encoding/json calls it) reports true for a value
//     other than the zero value of its type, such as an Amount{0, "EUR"}
//     whose IsZero looks at the cents alone: JSON leaves the field out,
//     and it reads back as the zero value without its currency (a pointer
//     to a value IsZero calls zero reads back nil). Drop omitzero, or
//     make IsZero true only for the zero value. Only the fields of types
//     that have such a field are walked, so other types pay nothing. A
//     time.Time passes: its IsZero is true for the zero instant alone,
//     which is all JSON keeps of a time, whatever its zone;
//   - below an interface, where JSON reads a number back as a float64, a
//     number that a float64 cannot hold exactly: an integer beyond
//     ±2^53, a json.Number, or a number in what a value writes with its
//     own MarshalJSON (a *big.Int, a json.RawMessage), which is read back
//     there as JSON's own types. A value that writes text (MarshalText)
//     reads back as a string, and passes.
//
// Otherwise what a type's own MarshalJSON or MarshalText writes is its
// own.
//
// An empty slice or map that is not nil, in a field tagged omitempty, is
// left out by JSON and reads back nil. That is not refused: it holds no
// element, and len, range, append and reading a key treat nil and empty
// alike, while omitempty on lists is common and the helpers that build
// them (lo.Map, lo.Filter) return empty slices that are not nil.
// Writing into a nil map panics: an Evolve that writes into a map of its
// state makes the map when it is nil, or the field drops omitempty (an
// empty map is then stored as {} and reads back empty). A test of
// states compared with reflect.DeepEqual, such as
// proptest.SnapshotEqualsReplay, tells nil from empty, and fails there.
//
// [JSONCheck] makes the
// same checks for values stored as JSON outside a codec: Check before
// encoding, CheckEncoded on what encoding/json wrote, Marshal for both;
// and [JSONCheck.MarshalFingerprint] for a value whose JSON is compared,
// never decoded (a command fingerprinted for an idempotency key), where
// what counts is that the JSON tells values apart.
//
// # Upcasting, compression, encryption and personal data
//
// Every record says in its Encoding which steps were applied after the
// codec ([EncodingPersonal], [EncodingDeflate], [EncodingAES256GCM]), so a
// pipeline reads records written with any subset of them, and turning a
// step on never strands older records. The options of [NewMapper]:
//
//   - [WithUpcaster] brings records of old schema versions to the current
//     one (package upcast) before decoding; a record no step leads from
//     fails with [ErrSchemaVersion];
//   - [WithCompression] deflates payloads that shrink;
//   - [WithEncryption] seals payloads with AES-256-GCM under a [Keyring]
//     whose key IDs let keys rotate, usually from [KeyringFromEnv]; a
//     payload that cannot be decrypted fails with [ErrDecrypt], naming the
//     key;
//   - [WithSubjectKeys] encrypts the personal fields of [PersonalData] with
//     one key per data subject, kept in a [store.KeyStore], and
//     [ForgetSubject] deletes it: the events still load, with those fields
//     empty.
//
// A record of a type the codec does not know fails with
// [ErrUnknownEventType], which consumers of the log skip; one whose
// Encoding this code does not know fails with [ErrUnknownEncoding].
//
// The design and its reasons are in docs/evolving-data.md.
package codec
