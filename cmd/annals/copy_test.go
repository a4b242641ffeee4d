package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/store/sqlite"
)

// A PostgreSQL store copied onto itself under a URL with a parameter
// more, which no comparison of URLs sees, is refused as the same store,
// and left as it was: it still verifies, with no unfinished copy.
func TestCopyRefusesAPostgresStoreUnderTwoURLs(t *testing.T) {
	ctx := context.Background()
	from, _ := fixture(t)
	db := pgtest.New(t)
	url := db.URL + "&schema=" + db.Schema
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", url); r.status != 0 {
		t.Fatalf("copy: %+v", r)
	}
	r := tool(t, ctx, "", "copy", "-from", url, "-to", url+"&pool_max_conns=2")
	if r.status != 2 || !strings.Contains(r.stderr, "name one store") {
		t.Fatalf("copy onto itself: %+v; want status 2 and the store named one", r)
	}
	if r := tool(t, ctx, url, "verify"); r.status != 0 {
		t.Fatalf("verify after the refused copy: %+v; want the store as it was", r)
	}
}

// copy moves a SQLite store to PostgreSQL, says where each checkpoint
// went, and shows its progress as plain lines when stderr is not a
// terminal; the copy reads as the original.
func TestCopyToPostgres(t *testing.T) {
	ctx := context.Background()
	from, _ := fixture(t)
	db := pgtest.New(t)
	to := db.URL + "&schema=" + db.Schema
	r := tool(t, ctx, "", "copy", "-from", from, "-to", to, "-batch", "2")
	if r.status != 0 {
		t.Fatalf("copy: %+v", r)
	}
	for _, want := range []string{"copied 5 events in 3 streams, 0 snapshots, 1 subject keys and 0 view states",
		"times are kept to the 1µs", "verified: the same events in the same order", "summary: 2 → 2, after event "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"copy: events 0/5 (0%)", "copy: events 5/5 (100%)", "copy: checkpoints 1/1", "copy: verify the rest 5/5"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the progress lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("progress redraws lines though stderr is no terminal:\n%q", r.stderr)
	}
	// Read through the application's URL, pool settings included.
	a, b := tool(t, ctx, from, "ANNALS_CIPHER_KEY="+secret, "log"), tool(t, ctx, to+"&pool_max_conns=1&pool_min_conns=0", "ANNALS_CIPHER_KEY="+secret, "log")
	if a.status != 0 || a.stdout != b.stdout || !strings.Contains(b.stdout, `"name":"Ada"`) {
		t.Errorf("the copy reads otherwise than the original:\n%s\n%s", a.stdout, b.stdout)
	}

	// Again: the target now holds the finished copy, which is verified,
	// not refused, and the report says so.
	r = tool(t, ctx, "", "copy", "-from", from, "-to", to)
	if r.status != 0 || !strings.Contains(r.stdout, "the target held a finished copy, which this run verified") {
		t.Errorf("copy again: %+v", r)
	}
	// The events an earlier run copied count for no rate.
	if !strings.Contains(r.stderr, "copy: events 5/5 (100%)\n") {
		t.Errorf("the resumed copy's progress shows a rate for the events it did not copy:\n%s", r.stderr)
	}
}

// On a terminal the progress redraws one line; a target that holds other
// data is refused; -json reports the copy; -rebuild leaves a consumer out.
func TestCopyTerminalRefusalJSONAndRebuild(t *testing.T) {
	ctx := context.Background()
	from, s := fixture(t)
	if err := s.SetCheckpoint(ctx, "orders-table", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "schema:orders-table", 2); err != nil {
		t.Fatal(err)
	}
	to := "sqlite://" + filepath.Join(t.TempDir(), "to.db")
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, tty: true}
	if status := c.main(ctx, []string{"copy", "-json", "-from", from, "-to", to, "-rebuild", "orders-table"}); status != 0 {
		t.Fatalf("copy: %d: %s", status, errOut.String())
	}
	if !strings.Contains(errOut.String(), "\r\033[Kcopy: events") {
		t.Errorf("no redrawn progress line on a terminal: %q", errOut.String())
	}
	var rep struct {
		Events      int64
		Verified    bool
		Checkpoints []struct {
			Consumer string
			From     int64
			To       *int64
			Rebuild  bool
			Schema   bool `json:"schema_version"`
		}
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Events != 5 || !rep.Verified || len(rep.Checkpoints) != 3 {
		t.Fatalf("copy -json: %q (%v)", out.String(), err)
	}
	if cp := rep.Checkpoints[0]; cp.Consumer != "orders-table" || !cp.Rebuild || cp.To != nil {
		t.Errorf("the rebuilt consumer: %+v", cp)
	}
	if cp := rep.Checkpoints[1]; cp.Consumer != "schema:orders-table" || !cp.Rebuild || !cp.Schema {
		t.Errorf("the rebuilt consumer's schema version: %+v", cp)
	}
	if r := tool(t, ctx, to, "checkpoint", "orders-table"); r.status != 1 {
		t.Errorf("the rebuilt consumer has a checkpoint in the target: %+v", r)
	}

	// A misspelt consumer to rebuild is refused before the target is
	// created.
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", "sqlite://"+fresh, "-rebuild", "orders-tabel"); r.status != 1 || !strings.Contains(r.stderr, `"orders-tabel", to be rebuilt, has no checkpoint`) {
		t.Errorf("copy with a misspelt -rebuild: %+v", r)
	}
	noFile(t, fresh)

	// A view whose states the store keeps is refused: the copy carries
	// its states, and rebuilt from 0 it would apply every event again.
	if err := s.Commit(ctx, "totals", 0, 3, func(tx store.StateTx) error { return tx.SaveState(ctx, "totals", "dog-1", []byte("3")) }); err != nil {
		t.Fatal(err)
	}
	viewTarget := filepath.Join(t.TempDir(), "view.db")
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", "sqlite://"+viewTarget, "-rebuild", "totals"); r.status != 1 || !strings.Contains(r.stderr, `"totals" keeps its read model in the store`) {
		t.Errorf("copy with -rebuild of a view kept in the store: %+v", r)
	}
	noFile(t, viewTarget)

	// A store with events of its own is no target.
	other := "sqlite://" + filepath.Join(t.TempDir(), "other.db")
	o, err := store.Open(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(ctx, "mine", store.NoStream, []store.Event{{Type: "Mine"}}); err != nil {
		t.Fatal(err)
	}
	o.Close()
	r := tool(t, ctx, "", "copy", "-from", from, "-to", other, "-rebuild", "orders-table")
	if r.status != 1 || !strings.Contains(r.stderr, "target store holds other data") {
		t.Errorf("copy into a store with other events: %+v", r)
	}
	if h := tool(t, ctx, other, "head"); h.stdout != "1\n" {
		t.Errorf("the refused copy wrote to the target: head %q", h.stdout)
	}
}

// A source whose projection keeps its read model in the application's
// own tables (a schema version, no view states) is refused unless
// -rebuild or -keep names it, before the target is created; -keep
// copies its checkpoint and schema version, and the report says that
// its tables must be in the target.
func TestCopyKeep(t *testing.T) {
	ctx := context.Background()
	from, s := fixture(t)
	if err := s.SetCheckpoint(ctx, "orders-table", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "schema:orders-table", 2); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		says  []string
	}{
		{nil, []string{`consumer "orders-table" keeps its read model in the application's own tables (it has a schema version, "schema:orders-table", from annals.WithSchema), which the copy does not carry`,
			"name it with -rebuild orders-table, so that it rebuilds from the start in the target, or with -keep orders-table if its tables are in the target already"}},
		{[]string{"-keep", "orders-table", "-rebuild", "orders-table"}, []string{`consumer "orders-table" is named in both -rebuild and -keep`}},
		{[]string{"-keep", "orders-table", "-keep", "summary"}, []string{`consumer "summary", to be kept, has no schema version in the source`, "leave it out of -keep"}},
		{[]string{"-keep", "orders-tabel"}, []string{`consumer "orders-tabel", to be kept, has no checkpoint in the source`}},
	} {
		fresh := filepath.Join(t.TempDir(), "fresh.db")
		r := tool(t, ctx, "", append([]string{"copy", "-from", from, "-to", "sqlite://" + fresh}, c.flags...)...)
		if r.status != 1 {
			t.Errorf("copy %v: %+v, want it refused", c.flags, r)
		}
		for _, want := range c.says {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("copy %v says %q, want %q", c.flags, r.stderr, want)
			}
		}
		noFile(t, fresh)
	}

	to := "sqlite://" + filepath.Join(t.TempDir(), "to.db")
	r := tool(t, ctx, "", "copy", "-from", from, "-to", to, "-keep", "orders-table")
	if r.status != 0 {
		t.Fatalf("copy -keep: %+v", r)
	}
	for _, want := range []string{"  schema:orders-table: 2, a read model's schema version, copied as it is (-keep): its tables must be in the target already\n",
		"  orders-table: 4 → 4, after event "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, line := range lines(r.stdout) {
		if kept := strings.HasPrefix(line, "  orders-table: ") || strings.HasPrefix(line, "  schema:orders-table: "); kept != strings.Contains(line, "(-keep)") {
			t.Errorf("the report marks the kept consumer's lines alone as kept, not %q", line)
		}
	}
	for name, want := range map[string]string{"orders-table": "4\n", "schema:orders-table": "2\n"} {
		if c := tool(t, ctx, to, "checkpoint", name); c.status != 0 || c.stdout != want {
			t.Errorf("the kept checkpoint %s in the target: %+v, want %q", name, c, want)
		}
	}

	// -json says which were kept.
	r = tool(t, ctx, "", "-json", "copy", "-from", from, "-to", "sqlite://"+filepath.Join(t.TempDir(), "json.db"), "-keep", "orders-table")
	var rep struct {
		Checkpoints []struct {
			Consumer string
			To       *int64
			Keep     bool
			Schema   bool `json:"schema_version"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.status != 0 || len(rep.Checkpoints) != 3 {
		t.Fatalf("copy -json -keep: %+v (%v)", r, err)
	}
	for _, cp := range rep.Checkpoints {
		kept := cp.Consumer == "orders-table" || cp.Consumer == "schema:orders-table"
		if cp.Keep != kept || cp.To == nil || cp.Schema != (cp.Consumer == "schema:orders-table") {
			t.Errorf("copy -json -keep: checkpoint %+v", cp)
		}
	}
}

// A copy that fails before it writes an event removes the SQLite file it
// created, so that nothing is left that looks like a copy; a file that
// was there before is kept.
func TestAFailedCopyRemovesOnlyTheFileItCreated(t *testing.T) {
	ctx := context.Background()
	from, _ := fixture(t)
	db := rawDB(t, from)
	// dog-1 skips a version in the first page: the copy fails before it
	// writes any event, after it has opened the target.
	if _, err := db.ExecContext(ctx, `DELETE FROM annals_events WHERE position = 2`); err != nil {
		t.Fatal(err)
	}
	created := filepath.Join(t.TempDir(), "created.db")
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", "sqlite://"+created); r.status != 1 || !strings.Contains(r.stderr, `stream "dog-1"`) {
		t.Fatalf("copy of a source with a gap: %+v", r)
	}
	noFile(t, created)

	existing := filepath.Join(t.TempDir(), "existing.db")
	s, err := sqlite.Open(ctx, existing)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", "sqlite://"+existing); r.status != 1 {
		t.Fatalf("copy of a source with a gap: %+v", r)
	}
	if h := tool(t, ctx, "sqlite://"+existing, "head"); h.status != 0 || h.stdout != "0\n" {
		t.Errorf("the store that was there before the copy: %+v", h)
	}
}

// A copy refused for what the source and the flags decide creates no
// tables in a PostgreSQL target either.
func TestARefusedCopyCreatesNoPostgresTables(t *testing.T) {
	ctx := context.Background()
	from, s := fixture(t)
	db := pgtest.New(t)
	to := db.URL + "&schema=" + db.Schema
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", to, "-rebuild", "orders-tabel"); r.status != 1 || !strings.Contains(r.stderr, "has no checkpoint in the source") {
		t.Fatalf("copy with a misspelt -rebuild: %+v", r)
	}
	if ok, err := postgres.Exists(ctx, to); ok || err != nil {
		t.Errorf("the refused copy created the store's tables in the target (%v)", err)
	}
	// Nor when it names no flag for a read model in the application's
	// own tables.
	if err := s.SetCheckpoint(ctx, "schema:orders-table", 1); err != nil {
		t.Fatal(err)
	}
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", to); r.status != 1 || !strings.Contains(r.stderr, `"orders-table" keeps its read model in the application's own tables`) {
		t.Fatalf("copy of a read model in the application's tables without -rebuild or -keep: %+v", r)
	}
	if ok, err := postgres.Exists(ctx, to); ok || err != nil {
		t.Errorf("the refused copy created the store's tables in the target (%v)", err)
	}
}

// noFile fails the test if a SQLite database, or its log, is at path.
func noFile(t *testing.T, path string) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the copy left %s (%v)", p, err)
		}
	}
}

// cancelOn is a writer that cancels a context once what was written to
// it holds a text: a Ctrl-C at a known place of a command's progress.
type cancelOn struct {
	bytes.Buffer
	text   string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if strings.Contains(w.String(), w.text) {
		w.cancel()
	}
	return n, err
}

// interruptedCopy runs the copy command and interrupts it as its
// snapshots phase begins, after its events.
func interruptedCopy(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errOut := &cancelOn{text: "copy: snapshots", cancel: cancel}
	c := &cli{stdout: new(bytes.Buffer), stderr: errOut, getenv: func(string) string { return "" }}
	if status := c.main(ctx, append([]string{"copy"}, args...)); status != 1 || !strings.Contains(errOut.String(), "run the same command again") {
		t.Fatalf("the interrupted copy: status %d: %s", status, errOut.String())
	}
}

// A copy interrupted after its events leaves a target whose log looks
// whole and which lacks the data subjects' keys and the checkpoints:
// verify reports it as an unfinished copy, with the keys as without,
// and consumers says so, until the copy runs again to its end.
func TestAnUnfinishedCopyIsReportedUntilItIsRun(t *testing.T) {
	ctx := context.Background()
	from, _ := fixture(t)
	to := "sqlite://" + filepath.Join(t.TempDir(), "to.db")
	interruptedCopy(t, "-from", from, "-to", to)
	const says = "an annals copy into this store has not finished; run the same copy again before using it"

	for _, env := range []string{"ANNALS_CIPHER_KEY=", "ANNALS_CIPHER_KEY=" + secret} {
		r := tool(t, ctx, to, env, "verify")
		if r.status != 1 || !strings.Contains(r.stdout, "problem: "+says) || strings.HasSuffix(r.stdout, "ok\n") {
			t.Errorf("verify (%s) of an unfinished copy: %+v, want the problem and status 1", env[:18], r)
		}
		if !strings.Contains(r.stdout, "log: 5 events in 3 streams") || !strings.Contains(r.stdout, "; 0 checkpoints") {
			t.Errorf("verify (%s) counts the mark as a checkpoint, or the events otherwise: %s", env[:18], r.stdout)
		}
	}
	var v struct {
		OK             bool
		UnfinishedCopy *struct {
			Message      string
			Began        time.Time
			SourceEvents int64 `json:"source_events"`
		} `json:"unfinished_copy"`
	}
	r := tool(t, ctx, to, "-json", "verify")
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.status != 1 || v.OK || v.UnfinishedCopy == nil ||
		!strings.HasPrefix(v.UnfinishedCopy.Message, says) || v.UnfinishedCopy.SourceEvents != 5 || time.Since(v.UnfinishedCopy.Began) > time.Minute {
		t.Errorf("verify -json of an unfinished copy: %+v (%v)", r, err)
	}

	r = tool(t, ctx, to, "head")
	if r.status != 0 || r.stdout != "5\n" || !strings.HasPrefix(r.stderr, "warning: unfinished copy: "+says) {
		t.Errorf("head of an unfinished copy: %+v, want the head and a warning", r)
	}
	r = tool(t, ctx, to, "-json", "head")
	if r.status != 0 || !strings.Contains(r.stdout, `"unfinished_copy":{"message":"`+says) {
		t.Errorf("head -json of an unfinished copy: %+v", r)
	}

	r = tool(t, ctx, to, "consumers")
	if out := lines(r.stdout); r.status != 0 || len(out) != 3 || !strings.HasPrefix(out[1], "unfinished copy: "+says) || out[2] != "no consumer has a checkpoint" {
		t.Errorf("consumers of an unfinished copy: %+v", r)
	}
	var cs struct {
		UnfinishedCopy *struct{ Message string } `json:"unfinished_copy"`
		Consumers      []any
	}
	r = tool(t, ctx, to, "-json", "consumers")
	if err := json.Unmarshal([]byte(r.stdout), &cs); err != nil || cs.UnfinishedCopy == nil || !strings.HasPrefix(cs.UnfinishedCopy.Message, says) || len(cs.Consumers) != 0 {
		t.Errorf("consumers -json of an unfinished copy: %+v (%v)", r, err)
	}

	// The same copy again goes through, and the target is a store like
	// any other.
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", to); r.status != 0 || !strings.Contains(r.stdout, "which resumed an interrupted copy") {
		t.Fatalf("the copy run again: %+v", r)
	}
	if r := tool(t, ctx, to, "head"); r.status != 0 || r.stderr != "" {
		t.Errorf("head of the finished copy: %+v, want no warning", r)
	}
	if r := tool(t, ctx, to, "verify"); r.status != 0 || !strings.HasSuffix(r.stdout, "ok\n") || strings.Contains(r.stdout, "not finished") {
		t.Errorf("verify of the finished copy: %+v", r)
	}
	if r := tool(t, ctx, to, "-json", "verify"); r.status != 0 || !strings.Contains(r.stdout, `"unfinished_copy":null`) {
		t.Errorf("verify -json of the finished copy: %+v", r)
	}
	// Once more, over the finished copy: it says so, not that it resumed.
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", to); r.status != 0 || !strings.Contains(r.stdout, "the target held a finished copy, which this run verified") || strings.Contains(r.stdout, "resumed") {
		t.Errorf("the copy run over a finished one: %+v", r)
	}
	if r := tool(t, ctx, to, "consumers"); r.status != 0 || strings.Contains(r.stdout, "unfinished") || !strings.Contains(r.stdout, "summary") {
		t.Errorf("consumers of the finished copy: %+v", r)
	}
	if r := tool(t, ctx, to, "-json", "consumers"); r.status != 0 || !strings.Contains(r.stdout, `"unfinished_copy":null`) {
		t.Errorf("consumers -json of the finished copy: %+v", r)
	}
}

// A copy run again over a target that the application ran on, with a
// consumer that -rebuild leaves out, says that, and what to do.
func TestCopyOverATargetTheApplicationRanOn(t *testing.T) {
	ctx := context.Background()
	from, _ := fixture(t)
	path := filepath.Join(t.TempDir(), "to.db")
	interruptedCopy(t, "-from", from, "-to", "sqlite://"+path, "-rebuild", "summary")
	app, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.SetCheckpoint(ctx, "summary", 1); err != nil {
		t.Fatal(err)
	}
	app.Close()
	r := tool(t, ctx, "", "copy", "-from", from, "-to", "sqlite://"+path, "-rebuild", "summary")
	if r.status != 1 || !strings.Contains(r.stderr, `the target holds a checkpoint of "summary", which -rebuild summary leaves out`) ||
		!strings.Contains(r.stderr, "the application ran on this half-copied target") || !strings.Contains(r.stderr, "start over: empty the target") {
		t.Errorf("copy over a target the application ran on: %+v", r)
	}
}

// An interrupted copy with -rebuild, run again with -keep instead, is
// refused as a target with other data is, writing nothing, saying with
// which flags to run it; head names them; the same flags go on.
func TestCopyResumesOnlyWithItsOwnFlags(t *testing.T) {
	ctx := context.Background()
	from, s := fixture(t)
	for name, at := range map[string]int64{"orders-table": 4, "schema:orders-table": 2} {
		if err := s.SetCheckpoint(ctx, name, at); err != nil {
			t.Fatal(err)
		}
	}
	to := "sqlite://" + filepath.Join(t.TempDir(), "to.db")
	interruptedCopy(t, "-from", from, "-to", to, "-rebuild", "orders-table")
	if r := tool(t, ctx, to, "head"); !strings.Contains(r.stderr, "to copy 5 events, with -rebuild orders-table;") {
		t.Errorf("head of the unfinished copy: %+v, want the flags of its run", r)
	}

	r := tool(t, ctx, "", "copy", "-from", from, "-to", to, "-keep", "orders-table")
	for _, want := range []string{"annals: copy: the target holds an unfinished copy whose last run was with -rebuild orders-table, and this run is with -keep orders-table",
		"run the copy again with -rebuild orders-table, as it was interrupted, or start over: empty the target"} {
		if r.status != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("copy resumed with -keep: %+v, want status 1 and %q", r, want)
		}
	}
	if c := tool(t, ctx, to, "checkpoint", "schema:orders-table"); c.status != 1 {
		t.Errorf("the refused copy wrote the schema version of orders-table: %+v", c)
	}

	if r := tool(t, ctx, "", "copy", "-from", from, "-to", to, "-rebuild", "orders-table"); r.status != 0 || !strings.Contains(r.stdout, "which resumed an interrupted copy") {
		t.Fatalf("the copy run again with its flags: %+v", r)
	}
	if r := tool(t, ctx, to, "verify"); r.status != 0 || !strings.HasSuffix(r.stdout, "ok\n") {
		t.Errorf("verify of the finished copy: %+v", r)
	}
	if r := tool(t, ctx, to, "consumers"); r.status != 0 || strings.Contains(r.stdout, "annals:") || strings.Contains(r.stdout, "orders-table") {
		t.Errorf("consumers of the finished copy: %+v, want neither the mark nor the rebuilt consumer", r)
	}
}

// A target that holds nothing but the mark of the copy that created it
// is removed as an empty one is.
func TestAFailedCopyRemovesItsFileHoldingOnlyItsMark(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "marked.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportCheckpoints(ctx, []store.Checkpoint{{Consumer: storecopy.MarkName, Position: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := removeIfEmpty(ctx, s, path); err != nil {
		t.Fatal(err)
	}
	noFile(t, path)
}

// A source whose log jumps over a position (a stream's only event
// deleted by hand) is copied, and the report says so, in text and JSON:
// the target numbers its log without the gap.
func TestCopyReportsGapsInTheSourcesLog(t *testing.T) {
	ctx := context.Background()
	from, _ := fixture(t)
	db := rawDB(t, from)
	if _, err := db.ExecContext(ctx, `DELETE FROM annals_events WHERE stream_id = 'secret-1'`); err != nil {
		t.Fatal(err)
	}
	r := tool(t, ctx, from, "copy", "-from", from, "-to", "sqlite://"+filepath.Join(t.TempDir(), "to.db"))
	if r.status != 0 || !strings.Contains(r.stdout, "note: the source's log jumps over positions once, from 3 to 5;") {
		t.Fatalf("copy of a source with a gap: %+v", r)
	}
	r = tool(t, ctx, from, "copy", "-json", "-from", from, "-to", "sqlite://"+filepath.Join(t.TempDir(), "to.db"))
	if r.status != 0 || !strings.Contains(r.stdout, `"position_gaps":1,"first_gap":[3,5]`) {
		t.Fatalf("copy -json of a source with a gap: %+v", r)
	}
}

// Looking into a PostgreSQL store through a URL with a misspelt
// parameter says that the server took it for a setting, as Open does;
// a schema that holds no store is named.
func TestInspectingPostgresNamesWhatTheURLGot(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	r := tool(t, ctx, db.URL+"&schema="+db.Schema+"&lock_timeot=3s", "head")
	if r.status != 1 || !strings.Contains(r.stderr, "a URL parameter that is neither pgx's") || !strings.Contains(r.stderr, "lock_timeot") {
		t.Errorf("head through a misspelt parameter: %+v", r)
	}
	r = tool(t, ctx, db.URL+"&schema="+db.Schema, "head")
	if r.status != 1 || !strings.Contains(r.stderr, `holds no annals store in schema "`+db.Schema+`" with table prefix "annals_"`) {
		t.Errorf("head of a schema without a store: %+v", r)
	}
}

// A copy of an empty store says so, rather than name positions 1 to 0;
// one of a store with no events but something else says the log is
// empty.
func TestCopyOfAnEmptyStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "empty.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := pgtest.New(t)
	to := db.URL + "&schema=" + db.Schema
	r := tool(t, ctx, "", "copy", "-from", "sqlite://"+path, "-to", to)
	if r.status != 0 || !strings.Contains(r.stdout, "the source store is empty: no events, snapshots, keys, view states or checkpoints") ||
		strings.Contains(r.stdout, "positions 1 to 0") {
		t.Errorf("copy of an empty store: %+v", r)
	}
	if _, err := s.CreateSubjectKey(ctx, store.SubjectKey{Subject: "c1", KeyID: "k1", Wrapped: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	r = tool(t, ctx, "", "copy", "-from", "sqlite://"+path, "-to", "sqlite://"+filepath.Join(t.TempDir(), "to.db"))
	if r.status != 0 || !strings.Contains(r.stdout, "verified: no events, the source's log being empty, and the same snapshots, keys and view states") ||
		strings.Contains(r.stdout, "positions 1 to 0") {
		t.Errorf("copy of a store with a key alone: %+v", r)
	}
}
