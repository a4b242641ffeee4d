package codec_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/annals-dev/annals/internal/testdomain"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/upcast"
)

// appendAll encodes events with m at the end of the stream and appends them.
func appendAll(t testdomain.Fataler, s store.Store, m codec.Mapper[testdomain.AccountEvent], stream string, events ...testdomain.AccountEvent) []store.Record {
	t.Helper()
	ctx := context.Background()
	var version int64
	for range s.ReadStream(ctx, stream, 0) {
		version++
	}
	batch := make([]store.Event, len(events))
	for i, e := range events {
		ev, err := m.ToEvent(ctx, codec.Placement{StreamID: stream, Version: version + int64(i) + 1}, e, store.Metadata{})
		if err != nil {
			t.Fatalf("encode %+v: %v", e, err)
		}
		batch[i] = ev
	}
	if _, err := s.Append(ctx, stream, version, batch); err != nil {
		t.Fatal(err)
	}
	var out []store.Record
	for rec, err := range s.ReadStream(ctx, stream, version+1) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

var genAccountEvent = rapid.OneOf(
	rapid.Custom(func(t *rapid.T) testdomain.AccountEvent {
		return testdomain.AccountOpened{
			CustomerID: rapid.StringMatching(`c-[0-9]{1,4}`).Draw(t, "customer"),
			Holder:     "Holder-" + rapid.String().Draw(t, "holder"),
			Email:      rapid.SampledFrom([]string{"", "ann@example.com"}).Draw(t, "email"),
		}
	}),
	rapid.Custom(func(t *rapid.T) testdomain.AccountEvent {
		return testdomain.MoneyDeposited{
			Amount: rapid.Int64().Draw(t, "amount"),
			Note:   strings.Repeat(rapid.StringN(0, 8, -1).Draw(t, "note"), rapid.IntRange(0, 40).Draw(t, "repeat")),
		}
	}),
)

func TestPipelineRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	runs := 0
	rapid.Check(t, func(t *rapid.T) {
		runs++
		compress := rapid.Bool().Draw(t, "compress")
		encrypt := rapid.Bool().Draw(t, "encrypt")
		personal := rapid.Bool().Draw(t, "personal")
		opts := []codec.MapperOption{codec.WithUpcaster(testdomain.AccountUpcaster())}
		if compress {
			opts = append(opts, codec.WithCompression())
		}
		if encrypt {
			opts = append(opts, codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey1)))
		}
		if personal {
			opts = append(opts, codec.WithSubjectKeys(s, testdomain.MustKeyring(t, testdomain.TestKey2)))
		}
		m := codec.NewMapper(testdomain.AccountCodec(), opts...)
		events := rapid.SliceOfN(genAccountEvent, 1, 5).Draw(t, "events")
		stream := fmt.Sprintf("round-trip-%d", runs)
		recs := appendAll(t, s, m, stream, events...)
		for i, rec := range recs {
			got, err := m.FromRecord(ctx, rec)
			if err != nil {
				t.Fatalf("decode record %d (encoding %q): %v", i, rec.Encoding, err)
			}
			if !reflect.DeepEqual(got, events[i]) {
				t.Fatalf("record %d (encoding %q) decoded as %+v, want %+v", i, rec.Encoding, got, events[i])
			}
			if encrypt != strings.Contains(rec.Encoding, "aes256gcm:k1") {
				t.Fatalf("encrypt = %v but the encoding is %q", encrypt, rec.Encoding)
			}
			_, isOpened := events[i].(testdomain.AccountOpened)
			if (personal && isOpened) != strings.Contains(rec.Encoding, "personal") {
				t.Fatalf("personal = %v for a %T, but the encoding is %q", personal, events[i], rec.Encoding)
			}
			if (personal && isOpened || encrypt) && bytes.Contains(rec.Data, []byte("Holder-")) {
				t.Fatalf("the holder's name is readable in the stored bytes %q (encoding %q)", rec.Data, rec.Encoding)
			}
			if strings.Contains(rec.Encoding, "deflate") {
				if !compress {
					t.Fatalf("compressed without WithCompression: %q", rec.Encoding)
				}
				_, _, plain, _ := testdomain.AccountCodec().Encode(events[i])
				if !encrypt && !personal && len(rec.Data) >= len(plain) {
					t.Fatalf("compressed payload of %d bytes is not smaller than the %d bytes of JSON", len(rec.Data), len(plain))
				}
			}
		}
	})
}

func TestCompressionOnlyWhenSmaller(t *testing.T) {
	s := memory.New()
	m := codec.NewMapper(testdomain.AccountCodec(), codec.WithCompression())
	recs := appendAll(t, s, m, "zip",
		testdomain.MoneyDeposited{Amount: 1},
		testdomain.MoneyDeposited{Amount: 2, Note: strings.Repeat("monthly salary ", 40)})
	if recs[0].Encoding != "" || string(recs[0].Data) != `{"amount":1}` {
		t.Errorf("a tiny payload was stored as %q with encoding %q; want it plain", recs[0].Data, recs[0].Encoding)
	}
	if recs[1].Encoding != "deflate" || len(recs[1].Data) > 100 {
		t.Errorf("a repetitive payload was stored in %d bytes with encoding %q; want it deflated", len(recs[1].Data), recs[1].Encoding)
	}
	// The plain codec reads compressed records: they need no key.
	got, err := testdomain.AccountCodec().FromRecord(context.Background(), recs[1])
	if err != nil || got.(testdomain.MoneyDeposited).Amount != 2 {
		t.Fatalf("plain codec on a compressed record: %+v, %v", got, err)
	}
}

func TestMixedStoreReadsBackFully(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	k1 := testdomain.MustKeyring(t, testdomain.TestKey1)
	k2 := testdomain.MustKeyring(t, testdomain.TestKey2, testdomain.TestKey1)
	writers := []struct {
		name string
		m    codec.Mapper[testdomain.AccountEvent]
	}{
		{"plain codec", testdomain.AccountCodec()},
		{"compressed", codec.NewMapper(testdomain.AccountCodec(), codec.WithCompression())},
		{"encrypted k1", codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(k1))},
		{"compressed and encrypted k2", codec.NewMapper(testdomain.AccountCodec(), codec.WithCompression(), codec.WithEncryption(k2))},
		{"personal", codec.NewMapper(testdomain.AccountCodec(), codec.WithSubjectKeys(s, k1))},
		{"everything", codec.NewMapper(testdomain.AccountCodec(), codec.WithSubjectKeys(s, k2), codec.WithCompression(), codec.WithEncryption(k2))},
	}
	var want []testdomain.AccountEvent
	for i, w := range writers {
		batch := []testdomain.AccountEvent{
			testdomain.AccountOpened{CustomerID: fmt.Sprintf("c-%d", i), Holder: "Ann " + w.name},
			testdomain.MoneyDeposited{Amount: int64(i), Note: strings.Repeat(w.name+" ", 20)},
		}
		appendAll(t, s, w.m, "mixed", batch...)
		want = append(want, batch...)
	}
	reader := codec.NewMapper(testdomain.AccountCodec(), codec.WithUpcaster(testdomain.AccountUpcaster()), codec.WithSubjectKeys(s, k2), codec.WithEncryption(k2))
	encodings := map[string]bool{}
	i := 0
	for rec, err := range s.ReadStream(ctx, "mixed", 0) {
		if err != nil {
			t.Fatal(err)
		}
		encodings[rec.Encoding] = true
		got, err := reader.FromRecord(ctx, rec)
		if err != nil {
			t.Fatalf("record %d (encoding %q): %v", i, rec.Encoding, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("record %d (encoding %q): %+v, want %+v", i, rec.Encoding, got, want[i])
		}
		i++
	}
	if i != len(want) {
		t.Fatalf("read %d records, want %d", i, len(want))
	}
	// Whether the envelope of the last writer shrinks depends on its random
	// ciphertext, so either form of it will do.
	if encodings["personal+deflate+aes256gcm:k2"] {
		encodings["personal+aes256gcm:k2"] = true
	}
	for _, e := range []string{"", "deflate", "aes256gcm:k1", "deflate+aes256gcm:k2", "personal", "personal+aes256gcm:k2"} {
		if !encodings[e] {
			t.Errorf("no record with encoding %q among %v", e, encodings)
		}
	}
}

func TestUnknownEncodingsFailClearly(t *testing.T) {
	ctx := context.Background()
	m := codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey1)))
	for _, enc := range []string{"gzip", "deflate+deflate", "aes256gcm:k1+deflate", "aes256gcm:", "aes256gcm:a b", "deflate+", "+", "personal+personal", "Deflate"} {
		rec := store.Record{StreamID: "s", Version: 1, Type: "MoneyDeposited", SchemaVersion: 2, Data: []byte(`{}`), Encoding: enc}
		_, err := m.FromRecord(ctx, rec)
		if !errors.Is(err, codec.ErrUnknownEncoding) || !strings.Contains(err.Error(), fmt.Sprintf("%q", enc)) {
			t.Errorf("encoding %q: %v; want ErrUnknownEncoding quoting it", enc, err)
		}
	}
}

func TestCorruptCompressedPayloadIsAnError(t *testing.T) {
	ctx := context.Background()
	rec := store.Record{StreamID: "s", Version: 1, Type: "MoneyDeposited", SchemaVersion: 2, Data: []byte("not deflate at all"), Encoding: "deflate"}
	if _, err := testdomain.AccountCodec().FromRecord(ctx, rec); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "inflate") {
		t.Fatalf("corrupt deflate: %v, want store.ErrCorrupt from inflate", err)
	}
}

// A stored schema version the codec cannot read says which of three
// cases it is: invalid, newer than the code, or older and not upcast.
// A payload that is not JSON at all was changed since it was written.
func TestJSONDecodeSaysWhatIsWrongWithAPayload(t *testing.T) {
	c := codec.NewJSON[testdomain.AccountEvent]().RegisterVersion("MoneyDeposited", 2, testdomain.MoneyDeposited{})
	for _, tc := range []struct {
		version int
		data    string
		is      error
		says    string
	}{
		{0, `{}`, codec.ErrSchemaVersion, "is invalid"},
		{-3, `{}`, codec.ErrSchemaVersion, "is invalid"},
		{3, `{}`, codec.ErrSchemaVersion, "deploy the newer code"},
		{1, `{}`, codec.ErrSchemaVersion, "upcast old records"},
		{2, `{"amount": 1`, store.ErrCorrupt, "not valid JSON"},
		{2, "\x00\x01", store.ErrCorrupt, "not valid JSON"},
		// A struct is written as an object: null would decode as its
		// zero value, an event that was never decided.
		{2, "null", store.ErrCorrupt, "the stored payload is null"},
		{2, " null\n", store.ErrCorrupt, "the stored payload is null"},
	} {
		_, err := c.Decode("MoneyDeposited", tc.version, []byte(tc.data))
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Decode of v%d %q: %v; want %v saying %q", tc.version, tc.data, err, tc.is, tc.says)
		}
	}
	if _, err := c.Decode("MoneyDeposited", 2, []byte(`{"amount": "one"}`)); err == nil || errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "without a new schema version") {
		t.Errorf("Decode of JSON that does not fit the type: %v; want an error saying why it may be, not store.ErrCorrupt", err)
	}
	// A type that is not a struct may be written as null.
	m := codec.NewJSON[map[string]int]().Register("Counts", map[string]int{"a": 1})
	if got, err := m.Decode("Counts", 1, []byte("null")); err != nil || got != nil {
		t.Errorf("Decode of null into a map: %v, %v; want a nil map", got, err)
	}
}

// JSON that does not parse is corrupt when it comes from the store, and
// an upcaster's fault when an upcaster wrote it: the record is as written.
func TestAnUpcastersInvalidJSONIsNotCorruption(t *testing.T) {
	type added struct {
		Cents int `json:"cents"`
	}
	broken := upcast.New().Add("ItemAdded", 1, func([]byte) ([]byte, error) { return []byte(`{"cents":`), nil })
	m := codec.NewMapper(codec.NewJSON[added]().RegisterVersion("ItemAdded", 2, added{}), codec.WithUpcaster(broken))
	_, err := m.FromRecord(context.Background(), store.Record{StreamID: "c", Version: 1, Type: "ItemAdded", SchemaVersion: 1, Data: []byte(`{"cents":3}`)})
	if errors.Is(err, store.ErrCorrupt) || !errors.Is(err, codec.ErrSchemaVersion) || !strings.Contains(err.Error(), "fix the upcaster") {
		t.Fatalf("an upcaster writing invalid JSON: %v; want ErrSchemaVersion naming the upcaster, not store.ErrCorrupt", err)
	}
	_, err = m.FromRecord(context.Background(), store.Record{StreamID: "c", Version: 1, Type: "ItemAdded", SchemaVersion: 2, Data: []byte(`{"cents":`)})
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("a stored payload that is not JSON: %v; want store.ErrCorrupt", err)
	}
	nulling := upcast.New().Add("ItemAdded", 1, func([]byte) ([]byte, error) { return []byte(`null`), nil })
	m = codec.NewMapper(codec.NewJSON[added]().RegisterVersion("ItemAdded", 2, added{}), codec.WithUpcaster(nulling))
	_, err = m.FromRecord(context.Background(), store.Record{StreamID: "c", Version: 1, Type: "ItemAdded", SchemaVersion: 1, Data: []byte(`{"cents":3}`)})
	if errors.Is(err, store.ErrCorrupt) || !errors.Is(err, codec.ErrSchemaVersion) {
		t.Fatalf("an upcaster writing null: %v; want ErrSchemaVersion naming the upcaster, not store.ErrCorrupt", err)
	}
}

func TestDecompressionBombIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 64 MiB")
	}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range codec.MaxInflatedSize>>20 + 1 {
		w.Write(zeros)
	}
	w.Close()
	rec := store.Record{StreamID: "s", Version: 1, Type: "MoneyDeposited", SchemaVersion: 2, Data: buf.Bytes(), Encoding: "deflate"}
	_, err := testdomain.AccountCodec().FromRecord(context.Background(), rec)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("%d bytes inflating to more than %d: %v, want store.ErrCorrupt for the size", buf.Len(), codec.MaxInflatedSize, err)
	}
}

func TestPlainCodecRefusesEncryptedRecords(t *testing.T) {
	s := memory.New()
	recs := appendAll(t, s, codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey1))), "enc", testdomain.MoneyDeposited{Amount: 1})
	for name, m := range map[string]codec.Mapper[testdomain.AccountEvent]{
		"plain codec":     testdomain.AccountCodec(),
		"mapper, no keys": codec.NewMapper(testdomain.AccountCodec()),
	} {
		_, err := m.FromRecord(context.Background(), recs[0])
		if !errors.Is(err, codec.ErrDecrypt) || !strings.Contains(err.Error(), `"k1"`) {
			t.Errorf("%s on an encrypted record: %v; want ErrDecrypt naming k1", name, err)
		}
	}
}

func TestEncryptionNeedsTheVersion(t *testing.T) {
	m := codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey1)))
	if _, err := m.ToEvent(context.Background(), codec.Placement{StreamID: "s", Version: 0}, testdomain.MoneyDeposited{Amount: 1}, store.Metadata{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("encrypting for version 0: %v, want ErrInvalid", err)
	}
}

func TestInflateHandlesEveryPooledReaderState(t *testing.T) {
	// A reader returned to the pool after an error must still work.
	ctx := context.Background()
	m := codec.NewMapper(testdomain.AccountCodec(), codec.WithCompression())
	s := memory.New()
	good := appendAll(t, s, m, "pool", testdomain.MoneyDeposited{Amount: 7, Note: strings.Repeat("abc", 100)})[0]
	bad := good
	bad.Data = bad.Data[:len(bad.Data)/2]
	for range 3 {
		if _, err := m.FromRecord(ctx, bad); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "inflate") {
			t.Fatalf("truncated deflate: %v, want store.ErrCorrupt from inflate", err)
		}
		if got, err := m.FromRecord(ctx, good); err != nil || got.(testdomain.MoneyDeposited).Amount != 7 {
			t.Fatalf("after a failure, a good record: %+v, %v", got, err)
		}
	}
}

// Readers that share one upcaster each read only their own records: the
// types a pipeline lists are its codec's and the names leading to them,
// and a record of a type the upcaster knows but the codec does not is an
// unknown type to skip, not a broken upcast.
func TestSharedUpcasterReadsOnlyTheCodecsTypes(t *testing.T) {
	type added struct {
		Cents int `json:"cents"`
	}
	type checkedOut struct {
		Cart string `json:"cart"`
	}
	shared := upcast.New().
		Add("ItemAdded", 1, func(data []byte) ([]byte, error) { return []byte(`{"cents":1}`), nil }).
		Rename("CheckedOutV0", "CheckedOut")
	narrow := codec.NewMapper(codec.NewJSON[checkedOut]().Register("CheckedOut", checkedOut{}), codec.WithUpcaster(shared))
	if got, want := narrow.Types(), []string{"CheckedOut", "CheckedOutV0"}; !slices.Equal(got, want) {
		t.Fatalf("Types() = %q, want %q", got, want)
	}
	_, err := narrow.FromRecord(context.Background(), store.Record{StreamID: "c", Version: 1, Type: "ItemAdded", SchemaVersion: 2, Data: []byte(`{"cents":3}`)})
	if !errors.Is(err, codec.ErrUnknownEventType) || errors.Is(err, codec.ErrSchemaVersion) || !strings.Contains(err.Error(), `.Register("ItemAdded", T{})`) {
		t.Fatalf("a current record of a type the codec does not read: %v, want ErrUnknownEventType saying to register the type", err)
	}
	wide := codec.NewMapper(codec.NewJSON[added]().RegisterVersion("ItemAdded", 2, added{}), codec.WithUpcaster(shared))
	if got, want := wide.Types(), []string{"ItemAdded"}; !slices.Equal(got, want) {
		t.Fatalf("Types() = %q, want %q", got, want)
	}
	if _, err := wide.FromRecord(context.Background(), store.Record{StreamID: "c", Version: 1, Type: "ItemAdded", SchemaVersion: 3, Data: []byte(`{}`)}); !errors.Is(err, codec.ErrSchemaVersion) {
		t.Fatalf("a newer version of the codec's own type: %v, want ErrSchemaVersion", err)
	}
}

// A type renamed away whose old name is then given to a new type: the
// rename would never run, and the old records would be read as the new
// type. The pipeline refuses the pair at construction, through Err, and
// reads nothing with it.
func TestAPipelineRefusesANameReusedAfterARename(t *testing.T) {
	type userRegistered struct{ Email string }
	type registered struct{ Course string } // the name's new meaning
	renames := upcast.New().Rename("Registered", "UserRegistered")
	ok := codec.NewMapper(codec.NewJSON[any]().Register("UserRegistered", userRegistered{}), codec.WithUpcaster(renames))
	if err := ok.Err(); err != nil {
		t.Fatalf("a pipeline that reads the new name alone: %v", err)
	}
	old := store.Record{StreamID: "u", Version: 1, Type: "Registered", SchemaVersion: 1, Data: []byte(`{"Email":"a@example.com"}`)}
	if e, err := ok.FromRecord(context.Background(), old); err != nil || e != (userRegistered{Email: "a@example.com"}) {
		t.Fatalf("an old record through the rename: %+v, %v", e, err)
	}

	reused := codec.NewMapper(codec.NewJSON[any]().
		Register("UserRegistered", userRegistered{}).
		Register("Registered", registered{}), codec.WithUpcaster(renames))
	err := reused.Err()
	if !errors.Is(err, codec.ErrSchemaVersion) || !strings.Contains(err.Error(), `"Registered"`) {
		t.Fatalf("a pipeline that reads a name renamed away: Err() = %v; want an error naming it, matching ErrSchemaVersion", err)
	}
	if e, rerr := reused.FromRecord(context.Background(), old); !errors.Is(rerr, codec.ErrSchemaVersion) {
		t.Fatalf("an old record through the refused pipeline: %+v, %v; want the refusal", e, rerr)
	}
}

// nullable reads null as "no value", by its own UnmarshalJSON.
type nullable struct {
	Set   bool `json:"-"`
	Value int  `json:"value"`
}

func (n nullable) MarshalJSON() ([]byte, error) {
	if !n.Set {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Value int `json:"value"`
	}{n.Value})
}

func (n *nullable) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*n = nullable{}
		return nil
	}
	var v struct {
		Value int `json:"value"`
	}
	err := json.Unmarshal(data, &v)
	*n = nullable{Set: true, Value: v.Value}
	return err
}

// A struct that reads itself says what null means; an upcaster's output
// that does not fit the type is the upcaster's fault, not the record's.
func TestNullAndMismatchesAreJudgedByWhoWroteThem(t *testing.T) {
	c := codec.NewJSON[nullable]().Register("N", nullable{Set: true, Value: 2})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Decode("N", 1, []byte("null")); err != nil || got.Set {
		t.Fatalf("Decode of null into a type that reads null itself: %+v, %v", got, err)
	}
	type added struct {
		Cents int `json:"cents"`
	}
	stringly := upcast.New().Add("ItemAdded", 1, func([]byte) ([]byte, error) { return []byte(`{"cents":"3"}`), nil })
	m := codec.NewMapper(codec.NewJSON[added]().RegisterVersion("ItemAdded", 2, added{}), codec.WithUpcaster(stringly))
	_, err := m.FromRecord(context.Background(), store.Record{StreamID: "c", Version: 1, Type: "ItemAdded", SchemaVersion: 1, Data: []byte(`{"cents":3}`)})
	if !errors.Is(err, codec.ErrSchemaVersion) || !strings.Contains(err.Error(), "fix the upcaster") || strings.Contains(err.Error(), "changed since it was written") {
		t.Fatalf("an upcaster writing a field of another type: %v; want ErrSchemaVersion naming the upcaster, and no word of a changed record", err)
	}
}
