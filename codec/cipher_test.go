package codec_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/annals-dev/annals/internal/testdomain"
	"slices"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestKeyringFromEnv(t *testing.T) {
	k3 := testdomain.RandomSecret(3)
	kr, err := codec.KeyringFromEnv(env(map[string]string{
		codec.CipherKeyEnv:     testdomain.TestKey2,
		codec.CipherOldKeysEnv: testdomain.TestKey1 + ", " + k3 + ",",
	}))
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := testdomain.MustKey(t, k3).ID
	if !strings.HasPrefix(fingerprint, "k") || len(fingerprint) != 9 {
		t.Fatalf("a key without an ID got the ID %q, want k and 8 hex digits", fingerprint)
	}
	if again := testdomain.MustKey(t, k3).ID; again != fingerprint {
		t.Fatalf("the derived ID changed from %q to %q", fingerprint, again)
	}
	if kr.WriteKeyID() != "k2" || !slices.Equal(kr.KeyIDs(), []string{"k1", "k2", fingerprint}) {
		t.Fatalf("keyring writes with %q and holds %v; want k2 and [k1 k2 %s]", kr.WriteKeyID(), kr.KeyIDs(), fingerprint)
	}
	// Other alphabets and padding are accepted.
	raw := testdomain.MustKey(t, testdomain.TestKey1).Secret
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := codec.ParseKey("x:" + enc.EncodeToString(raw)); err != nil || string(k.Secret) != string(raw) {
			t.Errorf("key in another base64 alphabet: %v", err)
		}
	}
}

func TestKeyringFromEnvErrors(t *testing.T) {
	secretish := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	cases := map[string]struct {
		vars map[string]string
		want error
	}{
		"unset":           {map[string]string{}, store.ErrNotFound},
		"blank":           {map[string]string{codec.CipherKeyEnv: "  "}, store.ErrNotFound},
		"not base64":      {map[string]string{codec.CipherKeyEnv: "k1:" + secretish + "!!"}, store.ErrInvalid},
		"too short":       {map[string]string{codec.CipherKeyEnv: "k1:" + secretish}, store.ErrInvalid},
		"bad ID":          {map[string]string{codec.CipherKeyEnv: "my key:" + testdomain.RandomSecret(1)}, store.ErrInvalid},
		"duplicate ID":    {map[string]string{codec.CipherKeyEnv: testdomain.TestKey1, codec.CipherOldKeysEnv: "k1:" + testdomain.RandomSecret(9)}, store.ErrInvalid},
		"bad old key":     {map[string]string{codec.CipherKeyEnv: testdomain.TestKey1, codec.CipherOldKeysEnv: "k0:" + secretish}, store.ErrInvalid},
		"ID with a plus":  {map[string]string{codec.CipherKeyEnv: "a+b:" + testdomain.RandomSecret(1)}, store.ErrInvalid},
		"ID far too long": {map[string]string{codec.CipherKeyEnv: strings.Repeat("k", 65) + ":" + testdomain.RandomSecret(1)}, store.ErrInvalid},
	}
	for name, c := range cases {
		_, err := codec.KeyringFromEnv(env(c.vars))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), testdomain.RandomSecret(1)) || strings.Contains(err.Error(), testdomain.RandomSecret(9)) {
			t.Errorf("%s: the error quotes a secret: %v", name, err)
		}
	}
}

func TestKeysNeverPrintTheirSecret(t *testing.T) {
	k := testdomain.MustKey(t, testdomain.TestKey1)
	b64 := strings.TrimPrefix(testdomain.TestKey1, "k1:")
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, k)
		if strings.Contains(out, b64) || strings.Contains(out, string(k.Secret)) || strings.Contains(out, fmt.Sprint(k.Secret)) {
			t.Errorf("%s prints the secret: %s", format, out)
		}
		if !strings.Contains(out, "k1") {
			t.Errorf("%s does not print the ID: %s", format, out)
		}
	}
}

func encryptedRecords(t *testing.T, s *memory.Store, kr *codec.Keyring, stream string, events ...testdomain.AccountEvent) []store.Record {
	return appendAll(t, s, codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(kr)), stream, events...)
}

func wantDecryptError(t testdomain.Fataler, what string, err error, keyID string) {
	t.Helper()
	if !errors.Is(err, codec.ErrDecrypt) || !strings.Contains(err.Error(), fmt.Sprintf("%q", keyID)) {
		t.Fatalf("%s: %v; want ErrDecrypt naming key %q", what, err, keyID)
	}
}

func TestTamperedCiphertextFails(t *testing.T) {
	ctx := context.Background()
	kr := testdomain.MustKeyring(t, testdomain.TestKey1)
	m := codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(kr))
	rec := encryptedRecords(t, memory.New(), kr, "tamper", testdomain.MoneyDeposited{Amount: 100, Note: "rent"})[0]
	rapid.Check(t, func(t *rapid.T) {
		bad := rec
		bad.Data = slices.Clone(rec.Data)
		switch rapid.IntRange(0, 2).Draw(t, "how") {
		case 0:
			i := rapid.IntRange(0, len(bad.Data)-1).Draw(t, "byte")
			bad.Data[i] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
		case 1:
			bad.Data = bad.Data[:rapid.IntRange(0, len(bad.Data)-1).Draw(t, "cut")]
		case 2:
			bad.Data = append(bad.Data, rapid.SliceOfN(rapid.Byte(), 1, 4).Draw(t, "extra")...)
		}
		got, err := m.FromRecord(ctx, bad)
		if err == nil {
			t.Fatalf("tampered ciphertext decoded as %+v", got)
		}
		wantDecryptError(t, "tampered ciphertext", err, "k1")
	})
}

func TestWrongOrMissingKeyFails(t *testing.T) {
	ctx := context.Background()
	rec := encryptedRecords(t, memory.New(), testdomain.MustKeyring(t, testdomain.TestKey1), "keys", testdomain.MoneyDeposited{Amount: 1})[0]
	impostor := testdomain.MustKeyring(t, "k1:"+testdomain.RandomSecret(42))
	_, err := codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(impostor)).FromRecord(ctx, rec)
	wantDecryptError(t, "another key under the same ID", err, "k1")

	_, err = codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey2))).FromRecord(ctx, rec)
	wantDecryptError(t, "a keyring without the key", err, "k1")
	if !strings.Contains(err.Error(), "not in the keyring") || !strings.Contains(err.Error(), codec.CipherOldKeysEnv) {
		t.Errorf("the error does not say how to fix a missing key: %v", err)
	}
}

func TestCiphertextIsBoundToItsRecord(t *testing.T) {
	ctx := context.Background()
	kr := testdomain.MustKeyring(t, testdomain.TestKey1)
	m := codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(kr))
	s := memory.New()
	a := encryptedRecords(t, s, kr, "account-a", testdomain.MoneyDeposited{Amount: 1}, testdomain.MoneyDeposited{Amount: 2})
	b := encryptedRecords(t, s, kr, "account-b", testdomain.MoneyDeposited{Amount: 1000})
	for _, r := range append(a, b...) {
		if _, err := m.FromRecord(ctx, r); err != nil {
			t.Fatalf("untouched record: %v", err)
		}
	}
	swaps := map[string]store.Record{
		"data of another stream":             withData(b[0], a[0]),
		"data of another version":            withData(a[1], a[0]),
		"record moved to another stream":     func() store.Record { r := a[0]; r.StreamID = "account-b"; return r }(),
		"record moved to another version":    func() store.Record { r := a[0]; r.Version = 2; return r }(),
		"another event ID":                   func() store.Record { r := a[0]; r.ID = b[0].ID; return r }(),
		"type relabelled":                    func() store.Record { r := a[0]; r.Type = "AccountOpened"; return r }(),
		"schema version relabelled":          func() store.Record { r := a[0]; r.SchemaVersion = 1; return r }(),
		"encoding relabelled to another key": func() store.Record { r := a[0]; r.Encoding = "aes256gcm:k2"; return r }(),
	}
	for name, r := range swaps {
		got, err := codec.NewMapper(testdomain.AccountCodec(), codec.WithUpcaster(testdomain.AccountUpcaster()), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey1, testdomain.TestKey2))).FromRecord(ctx, r)
		if err == nil {
			t.Errorf("%s: decoded as %+v", name, got)
			continue
		}
		if !errors.Is(err, codec.ErrDecrypt) {
			t.Errorf("%s: %v, want ErrDecrypt", name, err)
		}
	}
	// An event's ciphertext is not a snapshot's either.
	snapM := codec.NewMapper(testdomain.AccountStateCodec(), codec.WithEncryption(kr))
	_, err := snapM.FromSnapshot(ctx, snapshot.Snapshot{StreamID: a[0].StreamID, Version: a[0].Version, Type: "Account", SchemaVersion: 1, Data: a[0].Data, Encoding: a[0].Encoding})
	wantDecryptError(t, "an event's ciphertext as a snapshot", err, "k1")
}

// The steps applied inside the encryption are bound to the ciphertext:
// a record relabelled to drop its "personal" step would otherwise have
// its envelope decoded as the event, every field zero, without an error.
func TestCiphertextIsBoundToTheStepsInsideIt(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	kr := testdomain.MustKeyring(t, testdomain.TestKey1)
	opts := []codec.MapperOption{codec.WithSubjectKeys(s, kr), codec.WithCompression(), codec.WithEncryption(kr)}
	m := codec.NewMapper(testdomain.AccountCodec(), opts...)
	recs := appendAll(t, s, m, "account-a",
		testdomain.AccountOpened{CustomerID: "c", Holder: "A"},                                    // personal
		testdomain.MoneyDeposited{Amount: 1, Note: strings.Repeat("rent for March, thanks! ", 9)}, // deflate
		testdomain.AccountOpened{CustomerID: "c-2", Holder: strings.Repeat("Bo ", 60)},            // both
		testdomain.MoneyDeposited{Amount: 2},                                                      // neither
	)
	encodings := []string{"aes256gcm:k1", "personal+aes256gcm:k1", "deflate+aes256gcm:k1", "personal+deflate+aes256gcm:k1"}
	stored := lo.Map(recs, func(r store.Record, _ int) string { return r.Encoding })
	for _, step := range []string{"personal+", "deflate+"} {
		if !lo.SomeBy(stored, func(e string) bool { return strings.Contains(e, step) }) || lo.EveryBy(stored, func(e string) bool { return strings.Contains(e, step) }) {
			t.Fatalf("the records were stored as %q: some with the step %q and some without it were wanted", stored, step)
		}
	}
	for _, r := range recs {
		for _, enc := range encodings {
			if enc == r.Encoding {
				continue
			}
			bad := r
			bad.Encoding = enc
			got, err := m.FromRecord(ctx, bad)
			if !errors.Is(err, codec.ErrDecrypt) {
				t.Errorf("version %d stored as %q, read as %q: %+v, %v; want ErrDecrypt", r.Version, r.Encoding, enc, got, err)
			}
		}
	}
	sm := codec.NewMapper(testdomain.AccountStateCodec(), opts...)
	snap, err := sm.ToSnapshot(ctx, "account-a", 4, testdomain.Account{CustomerID: "c-1", Holder: "Ann", Balance: 3})
	if err != nil || !strings.HasPrefix(snap.Encoding, "personal+") {
		t.Fatalf("snapshot: %q, %v; want it personal", snap.Encoding, err)
	}
	snap.Encoding = strings.TrimPrefix(snap.Encoding, "personal+")
	if got, err := sm.FromSnapshot(ctx, snap); !errors.Is(err, codec.ErrDecrypt) {
		t.Errorf("snapshot relabelled without its personal step: %+v, %v; want ErrDecrypt", got, err)
	}
}

func withData(dst, src store.Record) store.Record {
	dst.Data, dst.Encoding = src.Data, src.Encoding
	return dst
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	before := codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey1)))
	after := codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey2, testdomain.TestKey1)))
	appendAll(t, s, before, "rotating", testdomain.MoneyDeposited{Amount: 1}, testdomain.MoneyDeposited{Amount: 2})
	appendAll(t, s, after, "rotating", testdomain.MoneyDeposited{Amount: 3})

	var encodings []string
	var total int64
	for rec, err := range s.ReadStream(ctx, "rotating", 0) {
		if err != nil {
			t.Fatal(err)
		}
		encodings = append(encodings, rec.Encoding)
		e, err := after.FromRecord(ctx, rec)
		if err != nil {
			t.Fatalf("version %d (%s) after rotation: %v", rec.Version, rec.Encoding, err)
		}
		total += e.(testdomain.MoneyDeposited).Amount
	}
	if total != 6 || !slices.Equal(encodings, []string{"aes256gcm:k1", "aes256gcm:k1", "aes256gcm:k2"}) {
		t.Fatalf("read %d in total under %v; want 6 under k1, k1, k2", total, encodings)
	}
	// Once k1 leaves the ring, its records name it in the error.
	retired := codec.NewMapper(testdomain.AccountCodec(), codec.WithEncryption(testdomain.MustKeyring(t, testdomain.TestKey2)))
	for rec := range s.ReadStream(ctx, "rotating", 1) {
		_, err := retired.FromRecord(ctx, rec)
		wantDecryptError(t, "k1 record without k1", err, "k1")
		break
	}
}
