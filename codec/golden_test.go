package codec_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"github.com/annals-dev/annals/internal/testdomain"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// Golden records: bytes as schema v1 of the account events stored them,
// committed under testdata/golden. The current code must read them for as
// long as the library promises to read its own old records; a change to
// the jc, the upcasters, the encodings, the additional data bound to a
// ciphertext or the personal-data envelope that breaks them fails here.
//
// The files were written once by TestGolden with -golden.create, which
// writes only missing files: ciphertexts have random nonces, so rewriting
// a file would hide the very break this test is for.
var createGolden = flag.Bool("golden.create", false, "write the golden files that are missing from testdata/golden (never overwrites)")

type goldenFile struct {
	Comment     string             `json:"comment"`
	Records     []goldenRecord     `json:"records"`
	SubjectKeys []store.SubjectKey `json:"subject_keys,omitempty"`
	Snapshots   []goldenSnapshot   `json:"snapshots,omitempty"`
}

type goldenRecord struct {
	StreamID      string    `json:"stream_id"`
	Version       int64     `json:"version"`
	ID            uuid.UUID `json:"id"`
	Type          string    `json:"type"`
	SchemaVersion int       `json:"schema_version"`
	Encoding      string    `json:"encoding"`
	Data          []byte    `json:"data"`
}

type goldenSnapshot struct {
	StreamID      string `json:"stream_id"`
	Version       int64  `json:"version"`
	Type          string `json:"type"`
	SchemaVersion int    `json:"schema_version"`
	Encoding      string `json:"encoding"`
	Data          []byte `json:"data"`
}

// Schema v1 of the account events, as the generator wrote them.
type (
	accountOpenedV1 struct {
		CustomerID string `json:"customer_id"`
		Owner      string `json:"owner" annals:"personal"`
		Email      string `json:"email,omitempty" annals:"personal"`
	}
	depositedV1 struct {
		Cents int64  `json:"cents"`
		Note  string `json:"note,omitempty"`
	}
	accountV1 struct {
		CustomerID string `json:"customer_id"`
		Holder     string `json:"holder" annals:"personal"`
		Balance    int64  `json:"balance"`
		Deposits   int    `json:"deposits"`
	}
)

func (e accountOpenedV1) DataSubject() string { return e.CustomerID }
func (a accountV1) DataSubject() string       { return a.CustomerID }

var longNote = strings.Repeat("salary for March, thank you! ", 8)

// goldenCases says, for each file, how v1 wrote it and what the current
// code must read from it.
var goldenCases = []struct {
	file     string
	comment  string
	options  func(ks store.KeyStore) []codec.MapperOption
	forget   bool // the file holds no subject key: the customer was forgotten
	want     []testdomain.AccountEvent
	state    testdomain.Account
	snapshot bool
}{
	{
		file: "v1-plain.json", comment: "AccountOpened v1 (owner) and Deposited v1 (cents), plain JSON",
		options: func(store.KeyStore) []codec.MapperOption { return nil },
		want:    []testdomain.AccountEvent{testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann Smith", Email: "ann@example.com"}, testdomain.MoneyDeposited{Amount: 1250}, testdomain.MoneyDeposited{Amount: 99, Note: "gift"}},
		state:   testdomain.Account{CustomerID: "c-1", Holder: "Ann Smith", Balance: 1349, Deposits: 2},
	},
	{
		file: "v1-deflate.json", comment: "v1 events compressed with DEFLATE where it made them smaller",
		options: func(store.KeyStore) []codec.MapperOption { return []codec.MapperOption{codec.WithCompression()} },
		want:    []testdomain.AccountEvent{testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann Smith"}, testdomain.MoneyDeposited{Amount: 500000, Note: longNote}},
		state:   testdomain.Account{CustomerID: "c-1", Holder: "Ann Smith", Balance: 500000, Deposits: 1},
	},
	{
		file: "v1-aes256gcm.json", comment: "v1 events encrypted with test key k1, compressed where smaller",
		options: func(store.KeyStore) []codec.MapperOption {
			return []codec.MapperOption{codec.WithCompression(), codec.WithEncryption(testdomain.MustKeyring(&testing.T{}, testdomain.TestKey1))}
		},
		want:     []testdomain.AccountEvent{testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann Smith"}, testdomain.MoneyDeposited{Amount: 7}, testdomain.MoneyDeposited{Amount: 500000, Note: longNote}},
		state:    testdomain.Account{CustomerID: "c-1", Holder: "Ann Smith", Balance: 500007, Deposits: 2},
		snapshot: true,
	},
	{
		file: "v1-personal.json", comment: "v1 events with personal fields under the subject key of c-1, wrapped and encrypted with test key k1",
		options: func(ks store.KeyStore) []codec.MapperOption {
			k1 := testdomain.MustKeyring(&testing.T{}, testdomain.TestKey1)
			return []codec.MapperOption{codec.WithSubjectKeys(ks, k1), codec.WithEncryption(k1)}
		},
		want:     []testdomain.AccountEvent{testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann Smith", Email: "ann@example.com"}, testdomain.MoneyDeposited{Amount: 30}},
		state:    testdomain.Account{CustomerID: "c-1", Holder: "Ann Smith", Balance: 30, Deposits: 1},
		snapshot: true,
	},
	{
		file: "v1-personal-forgotten.json", comment: "like v1-personal, after c-1 was forgotten: the subject key is gone",
		options: func(ks store.KeyStore) []codec.MapperOption {
			k1 := testdomain.MustKeyring(&testing.T{}, testdomain.TestKey1)
			return []codec.MapperOption{codec.WithSubjectKeys(ks, k1), codec.WithEncryption(k1)}
		},
		forget: true,
		want:   []testdomain.AccountEvent{testdomain.AccountOpened{CustomerID: "c-1"}, testdomain.MoneyDeposited{Amount: 30}},
		state:  testdomain.Account{CustomerID: "c-1", Balance: 30, Deposits: 1},
	},
	{
		file: "v1-aes256gcm-steps.json", comment: "like v1-aes256gcm, encrypted since the steps inside the encryption are bound to it (additional data annals/2)",
		options: func(store.KeyStore) []codec.MapperOption {
			return []codec.MapperOption{codec.WithCompression(), codec.WithEncryption(testdomain.MustKeyring(&testing.T{}, testdomain.TestKey1))}
		},
		want:     []testdomain.AccountEvent{testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann Smith"}, testdomain.MoneyDeposited{Amount: 7}, testdomain.MoneyDeposited{Amount: 500000, Note: longNote}},
		state:    testdomain.Account{CustomerID: "c-1", Holder: "Ann Smith", Balance: 500007, Deposits: 2},
		snapshot: true,
	},
	{
		file: "v1-personal-steps.json", comment: "like v1-personal, encrypted since the steps inside the encryption are bound to it (additional data annals/2)",
		options: func(ks store.KeyStore) []codec.MapperOption {
			k1 := testdomain.MustKeyring(&testing.T{}, testdomain.TestKey1)
			return []codec.MapperOption{codec.WithSubjectKeys(ks, k1), codec.WithCompression(), codec.WithEncryption(k1)}
		},
		want:     []testdomain.AccountEvent{testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann Smith", Email: "ann@example.com"}, testdomain.MoneyDeposited{Amount: 30, Note: longNote}},
		state:    testdomain.Account{CustomerID: "c-1", Holder: "Ann Smith", Balance: 30, Deposits: 1},
		snapshot: true,
	},
}

// v1Event is the event v1 wrote for a current one.
func v1Event(e testdomain.AccountEvent) any {
	switch e := e.(type) {
	case testdomain.AccountOpened:
		return accountOpenedV1{CustomerID: e.CustomerID, Owner: e.Holder, Email: e.Email}
	case testdomain.MoneyDeposited:
		return depositedV1{Cents: e.Amount, Note: e.Note}
	}
	panic("unknown event")
}

func writeGolden(t *testing.T, path string, i int) {
	c := goldenCases[i]
	ctx := context.Background()
	ks := annals.New(memory.New())
	jc := codec.NewJSON[any]().Register("AccountOpened", accountOpenedV1{}).Register("Deposited", depositedV1{})
	m := codec.NewMapper(jc, c.options(ks)...)
	f := goldenFile{Comment: c.comment}
	for i, e := range c.want {
		ev, err := m.ToEvent(ctx, codec.Placement{StreamID: "account-1", Version: int64(i + 1)}, v1Event(e), store.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		f.Records = append(f.Records, goldenRecord{StreamID: "account-1", Version: int64(i + 1), ID: ev.ID, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Encoding: ev.Encoding, Data: ev.Data})
	}
	if c.snapshot {
		sm := codec.NewMapper(codec.NewJSON[accountV1]().Register("Account", accountV1{}), c.options(ks)...)
		st := c.state
		snap, err := sm.ToSnapshot(ctx, "account-1", int64(len(c.want)), accountV1(st))
		if err != nil {
			t.Fatal(err)
		}
		f.Snapshots = append(f.Snapshots, goldenSnapshot{StreamID: snap.StreamID, Version: snap.Version, Type: snap.Type, SchemaVersion: snap.SchemaVersion, Encoding: snap.Encoding, Data: snap.Data})
	}
	if k, err := ks.SubjectKey(ctx, "c-1"); err == nil && !c.forget {
		f.SubjectKeys = append(f.SubjectKeys, k)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

func TestGolden(t *testing.T) {
	ctx := context.Background()
	for i, c := range goldenCases {
		t.Run(strings.TrimSuffix(c.file, ".json"), func(t *testing.T) {
			path := filepath.Join("testdata", "golden", c.file)
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && *createGolden {
				writeGolden(t, path, i)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (the golden files are committed; restore them from version control)", err)
			}
			var f goldenFile
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			s := annals.New(memory.New())
			for _, k := range f.SubjectKeys {
				if _, err := s.CreateSubjectKey(ctx, k); err != nil {
					t.Fatal(err)
				}
			}
			// Today's code: v2 events, the upcasters, and test key k1 kept
			// for reading while k2 writes.
			opts := []codec.MapperOption{codec.WithUpcaster(testdomain.AccountUpcaster()), codec.WithSubjectKeys(s, testdomain.MustKeyring(t, testdomain.TestKey2, testdomain.TestKey1)),
				codec.WithCompression(), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey2, testdomain.TestKey1))}
			m := codec.NewMapper(testdomain.AccountCodec(), opts...)

			if len(f.Records) != len(c.want) {
				t.Fatalf("%d golden records, want %d", len(f.Records), len(c.want))
			}
			var batch []store.Event
			for i, g := range f.Records {
				rec := store.Record{ID: g.ID, StreamID: g.StreamID, Version: g.Version, Type: g.Type, SchemaVersion: g.SchemaVersion, Data: g.Data, Encoding: g.Encoding}
				got, err := m.FromRecord(ctx, rec)
				if err != nil {
					t.Fatalf("golden record %d (%s v%d, encoding %q): %v", i, g.Type, g.SchemaVersion, g.Encoding, err)
				}
				if !reflect.DeepEqual(got, c.want[i]) {
					t.Fatalf("golden record %d (%s v%d, encoding %q) decodes as %#v, want %#v", i, g.Type, g.SchemaVersion, g.Encoding, got, c.want[i])
				}
				batch = append(batch, store.Event{ID: g.ID, Type: g.Type, SchemaVersion: g.SchemaVersion, Data: g.Data, Encoding: g.Encoding})
			}
			// The same records in a store load through the runner.
			if _, err := s.Append(ctx, "account-1", store.NoStream, batch); err != nil {
				t.Fatal(err)
			}
			r := annals.NewRunner(s, testdomain.Accounts, m)
			if a, _, err := r.Load(ctx, "account-1"); err != nil || a != c.state {
				t.Fatalf("runner loads %+v, %v; want %+v", a, err, c.state)
			}
			for _, g := range f.Snapshots {
				sm := codec.NewMapper(testdomain.AccountStateCodec(), opts...)
				got, err := sm.FromSnapshot(ctx, snapshot.Snapshot{StreamID: g.StreamID, Version: g.Version, Type: g.Type, SchemaVersion: g.SchemaVersion, Data: g.Data, Encoding: g.Encoding})
				if err != nil || got != c.state {
					t.Fatalf("golden snapshot (encoding %q): %+v, %v; want %+v", g.Encoding, got, err, c.state)
				}
			}
		})
	}
}
