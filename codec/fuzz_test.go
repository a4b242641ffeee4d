package codec_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/annals-dev/annals/internal/testdomain"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// Fuzz targets for every decoder of stored bytes: whatever a database
// hands back, decoding gives a value or an error, never a panic. The seed
// corpus is in testdata/fuzz; the golden records seed them too.

// goldenSeeds returns every golden record and snapshot.
func goldenSeeds(f *testing.F) []goldenRecord {
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	var out []goldenRecord
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var g goldenFile
		if err := json.Unmarshal(raw, &g); err != nil {
			f.Fatal(err)
		}
		out = append(out, g.Records...)
		for _, s := range g.Snapshots {
			out = append(out, goldenRecord{StreamID: s.StreamID, Version: s.Version, Type: s.Type, SchemaVersion: s.SchemaVersion, Encoding: s.Encoding, Data: s.Data})
		}
	}
	return out
}

// fuzzMapper reads everything the golden records hold: upcasters, the
// subject key of c-1, keys k1 and k2.
func fuzzMapper(f *testing.F) (*codec.Pipeline[testdomain.AccountEvent], *codec.Pipeline[testdomain.Account]) {
	ks := memory.New()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", "v1-personal.json"))
	if err != nil {
		f.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(raw, &g); err != nil {
		f.Fatal(err)
	}
	for _, k := range g.SubjectKeys {
		if _, err := ks.CreateSubjectKey(context.Background(), k); err != nil {
			f.Fatal(err)
		}
	}
	kr := testdomain.MustKeyring(f, testdomain.TestKey2, testdomain.TestKey1)
	opts := []codec.MapperOption{codec.WithUpcaster(testdomain.AccountUpcaster()), codec.WithSubjectKeys(ks, kr), codec.WithCompression(), codec.WithEncryption(kr)}
	return codec.NewMapper(testdomain.AccountCodec(), opts...), codec.NewMapper(testdomain.AccountStateCodec(), opts...)
}

func FuzzFromRecord(f *testing.F) {
	for _, g := range goldenSeeds(f) {
		f.Add(g.Type, g.SchemaVersion, g.Encoding, g.Data)
	}
	f.Add("AccountOpened", 1, "personal", []byte(`{"subject":"c-1","personal":"AAAA","data":{}}`))
	f.Add("MoneyDeposited", 3, "", []byte(`{"amount":1}`))
	f.Add("Nope", 1, "", []byte(`{}`))
	events, states := fuzzMapper(f)
	// Without an upcaster, or any other option, too: each option is a
	// path of its own through the pipeline.
	bare := codec.NewMapper(testdomain.AccountCodec())
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, typ string, schema int, encoding string, data []byte) {
		rec := store.Record{StreamID: "account-1", Version: 1, Type: typ, SchemaVersion: schema, Encoding: encoding, Data: data}
		if e, err := events.FromRecord(ctx, rec); err == nil && e == nil {
			t.Fatalf("no error and no event for %q v%d %q", typ, schema, encoding)
		}
		if e, err := bare.FromRecord(ctx, rec); err == nil && e == nil {
			t.Fatalf("bare mapper: no error and no event for %q v%d %q", typ, schema, encoding)
		}
		_, _ = states.FromSnapshot(ctx, snapshot.Snapshot{StreamID: "account-1", Version: 1, Type: typ, SchemaVersion: schema, Encoding: encoding, Data: data})
	})
}

func FuzzJSONCodecDecode(f *testing.F) {
	f.Add("AccountOpened", 2, []byte(`{"customer_id":"c-1","holder":"Ann"}`))
	f.Add("MoneyDeposited", 2, []byte(`{"amount":12345678901234567890}`))
	f.Add("MoneyDeposited", 2, []byte(`null`))
	f.Add("Nope", 0, []byte(`{`))
	c := testdomain.AccountCodec()
	f.Fuzz(func(t *testing.T, typ string, schema int, data []byte) {
		e, err := c.Decode(typ, schema, data)
		if err == nil && e == nil {
			t.Fatal("no error and no event")
		}
		if err != nil && (typ == "AccountOpened" || typ == "MoneyDeposited") && schema != 2 && !errors.Is(err, codec.ErrSchemaVersion) {
			t.Fatalf("%s v%d: %v, want ErrSchemaVersion", typ, schema, err)
		}
	})
}

func FuzzInflate(f *testing.F) {
	for _, g := range goldenSeeds(f) {
		if g.Encoding == "deflate" {
			f.Add(g.Data)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x01, 0x00, 0x00, 0xff, 0xff})
	c := testdomain.AccountCodec()
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = c.FromRecord(context.Background(), store.Record{Type: "MoneyDeposited", SchemaVersion: 2, Encoding: "deflate", Data: data})
	})
}

func FuzzDecrypt(f *testing.F) {
	for _, g := range goldenSeeds(f) {
		if strings.HasSuffix(g.Encoding, "aes256gcm:k1") && !strings.Contains(g.Encoding, "personal") && g.Version == 1 {
			f.Add(g.Data, g.Type, g.SchemaVersion)
		}
	}
	f.Add([]byte("short"), "MoneyDeposited", 2)
	m := codec.NewMapper(testdomain.AccountCodec(), codec.WithUpcaster(testdomain.AccountUpcaster()), codec.WithCompression(), codec.WithEncryption(testdomain.MustKeyring(f, testdomain.TestKey1)))
	f.Fuzz(func(t *testing.T, data []byte, typ string, schema int) {
		rec := store.Record{StreamID: "account-1", Version: 1, Type: typ, SchemaVersion: schema, Encoding: "aes256gcm:k1", Data: data}
		_, err := m.FromRecord(context.Background(), rec)
		if err != nil && !errors.Is(err, codec.ErrDecrypt) && len(data) < 28 {
			t.Fatalf("%d bytes cannot be a ciphertext, but the error is not ErrDecrypt: %v", len(data), err)
		}
	})
}

func FuzzPersonalEnvelope(f *testing.F) {
	for _, g := range goldenSeeds(f) {
		if g.Encoding == "personal+aes256gcm:k1" {
			f.Add([]byte(`{"subject":"c-1","personal":"` + strings.Repeat("A", 40) + `","data":{"customer_id":"c-1"}}`))
		}
	}
	f.Add([]byte(`{"subject":"c-2","personal":"","data":{"customer_id":"c-2"}}`))
	f.Add([]byte(`{"subject":"","personal":null,"data":null}`))
	events, _ := fuzzMapper(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = events.FromRecord(context.Background(), store.Record{StreamID: "account-1", Version: 1, Type: "AccountOpened", SchemaVersion: 2, Encoding: "personal", Data: data})
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add(testdomain.TestKey1)
	f.Add(strings.TrimPrefix(testdomain.TestKey2, "k2:"))
	f.Add("k:::")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := codec.ParseKey(s)
		if err == nil && len(k.Secret) != codec.KeySize {
			t.Fatalf("ParseKey(%q) accepted a %d-byte key", s, len(k.Secret))
		}
	})
}
