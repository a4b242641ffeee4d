package annals_test

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/sqlite"
)

// eventsOnly is an adapter that keeps events and checkpoints and nothing
// else, as a third party's minimal adapter would.
type eventsOnly struct{ inner *memory.Store }

func (e eventsOnly) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	return e.inner.Append(ctx, id, expected, events)
}
func (e eventsOnly) ReadStream(ctx context.Context, id string, from int64) iter.Seq2[store.Record, error] {
	return e.inner.ReadStream(ctx, id, from)
}
func (e eventsOnly) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	return e.inner.ReadLog(ctx, q)
}
func (e eventsOnly) Head(ctx context.Context) (int64, error)     { return e.inner.Head(ctx) }
func (e eventsOnly) Wait(ctx context.Context, after int64) error { return e.inner.Wait(ctx, after) }
func (e eventsOnly) Checkpoint(ctx context.Context, c string) (int64, error) {
	return e.inner.Checkpoint(ctx, c)
}
func (e eventsOnly) SetCheckpoint(ctx context.Context, c string, p int64) error {
	return e.inner.SetCheckpoint(ctx, c, p)
}
func (e eventsOnly) Close() error { return e.inner.Close() }

// A handle on an adapter that implements only the store contract runs
// commands, lists what it cannot do, and fails each missing feature with
// store.ErrUnsupported naming it; the adapters of this module lack
// nothing.
func TestHandleOnAPartialAdapter(t *testing.T) {
	ctx := context.Background()
	s := annals.New(eventsOnly{memory.New()})
	if missing := s.Unsupported(); len(missing) != 5 {
		t.Fatalf("Unsupported() = %q, want view states, snapshots, keys, leases and queries", missing)
	}
	res, err := annals.NewRunner(s, counter, counterCodec()).Handle(ctx, "c", increment{})
	if err != nil || res.Version != 1 {
		t.Fatalf("a command on events alone: %+v, %v", res, err)
	}
	_, stepErr := newTally(s).Step(ctx)
	checks := map[string]error{
		"view states": stepErr,
		"snapshots":   s.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "c", Version: 1, Type: "t", SchemaVersion: 1}),
		"keys":        s.DeleteSubjectKey(ctx, "c-1"),
	}
	_, checks["leases"] = s.Lock(ctx, "x")
	_, checks["queries"] = s.AppendIf(ctx, "c", store.AnyVersion, []store.Event{{Type: "T", Tags: []string{"t"}}}, store.AppendCondition{})
	for _, err := range s.ReadQuery(ctx, store.QueryAll(), 0) {
		checks["reads by query"] = err
	}
	for what, err := range checks {
		if !errors.Is(err, store.ErrUnsupported) || !strings.Contains(err.Error(), "does not implement") {
			t.Errorf("%s on a partial adapter: %v, want store.ErrUnsupported saying what is missing", what, err)
		}
	}
	if missing := annals.New(memory.New()).Unsupported(); len(missing) != 0 {
		t.Errorf("the memory adapter lacks %q", missing)
	}
}

// SQL reaches an adapter's transactions of the type asked for, and says
// what is wrong otherwise: a memory store has none, and a SQLite store
// has *sql.Tx, not pgx.Tx.
func TestSQLReachesTheAdaptersTransactions(t *testing.T) {
	s := sqliteMemory(t)
	if _, err := annals.SQL[*sql.Tx](s); err != nil {
		t.Fatalf("SQL[*sql.Tx] on SQLite: %v", err)
	}
	_, err := annals.SQL[pgx.Tx](s)
	if !errors.Is(err, store.ErrUnsupported) || !strings.Contains(err.Error(), "*sql.Tx") {
		t.Fatalf("SQL[pgx.Tx] on SQLite: %v, want store.ErrUnsupported naming *sql.Tx", err)
	}
	_, err = annals.SQL[*sql.Tx](annals.New(memory.New()))
	if !errors.Is(err, store.ErrUnsupported) || !strings.Contains(err.Error(), "no SQL tables") {
		t.Fatalf("SQL on memory: %v, want store.ErrUnsupported saying it has no SQL tables", err)
	}
	_, err = annals.NewProjection(annals.New(memory.New()), "p", counterCodec(), func(context.Context, *sql.Tx, annals.Envelope[incremented]) error { return nil })
	if !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("a SQL projection on memory: %v, want store.ErrUnsupported", err)
	}
}

// A SQL read model's migrations run once each, in order, before the first
// batch, whatever the number of projection instances; the handler gets
// typed events; a program that knows fewer migrations than have run
// refuses to project; and a rebuild keeps the schema and replays.
func TestSQLProjectionMigratesOnceAndProjectsTypedEvents(t *testing.T) {
	ctx := context.Background()
	s := sqliteMemory(t)
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "a", 3)
	appendN(t, r, "b", 2)

	migrations := []func(context.Context, *sql.Tx) error{
		func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE counts (stream TEXT PRIMARY KEY, last INTEGER NOT NULL)`)
			return err
		},
		func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `ALTER TABLE counts ADD COLUMN seen INTEGER NOT NULL DEFAULT 0`)
			return err
		},
	}
	handle := func(ctx context.Context, tx *sql.Tx, ev annals.Envelope[incremented]) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO counts (stream, last, seen) VALUES (?, ?, 1)
			ON CONFLICT (stream) DO UPDATE SET last = excluded.last, seen = seen + 1`, ev.StreamID, ev.Event.To)
		return err
	}
	p1 := must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(migrations...)))
	p2 := must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(migrations...)))
	for _, p := range []*annals.Projection[*sql.Tx]{p1, p2} {
		if _, err := p.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := s.Checkpoint(ctx, annals.SchemaConsumer("counts")); v != 2 {
		t.Fatalf("schema version = %d, want 2", v)
	}
	want := map[string][2]int{"a": {3, 3}, "b": {2, 2}}
	readCounts := func() map[string][2]int {
		rows, err := s.Adapter().(*sqlite.Store).ReadDB().QueryContext(ctx, `SELECT stream, last, seen FROM counts`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string][2]int{}
		for rows.Next() {
			var id string
			var last, seen int
			if err := rows.Scan(&id, &last, &seen); err != nil {
				t.Fatal(err)
			}
			got[id] = [2]int{last, seen}
		}
		return got
	}
	if got := readCounts(); len(got) != 2 || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Fatalf("read model = %v, want %v", got, want)
	}

	older := must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(migrations[0])))
	if _, err := older.Step(ctx); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), `"schema:counts"`) {
		t.Fatalf("a program with one migration on a schema at 2: %v, want store.ErrInvalid naming the version and the schema's checkpoint", err)
	}
	// As the error says, a rebuild cannot take the schema back; dropping
	// the tables and the schema's checkpoint can, and the older program
	// then builds its read model again.
	if err := older.Rebuild(ctx, func(context.Context, *sql.Tx) error { return nil }, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a rebuild by the older program: %v, want store.ErrInvalid", err)
	}
	if err := s.Adapter().(*sqlite.Store).SQL().Commit(ctx, "by hand", 0, 0, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DROP TABLE counts; DELETE FROM annals_checkpoints WHERE consumer = 'schema:counts'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	olderHandle := func(ctx context.Context, tx *sql.Tx, ev annals.Envelope[incremented]) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO counts (stream, last) VALUES (?, ?)
			ON CONFLICT (stream) DO UPDATE SET last = excluded.last`, ev.StreamID, ev.Event.To)
		return err
	}
	older = must(annals.NewProjection(s, "counts", counterCodec(), olderHandle, annals.WithSchema(migrations[0])))
	empty := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM counts`)
		return err
	}
	if err := older.Rebuild(ctx, empty, nil); err != nil {
		t.Fatalf("a rebuild by the older program once the tables and the schema's checkpoint are gone: %v", err)
	}
	var last int
	if err := s.Adapter().(*sqlite.Store).ReadDB().QueryRowContext(ctx, `SELECT last FROM counts WHERE stream = 'a'`).Scan(&last); err != nil || last != 3 {
		t.Fatalf("the older program's read model: a at %d (%v), want 3", last, err)
	}
	// And back to the newer program, which migrates from there.
	p1 = must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(migrations...)))

	err := p1.Rebuild(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM counts`)
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readCounts(); got["a"] != want["a"] || got["b"] != want["b"] {
		t.Fatalf("read model after a rebuild = %v, want %v", got, want)
	}

	if _, err := annals.NewProjection(s, "bad", counterCodec(), handle, annals.WithSchema(func(context.Context, pgx.Tx) error { return nil })); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("migrations of another transaction type: %v, want store.ErrInvalid", err)
	}
}

// ReadDB hands queries the adapter's read handle, and refuses a type the
// adapter does not have.
func TestReadDBReachesTheAdaptersQueries(t *testing.T) {
	s := sqliteMemory(t)
	db, err := annals.ReadDB[*sql.DB](s)
	if err != nil || db != s.Adapter().(*sqlite.Store).ReadDB() {
		t.Fatalf("ReadDB[*sql.DB] on SQLite: %v, %v", db, err)
	}
	if _, err := annals.ReadDB[*sql.DB](annals.New(memory.New())); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("ReadDB on memory: %v, want store.ErrUnsupported", err)
	}
}

// A command on a stream ID that no store could hold is refused with
// store.ErrInvalid before anything is decided, and so is loading such a
// stream: its read is refused, as every adapter refuses it.
func TestStreamIDsNoStoreHoldsAreRefused(t *testing.T) {
	ctx := context.Background()
	lite, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	for name, adapter := range map[string]store.Store{"memory": memory.New(), "sqlite": lite} {
		s := annals.New(adapter)
		defer s.Close()
		r := annals.NewRunner(s, counter, counterCodec())
		for _, id := range []string{"", "a\x00", "a\xff", strings.Repeat("x", store.MaxStreamIDLen+1)} {
			if _, err := r.Handle(ctx, id, increment{}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: a command on stream %.8q: %v, want store.ErrInvalid", name, id, err)
			}
			if _, _, err := r.Load(ctx, id); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: loading stream %.8q: %v, want store.ErrInvalid", name, id, err)
			}
		}
	}
}

// WaitQuiet on an Async system waits for a read model's migrations, not
// only for its checkpoint: on a new store, whose empty log a projection
// is caught up with from the start, a query after WaitQuiet must find the
// read model's table. With no Run to migrate it, WaitQuiet's deadline
// error names the read model whose migrations have not run.
func TestWaitQuietWaitsForAReadModelsMigrations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := sqliteMemory(t)
	slowMigration := func(ctx context.Context, tx *sql.Tx) error {
		time.Sleep(100 * time.Millisecond) // the Run has not got this far when WaitQuiet is called
		_, err := tx.ExecContext(ctx, `CREATE TABLE counts (stream TEXT PRIMARY KEY, last INTEGER NOT NULL)`)
		return err
	}
	handle := func(context.Context, *sql.Tx, annals.Envelope[incremented]) error { return nil }
	sys := must(annals.NewSystem(s, annals.Async))
	if err := sys.Add(must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(slowMigration)))); err != nil {
		t.Fatal(err)
	}

	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	err := sys.WaitQuiet(short) // no Run yet
	stop()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `counts`) || !strings.Contains(err.Error(), "migrations") {
		t.Fatalf("WaitQuiet with nothing running = %v; want its deadline, naming the read model whose migrations have not run", err)
	}

	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	defer func() { stopRun(); <-done }()
	if err := sys.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	db := must(annals.ReadDB[*sql.DB](s))
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM counts`).Scan(&n); err != nil {
		t.Fatalf("the read model's table after WaitQuiet: %v", err)
	}
}

// A Sync system's WaitQuiet does not wait for migrations that only its
// first settle runs: on a new store it returns at once.
func TestSyncWaitQuietDoesNotWaitForMigrations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := sqliteMemory(t)
	migration := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE counts (stream TEXT PRIMARY KEY)`)
		return err
	}
	handle := func(context.Context, *sql.Tx, annals.Envelope[incremented]) error { return nil }
	sys := must(annals.NewSystem(s, annals.Sync))
	if err := sys.Add(must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(migration)))); err != nil {
		t.Fatal(err)
	}
	if err := sys.WaitQuiet(ctx); err != nil {
		t.Fatalf("WaitQuiet on a new Sync system: %v; want nil at once", err)
	}
}

// sqliteMemory returns a handle on a new in-memory SQLite store, closed
// when the test ends.
func sqliteMemory(t *testing.T) *annals.Store {
	t.Helper()
	lite, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	s := annals.New(lite)
	t.Cleanup(func() { s.Close() })
	return s
}

// A migration or a rebuild's reset that panics fails as a *PanicError,
// its transaction rolled back and the store still usable; the projection
// migrates once the bug is gone. A rebuild without a reset is refused.
func TestAPanickingMigrationOrResetFailsAndLeavesTheStoreUsable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := sqliteMemory(t)
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "a", 2)
	var buggy atomic.Bool
	buggy.Store(true)
	create := func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE seen (stream TEXT)`); err != nil {
			return err
		}
		if buggy.Load() {
			panic("migration bug")
		}
		return nil
	}
	handle := func(ctx context.Context, tx *sql.Tx, ev annals.Envelope[incremented]) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO seen VALUES (?)`, ev.StreamID)
		return err
	}
	p := must(annals.NewProjection(s, "seen", counterCodec(), handle, annals.WithSchema(create)))
	var panicked *annals.PanicError
	if _, err := p.CatchUp(ctx); !errors.As(err, &panicked) || panicked.Value != "migration bug" {
		t.Fatalf("CatchUp with a panicking migration = %v, want a PanicError", err)
	}
	appendN(t, r, "b", 1) // the writer is free
	buggy.Store(false)
	if n, err := p.CatchUp(ctx); err != nil || n != 3 {
		t.Fatalf("CatchUp once the migration is fixed = %d, %v; want 3 events", n, err)
	}

	if err := p.Rebuild(ctx, nil, nil); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "reset is nil") {
		t.Fatalf("Rebuild without a reset = %v, want store.ErrInvalid", err)
	}
	err := p.Rebuild(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM seen`); err != nil {
			return err
		}
		panic("reset bug")
	}, nil)
	if !errors.As(err, &panicked) || panicked.Value != "reset bug" {
		t.Fatalf("Rebuild with a panicking reset = %v, want a PanicError", err)
	}
	if at, err := p.Position(ctx); err != nil || at != 3 {
		t.Fatalf("checkpoint after the failed reset = %d, %v; want 3, as it was", at, err)
	}
	appendN(t, r, "c", 1)
	if n, err := p.CatchUp(ctx); err != nil || n != 1 {
		t.Fatalf("CatchUp after the failed reset = %d, %v; want the 1 new event", n, err)
	}
	var rows int
	if err := s.Adapter().(*sqlite.Store).ReadDB().QueryRowContext(ctx, `SELECT count(*) FROM seen`).Scan(&rows); err != nil || rows != 4 {
		t.Fatalf("the read model holds %d rows (%v), want 4: the failed reset's delete was kept", rows, err)
	}
}

// An Async system whose projection's read model a newer program migrated
// further shows the projection stopped, tells OnError once rather than
// at every try, and Run returns the stop when it ends; once the schema is
// taken back as the error says (tables and schema checkpoint dropped),
// the projection migrates and runs again by itself.
func TestAReadModelSchemaAheadOfTheProgramStopsTheProjection(t *testing.T) {
	defer annals.SetSchemaPoll(annals.SetSchemaPoll(20 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := sqliteMemory(t)
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "a", 3)
	create := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE counts (stream TEXT PRIMARY KEY, last INTEGER NOT NULL)`)
		return err
	}
	alter := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `ALTER TABLE counts ADD COLUMN seen INTEGER NOT NULL DEFAULT 0`)
		return err
	}
	handle := func(ctx context.Context, tx *sql.Tx, ev annals.Envelope[incremented]) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO counts (stream, last) VALUES (?, ?)
			ON CONFLICT (stream) DO UPDATE SET last = excluded.last`, ev.StreamID, ev.Event.To)
		return err
	}
	newer := must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(create, alter)))
	if _, err := newer.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Adapter().(*sqlite.Store).SQL().Commit(ctx, "counts", 3, 0, func(tx *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err) // back to 0, for the older program to have work
	}

	older := must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(create)))
	sys := must(annals.NewSystem(s, annals.Async))
	var reported atomic.Int32
	sys.OnError(func(string, error) { reported.Add(1) })
	if err := sys.Add(older); err != nil {
		t.Fatal(err)
	}
	running, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(running) }()
	status := func() annals.ConsumerStatus {
		st, err := sys.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st[0]
	}
	for status().Stopped == nil {
		if ctx.Err() != nil {
			t.Fatal("the projection was never shown stopped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := status().Stopped; !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "schema is at version 2") {
		t.Fatalf("stopped by %v, want the schema's version", err)
	}
	time.Sleep(200 * time.Millisecond) // ten tries
	if n := reported.Load(); n != 1 {
		t.Fatalf("OnError told %d times, want once", n)
	}
	// A Run that ends while the projection is stopped returns the stop.
	stop()
	if err := <-done; !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Run that ended with the projection stopped: %v, want its stop", err)
	}

	running, stop = context.WithCancel(ctx)
	defer stop()
	go func() { done <- sys.Run(running) }()
	// Taken back, as the error says.
	if err := s.Adapter().(*sqlite.Store).SQL().Commit(ctx, "by hand", 0, 0, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DROP TABLE counts; DELETE FROM annals_checkpoints WHERE consumer = 'schema:counts'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for st := status(); st.Stopped != nil || st.Checkpoint != 3; st = status() {
		if ctx.Err() != nil {
			t.Fatalf("the projection did not run again once its schema was taken back: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run of a projection running again: %v", err)
	}
}

// A Run that ends while it tries a projection whose schema is ahead
// again, however often it tries, returns the stop: a try that its end
// cut short does not count as one that passed.
func TestARunEndingWhileItTriesASchemaAheadReturnsTheStop(t *testing.T) {
	defer annals.SetSchemaPoll(annals.SetSchemaPoll(time.Microsecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := sqliteMemory(t)
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "a", 3)
	migration := func(ctx context.Context, tx *sql.Tx) error { return nil }
	handle := func(context.Context, *sql.Tx, annals.Envelope[incremented]) error { return nil }
	newer := must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(migration, migration)))
	if _, err := newer.Step(ctx); err != nil {
		t.Fatal(err)
	}
	older := must(annals.NewProjection(s, "counts", counterCodec(), handle, annals.WithSchema(migration)))
	sys := must(annals.NewSystem(s, annals.Async))
	var reported atomic.Int32 // each Run tells of the stop once
	sys.OnError(func(string, error) { reported.Add(1) })
	if err := sys.Add(older); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		running, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sys.Run(running) }()
		// Stopped by this Run, not still by the one before.
		for reported.Load() <= int32(i) {
			if ctx.Err() != nil {
				t.Fatalf("run %d never stopped", i)
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(2 * time.Millisecond) // amid its tries
		stop()
		if err := <-done; !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("run %d ended with %v, want the stop", i, err)
		}
	}
}
