package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
	if err != nil || !slices.Equal(versions, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("migrations recorded after the upgrade: %v (%v), want 1 to 6", versions, err)
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
	cond := store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Tags: []string{"dog:1"}})}
	if _, err := s.AppendIf(ctx, "dog-1", 2, []store.Event{{Type: "TrickAdded", Tags: []string{"dog:1"}}}, cond); err != nil {
		t.Fatalf("conditional append after the upgrade: %v", err)
	}
}

// Tables of version 4, whose appends numbered the log right after they
// committed, hold numbered events and events still waiting for a
// position. After the upgrade the numbered events keep their positions,
// the pending ones follow them in the order of their transactions, the
// indexes have their new shape, sequence_log still serves programs of
// the earlier version, and appends and waits work.
func TestUpgradeKeepsPositions(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.New(t)
	pool, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.MigrateTo(ctx, pool, db.Schema, "old_", 4); err != nil {
		t.Fatal(err)
	}
	q := func(name string) string { return pgx.Identifier{db.Schema, "old_" + name}.Sanitize() }
	insert := func(stream string, versions ...int) {
		t.Helper()
		for _, v := range versions {
			if _, err := pool.Exec(ctx, `INSERT INTO `+q("events")+` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
				VALUES ($1, $2, gen_random_uuid(), 'E', 1, '\x7b7d', '', '', '')`, stream, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Numbered as version 4 numbered them: by its sequence_log.
	insert("dog-1", 1, 2, 3)
	insert("dog-2", 1, 2)
	var head int64
	if err := pool.QueryRow(ctx, "SELECT "+q("sequence_log")+"(true)").Scan(&head); err != nil || head != 5 {
		t.Fatalf("version 4 numbering: head %d, %v; want 5", head, err)
	}
	// Committed, not numbered yet: the writers' steps had not run.
	insert("dog-3", 1)
	insert("dog-1", 4)
	type placed struct {
		id       string
		position int64
	}
	before := map[string]placed{}
	rows, _ := pool.Query(ctx, "SELECT stream_id || '/' || version, event_id::text, coalesce(position, 0) FROM "+q("events"))
	for rows.Next() {
		var key string
		var p placed
		if err := rows.Scan(&key, &p.id, &p.position); err != nil {
			t.Fatal(err)
		}
		before[key] = p
	}
	if err := rows.Err(); err != nil || len(before) != 7 {
		t.Fatalf("%d events before the upgrade (%v), want 7", len(before), err)
	}

	s, err := postgres.New(ctx, pool, postgres.WithSchema(db.Schema), postgres.WithPrefix("old_"))
	if err != nil {
		t.Fatalf("open on tables of version 4: %v", err)
	}
	var def string
	if err := pool.QueryRow(ctx, "SELECT pg_get_indexdef(($1)::regclass)", q("events_position_key")).Scan(&def); err != nil || !strings.Contains(def, "UNIQUE") || !strings.Contains(def, "IS NOT NULL") {
		t.Fatalf("the index on position after the upgrade: %q (%v), want unique on the numbered events", def, err)
	}
	if err := pool.QueryRow(ctx, "SELECT pg_get_indexdef(($1)::regclass)", q("events_pending")).Scan(&def); err != nil || !strings.Contains(def, "(txid)") || !strings.Contains(def, "IS NULL") {
		t.Fatalf("the index of pending events after the upgrade: %q (%v), want one on txid of the events without a position", def, err)
	}

	log := readAllLog(t, s)
	if len(log) != 7 {
		t.Fatalf("the log after the upgrade holds %d events, want 7", len(log))
	}
	for i, r := range log {
		key := fmt.Sprintf("%s/%d", r.StreamID, r.Version)
		b := before[key]
		switch {
		case r.ID.String() != b.id:
			t.Fatalf("%s: event ID %v, was %s", key, r.ID, b.id)
		case b.position != 0 && r.Position != b.position:
			t.Fatalf("%s: position %d, was %d before the upgrade", key, r.Position, b.position)
		case r.Position != int64(i)+1:
			t.Fatalf("log record %d (%s) has position %d", i, key, r.Position)
		}
	}
	if log[5].StreamID != "dog-3" || log[6].StreamID != "dog-1" || log[6].Version != 4 {
		t.Fatalf("the pending events were numbered %s/%d, %s/%d; want dog-3/1 then dog-1/4, the order they committed in",
			log[5].StreamID, log[5].Version, log[6].StreamID, log[6].Version)
	}

	// A program of version 4 still numbers through sequence_log.
	insert("dog-4", 1)
	if err := pool.QueryRow(ctx, "SELECT "+q("sequence_log")+"(false)").Scan(&head); err != nil || head != 8 {
		t.Fatalf("sequence_log after the upgrade: head %d, %v; want 8", head, err)
	}

	woke := make(chan error, 1)
	go func() { woke <- s.Wait(ctx, 8) }()
	if _, err := s.Append(ctx, "dog-2", 2, []store.Event{{Type: "E"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("wait after the upgrade: %v", err)
	}
	if head, err := s.Head(ctx); err != nil || head != 9 {
		t.Fatalf("head after an append = %d, %v; want 9", head, err)
	}
}

func readAllLog(t *testing.T, s store.Store) []store.Record {
	t.Helper()
	var out []store.Record
	for after := int64(0); ; {
		page, err := s.ReadLog(context.Background(), store.LogQuery{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Position
	}
}
