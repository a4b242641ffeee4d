package storecopy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// maxProblems caps the differences a verification lists; it counts the
// rest.
const maxProblems = 20

// MismatchError is the error of a copy whose target differs from its
// source. Problems lists the first differences found.
type MismatchError struct {
	// Problems describes the first differences, one each.
	Problems []string
	// Total counts every difference found, listed or not.
	Total int
}

// Error lists the differences.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "copy: the target differs from the source (%d differences", e.Total)
	if e.Total > len(e.Problems) {
		fmt.Fprintf(&b, ", the first %d listed", len(e.Problems))
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p)
	}
	return b.String()
}

// verifier compares a target with its source and collects differences.
type verifier struct {
	prec     time.Duration
	streams  map[string]*streamSum
	problems []string
	total    int
	seed     maphash.Seed
	buf      []byte // reused by checksum
}

// streamSum is what the verification knows of one stream on each side:
// how many events, the last version seen, and a checksum that chains the
// stream's records in version order.
type streamSum struct {
	srcN, dstN       int64
	srcLast, dstLast int64
	srcSum, dstSum   uint64
}

func newVerifier(prec time.Duration) *verifier {
	return &verifier{prec: prec, streams: map[string]*streamSum{}, seed: maphash.MakeSeed()}
}

func (v *verifier) problem(format string, args ...any) {
	v.total++
	if len(v.problems) < maxProblems {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

// failure returns the error of the differences found, or nil.
func (v *verifier) failure() error {
	if v.total == 0 {
		return nil
	}
	return &MismatchError{Problems: v.problems, Total: v.total}
}

// checksum chains a record onto a stream's checksum: a hash of the
// previous checksum and every field the copy keeps, times truncated to
// the target's precision. The hash (maphash, with one seed per
// verification) is fast and not kept: both sides are hashed in the
// same run.
func (v *verifier) checksum(prev uint64, r store.Record) uint64 {
	b := binary.LittleEndian.AppendUint64(v.buf[:0], prev)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, r.ID[:]...)
	str(r.StreamID)
	b = binary.AppendVarint(b, r.Version)
	str(r.Type)
	b = binary.AppendVarint(b, int64(r.SchemaVersion))
	b = binary.AppendVarint(b, r.Time.Truncate(v.prec).UnixNano())
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	b = append(b, r.Data...)
	str(r.Encoding)
	str(r.Metadata.CorrelationID)
	str(r.Metadata.CausationID)
	if len(r.Metadata.Extra) > 0 {
		for _, k := range slices.Sorted(maps.Keys(r.Metadata.Extra)) {
			str(k)
			str(r.Metadata.Extra[k])
		}
	}
	v.buf = b
	return maphash.Bytes(v.seed, b)
}

// logCheck compares the source's log with the target's, event by event
// in order: the same events, the target's positions 1, 2, 3…, each
// stream's versions contiguous on both sides, and, at the end, the same
// count and checksum per stream. On the way it maps the checkpoints: a
// checkpoint at a source position goes to the target position of the
// last source event at or before it.
type logCheck struct {
	*verifier
	cps   []CheckpointMap
	order []int // the indexes of the checkpoints to map, by position
	next  int   // the first of order not mapped yet
	n     int64 // the events compared: the target position of the last
	last  store.Record
	// gaps counts the places where the source's positions jump, and
	// firstGap is the first: the position before it and the one after.
	gaps     int64
	firstGap [2]int64
}

func (v *verifier) newLogCheck(cps []CheckpointMap) *logCheck {
	c := &logCheck{verifier: v, cps: cps}
	for i, m := range cps {
		if !m.Schema {
			c.order = append(c.order, i)
		}
	}
	slices.SortFunc(c.order, func(a, b int) int { return cmp.Compare(cps[a].From, cps[b].From) })
	return c
}

// pair compares a source event with the target event that should be its
// copy, the next in the target's log.
func (c *logCheck) pair(s, d store.Record) {
	if s.Position != c.last.Position+1 {
		if c.gaps == 0 {
			c.firstGap = [2]int64{c.last.Position, s.Position}
		}
		c.gaps++
	}
	c.n++
	for c.next < len(c.order) && c.cps[c.order[c.next]].From < s.Position {
		m := &c.cps[c.order[c.next]]
		m.To, m.Event = c.n-1, c.last.ID
		c.next++
	}
	c.source(s)
	c.target(d, c.n)
	c.compareRecord(s, d, c.n)
	c.last = s
}

// pairs compares a page of the source with the page of the target that
// should be its copy.
func (c *logCheck) pairs(src, dst []store.Record) {
	k := min(len(src), len(dst))
	for i := range k {
		c.pair(src[i], dst[i])
	}
	if len(src) > k {
		c.problem("the target lacks the %d events from %s@%d on, just written", len(src)-k, src[k].StreamID, src[k].Version)
	}
}

// walk compares the source's log up to position srcUntil with the
// target's first dstCount events, reading both in lockstep.
func (c *logCheck) walk(ctx context.Context, src, dst store.Store, srcUntil, dstCount int64, batch int, progress func(done, run int64)) error {
	srcPages, stopSrc := prefetch(ctx, src, 0, srcUntil, batch)
	defer stopSrc()
	dstPages, stopDst := prefetch(ctx, dst, 0, dstCount, batch)
	defer stopDst()
	var srcBuf, dstBuf []store.Record
	var srcDone, dstDone bool
	var srcLeft, dstLeft int
	fill := func(buf *[]store.Record, done *bool, pages <-chan page, side string) error {
		for len(*buf) == 0 && !*done {
			p, ok := <-pages
			if !ok {
				*done = true
				return ctx.Err()
			}
			if p.err != nil {
				return fmt.Errorf("copy: verify: read the %s's log: %w", side, p.err)
			}
			*buf = p.recs
		}
		return nil
	}
	for {
		if err := fill(&srcBuf, &srcDone, srcPages, "source"); err != nil {
			return err
		}
		if err := fill(&dstBuf, &dstDone, dstPages, "target"); err != nil {
			return err
		}
		if len(srcBuf) == 0 && len(dstBuf) == 0 {
			break
		}
		k := min(len(srcBuf), len(dstBuf))
		if k == 0 {
			srcLeft += len(srcBuf)
			dstLeft += len(dstBuf)
			srcBuf, dstBuf = nil, nil
			continue
		}
		for i := range k {
			c.pair(srcBuf[i], dstBuf[i])
		}
		srcBuf, dstBuf = srcBuf[k:], dstBuf[k:]
		progress(c.n, c.n)
	}
	if srcLeft > 0 {
		c.problem("the source holds %d events up to position %d that the target lacks", srcLeft, srcUntil)
	}
	if dstLeft > 0 {
		c.problem("the target holds %d events the source lacks", dstLeft)
	}
	return nil
}

// finish checks that neither log holds more than was compared, maps the
// checkpoints past the last event compared to it, and compares the
// streams' counts and checksums.
func (c *logCheck) finish(ctx context.Context, src, dst store.Store) error {
	more, err := src.ReadLog(ctx, store.LogQuery{After: c.last.Position, Limit: 1})
	if err != nil {
		return fmt.Errorf("copy: verify: read the source's log: %w", err)
	}
	if len(more) > 0 {
		c.problem("the source holds events after position %d, appended since the copy began (stop the source's writers and run the copy again, which copies them)", c.last.Position)
	}
	if more, err = dst.ReadLog(ctx, store.LogQuery{After: c.n, Limit: 1}); err != nil {
		return fmt.Errorf("copy: verify: read the target's log: %w", err)
	}
	if len(more) > 0 {
		c.problem("the target holds events after position %d, which the source lacks", c.n)
	}
	for ; c.next < len(c.order); c.next++ {
		m := &c.cps[c.order[c.next]]
		m.To, m.Event, m.PastHead = c.n, c.last.ID, m.From > c.last.Position
	}
	c.compareStreams()
	return nil
}

// compareStreams compares the count and checksum of every stream seen.
func (c *logCheck) compareStreams() {
	for _, id := range slices.Sorted(maps.Keys(c.streams)) {
		s := c.streams[id]
		if s.srcN != s.dstN || s.srcSum != s.dstSum {
			c.problem("stream %q: the source holds %d events (checksum %016x), the target %d (checksum %016x)", id, s.srcN, s.srcSum, s.dstN, s.dstSum)
		}
	}
}

func (v *verifier) stream(id string) *streamSum {
	s := v.streams[id]
	if s == nil {
		s = &streamSum{}
		v.streams[id] = s
	}
	return s
}

func (v *verifier) source(r store.Record) {
	s := v.stream(r.StreamID)
	if r.Version != s.srcLast+1 {
		v.problem("source stream %q jumps from version %d to %d at position %d (run annals verify on the source)", r.StreamID, s.srcLast, r.Version, r.Position)
	}
	s.srcN, s.srcLast, s.srcSum = s.srcN+1, r.Version, v.checksum(s.srcSum, r)
}

func (v *verifier) target(r store.Record, want int64) {
	s := v.stream(r.StreamID)
	if r.Position != want {
		v.problem("target event %s@%d is at position %d, want %d: the target's log has a gap", r.StreamID, r.Version, r.Position, want)
	}
	if r.Version != s.dstLast+1 {
		v.problem("target stream %q jumps from version %d to %d at position %d", r.StreamID, s.dstLast, r.Version, r.Position)
	}
	s.dstN, s.dstLast, s.dstSum = s.dstN+1, r.Version, v.checksum(s.dstSum, r)
}

// compareRecord compares the n-th event of each log.
func (v *verifier) compareRecord(s, d store.Record, n int64) {
	var diffs []string
	if s.ID != d.ID || s.StreamID != d.StreamID || s.Version != d.Version {
		v.problem("event %d of the log: the source has %s@%d (%v), the target %s@%d (%v): the order differs",
			n, s.StreamID, s.Version, s.ID, d.StreamID, d.Version, d.ID)
		return
	}
	if s.Type != d.Type || s.SchemaVersion != d.SchemaVersion {
		diffs = append(diffs, fmt.Sprintf("type %s/v%d ≠ %s/v%d", s.Type, s.SchemaVersion, d.Type, d.SchemaVersion))
	}
	if !s.Time.Truncate(v.prec).Equal(d.Time) {
		diffs = append(diffs, fmt.Sprintf("time %v ≠ %v", s.Time, d.Time))
	}
	if !bytes.Equal(s.Data, d.Data) {
		diffs = append(diffs, fmt.Sprintf("payload of %d bytes ≠ %d bytes", len(s.Data), len(d.Data)))
	}
	if s.Encoding != d.Encoding {
		diffs = append(diffs, fmt.Sprintf("encoding %q ≠ %q", s.Encoding, d.Encoding))
	}
	if s.Metadata.CorrelationID != d.Metadata.CorrelationID || s.Metadata.CausationID != d.Metadata.CausationID ||
		!maps.Equal(s.Metadata.Extra, d.Metadata.Extra) {
		diffs = append(diffs, fmt.Sprintf("metadata %+v ≠ %+v", s.Metadata, d.Metadata))
	}
	if len(diffs) > 0 {
		v.problem("event %s@%d (%v): %s", s.StreamID, s.Version, s.ID, strings.Join(diffs, "; "))
	}
}

// compareRest compares the checkpoints (against where they were mapped),
// the snapshots, the view states and the subject keys.
func (v *verifier) compareRest(ctx context.Context, src, dst store.Exporter, cps []CheckpointMap, progress func(done, run int64)) error {
	want := func(yield func(store.Checkpoint, error) bool) {
		for _, m := range cps {
			if !m.Rebuild && !yield(store.Checkpoint{Consumer: m.Consumer, Position: m.To}, nil) {
				return
			}
		}
	}
	// The target's, but for the mark of the copy, and for those the
	// copy leaves out (-rebuild), which the source has too.
	got := func(yield func(store.Checkpoint, error) bool) {
		for cp, err := range exceptMark(dst.ExportCheckpoints(ctx)) {
			if err == nil && slices.ContainsFunc(cps, func(m CheckpointMap) bool { return m.Rebuild && m.Consumer == cp.Consumer }) {
				v.problem("checkpoint %q: in the target, though -rebuild leaves it out of the copy: its consumer ran on the target while the copy wrote to it; start over: empty the target (and the consumer's read model), then run the copy again", cp.Consumer)
				continue
			}
			if !yield(cp, err) {
				return
			}
		}
	}
	steps := []func() error{
		func() error {
			return compareSeq(v, "checkpoint", want, got,
				func(c store.Checkpoint) string { return c.Consumer },
				func(a, b store.Checkpoint) string {
					if a.Position != b.Position {
						return fmt.Sprintf("position %d (mapped), target %d", a.Position, b.Position)
					}
					return ""
				})
		},
		func() error {
			return compareSeq(v, "snapshot of stream", src.ExportSnapshots(ctx), dst.ExportSnapshots(ctx),
				func(s snapshot.Snapshot) string { return s.StreamID },
				func(a, b snapshot.Snapshot) string {
					if a.Version != b.Version || a.Type != b.Type || a.SchemaVersion != b.SchemaVersion || a.Encoding != b.Encoding ||
						!bytes.Equal(a.Data, b.Data) || !a.Time.Truncate(v.prec).Equal(b.Time) {
						return fmt.Sprintf("version %d %s/v%d %q of %d bytes at %v, target version %d %s/v%d %q of %d bytes at %v",
							a.Version, a.Type, a.SchemaVersion, a.Encoding, len(a.Data), a.Time, b.Version, b.Type, b.SchemaVersion, b.Encoding, len(b.Data), b.Time)
					}
					return ""
				})
		},
		func() error {
			return compareSeq(v, "view state", src.ExportStates(ctx), dst.ExportStates(ctx),
				func(s store.State) string { return s.View + "\x00" + s.Key },
				func(a, b store.State) string {
					if !bytes.Equal(a.Data, b.Data) {
						return fmt.Sprintf("%d bytes, target %d bytes", len(a.Data), len(b.Data))
					}
					return ""
				})
		},
		func() error {
			return compareSeq(v, "key of data subject", src.ExportSubjectKeys(ctx), dst.ExportSubjectKeys(ctx),
				func(k store.SubjectKey) string { return k.Subject },
				func(a, b store.SubjectKey) string {
					if a.KeyID != b.KeyID || !bytes.Equal(a.Wrapped, b.Wrapped) {
						return fmt.Sprintf("wrapped by %q, target by %q", a.KeyID, b.KeyID)
					}
					return ""
				})
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return err
		}
		progress(int64(i+1), int64(i+1))
	}
	return nil
}

// compareSeq merges two exports in the byte order of their keys and
// records what one has and the other lacks, and what differs.
func compareSeq[T any](v *verifier, what string, src, dst iter.Seq2[T, error], key func(T) string, diff func(a, b T) string) error {
	nextSrc, stopSrc := iter.Pull2(src)
	defer stopSrc()
	nextDst, stopDst := iter.Pull2(dst)
	defer stopDst()
	pull := func(next func() (T, error, bool), side string) (T, bool, error) {
		x, err, ok := next()
		if err != nil {
			return x, false, fmt.Errorf("copy: verify: read the %s: %w", side, err)
		}
		return x, ok, nil
	}
	a, okA, err := pull(nextSrc, "source")
	if err != nil {
		return err
	}
	b, okB, err := pull(nextDst, "target")
	if err != nil {
		return err
	}
	for okA || okB {
		c := 0
		switch {
		case !okA:
			c = 1
		case !okB:
			c = -1
		default:
			c = strings.Compare(key(a), key(b))
		}
		switch {
		case c < 0:
			v.problem("%s %q: in the source, not in the target", what, printable(key(a)))
		case c > 0:
			v.problem("%s %q: in the target, not in the source", what, printable(key(b)))
		default:
			if d := diff(a, b); d != "" {
				v.problem("%s %q differs: source %s", what, printable(key(a)), d)
			}
		}
		if c <= 0 {
			if a, okA, err = pull(nextSrc, "source"); err != nil {
				return err
			}
		}
		if c >= 0 {
			if b, okB, err = pull(nextDst, "target"); err != nil {
				return err
			}
		}
	}
	return nil
}

// printable shows a state's key, joined to its view by NUL, as view/key.
func printable(key string) string { return strings.ReplaceAll(key, "\x00", "/") }

// checkSnapshots passes on the source's snapshots, and fails at one past
// the end of its stream in the source's log (the last event of the
// stream deleted by hand): a state no event of the copy leads to, which
// a load would take and append after.
func (v *verifier) checkSnapshots(seq iter.Seq2[snapshot.Snapshot, error]) iter.Seq2[snapshot.Snapshot, error] {
	return func(yield func(snapshot.Snapshot, error) bool) {
		for snap, err := range seq {
			if err == nil {
				var last int64
				if s := v.streams[snap.StreamID]; s != nil {
					last = s.srcLast
				}
				if snap.Version > last {
					yield(snap, fmt.Errorf("the snapshot of stream %q is at version %d, but the stream ends at version %d in the source's log (an event deleted by hand?); the snapshots from this one on were not copied, and the target stays marked unfinished; run annals verify on the source: %w",
						snap.StreamID, snap.Version, last, store.ErrCorrupt))
					return
				}
			}
			if !yield(snap, err) {
				return
			}
		}
	}
}
