package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
)

type namesFlag []string

// String and Set make a repeatable flag.
func (n *namesFlag) String() string     { return fmt.Sprint(*n) }
func (n *namesFlag) Set(v string) error { *n = append(*n, v); return nil }

func copyFlags(fs *flag.FlagSet) runFunc {
	from, to := new(string), new(string)
	fs.Var(urlFlag{from}, "from", "`URL` of the store to copy (it must exist)")
	fs.Var(urlFlag{to}, "to", "`URL` of the store to copy to: empty, a finished copy from the same store (the copy adds what the source gained since), or where an interrupted copy from the same store, with the same -rebuild and -keep, stopped")
	batch := fs.Int("batch", storecopy.DefaultBatch, "events (or snapshots, states, keys) per transaction of the target")
	var rebuild namesFlag
	fs.Var(&rebuild, "rebuild", "leave out the checkpoint and schema version of `CONSUMER`, so that it rebuilds from the start in the target (repeatable): for read models in the application's own tables, which are not copied; a view whose states the store keeps is refused")
	var keep namesFlag
	fs.Var(&keep, "keep", "copy the checkpoint and schema version of `CONSUMER` as they are (repeatable): for read models in the application's own tables that are in the target already, copied by other means; every consumer with a schema version and no view states in the store must be named in -rebuild or -keep")
	return func(ctx context.Context, c *cli, g *globals, args []string) error {
		if err := noArgs("copy", args); err != nil {
			return err
		}
		if *from == "" || *to == "" {
			return fmt.Errorf("copy: give both -from URL and -to URL: %w", errUsage)
		}
		if *batch < 1 || *batch > storecopy.MaxBatch {
			return fmt.Errorf("copy: -batch %d: give from 1 to %d: %w", *batch, storecopy.MaxBatch, errUsage)
		}
		if *from == *to || sameFile(*from, *to) {
			return fmt.Errorf("copy: -from and -to name the same store: %w", errUsage)
		}
		if u, err := url.Parse(*to); err == nil && u.Scheme == "memory" {
			return fmt.Errorf("copy: a memory: store ends with this program; copy to a durable store: %w", errUsage)
		}
		src, err := openExisting(ctx, *from)
		if err != nil {
			return fmt.Errorf("copy: the source: %w", err)
		}
		defer src.Close()
		// Opening the target creates it (a SQLite file, a PostgreSQL
		// store's tables): what the source and the flags refuse is
		// refused first.
		if err := storecopy.CheckSource(ctx, src, storecopy.Options{Rebuild: rebuild, Keep: keep}); err != nil {
			return err
		}
		created := newSQLiteFile(*to)
		dst, err := store.Open(ctx, *to)
		if err != nil {
			if created != "" {
				err = also(err, removeFile(created))
			}
			return fmt.Errorf("copy: the target: %w", err)
		}
		defer dst.Close()

		prog := newProgress(c, "copy")
		rep, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: *batch, Rebuild: rebuild, Keep: keep, Progress: func(p storecopy.Progress) {
			prog.reportRun(string(p.Phase), p.Done, p.Total, p.Run, p.Elapsed)
		}})
		prog.done()
		if err != nil && created != "" {
			err = also(err, removeIfEmpty(ctx, dst, created))
		}
		if errors.Is(err, storecopy.ErrSameStore) {
			return fmt.Errorf("%w: %w", err, errUsage)
		}
		if errors.Is(err, context.Canceled) {
			return &interrupted{fmt.Errorf("copy interrupted after %d events; run the same command again to go on from there (until it ends, annals verify reports the target as an unfinished copy): %w", rep.Events, err)}
		}
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(c.stdout, newJSONReport(rep))
		}
		printReport(c, rep)
		return nil
	}
}

func printReport(c *cli, rep storecopy.Report) {
	w := c.stdout
	resumed := ""
	switch {
	case rep.Finished && rep.Copied == 0:
		resumed = " (all of them there already: the target held a finished copy, which this run verified)"
	case rep.Finished:
		resumed = fmt.Sprintf(" (%d of them by this run; the target held the others, a finished copy of the source as it was then)", rep.Copied)
	case rep.Resumed:
		resumed = fmt.Sprintf(" (%d of them by this run, which resumed an interrupted copy)", rep.Copied)
	}
	fmt.Fprintf(w, "copied %d events%s in %d streams, %d snapshots, %d subject keys and %d view states in %v\n",
		rep.Events, resumed, rep.Streams, rep.Snapshots, rep.SubjectKeys, rep.States, rep.Elapsed.Round(time.Millisecond))
	if rep.TimePrecision > time.Nanosecond {
		fmt.Fprintf(w, "times are kept to the %v, the target's precision; finer digits were dropped\n", rep.TimePrecision)
	}
	switch {
	case rep.Events == 0 && rep.Snapshots == 0 && rep.SubjectKeys == 0 && rep.States == 0 && len(rep.Checkpoints) == 0:
		fmt.Fprintln(w, "the source store is empty: no events, snapshots, keys, view states or checkpoints; verified: the target holds none either")
	case rep.Events == 0:
		fmt.Fprintln(w, "verified: no events, the source's log being empty, and the same snapshots, keys and view states")
	default:
		fmt.Fprintf(w, "verified: the same events in the same order (positions 1 to %d), the same count and checksum in every stream, the same snapshots, keys and view states\n", rep.Events)
	}
	if rep.PositionGaps > 0 {
		times := fmt.Sprintf("%d times, first", rep.PositionGaps)
		if rep.PositionGaps == 1 {
			times = "once,"
		}
		fmt.Fprintf(w, "note: the source's log jumps over positions %s from %d to %d; this tool's adapters leave no gap, so an event may have been deleted by hand there (annals verify on the source names each); the target numbers its log without the gaps\n",
			times, rep.FirstGap[0], rep.FirstGap[1])
	}
	if len(rep.Checkpoints) == 0 {
		fmt.Fprintln(w, "no checkpoints to copy")
		return
	}
	fmt.Fprintln(w, "checkpoints, each the position of the last event its consumer handled, now that same event's position in the target, so that every consumer resumes at the event after it:")
	for _, m := range rep.Checkpoints {
		switch {
		case m.Rebuild:
			fmt.Fprintf(w, "  %s: not copied (-rebuild): rebuilds from the start\n", m.Consumer)
		case m.Schema && m.Keep:
			fmt.Fprintf(w, "  %s: %d, a read model's schema version, copied as it is (-keep): its tables must be in the target already\n", m.Consumer, m.From)
		case m.Schema:
			fmt.Fprintf(w, "  %s: %d, a read model's schema version, copied as it is\n", m.Consumer, m.From)
		case m.From == 0:
			fmt.Fprintf(w, "  %s: 0 → 0, nothing handled yet\n", m.Consumer)
		default:
			note := ""
			if m.PastHead {
				note = " (it was past the source's last event)"
			}
			if m.Keep {
				note += " (-keep)"
			}
			fmt.Fprintf(w, "  %s: %d → %d, after event %v%s\n", m.Consumer, m.From, m.To, m.Event, note)
		}
	}
}

// jsonReport is the report of a copy as -json prints it.
type jsonReport struct {
	Events        int64            `json:"events"`
	Copied        int64            `json:"copied"`
	Resumed       bool             `json:"resumed"`
	Finished      bool             `json:"finished_before"`
	Streams       int64            `json:"streams"`
	Snapshots     int64            `json:"snapshots"`
	SubjectKeys   int64            `json:"subject_keys"`
	States        int64            `json:"view_states"`
	TimePrecision string           `json:"time_precision"`
	ElapsedSecs   float64          `json:"elapsed_seconds"`
	Verified      bool             `json:"verified"`
	Checkpoints   []jsonCheckpoint `json:"checkpoints"`
	// PositionGaps counts the jumps over positions in the source's log,
	// and FirstGap is the first, when there is one: see storecopy.Report.
	PositionGaps int64     `json:"position_gaps"`
	FirstGap     *[2]int64 `json:"first_gap,omitempty"`
}

type jsonCheckpoint struct {
	Consumer string `json:"consumer"`
	From     int64  `json:"from"`
	To       *int64 `json:"to"` // null when left out for a rebuild
	Event    string `json:"event,omitempty"`
	Schema   bool   `json:"schema_version,omitempty"`
	Rebuild  bool   `json:"rebuild,omitempty"`
	Keep     bool   `json:"keep,omitempty"` // named in -keep: its tables must be in the target
	PastHead bool   `json:"past_head,omitempty"`
}

func newJSONReport(rep storecopy.Report) jsonReport {
	j := jsonReport{Events: rep.Events, Copied: rep.Copied, Resumed: rep.Resumed, Finished: rep.Finished, Streams: rep.Streams, Snapshots: rep.Snapshots,
		SubjectKeys: rep.SubjectKeys, States: rep.States, TimePrecision: rep.TimePrecision.String(), ElapsedSecs: rep.Elapsed.Seconds(),
		Verified: true, Checkpoints: []jsonCheckpoint{}, PositionGaps: rep.PositionGaps}
	if rep.PositionGaps > 0 {
		j.FirstGap = &rep.FirstGap
	}
	for _, m := range rep.Checkpoints {
		cp := jsonCheckpoint{Consumer: m.Consumer, From: m.From, Schema: m.Schema, Rebuild: m.Rebuild, Keep: m.Keep, PastHead: m.PastHead}
		if !m.Rebuild {
			to := m.To
			cp.To = &to
		}
		if m.Event != [16]byte{} {
			cp.Event = m.Event.String()
		}
		j.Checkpoints = append(j.Checkpoints, cp)
	}
	return j
}

// sqliteSidecars are the files SQLite keeps beside a database file.
var sqliteSidecars = []string{"-wal", "-shm", "-journal"}

// newSQLiteFile returns the path of the database file a sqlite: URL
// names when no file is there, so that opening the URL creates it; ""
// otherwise.
func newSQLiteFile(rawURL string) string {
	path := sqlitePath(rawURL)
	if path == "" {
		return ""
	}
	for _, suffix := range append([]string{""}, sqliteSidecars...) {
		if _, err := os.Lstat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			return ""
		}
	}
	return path
}

// removeIfEmpty closes the target of a failed copy and removes its file,
// which the copy created, when the copy wrote nothing to it but its mark
// of an unfinished copy: a file holding part of a copy is kept, for the
// next run to resume.
func removeIfEmpty(ctx context.Context, dst store.Store, path string) error {
	empty, err := storecopy.Empty(context.WithoutCancel(ctx), dst)
	if err != nil || !empty {
		return nil
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("the target %s, which this copy created and wrote nothing to, is left: %w", path, err)
	}
	return removeFile(path)
}

// also adds to err the failure to clean up after it, if any.
func also(err, cleanup error) error {
	if cleanup == nil {
		return err
	}
	return fmt.Errorf("%w; %w", err, cleanup)
}

// removeFile removes a SQLite database file that this copy created, and
// the files SQLite keeps beside it.
func removeFile(path string) error {
	for _, suffix := range append([]string{""}, sqliteSidecars...) {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the target %s, which this copy created and wrote nothing to, is left; remove it before running the copy again: %w", path, err)
		}
	}
	return nil
}

// sqlitePath returns the file path of a sqlite: URL that names one, ""
// for any other URL.
func sqlitePath(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "sqlite" || u.Host != "" || u.Opaque != "" || !filepath.IsAbs(u.Path) {
		return ""
	}
	return u.Path
}

// sameFile reports whether two sqlite: URLs, however spelt, name one
// database file that exists.
func sameFile(a, b string) bool {
	path := func(raw string) (os.FileInfo, bool) {
		p := sqlitePath(raw)
		if p == "" {
			return nil, false
		}
		info, err := os.Stat(p)
		return info, err == nil
	}
	ia, okA := path(a)
	ib, okB := path(b)
	return okA && okB && os.SameFile(ia, ib)
}
