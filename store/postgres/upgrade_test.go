package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// Tables left by the first version of the store (events and checkpoints
// only) are upgraded when a store opens on them: what they held is read
// as before, and the tables added since work.
func TestUpgradeFromFirstVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	pool, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.MigrateTo(ctx, pool, db.Schema, "old_", 1); err != nil {
		t.Fatal(err)
	}
	q := func(table string) string { return pgx.Identifier{db.Schema, "old_" + table}.Sanitize() }
	for _, sql := range []string{
		`INSERT INTO ` + q("events") + ` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
			VALUES ('dog-1', 1, gen_random_uuid(), 'Registered', 1, '\x7b7d', '', '', ''),
			       ('dog-1', 2, gen_random_uuid(), 'TrickAdded', 1, '\x7b7d', '', '', '')`,
		`INSERT INTO ` + q("checkpoints") + ` (consumer, position) VALUES ('summary', 1)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	s, err := postgres.New(ctx, pool, postgres.WithSchema(db.Schema), postgres.WithPrefix("old_"))
	if err != nil {
		t.Fatalf("open on tables of version 1: %v", err)
	}
	var versions []int
	rows, _ := pool.Query(ctx, "SELECT version FROM "+q("schema_migrations")+" ORDER BY version")
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || !slices.Equal(versions, []int{1, 2, 3, 4}) {
		t.Fatalf("migrations recorded after the upgrade: %v (%v), want 1 to 4", versions, err)
	}
	page, err := s.ReadLog(ctx, store.LogQuery{})
	if err != nil || len(page) != 2 || page[1].Type != "TrickAdded" || page[1].Position != 2 {
		t.Fatalf("the log after the upgrade: %+v, %v", page, err)
	}
	if err := s.Commit(ctx, "summary", 1, 2, func(tx store.StateTx) error { return tx.SaveState(ctx, "summary", "dog-1", []byte("2 events")) }); err != nil {
		t.Fatalf("commit from the checkpoint stored before the upgrade: %v", err)
	}
	if err := s.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "dog-1", Version: 2, Type: "Dog", SchemaVersion: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSubjectKey(ctx, store.SubjectKey{Subject: "c-1", KeyID: "k1", Wrapped: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Lock(ctx, "summary")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}
