package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// maxListed caps the problems verify lists; it counts the rest.
const maxListed = 50

// errProblems is the error of a verification that found problems.
var errProblems = errors.New("the store has problems")

// verifyReport is what verify found.
type verifyReport struct {
	OK      bool  `json:"ok"`
	Head    int64 `json:"head"`
	Events  int64 `json:"events"`
	Streams int64 `json:"streams"`
	Read    int64 `json:"read"` // records whose payloads were read
	// Forgotten counts the records read whose personal fields belong to
	// a forgotten subject, which is not a problem.
	Forgotten int64 `json:"forgotten"`
	Snapshots int64 `json:"snapshots"`
	// States counts the view and process states.
	States      int64 `json:"states"`
	Checkpoints int64 `json:"checkpoints"`
	// Unread counts the records and snapshots that are encrypted (or hold
	// personal data) and could not be read because no keys were given;
	// UnreadKeys names the keys they need.
	Unread     int64    `json:"unread"`
	UnreadKeys []string `json:"unread_keys,omitempty"`
	// UnfinishedCopy is the mark of a copy into the store that has not
	// finished, which is a problem too; null when there is none.
	UnfinishedCopy *unfinishedCopy `json:"unfinished_copy"`
	Problems       []string        `json:"problems"`
	// ProblemCount counts every problem, listed or not.
	ProblemCount int `json:"problem_count"`
}

func (r *verifyReport) problem(format string, args ...any) {
	r.ProblemCount++
	if len(r.Problems) < maxListed {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

func verifyFlags(fs *flag.FlagSet) runFunc {
	payloads := fs.String("payload", "json", "what a payload must be once decoded: `json`, what the library's codecs write, or any, for a codec of your own that writes another format")
	return func(ctx context.Context, c *cli, g *globals, args []string) error {
		if err := noArgs("verify", args); err != nil {
			return err
		}
		if *payloads != "json" && *payloads != "any" {
			return fmt.Errorf("verify: -payload is json or any, not %q: %w", *payloads, errUsage)
		}
		return withStore(ctx, g, func(s store.Store) error {
			dec, err := newDecoder(s, c.getenv)
			if err != nil {
				return err
			}
			rep := &verifyReport{Problems: []string{}}
			if err := verify(ctx, s, dec, *payloads, rep, newProgress(c, "verify")); err != nil {
				return err
			}
			if g.json {
				if err := printJSON(c.stdout, rep); err != nil {
					return err
				}
			} else {
				printVerify(c, rep)
			}
			if !rep.OK {
				return fmt.Errorf("verify: %s: %w", lo.Ternary(rep.ProblemCount == 1, "1 problem", fmt.Sprintf("%d problems", rep.ProblemCount)), errProblems)
			}
			return nil
		})
	}
}

// unreadNote says, for a stream whose versions jump between its events at
// positions from and to, which of the records that could not be read
// may hold the missing ones: those between the two, a few named. A
// version is missing from the walk when its record is unreadable, and
// that is its one problem.
func unreadNote(unread []int64, from, to, missing int64) string {
	const named = 5
	between := lo.Filter(unread, func(p int64, _ int) bool { return p > from && p < to })
	if len(between) == 0 || missing < 1 {
		return ""
	}
	if len(between) == 1 {
		which := "the missing version"
		if missing > 1 {
			which = "one of the missing versions"
		}
		return fmt.Sprintf(" (the record at position %d, which cannot be read, may be %s)", between[0], which)
	}
	list := strings.Join(lo.Map(lo.Slice(between, 0, named), func(p int64, _ int) string { return strconv.FormatInt(p, 10) }), ", ")
	if len(between) > named {
		list += fmt.Sprintf(" and %d more", len(between)-named)
	}
	return fmt.Sprintf(" (the records at positions %s, which cannot be read, may hold the missing versions)", list)
}

// verify walks the log, the snapshots and the checkpoints of s.
// payloads is what a decoded payload must be: "json", or "any".
func verify(ctx context.Context, s store.Store, dec *decoder, payloads string, rep *verifyReport, prog *progress) error {
	var err error
	if rep.Head, err = s.Head(ctx); err != nil {
		return err
	}
	// First, so that it is listed however many problems follow.
	if _, ok := s.(store.Exporter); ok {
		u, marked, err := storecopy.FindUnfinished(ctx, s)
		if err != nil {
			return err
		}
		if marked {
			rep.UnfinishedCopy = newUnfinishedCopy(u)
			rep.problem("%v", u)
		}
	}
	unreadKeys := map[string]bool{}
	unread := func(encoding string) {
		rep.Unread++
		for step := range strings.SplitSeq(encoding, "+") {
			if id, ok := strings.CutPrefix(step, "aes256gcm:"); ok {
				unreadKeys[id] = true
			}
		}
	}
	versions := map[string]int64{}
	at := map[string]int64{} // the position of each stream's last event
	var after int64          // the position of the last event read
	var unreadable []int64   // the positions of records the store could not read
	prog.report("events", 0, rep.Head)
	anyPayload := payloads == "any"
	headNow := rep.Head // the store's head when last read
	for done := false; !done; {
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 1000})
		if errors.Is(err, store.ErrCorrupt) {
			// A record the store cannot read (changed by hand): read one
			// at a time up to it, name it, and go on after it.
			if page, err = s.ReadLog(ctx, store.LogQuery{After: after, Limit: 1}); errors.Is(err, store.ErrCorrupt) {
				rep.problem("the record after position %d cannot be read: %v", after, err)
				rep.Events++ // counted, and not read
				after++
				unreadable = append(unreadable, after)
				continue
			}
		}
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		// The walk ends at the head it read first: what was appended
		// since, while the application runs, is not measured against
		// counts made before it. A record past that head and past the
		// store's head now is another matter, which the end says.
		live, now, err := appendedSince(ctx, s, rep.Head, page)
		if err != nil {
			return err
		}
		headNow = max(headNow, now)
		if live < len(page) {
			page, done = page[:live], true
		}
		for _, r := range page {
			rep.Events++
			switch {
			case r.Position == after:
				rep.problem("position %d repeats: event %s@%d holds it too, which no append writes (each event has a position of its own)", r.Position, printable(r.StreamID), r.Version)
			case r.Position < after:
				rep.problem("the log goes back from position %d to %d at event %s@%d, which no append writes (positions only grow)", after, r.Position, printable(r.StreamID), r.Version)
			case r.Position != after+1:
				rep.problem("the log jumps from position %d to %d: %d positions are missing", after, r.Position, r.Position-after-1)
			}
			after = r.Position
			switch last := versions[r.StreamID]; {
			case r.Version < 1:
				// Not the stream's head: the events after it are
				// measured against the version before it.
				rep.problem("event %s@%d at position %d has version %d, below 1, which no append writes (every stream's versions run 1, 2, 3…): its stream fails to load until it is repaired", printable(r.StreamID), r.Version, r.Position, r.Version)
				if _, seen := versions[r.StreamID]; !seen {
					versions[r.StreamID] = 0 // a stream, though it has no valid version
				}
			case r.Version != last+1:
				rep.problem("stream %q jumps from version %d to %d at position %d%s", r.StreamID, last, r.Version, r.Position, unreadNote(unreadable, at[r.StreamID], r.Position, r.Version-last-1))
				versions[r.StreamID] = r.Version
			default:
				versions[r.StreamID] = r.Version
			}
			at[r.StreamID] = r.Position
			if r.ID == uuid.Nil {
				rep.problem("event %s@%d at position %d has the ID %v, which no append writes (an append given no ID gets a new one): it was changed by hand, and a copy of the store refuses it", printable(r.StreamID), r.Version, r.Position, r.ID)
			}
			if r.Type == "" || r.SchemaVersion < 1 {
				rep.problem("event %s@%d at position %d has type %q and schema version %d, which no append writes (every event has a type, and a schema version from 1)", printable(r.StreamID), r.Version, r.Position, r.Type, r.SchemaVersion)
			} else if err := check.Append(r.StreamID, store.AnyVersion, []store.Event{{Type: r.Type, SchemaVersion: r.SchemaVersion, Encoding: r.Encoding, Metadata: r.Metadata, Tags: r.Tags}}); err != nil {
				// The check speaks of an append of one event: say what
				// it found, without that.
				what, _ := strings.CutPrefix(err.Error(), fmt.Sprintf("append to stream %q: ", r.StreamID))
				what, _ = strings.CutPrefix(what, "event 0: ")
				rep.problem("event %s@%d at position %d holds what no append writes: %s", printable(r.StreamID), r.Version, r.Position, what)
			}
			switch p := dec.record(ctx, r); {
			case p.ok && p.notJSON != nil && !anyPayload:
				rep.problem("event %s@%d at position %d (%s, encoding %q) cannot be read: %v", printable(r.StreamID), r.Version, r.Position, printable(r.Type), r.Encoding, p.notJSON)
			case p.ok:
				rep.Read++
				if p.forgotten {
					rep.Forgotten++
				}
			case p.noKey:
				unread(r.Encoding)
			default:
				rep.problem("event %s@%d at position %d (%s, encoding %q) cannot be read: %v", printable(r.StreamID), r.Version, r.Position, printable(r.Type), r.Encoding, p.err)
			}
		}
		prog.report("events", rep.Events, rep.Head)
	}
	prog.done()
	// A store that counts the positions it gave out (PostgreSQL) has a
	// head past its last event when the last events were deleted; one
	// that numbers its log from its rows (SQLite) cannot tell.
	switch deleted := rep.Head - after; {
	case deleted > 0 && after == 0:
		rep.problem("the store gave out positions up to %d (its head), but its log holds no event: all %d were deleted", rep.Head, deleted)
	case deleted == 1:
		rep.problem("the store gave out positions up to %d (its head), but its log ends at position %d: the last event was deleted", rep.Head, after)
	case deleted > 1:
		rep.problem("the store gave out positions up to %d (its head), but its log ends at position %d: the last %d events were deleted", rep.Head, after, deleted)
	case deleted < 0 && after > headNow:
		rep.problem("the head is %d, but the last event is at position %d", headNow, after)
	}
	rep.Streams = int64(len(versions))
	if ix, ok := s.(store.IndexVerifier); ok {
		for p, err := range ix.VerifyIndexes(ctx) {
			if err != nil {
				return err
			}
			rep.problem("%s", p)
		}
	}

	if exp, ok := s.(store.Exporter); ok {
		for snap, err := range exp.ExportSnapshots(ctx) {
			if err != nil {
				return err
			}
			rep.Snapshots++
			// What a save and an import refuse, a copy refuses too.
			if err := check.Snapshot(snap); err != nil {
				rep.problem("the snapshot of stream %q holds what no save writes, and a copy refuses it: %v", snap.StreamID, err)
				continue
			}
			if v := versions[snap.StreamID]; snap.Version > v {
				// Events appended since the walk may have reached it.
				now, err := streamVersion(ctx, s, snap.StreamID, v)
				if err != nil {
					now = v // the walk says what is wrong with the stream
				}
				if snap.Version > now {
					rep.problem("the snapshot of stream %q is at version %d, but the stream has %d events", snap.StreamID, snap.Version, now)
				}
			}
			switch p := dec.snapshot(ctx, snap); {
			case p.ok && p.notJSON != nil && !anyPayload:
				rep.problem("the snapshot of stream %q at version %d (%s, encoding %q) cannot be read: %v", snap.StreamID, snap.Version, printable(snap.Type), snap.Encoding, p.notJSON)
			case p.ok:
			case p.noKey:
				unread(snap.Encoding)
			default:
				rep.problem("the snapshot of stream %q at version %d (%s, encoding %q) cannot be read: %v", snap.StreamID, snap.Version, printable(snap.Type), snap.Encoding, p.err)
			}
		}
		for st, err := range exp.ExportStates(ctx) {
			if err != nil {
				return err
			}
			rep.States++
			if err := check.State(st.View, st.Key); err != nil {
				rep.problem("the state of view %q under key %q holds what no view writes: %v", st.View, st.Key, err)
			} else if !json.Valid(st.Data) {
				rep.problem("the state of view %q under key %q is not JSON, which views and processes write: it was changed since it was written; a view is rebuilt with 'ops rebuild %s'", st.View, st.Key, st.View)
			}
		}
		head := rep.Head // the store's, read again for a checkpoint past it
		for cp, err := range exp.ExportCheckpoints(ctx) {
			if err != nil {
				return err
			}
			if cp.Position > head {
				// Read after the checkpoint: a consumer that committed
				// it since the walk began had read up to it.
				if head, err = s.Head(ctx); err != nil {
					return err
				}
			}
			if storecopy.IsMark(cp.Consumer) {
				continue // a problem of its own, above, with the options recorded beside it
			}
			rep.Checkpoints++
			switch {
			case cp.Position < 0:
				rep.problem("consumer %q has checkpoint %d, which no commit writes (positions start at 0)", cp.Consumer, cp.Position)
			case !strings.HasPrefix(cp.Consumer, schemaPrefix) && cp.Position > head:
				rep.problem("consumer %q has checkpoint %d, past the head %d: it will skip the events appended up to there (rebuild a read model, or reset another consumer to 0 with the application's ops command)", cp.Consumer, cp.Position, head)
			}
		}
	}
	rep.UnreadKeys = slices.Sorted(maps.Keys(unreadKeys))
	rep.OK = rep.ProblemCount == 0
	return nil
}

// appendedSince returns how many records of page, in log order, are at
// or below head, the head the walk began with, unless one past it is
// past the store's head now too: then every record counts, for the walk
// to say that the log holds events past its head. It also returns the
// store's head now, when it read it (head otherwise).
func appendedSince(ctx context.Context, s store.Store, head int64, page []store.Record) (int, int64, error) {
	i := slices.IndexFunc(page, func(r store.Record) bool { return r.Position > head })
	if i < 0 {
		return len(page), head, nil
	}
	now, err := s.Head(ctx)
	if err != nil {
		return 0, 0, err
	}
	if lo.MaxBy(page[i:], func(a, b store.Record) bool { return a.Position > b.Position }).Position > now {
		return len(page), now, nil
	}
	return i, now, nil
}

// streamVersion returns the version of the stream id now, counting from
// version from, which the walk saw it at.
func streamVersion(ctx context.Context, s store.Store, id string, from int64) (int64, error) {
	v := from
	for r, err := range s.ReadStream(ctx, id, from+1) {
		if err != nil {
			return 0, err
		}
		v = r.Version
	}
	return v, nil
}

func printVerify(c *cli, rep *verifyReport) {
	w := c.stdout
	fmt.Fprintf(w, "log: %d events in %d streams", rep.Events, rep.Streams)
	if rep.Events > 0 {
		fmt.Fprintf(w, ", positions 1 to %d", rep.Head)
	}
	fmt.Fprintln(w)
	forgotten := ""
	if rep.Forgotten > 0 {
		forgotten = fmt.Sprintf(" (%d without the personal fields of forgotten subjects)", rep.Forgotten)
	}
	fmt.Fprintf(w, "payloads: %d of %d events read%s; %d snapshots; %d view and process states; %d checkpoints\n", rep.Read, rep.Events, forgotten, rep.Snapshots, rep.States, rep.Checkpoints)
	if rep.Unread > 0 {
		keys := ""
		if len(rep.UnreadKeys) > 0 {
			keys = " (keys " + strings.Join(rep.UnreadKeys, ", ") + ")"
		}
		fmt.Fprintf(w, "not read: %d encrypted records and snapshots%s: no keys given; set ANNALS_CIPHER_KEY (and ANNALS_CIPHER_OLD_KEYS) to check them\n",
			rep.Unread, keys)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "problem:", escapeNonPrinting(p))
	}
	if more := rep.ProblemCount - len(rep.Problems); more > 0 {
		fmt.Fprintf(w, "problem: … and %d more\n", more)
	}
	if rep.OK {
		fmt.Fprintln(w, "ok")
	}
}
