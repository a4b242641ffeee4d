package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"testing"
	"time"
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
				var syncLevel, timeout, fk, queryOnly int
				for pragma, dest := range map[string]any{
					"journal_mode": &mode, "synchronous": &syncLevel, "busy_timeout": &timeout,
					"foreign_keys": &fk, "query_only": &queryOnly,
				} {
					if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(dest); err != nil {
						t.Fatalf("%s: PRAGMA %s: %v", name, pragma, err)
					}
				}
				if mode != "wal" || syncLevel != wantSync || timeout != 1234 || fk != 1 || (queryOnly == 1) != (name == "reader") {
					t.Errorf("%s connection: journal_mode=%s synchronous=%d busy_timeout=%d foreign_keys=%d query_only=%d; want wal, %d, 1234, 1, %v",
						name, mode, syncLevel, timeout, fk, queryOnly, wantSync, name == "reader")
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
		{"sqlite:///" + dir[1:] + "/my%20app.db?busy_timeout=2s&synchronous=NORMAL&poll_interval=50ms", dir + "/my app.db",
			config{busyTimeout: 2 * time.Second, pollInterval: 50 * time.Millisecond, synchronous: SyncNormal}},
		{"sqlite::memory:?busy_timeout=100ms", Memory, config{busyTimeout: 100 * time.Millisecond, pollInterval: DefaultPollInterval, synchronous: SyncFull}},
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
