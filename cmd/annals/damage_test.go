package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// damaged opens a new store of an adapter holding dog-1's three events
// and cat-1's one, positions 1 to 4, and returns its URL and a function
// that runs SQL on its tables, as one who edits the store by hand.
func damaged(t *testing.T, adapter string) (string, func(sql string)) {
	t.Helper()
	ctx := context.Background()
	var url string
	var exec func(sql string)
	switch adapter {
	case "sqlite":
		url = "sqlite://" + filepath.Join(t.TempDir(), "damaged.db")
		exec = func(sql string) {
			t.Helper()
			if _, err := rawDB(t, url).ExecContext(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
	case "postgres":
		db := pgtest.New(t)
		url = db.URL + "&schema=" + db.Schema
		exec = func(sql string) {
			t.Helper()
			conn, err := pgx.Connect(ctx, db.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, stream := range []struct {
		id string
		n  int
	}{{"dog-1", 3}, {"cat-1", 1}} {
		id := stream.id
		events := make([]store.Event, stream.n)
		for i := range events {
			events[i] = store.Event{Type: "Noted", Data: []byte(`{}`)}
		}
		if _, err := s.Append(ctx, id, store.NoStream, events); err != nil {
			t.Fatal(err)
		}
	}
	// PostgreSQL numbers the events when the head is read.
	if head, err := s.Head(ctx); err != nil || head != 4 {
		t.Fatalf("head %d: %v", head, err)
	}
	return url, exec
}

// verify names an event whose ID is all zeros, which no append writes
// (an append without an ID gets a new one), on every adapter.
func TestVerifyFindsAnEventWithoutAnID(t *testing.T) {
	for adapter, zero := range map[string]string{"sqlite": "zeroblob(16)", "postgres": "'00000000-0000-0000-0000-000000000000'"} {
		t.Run(adapter, func(t *testing.T) {
			ctx := context.Background()
			url, exec := damaged(t, adapter)
			if r := tool(t, ctx, url, "verify"); r.status != 0 {
				t.Fatalf("verify before: %+v", r)
			}
			exec(`UPDATE annals_events SET event_id = ` + zero + ` WHERE position = 2`)
			r := tool(t, ctx, url, "verify")
			if r.status != 1 || !strings.Contains(r.stdout, "problem: event dog-1@2 at position 2 has the ID 00000000-0000-0000-0000-000000000000, which no append writes") {
				t.Errorf("verify of an event whose ID is all zeros: %+v", r)
			}
		})
	}
}

// On PostgreSQL, which counts the positions it gave out, verify names a
// log whose last events were deleted, all of them included. (SQLite
// numbers its log from its rows alone, and cannot tell such a log from a
// shorter one: docs/operations.md says so.)
func TestVerifyFindsTheLastEventsDeleted(t *testing.T) {
	for _, c := range []struct{ delete, want string }{
		{`DELETE FROM annals_events WHERE position = 4`, "problem: the store gave out positions up to 4 (its head), but its log ends at position 3: the last event was deleted"},
		{`DELETE FROM annals_events WHERE position >= 3`, "problem: the store gave out positions up to 4 (its head), but its log ends at position 2: the last 2 events were deleted"},
		{`DELETE FROM annals_events`, "problem: the store gave out positions up to 4 (its head), but its log holds no event: all 4 were deleted"},
	} {
		t.Run(c.delete, func(t *testing.T) {
			ctx := context.Background()
			url, exec := damaged(t, "postgres")
			exec(c.delete)
			r := tool(t, ctx, url, "verify")
			if r.status != 1 || !strings.Contains(r.stdout, c.want) {
				t.Errorf("verify: %+v; want status 1 and %q", r, c.want)
			}
		})
	}
}

// verify says of an event whose version was changed to 0 or below that
// its version is below 1, on every adapter, rather than that its stream
// jumps from version 0 to 0.
func TestVerifyNamesAVersionBelowOne(t *testing.T) {
	for _, adapter := range []string{"sqlite", "postgres"} {
		for _, bad := range []int{0, -1} {
			t.Run(fmt.Sprintf("%s %d", adapter, bad), func(t *testing.T) {
				ctx := context.Background()
				url, exec := damaged(t, adapter)
				exec(unchecked[adapter] + fmt.Sprintf(`UPDATE annals_events SET version = %d WHERE position = 4`, bad))
				r := tool(t, ctx, url, "verify")
				want := fmt.Sprintf("problem: event cat-1@%d at position 4 has version %d, below 1, which no append writes", bad, bad)
				if r.status != 1 || !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, "jumps") {
					t.Errorf("verify: %+v; want status 1 and %q, and no jump", r, want)
				}
			})
		}
	}
}

// unchecked is what an adapter's hand edit runs first so that the
// tables' CHECK constraints let it write what no append writes.
var unchecked = map[string]string{
	"sqlite":   `PRAGMA ignore_check_constraints = ON; `,
	"postgres": `ALTER TABLE annals_events DROP CONSTRAINT IF EXISTS annals_events_version_check; `,
}

// verify checks SQLite's tag index against the events' tags, both ways,
// and names the position of each row missing or too many.
func TestVerifyChecksTheTagIndex(t *testing.T) {
	ctx := context.Background()
	url, exec := damaged(t, "sqlite")
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "seat-1", store.NoStream, []store.Event{{Type: "Booked", Data: []byte(`{}`), Tags: []string{"show:a"}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if r := tool(t, ctx, url, "verify"); r.status != 0 {
		t.Fatalf("verify before: %+v", r)
	}
	exec(`DELETE FROM annals_event_tags WHERE position = 5`)
	exec(`INSERT INTO annals_event_tags (tag, position, type) VALUES ('show:a', 2, 'Noted')`)
	r := tool(t, ctx, url, "verify")
	for _, want := range []string{
		`problem: the tag index (annals_event_tags) has no row for tag "show:a" of the event at position 5 (Booked)`,
		`problem: the tag index (annals_event_tags) has a row for tag "show:a" and type "Noted" at position 2, which the event there does not have`,
	} {
		if r.status != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("verify: %+v; want status 1 and %q", r, want)
		}
	}
}

// verify checks each snapshot as a save and an import do, on every
// adapter: one whose version or schema version a hand set below 1 is a
// problem, which a copy would refuse.
func TestVerifyChecksSnapshotsAsACopyDoes(t *testing.T) {
	for _, adapter := range []string{"sqlite", "postgres"} {
		for _, spoil := range []string{"version = 0", "version = -2", "schema_version = 0"} {
			t.Run(adapter+" "+spoil, func(t *testing.T) {
				ctx := context.Background()
				url, exec := damaged(t, adapter)
				s, err := store.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.(snapshot.Store).SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "dog-1", Version: 2, Type: "Dog", SchemaVersion: 1, Data: []byte(`{}`)}); err != nil {
					t.Fatal(err)
				}
				s.Close()
				if r := tool(t, ctx, url, "verify"); r.status != 0 {
					t.Fatalf("verify before: %+v", r)
				}
				exec(unchecked[adapter] + `UPDATE annals_snapshots SET ` + spoil)
				r := tool(t, ctx, url, "verify")
				want := `problem: the snapshot of stream "dog-1" holds what no save writes, and a copy refuses it: snapshot of stream "dog-1": `
				if r.status != 1 || !strings.Contains(r.stdout, want) {
					t.Errorf("verify: %+v; want status 1 and %q", r, want)
				}
			})
		}
	}
}

// verify says of a position two events hold that it repeats, rather than
// that -1 positions are missing.
func TestVerifyNamesARepeatedPosition(t *testing.T) {
	ctx := context.Background()
	url, exec := damaged(t, "postgres")
	exec(`UPDATE annals_events SET position = 3 WHERE stream_id = 'cat-1'`)
	r := tool(t, ctx, url, "verify")
	want := "problem: position 3 repeats: event "
	if r.status != 1 || !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, "positions are missing") {
		t.Errorf("verify: %+v; want status 1 and %q, and nothing missing", r, want)
	}
}
