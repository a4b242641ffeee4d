package postgres_test

import (
	"context"
	"errors"
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

// tablesAt returns a test database and a pool on it holding the store's
// tables, named with prefix, as the given version of the migrations left
// them; the pool closes when the test ends.
func tablesAt(ctx context.Context, t *testing.T, prefix string, version int) (pgtest.DB, *pgxpool.Pool) {
	t.Helper()
	db := pgtest.New(t)
	pool, err := pgxpool.New(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.MigrateTo(ctx, pool, db.Schema, prefix, version); err != nil {
		t.Fatal(err)
	}
	return db, pool
}

// Tables left by the first version of the store (events and checkpoints
// only) are upgraded when a store opens on them: what they held is read
// as before, and the tables added since work.
func TestUpgradeFromFirstVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, pool := tablesAt(ctx, t, "old_", 1)
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
	if err != nil || !slices.Equal(versions, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("migrations recorded after the upgrade: %v (%v), want 1 to 8", versions, err)
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
// indexes have their new shape (none on the position since version 7),
// sequence_log still serves programs of the earlier version, and appends
// and waits work.
func TestUpgradeKeepsPositions(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, pool := tablesAt(ctx, t, "old_", 4)
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
	before := placesBefore(t, pool, q("events"), 7)

	s, err := postgres.New(ctx, pool, postgres.WithSchema(db.Schema), postgres.WithPrefix("old_"))
	if err != nil {
		t.Fatalf("open on tables of version 4: %v", err)
	}
	checkIndexes(t, pool, db.Schema, "old_events")

	log := readAllLog(t, s)
	if len(log) != 7 {
		t.Fatalf("the log after the upgrade holds %d events, want 7", len(log))
	}
	checkKeptPlaces(t, log, before)
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

// checkIndexes fails unless the indexes of the event table are those of
// version 7: the primary key, the event ID's, one on txid, and the
// tagged events' GIN index on tags and btree on type; none reads the
// position, in its columns or its predicate, so that numbering updates
// in place.
func checkIndexes(t *testing.T, pool *pgxpool.Pool, schema, table string) {
	t.Helper()
	rows, _ := pool.Query(context.Background(), "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname", schema, table)
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var txid, tags, types bool
	for _, def := range indexes {
		def = def[strings.Index(def, " USING "):] // the schema's name may say anything
		if strings.Contains(def, "position") {
			t.Fatalf("an index after the upgrade reads the position: %s", def)
		}
		txid = txid || strings.HasSuffix(def, "(txid)")
		tags = tags || strings.Contains(def, "gin (tags)") && strings.HasSuffix(def, "WHERE (tags IS NOT NULL)")
		types = types || strings.Contains(def, "btree (type) WHERE (tags IS NOT NULL)")
	}
	if !txid || !tags || !types || len(indexes) != 5 {
		t.Fatalf("indexes of the event table after the upgrade: %q; want the primary key, the event ID's, one on txid, and the tagged events' on tags and on type", indexes)
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

// Tables of version 6 (tags) hold numbered events, tagged and not, of
// short and long transactions and of an import (many streams
// interleaved in one transaction, written with their positions), and
// events still waiting for a position. After the upgrade to version 7
// every event keeps its position, the pending ones follow in the order
// of their transactions, pages of every size from everywhere join into
// the whole log, reads by query find the tagged events, and a condition
// still fails on a matching event that is committed and not numbered.
func TestUpgradeFromVersion6(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, pool := tablesAt(ctx, t, "old_", 6)
	q := func(name string) string { return pgx.Identifier{db.Schema, "old_" + name}.Sanitize() }
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	insert := `INSERT INTO ` + q("events") + ` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, tags)
		VALUES ($1, $2, gen_random_uuid(), $3, 1, '\x7b7d', '', '', '', $4)`
	number := func() int64 {
		t.Helper()
		var head int64
		if err := pool.QueryRow(ctx, "SELECT "+q("sequence_log")+"(true)").Scan(&head); err != nil {
			t.Fatal(err)
		}
		return head
	}
	// Short transactions, tagged and not, and a long one of two streams.
	for v := 1; v <= 3; v++ {
		exec(insert, "dog-1", v, "Trick", []string{"dog:1"})
	}
	exec(insert, "cat-1", 1, "Born", nil)
	exec(`INSERT INTO ` + q("events") + ` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, tags)
		SELECT CASE WHEN i < 100 THEN 'big-1' ELSE 'big-2' END, CASE WHEN i < 100 THEN i + 1 ELSE i - 99 END,
			gen_random_uuid(), 'Big', 1, '\x00', '', '', '', CASE WHEN i % 10 = 0 THEN ARRAY['big'] END
		FROM generate_series(0, 129) i`)
	head := number()
	if head != 134 {
		t.Fatalf("version 6 numbering: head %d, want 134", head)
	}
	// An import of version 6: 90 events of three streams, interleaved,
	// with their positions, in one transaction that moves the head.
	exec(`WITH ins AS (
		INSERT INTO `+q("events")+` (position, stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, tags)
		SELECT $1 + i + 1, 'imported-' || (i % 3), i / 3 + 1, gen_random_uuid(), 'Imported', 1, '\x00', '', '', '',
			CASE WHEN i % 3 = 0 THEN ARRAY['imported'] END
		FROM generate_series(0, 89) i RETURNING 1)
		UPDATE `+q("log_head")+` SET position = $1 + (SELECT count(*) FROM ins)`, head)
	exec(insert, "dog-2", 1, "Trick", []string{"dog:2"})
	if head = number(); head != 225 {
		t.Fatalf("version 6 numbering after the import: head %d, want 225", head)
	}
	// Committed, not numbered yet.
	exec(insert, "dog-3", 1, "Trick", []string{"dog:1"})
	exec(insert, "dog-1", 4, "Trick", []string{"dog:1"})

	before := placesBefore(t, pool, q("events"), 227)

	s, err := postgres.New(ctx, pool, postgres.WithSchema(db.Schema), postgres.WithPrefix("old_"))
	if err != nil {
		t.Fatalf("open on tables of version 6: %v", err)
	}
	var latest int
	if err := pool.QueryRow(ctx, "SELECT max(version) FROM "+q("schema_migrations")).Scan(&latest); err != nil || latest != 8 {
		t.Fatalf("schema version after the upgrade: %d (%v), want 8", latest, err)
	}
	checkIndexes(t, pool, db.Schema, "old_events")

	whole := readAllLog(t, s)
	if len(whole) != 227 {
		t.Fatalf("the log after the upgrade holds %d events, want 227", len(whole))
	}
	checkKeptPlaces(t, whole, before)
	if whole[225].StreamID != "dog-3" || whole[226].StreamID != "dog-1" {
		t.Fatalf("the pending events were numbered %s, %s; want dog-3 then dog-1, the order they committed in", whole[225].StreamID, whole[226].StreamID)
	}
	for _, limit := range []int{1, 2, 7, 64, 100} {
		for after := int64(0); after < 227; after++ {
			page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			want := whole[after:min(int(after)+limit, len(whole))]
			if len(page) != len(want) {
				t.Fatalf("page of %d after %d: %d events, want %d", limit, after, len(page), len(want))
			}
			for i := range page {
				if page[i].ID != want[i].ID || page[i].Position != want[i].Position {
					t.Fatalf("page of %d after %d: record %d is %v at %d, want %v at %d", limit, after, i, page[i].ID, page[i].Position, want[i].ID, want[i].Position)
				}
			}
		}
	}
	typed, err := s.ReadLog(ctx, store.LogQuery{After: 100, Limit: 50, Types: []string{"Imported"}})
	if err != nil || len(typed) != 50 || typed[0].Position != 135 || typed[49].Position != 184 {
		t.Fatalf("a page of imported events after 100: %d events (%v), want positions 135 to 184", len(typed), err)
	}

	for query, want := range map[string]int{"dog:1": 5, "big": 13, "imported": 30} {
		got, err := collectQuery(s.ReadQuery(ctx, store.QueryItems(store.QueryItem{Tags: []string{query}}), 0))
		if err != nil || len(got) != want {
			t.Fatalf("query of tag %s after the upgrade: %d events (%v), want %d", query, len(got), err, want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Position <= got[i-1].Position {
				t.Fatalf("query of tag %s: position %d after %d", query, got[i].Position, got[i-1].Position)
			}
		}
	}

	// Appended, not numbered: a condition on what was read fails on it.
	cond := store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Tags: []string{"dog:5"}}), After: 227}
	if _, err := s.Append(ctx, "dog-5", store.NoStream, []store.Event{{Type: "Trick", Tags: []string{"dog:5"}}}); err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+q("events")+" WHERE position IS NULL").Scan(&pending); err != nil || pending != 1 {
		t.Fatalf("%d events pending (%v), want the one appended", pending, err)
	}
	_, err = s.AppendIf(ctx, "dog-5", 1, []store.Event{{Type: "Trick", Tags: []string{"dog:5"}}}, cond)
	var ce *store.ConditionError
	if !errors.As(err, &ce) {
		t.Fatalf("conditional append after a matching event pending: %v, want a condition error", err)
	}
	got, err := collectQuery(s.ReadQuery(ctx, cond.FailIfEventsMatch, 227))
	if err != nil || len(got) != 1 || got[0].Position != 228 {
		t.Fatalf("query of the pending event: %+v (%v), want it at 228", got, err)
	}
	cond.After = 228
	if _, err := s.AppendIf(ctx, "dog-5", 1, []store.Event{{Type: "Trick", Tags: []string{"dog:5"}}}, cond); err != nil {
		t.Fatalf("conditional append after reading the event: %v", err)
	}
}

func collectQuery(seq func(func(store.Record, error) bool)) ([]store.Record, error) {
	var out []store.Record
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// placed is where an event was before an upgrade: its ID, and its
// position, 0 when it was not numbered yet.
type placed struct {
	id       string
	position int64
}

// placesBefore returns where each of the want events of table is, by
// "stream/version".
func placesBefore(t *testing.T, pool *pgxpool.Pool, table string, want int) map[string]placed {
	t.Helper()
	before := map[string]placed{}
	rows, _ := pool.Query(context.Background(), "SELECT stream_id || '/' || version, event_id::text, coalesce(position, 0) FROM "+table)
	for rows.Next() {
		var key string
		var p placed
		if err := rows.Scan(&key, &p.id, &p.position); err != nil {
			t.Fatal(err)
		}
		before[key] = p
	}
	if err := rows.Err(); err != nil || len(before) != want {
		t.Fatalf("%d events before the upgrade (%v), want %d", len(before), err, want)
	}
	return before
}

// checkKeptPlaces checks that the log after an upgrade is gap-free from
// 1, and that every event kept its ID and, if it had one, its position.
func checkKeptPlaces(t *testing.T, log []store.Record, before map[string]placed) {
	t.Helper()
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
}
