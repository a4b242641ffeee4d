package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/internal/crashtest"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// The killed-writer test runs the writer as a subprocess: the test binary
// started again with -test.run=^TestWriterChild$ and these variables
// naming the server, the schema and the writer.
const (
	writerChildURL    = "ANNALS_PG_WRITER_URL"
	writerChildSchema = "ANNALS_PG_WRITER_SCHEMA"
	writerChildID     = "ANNALS_PG_WRITER_ID"
)

// TestWriterChild is the writer process: it appends batches until the
// server holds its append (see holdTriggers) and it is killed. Run
// directly, it skips.
func TestWriterChild(t *testing.T) {
	u := os.Getenv(writerChildURL)
	if u == "" {
		t.Skip("runs as a subprocess of TestKilledWriterLeavesWholeBatches")
	}
	ctx := context.Background()
	s, err := postgres.Open(ctx, u, postgres.WithSchema(os.Getenv(writerChildSchema)))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.Atoi(os.Getenv(writerChildID))
	if err := crashtest.Write(ctx, s, uint64(id), os.Stdout); err != nil {
		t.Fatal(err)
	}
}

// holdTriggers makes the server hold an append whose events carry the
// causation IDs of crashtest: in the insert of the marked event, or at
// the commit of its batch (a deferred trigger runs as the transaction
// commits, after every insert). The held session sleeps until it ends;
// the writer's sessions check every 100 ms whether their client is still
// there (client_connection_check_interval), so the server ends them, and
// rolls the append back, once the writer is killed.
const holdTriggers = `
CREATE FUNCTION crashtest_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_sleep(600);
	RETURN NEW;
END $$;
CREATE TRIGGER crashtest_hold_insert BEFORE INSERT ON %[1]s FOR EACH ROW
	WHEN (NEW.causation_id = '` + crashtest.HoldInsert + `') EXECUTE FUNCTION crashtest_hold();
CREATE CONSTRAINT TRIGGER crashtest_hold_commit AFTER INSERT ON %[1]s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
	WHEN (NEW.causation_id = '` + crashtest.HoldCommit + `') EXECUTE FUNCTION crashtest_hold();`

// A writer process killed with SIGKILL while it appends a batch of
// hundreds of events, held by the server in the middle of its inserts or
// at its commit, leaves every batch whole or absent, and every
// acknowledged one there: the log stays numbered 1…head without a gap or
// a duplicate, the streams contiguous, and the store takes appends again.
// Each round kills a writer and checks the whole log; the log must grow
// every round, so the check saw the killed writers' work.
func TestKilledWriterLeavesWholeBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	t.Parallel()
	const kills = 5
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema)) // creates the tables
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf(holdTriggers, pgx.Identifier{db.Schema, "annals_events"}.Sanitize())); err != nil {
		t.Fatal(err)
	}
	// sessions counts the sessions of the writer app, those sleeping in
	// crashtest_hold only if asleep.
	sessions := func(app string, asleep bool) int {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND (NOT $2 OR wait_event = 'PgSleep')`,
			app, asleep).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var heads []int64
	acked := crashtest.Acked{}
	for k := range kills {
		app := fmt.Sprintf("crashtest-writer-%d", k)
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerChildURL+"="+db.URL+"&application_name="+app+"&client_connection_check_interval=100",
			writerChildSchema+"="+db.Schema, writerChildID+"="+strconv.Itoa(k))
		killed := crashtest.Kill(t, cmd, func() bool { return sessions(app, true) > 0 })
		// The server ends the killed writer's sessions, and with them
		// the held append, once it sees the client gone.
		for deadline := time.Now().Add(time.Minute); sessions(app, false) > 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the server kept the sessions of writer %d for a minute after it was killed", k)
			}
		}

		s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
		if err != nil {
			t.Fatalf("open after kill %d: %v", k, err)
		}
		log := crashtest.CheckLog(t, s)
		acked.Check(t, log, killed)
		heads = append(heads, int64(len(log)))
		if _, err := s.Append(ctx, fmt.Sprintf("after-kill-%d", k), store.NoStream, []store.Event{{Type: "A"}}); err != nil {
			t.Fatalf("append after kill %d: %v", k, err)
		}
		s.Close()
	}
	for k := 1; k < len(heads); k++ {
		if heads[k] <= heads[k-1] {
			t.Fatalf("the log did not grow between kills: heads %v", heads)
		}
	}
	t.Logf("log heads after each kill: %v", heads)
}
