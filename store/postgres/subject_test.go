package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// What the package documentation says of a deleted key, shown on the
// table's file: the wrapped key's bytes stay in it after the delete and
// after a plain VACUUM, and are gone after PurgeDeletedSubjectKeys. The
// test reads the file through the server, which takes a superuser (or
// pg_read_server_files and pg_checkpoint); it skips without them.
func TestDeletedKeyStaysOnDiskUntilPurged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	table := pgx.Identifier{db.Schema, "annals_subject_keys"}.Sanitize()
	for _, subject := range []string{"keep-1", "keep-2"} {
		if _, err := s.CreateSubjectKey(ctx, store.SubjectKey{Subject: subject, KeyID: "k1", Wrapped: bytes.Repeat([]byte{0xab}, 60)}); err != nil {
			t.Fatal(err)
		}
	}
	secret := bytes.Repeat([]byte{0xc0, 0xff, 0xee, 0x42}, 15)
	if _, err := s.CreateSubjectKey(ctx, store.SubjectKey{Subject: "forget-me", KeyID: "k1", Wrapped: secret}); err != nil {
		t.Fatal(err)
	}
	inFile := inTableFile(t, s, table, secret)
	if !inFile("before the delete") {
		t.Fatal("the stored key is not in the table's file; the test cannot tell anything")
	}
	if err := codec.ForgetSubject(ctx, s, "forget-me"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubjectKey(ctx, "forget-me"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key after forgetting: %v, want store.ErrNotFound", err)
	}
	if !inFile("after the delete") {
		t.Fatal("the deleted key is gone from the file at once; the package documentation says it stays until purged")
	}
	if _, err := s.Pool().Exec(ctx, "VACUUM "+table); err != nil {
		t.Fatal(err)
	}
	if !inFile("after VACUUM") {
		t.Fatal("a plain VACUUM erased the deleted key; the package documentation says it does not")
	}
	purgeUntilGone(t, inFile, "PurgeDeletedSubjectKeys", s.PurgeDeletedSubjectKeys)
	for _, subject := range []string{"keep-1", "keep-2"} {
		if _, err := s.SubjectKey(ctx, subject); err != nil {
			t.Fatalf("key of %s after the purge: %v", subject, err)
		}
	}
}

// A view's state deleted to rebuild the view (its plaintext, personal
// fields included) stays in the states table's file until
// PurgeDeletedStates rewrites it; the states kept are kept.
func TestDeletedStateStaysOnDiskUntilPurged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	table := pgx.Identifier{db.Schema, "annals_states"}.Sanitize()
	secret := []byte(`{"name":"SECRET-NAME-OF-C3","plan":"gold"}`)
	save := func(from, to int64, view, key string, data []byte) {
		t.Helper()
		if err := s.Commit(ctx, "v", from, to, func(tx store.StateTx) error {
			if view == "" {
				return tx.DeleteStates(ctx, "customers")
			}
			return tx.SaveState(ctx, view, key, data)
		}); err != nil {
			t.Fatal(err)
		}
	}
	save(0, 1, "customers", "c-3", secret)
	save(1, 2, "orders", "o-1", []byte(`{"total":3}`))
	inFile := inTableFile(t, s, table, []byte("SECRET-NAME-OF-C3"))
	if !inFile("before the rebuild") {
		t.Fatal("the stored state is not in the table's file; the test cannot tell anything")
	}
	save(2, 0, "", "", nil) // a rebuild: every state of the view deleted, back to 0
	if !inFile("after the rebuild's delete") {
		t.Fatal("the deleted state is gone from the file at once; PurgeDeletedStates's doc says it stays until purged")
	}
	purgeUntilGone(t, inFile, "PurgeDeletedStates", s.PurgeDeletedStates)
	if data, ok, err := s.LoadState(ctx, "orders", "o-1"); err != nil || !ok || string(data) != `{"total":3}` {
		t.Fatalf("the state kept, after the purge: %s, %v, %v", data, ok, err)
	}
}

// inTableFile returns a check of whether the file of table holds needle,
// after a CHECKPOINT has written the table's pages; it skips the test
// when the server's user may not read the file.
func inTableFile(t *testing.T, s *postgres.Store, table string, needle []byte) func(when string) bool {
	ctx := context.Background()
	return func(when string) bool {
		t.Helper()
		if _, err := s.Pool().Exec(ctx, "CHECKPOINT"); err != nil {
			skipWithoutPrivilege(t, err)
			t.Fatal(err)
		}
		var file []byte
		if err := s.Pool().QueryRow(ctx, "SELECT pg_read_binary_file(pg_relation_filepath($1::regclass))", table).Scan(&file); err != nil {
			skipWithoutPrivilege(t, err)
			t.Fatalf("%s: read the file of %s: %v", when, table, err)
		}
		return bytes.Contains(file, needle)
	}
}

// purgeUntilGone purges until what inFile looks for is gone from the
// file. A transaction older than the delete, anywhere in the database
// (the test server is shared), keeps the dead row through a rewrite:
// purge again until such transactions have ended.
func purgeUntilGone(t *testing.T, inFile func(string) bool, name string, purge func(context.Context) error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		if err := purge(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !inFile("after the purge") {
			return
		}
		if attempt == 100 {
			t.Fatalf("the deleted bytes are still in the table's file after %s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func skipWithoutPrivilege(t *testing.T, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		t.Skipf("the test server's user may not read table files: %v", err)
	}
}
