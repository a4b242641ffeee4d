package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// A cart whose items were stored at schema version 1, with the price as
// text and without encryption, still loads, takes commands, checks out,
// and gets its order through the saga.
func TestVersion1ItemsLoad(t *testing.T) {
	ctx := context.Background()
	shop, s := openShop(t, "memory:", annals.Sync)
	_, err := s.Append(ctx, cartPrefix+"old", store.NoStream, []store.Event{
		{Type: itemAddedType, SchemaVersion: 1, Data: []byte(`{"sku":"apple","price":"1.20"}`)},
		{Type: itemAddedType, SchemaVersion: 1, Data: []byte(`{"sku":"fig","price":"2.5"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := shop.Cart(ctx, "old")
	wantLines := map[string]Line{"apple": {SKU: "apple", Units: 1, PriceCents: 120}, "fig": {SKU: "fig", Units: 1, PriceCents: 250}}
	if err != nil || !reflect.DeepEqual(c.Lines, wantLines) {
		t.Fatalf("cart of v1 events: %+v (%v), want lines %v", c, err, wantLines)
	}

	handle(t, shop, "old", AddItem{SKU: "apple", PriceCents: 120}) // stored at version 2, encrypted, beside the old ones
	handle(t, shop, "old", Checkout{Customer: "ada"})
	o, err := shop.Order(ctx, "old")
	if err != nil || o.TotalCents != 490 || o.Items != 3 {
		t.Fatalf("order of the old cart: %+v (%v), want 3 items for 4.90", o, err)
	}
}

// A version 1 payload the upcaster cannot read fails to load with an
// error that says why, rather than loading as a free item.
func TestVersion1ItemWithoutPriceFails(t *testing.T) {
	ctx := context.Background()
	shop, s := openShop(t, "memory:", annals.Async) // no consumer runs
	for stream, data := range map[string]string{
		"cart-no-price":  `{"sku":"apple"}`,
		"cart-bad-price": `{"sku":"apple","price":"free"}`,
	} {
		if _, err := s.Append(ctx, stream, store.NoStream, []store.Event{{Type: itemAddedType, SchemaVersion: 1, Data: []byte(data)}}); err != nil {
			t.Fatal(err)
		}
		id := strings.TrimPrefix(stream, cartPrefix)
		if c, err := shop.Cart(ctx, id); err == nil || !strings.Contains(err.Error(), "price") {
			t.Errorf("cart of %s: %+v, %v; want an error about the price", data, c, err)
		}
	}
}

// Events and snapshots are stored encrypted: nothing of the carts'
// content is in the database file, and another key cannot read them.
func TestEventsAreEncryptedOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "shop.db")
	const secret = "marmalade-7f3a" // a SKU: it appears only in payloads
	func() {
		shop, s := openShop(t, url, annals.Sync)
		for range 4 {
			handle(t, shop, "enc", AddItem{SKU: secret, PriceCents: 333})
		}
		handle(t, shop, "enc", Checkout{Customer: "ada"})
		if snap, ok, err := s.LatestSnapshot(ctx, cartPrefix+"enc"); err != nil || !ok || !strings.HasPrefix(snap.Encoding, "aes256gcm:test") {
			t.Fatalf("snapshot %+v (%v, %v), want one encrypted with the key test", snap, ok, err)
		}
		recs, err := s.ReadLog(ctx, store.LogQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 6 { // five cart events and the order the saga placed
			t.Fatalf("%d records, want 6", len(recs))
		}
		for _, r := range recs {
			if r.Encoding != "aes256gcm:test" || bytes.Contains(r.Data, []byte(secret)) || bytes.Contains(r.Data, []byte(`"sku"`)) {
				t.Errorf("record %s v%d of %s: encoding %q, payload %q", r.Type, r.Version, r.StreamID, r.Encoding, r.Data)
			}
		}
		s.Close()
	}()

	files, err := filepath.Glob(filepath.Join(dir, "shop.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("database files: %v, %v", files, err)
	}
	var disk []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	if !bytes.Contains(disk, []byte(cartPrefix+"enc")) {
		t.Fatal("the stream ID, stored in the clear, is not in the files: the test reads the wrong files")
	}
	for _, plain := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
		if bytes.Contains(disk, []byte(plain)) {
			t.Errorf("%q is in the database files", plain)
		}
	}

	// Another key reads nothing, and says so.
	other, err := codec.NewKeyring(codec.Key{ID: "test", Secret: bytes.Repeat([]byte{8}, codec.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := annals.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := NewMappers(other)
	if err != nil {
		t.Fatal(err)
	}
	carts := annals.NewRunner(s, CartDecider, m.Carts)
	if _, _, err := carts.Load(ctx, cartPrefix+"enc"); !errors.Is(err, codec.ErrDecrypt) {
		t.Fatalf("loading with another key: %v, want codec.ErrDecrypt", err)
	}
}

// The key comes from ANNALS_CIPHER_KEY; without it the demo key is used,
// with a warning; a malformed key is an error.
func TestKeyring(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	var warn bytes.Buffer
	keys, err := Keyring(env(nil), &warn)
	if err != nil || keys.WriteKeyID() != "demo" || !strings.Contains(warn.String(), "WARNING: ANNALS_CIPHER_KEY is not set") {
		t.Fatalf("unset: key %v, %v, warning %q", keys, err, warn.String())
	}

	warn.Reset()
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, codec.KeySize))
	keys, err = Keyring(env(map[string]string{codec.CipherKeyEnv: "k7:" + secret}), &warn)
	if err != nil || keys.WriteKeyID() != "k7" || warn.Len() != 0 {
		t.Fatalf("set: key %v, %v, warning %q", keys, err, warn.String())
	}

	if _, err := Keyring(env(map[string]string{codec.CipherKeyEnv: "k7:short"}), &warn); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("malformed key: %v, want store.ErrInvalid", err)
	}
}

// A cart gets a snapshot after three events, and loading it from the
// snapshot gives what replaying every event gives.
func TestSnapshotEveryThreeEvents(t *testing.T) {
	ctx := context.Background()
	shop, s := openShop(t, "memory:", annals.Sync)
	replay := annals.NewRunner(s, CartDecider, mustMappers(t).Carts) // no snapshots

	steps := []CartCommand{
		AddItem{SKU: "apple", PriceCents: 120},
		AddItem{SKU: "pear", PriceCents: 90},
		AddItem{SKU: "fig", PriceCents: 250}, // the third event: a snapshot
		RemoveItem{SKU: "pear"},
		AddItem{SKU: "apple", PriceCents: 110},
		AddItem{SKU: "kiwi", PriceCents: 75}, // the sixth: another
		Checkout{Customer: "ada"},
	}
	wantSnap := []int64{0, 0, 3, 3, 3, 6, 6}
	for i, c := range steps {
		handle(t, shop, "s", c)
		snap, ok, err := s.LatestSnapshot(ctx, cartPrefix+"s")
		if err != nil {
			t.Fatal(err)
		}
		if snap.Version != wantSnap[i] || ok != (wantSnap[i] > 0) {
			t.Fatalf("after event %d: snapshot at version %d (%v), want %d", i+1, snap.Version, ok, wantSnap[i])
		}
		if ok && (snap.Type != cartStateType || snap.SchemaVersion != 1) {
			t.Fatalf("snapshot stored as %s v%d, want %s v1", snap.Type, snap.SchemaVersion, cartStateType)
		}
		loaded, err := shop.Cart(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		replayed, _, err := replay.Load(ctx, cartPrefix+"s")
		if err != nil || !reflect.DeepEqual(loaded, replayed) {
			t.Fatalf("after event %d: loaded %+v, replayed %+v (%v)", i+1, loaded, replayed, err)
		}
	}
}

// For any commands and any snapshot interval, loading a cart from its
// snapshots through the shop's encrypted mappers equals a full replay.
func TestSnapshotEqualsReplay(t *testing.T) {
	s, err := annals.Open(context.Background(), "memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := mustMappers(t)
	proptest.SnapshotEqualsReplay(t, s, s, CartDecider, m.Carts, m.CartState, cartCommands)
}

// A snapshot the state codec does not read, as one written by a later
// version of Cart, is ignored: the cart is replayed from its events.
func TestUnreadableSnapshotIsReplayed(t *testing.T) {
	ctx := context.Background()
	shop, s := openShop(t, "memory:", annals.Sync)
	for _, sku := range []string{"apple", "pear", "fig"} {
		handle(t, shop, "u", AddItem{SKU: sku, PriceCents: 100})
	}
	err := s.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: cartPrefix + "u", Version: 3, Type: cartStateType, SchemaVersion: 2, Data: []byte(`{"lines":{}}`)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := shop.Cart(ctx, "u")
	if err != nil || c.Count() != 3 {
		t.Fatalf("cart with a snapshot of Cart v2: %+v (%v), want the three items replayed", c, err)
	}
}
