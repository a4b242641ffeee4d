package storecopy_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
)

// cutAt runs a copy that is interrupted as a phase begins.
func cutAt(t *testing.T, src, dst store.Store, opts storecopy.Options, phase storecopy.Phase) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.Progress = func(p storecopy.Progress) {
		if p.Phase == phase {
			cancel()
		}
	}
	if _, err := storecopy.Copy(ctx, src, dst, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("the copy cut as %q begins: %v, want context.Canceled", phase, err)
	}
}

// tables are the consumers that keep their read models in the
// application's own tables in a store that fillTables wrote: each must be
// named in Options.Rebuild or Options.Keep.
var tables = []string{"invoices-table", "ledger-table", "orders-table"}

// fillTables fills a store as fill does, with two more consumers of
// read models in the application's tables: one that handled events, one
// that has run its migrations alone.
func fillTables(t *testing.T, s store.Store) {
	t.Helper()
	head := fill(t, s, 3, 8)
	for _, cp := range []store.Checkpoint{{Consumer: "invoices-table", Position: head - 2}, {Consumer: "schema:invoices-table", Position: 1},
		{Consumer: "schema:ledger-table", Position: 3}} {
		if err := s.SetCheckpoint(context.Background(), cp.Consumer, cp.Position); err != nil {
			t.Fatal(err)
		}
	}
}

// choice is which of tables a copy rebuilds: bit i for tables[i]; the
// others it keeps.
type choice int

// options returns the options of a choice, each list in the order given
// and with the repeats given: a choice is a set.
func (c choice) options(order []string, repeat bool) storecopy.Options {
	var o storecopy.Options
	for _, name := range order {
		if c&(1<<slices.Index(tables, name)) != 0 {
			o.Rebuild = append(o.Rebuild, name)
		} else {
			o.Keep = append(o.Keep, name)
		}
	}
	if repeat {
		o.Rebuild, o.Keep = append(o.Rebuild, o.Rebuild...), append(o.Keep, o.Keep...)
	}
	return o
}

// flags are the flags of a choice, as a copy names them.
func (c choice) flags() string {
	o := c.options(tables, false)
	f := append(lo.Map(o.Rebuild, func(n string, _ int) string { return "-rebuild " + n }), lo.Map(o.Keep, func(n string, _ int) string { return "-keep " + n })...)
	return strings.Join(f, " ")
}

// A copy goes on only with the options that change what it writes, as
// the run it resumes had them: for every choice of -rebuild and -keep of
// an interrupted copy (cut after its events, or after its checkpoints,
// which the options decide), and every choice of the run that resumes
// it, the resumed run is refused with ErrOtherOptions, writing nothing
// and naming both runs' flags and the flags to run it with, exactly when
// the two choices differ as sets; otherwise, in whatever order and with
// whatever repeats, it goes through and ends as a copy that ran through
// with those options.
func TestACopyResumesOnlyWithItsOwnOptions(t *testing.T) {
	ctx := context.Background()
	src := open(t, "memory:")
	fillTables(t, src)
	all := choice(1<<len(tables) - 1)
	whole := map[choice]contents{}
	for c := range all + 1 {
		dst := open(t, "memory:")
		if _, err := storecopy.Copy(ctx, src, dst, c.options(tables, false)); err != nil {
			t.Fatal(err)
		}
		whole[c] = dump(t, dst)
	}
	reversed := slices.Clone(tables)
	slices.Reverse(reversed)
	for _, phase := range []storecopy.Phase{storecopy.PhaseSnapshots, storecopy.PhaseVerifyOthers} {
		for first := range all + 1 {
			for again := range all + 1 {
				t.Run(fmt.Sprintf("%s/%b/%b", phase, first, again), func(t *testing.T) {
					dst := open(t, "memory:")
					cutAt(t, src, dst, first.options(tables, false), phase)
					before := dump(t, dst)
					rep, err := storecopy.Copy(ctx, src, dst, again.options(reversed, true))
					if first == again {
						if err != nil || !rep.Resumed {
							t.Fatalf("resumed with the same options, in another order, repeated: %+v, %v", rep, err)
						}
						if got := dump(t, dst); !reflect.DeepEqual(got, whole[again]) {
							t.Errorf("the resumed copy differs from the whole one:\n%+v\n%+v", got.Checkpoints, whole[again].Checkpoints)
						}
						return
					}
					if !errors.Is(err, storecopy.ErrOtherOptions) {
						t.Fatalf("resumed with other options: %v, want ErrOtherOptions", err)
					}
					for _, says := range []string{"whose last run was with " + first.flags(), "this run is with " + again.flags(),
						"run the copy again with " + first.flags() + ", as it was interrupted, or start over: empty the target"} {
						if !strings.Contains(err.Error(), says) {
							t.Errorf("the refusal says %q, want %q", err, says)
						}
					}
					if after := dump(t, dst); !reflect.DeepEqual(before, after) {
						t.Errorf("the refused copy wrote to the target")
					}
				})
			}
		}
	}
}

// The probe's case on the real adapters: a copy that rebuilds a read
// model in the application's tables, interrupted, then run with -keep
// instead, is refused, and the target keeps no schema version of it
// (which would tell the application that its tables are there); the
// same copy run again goes through.
func TestAResumeThatKeepsWhatTheCopyRebuildsIsRefused(t *testing.T) {
	for _, adapter := range []string{"sqlite", "postgres"} {
		t.Run(adapter, func(t *testing.T) {
			ctx := context.Background()
			src := open(t, storeURL(t, "sqlite"))
			fill(t, src, 3, 8)
			dst := open(t, storeURL(t, adapter))
			rebuild := storecopy.Options{Rebuild: filled}
			cutAt(t, src, dst, rebuild, storecopy.PhaseVerifyOthers)
			before := dump(t, dst)
			_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled})
			if !errors.Is(err, storecopy.ErrOtherOptions) || !strings.Contains(err.Error(), "run the copy again with -rebuild orders-table") {
				t.Fatalf("resumed with -keep: %v, want ErrOtherOptions", err)
			}
			if after := dump(t, dst); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused copy wrote to the target")
			}
			if u := unfinished(t, dst); !strings.Contains(u.String(), "with -rebuild orders-table") {
				t.Errorf("the mark says %q, want the flags of its run", u)
			}
			if _, err := storecopy.Copy(ctx, src, dst, rebuild); err != nil {
				t.Fatal(err)
			}
			if at, err := dst.Checkpoint(ctx, "schema:orders-table"); at != 0 || err != nil {
				t.Errorf("the copy rebuilding orders-table left its schema version %d (%v)", at, err)
			}
			if left := lo.Filter(all(t, dst.(store.Exporter).ExportCheckpoints(ctx)), func(cp store.Checkpoint, _ int) bool {
				return storecopy.IsMark(cp.Consumer)
			}); len(left) > 0 {
				t.Errorf("the finished copy left %v", left)
			}
		})
	}
}

// A mark set by an older version of the copy records no options: the
// copy resumes it whatever its options, as that version did, and from its
// first write on, the options of the run are recorded, and held to.
func TestAMarkWithoutOptionsResumes(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	fill(t, src, 3, 8)
	dst := open(t, storeURL(t, "sqlite"))
	keep, rebuild := storecopy.Options{Keep: filled}, storecopy.Options{Rebuild: filled}
	cutAt(t, src, dst, keep, storecopy.PhaseSnapshots)
	// What an older version left: the mark alone.
	options := lo.FilterMap(all(t, dst.(store.Exporter).ExportCheckpoints(ctx)), func(cp store.Checkpoint, _ int) (string, bool) {
		return cp.Consumer, storecopy.IsMark(cp.Consumer) && cp.Consumer != storecopy.MarkName
	})
	if len(options) == 0 {
		t.Fatal("the cut copy recorded no options")
	}
	if err := dst.(store.Importer).DeleteCheckpoints(ctx, options); err != nil {
		t.Fatal(err)
	}
	if u := unfinished(t, dst); u.Recorded || strings.Contains(u.String(), "-keep") {
		t.Errorf("a mark without options: %+v, %q", u, u)
	}

	// A run that writes records its options (one cut before it writes
	// would leave the older mark as it was).
	cutAt(t, src, dst, rebuild, storecopy.PhaseVerifyOthers)
	if u := unfinished(t, dst); !u.Recorded || u.Flags != "-rebuild orders-table" {
		t.Errorf("the mark after a run resumed an older one: %+v, want that run's options", u)
	}
	if _, err := storecopy.Copy(ctx, src, dst, keep); !errors.Is(err, storecopy.ErrOtherOptions) {
		t.Errorf("resumed with other options than the last run's: %v, want ErrOtherOptions", err)
	}
	if _, err := storecopy.Copy(ctx, src, dst, rebuild); err != nil {
		t.Fatal(err)
	}
	if _, marked, err := storecopy.FindUnfinished(ctx, dst); marked || err != nil {
		t.Errorf("the finished copy left its mark (%v)", err)
	}
}

// Options longer than a checkpoint's name are recorded in pieces, and
// read back whole: consumers with long names, of many bytes a character,
// one with a space, resume with the same options and are refused with
// others, named as flags.
func TestLongOptionsAreRecordedInPieces(t *testing.T) {
	ctx := context.Background()
	src := open(t, "memory:")
	head := fill(t, src, 2, 3)
	long := []string{strings.Repeat("ü", 120), strings.Repeat("ö", 119) + " x", strings.Repeat("名", 80)}
	for _, name := range long {
		for _, cp := range []store.Checkpoint{{Consumer: name, Position: head}, {Consumer: "schema:" + name, Position: 1}} {
			if err := src.SetCheckpoint(ctx, cp.Consumer, cp.Position); err != nil {
				t.Fatal(err)
			}
		}
	}
	rebuild := storecopy.Options{Rebuild: long, Keep: filled}
	dst := open(t, "memory:")
	cutAt(t, src, dst, rebuild, storecopy.PhaseSnapshots)
	pieces := lo.CountBy(all(t, dst.(store.Exporter).ExportCheckpoints(ctx)), func(cp store.Checkpoint) bool { return storecopy.IsMark(cp.Consumer) })
	if pieces < 4 {
		t.Errorf("%d checkpoints hold the mark and options of %d bytes, want them cut in pieces", pieces, len(strings.Join(long, "")))
	}
	// Sorted by their bytes, as Go compares strings: ö, ü, 名.
	want := "-rebuild " + strconv.Quote(long[1]) + " -rebuild " + long[0] + " -rebuild " + long[2] + " -keep orders-table"
	if u := unfinished(t, dst); u.Flags != want {
		t.Errorf("the mark's flags: %q, want %q", u.Flags, want)
	}
	other := storecopy.Options{Rebuild: long[:2], Keep: append([]string{long[2]}, filled...)}
	if _, err := storecopy.Copy(ctx, src, dst, other); !errors.Is(err, storecopy.ErrOtherOptions) || !strings.Contains(err.Error(), "run the copy again with "+want+",") {
		t.Errorf("resumed with other options: %v, want ErrOtherOptions naming %q", err, want)
	}
	if _, err := storecopy.Copy(ctx, src, dst, rebuild); err != nil {
		t.Fatal(err)
	}
	if left := lo.CountBy(all(t, dst.(store.Exporter).ExportCheckpoints(ctx)), func(cp store.Checkpoint) bool { return storecopy.IsMark(cp.Consumer) }); left > 0 {
		t.Errorf("the finished copy left %d of its mark's checkpoints", left)
	}
}
