package proptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/store"
)

// KeyStoreContract runs the behaviour every [store.KeyStore] must have
// against the key stores that open returns. Each subtest calls open once;
// open should return a fresh, empty store and register its cleanup with
// t.Cleanup. Adapters run it beside [StoreContract]:
//
//	func TestKeyStoreContract(t *testing.T) {
//		proptest.KeyStoreContract(t, func(t *testing.T) store.KeyStore { return openTestStore(t) })
//	}
//
// It takes *testing.T, not [T]: it runs each behaviour as a subtest
// (t.Run) and hands that subtest's t to open.
func KeyStoreContract(t *testing.T, open func(t *testing.T) store.KeyStore) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, store.KeyStore)
	}{
		{"StateMachine", keyContractStateMachine},
		{"FirstKeyWins", keyContractFirstWins},
		{"ConcurrentCreate", keyContractConcurrentCreate},
		{"DeleteIsForGood", keyContractDelete},
		{"InvalidInput", keyContractInvalid},
		{"Limits", keyContractLimits},
		{"BytesAreCopied", keyContractCopies},
		{"Cancellation", keyContractCancellation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

func testKey(subject string, seed byte) store.SubjectKey {
	return store.SubjectKey{Subject: subject, KeyID: fmt.Sprintf("master-%d", seed), Wrapped: bytes.Repeat([]byte{seed, seed ^ 0x5a}, 30)}
}

func sameKey(a, b store.SubjectKey) bool {
	return a.Subject == b.Subject && a.KeyID == b.KeyID && bytes.Equal(a.Wrapped, b.Wrapped)
}

func describeKey(k store.SubjectKey) string {
	return fmt.Sprintf("{subject %q, key ID %q, wrapped %x}", k.Subject, k.KeyID, k.Wrapped)
}

// keyContractStateMachine checks create, get and delete against a map.
func keyContractStateMachine(t *testing.T, ks store.KeyStore) {
	ctx := context.Background()
	runs := 0
	rapid.Check(t, func(t *rapid.T) {
		runs++
		prefix := fmt.Sprintf("ks-%d-%s/", runs, uuid.NewString()[:8])
		model := map[string]store.SubjectKey{}
		subject := func(t *rapid.T) string {
			return prefix + rapid.SampledFrom([]string{"ann", "bob", "čapek", "δ 42"}).Draw(t, "subject")
		}
		t.Repeat(map[string]func(*rapid.T){
			"create": func(t *rapid.T) {
				s := subject(t)
				k := store.SubjectKey{
					Subject: s,
					KeyID:   rapid.StringMatching(`[a-z0-9]{1,8}`).Draw(t, "key ID"),
					Wrapped: rapid.SliceOfN(rapid.Byte(), 1, 64).Draw(t, "wrapped"),
				}
				got, err := ks.CreateSubjectKey(ctx, k)
				if err != nil {
					t.Fatalf("create key of %q: %v", s, err)
				}
				want, exists := model[s]
				if !exists {
					want = k
					model[s] = k
				}
				if !sameKey(got, want) {
					t.Fatalf("create key of %q returned %s, want %s (the first key stored wins)", s, describeKey(got), describeKey(want))
				}
			},
			"get": func(t *rapid.T) {
				s := subject(t)
				got, err := ks.SubjectKey(ctx, s)
				want, exists := model[s]
				switch {
				case !exists && !errors.Is(err, store.ErrNotFound):
					t.Fatalf("get key of %q, which has none: %s, %v; want store.ErrNotFound", s, describeKey(got), err)
				case exists && err != nil:
					t.Fatalf("get key of %q: %v", s, err)
				case exists && !sameKey(got, want):
					t.Fatalf("get key of %q: %s, want %s", s, describeKey(got), describeKey(want))
				}
			},
			"delete": func(t *rapid.T) {
				s := subject(t)
				if err := ks.DeleteSubjectKey(ctx, s); err != nil {
					t.Fatalf("delete key of %q: %v", s, err)
				}
				delete(model, s)
			},
		})
	})
}

func keyContractFirstWins(t *testing.T, ks store.KeyStore) {
	ctx := context.Background()
	first, second := testKey("customer-1", 1), testKey("customer-1", 2)
	got, err := ks.CreateSubjectKey(ctx, first)
	if err != nil || !sameKey(got, first) {
		t.Fatalf("create the first key: %s, %v; want %s", describeKey(got), err, describeKey(first))
	}
	got, err = ks.CreateSubjectKey(ctx, second)
	if err != nil || !sameKey(got, first) {
		t.Fatalf("create a second key for the subject: %s, %v; want the first one back, %s", describeKey(got), err, describeKey(first))
	}
	if got, err = ks.SubjectKey(ctx, "customer-1"); err != nil || !sameKey(got, first) {
		t.Fatalf("get after two creates: %s, %v; want %s", describeKey(got), err, describeKey(first))
	}
	if _, err := ks.SubjectKey(ctx, "customer-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get the key of another subject: %v, want store.ErrNotFound", err)
	}
}

func keyContractConcurrentCreate(t *testing.T, ks store.KeyStore) {
	ctx := context.Background()
	for round := range 10 {
		subject := fmt.Sprintf("racing-%d", round)
		got := make([]store.SubjectKey, 6)
		errs := make([]error, len(got))
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i], errs[i] = ks.CreateSubjectKey(ctx, testKey(subject, byte(i+1))) })
		}
		wg.Wait()
		stored, err := ks.SubjectKey(ctx, subject)
		if err != nil {
			t.Fatalf("get %q after racing creates: %v", subject, err)
		}
		for i := range got {
			if errs[i] != nil {
				t.Fatalf("racing create %d of %q: %v", i, subject, errs[i])
			}
			if !sameKey(got[i], stored) {
				t.Fatalf("racing create %d of %q returned %s, but the store holds %s: writers must agree on one key",
					i, subject, describeKey(got[i]), describeKey(stored))
			}
		}
	}
}

func keyContractDelete(t *testing.T, ks store.KeyStore) {
	ctx := context.Background()
	if err := ks.DeleteSubjectKey(ctx, "never-created"); err != nil {
		t.Fatalf("delete a key that does not exist: %v, want nil (forgetting is idempotent)", err)
	}
	for _, s := range []string{"keep", "forget"} {
		if _, err := ks.CreateSubjectKey(ctx, testKey(s, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := ks.DeleteSubjectKey(ctx, "forget"); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if k, err := ks.SubjectKey(ctx, "forget"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get a deleted key: %s, %v; want store.ErrNotFound", describeKey(k), err)
	}
	if k, err := ks.SubjectKey(ctx, "keep"); err != nil || !sameKey(k, testKey("keep", 1)) {
		t.Fatalf("deleting one subject's key touched another's: %s, %v", describeKey(k), err)
	}
	// A subject that comes back gets a new key, not the deleted one.
	fresh := testKey("forget", 9)
	if k, err := ks.CreateSubjectKey(ctx, fresh); err != nil || !sameKey(k, fresh) {
		t.Fatalf("create after delete: %s, %v; want the new key %s", describeKey(k), err, describeKey(fresh))
	}
}

func keyContractInvalid(t *testing.T, ks store.KeyStore) {
	ctx := context.Background()
	badSubjects := map[string]string{
		"empty":        "",
		"too long":     strings.Repeat("s", store.MaxStreamIDLen+1),
		"NUL":          "a\x00b",
		"invalid UTF8": "a\xffb",
	}
	for name, s := range badSubjects {
		if _, err := ks.CreateSubjectKey(ctx, testKey(s, 1)); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("create with subject %s: %v, want store.ErrInvalid", name, err)
		}
		if _, err := ks.SubjectKey(ctx, s); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("get with subject %s: %v, want store.ErrInvalid", name, err)
		}
		if err := ks.DeleteSubjectKey(ctx, s); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("delete with subject %s: %v, want store.ErrInvalid", name, err)
		}
	}
	badKeys := map[string]store.SubjectKey{
		"empty key ID":    {Subject: "s1", KeyID: "", Wrapped: []byte{1}},
		"key ID with +":   {Subject: "s2", KeyID: "a+b", Wrapped: []byte{1}},
		"empty wrapped":   {Subject: "s3", KeyID: "k1"},
		"huge wrapped":    {Subject: "s4", KeyID: "k1", Wrapped: make([]byte, store.MaxWrappedKeyLen+1)},
		"key ID too long": {Subject: "s5", KeyID: strings.Repeat("k", 65), Wrapped: []byte{1}},
	}
	for name, k := range badKeys {
		if _, err := ks.CreateSubjectKey(ctx, k); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("create with %s: %v, want store.ErrInvalid", name, err)
		}
		if _, err := ks.SubjectKey(ctx, k.Subject); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after a refused create with %s: get gave %v, want store.ErrNotFound (nothing stored)", name, err)
		}
	}
}

func keyContractLimits(t *testing.T, ks store.KeyStore) {
	ctx := context.Background()
	k := store.SubjectKey{
		Subject: strings.Repeat("ü", store.MaxStreamIDLen/2),
		KeyID:   strings.Repeat("k", 64),
		Wrapped: bytes.Repeat([]byte{0, 0xff}, store.MaxWrappedKeyLen/2),
	}
	if _, err := ks.CreateSubjectKey(ctx, k); err != nil {
		t.Fatalf("create a key at the size limits: %v", err)
	}
	if got, err := ks.SubjectKey(ctx, k.Subject); err != nil || !sameKey(got, k) {
		t.Fatalf("get a key at the size limits: %v, equal: %v", err, sameKey(got, k))
	}
}

func keyContractCopies(t *testing.T, ks store.KeyStore) {
	ctx := context.Background()
	k := testKey("copied", 3)
	want := testKey("copied", 3)
	got, err := ks.CreateSubjectKey(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	k.Wrapped[0] ^= 0xff
	got.Wrapped[1] ^= 0xff
	read, err := ks.SubjectKey(ctx, "copied")
	if err != nil {
		t.Fatal(err)
	}
	read.Wrapped[2] ^= 0xff
	if again, err := ks.SubjectKey(ctx, "copied"); err != nil || !sameKey(again, want) {
		t.Fatalf("changing the caller's bytes changed the stored key: %s, %v; want %s", describeKey(again), err, describeKey(want))
	}
}

func keyContractCancellation(t *testing.T, ks store.KeyStore) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ks.CreateSubjectKey(ctx, testKey("cancelled", 1)); err == nil {
		t.Error("create with a cancelled context succeeded")
	}
	if _, err := ks.SubjectKey(ctx, "cancelled"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("get with a cancelled context: %v, want the context's error", err)
	}
	if err := ks.DeleteSubjectKey(ctx, "cancelled"); err == nil {
		t.Error("delete with a cancelled context succeeded")
	}
	if _, err := ks.SubjectKey(context.Background(), "cancelled"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a create with a cancelled context stored a key: %v", err)
	}
}
