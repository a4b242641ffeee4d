package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
)

// testKeys encrypts the events of the tests.
var testKeys = func() *codec.Keyring {
	k, err := codec.NewKeyring(codec.Key{ID: "test", Secret: bytes.Repeat([]byte{7}, codec.KeySize)})
	if err != nil {
		panic(err)
	}
	return k
}()

// sqliteFile returns the URL of a new SQLite file.
func sqliteFile(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "shop.db")
}

// openShop opens the store at url and wires a shop on it in mode; in
// Async mode it also runs the system until the test ends.
func openShop(t *testing.T, url string, mode annals.Mode) (*Shop, *annals.Store) {
	t.Helper()
	s, err := annals.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return openShopOn(t, s, mode), s
}

// openShopOn is openShop on a store handle the test opened, which it
// closes when the test ends.
func openShopOn(t *testing.T, s *annals.Store, mode annals.Mode) *Shop {
	t.Helper()
	ctx := context.Background()
	t.Cleanup(func() { s.Close() })
	shop, err := NewShop(s, mode, testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if mode == annals.Async {
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- shop.System.Run(runCtx) }()
		t.Cleanup(func() { // before the store closes: cleanups run last first
			stop()
			if err := <-done; err != nil {
				t.Errorf("system: %v", err)
			}
		})
	}
	return shop
}

// settle waits, in Async mode, until the saga and the read model have
// caught up; in Sync mode they have when a command returns.
func settle(t *testing.T, shop *Shop) {
	t.Helper()
	if shop.System.Mode() == annals.Sync {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := shop.System.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
}

// fataler is what the helpers below report failures to: a *testing.T, or
// a *rapid.T inside a property.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// handle runs a cart command that must be stored.
func handle(t fataler, shop *Shop, cart string, c CartCommand) Cart {
	t.Helper()
	res, err := shop.HandleCart(context.Background(), cart, c)
	if err != nil {
		t.Fatalf("cart %s: %+v: %v", cart, c, err)
	}
	return res.State
}

// count returns how many records stream holds, and fails the test on an
// error.
func count(t fataler, s *annals.Store, stream string) int {
	t.Helper()
	n := 0
	for _, err := range s.ReadStream(context.Background(), stream, 1) {
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		n++
	}
	return n
}

// isRejection reports whether err is a business-rule rejection with rule.
func isRejection(err, rule error) bool {
	return errors.Is(err, annals.ErrRejected) && errors.Is(err, rule)
}
