package storecopy_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// untouched fails the test if the target holds anything, the mark of an
// unfinished copy included.
func untouched(t *testing.T, dst store.Store) {
	t.Helper()
	inv, err := dst.(store.Exporter).Inventory(context.Background())
	if err != nil || inv != (store.Inventory{}) {
		t.Errorf("the refused copy wrote to the target: it holds %+v (%v)", inv, err)
	}
}

// refused checks that both CheckSource and Copy refuse what the source
// and opts decide, with an error matching want and holding every text of
// says, and that the copy wrote nothing to its target.
func refused(t *testing.T, src store.Store, opts storecopy.Options, want error, says ...string) {
	t.Helper()
	ctx := context.Background()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
		for _, s := range says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %v\nwant it to say %q", what, err, s)
			}
		}
	}
	check("check of the source", storecopy.CheckSource(ctx, src, opts))
	dst := open(t, storeURL(t, "sqlite"))
	_, err := storecopy.Copy(ctx, src, dst, opts)
	check("copy", err)
	untouched(t, dst)
}

// A consumer with a schema version and no view states in the store keeps
// its read model in the application's own tables, which the copy does not
// carry: copied as it is, the schema version would tell the application
// on the target that they are there. A copy that names it in neither
// -rebuild nor -keep is refused before anything is written, naming every
// such consumer and both flags.
func TestCopyRefusesReadModelsItDoesNotCarry(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	head := fill(t, src, 2, 3)
	for _, cp := range []store.Checkpoint{{Consumer: "invoices-table", Position: head}, {Consumer: "schema:invoices-table", Position: 1}} {
		if err := src.SetCheckpoint(ctx, cp.Consumer, cp.Position); err != nil {
			t.Fatal(err)
		}
	}
	refused(t, src, storecopy.Options{}, store.ErrInvalid,
		`consumers "invoices-table", "orders-table" each keep their read model in the application's own tables`,
		"from annals.WithSchema", "which the copy does not carry", "name each with -rebuild NAME, so that it rebuilds from the start in the target",
		"or with -keep NAME if its tables are in the target already")
	// One left unnamed is named, with the flags that name it.
	refused(t, src, storecopy.Options{Keep: []string{"invoices-table"}}, store.ErrInvalid,
		`consumer "orders-table" keeps its read model in the application's own tables (it has a schema version, "schema:orders-table", from annals.WithSchema)`,
		"name it with -rebuild orders-table, so that it rebuilds from the start in the target, or with -keep orders-table if its tables are in the target already")
	refused(t, src, storecopy.Options{Rebuild: []string{"orders-table"}}, store.ErrInvalid, `consumer "invoices-table" keeps its read model`)
	// A misspelt name is refused as such, before the consumers it leaves
	// unnamed.
	refused(t, src, storecopy.Options{Rebuild: []string{"orders-tabel"}}, store.ErrNotFound, `"orders-tabel", to be rebuilt, has no checkpoint`)

	// Both named: the copy goes through.
	dst := open(t, storeURL(t, "sqlite"))
	if _, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Rebuild: []string{"orders-table"}, Keep: []string{"invoices-table"}}); err != nil {
		t.Fatal(err)
	}
}

// -keep copies a consumer's checkpoint, mapped, and its schema version as
// they are, and the report says they were kept.
func TestCopyKeepsAConsumersCheckpointAndSchemaVersion(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	head := fill(t, src, 3, 4)
	if err := src.SetCheckpoint(ctx, "orders-table", head-2); err != nil {
		t.Fatal(err)
	}
	dst := open(t, storeURL(t, "memory"))
	rep, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: []string{"orders-table"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"orders-table": head - 2, "schema:orders-table": 2} {
		if at, err := dst.Checkpoint(ctx, name); at != want || err != nil {
			t.Errorf("the target's checkpoint %s: %d (%v), want %d", name, at, err, want)
		}
	}
	kept := 0
	for _, m := range rep.Checkpoints {
		switch m.Consumer {
		case "orders-table":
			kept++
			if !m.Keep || m.Schema || m.Rebuild || m.To != head-2 || m.Event != eventAt(t, src, head-2) {
				t.Errorf("the kept consumer: %+v", m)
			}
		case "schema:orders-table":
			kept++
			if !m.Keep || !m.Schema || m.Rebuild || m.To != 2 {
				t.Errorf("the kept consumer's schema version: %+v", m)
			}
		default:
			if m.Keep {
				t.Errorf("a consumer not named in Keep reported kept: %+v", m)
			}
		}
	}
	if kept != 2 {
		t.Errorf("the report holds %d of the kept consumer's checkpoints, want 2: %+v", kept, rep.Checkpoints)
	}
}

// A view whose states the store keeps is copied whole, states and
// checkpoints: its schema version, if it has one, needs no flag.
func TestCopyCarriesAViewWithASchemaVersion(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	fill(t, src, 2, 3) // the views "balances" and "totals"
	if err := src.SetCheckpoint(ctx, "schema:balances", 3); err != nil {
		t.Fatal(err)
	}
	if err := storecopy.CheckSource(ctx, src, storecopy.Options{Keep: filled}); err != nil {
		t.Fatalf("check of a source whose view has a schema version: %v", err)
	}
	dst := open(t, storeURL(t, "sqlite"))
	rep, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled})
	if err != nil {
		t.Fatalf("copy of a source whose view has a schema version: %v", err)
	}
	if at, err := dst.Checkpoint(ctx, "schema:balances"); at != 3 || err != nil {
		t.Errorf("the view's schema version in the target: %d (%v), want 3", at, err)
	}
	for _, m := range rep.Checkpoints {
		if m.Consumer == "schema:balances" && (m.Keep || m.Rebuild || !m.Schema) {
			t.Errorf("the view's schema version: %+v", m)
		}
	}
}

// -rebuild and -keep of one consumer contradict each other.
func TestCopyRefusesToKeepAndRebuildOneConsumer(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	head := fill(t, src, 2, 3)
	if err := src.SetCheckpoint(ctx, "orders-table", head); err != nil {
		t.Fatal(err)
	}
	refused(t, src, storecopy.Options{Rebuild: filled, Keep: filled}, store.ErrInvalid,
		`consumer "orders-table" is named in both -rebuild and -keep`, "name it in one")
}

// -keep is for a consumer with a schema version: one without is refused,
// its checkpoint being copied anyway, and a name without any checkpoint
// as misspelt.
func TestCopyRefusesToKeepAConsumerWithoutASchemaVersion(t *testing.T) {
	src := open(t, storeURL(t, "sqlite"))
	fill(t, src, 2, 3)
	refused(t, src, storecopy.Options{Keep: []string{"orders-table", "mailer"}}, store.ErrInvalid,
		`consumer "mailer", to be kept, has no schema version in the source (no checkpoint "schema:mailer"`,
		"its checkpoint is copied anyway: leave it out of -keep")
	refused(t, src, storecopy.Options{Keep: []string{"orders-tabel"}}, store.ErrNotFound,
		`consumer "orders-tabel", to be kept, has no checkpoint in the source; check its name`)
}

// A projection that ran its migrations and has handled no batch yet has
// a schema version and no checkpoint: it can be rebuilt.
func TestCopyRebuildsAConsumerWithASchemaVersionAlone(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	fill(t, src, 2, 3)
	dst := open(t, storeURL(t, "sqlite"))
	if _, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Rebuild: filled}); err != nil {
		t.Fatal(err)
	}
	if at, err := dst.Checkpoint(ctx, "schema:orders-table"); at != 0 || err != nil {
		t.Errorf("the rebuilt consumer's schema version is in the target: %d (%v)", at, err)
	}
}

// statesRead counts the reads of a store's view states.
type statesRead struct {
	*memory.Store
	n *int
}

func (s statesRead) ExportStates(ctx context.Context) iter.Seq2[store.State, error] {
	*s.n++
	return s.Store.ExportStates(ctx)
}

// The source's view states are read only when a consumer is to be
// rebuilt or has a schema version.
func TestCheckSourceReadsStatesOnlyWhenItMust(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	if err := mem.SetCheckpoint(ctx, "mailer", 0); err != nil {
		t.Fatal(err)
	}
	var n int
	src := statesRead{mem, &n}
	if err := storecopy.CheckSource(ctx, src, storecopy.Options{}); err != nil || n != 0 {
		t.Errorf("check of a source without schema versions: %v, read its states %d times, want none", err, n)
	}
	if err := mem.SetCheckpoint(ctx, "schema:orders-table", 1); err != nil {
		t.Fatal(err)
	}
	if err := storecopy.CheckSource(ctx, src, storecopy.Options{Keep: filled}); err != nil || n != 0 {
		t.Errorf("check of a source whose every schema version is named: %v, read its states %d times, want none", err, n)
	}
	if err := storecopy.CheckSource(ctx, src, storecopy.Options{}); !errors.Is(err, store.ErrInvalid) || n != 1 {
		t.Errorf("check of a source with a schema version unnamed: %v, read its states %d times, want once", err, n)
	}
}
