package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// The connection settings that the package doc promises are the ones the
// connections have.
func TestConnectionSettings(t *testing.T) {
	ctx := context.Background()
	for _, sync := range []Synchronous{SyncFull, SyncNormal} {
		t.Run(string(sync), func(t *testing.T) {
			s, err := Open(ctx, filepath.Join(t.TempDir(), "settings.db"), WithSynchronous(sync), WithBusyTimeout(1234*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wantSync := map[Synchronous]int{SyncFull: 2, SyncNormal: 1}[sync]
			for name, db := range map[string]*sql.DB{"writer": s.w, "reader": s.r} {
				var mode string
				var syncLevel, timeout, fk, queryOnly, secureDelete int
				for pragma, dest := range map[string]any{
					"journal_mode": &mode, "synchronous": &syncLevel, "busy_timeout": &timeout,
					"foreign_keys": &fk, "query_only": &queryOnly, "secure_delete": &secureDelete,
				} {
					if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(dest); err != nil {
						t.Fatalf("%s: PRAGMA %s: %v", name, pragma, err)
					}
				}
				writer := name == "writer"
				if mode != "wal" || syncLevel != wantSync || timeout != 1234 || fk != 1 || (queryOnly == 1) == writer || (secureDelete == 1) != writer {
					t.Errorf("%s connection: journal_mode=%s synchronous=%d busy_timeout=%d foreign_keys=%d query_only=%d secure_delete=%d; want wal, %d, 1234, 1, query_only %v, secure_delete %v",
						name, mode, syncLevel, timeout, fk, queryOnly, secureDelete, wantSync, !writer, writer)
				}
			}
		})
	}
}

// Migrations are numbered 1, 2, … in order: migrate relies on it to pick
// the steps a database lacks.
func TestMigrationsNumbered(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 || m.name == "" || m.sql == "" {
			t.Errorf("migration %d is numbered %d (%q); want %d with a name and SQL", i, m.version, m.name, i+1)
		}
	}
}

func TestParseURL(t *testing.T) {
	dir := t.TempDir()
	good := []struct {
		url  string
		path string
		want config
	}{
		{"sqlite:///" + dir[1:] + "/app.db", dir + "/app.db", defaultConfig()},
		{"sqlite:" + dir + "/app.db", dir + "/app.db", defaultConfig()},
		{"sqlite::memory:", Memory, defaultConfig()},
		{"sqlite:///" + dir[1:] + "/my%20app.db?busy_timeout=2s&synchronous=NORMAL&poll_interval=50ms&lease_duration=1m", dir + "/my app.db",
			config{busyTimeout: 2 * time.Second, pollInterval: 50 * time.Millisecond, synchronous: SyncNormal, leaseDuration: time.Minute}},
		{"sqlite:///" + dir[1:] + "/app.db?checkpoint_pages=10000", dir + "/app.db",
			config{busyTimeout: DefaultBusyTimeout, pollInterval: DefaultPollInterval, synchronous: SyncFull, leaseDuration: DefaultLeaseDuration, checkpointPages: 10000}},
		{"sqlite::memory:?busy_timeout=100ms", Memory, config{busyTimeout: 100 * time.Millisecond, pollInterval: DefaultPollInterval, synchronous: SyncFull, leaseDuration: DefaultLeaseDuration}},
	}
	for _, g := range good {
		u, err := url.Parse(g.url)
		if err != nil {
			t.Fatal(err)
		}
		path, opts, err := parseURL(u)
		if err != nil {
			t.Errorf("%s: %v", g.url, err)
			continue
		}
		cfg := defaultConfig()
		for _, o := range opts {
			if err := o(&cfg); err != nil {
				t.Errorf("%s: option: %v", g.url, err)
			}
		}
		if path != g.path || cfg != g.want {
			t.Errorf("%s: path %q, config %+v; want %q, %+v", g.url, path, cfg, g.path, g.want)
		}
	}
}

// A file whose schema a newer program has migrated further is refused,
// not written with a schema this program does not know; a current file
// opens again without applying a step twice.
func TestSchemaVersions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "schema.db")
	for range 3 {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var steps, latest int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*), max(version) FROM annals_schema_migrations`).Scan(&steps, &latest); err != nil {
			t.Fatal(err)
		}
		if steps != len(migrations) || latest != len(migrations) {
			t.Fatalf("schema records %d steps up to version %d; want each of the %d migrations once", steps, latest, len(migrations))
		}
		s.Close()
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	future := len(migrations) + 1
	if _, err := s.w.ExecContext(ctx, `INSERT INTO annals_schema_migrations (version, name, applied_at) VALUES (?, 'from the future', 0)`, future); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("opened a database whose schema is newer than the program")
	} else if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("opening a newer schema: %v; want store.ErrInvalid saying it is newer and to upgrade", err)
	}
}

// A file made by the first release of the schema (events and checkpoints
// only) is brought up to date when opened: its events and checkpoints
// stay, and the tables of later steps work.
func TestMigrateFromFirstSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", defaultConfig().dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	saved := migrations
	migrations = migrations[:1]
	err = migrate(ctx, db)
	migrations = saved
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding)
		VALUES (randomblob(16), 'old', 1, 'Old', 1, 0, x'01', '')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO annals_checkpoints (consumer, position, recorded_at) VALUES ('view', 1, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var steps int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM annals_schema_migrations`).Scan(&steps); err != nil || steps != len(migrations) {
		t.Fatalf("after opening, %d steps recorded (%v); want %d", steps, err, len(migrations))
	}
	if recs, err := s.ReadLog(ctx, store.LogQuery{}); err != nil || len(recs) != 1 || recs[0].StreamID != "old" {
		t.Fatalf("the old event after migrating: %v, %v", recs, err)
	}
	// The old checkpoint is compared and set like a new one.
	if err := s.Commit(ctx, "view", 0, 2, func(store.StateTx) error { return nil }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("commit from a wrong checkpoint: %v, want store.ErrConflict", err)
	}
	if err := s.Commit(ctx, "view", 1, 2, func(tx store.StateTx) error { return tx.SaveState(ctx, "view", "k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "old", Version: 1, Type: "T", SchemaVersion: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSubjectKey(ctx, store.SubjectKey{Subject: "c", KeyID: "k", Wrapped: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}

// A row whose metadata or event ID does not decode (changed by hand) is
// reported as a corrupt store, on every read that meets it.
func TestARowThatDoesNotDecodeIsCorrupt(t *testing.T) {
	ctx := context.Background()
	for column, value := range map[string]string{"metadata": `'not json'`, "event_id": `x'0102'`} {
		s, err := Open(ctx, filepath.Join(t.TempDir(), "hand.db"))
		if err != nil {
			t.Fatal(err)
		}
		events := []store.Event{{Type: "T", Data: []byte(`{}`), Metadata: store.Metadata{CorrelationID: "c"}}}
		if _, err := s.Append(ctx, "s", store.NoStream, events); err != nil {
			t.Fatal(err)
		}
		// The table's CHECK refuses a short event ID: as a hand would, drop it.
		if _, err := s.w.ExecContext(ctx, `PRAGMA ignore_check_constraints = ON`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, `UPDATE annals_events SET `+column+` = `+value); err != nil {
			t.Fatal(err)
		}
		_, logErr := s.ReadLog(ctx, store.LogQuery{})
		var streamErr error
		for _, err := range s.ReadStream(ctx, "s", 0) {
			streamErr = err
		}
		for read, err := range map[string]error{"ReadLog": logErr, "ReadStream": streamErr} {
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "position 1") {
				t.Errorf("%s after a hand changed %s: %v, want ErrCorrupt naming position 1", read, column, err)
			}
		}
		s.Close()
	}
}

// The error of an append whose group waited out the busy timeout in Go,
// without an answer of SQLite's, is unavailability too.
func TestABusyTimeoutOfTheGroupIsUnavailability(t *testing.T) {
	var s Store
	if err := fmt.Errorf("append to stream %q: %w", "a", errBusyTimeout(time.Second)); !s.Unavailable(err) {
		t.Fatalf("%v: want unavailability", err)
	}
	if err := fmt.Errorf("append: %w", store.ErrConflict); s.Unavailable(err) {
		t.Fatalf("%v: want no unavailability", err)
	}
}
