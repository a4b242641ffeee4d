package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// stepEnv tells a "project" child what to do: "rebuild" the read model
// from the start, or "resume" the projection from its checkpoint. holdEnv
// tells it where to stop and wait to be killed (see readModel.stop).
const (
	stepEnv = "ANNALS_SQLITE_STEP"
	holdEnv = "ANNALS_SQLITE_HOLD"
)

// The log of the crash test: rebuildStreams streams of rebuildPerStream
// events each, appended in rounds so that the streams interleave.
const (
	rebuildStreams   = 50
	rebuildPerStream = 1000
	rebuildEvents    = rebuildStreams * rebuildPerStream
	rebuildRounds    = 2
	projectionName   = "read-model"
)

// readModel is a read model in the application's own tables, made so that
// an event applied twice or missed shows: a row per event, whose position
// is its primary key (applying an event twice fails the handler), and per
// stream the number of events, the sum of their versions and the last
// version. gen marks the rows with the handler's generation, so that rows
// a rebuild should have replaced show too.
type readModel struct {
	prefix string
	gen    int
	// In a child, where it holds (see stop): "in", or at the write of the
	// "checkpoint", or at the "commit" of the transaction that resets the
	// read model, when holdAt is 0, or that handles the event at position
	// holdAt.
	hold   string
	holdAt int64
	// Statements prepared on the transaction of the current batch.
	tx             *sql.Tx
	insert, upsert *sql.Stmt
}

func (m *readModel) reset(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`
		CREATE TABLE IF NOT EXISTS %[1]s_events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL, gen INTEGER NOT NULL);
		CREATE TABLE IF NOT EXISTS %[1]s_streams (stream TEXT PRIMARY KEY, events INTEGER NOT NULL, version_sum INTEGER NOT NULL, last_version INTEGER NOT NULL);
		DELETE FROM %[1]s_events;
		DELETE FROM %[1]s_streams`, m.prefix))
	m.stop(0)
	return err
}

// stop holds the child, now or at a later point of its transaction, when
// it is where m.hold and m.holdAt say: in the transaction that resets the
// read model (pos 0), or that handles the event at pos.
func (m *readModel) stop(pos int64) {
	switch {
	case m.hold == "" || pos != m.holdAt:
	case m.hold == "checkpoint":
		holdCheckpoint.Store(true)
	case m.hold == "commit":
		holdCommit.Store(true)
	default:
		hold()
	}
}

func (m *readModel) handle(ctx context.Context, tx *sql.Tx, r store.Record) error {
	m.stop(r.Position)
	if tx != m.tx {
		var err error
		if m.insert, err = tx.PrepareContext(ctx, fmt.Sprintf(`INSERT INTO %s_events (position, stream, version, gen) VALUES (?, ?, ?, ?)`, m.prefix)); err != nil {
			return err
		}
		if m.upsert, err = tx.PrepareContext(ctx, fmt.Sprintf(`INSERT INTO %s_streams (stream, events, version_sum, last_version) VALUES (?1, 1, ?2, ?2)
			ON CONFLICT (stream) DO UPDATE SET events = events + 1, version_sum = version_sum + ?2, last_version = ?2`, m.prefix)); err != nil {
			return err
		}
		m.tx = tx
	}
	if _, err := m.insert.ExecContext(ctx, r.Position, r.StreamID, r.Version, m.gen); err != nil {
		return err
	}
	_, err := m.upsert.ExecContext(ctx, r.StreamID, r.Version)
	return err
}

// childProject runs the projection of the crash test, printing its
// checkpoint after each batch, and "done" at the end; or "held" where
// holdEnv ("in", "checkpoint" or "commit", then "reset" or a position)
// says.
func childProject(t *testing.T, ctx context.Context, s *sqlite.Store, step string) {
	batch, _ := strconv.Atoi(os.Getenv(idEnv))
	m := &readModel{prefix: "rm", gen: 2}
	if h := os.Getenv(holdEnv); h != "" {
		point, at, _ := strings.Cut(h, " ")
		m.hold = point
		if at != "reset" {
			var err error
			if m.holdAt, err = strconv.ParseInt(at, 10, 64); err != nil || m.holdAt < 1 {
				t.Fatalf("%s=%q: want a point of the transaction, then \"reset\" or a position", holdEnv, h)
			}
		}
	}
	p := must(annals.NewRecordProjection(annals.New(s), projectionName, m.handle, annals.WithBatchSize(batch)))
	switch step {
	case "rebuild":
		if err := p.Rebuild(ctx, m.reset, func(pr annals.Progress) { fmt.Println("at", pr.Position) }); err != nil {
			t.Fatal(err)
		}
	case "resume":
		for {
			n, err := p.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pos, err := p.Position(ctx)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Println("at", pos)
			if n == 0 {
				break
			}
		}
	default:
		t.Fatalf("unknown step %q", step)
	}
	fmt.Println("done")
}

// readModelCounts returns the rows of the read model m: events by
// generation, the highest position, and the events counted by streams.
func readModelCounts(t *testing.T, db *sql.DB, prefix string) (gen1, gen2, maxPos, counted int64) {
	t.Helper()
	err := db.QueryRow(fmt.Sprintf(`SELECT
		(SELECT count(*) FROM %[1]s_events WHERE gen = 1),
		(SELECT count(*) FROM %[1]s_events WHERE gen = 2),
		(SELECT coalesce(max(position), 0) FROM %[1]s_events),
		(SELECT coalesce(sum(events), 0) FROM %[1]s_streams)`, prefix)).Scan(&gen1, &gen2, &maxPos, &counted)
	if err != nil {
		t.Fatal(err)
	}
	return gen1, gen2, maxPos, counted
}

func queryStrings(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b, c, d any
		if err := rows.Scan(&a, &b, &c, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(a, b, c, d))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A projection process that rebuilds a read model of 50,000 events in the
// application's own tables is killed with SIGKILL and started again,
// several times, then left to finish. Each process is killed where it
// stops to wait for it: in the transaction that resets the read model, or
// in the batch of a random position, as it handles that event, writes the
// checkpoint or commits. After every kill the read model holds exactly the
// events up to its checkpoint, which is the last one the process reported;
// at the end it equals what a clean rebuild makes of the log: no event
// applied twice, none missed, none left from before the rebuild.
func TestKilledProjectionRebuildsExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts projection processes")
	}
	ctx := context.Background()
	s, path := openFile(t, sqlite.WithSynchronous(sqlite.SyncNormal))
	start := time.Now()
	for round := range rebuildRounds {
		for i := range rebuildStreams {
			events := make([]store.Event, rebuildPerStream/rebuildRounds)
			for j := range events {
				events[j] = store.Event{Type: "Counted", Data: []byte(strconv.Itoa(round))}
			}
			if _, err := s.Append(ctx, fmt.Sprintf("counter-%02d", i), store.AnyVersion, events); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("appended %d events in %v", rebuildEvents, time.Since(start).Round(time.Millisecond))

	// An older read model, by the handler's first generation, that the
	// rebuild must replace.
	old := &readModel{prefix: "rm", gen: 1}
	if err := s.SQL().Commit(ctx, projectionName, 0, 0, func(tx *sql.Tx) error { return old.reset(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	first := must(annals.NewRecordProjection(annals.New(s), projectionName, old.handle, annals.WithBatchSize(500)))
	for range 5 {
		if _, err := first.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	db := s.ReadDB()
	if gen1, _, _, _ := readModelCounts(t, db, "rm"); gen1 != 2500 {
		t.Fatalf("the old read model holds %d events, want 2500", gen1)
	}

	// After a kill, the read model holds exactly the events 1…checkpoint:
	// as many rows as the checkpoint, the highest at the checkpoint (so,
	// positions being unique, every one of them), counted once by the
	// streams; and all of one generation.
	check := func(after string) (rebuilt bool, pos int64) {
		t.Helper()
		pos, err := s.Checkpoint(ctx, projectionName)
		if err != nil {
			t.Fatal(err)
		}
		gen1, gen2, maxPos, counted := readModelCounts(t, db, "rm")
		rows := gen1 + gen2
		if rows != pos || maxPos != pos || counted != pos || (gen1 > 0 && gen2 > 0) {
			t.Fatalf("%s: checkpoint %d, but the read model holds %d events of the old generation and %d of the new, up to position %d, and the streams count %d",
				after, pos, gen1, gen2, maxPos, counted)
		}
		return gen1 == 0, pos
	}

	const kills = 6
	batches := []int{500, 137, 1000, 250, 64, 731, 500}
	targets := make([]int64, kills-1)
	for i := range targets {
		targets[i] = 1 + rand.Int64N(rebuildEvents)
	}
	slices.Sort(targets)
	var at []string
	start = time.Now()
	step := func(rebuilt bool) string {
		if rebuilt {
			return "resume"
		}
		return "rebuild" // until the rebuild has emptied the old read model
	}
	rebuilt, pos := false, int64(2500)
	for k := range kills {
		// Where the child stops to be killed: in the transaction that
		// resets the read model, the first time, then in the batch that
		// holds a target position; either as it handles that event, or
		// as it writes the checkpoint, or as it commits. The child cannot
		// go past it.
		point, where := []string{"in", "checkpoint", "commit"}[rand.IntN(3)], "reset"
		if k > 0 {
			where = strconv.FormatInt(targets[k-1], 10)
		}
		c := startChild(t, "project", path, stepEnv+"="+step(rebuilt), idEnv+"="+strconv.Itoa(batches[k]), holdEnv+"="+point+" "+where)
		// The checkpoint the child last reported committed, which the
		// kill must not lose; a rebuild commits its reset to 0 before it
		// handles a batch.
		acked := pos
		if k > 0 && !rebuilt {
			acked = 0
		}
		c.waitFor(t, "hold "+point+" "+where, func(line string) bool {
			if p, err := strconv.ParseInt(strings.TrimPrefix(line, "at "), 10, 64); err == nil {
				acked = p
			}
			return line == "held"
		}, 2*time.Minute)
		c.kill(t)
		after := fmt.Sprintf("after kill %d, held %s %s", k+1, point, where)
		rebuilt, pos = check(after)
		// Killed in the reset, the rebuild has not started; killed in a
		// batch, it has, and it kept every batch before that one, and
		// nothing of it.
		if rebuilt != (k > 0) || pos != acked {
			t.Fatalf("%s: checkpoint %d, rebuilt %v; want %d, rebuilt %v", after, pos, rebuilt, acked, k > 0)
		}
		at = append(at, fmt.Sprintf("%d (held %s %s)", pos, point, where))
	}
	c := startChild(t, "project", path, stepEnv+"="+step(rebuilt), idEnv+"="+strconv.Itoa(batches[kills]))
	c.waitFor(t, "finish", func(line string) bool { return line == "done" }, 5*time.Minute)
	if err := c.wait(); err != nil {
		t.Fatalf("the last projection process: %v\n%s", err, c.stderr)
	}
	t.Logf("killed at checkpoints %s; the projection processes took %v", strings.Join(at, ", "), time.Since(start).Round(time.Millisecond))
	if rebuilt, pos := check("at the end"); !rebuilt || pos != rebuildEvents {
		t.Fatalf("at the end: checkpoint %d, rebuilt %v; want %d, rebuilt", pos, rebuilt, rebuildEvents)
	}

	// A clean rebuild folds every event of the log once: the read model
	// must hold, for each event, its row, and for each stream, the count
	// and sums of its events. Compare both ways with what the log holds.
	for table, fromLog := range map[string]string{
		"rm_events":  `SELECT position, stream_id, version, 2 FROM annals_events`,
		"rm_streams": `SELECT stream_id, count(*), sum(version), max(version) FROM annals_events GROUP BY stream_id`,
	} {
		var missing, extra int
		err := db.QueryRow(fmt.Sprintf(`SELECT
			(SELECT count(*) FROM (%[2]s EXCEPT SELECT * FROM %[1]s)),
			(SELECT count(*) FROM (SELECT * FROM %[1]s EXCEPT %[2]s))`, table, fromLog)).Scan(&missing, &extra)
		if err != nil {
			t.Fatal(err)
		}
		if missing != 0 || extra != 0 {
			t.Fatalf("%s: %d rows of a clean rebuild are missing, and %d rows are not in it", table, missing, extra)
		}
	}
	if n := countRows(t, db, "rm_streams"); n != rebuildStreams {
		t.Fatalf("the read model has %d streams, want %d", n, rebuildStreams)
	}
}
