package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// An event whose version a hand set to 0 or below makes its stream fail
// to load with ErrCorrupt naming the stream and the version, rather than
// load as shorter than it is; no command is decided on it, and no append
// takes the version as the stream's head. Tables of version 7 held such
// rows: the upgrade's constraint stays NOT VALID there, and the store
// opens, to report them. On current tables the constraint refuses the
// hand's UPDATE.
func TestAVersionBelowOneIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, pool := tablesAt(ctx, t, "annals_", 7)
	events := pgx.Identifier{db.Schema, "annals_events"}.Sanitize()
	exec := func(sql string) error {
		_, err := pool.Exec(ctx, sql)
		return err
	}
	if err := exec(`INSERT INTO ` + events + ` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
		VALUES ('zero', 0, gen_random_uuid(), 'Pinged', 1, '{"N":1}', '', '', ''),
		       ('minus', -1, gen_random_uuid(), 'Pinged', 1, '{"N":1}', '', '', ''),
		       ('minus', 2, gen_random_uuid(), 'Pinged', 1, '{"N":2}', '', '', '')`); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.New(ctx, pool, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatalf("open on tables of version 7 holding versions below 1: %v", err)
	}
	var valid bool
	if err := pool.QueryRow(ctx, `SELECT convalidated FROM pg_constraint WHERE conname = 'annals_events_version_check' AND connamespace = $1::regnamespace`,
		pgx.Identifier{db.Schema}.Sanitize()).Scan(&valid); err != nil || valid {
		t.Errorf("the constraint after an upgrade of tables holding versions below 1: validated %v (%v), want it there, NOT VALID", valid, err)
	}

	r := annals.NewRunner(annals.New(s), pings, codec.NewJSON[pinged]().Register("Pinged", pinged{}))
	for stream, bad := range map[string]int64{"zero": 0, "minus": -1} {
		want := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("%q", stream)) || !strings.Contains(err.Error(), fmt.Sprintf("version %d,", bad)) {
				t.Errorf("%s of stream %q: %v, want ErrCorrupt naming the stream and version %d", what, stream, err, bad)
			}
		}
		n, v, err := r.Load(ctx, stream)
		want("Load", err)
		if err == nil {
			t.Logf("Load of %q answered %d at version %d", stream, n, v)
		}
		_, err = r.Handle(ctx, stream, ping{})
		want("Handle", err)
	}
	// The version an append expects: found wrong, and the stream's
	// version, read to say so, is no head.
	_, err = s.Append(ctx, "zero", 3, []store.Event{{Type: "Pinged", Data: []byte(`{}`)}})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "version 0,") {
		t.Errorf("an append to a stream whose only version is 0: %v, want ErrCorrupt", err)
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+events).Scan(&stored); err != nil || stored != 3 {
		t.Errorf("%d events stored after the refusals (%v), want the 3 there were", stored, err)
	}

	// On current tables, a hand's UPDATE is refused.
	if _, err := s.Append(ctx, "fine", store.NoStream, []store.Event{{Type: "Pinged", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{0, -1} {
		err := exec(fmt.Sprintf(`UPDATE %s SET version = %d WHERE stream_id = 'fine'`, events, bad))
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
			t.Errorf("a hand's UPDATE of a version to %d: %v, want a check violation", bad, err)
		}
	}
}

// An upgrade of tables with no version below 1 validates the constraint.
func TestUpgradeValidatesTheVersionCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, pool := tablesAt(ctx, t, "annals_", 7)
	if _, err := pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{db.Schema, "annals_events"}.Sanitize()+` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
		VALUES ('one', 1, gen_random_uuid(), 'Pinged', 1, '{}', '', '', '')`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.New(ctx, pool, postgres.WithSchema(db.Schema)); err != nil {
		t.Fatal(err)
	}
	var valid bool
	if err := pool.QueryRow(ctx, `SELECT convalidated FROM pg_constraint WHERE conname = 'annals_events_version_check' AND connamespace = $1::regnamespace`,
		pgx.Identifier{db.Schema}.Sanitize()).Scan(&valid); err != nil || !valid {
		t.Errorf("the constraint after an upgrade: validated %v (%v), want validated", valid, err)
	}
}

// A schema that holds an events table of the store's name but no record
// of the store's steps, another application's table or a store whose
// record a hand dropped, is refused with ErrCorrupt saying so, and
// nothing is created there: not even the record's table.
func TestATableOfTheStoresNameWithoutItsRecordIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		prepare func(db pgtest.DB, pool *pgxpool.Pool) error
	}{
		{"another application's table", func(db pgtest.DB, pool *pgxpool.Pool) error {
			_, err := pool.Exec(ctx, `CREATE TABLE `+pgx.Identifier{db.Schema, "annals_events"}.Sanitize()+` (x int)`)
			return err
		}},
		{"a store whose record was dropped", func(db pgtest.DB, pool *pgxpool.Pool) error {
			s, err := postgres.Open(ctx, db.URL+"&schema="+db.Schema)
			if err != nil {
				return err
			}
			s.Close()
			_, err = pool.Exec(ctx, `DROP TABLE `+pgx.Identifier{db.Schema, "annals_schema_migrations"}.Sanitize())
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := pgtest.New(t)
			pool, err := pgxpool.New(ctx, db.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if err := c.prepare(db, pool); err != nil {
				t.Fatal(err)
			}
			s, err := postgres.Open(ctx, db.URL+"&schema="+db.Schema)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "no record of the store's schema steps") || !strings.Contains(err.Error(), "schema= and prefix=") {
				t.Fatalf("open: %v; want store.ErrCorrupt saying what is there and what to do", err)
			}
			// A tool that asks first is told there is something, and
			// opens it to be told what.
			if ok, err := postgres.Exists(ctx, db.URL+"&schema="+db.Schema); !ok || err != nil {
				t.Fatalf("Exists: %v, %v; want true", ok, err)
			}
			var record bool
			if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{db.Schema, "annals_schema_migrations"}.Sanitize()).Scan(&record); err != nil || record {
				t.Fatalf("a record of steps after the refused open: %v, %v", record, err)
			}
		})
	}
}
