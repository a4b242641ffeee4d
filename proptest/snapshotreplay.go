package proptest

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/snapshot"
)

// MaxSnapshotInterval is the largest snapshot interval that
// [SnapshotEqualsReplay] draws.
const MaxSnapshotInterval = 25

// SnapshotEqualsReplay checks, for any sequence of commands drawn from
// command and any snapshot interval, that a runner with snapshots
// (snapshot.Every(interval)) loads every stream in the state that a full
// replay of its events reaches, at the end and at any earlier version;
// that the snapshots it saved hold exactly the replayed state of their
// version; and that the runner's results match deciding the commands in
// memory. s and snaps are usually the same adapter value; events and
// state are the mappers under test, so the check covers their encodings
// too.
//
// Each run uses a stream of its own in s. States are compared with
// reflect.DeepEqual, so the state's codec must round-trip it exactly
// (nil and empty slices, unexported fields). A snapshot the runner fails
// to save or read fails the check, since the runner only logs it.
//
// It takes *testing.T, not [T]: it is a whole property and runs
// rapid.Check itself, so a test calls it, never another property.
func SnapshotEqualsReplay[C, E, S any](t *testing.T, s *annals.Store, snaps snapshot.Store, d decider.Decider[C, E, S],
	events codec.Mapper[E], state codec.SnapshotMapper[S], command *rapid.Generator[C]) {
	t.Helper()
	ctx := context.Background()
	runs := 0
	rapid.Check(t, func(t *rapid.T) {
		runs++
		stream := fmt.Sprintf("snapshot-replay-%d-%s", runs, uuid.NewString()[:8])
		interval := rapid.Int64Range(1, MaxSnapshotInterval).Draw(t, "interval")
		commands := rapid.SliceOfN(command, 0, MaxCommands).Draw(t, "commands")

		warnings := &warningLog{}
		withSnaps := annals.NewRunner(s, d, events, annals.WithRetries(0),
			annals.WithSnapshots(snaps, snapshot.Every(interval), state), annals.WithLogger(slog.New(warnings)))
		replay := annals.NewRunner(s, d, events, annals.WithRetries(0))

		live, version := d.InitialState(), int64(0)
		for i, c := range commands {
			decided, rejection := d.Decide(c, live)
			res, err := withSnaps.Handle(ctx, stream, c)
			switch {
			case rejection != nil && err == nil:
				t.Fatalf("command %d (%+v): the decider rejects it (%v) but the runner accepted it", i, c, rejection)
			case rejection == nil && err != nil:
				t.Fatalf("command %d (%+v): %v", i, c, err)
			case rejection != nil:
				continue
			}
			live = d.Fold(live, decided)
			version += int64(len(decided))
			if res.Version != version || !reflect.DeepEqual(res.State, live) {
				t.Fatalf("command %d (%+v): runner reached %+v at version %d, deciding in memory reached %+v at %d", i, c, res.State, res.Version, live, version)
			}
		}
		if w := warnings.String(); w != "" {
			t.Fatalf("the runner logged snapshot trouble:\n%s", w)
		}

		full, fullVersion, err := replay.Load(ctx, stream)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if fullVersion != version || !reflect.DeepEqual(full, live) {
			t.Fatalf("full replay: %+v at version %d; deciding in memory reached %+v at %d", full, fullVersion, live, version)
		}
		fast, fastVersion, err := withSnaps.Load(ctx, stream)
		if err != nil {
			t.Fatalf("load with snapshots: %v", err)
		}
		if fastVersion != fullVersion || !reflect.DeepEqual(fast, full) {
			t.Fatalf("snapshot + tail: %+v at version %d; full replay: %+v at version %d", fast, fastVersion, full, fullVersion)
		}

		snap, found, err := snaps.LatestSnapshot(ctx, stream)
		if err != nil {
			t.Fatalf("latest snapshot: %v", err)
		}
		if version >= interval && !found {
			t.Fatalf("no snapshot saved after %d events with a snapshot every %d", version, interval)
		}
		if found {
			if snap.Version > version || snap.Version < 1 {
				t.Fatalf("latest snapshot is at version %d of a stream at %d", snap.Version, version)
			}
			held, err := state.FromSnapshot(ctx, snap)
			if err != nil {
				t.Fatalf("decode the snapshot at version %d: %v", snap.Version, err)
			}
			want, _, err := replay.LoadAt(ctx, stream, snap.Version)
			if err != nil {
				t.Fatalf("replay to version %d: %v", snap.Version, err)
			}
			if !reflect.DeepEqual(held, want) {
				t.Fatalf("the snapshot at version %d holds %+v; a replay to that version gives %+v", snap.Version, held, want)
			}
		}

		at := rapid.Int64Range(0, version+1).Draw(t, "time travel to")
		past, pastVersion, err := withSnaps.LoadAt(ctx, stream, at)
		if err != nil {
			t.Fatalf("load at %d with snapshots: %v", at, err)
		}
		want, wantVersion, err := replay.LoadAt(ctx, stream, at)
		if err != nil {
			t.Fatalf("replay to %d: %v", at, err)
		}
		if pastVersion != wantVersion || !reflect.DeepEqual(past, want) {
			t.Fatalf("load at %d: with snapshots %+v at version %d, by replay %+v at %d", at, past, pastVersion, want, wantVersion)
		}
	})
}

// warningLog is a slog handler that keeps warnings and errors.
type warningLog struct {
	mu    sync.Mutex
	lines []string
}

func (w *warningLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warningLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, b.String())
	return nil
}

func (w *warningLog) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warningLog) WithGroup(string) slog.Handler      { return w }

func (w *warningLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}
