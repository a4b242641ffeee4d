package storecopy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/sqlite"
)

// Every pair of adapters copies everything, as stored, and the target
// reads back as the source does, but for times finer than it keeps.
func TestCopyBetweenAdapters(t *testing.T) {
	for _, pair := range [][2]string{
		{"sqlite", "postgres"}, {"postgres", "sqlite"}, {"memory", "sqlite"},
		{"sqlite", "memory"}, {"postgres", "postgres"}, {"memory", "postgres"},
	} {
		t.Run(pair[0]+"-to-"+pair[1], func(t *testing.T) {
			ctx := context.Background()
			src, dst := open(t, storeURL(t, pair[0])), open(t, storeURL(t, pair[1]))
			head := fill(t, src, 7, 9)
			var phases []storecopy.Phase
			rep, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: 10, Keep: filled, Progress: func(p storecopy.Progress) {
				if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
					phases = append(phases, p.Phase)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Events != head || rep.Copied != head || rep.Resumed || rep.Streams != 7 || rep.Snapshots != 4 || rep.States != 8 || rep.SubjectKeys != 3 {
				t.Errorf("report %+v", rep)
			}
			wantPhases := []storecopy.Phase{storecopy.PhaseEvents, storecopy.PhaseSnapshots, storecopy.PhaseSubjectKeys, storecopy.PhaseStates,
				storecopy.PhaseCheckpoints, storecopy.PhaseVerifyOthers}
			if !reflect.DeepEqual(phases, wantPhases) {
				t.Errorf("phases %v, want %v", phases, wantPhases)
			}
			a, b := dump(t, src), dump(t, dst)
			prec := dst.(store.Importer).TimePrecision()
			for i := range a.Events {
				a.Events[i].Time = a.Events[i].Time.Truncate(prec)
			}
			if !reflect.DeepEqual(a.Events, b.Events) {
				t.Errorf("events differ:\n%+v\n%+v", a.Events[:2], b.Events[:2])
			}
			// Tagged events are found by query in the target as in the
			// source.
			q := store.QueryItems(store.QueryItem{Tags: []string{"acct:1"}})
			if found, want := queried(t, dst, q), queried(t, src, q); len(want) == 0 || !reflect.DeepEqual(found, want) {
				t.Errorf("query %v finds %v in the target, %v in the source", q, found, want)
			}
			for i := range a.Snapshots {
				a.Snapshots[i].Time = a.Snapshots[i].Time.Truncate(prec)
			}
			if !reflect.DeepEqual(a.Snapshots, b.Snapshots) || !reflect.DeepEqual(a.States, b.States) || !reflect.DeepEqual(a.Keys, b.Keys) {
				t.Errorf("snapshots, states or keys differ:\n%+v\n%+v", a, b)
			}
			got := names(b.Checkpoints, func(c store.Checkpoint) string { return fmt.Sprint(c.Consumer, "=", c.Position) })
			want := []string{fmt.Sprint("balances=", head/2), fmt.Sprint("mailer=", head-1), "schema:orders-table=2"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("checkpoints %v, want %v", got, want)
			}
			for _, m := range rep.Checkpoints {
				if !m.Schema && m.Event != eventAt(t, src, m.From) {
					t.Errorf("checkpoint %+v: want the event at %d", m, m.From)
				}
			}
		})
	}
}

// queried returns the IDs of the events of s that match q.
func queried(t *testing.T, s store.Store, q store.Query) []string {
	t.Helper()
	var ids []string
	for r, err := range s.(store.DCB).ReadQuery(context.Background(), q, 0) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID.String())
	}
	return ids
}

// spaced is a store whose positions are three times the memory store's,
// with gaps between them, as a store that numbered its log otherwise
// might have.
type spaced struct{ *memory.Store }

func (s spaced) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	q.After /= 3
	recs, err := s.Store.ReadLog(ctx, q)
	for i := range recs {
		recs[i].Position *= 3
	}
	return recs, err
}

func (s spaced) ReadStream(ctx context.Context, id string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		for r, err := range s.Store.ReadStream(ctx, id, from) {
			r.Position *= 3
			if !yield(r, err) {
				return
			}
		}
	}
}

func (s spaced) Head(ctx context.Context) (int64, error) {
	h, err := s.Store.Head(ctx)
	return 3 * h, err
}

func (s spaced) ExportCheckpoints(ctx context.Context) iter.Seq2[store.Checkpoint, error] {
	return func(yield func(store.Checkpoint, error) bool) {
		for c, err := range s.Store.ExportCheckpoints(ctx) {
			if !strings.HasPrefix(c.Consumer, "schema:") {
				c.Position *= 3
			}
			if !yield(c, err) {
				return
			}
		}
	}
}

// A checkpoint goes to the target position of the event it names, not to
// the same number: positions of a source with gaps are numbered anew.
func TestCopyMapsCheckpointsToTheirEvents(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	head := fill(t, mem, 3, 4)
	src := spaced{mem}
	if err := mem.SetCheckpoint(ctx, "past-the-head", head+5); err != nil {
		t.Fatal(err)
	}
	dst := open(t, storeURL(t, "sqlite"))
	rep, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: 5, Keep: filled})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]storecopy.CheckpointMap{}
	for _, m := range rep.Checkpoints {
		byName[m.Consumer] = m
	}
	for name, want := range map[string]int64{"balances": head / 2, "mailer": head - 1, "schema:orders-table": 2, "past-the-head": head} {
		m := byName[name]
		got, err := dst.Checkpoint(ctx, name)
		if err != nil || got != want || m.To != want {
			t.Errorf("checkpoint %s: %d (report %+v), want %d (%v)", name, got, m, want, err)
		}
		if !m.Schema && eventAt(t, dst, m.To) != eventAt(t, mem, want) {
			t.Errorf("checkpoint %s went to another event", name)
		}
	}
	if m := byName["mailer"]; m.From != 3*(head-1) || m.Event != eventAt(t, mem, head-1) {
		t.Errorf("mailer: %+v", m)
	}
	if !byName["past-the-head"].PastHead {
		t.Errorf("a checkpoint past the head is not reported as such")
	}
	// Every position of the spaced log follows a jump, the first from 0
	// to 3.
	if rep.PositionGaps != head || rep.FirstGap != [2]int64{0, 3} {
		t.Errorf("the report counts %d gaps, the first %v; want %d, the first [0 3]", rep.PositionGaps, rep.FirstGap, head)
	}
}

// A target with anything that is not the source's is refused before
// anything is written.
func TestCopyRefusesATargetWithOtherData(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	fill(t, src, 2, 3)
	for name, spoil := range map[string]func(store.Store) error{
		"an event": func(s store.Store) error {
			_, err := s.Append(ctx, "other", store.NoStream, []store.Event{{Type: "X"}})
			return err
		},
		"a checkpoint": func(s store.Store) error { return s.SetCheckpoint(ctx, "someone-else", 1) },
		"a snapshot": func(s store.Store) error {
			return s.(snapshot.Store).SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "elsewhere", Version: 1, Type: "S", SchemaVersion: 1})
		},
		"a key": func(s store.Store) error {
			_, err := s.(store.KeyStore).CreateSubjectKey(ctx, store.SubjectKey{Subject: "stranger", KeyID: "k", Wrapped: []byte{1}})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			dst := open(t, storeURL(t, "memory"))
			if err := spoil(dst); err != nil {
				t.Fatal(err)
			}
			before := dump(t, dst)
			_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled})
			if !errors.Is(err, storecopy.ErrNotEmpty) {
				t.Fatalf("copy into a store with %s: %v, want ErrNotEmpty", name, err)
			}
			if after := dump(t, dst); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused copy wrote to the target")
			}
		})
	}
}

// A source whose stream skips a version (a row deleted by hand) is not
// copied from the page that holds the gap on: the target keeps the pages
// before it, each stream's versions contiguous from 1, so that it loads,
// though cut short; the error says where, and the target is marked as
// an unfinished copy.
func TestCopyStopsBeforeAStreamThatSkipsAVersion(t *testing.T) {
	ctx := context.Background()
	url := storeURL(t, "sqlite")
	src := open(t, url)
	fill(t, src, 2, 6) // acct-000 and acct-001 take turns, a few events at a time
	db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DELETE FROM annals_events WHERE stream_id = 'acct-001' AND version = 4`); err != nil {
		t.Fatal(err)
	}
	dst := open(t, storeURL(t, "sqlite"))
	_, err = storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: 2, Keep: filled})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), `stream "acct-001" has version 5 after 3`) {
		t.Fatalf("copy of a source with a gap: %v, want ErrCorrupt naming the stream and its versions", err)
	}
	head, err := dst.Head(ctx)
	if err != nil || head == 0 {
		t.Fatalf("the target's head is %d, %v; want the pages before the gap copied", head, err)
	}
	for _, stream := range []string{"acct-000", "acct-001"} {
		var want int64 = 1
		for r, err := range dst.ReadStream(ctx, stream, 1) {
			if err != nil {
				t.Fatal(err)
			}
			if r.Version != want {
				t.Fatalf("the target's stream %s has version %d where %d belongs", stream, r.Version, want)
			}
			want++
		}
		if stream == "acct-001" && want > 4 {
			t.Fatalf("the target's stream acct-001 reaches version %d, past the gap", want-1)
		}
	}
	unfinished(t, dst)
}

// A source whose stream lost its last event (a row deleted by hand)
// leaves a gap in the log, which the report counts, and a snapshot past
// the stream's end, which the copy refuses to carry: the target stays
// marked unfinished, and the error says which stream and what to run.
// A source with no snapshot past its streams, and no gap, reports none.
func TestCopyRefusesASnapshotPastTheEndOfItsStream(t *testing.T) {
	ctx := context.Background()
	url := storeURL(t, "sqlite")
	src := open(t, url)
	fill(t, src, 2, 6) // and a snapshot of acct-000 at version 6
	rep, err := storecopy.Copy(ctx, src, open(t, storeURL(t, "sqlite")), storecopy.Options{Batch: 4, Keep: filled})
	if err != nil || rep.PositionGaps != 0 || rep.Snapshots != 1 {
		t.Fatalf("copy of a whole source: %+v, %v; want the snapshot and no gap", rep, err)
	}
	db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var last int64
	if err := db.QueryRowContext(ctx, `SELECT position FROM annals_events WHERE stream_id = 'acct-000' AND version = 6`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM annals_events WHERE position = ?`, last); err != nil {
		t.Fatal(err)
	}
	dst := open(t, storeURL(t, "sqlite"))
	_, err = storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: 4, Keep: filled})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), `the snapshot of stream "acct-000" is at version 6, but the stream ends at version 5`) ||
		!strings.Contains(err.Error(), "run annals verify on the source") {
		t.Fatalf("copy of a source with a snapshot past its stream's end: %v, want ErrCorrupt naming the stream and the versions", err)
	}
	unfinished(t, dst)
}

// Running a copy again over a finished one moves no checkpoint back: a
// target whose consumer went further than the source's is refused, and
// nothing is written.
func TestCopyRefusesToMoveACheckpointBack(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	head := fill(t, src, 2, 3)
	dst := open(t, storeURL(t, "sqlite"))
	if _, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled}); err != nil {
		t.Fatal(err)
	}
	if err := dst.SetCheckpoint(ctx, "balances", head); err != nil {
		t.Fatal(err)
	}
	before := dump(t, dst)
	_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled})
	if !errors.Is(err, storecopy.ErrNotEmpty) || !strings.Contains(err.Error(), `checkpoint "balances" is at `+strconv.FormatInt(head, 10)) {
		t.Fatalf("copy over a target whose checkpoint is ahead: %v, want ErrNotEmpty naming the checkpoint", err)
	}
	if after := dump(t, dst); !reflect.DeepEqual(before, after) {
		t.Errorf("the refused copy wrote to the target")
	}
	if at, err := dst.Checkpoint(ctx, "balances"); err != nil || at != head {
		t.Errorf("the target's checkpoint is %d, %v; want it left at %d", at, err, head)
	}
}

// A copy cut short at any phase and run again ends with the target a
// copy that ran through makes; events appended to the source in between
// are copied too.
func TestCopyResumes(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "sqlite"))
	fill(t, src, 5, 8)
	whole := open(t, storeURL(t, "sqlite"))
	if _, err := storecopy.Copy(ctx, src, whole, storecopy.Options{Batch: 4, Keep: filled}); err != nil {
		t.Fatal(err)
	}
	dst := open(t, storeURL(t, "sqlite"))
	cuts := 0
	for stopAt := 1; ; stopAt += 3 {
		cctx, cancel := context.WithCancel(ctx)
		calls := 0
		rep, err := storecopy.Copy(cctx, src, dst, storecopy.Options{Batch: 4, Keep: filled, Progress: func(storecopy.Progress) {
			if calls++; calls == stopAt {
				cancel()
			}
		}})
		cancel()
		if err == nil {
			if cuts < 5 || !rep.Resumed {
				t.Fatalf("the copy ran through after %d cuts (resumed %v)", cuts, rep.Resumed)
			}
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cut %d: %v", cuts, err)
		}
		// Once the copy has written anything, the target says it is
		// unfinished until a run goes through.
		if empty, err := storecopy.Empty(ctx, dst); err != nil || !empty {
			unfinished(t, dst)
		}
		cuts++
	}
	if _, marked, err := storecopy.FindUnfinished(ctx, dst); marked || err != nil {
		t.Errorf("the finished copy left its mark (%v)", err)
	}
	a, b := withoutTimes(dump(t, whole)), withoutTimes(dump(t, dst))
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the resumed copy differs from the whole one")
	}

	// More events in the source: running the copy again brings them over.
	if _, err := src.Append(ctx, "late", store.NoStream, []store.Event{{Type: "Late"}, {Type: "Late"}}); err != nil {
		t.Fatal(err)
	}
	rep, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled})
	if err != nil || rep.Copied != 2 || !rep.Resumed || !rep.Finished {
		t.Fatalf("copy of two new events: %+v, %v", rep, err)
	}
}

// The verification finds a target that differs from its source.
func TestCopyFindsADifference(t *testing.T) {
	ctx := context.Background()
	src := open(t, storeURL(t, "memory"))
	fill(t, src, 3, 3)
	path := t.TempDir() + "/dst.db"
	dst, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE annals_events SET data = x'00' WHERE position = 4`); err != nil {
		t.Fatal(err)
	}
	_, err = storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled})
	var mismatch *storecopy.MismatchError
	if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), "payload") || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("copy over a changed target: %v, want a mismatch naming the payload and the stream's checksum", err)
	}
}

// An import that no append could have stored (a tag Append refuses) or
// that some adapter cannot keep (a time outside store.MinTime and
// store.MaxTime) is refused by every adapter alike, with ErrInvalid, and
// nothing of it is written: a store holds only what every other can take.
func TestImportsAreRefusedAlikeByEveryAdapter(t *testing.T) {
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	record := func(pos int64) store.Record {
		return store.Record{Position: pos, StreamID: "s", Version: pos, ID: uuid.New(), Type: "T", SchemaVersion: 1, Time: at, Data: []byte("{}")}
	}
	for _, adapter := range []string{"memory", "sqlite", "postgres"} {
		t.Run(adapter, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, storeURL(t, adapter))
			imp := s.(store.Importer)
			for name, spoil := range map[string]func(*store.Record){
				"an empty tag":    func(r *store.Record) { r.Tags = []string{"a", ""} },
				"a tag with NUL":  func(r *store.Record) { r.Tags = []string{"a\x00b"} },
				"a repeated tag":  func(r *store.Record) { r.Tags = []string{"a", "a"} },
				"the year 1600":   func(r *store.Record) { r.Time = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) },
				"the year 300000": func(r *store.Record) { r.Time = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC) },
			} {
				second := record(2)
				spoil(&second)
				if err := imp.ImportEvents(ctx, []store.Record{record(1), second}); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("import a record with %s: %v, want store.ErrInvalid", name, err)
				}
			}
			if head, err := s.Head(ctx); err != nil || head != 0 {
				t.Errorf("head after refused imports: %d, %v; want 0", head, err)
			}
			snap := snapshot.Snapshot{StreamID: "s", Version: 1, Type: "S", SchemaVersion: 1, Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Data: []byte("{}")}
			if err := imp.ImportSnapshots(ctx, []snapshot.Snapshot{snap}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("import a snapshot of the year 3000: %v, want store.ErrInvalid", err)
			}
			if _, found, err := s.(snapshot.Store).LatestSnapshot(ctx, "s"); found || err != nil {
				t.Errorf("after the refused snapshot: found %v, %v; want nothing", found, err)
			}
			cp := store.Checkpoint{Consumer: "c", Position: 0, Time: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)}
			if err := imp.ImportCheckpoints(ctx, []store.Checkpoint{cp}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("import a checkpoint of the year 1500: %v, want store.ErrInvalid", err)
			}
		})
	}
}

// A source and a target that are one store under two URLs (a PostgreSQL
// URL with a parameter more, a second handle on one SQLite file) are
// found out by the mark the copy sets in the target appearing in the
// source: the copy deletes it again, so the store still opens, and
// writes nothing else.
func TestCopyOfAStoreOntoItselfLeavesItAsItWas(t *testing.T) {
	ctx := context.Background()
	for _, adapter := range []string{"memory", "sqlite", "postgres"} {
		t.Run(adapter, func(t *testing.T) {
			url := storeURL(t, adapter)
			src := open(t, url)
			fill(t, src, 2, 3)
			dst := src
			switch adapter {
			case "sqlite":
				dst = open(t, url+"?busy_timeout=5s")
			case "postgres":
				dst = open(t, url+"&pool_max_conns=2")
			}
			before := dump(t, src)
			_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Keep: filled})
			if !errors.Is(err, storecopy.ErrSameStore) {
				t.Fatalf("a copy of a store onto itself: %v, want ErrSameStore", err)
			}
			if after := dump(t, src); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused copy left the store changed")
			}
		})
	}
}
