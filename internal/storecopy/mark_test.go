package storecopy_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
)

// cutAfterEvents runs a copy that is interrupted as its snapshots phase
// begins: the target then holds every event of the source and nothing
// else of it.
func cutAfterEvents(t *testing.T, src, dst store.Store, opts storecopy.Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.Progress = func(p storecopy.Progress) {
		if p.Phase == storecopy.PhaseSnapshots {
			cancel()
		}
	}
	if _, err := storecopy.Copy(ctx, src, dst, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("the copy cut after its events: %v, want context.Canceled", err)
	}
}

// unfinished returns the mark that s holds, failing the test when it
// holds none.
func unfinished(t *testing.T, s store.Store) storecopy.Unfinished {
	t.Helper()
	u, ok, err := storecopy.FindUnfinished(context.Background(), s)
	if err != nil || !ok {
		t.Fatalf("the target of an unfinished copy holds no mark (%v)", err)
	}
	return u
}

// withoutTimes clears the checkpoints' times, which each copy sets anew
// where the source records none.
func withoutTimes(c contents) contents {
	for i := range c.Checkpoints {
		c.Checkpoints[i].Time = time.Time{}
	}
	return c
}

// A copy interrupted after its events leaves a target that holds every
// event and none of the keys, snapshots, states and checkpoints: it is
// marked unfinished, and the mark is no consumer's. The copy run again
// ends as a copy that ran through, and deletes the mark.
func TestAnInterruptedCopyIsMarkedUntilItEnds(t *testing.T) {
	for _, adapter := range []string{"sqlite", "postgres", "memory"} {
		t.Run(adapter, func(t *testing.T) {
			ctx := context.Background()
			src := open(t, storeURL(t, "sqlite"))
			head := fill(t, src, 4, 6)
			whole := open(t, storeURL(t, adapter))
			if _, err := storecopy.Copy(ctx, src, whole, storecopy.Options{Batch: 5, Keep: filled}); err != nil {
				t.Fatal(err)
			}
			if _, marked, err := storecopy.FindUnfinished(ctx, whole); marked || err != nil {
				t.Fatalf("a copy that ran through left its mark (%v)", err)
			}

			dst := open(t, storeURL(t, adapter))
			before := time.Now().Add(-time.Second)
			cutAfterEvents(t, src, dst, storecopy.Options{Batch: 5, Keep: filled})
			inv, err := dst.(store.Exporter).Inventory(ctx)
			if err != nil || inv != (store.Inventory{Events: head, Checkpoints: 2}) {
				t.Fatalf("the target of the cut copy holds %+v (%v), want the %d events, the mark and the options beside it", inv, err, head)
			}
			u := unfinished(t, dst)
			if u.Events != head || (adapter != "memory" && u.Began.Before(before)) || !u.Recorded || u.Flags != "-keep orders-table" {
				t.Errorf("the mark: %+v, want the %d events of the source, the time the run began and its options", u, head)
			}
			if s := u.String(); !strings.HasPrefix(s, "an annals copy into this store has not finished; run the same copy again before using it") {
				t.Errorf("the mark says %q", s)
			}
			// A consumer that would read it finds no checkpoint of its own.
			if at, err := dst.Checkpoint(ctx, "mailer"); at != 0 || err != nil {
				t.Errorf("the cut copy set the checkpoint of mailer to %d (%v)", at, err)
			}

			rep, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: 5, Keep: filled})
			if err != nil || !rep.Resumed || rep.Finished || rep.Copied != 0 {
				t.Fatalf("the copy run again: %+v, %v", rep, err)
			}
			if _, marked, err := storecopy.FindUnfinished(ctx, dst); marked || err != nil {
				t.Errorf("the finished copy left its mark (%v)", err)
			}
			if a, b := withoutTimes(dump(t, whole)), withoutTimes(dump(t, dst)); !reflect.DeepEqual(a, b) {
				t.Errorf("the resumed copy differs from the whole one:\n%+v\n%+v", a.Checkpoints, b.Checkpoints)
			}
		})
	}
}

// A copy that the application's consumer of a read model left out
// (-rebuild) ran on, while the copy was unfinished, is refused before
// anything is written, saying so: not as a checkpoint that the source
// lacks, which it has.
func TestCopyRefusesATargetTheApplicationRanOn(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	head := fill(t, src, 3, 4)
	for _, cp := range []store.Checkpoint{{Consumer: "sqltally", Position: head}, {Consumer: "schema:sqltally", Position: 1}} {
		if err := src.SetCheckpoint(ctx, cp.Consumer, cp.Position); err != nil {
			t.Fatal(err)
		}
	}
	opts := storecopy.Options{Batch: 5, Rebuild: []string{"sqltally"}, Keep: filled}

	for _, c := range []struct {
		name string
		want string
		prep func(t *testing.T, dst store.Store)
	}{
		{"unfinished", "or the application ran on this half-copied target", func(t *testing.T, dst store.Store) {
			cutAfterEvents(t, src, dst, opts)
		}},
		{"finished", "the application ran on this target after a copy into it finished", func(t *testing.T, dst store.Store) {
			if _, err := storecopy.Copy(ctx, src, dst, opts); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := open(t, storeURL(t, "sqlite"))
			c.prep(t, dst)
			// The application's projection rebuilds from the start.
			if err := dst.SetCheckpoint(ctx, "schema:sqltally", 1); err != nil {
				t.Fatal(err)
			}
			if err := dst.SetCheckpoint(ctx, "sqltally", 3); err != nil {
				t.Fatal(err)
			}
			before := dump(t, dst)
			_, err := storecopy.Copy(ctx, src, dst, opts)
			if !errors.Is(err, storecopy.ErrNotEmpty) || !strings.Contains(err.Error(), `"sqltally", which -rebuild sqltally leaves out`) ||
				!strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "start over") {
				t.Fatalf("copy over a target the application ran on: %v, want ErrNotEmpty saying %q and what to do", err, c.want)
			}
			if after := dump(t, dst); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused copy wrote to the target")
			}
		})
	}
}

// A store that is the target of an unfinished copy is no source: it may
// lack part of its own source. The refusal comes before the target is
// opened, and writes nothing.
func TestCopyRefusesAnUnfinishedSource(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	fill(t, src, 2, 3)
	half := open(t, storeURL(t, "sqlite"))
	cutAfterEvents(t, src, half, storecopy.Options{Keep: filled})
	if err := storecopy.CheckSource(ctx, half, storecopy.Options{}); !errors.Is(err, storecopy.ErrUnfinished) {
		t.Errorf("check of an unfinished source: %v, want ErrUnfinished", err)
	}
	dst := open(t, storeURL(t, "sqlite"))
	if _, err := storecopy.Copy(ctx, half, dst, storecopy.Options{}); !errors.Is(err, storecopy.ErrUnfinished) ||
		!strings.Contains(err.Error(), "the source is the target of another copy") {
		t.Errorf("copy from an unfinished source: %v, want ErrUnfinished", err)
	}
	if empty, err := storecopy.Empty(ctx, dst); !empty || err != nil {
		t.Errorf("the refused copy wrote to the target (%v)", err)
	}
}

// Empty counts a store that holds the mark alone as empty, and one with
// anything more as not.
func TestEmptyBesideTheMark(t *testing.T) {
	ctx := context.Background()
	s := open(t, storeURL(t, "sqlite"))
	imp := s.(store.Importer)
	for _, step := range []struct {
		write func() error
		empty bool
	}{
		{func() error { return nil }, true},
		{func() error {
			return imp.ImportCheckpoints(ctx, []store.Checkpoint{{Consumer: storecopy.MarkName, Position: 9}})
		}, true},
		{func() error {
			// The options of the copy, recorded beside its mark.
			return imp.ImportCheckpoints(ctx, []store.Checkpoint{{Consumer: storecopy.MarkName + ":options:1:keep=t", Position: 1}})
		}, true},
		{func() error {
			return imp.ImportCheckpoints(ctx, []store.Checkpoint{{Consumer: "someone", Position: 0}})
		}, false},
		{func() error {
			return imp.DeleteCheckpoints(ctx, []string{"someone", storecopy.MarkName, storecopy.MarkName + ":options:1:keep=t"})
		}, true},
		{func() error {
			return imp.ImportCheckpoints(ctx, []store.Checkpoint{{Consumer: "someone", Position: 0}})
		}, false},
	} {
		if err := step.write(); err != nil {
			t.Fatal(err)
		}
		if empty, err := storecopy.Empty(ctx, s); empty != step.empty || err != nil {
			t.Fatalf("Empty: %v (%v), want %v", empty, err, step.empty)
		}
	}
}

// Every adapter deletes the checkpoints named, and no others, as if they
// had never been set; a name without one is no error, and a name no
// checkpoint can have is refused.
func TestImportersDeleteCheckpoints(t *testing.T) {
	for _, adapter := range []string{"memory", "sqlite", "postgres"} {
		t.Run(adapter, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, storeURL(t, adapter))
			imp := s.(store.Importer)
			if err := imp.ImportCheckpoints(ctx, []store.Checkpoint{{Consumer: "a", Position: 5}, {Consumer: "b", Position: 6}, {Consumer: "c", Position: 7}}); err != nil {
				t.Fatal(err)
			}
			if err := imp.DeleteCheckpoints(ctx, []string{"a", "c", "never-set"}); err != nil {
				t.Fatal(err)
			}
			if err := imp.DeleteCheckpoints(ctx, nil); err != nil {
				t.Fatal(err)
			}
			got := names(all(t, s.(store.Exporter).ExportCheckpoints(ctx)), func(c store.Checkpoint) string { return c.Consumer })
			if !reflect.DeepEqual(got, []string{"b"}) {
				t.Errorf("checkpoints after the deletion: %v, want [b]", got)
			}
			if at, err := s.Checkpoint(ctx, "a"); at != 0 || err != nil {
				t.Errorf("a deleted checkpoint reads %d (%v)", at, err)
			}
			// As if never set: it may start again from any position.
			if err := s.SetCheckpoint(ctx, "a", 1); err != nil {
				t.Errorf("set a deleted checkpoint: %v", err)
			}
			if err := imp.DeleteCheckpoints(ctx, []string{"b", ""}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("delete the checkpoint of an empty name: %v, want ErrInvalid", err)
			}
			if at, err := s.Checkpoint(ctx, "b"); at != 6 || err != nil {
				t.Errorf("a refused deletion deleted: b reads %d (%v)", at, err)
			}
		})
	}
}
