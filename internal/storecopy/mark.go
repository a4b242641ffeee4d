package storecopy

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/samber/lo"

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

// ErrOtherOptions reports a target that an unfinished copy marked, whose
// last run had other options than this run's among those that change
// what a copy writes ([Options.Rebuild] and [Options.Keep]): resumed,
// the target would hold part of one copy and part of another, such as
// the schema version of a read model whose tables the target lacks. The
// copy writes nothing to it.
var ErrOtherOptions = errors.New("the target holds an unfinished copy run with other options")

// optionsPrefix begins the names of the checkpoints that record, beside
// the mark, the options of the run that set it (see Options.recorded).
// They are part of the mark: written with it, deleted with it, never
// copied nor listed as consumers.
const optionsPrefix = MarkName + ":options:"

// optionsChunk is the most bytes of the recorded options that one
// checkpoint's name holds: a name is at most [store.MaxStreamIDLen]
// bytes, with the prefix and the chunk's number.
const optionsChunk = store.MaxStreamIDLen - len(optionsPrefix) - 8

// IsMark reports whether a checkpoint's name is the mark of an unfinished
// copy or one of the checkpoints that record, beside it, the options of
// the copy: checkpoints that are no consumer's.
func IsMark(name string) bool {
	return name == MarkName || strings.HasPrefix(name, optionsPrefix)
}

// Unfinished is the mark of a copy that has not finished, as its target
// holds it.
type Unfinished struct {
	// Began is when the last run of the copy began writing to the
	// store; zero when the store does not record when a checkpoint
	// moved (the memory store).
	Began time.Time
	// Events counts the events the source held when that run began.
	Events int64
	// Flags are the flags of annals copy that give the options of that
	// run which change what it writes ("-rebuild orders-table", say;
	// empty with none of them), which a run that resumes the copy must
	// repeat; see [ErrOtherOptions]. Recorded is false when that run
	// recorded none, as a copy of an older version of this module did not.
	Flags    string
	Recorded bool
}

// UnfinishedIn returns the mark of an unfinished copy among a store's
// checkpoints, with the options its last run recorded, if the store
// holds the mark.
func UnfinishedIn(cps []store.Checkpoint) (Unfinished, bool, error) {
	mark, ok := lo.Find(cps, func(cp store.Checkpoint) bool { return cp.Consumer == MarkName })
	if !ok {
		return Unfinished{}, false, nil
	}
	u := Unfinished{Began: mark.Time, Events: mark.Position - 1}
	opts, recorded, err := recordedOptions(cps)
	if err != nil {
		return u, true, err
	}
	if recorded {
		u.Flags, u.Recorded = flagsOf(opts), true
	}
	return u, true, nil
}

// String says what the mark means and what to do.
func (u Unfinished) String() string {
	return fmt.Sprintf("an annals copy into this store has not finished; run the same copy again before using it (%s; until a run goes through, the store may lack events, snapshots, view states, checkpoints and data subjects' keys, without which personal data reads as forgotten, of its source)",
		u.detail())
}

// detail says when the copy's last run began, what it copied, and with
// which of the flags that change what it writes, if it recorded them.
func (u Unfinished) detail() string {
	began := ""
	if !u.Began.IsZero() {
		began = " at " + u.Began.UTC().Format(time.RFC3339)
	}
	with := ""
	if u.Recorded {
		with = ", " + withFlags(u.Flags)
	}
	return fmt.Sprintf("its last run began writing%s, to copy %d events%s", began, u.Events, with)
}

// withFlags says which of the flags that change what a copy writes a
// run had.
func withFlags(flags string) string {
	if flags == "" {
		return "with neither -rebuild nor -keep"
	}
	return "with " + flags
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
	var mark []store.Checkpoint
	for cp, err := range cps {
		if err != nil {
			return Unfinished{}, false, err
		}
		if IsMark(cp.Consumer) {
			mark = append(mark, cp)
		}
	}
	return UnfinishedIn(mark)
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
	if inv != (store.Inventory{Checkpoints: inv.Checkpoints}) {
		return false, nil
	}
	marked := false
	for cp, err := range exp.ExportCheckpoints(ctx) {
		if err != nil {
			return false, err
		}
		if !IsMark(cp.Consumer) {
			return false, nil
		}
		marked = marked || cp.Consumer == MarkName
	}
	return marked, nil
}

// checkUnfinished refuses a source, with checkpoints cps, that is itself
// the target of a copy that has not finished: it may lack part of what
// its own source holds.
func checkUnfinished(cps []store.Checkpoint) error {
	u, ok, err := UnfinishedIn(cps)
	if err != nil {
		return fmt.Errorf("copy: the source is the target of another copy, which has not finished, so it may lack part of what that copy's source holds; finish that copy first by running it again: %w (%w)", ErrUnfinished, err)
	}
	if ok {
		return fmt.Errorf("copy: the source is the target of another copy, which has not finished (%v), so it may lack part of what that copy's source holds; finish that copy first by running it again: %w", u.detail(), ErrUnfinished)
	}
	return nil
}

// exceptMark yields the checkpoints of an export but the mark and the
// options it records.
func exceptMark(cps iter.Seq2[store.Checkpoint, error]) iter.Seq2[store.Checkpoint, error] {
	return func(yield func(store.Checkpoint, error) bool) {
		for cp, err := range cps {
			if err == nil && IsMark(cp.Consumer) {
				continue
			}
			if !yield(cp, err) {
				return
			}
		}
	}
}

// recorded returns, in one canonical text, the options that change what
// a copy writes to its target, which a run that resumes the copy must
// share with the run that marked it. Rebuild and Keep do: they decide
// which checkpoints and schema versions the target gets, so that a copy
// resumed with others would hold, say, the schema version of a read
// model whose tables were never created there (a -keep after a
// -rebuild), or lack the checkpoints of consumers whose tables are there
// (the other way round). Each is a set: order and repeats do not matter.
// Batch does not: it only cuts the same writes into other transactions;
// nor does Progress, which only reports. The source is no option: what
// the target holds is compared with it, item by item (see checkTarget).
func (o Options) recorded() string { return o.values().Encode() }

// values returns the options that recorded records, each list sorted,
// without repeats.
func (o Options) values() url.Values {
	v := url.Values{}
	for key, names := range map[string][]string{"rebuild": o.Rebuild, "keep": o.Keep} {
		if len(names) > 0 {
			v[key] = slices.Sorted(slices.Values(lo.Uniq(names)))
		}
	}
	return v
}

// optionsCheckpoints are the checkpoints that record the options of a
// run beside its mark: the canonical text, URL-encoded and so all ASCII,
// cut into pieces that fit a checkpoint's name, each numbered from 1, in
// its name and its position. There is at least one, with no options
// too, so that a mark with none tells a run that recorded no options
// from a mark of an older version of the copy, which recorded nothing.
func optionsCheckpoints(text string, at time.Time) []store.Checkpoint {
	chunks := slices.Collect(slices.Chunk([]byte(text), optionsChunk))
	if len(chunks) == 0 {
		chunks = [][]byte{nil}
	}
	return lo.Map(chunks, func(chunk []byte, i int) store.Checkpoint {
		return store.Checkpoint{Consumer: optionsPrefix + strconv.Itoa(i+1) + ":" + string(chunk), Position: int64(i + 1), Time: at}
	})
}

// recordedOptions reads back the options that the checkpoints cps of a
// marked target record; recorded is false when they record none.
func recordedOptions(cps []store.Checkpoint) (opts url.Values, recorded bool, err error) {
	pieces := map[int]string{}
	for _, cp := range cps {
		rest, ok := strings.CutPrefix(cp.Consumer, optionsPrefix)
		if !ok {
			continue
		}
		n, chunk, ok := strings.Cut(rest, ":")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 1 {
			return nil, false, fmt.Errorf("the checkpoint %q, which records the options of an unfinished copy, is not one a copy writes: %w", cp.Consumer, store.ErrCorrupt)
		}
		pieces[i] = chunk
	}
	if len(pieces) == 0 {
		return nil, false, nil
	}
	var text strings.Builder
	for i := 1; i <= len(pieces); i++ {
		chunk, ok := pieces[i]
		if !ok {
			return nil, false, fmt.Errorf("the options of an unfinished copy are recorded in %d checkpoints, but number %d of them is missing: %w", len(pieces), i, store.ErrCorrupt)
		}
		text.WriteString(chunk)
	}
	if opts, err = url.ParseQuery(text.String()); err != nil {
		return nil, false, fmt.Errorf("the options of an unfinished copy, %q, cannot be read: %w (%w)", text.String(), store.ErrCorrupt, err)
	}
	return opts, true, nil
}

// flagsOf returns options as the flags of annals copy that give them:
// "-rebuild a -rebuild b -keep c", "" with none. A name that a shell
// would split or read otherwise is quoted.
func flagsOf(opts url.Values) string {
	var flags []string
	others := lo.Without(lo.Keys(opts), "rebuild", "keep")
	slices.Sort(others)
	for _, key := range append([]string{"rebuild", "keep"}, others...) {
		for _, name := range opts[key] {
			if name == "" || strings.ContainsFunc(name, func(r rune) bool {
				return unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune("\"'\\$`", r)
			}) {
				name = strconv.Quote(name)
			}
			flags = append(flags, "-"+key+" "+name)
		}
	}
	return strings.Join(flags, " ")
}

// checkOptions refuses to resume a marked target whose last run recorded
// other options than this run's, before anything is written. A mark
// without recorded options was set by an older version of the copy,
// which recorded none: the copy resumes, as that version did, trusting
// the operator to have given the same flags (the refusal of a
// checkpoint that -rebuild leaves out still catches a -rebuild added
// after the checkpoints were written), and its first write records this
// run's options, which every later run must then share.
func (c *copier) checkOptions(marks []store.Checkpoint) error {
	c.dstMarks = lo.FilterMap(marks, func(cp store.Checkpoint, _ int) (string, bool) { return cp.Consumer, cp.Consumer != MarkName })
	was, recorded, err := recordedOptions(marks)
	if err != nil {
		return fmt.Errorf("copy: the target: %w", err)
	}
	if !c.dstMarked || !recorded || was.Encode() == c.opts.recorded() {
		return nil
	}
	return fmt.Errorf("copy: the target holds an unfinished copy whose last run was %s, and this run is %s: resumed so, the target would hold part of one copy and part of the other (the checkpoints and schema versions of read models in the application's own tables, whose tables -rebuild leaves to the application and -keep expects there); run the copy again %s, as it was interrupted, or start over: empty the target (drop its tables or its schema, or remove its file) and copy into it with the flags you want: %w",
		withFlags(flagsOf(was)), withFlags(flagsOf(c.opts.values())), withFlags(flagsOf(was)), ErrOtherOptions)
}

// mark marks the target as unfinished, once per run, before the run's
// first write to it: a run killed at any point after leaves the mark,
// committed before anything it covers, and the options of the run, in
// the same transaction (the adapters of this module import checkpoints
// in one), so that a run that resumes the copy can check its own.
func (c *copier) mark(ctx context.Context) error {
	if c.marked {
		return nil
	}
	wasMarked := c.dstMarked
	now := time.Now().UTC()
	// Its position is the events to copy, plus 1: never 0, which a
	// store does not tell from no checkpoint (annals.Open reads it so).
	cps := append(optionsCheckpoints(c.opts.recorded(), now), store.Checkpoint{Consumer: MarkName, Position: c.srcInv.Events + 1, Time: now})
	if err := c.dstImp.ImportCheckpoints(ctx, cps); err != nil {
		return fmt.Errorf("copy: mark the target as an unfinished copy, before writing to it: %w", err)
	}
	c.dstMarks = lo.Uniq(append(c.dstMarks, lo.Map(cps[:len(cps)-1], func(cp store.Checkpoint, _ int) string { return cp.Consumer })...))
	c.marked, c.dstMarked = true, true
	// A source that held no mark when the copy began (checkUnfinished)
	// and holds one now is the target: one store under two URLs. Its
	// mark would keep it from opening; take it back. (A target marked
	// before this run is not the source, which held no mark.)
	if wasMarked {
		return nil
	}
	for cp, err := range c.srcExp.ExportCheckpoints(ctx) {
		if err != nil {
			return fmt.Errorf("copy: read the source's checkpoints after marking the target: %w", err)
		}
		if cp.Consumer == MarkName {
			if err := c.unmark(ctx); err != nil {
				return fmt.Errorf("copy: the source and the target are one store, whose mark of an unfinished copy, just set, could not be deleted; run the same copy again, then check with annals verify: %w", err)
			}
			return fmt.Errorf("copy: the mark set in the target appeared in the source: -from and -to name one store, under two URLs; nothing was written, and the mark was deleted: %w", ErrSameStore)
		}
	}
	return nil
}

// unmark deletes the mark of a target that is now a whole, verified
// copy, with the options recorded beside it.
func (c *copier) unmark(ctx context.Context) error {
	if !c.dstMarked && len(c.dstMarks) == 0 {
		return nil
	}
	if err := c.dstImp.DeleteCheckpoints(ctx, append([]string{MarkName}, c.dstMarks...)); err != nil {
		return fmt.Errorf("copy: the target is a whole copy, verified, but the mark that says it is unfinished could not be deleted; run the same copy again, which deletes it: %w", err)
	}
	c.dstMarked, c.dstMarks = false, nil
	return nil
}
