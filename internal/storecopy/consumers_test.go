package storecopy_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
)

// A consumer of the source that commits while the copy runs fails the
// copy with ErrSourceChanged, which names it, whenever it commits: before
// the view states are read (which would copy states ahead of the
// checkpoint read at the start, to which the target's consumer would
// apply the same events again), while they are verified, in place (a
// commit that leaves the checkpoint where it was), as a consumer that
// begins, or rebuilding (back to 0). The target stays marked unfinished;
// run again with the consumer stopped, the copy ends with states and
// checkpoints that go together, as the source's do. Only a rebuild after
// the checkpoints were written leaves a target that a run again refuses
// (its checkpoint is ahead of the source's), and the error says to start
// over.
func TestCopyFailsWhenAConsumerCommitsMeanwhile(t *testing.T) {
	ctx := context.Background()
	save := func(view string) func(store.StateTx) error {
		return func(tx store.StateTx) error { return tx.SaveState(ctx, view, "acct-000", []byte(`"moved"`)) }
	}
	deleteStates := func(view string) func(store.StateTx) error {
		return func(tx store.StateTx) error { return tx.DeleteStates(ctx, view) }
	}
	for _, c := range []struct {
		name   string
		at     storecopy.Phase
		commit func(s store.StateStore, head int64) error
		want   string
		timed  bool // seen by the checkpoint's time alone
		// restart: the first run wrote the checkpoint, which the
		// consumer then moved back, so a run again refuses the target
		// and the copy starts over in an empty one.
		restart bool
	}{
		{"moves before the states are read", storecopy.PhaseSnapshots,
			func(s store.StateStore, head int64) error {
				return s.Commit(ctx, "balances", head/2, head, save("balances"))
			},
			`checkpoint "balances" moved from 31 to 63`, false, false},
		{"moves while they are verified", storecopy.PhaseVerifyOthers,
			func(s store.StateStore, head int64) error {
				return s.Commit(ctx, "balances", head/2, head, save("balances"))
			},
			`checkpoint "balances" moved from 31 to 63`, false, false},
		{"commits in place", storecopy.PhaseSubjectKeys,
			func(s store.StateStore, head int64) error {
				return s.Commit(ctx, "balances", head/2, head/2, save("balances"))
			},
			`checkpoint "balances" was committed again, at 31 as before`, true, false},
		{"begins", storecopy.PhaseSnapshots,
			func(s store.StateStore, head int64) error { return s.Commit(ctx, "late", 0, head, save("late")) },
			`checkpoint "late" appeared, at 63`, false, false},
		// A rebuild before the checkpoints are written: the run again
		// writes them as they are then.
		{"rebuilds before the checkpoints are written", storecopy.PhaseStates,
			func(s store.StateStore, head int64) error {
				return s.Commit(ctx, "balances", head/2, 0, deleteStates("balances"))
			},
			`checkpoint "balances" moved from 31 to 0; `, false, false},
		{"rebuilds while they are verified", storecopy.PhaseVerifyOthers,
			func(s store.StateStore, head int64) error {
				return s.Commit(ctx, "balances", head/2, 0, deleteStates("balances"))
			},
			`then empty the target (drop its tables, or remove its file) and run the copy again`, false, true},
	} {
		for _, adapter := range []string{"sqlite", "postgres", "memory"} {
			if adapter == "memory" && c.timed {
				continue // the memory store keeps no checkpoint's time
			}
			t.Run(c.name+"/"+adapter, func(t *testing.T) {
				src, dst := open(t, storeURL(t, adapter)), open(t, storeURL(t, "sqlite"))
				head := fill(t, src, 7, 9)
				fired := false
				_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: 10, Keep: filled, Progress: func(p storecopy.Progress) {
					if p.Phase == c.at && !fired {
						fired = true
						if err := c.commit(src.(store.StateStore), head); err != nil {
							t.Fatal(err)
						}
					}
				}})
				if !fired {
					t.Fatalf("the copy never reached phase %q", c.at)
				}
				if !errors.Is(err, storecopy.ErrSourceChanged) || !strings.Contains(err.Error(), c.want) ||
					!strings.Contains(err.Error(), "stop every consumer of the source") {
					t.Fatalf("copy while a consumer commits: %v; want ErrSourceChanged and %q", err, c.want)
				}
				if _, marked, err := storecopy.FindUnfinished(ctx, dst); err != nil || !marked {
					t.Errorf("the target is not marked unfinished: %v", err)
				}
				// Stopped, the consumer lets the copy end.
				if c.restart {
					if _, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: 10, Keep: filled}); !errors.Is(err, storecopy.ErrNotEmpty) {
						t.Fatalf("copy again into a target whose checkpoint is ahead: %v, want ErrNotEmpty", err)
					}
					dst = open(t, storeURL(t, "sqlite"))
				}
				if _, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: 10, Keep: filled}); err != nil {
					t.Fatalf("copy again: %v", err)
				}
				a, b := dump(t, src), dump(t, dst)
				if !reflect.DeepEqual(a.States, b.States) {
					t.Errorf("states:\n%v\n%v", a.States, b.States)
				}
				cps := func(c contents) []string {
					return names(c.Checkpoints, func(cp store.Checkpoint) string { return fmt.Sprint(cp.Consumer, "=", cp.Position) })
				}
				if !reflect.DeepEqual(cps(a), cps(b)) {
					t.Errorf("checkpoints:\n%v\n%v", a.Checkpoints, b.Checkpoints)
				}
			})
		}
	}
}
