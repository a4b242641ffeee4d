package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// readModel is a projection into a table of the test's own, through the
// store's SQL committer: one row per event, keyed by its position, so an
// event applied twice fails on the primary key.
type readModel struct {
	f       *faulty
	table   string // quoted
	sleepAt int64  // the handler sleeps in the server at this position
	p       *annals.Projection[pgx.Tx]
}

func newReadModel(t *testing.T, f *faulty, batch int) *readModel {
	m := &readModel{f: f, table: pgx.Identifier{f.db.Schema, "applied"}.Sanitize()}
	f.exec(t, `CREATE TABLE `+m.table+` (position bigint PRIMARY KEY, stream_id text NOT NULL, version bigint NOT NULL)`)
	m.p = must(annals.NewRecordProjection(annals.New(f.Store), "applied", func(ctx context.Context, tx pgx.Tx, r store.Record) error {
		if r.Position == m.sleepAt {
			if _, err := tx.Exec(ctx, "SELECT pg_sleep(60)"); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+m.table+` (position, stream_id, version) VALUES ($1, $2, $3)`, r.Position, r.StreamID, r.Version)
		return err
	}, annals.WithBatchSize(batch), annals.WithoutLease()))
	return m
}

// check reads the checkpoint and the table in one statement, so in one
// snapshot, and fails unless the table holds exactly the events up to
// the checkpoint. It returns the checkpoint.
func (m *readModel) check(t *testing.T) int64 {
	t.Helper()
	var checkpoint, rows, highest int64
	err := m.f.admin.QueryRow(context.Background(), `
		SELECT coalesce((SELECT position FROM `+pgx.Identifier{m.f.db.Schema, "annals_checkpoints"}.Sanitize()+` WHERE consumer = 'applied'), 0),
			count(*), coalesce(max(position), 0)
		FROM `+m.table).Scan(&checkpoint, &rows, &highest)
	if err != nil {
		t.Fatal(err)
	}
	if rows != checkpoint || highest != checkpoint {
		t.Fatalf("the table holds %d rows up to position %d, but the checkpoint is %d: a batch was kept in part", rows, highest, checkpoint)
	}
	return checkpoint
}

func appendEvents(t *testing.T, s store.Store, streams, perStream int) int64 {
	t.Helper()
	ctx := context.Background()
	for i := range streams {
		if _, err := s.Append(ctx, fmt.Sprint("order-", i), store.NoStream, batch(perStream, 16, "Placed")); err != nil {
			t.Fatal(err)
		}
	}
	return int64(streams * perStream)
}

// failedOnDuplicate reports an error of an event applied twice.
func failedOnDuplicate(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// A projection into the user's own table whose connection is killed in
// the middle of a batch keeps none of that batch: the table and the
// checkpoint agree, and a new run applies every event exactly once. The
// handler's error, from a statement on the broken connection, is the
// store's, not the event's: the projection is not stopped there (a
// System retries it), and nothing of the batch is committed.
func TestSQLProjectionKilledMidBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := openFaulty(t)
	total := appendEvents(t, f.Store, 10, 50)
	m := newReadModel(t, f, 100)
	m.sleepAt = 250 // the middle of the third batch

	done := make(chan error, 1)
	go func() { _, err := m.p.CatchUp(ctx); done <- err }()
	if !f.terminateWhenSleeping(t) {
		t.Fatal("the handler never slept at position 250")
	}
	err := <-done
	if err == nil {
		t.Fatal("the projection whose connection was killed reported no error")
	}
	if ce := (*annals.ConsumerError)(nil); errors.As(err, &ce) {
		t.Fatalf("the killed connection stopped the projection at an event: %v", err)
	}
	if at := m.check(t); at != 200 {
		t.Fatalf("checkpoint %d after the batch 201…300 was killed at 250, want 200", at)
	}
	m.sleepAt = 0
	if _, err := m.p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if at := m.check(t); at != total {
		t.Fatalf("after catching up, the checkpoint is %d, want %d", at, total)
	}
	m.checkRows(t, total)
}

// The same when the store's connections are killed at random moments:
// in a handler, in the commit, between batches. After every kill the
// table and the checkpoint agree; in the end every event is in the table
// once, with its own stream and version.
func TestSQLProjectionKilledAtRandom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := openFaulty(t)
	total := appendEvents(t, f.Store, 100, 50)
	m := newReadModel(t, f, 50)
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)
	// Kill at random until maxKills, then let the projection finish: on
	// a slow machine a batch may take longer than the pause between kills.
	const maxKills = 25
	kills := 0
	for round := 0; ; round++ {
		if round == 2*maxKills {
			t.Fatalf("the projection did not catch up in %d rounds", round)
		}
		done := make(chan error, 1)
		go func() { _, err := m.p.CatchUp(ctx); done <- err }()
		var err error
	running:
		for {
			pause := time.Duration(rng.IntN(30_000)) * time.Microsecond
			if kills == maxKills {
				pause = time.Hour
			}
			select {
			case err = <-done:
				break running
			case <-time.After(pause):
				kills++
				f.terminate(t, "")
			}
		}
		if failedOnDuplicate(err) {
			t.Fatalf("round %d: an event was applied twice: %v", round, err)
		}
		at := m.check(t)
		if err == nil && at == total {
			t.Logf("caught up after %d rounds and %d kills", round+1, kills)
			break
		}
	}
	if kills == 0 {
		t.Log("no kill landed before the projection caught up")
	}
	m.checkRows(t, total)
}

// checkRows fails unless the table holds each of the first total events
// of the log once, with the stream and version the log gives it.
func (m *readModel) checkRows(t *testing.T, total int64) {
	t.Helper()
	var matching int64
	err := m.f.admin.QueryRow(context.Background(), `
		SELECT count(*) FROM `+m.table+` a
		JOIN `+pgx.Identifier{m.f.db.Schema, "annals_events"}.Sanitize()+` e
			ON e.position = a.position AND e.stream_id = a.stream_id AND e.version = a.version`).Scan(&matching)
	if err != nil {
		t.Fatal(err)
	}
	if matching != total {
		t.Fatalf("%d rows of the table match their event in the log, want %d", matching, total)
	}
}

// The SQL committer compares and sets the checkpoint before the handler
// runs, refuses a handler that would end the transaction itself, and
// keeps nothing of a failed handler.
func TestSQLCommitter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	if _, err := s.Pool().Exec(ctx, `CREATE TABLE notes (note text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	note := func(text string) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes VALUES ($1)`, text)
			return err
		}
	}
	c := s.SQL()
	if err := c.Commit(ctx, "notes", 0, 5, note("first")); err != nil {
		t.Fatal(err)
	}
	ran := false
	err := c.Commit(ctx, "notes", 3, 8, func(tx pgx.Tx) error { ran = true; return note("stale")(tx) })
	if !errors.Is(err, store.ErrConflict) || ran {
		t.Fatalf("commit from 3 with the checkpoint at 5: %v (handler ran: %v), want store.ErrConflict before the handler", err, ran)
	}
	for name, end := range map[string]func(pgx.Tx) error{
		"commit":   func(tx pgx.Tx) error { return tx.Commit(ctx) },
		"rollback": func(tx pgx.Tx) error { return tx.Rollback(ctx) },
	} {
		err := c.Commit(ctx, "notes", 5, 6, func(tx pgx.Tx) error {
			if err := note(name)(tx); err != nil {
				return err
			}
			return end(tx)
		})
		if err == nil || !strings.Contains(err.Error(), "by Commit, not by its handler") {
			t.Errorf("a handler that calls %s: %v, want an error saying Commit ends the transaction", name, err)
		}
	}
	// A savepoint inside the handler is the handler's to end.
	err = c.Commit(ctx, "notes", 5, 6, func(tx pgx.Tx) error {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		if err := note("undone")(sp); err != nil {
			return err
		}
		if err := sp.Rollback(ctx); err != nil {
			return err
		}
		return note("second")(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := s.Pool().Query(ctx, `SELECT note FROM notes ORDER BY note`)
	notes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || !slices.Equal(notes, []string{"first", "second"}) {
		t.Fatalf("notes: %q (%v), want first and second only", notes, err)
	}
	if pos, err := s.Checkpoint(ctx, "notes"); err != nil || pos != 6 {
		t.Fatalf("checkpoint %d, %v; want 6", pos, err)
	}
}

// Two stores in one database with other schemas share no read model
// either: a SQL read model's handler that names its table without a
// schema writes the table of its store's schema, not public's, while a
// URL that sets search_path keeps it.
func TestAReadModelsTablesAreItsStoresSchemas(t *testing.T) {
	ctx := context.Background()
	first := pgtest.New(t).Schema
	t.Run("second", func(t *testing.T) {
		second := pgtest.New(t).Schema
		base := pgtest.ServerURL(t)
		withParams := func(params ...string) string {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			for i := 0; i < len(params); i += 2 {
				q.Set(params[i], params[i+1])
			}
			u.RawQuery = q.Encode()
			return u.String()
		}
		count := func(schema string, events int, url string) {
			t.Helper()
			s, err := postgres.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			appendEvents(t, s, events, 1)
			p := must(annals.NewRecordProjection(annals.New(s), "tally", func(ctx context.Context, tx pgx.Tx, r store.Record) error {
				_, err := tx.Exec(ctx, `INSERT INTO tally (position) VALUES ($1)`, r.Position)
				return err
			}, annals.WithSchema(func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `CREATE TABLE tally (position bigint PRIMARY KEY)`)
				return err
			}), annals.WithoutLease()))
			if _, err := p.CatchUp(ctx); err != nil {
				t.Fatalf("schema %s: %v", schema, err)
			}
		}
		count(first, 2, withParams("schema", first))
		count(second, 3, withParams("schema", second))
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(ctx)
		for schema, want := range map[string]int{first: 2, second: 3} {
			var n int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "tally"}.Sanitize()).Scan(&n); err != nil || n != want {
				t.Errorf("%s.tally: %d rows (%v), want %d", schema, n, err, want)
			}
		}
		// A table the store's schema lacks is an error, even when public
		// holds one of that name: the handler never writes another
		// store's read model.
		public := pgx.Identifier{"public", "tally_" + second}.Sanitize()
		if _, err := admin.Exec(ctx, `CREATE TABLE `+public+` (position bigint)`); err != nil {
			t.Fatal(err)
		}
		defer admin.Exec(ctx, `DROP TABLE `+public)
		s2, err := postgres.Open(ctx, withParams("schema", second))
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		strayed := must(annals.NewRecordProjection(annals.New(s2), "strayed", func(ctx context.Context, tx pgx.Tx, r store.Record) error {
			_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{"tally_" + second}.Sanitize()+` (position) VALUES ($1)`, r.Position)
			return err
		}, annals.WithoutLease()))
		if _, err := strayed.CatchUp(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("a handler naming a table only public has: %v, want the table's absence", err)
		}
		var strays int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM `+public).Scan(&strays); err != nil || strays != 0 {
			t.Errorf("public's table of that name holds %d rows (%v), want 0", strays, err)
		}
		// A search_path of the URL's own is kept: here the read model's
		// table is the first schema's, whatever the store's schema.
		third := second + "_x"
		defer admin.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{third}.Sanitize()+` CASCADE`)
		s, err := postgres.Open(ctx, withParams("schema", third, "search_path", first))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var path string
		if err := s.Pool().QueryRow(ctx, `SHOW search_path`).Scan(&path); err != nil || path != first {
			t.Errorf("search_path %q (%v), want the URL's %q", path, err, first)
		}
		// PostgreSQL reads a parameter's name in any case: the store adds
		// no second setting, which would take the URL's place on some of
		// the pool's connections, each started with the two in random
		// order. Eight connections held at once are eight startups.
		spelt, err := postgres.Open(ctx, withParams("schema", third, "Search_Path", first, "Lock_Timeout", "31s"))
		if err != nil {
			t.Fatal(err)
		}
		defer spelt.Close()
		for i := range 8 {
			conn, err := spelt.Pool().Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			var lock string
			if err := conn.QueryRow(ctx, `SELECT current_setting('search_path'), current_setting('lock_timeout')`).Scan(&path, &lock); err != nil || path != first || lock != "31s" {
				t.Errorf("connection %d: search_path %q, lock_timeout %q (%v); want the URL's %q and 31s", i, path, lock, err, first)
			}
		}
	})
}
