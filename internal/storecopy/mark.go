package storecopy

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// MarkName is the checkpoint by which a copy marks its target as
// unfinished: the copy sets it, in a transaction of its own, before the
// first thing it writes to the target, and deletes it once the whole
// copy is written and verified. No application's consumer is named so
// (the name is reserved), so none reads it; see the package
// documentation.
const MarkName = annals.UnfinishedCopy

// ErrUnfinished reports a store that an annals copy into has not
// finished: it may lack part of its source's events, snapshots, subject
// keys, view states and checkpoints.
var ErrUnfinished = annals.ErrUnfinishedCopy

// Unfinished is the mark of a copy that has not finished, as its target
// holds it.
type Unfinished struct {
	// Began is when the last run of the copy began writing to the
	// store; zero when the store does not record when a checkpoint
	// moved (the memory store).
	Began time.Time
	// Events counts the events the source held when that run began.
	Events int64
}

// UnfinishedOf returns the mark a checkpoint is, if it is the mark.
func UnfinishedOf(cp store.Checkpoint) (Unfinished, bool) {
	if cp.Consumer != MarkName {
		return Unfinished{}, false
	}
	return Unfinished{Began: cp.Time, Events: cp.Position - 1}, true
}

// String says what the mark means and what to do.
func (u Unfinished) String() string {
	return fmt.Sprintf("an annals copy into this store has not finished; run the same copy again before using it (%s; until a run goes through, the store may lack events, snapshots, view states, checkpoints and data subjects' keys, without which personal data reads as forgotten, of its source)",
		u.detail())
}

// detail says when the copy's last run began, and what it copied.
func (u Unfinished) detail() string {
	began := ""
	if !u.Began.IsZero() {
		began = " at " + u.Began.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("its last run began writing%s, to copy %d events", began, u.Events)
}

// FindUnfinished returns the mark of an unfinished copy that s holds, if
// it holds one. s may be an adapter or an application's *annals.Store.
func FindUnfinished(ctx context.Context, s store.Store) (Unfinished, bool, error) {
	exp, ok := adapter(s).(store.Exporter)
	if !ok {
		return Unfinished{}, false, fmt.Errorf("the store's adapter (%T) cannot list its checkpoints: %w", adapter(s), store.ErrUnsupported)
	}
	return findMark(exp.ExportCheckpoints(ctx))
}

func findMark(cps iter.Seq2[store.Checkpoint, error]) (Unfinished, bool, error) {
	for cp, err := range cps {
		if err != nil {
			return Unfinished{}, false, err
		}
		if u, ok := UnfinishedOf(cp); ok {
			return u, true, nil
		}
	}
	return Unfinished{}, false, nil
}

// Empty reports whether s holds nothing, or nothing but the mark of a
// copy that wrote nothing else: a target that a copy may remove.
func Empty(ctx context.Context, s store.Store) (bool, error) {
	exp, ok := adapter(s).(store.Exporter)
	if !ok {
		return false, nil
	}
	inv, err := exp.Inventory(ctx)
	if err != nil || inv.Empty() {
		return err == nil, err
	}
	if inv != (store.Inventory{Checkpoints: 1}) {
		return false, nil
	}
	_, marked, err := findMark(exp.ExportCheckpoints(ctx))
	return marked, err
}

// checkUnfinished refuses a source, with checkpoints cps, that is itself
// the target of a copy that has not finished: it may lack part of what
// its own source holds.
func checkUnfinished(cps []store.Checkpoint) error {
	for _, cp := range cps {
		if u, ok := UnfinishedOf(cp); ok {
			return fmt.Errorf("copy: the source is the target of another copy, which has not finished (%v), so it may lack part of what that copy's source holds; finish that copy first by running it again: %w", u.detail(), ErrUnfinished)
		}
	}
	return nil
}

// exceptMark yields the checkpoints of an export but the mark.
func exceptMark(cps iter.Seq2[store.Checkpoint, error]) iter.Seq2[store.Checkpoint, error] {
	return func(yield func(store.Checkpoint, error) bool) {
		for cp, err := range cps {
			if err == nil && cp.Consumer == MarkName {
				continue
			}
			if !yield(cp, err) {
				return
			}
		}
	}
}

// mark marks the target as unfinished, once per run, before the run's
// first write to it: a run killed at any point after leaves the mark,
// committed before anything it covers.
func (c *copier) mark(ctx context.Context) error {
	if c.marked {
		return nil
	}
	// Its position is the events to copy, plus 1: never 0, which a
	// store does not tell from no checkpoint (annals.Open reads it so).
	err := c.dstImp.ImportCheckpoints(ctx, []store.Checkpoint{{Consumer: MarkName, Position: c.srcInv.Events + 1, Time: time.Now().UTC()}})
	if err != nil {
		return fmt.Errorf("copy: mark the target as an unfinished copy, before writing to it: %w", err)
	}
	c.marked, c.dstMarked = true, true
	return nil
}

// unmark deletes the mark of a target that is now a whole, verified copy.
func (c *copier) unmark(ctx context.Context) error {
	if !c.dstMarked {
		return nil
	}
	if err := c.dstImp.DeleteCheckpoints(ctx, []string{MarkName}); err != nil {
		return fmt.Errorf("copy: the target is a whole copy, verified, but the mark that says it is unfinished could not be deleted; run the same copy again, which deletes it: %w", err)
	}
	c.dstMarked = false
	return nil
}
