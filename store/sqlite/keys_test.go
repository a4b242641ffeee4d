package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/store"
)

// fileBytes returns the database file and its write-ahead log, joined.
func fileBytes(t interface {
	Helper()
	Fatal(...any)
}, path string) []byte {
	t.Helper()
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(path + "-wal")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return append(db, wal...)
}

// chunksFound counts the 16-byte pieces of key that occur in b. A key
// longer than a page's share of a row is split over overflow pages, so
// it is looked for in pieces rather than whole.
func chunksFound(b, key []byte) (found, chunks int) {
	for i := 0; i+16 <= len(key); i += 16 {
		chunks++
		if bytes.Contains(b, key[i:i+16]) {
			found++
		}
	}
	return found, chunks
}

// randomKey returns n bytes that no other part of the file holds by
// chance: a seeded generator's, so a shrunk case still has varied bytes.
// Keys made with different streams differ, whatever the seed.
func randomKey(seed, stream uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, stream))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// For any sequence of creating and deleting subject keys among other
// writes, no piece of a deleted key is left in the database file or its
// write-ahead log, while every live key is found there: the bytes of a
// deleted row are overwritten, not left in free space or in old log
// frames.
func TestDeletedKeyLeavesNoBytes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, created, checkedDeleted := 0, 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		subjects := make([]string, 6)
		for i := range subjects {
			subjects[i] = fmt.Sprintf("run-%d/customer-%d", runs, i)
		}
		live := map[string][]byte{}
		var deleted [][]byte
		check := func(rt *rapid.T) {
			b := fileBytes(rt, path)
			for _, key := range deleted {
				if found, chunks := chunksFound(b, key); found > 0 {
					rt.Fatalf("%d of the %d pieces of a deleted %d-byte key are still in the file", found, chunks, len(key))
				}
				checkedDeleted++
			}
			for subject, key := range live {
				if found, chunks := chunksFound(b, key); found == 0 {
					rt.Fatalf("none of the %d pieces of the live key of %q is in the file: the search cannot find keys", chunks, subject)
				}
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"create": func(rt *rapid.T) {
				subject := rapid.SampledFrom(subjects).Draw(rt, "subject")
				n := rapid.IntRange(16, 200).Draw(rt, "size")
				if rapid.IntRange(0, 4).Draw(rt, "large") == 0 {
					n = rapid.IntRange(200, store.MaxWrappedKeyLen).Draw(rt, "large size")
				}
				created++ // every key differs from those made before
				key := randomKey(rapid.Uint64().Draw(rt, "seed"), uint64(created), n)
				got, err := s.CreateSubjectKey(ctx, store.SubjectKey{Subject: subject, KeyID: "m1", Wrapped: key})
				if err != nil {
					rt.Fatal(err)
				}
				live[subject] = got.Wrapped
			},
			"delete": func(rt *rapid.T) {
				subject := rapid.SampledFrom(subjects).Draw(rt, "subject")
				if err := s.DeleteSubjectKey(ctx, subject); err != nil {
					rt.Fatal(err)
				}
				if key, ok := live[subject]; ok {
					deleted = append(deleted, key)
					delete(live, subject)
				}
				check(rt)
			},
			"append": func(rt *rapid.T) {
				// Other writes between, so that pages split and move.
				n := rapid.IntRange(1, 10).Draw(rt, "events")
				events := make([]store.Event, n)
				for i := range events {
					events[i] = store.Event{Type: "E", Data: bytes.Repeat([]byte{'x'}, rapid.IntRange(0, 1000).Draw(rt, "data"))}
				}
				if _, err := s.Append(ctx, subjects[0], store.AnyVersion, events); err != nil {
					rt.Fatal(err)
				}
			},
		})
	})
	if checkedDeleted == 0 {
		t.Fatal("no deleted key was looked for")
	}
}

// A plain DELETE without secure_delete leaves the key's bytes in the
// file, and the search of TestDeletedKeyLeavesNoBytes finds them: the
// test above could fail. (With secure_delete, a plain DELETE still left
// copies that the b-tree had made when it moved rows between pages; hence
// the rewrite of the key table.)
func TestPlainDeleteLeavesTheKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var on int
	if err := s.w.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&on); err != nil || on != 1 {
		t.Fatalf("the writer connection has secure_delete = %d (%v); want 1", on, err)
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA secure_delete = OFF`); err != nil {
		t.Fatal(err)
	}
	keys := make([][]byte, 5)
	for i := range keys {
		keys[i] = randomKey(1, uint64(i), 64)
		if _, err := s.CreateSubjectKey(ctx, store.SubjectKey{Subject: fmt.Sprint("s", i), KeyID: "m1", Wrapped: keys[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM annals_subject_keys WHERE subject = 's2'`); err != nil {
		t.Fatal(err)
	}
	if err := s.truncateLog(ctx, "DeleteSubjectKey"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubjectKey(ctx, "s2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key after a plain DELETE: %v, want store.ErrNotFound", err)
	}
	if found, chunks := chunksFound(fileBytes(t, path), keys[2]); found != chunks {
		t.Fatalf("after a plain DELETE, %d of the %d pieces of the deleted key are in the file; want all: the search cannot find what is left", found, chunks)
	}
}

// For any states saved, then deleted or replaced, PurgeDeletedStates
// leaves no piece of a deleted or replaced state in the file or its log,
// while the store is open, and keeps every state that is still there.
func TestPurgeDeletedStatesLeavesNoCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		path := filepath.Join(dir, fmt.Sprintf("purge-%d.db", rand.Uint64()))
		defer func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(path + suffix)
			}
		}()
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		seed := rapid.Uint64().Draw(t, "seed")
		n := rapid.IntRange(1, 200).Draw(t, "states")
		live := map[string][]byte{}
		var gone [][]byte
		if err := s.Commit(ctx, "v", 0, 1, func(tx store.StateTx) error {
			for i := range n {
				key, data := fmt.Sprint("k", i), randomKey(seed, uint64(i), 300)
				live[key] = data
				if err := tx.SaveState(ctx, "v", key, data); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, "v", 1, 2, func(tx store.StateTx) error {
			for i := range n {
				key := fmt.Sprint("k", i)
				switch rapid.IntRange(0, 2).Draw(t, "fate") {
				case 1:
					gone = append(gone, live[key])
					delete(live, key)
					if err := tx.DeleteState(ctx, "v", key); err != nil {
						return err
					}
				case 2:
					gone = append(gone, live[key])
					live[key] = randomKey(seed, uint64(n+i), 300)
					if err := tx.SaveState(ctx, "v", key, live[key]); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.PurgeDeletedStates(ctx); err != nil {
			t.Fatal(err)
		}
		var scratch int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'annals_view_states_purge'`).Scan(&scratch); err != nil || scratch != 0 {
			t.Fatalf("the purge left its scratch table (%d, %v)", scratch, err)
		}
		b := fileBytes(t, path)
		for _, data := range gone {
			if found, _ := chunksFound(b, data); found > 0 {
				t.Fatalf("%d pieces of a deleted or replaced state are still in the file or its log", found)
			}
		}
		for key, data := range live {
			got, ok, err := s.LoadState(ctx, "v", key)
			if err != nil || !ok || !bytes.Equal(got, data) {
				t.Fatalf("state %s after the purge: %x, %v, %v; want %x", key, got, ok, err, data)
			}
		}
	})
}
