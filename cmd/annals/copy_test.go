package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/store/sqlite"
)

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
	for _, want := range []string{"copy: events 0/5 (0%)", "copy: events 5/5 (100%)", "copy: checkpoints 1/1", "copy: verify the rest 4/4"} {
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

	// Again: the target now holds the copy, which is resumed, not refused.
	r = tool(t, ctx, "", "copy", "-from", from, "-to", to)
	if r.status != 0 || !strings.Contains(r.stdout, "0 of them by this run") {
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
	r := tool(t, ctx, "", "copy", "-from", from, "-to", other)
	if r.status != 1 || !strings.Contains(r.stderr, "target store holds other data") {
		t.Errorf("copy into a store with other events: %+v", r)
	}
	if h := tool(t, ctx, other, "head"); h.stdout != "1\n" {
		t.Errorf("the refused copy wrote to the target: head %q", h.stdout)
	}
}

// A copy that fails before it writes an event removes the SQLite file it
// created, so that nothing is left that looks like a copy; a file that
// was there before is kept.
func TestAFailedCopyRemovesOnlyTheFileItCreated(t *testing.T) {
	ctx := context.Background()
	from, _ := fixture(t)
	db, err := sql.Open("sqlite", strings.TrimPrefix(from, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	from, _ := fixture(t)
	db := pgtest.New(t)
	to := db.URL + "&schema=" + db.Schema
	if r := tool(t, ctx, "", "copy", "-from", from, "-to", to, "-rebuild", "orders-tabel"); r.status != 1 || !strings.Contains(r.stderr, "has no checkpoint in the source") {
		t.Fatalf("copy with a misspelt -rebuild: %+v", r)
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
