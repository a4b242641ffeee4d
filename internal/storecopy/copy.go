package storecopy

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/samber/lo"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// DefaultBatch is how many events one import writes, and how many
// snapshots, states or keys, unless [Options.Batch] says otherwise.
const DefaultBatch = 1000

// MaxBatch is the largest batch a copy takes: a batch is held in memory
// whole, and a larger one buys nothing but the risk of running out of it.
const MaxBatch = 100_000

// ErrSourceChanged reports a source whose consumers committed while the
// copy ran: a checkpoint that moved (or was committed again at the same
// position, or appeared, or went) since the copy read the checkpoints at
// its start. The view states it copied may then be ahead of the
// checkpoints it copied, and a consumer in the target would apply events
// to them again, or skip events. The target stays marked unfinished; stop
// the source's consumers and run the copy again.
var ErrSourceChanged = errors.New("the source's consumers committed during the copy")

// ErrNotEmpty reports a target that holds data that is not the source's:
// the copy writes nothing to it.
var ErrNotEmpty = errors.New("target store holds other data")

// ErrSameStore reports a source and a target that are one store, named
// by two URLs that differ (a PostgreSQL URL with other parameters, say):
// the mark the copy set in the target appeared in the source. The copy
// deletes it again and writes nothing else.
var ErrSameStore = errors.New("the source and the target are one store")

// Options configure [Copy].
type Options struct {
	// Batch is how many events (or snapshots, states, keys) one import
	// writes, in one transaction of the target; 0 means [DefaultBatch].
	Batch int
	// Rebuild names consumers whose checkpoints are not copied, nor
	// their read model's schema version (annals.SchemaConsumer), so that
	// they rebuild from the start in the target: those whose read models
	// live in the application's own tables, which the copy does not
	// carry. A consumer whose view states the store keeps is refused
	// with store.ErrInvalid: its states are copied; one without a
	// checkpoint or a schema version in the source, with
	// store.ErrNotFound. A copy resumes only with the Rebuild and Keep
	// of the run it resumes, in any order ([ErrOtherOptions]).
	Rebuild []string
	// Keep names consumers whose read models live in the application's
	// own tables, as those of Rebuild do, but whose tables are in the
	// target already, copied by other means (a dump of the tables, say):
	// their checkpoints and schema versions are copied as they are. A
	// consumer named in both is refused with store.ErrInvalid, as is one
	// that has no schema version in the source (its checkpoint is copied
	// anyway). A source in which a consumer has a schema version (a
	// checkpoint named by annals.SchemaConsumer, which annals.WithSchema
	// sets), keeps no view states in the store, and is named in neither
	// Rebuild nor Keep is refused with store.ErrInvalid: its read model
	// is in tables the copy does not carry, and in the target, without
	// them, the application would fail on the first missing table.
	Keep []string
	// Progress, when not nil, is called at the start of each phase and
	// after each batch, in the goroutine that called Copy.
	Progress func(Progress)
}

// Phase names a step of the copy.
type Phase string

// The phases of a copy, in order. PhaseVerifyLog runs only when the
// target holds what an interrupted copy wrote: those events are compared
// with the source's before the copy goes on. The events a run copies are
// verified in PhaseEvents, each batch read back from the target once it
// is written.
const (
	PhaseVerifyLog    Phase = "verify log"
	PhaseEvents       Phase = "events"
	PhaseSnapshots    Phase = "snapshots"
	PhaseSubjectKeys  Phase = "subject keys"
	PhaseStates       Phase = "view states"
	PhaseCheckpoints  Phase = "checkpoints"
	PhaseVerifyOthers Phase = "verify the rest"
)

// Progress is how far a phase has gone.
type Progress struct {
	// Phase is the phase under way.
	Phase Phase
	// Done counts the items of the phase in the target so far (events
	// copied by an earlier, interrupted run included), out of Total.
	Done, Total int64
	// Run counts the items this run handled in the phase.
	Run int64
	// Elapsed is the time since the phase began.
	Elapsed time.Duration
}

// Rate returns the items handled per second by this run in the phase.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Run) / p.Elapsed.Seconds()
}

// Left estimates the time the phase still needs at its current rate; 0
// when there is no rate yet.
func (p Progress) Left() time.Duration {
	r := p.Rate()
	if r == 0 || p.Done >= p.Total {
		return 0
	}
	return time.Duration(float64(p.Total-p.Done) / r * float64(time.Second))
}

// Report is what a copy did.
type Report struct {
	// Events counts the events in the target; Copied those this run
	// wrote (fewer when it resumed an interrupted copy).
	Events, Copied int64
	// Resumed reports that the target already held part of the copy.
	Resumed bool
	// Finished reports that what the target held was a copy that had
	// finished (it was not marked unfinished): this run verified it, and
	// copied only what the source gained since.
	Finished bool
	// Streams counts the streams.
	Streams int64
	// Snapshots, SubjectKeys and States count what was copied of each.
	Snapshots, SubjectKeys, States int64
	// Checkpoints says where each consumer's checkpoint went.
	Checkpoints []CheckpointMap
	// PositionGaps counts the places where the source's log jumps over
	// positions, and FirstGap is the first: the position before the jump
	// and the one after it. The target numbers its log 1, 2, 3… without
	// them. The adapters of this module leave no gap, so in their stores
	// one is an event deleted by hand, which annals verify reports; an
	// adapter that numbers its log otherwise may leave gaps.
	PositionGaps int64
	FirstGap     [2]int64
	// TimePrecision is the finest time the target keeps; finer times
	// were truncated to it.
	TimePrecision time.Duration
	// Elapsed is how long the copy took.
	Elapsed time.Duration
}

// CheckpointMap is where a consumer's checkpoint went.
type CheckpointMap struct {
	// Consumer is the checkpoint's name.
	Consumer string
	// From is its value in the source, To in the target.
	From, To int64
	// Event is the ID of the event at From, the last the consumer
	// handled, which is at To in the target; nil for a checkpoint at 0.
	Event uuid.UUID
	// Schema reports a read model's schema version (a name made by
	// annals.SchemaConsumer), copied as it is unless Rebuild.
	Schema bool
	// Rebuild reports a consumer left out by [Options.Rebuild]: it has no
	// checkpoint in the target and rebuilds from the start.
	Rebuild bool
	// Keep reports a consumer named in [Options.Keep] (its checkpoint, or
	// its schema version): copied, and its read model's tables must be in
	// the target already.
	Keep bool
	// PastHead reports a checkpoint beyond the source's last event; it
	// was mapped to the target's last event.
	PastHead bool
}

// schemaPrefix starts the names of checkpoints that hold a read model's
// schema version rather than a position.
var schemaPrefix = annals.SchemaConsumer("")

// endpoints are the capabilities the copy needs of its two stores.
type endpoints struct {
	src    store.Store
	srcExp store.Exporter
	dst    store.Store
	dstExp store.Exporter
	dstImp store.Importer
}

// adapter returns the adapter under an application's handle.
func adapter(s store.Store) store.Store {
	if h, ok := s.(interface{ Adapter() store.Store }); ok {
		return h.Adapter()
	}
	return s
}

func open(src, dst store.Store) (endpoints, error) {
	e := endpoints{src: adapter(src), dst: adapter(dst)}
	var ok bool
	if e.srcExp, ok = e.src.(store.Exporter); !ok {
		return e, errNoExporter("source", e.src)
	}
	if e.dstExp, ok = e.dst.(store.Exporter); !ok {
		return e, fmt.Errorf("copy: the target store (%T) cannot export all it holds, which the copy checks: its adapter does not implement store.Exporter: %w", e.dst, store.ErrUnsupported)
	}
	if e.dstImp, ok = e.dst.(store.Importer); !ok {
		return e, fmt.Errorf("copy: the target store (%T) cannot import records as stored: its adapter does not implement store.Importer: %w", e.dst, store.ErrUnsupported)
	}
	return e, nil
}

// Copy copies everything src holds to dst, which must be empty or hold
// what an interrupted copy from src, with the same Rebuild and Keep,
// left, and verifies the result; see the package documentation. Either
// store may be an adapter or an application's *annals.Store. A target
// that holds other data fails with [ErrNotEmpty] before anything is
// written, one that an interrupted copy with other Rebuild or Keep left
// with [ErrOtherOptions]; a copy whose verification finds a difference
// fails with a [*MismatchError]. The report is filled in as far as the
// copy went.
func Copy(ctx context.Context, src, dst store.Store, opts Options) (Report, error) {
	start := time.Now()
	e, err := open(src, dst)
	if err != nil {
		return Report{}, err
	}
	c := &copier{endpoints: e, opts: opts, batch: opts.Batch}
	if c.batch <= 0 {
		c.batch = DefaultBatch
	}
	c.batch = min(c.batch, MaxBatch)
	c.report.TimePrecision = e.dstImp.TimePrecision()
	err = c.run(ctx)
	c.report.Elapsed = time.Since(start)
	if err != nil && c.dstMarked && resumable(err) {
		err = fmt.Errorf("%w; the target stays marked as an unfinished copy: run the same copy again, which goes on from what it holds", err)
	}
	return c.report, err
}

// resumable reports a failure of a copy that the same copy, run again,
// gets past: a store that failed (a lost connection, a full disk), not
// a difference found, a source that changed or holds what no copy
// takes, nor an interruption, whose message its caller words, nor an
// error that already says what to do.
func resumable(err error) bool {
	var mismatch *MismatchError
	return !errors.As(err, &mismatch) && !errors.Is(err, ErrSourceChanged) && !errors.Is(err, ErrNotEmpty) && !errors.Is(err, ErrOtherOptions) &&
		!errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, context.Canceled) &&
		!strings.Contains(err.Error(), "run the same copy again")
}

type copier struct {
	endpoints
	opts   Options
	batch  int
	report Report

	srcHead          int64
	srcInv, dstInv   store.Inventory
	cps              []store.Checkpoint // the source's
	resumeAfter      int64              // the source position of the last event the target holds
	log              *logCheck
	versions         map[string]int64 // the last version of each stream written, once met; see checkVersions
	marked           bool             // this run marked the target as unfinished
	dstMarked        bool             // the target holds the mark
	dstMarks         []string         // the checkpoints beside the mark that record the options, found in the target or written: deleted with it
	phase            Phase
	phaseStart       time.Time
	phaseRun, phaseN int64
}

func (c *copier) run(ctx context.Context) error {
	var err error
	// Head first: PostgreSQL numbers the events committed before it.
	if c.srcHead, err = c.src.Head(ctx); err != nil {
		return fmt.Errorf("copy: read the source's head: %w", err)
	}
	if c.srcInv, err = c.srcExp.Inventory(ctx); err != nil {
		return fmt.Errorf("copy: source: %w", err)
	}
	if c.dstInv, err = c.dstExp.Inventory(ctx); err != nil {
		return fmt.Errorf("copy: target: %w", err)
	}
	if c.cps, err = collect(c.srcExp.ExportCheckpoints(ctx)); err != nil {
		return fmt.Errorf("copy: read the source's checkpoints: %w", err)
	}
	if err := checkUnfinished(c.cps); err != nil {
		return err
	}
	if err := checkConsumers(ctx, c.srcExp, c.cps, c.opts); err != nil {
		return err
	}
	if err := c.checkTarget(ctx); err != nil {
		return err
	}
	v := newVerifier(c.report.TimePrecision)
	c.log = v.newLogCheck(c.mapping(c.cps))
	if c.dstInv.Events > 0 {
		// What an interrupted copy wrote is compared with the source
		// before the copy goes on from there.
		c.startPhase(PhaseVerifyLog, c.dstInv.Events)
		if err := c.log.walk(ctx, c.src, c.dst, c.resumeAfter, c.dstInv.Events, c.batch, c.progress); err != nil {
			return err
		}
		if v.total > 0 {
			c.log.compareStreams()
			return v.failure()
		}
	}
	if err := c.copyEvents(ctx); err != nil {
		return err
	}
	if err := c.log.finish(ctx, c.src, c.dst); err != nil {
		return err
	}
	c.report.Streams = int64(len(v.streams))
	c.report.Checkpoints = c.log.cps
	c.report.PositionGaps, c.report.FirstGap = c.log.gaps, c.log.firstGap
	if err := v.failure(); err != nil {
		return err
	}
	if c.report.Snapshots, err = copyAll(ctx, c, PhaseSnapshots, c.srcInv.Snapshots, v.checkSnapshots(c.srcExp.ExportSnapshots(ctx)), c.dstImp.ImportSnapshots); err != nil {
		return err
	}
	if c.report.SubjectKeys, err = copyAll(ctx, c, PhaseSubjectKeys, c.srcInv.SubjectKeys, c.srcExp.ExportSubjectKeys(ctx), c.dstImp.ImportSubjectKeys); err != nil {
		return err
	}
	if c.report.States, err = copyAll(ctx, c, PhaseStates, c.srcInv.States, c.srcExp.ExportStates(ctx), c.dstImp.ImportStates); err != nil {
		return err
	}
	// The checkpoints were read at the start, the states just now: they
	// go together only if no consumer committed in between.
	if err := c.checkConsumersStill(ctx, v, false); err != nil {
		return err
	}
	if err := c.copyCheckpoints(ctx, c.log.cps); err != nil {
		return err
	}
	c.startPhase(PhaseVerifyOthers, 5)
	if err := v.compareRest(ctx, c.srcExp, c.dstExp, c.log.cps, c.progress); err != nil {
		return err
	}
	// And again, after the states were compared once more: a consumer
	// that committed since would fail the comparison, and this says why.
	if err := c.checkConsumersStill(ctx, v, true); err != nil {
		return err
	}
	c.progress(5, 5)
	if err := v.failure(); err != nil {
		return err
	}
	return c.unmark(ctx)
}

func (c *copier) startPhase(p Phase, total int64) {
	c.phase, c.phaseStart, c.phaseRun, c.phaseN = p, time.Now(), 0, total
	c.progress(0, 0)
}

// progress reports done items of the phase, run of them by this run.
func (c *copier) progress(done, run int64) {
	c.phaseRun = run
	if c.opts.Progress != nil {
		c.opts.Progress(Progress{Phase: c.phase, Done: done, Total: max(c.phaseN, done), Run: run, Elapsed: time.Since(c.phaseStart)})
	}
}

// checkTarget finds whether the target is empty, holds what an
// interrupted copy from this source left, or holds other data.
func (c *copier) checkTarget(ctx context.Context) error {
	if c.dstInv.Empty() {
		return nil
	}
	c.report.Resumed = true
	notEmpty := func(format string, args ...any) error {
		return fmt.Errorf("copy: "+format+"; copy into an empty store: %w", append(args, ErrNotEmpty)...)
	}
	if c.dstInv.Events > 0 {
		if c.dstInv.Events > c.srcInv.Events {
			return notEmpty("the target holds %d events, the source %d", c.dstInv.Events, c.srcInv.Events)
		}
		srcFirst, err := c.src.ReadLog(ctx, store.LogQuery{Limit: 1})
		if err != nil {
			return fmt.Errorf("copy: source: %w", err)
		}
		dstFirst, err := c.dst.ReadLog(ctx, store.LogQuery{Limit: 1})
		if err != nil {
			return fmt.Errorf("copy: target: %w", err)
		}
		dstLast, err := c.dst.ReadLog(ctx, store.LogQuery{After: c.dstInv.Events - 1, Limit: 1})
		if err != nil {
			return fmt.Errorf("copy: target: %w", err)
		}
		if len(srcFirst) == 0 || len(dstFirst) == 0 || srcFirst[0].ID != dstFirst[0].ID {
			return notEmpty("the target's first event is not the source's")
		}
		if len(dstLast) != 1 || dstLast[0].Position != c.dstInv.Events {
			return notEmpty("the target's %d events are not numbered 1 to %d as a copy's are", c.dstInv.Events, c.dstInv.Events)
		}
		last := dstLast[0]
		var found store.Record
		for r, err := range c.src.ReadStream(ctx, last.StreamID, last.Version) {
			if err != nil {
				return fmt.Errorf("copy: source: %w", err)
			}
			found = r
			break
		}
		if found.ID != last.ID || found.Version != last.Version || found.Position == 0 {
			return notEmpty("the target's last event, %s@%d (%v), is not the source's", last.StreamID, last.Version, last.ID)
		}
		c.resumeAfter = found.Position
	}
	// The target's checkpoints: the mark of an unfinished copy, and the
	// consumers'.
	held := map[string]int64{}
	var marks []store.Checkpoint
	if c.dstInv.Checkpoints > 0 {
		for cp, err := range c.dstExp.ExportCheckpoints(ctx) {
			if err != nil {
				return fmt.Errorf("copy: target: %w", err)
			}
			if IsMark(cp.Consumer) {
				c.dstMarked = c.dstMarked || cp.Consumer == MarkName
				marks = append(marks, cp)
				continue
			}
			held[cp.Consumer] = cp.Position
		}
	}
	// A copy goes on only with the options it was run with.
	if err := c.checkOptions(marks); err != nil {
		return err
	}
	// The copy never writes the checkpoint of a consumer it leaves out:
	// whoever did ran the consumer on the target.
	for _, name := range c.opts.Rebuild {
		for _, cp := range []string{name, annals.SchemaConsumer(name)} {
			if _, ok := held[cp]; !ok {
				continue
			}
			if c.dstMarked {
				return notEmpty("the target holds a checkpoint of %q, which -rebuild %s leaves out, so no run of this copy with -rebuild %[2]s wrote it: an earlier run without -rebuild %[2]s did, or the application ran on this half-copied target (the copy into it has not finished) and its consumers handled part of the log; run the copy again as that earlier run was (without -rebuild %[2]s), or start over: empty the target (drop its tables, or remove its file) and the read models the application built from it in its own tables, then run the copy again",
					cp, name)
			}
			return notEmpty("the target holds a checkpoint of %q, which -rebuild %s leaves out, so no copy with -rebuild %[2]s wrote it: the application ran on this target after a copy into it finished, or an earlier copy ran without -rebuild %[2]s; a finished copy needs no other run, so use the target as it is, or start over: empty the target (drop its tables, or remove its file) and the read models the application built from it in its own tables, then run the copy again",
				cp, name)
		}
	}
	// Everything else the target holds must be the source's too.
	type kind struct {
		what  string
		n     int64
		names func(func(string) bool) error
		src   func(func(string) bool) error
	}
	kinds := []kind{
		{"checkpoint", int64(len(held)), names(exceptMark(c.dstExp.ExportCheckpoints(ctx)), func(x store.Checkpoint) string { return x.Consumer }),
			names(c.srcExp.ExportCheckpoints(ctx), func(x store.Checkpoint) string { return x.Consumer })},
		{"snapshot of stream", c.dstInv.Snapshots, names(c.dstExp.ExportSnapshots(ctx), func(x snapshot.Snapshot) string { return x.StreamID }),
			names(c.srcExp.ExportSnapshots(ctx), func(x snapshot.Snapshot) string { return x.StreamID })},
		{"view state", c.dstInv.States, names(c.dstExp.ExportStates(ctx), func(x store.State) string { return x.View + "/" + x.Key }),
			names(c.srcExp.ExportStates(ctx), func(x store.State) string { return x.View + "/" + x.Key })},
		{"key of data subject", c.dstInv.SubjectKeys, names(c.dstExp.ExportSubjectKeys(ctx), func(x store.SubjectKey) string { return x.Subject }),
			names(c.srcExp.ExportSubjectKeys(ctx), func(x store.SubjectKey) string { return x.Subject })},
	}
	for _, k := range kinds {
		if k.n == 0 {
			continue
		}
		held := map[string]bool{}
		if err := k.names(func(n string) bool { held[n] = true; return true }); err != nil {
			return fmt.Errorf("copy: target: %w", err)
		}
		if err := k.src(func(n string) bool { delete(held, n); return len(held) > 0 }); err != nil {
			return fmt.Errorf("copy: source: %w", err)
		}
		if len(held) > 0 {
			extra := slices.Sorted(func(yield func(string) bool) {
				for n := range held {
					if !yield(n) {
						return
					}
				}
			})
			return notEmpty("the target holds %d %s %q that the source does not (%d in all)", len(extra[:min(len(extra), 5)]), k.what, extra[:min(len(extra), 5)], len(extra))
		}
	}
	// A checkpoint the target holds may only move forward: one ahead of
	// the source's would be moved back, and its consumer would handle
	// events again. (A position maps to one no greater, and a schema
	// version is copied as it is.)
	for _, cp := range c.cps {
		if at, ok := held[cp.Consumer]; ok && at > cp.Position {
			return notEmpty("the target's checkpoint %q is at %d, ahead of the source's %d, and would move back", cp.Consumer, at, cp.Position)
		}
	}
	c.report.Finished = !c.dstMarked
	return nil
}

// names turns an export into a walk over the names of its items.
func names[T any](seq iter.Seq2[T, error], name func(T) string) func(func(string) bool) error {
	return func(f func(string) bool) error {
		for x, err := range seq {
			if err != nil {
				return err
			}
			if !f(name(x)) {
				return nil
			}
		}
		return nil
	}
}

func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for x, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// copyEvents copies the source's log after resumeAfter, up to the head
// read when the copy began, in batches, each one import, and verifies
// each batch by reading it back from the target. Three things overlap:
// the next batch is read from the source while one is written, and a
// batch written is read back and compared while the next is written.
func (c *copier) copyEvents(ctx context.Context) (err error) {
	c.startPhase(PhaseEvents, c.srcInv.Events)
	done := c.dstInv.Events
	c.progress(done, 0)
	c.report.Events = done
	if c.resumeAfter >= c.srcHead {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages, stop := prefetch(ctx, c.src, c.resumeAfter, c.srcHead, c.batch)
	defer stop()
	written := make(chan writtenPage, 1)
	verified := make(chan error, 1)
	go func() { verified <- c.verifyWritten(ctx, written) }()
	defer func() {
		close(written)
		if verr := <-verified; err == nil {
			err = verr
		}
	}()
	var run int64
	for p := range pages {
		if p.err != nil {
			return fmt.Errorf("copy: read the source's log: %w", p.err)
		}
		if err := c.checkVersions(ctx, p.recs); err != nil {
			return err
		}
		out := slices.Clone(p.recs)
		for i := range out {
			out[i].Position = done + int64(i) + 1
		}
		if err := c.mark(ctx); err != nil {
			return err
		}
		if err := c.dstImp.ImportEvents(ctx, out); err != nil {
			return fmt.Errorf("copy: write events to the target: %w", err)
		}
		select {
		case written <- writtenPage{src: p.recs, after: done}:
		case err := <-verified:
			verified <- err // for the deferred wait
			return err
		}
		done += int64(len(p.recs))
		run += int64(len(p.recs))
		c.report.Events, c.report.Copied = done, run
		c.progress(done, run)
	}
	return ctx.Err()
}

// checkVersions refuses a page of the source's log in which a stream's
// version does not follow the last one written (a source edited by hand,
// whose row was deleted), before the page is written: the target then
// holds the events before it, each stream's versions contiguous from 1
// (though streams that go on past the page are cut short, and the target
// stays marked unfinished), rather than a stream that no load would
// accept. A stream that an interrupted copy began is looked up in the
// target once.
func (c *copier) checkVersions(ctx context.Context, recs []store.Record) error {
	if c.versions == nil {
		c.versions = map[string]int64{}
	}
	for _, r := range recs {
		last, ok := c.versions[r.StreamID]
		if !ok && r.Version > 1 && c.dstInv.Events > 0 {
			for t, err := range c.dst.ReadStream(ctx, r.StreamID, r.Version-1) {
				if err != nil {
					return fmt.Errorf("copy: target: %w", err)
				}
				last = t.Version
			}
		}
		if r.Version != last+1 {
			return fmt.Errorf("copy: the source's stream %q has version %d after %d, at position %d, where versions run 1, 2, 3…; nothing from this page of %d events on was copied; run annals verify on the source: %w",
				r.StreamID, r.Version, last, r.Position, len(recs), store.ErrCorrupt)
		}
		c.versions[r.StreamID] = r.Version
	}
	return nil
}

// writtenPage is a page of the source's log, written to the target after
// position after.
type writtenPage struct {
	src   []store.Record
	after int64
}

// verifyWritten reads back each page written and compares it with the
// source's, until written is closed or a read fails.
func (c *copier) verifyWritten(ctx context.Context, written <-chan writtenPage) error {
	for w := range written {
		back, err := c.dst.ReadLog(ctx, store.LogQuery{After: w.after, Limit: len(w.src)})
		if err != nil {
			return fmt.Errorf("copy: verify: read the target's log: %w", err)
		}
		c.log.pairs(w.src, back)
	}
	return nil
}

// page is a page of the log, or the error that ended the reading.
type page struct {
	recs []store.Record
	err  error
}

// prefetch reads the log of s after position after, up to position until
// (to its end when until is 0), in pages of limit records, one page
// ahead of the reader of the channel. stop ends it early; the channel is
// closed after the last page or an error.
func prefetch(ctx context.Context, s store.Store, after, until int64, limit int) (<-chan page, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan page, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer close(ch)
		for until == 0 || after < until {
			recs, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: limit})
			if until > 0 {
				// Events appended after the copy began are not copied.
				recs = recs[:countBelow(recs, until)]
			}
			if err == nil && len(recs) == 0 {
				return
			}
			select {
			case ch <- page{recs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			after = recs[len(recs)-1].Position
		}
	}()
	return ch, func() { cancel(); <-finished }
}

// countBelow counts the records of a page whose positions are at most
// until.
func countBelow(recs []store.Record, until int64) int {
	n, _ := slices.BinarySearchFunc(recs, until+1, func(r store.Record, p int64) int {
		return int(r.Position - p)
	})
	return n
}

// copyAll copies one kind of item in batches.
func copyAll[T any](ctx context.Context, c *copier, p Phase, total int64, seq iter.Seq2[T, error], write func(context.Context, []T) error) (int64, error) {
	c.startPhase(p, total)
	var n int64
	batch := make([]T, 0, c.batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := c.mark(ctx); err != nil {
			return err
		}
		if err := write(ctx, batch); err != nil {
			return fmt.Errorf("copy %s: %w", p, err)
		}
		n += int64(len(batch))
		batch = batch[:0]
		c.progress(n, n)
		return nil
	}
	for x, err := range seq {
		if err != nil {
			return n, fmt.Errorf("copy %s: read the source: %w", p, err)
		}
		batch = append(batch, x)
		if len(batch) == c.batch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// mapping returns the checkpoints to map, with the ones to copy as they
// are or to leave out marked.
func (c *copier) mapping(cps []store.Checkpoint) []CheckpointMap {
	rebuild, keep := map[string]bool{}, map[string]bool{}
	for _, name := range c.opts.Rebuild {
		rebuild[name] = true
		rebuild[annals.SchemaConsumer(name)] = true
	}
	for _, name := range c.opts.Keep {
		keep[name] = true
		keep[annals.SchemaConsumer(name)] = true
	}
	out := make([]CheckpointMap, len(cps))
	for i, cp := range cps {
		out[i] = CheckpointMap{Consumer: cp.Consumer, From: cp.Position, Rebuild: rebuild[cp.Consumer], Keep: keep[cp.Consumer],
			Schema: strings.HasPrefix(cp.Consumer, schemaPrefix)}
		if out[i].Schema {
			out[i].To = cp.Position
		}
	}
	return out
}

// copyCheckpoints writes the mapped checkpoints to the target, with the
// times the source recorded.
func (c *copier) copyCheckpoints(ctx context.Context, maps []CheckpointMap) error {
	times := map[string]time.Time{}
	for _, cp := range c.cps {
		times[cp.Consumer] = cp.Time
	}
	var out []store.Checkpoint
	for _, m := range maps {
		if !m.Rebuild {
			out = append(out, store.Checkpoint{Consumer: m.Consumer, Position: m.To, Time: times[m.Consumer]})
		}
	}
	c.startPhase(PhaseCheckpoints, int64(len(out)))
	for chunk := range slices.Chunk(out, c.batch) {
		if err := c.mark(ctx); err != nil {
			return err
		}
		if err := c.dstImp.ImportCheckpoints(ctx, chunk); err != nil {
			return fmt.Errorf("copy checkpoints: %w", err)
		}
	}
	c.progress(int64(len(out)), int64(len(out)))
	return nil
}

// checkConsumersStill reads the source's checkpoints again and fails with
// [ErrSourceChanged] when one differs from what the copy read at its
// start: another position, another time (a commit that left it where it
// was, or a rebuild that brought it back there), or a checkpoint that
// appeared or went. Every commit of a consumer sets its checkpoint's
// time, as do the adapters of this module (the memory store keeps no
// time, so there only a move is seen); the view states are written in
// the same transactions, so states read between two equal readings of
// the checkpoints go with them. v's differences are counted in the
// error, since they may follow from the same cause. written says that
// the checkpoints are in the target already: one that went back in the
// source since (a rebuild) is then ahead of the source's, which a copy
// run again refuses to move back, so the error says to start over.
func (c *copier) checkConsumersStill(ctx context.Context, v *verifier, written bool) error {
	now, err := collect(c.srcExp.ExportCheckpoints(ctx))
	if err != nil {
		return fmt.Errorf("copy: read the source's checkpoints again: %w", err)
	}
	before := lo.KeyBy(c.cps, func(cp store.Checkpoint) string { return cp.Consumer })
	var changed []string
	back := false
	for _, cp := range now {
		was, ok := before[cp.Consumer]
		delete(before, cp.Consumer)
		switch {
		case !ok:
			changed = append(changed, fmt.Sprintf("checkpoint %q appeared, at %d", cp.Consumer, cp.Position))
		case was.Position != cp.Position:
			changed = append(changed, fmt.Sprintf("checkpoint %q moved from %d to %d", cp.Consumer, was.Position, cp.Position))
			back = back || cp.Position < was.Position
		case !was.Time.Equal(cp.Time):
			changed = append(changed, fmt.Sprintf("checkpoint %q was committed again, at %d as before (at %v, after %v)",
				cp.Consumer, cp.Position, cp.Time.Format(time.RFC3339Nano), was.Time.Format(time.RFC3339Nano)))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(before)) {
		changed = append(changed, fmt.Sprintf("checkpoint %q, at %d, was deleted", name, before[name].Position))
	}
	if len(changed) == 0 {
		return nil
	}
	list := strings.Join(changed[:min(len(changed), 5)], "; ")
	if len(changed) > 5 {
		list += fmt.Sprintf("; and %d more", len(changed)-5)
	}
	also := ""
	if v.total > 0 {
		also = fmt.Sprintf(" (the verification found %d differences besides, most likely from the same cause)", v.total)
	}
	again := "run the same copy again, which goes on from this target (it stays marked unfinished until then)"
	if written && back {
		again = "empty the target (drop its tables, or remove its file) and run the copy again: the checkpoints this run wrote there are ahead of the source's that went back, and a copy does not move a checkpoint back"
	}
	return fmt.Errorf("copy: a consumer of the source committed while the copy ran: %s; the view states and checkpoints copied may not go together, and a consumer in the target would handle events again or skip them%s; stop every consumer of the source (the application's processes, ops replay and rebuild), then %s: %w",
		list, also, again, ErrSourceChanged)
}

// CheckSource refuses what [Copy] would refuse for what src holds and
// opts say, with the same errors, before a target is opened: opening one
// may create it. Copy checks again.
func CheckSource(ctx context.Context, src store.Store, opts Options) error {
	exp, ok := adapter(src).(store.Exporter)
	if !ok {
		return errNoExporter("source", src)
	}
	cps, err := collect(exp.ExportCheckpoints(ctx))
	if err != nil {
		return fmt.Errorf("copy: read the source's checkpoints: %w", err)
	}
	if err := checkUnfinished(cps); err != nil {
		return err
	}
	return checkConsumers(ctx, exp, cps, opts)
}

func errNoExporter(which string, s store.Store) error {
	return fmt.Errorf("copy: the %s store (%T) cannot export all it holds: its adapter does not implement store.Exporter: %w", which, adapter(s), store.ErrUnsupported)
}

// checkConsumers refuses what opts say of the source's consumers, with
// checkpoints cps, before anything is written. A consumer to rebuild
// that the source does not have is refused: one misspelt would keep its
// checkpoint and resume without its read model; so is a view whose
// states the store keeps: the copy carries its states, and from a
// checkpoint of 0 it would apply the whole log to them again. A
// consumer to keep must have a schema version, and no consumer may be
// both rebuilt and kept. Last, a consumer with a schema version whose
// read model is not in the store (it keeps no view states there) must be
// named in Rebuild or Keep: its tables are the application's, which the
// copy does not carry, and copied as it is its schema version would tell
// the application on the target that they exist. The view states are
// read only when there is a consumer to rebuild or such a schema version
// to check.
func checkConsumers(ctx context.Context, src store.Exporter, cps []store.Checkpoint, opts Options) error {
	has := map[string]bool{}
	for _, cp := range cps {
		has[cp.Consumer] = true
	}
	for _, name := range opts.Rebuild {
		if slices.Contains(opts.Keep, name) {
			return fmt.Errorf("copy: consumer %q is named in both -rebuild and -keep: -rebuild leaves out its checkpoint and schema version, so that it rebuilds from the start in the target, -keep copies them, for tables that are in the target already; name it in one: %w", name, store.ErrInvalid)
		}
		// A projection that has run its migrations but handled no batch
		// yet has a schema version alone.
		if !has[name] && !has[annals.SchemaConsumer(name)] {
			return fmt.Errorf("copy: consumer %q, to be rebuilt, has no checkpoint in the source; check its name (annals consumers lists them): %w", name, store.ErrNotFound)
		}
	}
	for _, name := range opts.Keep {
		switch schema := annals.SchemaConsumer(name); {
		case has[schema]:
		case has[name]:
			return fmt.Errorf("copy: consumer %q, to be kept, has no schema version in the source (no checkpoint %q, which annals.WithSchema sets): -keep is for read models in the application's own tables; its checkpoint is copied anyway: leave it out of -keep: %w", name, schema, store.ErrInvalid)
		default:
			return fmt.Errorf("copy: consumer %q, to be kept, has no checkpoint in the source; check its name (annals consumers lists them): %w", name, store.ErrNotFound)
		}
	}
	// The consumers with a schema version that no flag names.
	unnamed := map[string]bool{}
	for _, cp := range cps {
		if name, ok := strings.CutPrefix(cp.Consumer, schemaPrefix); ok && !slices.Contains(opts.Rebuild, name) && !slices.Contains(opts.Keep, name) {
			unnamed[name] = true
		}
	}
	if len(opts.Rebuild) == 0 && len(unnamed) == 0 {
		return nil
	}
	for st, err := range src.ExportStates(ctx) {
		if err != nil {
			return fmt.Errorf("copy: read the source's view states: %w", err)
		}
		if slices.Contains(opts.Rebuild, st.View) {
			return fmt.Errorf("copy: consumer %q keeps its read model in the store, as view states, which the copy carries; it resumes at its checkpoint in the target, and rebuilt from the start it would apply every event to its copied states again: leave it out of -rebuild: %w", st.View, store.ErrInvalid)
		}
		// A view whose states the store keeps is copied whole.
		delete(unnamed, st.View)
		if len(opts.Rebuild) == 0 && len(unnamed) == 0 {
			return nil
		}
	}
	if len(unnamed) == 0 {
		return nil
	}
	list := slices.Sorted(maps.Keys(unnamed))
	if len(list) == 1 {
		name := list[0]
		return fmt.Errorf("copy: consumer %q keeps its read model in the application's own tables (it has a schema version, %q, from annals.WithSchema), which the copy does not carry: copied as it is, the schema version would tell the application on the target that its tables are there, and it would fail without them; name it with -rebuild %[1]s, so that it rebuilds from the start in the target, or with -keep %[1]s if its tables are in the target already: %[3]w",
			name, annals.SchemaConsumer(name), store.ErrInvalid)
	}
	quoted := make([]string, len(list))
	for i, name := range list {
		quoted[i] = strconv.Quote(name)
	}
	return fmt.Errorf("copy: consumers %s each keep their read model in the application's own tables (each has a schema version, from annals.WithSchema), which the copy does not carry: copied as they are, the schema versions would tell the application on the target that their tables are there, and it would fail without them; name each with -rebuild NAME, so that it rebuilds from the start in the target, or with -keep NAME if its tables are in the target already: %w",
		strings.Join(quoted, ", "), store.ErrInvalid)
}
