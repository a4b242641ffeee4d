package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/samber/lo"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
)

// runFunc is a command's body, with its arguments.
type runFunc = func(ctx context.Context, c *cli, g *globals, args []string) error

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func headFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, g *globals, args []string) error {
		if err := noArgs("head", args); err != nil {
			return err
		}
		return withStore(ctx, g, func(s store.Store) error {
			h, err := s.Head(ctx)
			if err != nil {
				return err
			}
			// The head of a half-copied store is not its source's: say
			// so, as consumers and verify do, on stderr, so that the
			// number stays the output. A store that cannot list its
			// checkpoints holds no mark.
			var unfinished *unfinishedCopy
			if u, ok, err := storecopy.FindUnfinished(ctx, s); err != nil && !errors.Is(err, store.ErrUnsupported) {
				return err
			} else if ok {
				unfinished = newUnfinishedCopy(u)
				fmt.Fprintln(c.stderr, "warning: unfinished copy:", unfinished.Message)
			}
			if g.json {
				return printJSON(c.stdout, map[string]any{"head": h, "unfinished_copy": unfinished})
			}
			_, err = fmt.Fprintln(c.stdout, h)
			return err
		})
	}
}

type typesFlag []string

// String and Set make a repeatable flag.
func (t *typesFlag) String() string { return strings.Join(*t, ",") }
func (t *typesFlag) Set(v string) error {
	if v == "" {
		return errors.New("a type name is not empty: give the type of the records to read")
	}
	*t = append(*t, v)
	return nil
}

// recordPrinter prints records as text lines or JSON objects, one a
// line, with their payloads decoded as far as the keys allow.
type recordPrinter struct {
	w    io.Writer
	json bool
	dec  *decoder
}

func (p recordPrinter) print(ctx context.Context, r store.Record) error {
	pl := p.dec.record(ctx, r)
	if p.json {
		return printJSON(p.w, newJSONRecord(r, pl))
	}
	typ := fmt.Sprintf("%s/v%d", printable(r.Type), r.SchemaVersion)
	if len(r.Tags) > 0 {
		typ += " [" + strings.Join(lo.Map(r.Tags, func(t string, _ int) string { return printable(t) }), " ") + "]" // the tags queries find it by
	}
	_, err := fmt.Fprintf(p.w, "%d\t%s@%d\t%s\t%s\t%s\n", r.Position, printable(r.StreamID), r.Version, typ,
		r.Time.Format("2006-01-02T15:04:05.000Z"), pl.text(r))
	return err
}

func newPrinter(c *cli, g *globals, s store.Store) (recordPrinter, error) {
	dec, err := newDecoder(s, c.getenv)
	return recordPrinter{w: c.stdout, json: g.json, dec: dec}, err
}

func logFlags(fs *flag.FlagSet) runFunc {
	after := fs.Int64("after", 0, "read after this position")
	limit := fs.Int("limit", 100, "at most this many records (0: all); with -follow, all unless given: stop after this many")
	var types typesFlag
	fs.Var(&types, "type", "only records of `TYPE` (repeatable)")
	follow := fs.Bool("follow", false, "wait for new records")
	return func(ctx context.Context, c *cli, g *globals, args []string) error {
		if err := noArgs("log", args); err != nil {
			return err
		}
		if *limit < 0 || *after < 0 {
			return fmt.Errorf("log: -after and -limit must not be negative: %w", errUsage)
		}
		if *follow && !flagSet(fs, "limit") {
			*limit = 0 // follow as tail -f does, until interrupted
		}
		return withStore(ctx, g, func(s store.Store) error {
			p, err := newPrinter(c, g, s)
			if err != nil {
				return err
			}
			printed := 0
			warned := false
			for pos := *after; ; {
				page := store.DefaultLogLimit
				if *limit > 0 {
					page = min(page, *limit-printed)
				}
				// The head, read before the page, is where a filtered read
				// that found nothing may wait from: every event up to it
				// was visible.
				h, err := s.Head(ctx)
				if err != nil {
					return err
				}
				recs, err := s.ReadLog(ctx, store.LogQuery{After: pos, Limit: page, Types: types})
				if err != nil {
					return err
				}
				for _, r := range recs {
					if err := p.print(ctx, r); err != nil {
						return err
					}
					pos = r.Position
				}
				printed += len(recs)
				if *limit > 0 && printed >= *limit {
					return nil
				}
				if len(recs) > 0 {
					continue
				}
				if !*follow {
					return nil
				}
				if pos > h && !warned {
					// Nothing is there yet, and may not be for long.
					fmt.Fprintf(c.stderr, "log: -after %d is past the head of the log, %d: waiting for the events after position %d\n", *after, h, pos)
					warned = true
				}
				pos = max(pos, h)
				if err := s.Wait(ctx, pos); err != nil {
					return err
				}
			}
		})
	}
}

func streamFlags(fs *flag.FlagSet) runFunc {
	from := fs.Int64("from", 1, "first version")
	return func(ctx context.Context, c *cli, g *globals, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("stream: want one stream ID: %w", errUsage)
		}
		if *from < 1 {
			return fmt.Errorf("stream: -from is a version of the stream, 1 or more: %w", errUsage)
		}
		return withStore(ctx, g, func(s store.Store) error {
			p, err := newPrinter(c, g, s)
			if err != nil {
				return err
			}
			n, want := 0, *from
			var gaps []string // versions the stream skips, which no read of it should see
			for r, err := range s.ReadStream(ctx, args[0], *from) {
				if err != nil {
					return err
				}
				if r.Version != want {
					gaps = append(gaps, fmt.Sprintf("version %d where %d should be", r.Version, want))
				}
				want = r.Version + 1
				if err := p.print(ctx, r); err != nil {
					return err
				}
				n++
			}
			if n == 0 {
				return fmt.Errorf("stream %q has no events from version %d: %w", args[0], *from, store.ErrNotFound)
			}
			if len(gaps) > 0 {
				return fmt.Errorf("stream %q skips versions (%s): its records are corrupt, and the application fails to load it; run annals verify to find every such place: %w",
					args[0], strings.Join(gaps, "; "), store.ErrCorrupt)
			}
			return nil
		})
	}
}

func checkpointFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, g *globals, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("checkpoint: want one consumer name: %w", errUsage)
		}
		return withStore(ctx, g, func(s store.Store) error {
			cps, err := checkpoints(ctx, s, args)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(c.stdout, map[string]any{"consumer": args[0], "position": cps[0].Position})
			}
			_, err = fmt.Fprintln(c.stdout, cps[0].Position)
			return err
		})
	}
}

// schemaPrefix starts the names of checkpoints that hold a read model's
// schema version rather than a position.
var schemaPrefix = annals.SchemaConsumer("")

// checkpoints returns the checkpoints of the consumers named, or of all
// consumers when none is named. A consumer that has no checkpoint is an
// error matching store.ErrNotFound, which lists the known ones.
func checkpoints(ctx context.Context, s store.Store, names []string) ([]store.Checkpoint, error) {
	exp, ok := s.(store.Exporter)
	if !ok {
		return nil, fmt.Errorf("the store's adapter (%T) cannot list its consumers: %w", s, store.ErrUnsupported)
	}
	var all []store.Checkpoint
	for cp, err := range exp.ExportCheckpoints(ctx) {
		if err != nil {
			return nil, err
		}
		all = append(all, cp)
	}
	if len(names) == 0 {
		return all, nil
	}
	out := make([]store.Checkpoint, 0, len(names))
	for _, name := range names {
		i := slices.IndexFunc(all, func(cp store.Checkpoint) bool { return cp.Consumer == name })
		if i < 0 {
			var known []string
			for _, cp := range all {
				if !strings.HasPrefix(cp.Consumer, schemaPrefix) && !storecopy.IsMark(cp.Consumer) {
					known = append(known, cp.Consumer)
				}
			}
			list := "none"
			if len(known) > 0 {
				list = strings.Join(known, ", ")
			}
			return nil, fmt.Errorf("consumer %q has no checkpoint in this store (consumers: %s): %w", name, list, store.ErrNotFound)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// consumerStatus is what `annals consumers` tells of one consumer.
type consumerStatus struct {
	Name       string    `json:"name"`
	Checkpoint int64     `json:"checkpoint"`
	MovedAt    time.Time `json:"moved_at,omitzero"`
	// Lag counts the positions of the log after the checkpoint: the
	// events the consumer has yet to handle, whatever their types.
	Lag int64 `json:"lag"`
	// PastHead is set when the checkpoint is past the head of the log (a
	// store restored under newer checkpoints): the consumer would skip the
	// events appended up to its checkpoint. verify reports it too.
	PastHead bool `json:"past_head,omitempty"`
	// Oldest is the time of the first event the consumer has not handled,
	// and OldestAge how long ago that was; absent when it is caught up.
	Oldest    time.Time `json:"oldest_unhandled,omitzero"`
	OldestAge float64   `json:"oldest_unhandled_age_seconds,omitempty"`
	// Lease is who holds the consumer's lease; absent when nobody does or
	// the store cannot tell (LeaseKnown).
	Lease      *leaseStatus `json:"lease,omitempty"`
	LeaseKnown bool         `json:"lease_known"`
	// Schema is the version of the consumer's read-model schema, when it
	// has one.
	Schema int64 `json:"schema_version,omitempty"`
	// Stopped is always unknown to the store.
	Stopped      *string `json:"stopped"`
	StoppedKnown bool    `json:"stopped_known"`
}

type leaseStatus struct {
	Holder  string    `json:"holder"`
	Since   time.Time `json:"since,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
}

// stoppedNote says why the tool cannot tell whether a consumer stopped.
const stoppedNote = "whether a consumer stopped on an error, and which, is not recorded in the store: the application's System.Status tells it"

func consumersFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, g *globals, args []string) error {
		return withStore(ctx, g, func(s store.Store) error {
			cps, err := checkpoints(ctx, s, args)
			if err != nil {
				return err
			}
			all, err := checkpoints(ctx, s, nil)
			if err != nil {
				return err
			}
			head, err := s.Head(ctx)
			if err != nil {
				return err
			}
			schemas := map[string]int64{}
			for _, cp := range all {
				if name, ok := strings.CutPrefix(cp.Consumer, schemaPrefix); ok {
					schemas[name] = cp.Position
				}
			}
			var unfinished *unfinishedCopy
			if u, ok, err := storecopy.UnfinishedIn(all); err != nil {
				return err
			} else if ok {
				unfinished = newUnfinishedCopy(u)
			}
			leases, _ := s.(store.LeaseInspector)
			now := time.Now()
			out := []consumerStatus{} // [] in JSON when there are none
			for _, cp := range cps {
				if (strings.HasPrefix(cp.Consumer, schemaPrefix) || storecopy.IsMark(cp.Consumer)) && len(args) == 0 {
					continue // a read model's schema version, shown with its consumer, or the mark, shown above them
				}
				st := consumerStatus{Name: cp.Consumer, Checkpoint: cp.Position, MovedAt: cp.Time, Lag: max(head-cp.Position, 0),
					PastHead: cp.Position > head, Schema: schemas[cp.Consumer], LeaseKnown: leases != nil}
				if st.Lag > 0 {
					next, err := s.ReadLog(ctx, store.LogQuery{After: cp.Position, Limit: 1})
					if err != nil {
						return err
					}
					if len(next) > 0 {
						st.Oldest, st.OldestAge = next[0].Time, now.Sub(next[0].Time).Seconds()
					}
				}
				if leases != nil {
					h, held, err := leases.LeaseHolder(ctx, annals.LeaseName(cp.Consumer))
					if err != nil {
						return err
					}
					if held {
						st.Lease = &leaseStatus{Holder: h.Holder, Since: h.Since, Expires: h.Expires}
					}
				}
				out = append(out, st)
			}
			if g.json {
				return printJSON(c.stdout, map[string]any{"head": head, "unfinished_copy": unfinished, "consumers": out, "stopped_note": stoppedNote})
			}
			return printConsumers(c.stdout, head, unfinished, out, now)
		})
	}
}

// unfinishedCopy is the mark of a copy into the store that has not
// finished, as verify and consumers print it with -json.
type unfinishedCopy struct {
	// Message says what it means and what to do.
	Message string `json:"message"`
	// Began is when the copy's last run began writing to the store.
	Began time.Time `json:"began,omitzero"`
	// SourceEvents counts the events that run set out to copy.
	SourceEvents int64 `json:"source_events"`
}

func newUnfinishedCopy(u storecopy.Unfinished) *unfinishedCopy {
	return &unfinishedCopy{Message: u.String(), Began: u.Began, SourceEvents: u.Events}
}

func printConsumers(w io.Writer, head int64, unfinished *unfinishedCopy, cs []consumerStatus, now time.Time) error {
	fmt.Fprintf(w, "head %d\n", head)
	if unfinished != nil {
		fmt.Fprintln(w, "unfinished copy:", unfinished.Message)
	}
	if len(cs) == 0 {
		_, err := fmt.Fprintln(w, "no consumer has a checkpoint")
		return err
	}
	rows := [][]string{{"CONSUMER", "CHECKPOINT", "LAG", "OLDEST UNHANDLED", "LEASE", "MOVED"}}
	for _, st := range cs {
		oldest := "-"
		if !st.Oldest.IsZero() {
			oldest = ago(now.Sub(st.Oldest))
		}
		lease := "none"
		switch {
		case !st.LeaseKnown:
			lease = "unknown"
		case st.Lease != nil:
			lease = printable(st.Lease.Holder)
			if !st.Lease.Expires.IsZero() {
				lease += ", expires in " + st.Lease.Expires.Sub(now).Round(time.Second).String()
			}
		}
		moved := "-"
		if !st.MovedAt.IsZero() {
			moved = ago(now.Sub(st.MovedAt))
		}
		name := printable(st.Name)
		if st.Schema > 0 {
			name += fmt.Sprintf(" (schema v%d)", st.Schema)
		}
		lag := fmt.Sprint(st.Lag)
		if st.PastHead {
			lag += ", past the head"
		}
		rows = append(rows, []string{name, fmt.Sprint(st.Checkpoint), lag, oldest, lease, moved})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, cell := range r {
			if i == len(r)-1 {
				b.WriteString(cell)
				break
			}
			b.WriteString(cell + strings.Repeat(" ", widths[i]-len([]rune(cell))+2))
		}
		fmt.Fprintln(w, b.String())
	}
	_, err := fmt.Fprintln(w, "stopped: unknown;", stoppedNote)
	return err
}

// ago prints a duration to the second, as "3m12s ago".
func ago(d time.Duration) string {
	if d < time.Second {
		return "now"
	}
	return d.Round(time.Second).String() + " ago"
}

// flagSet reports whether the command line gave the flag named name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
