package storecopy_test

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
)

// The copier child's configuration, and its batch size.
const (
	childFrom  = "STORECOPY_CHILD_FROM"
	childTo    = "STORECOPY_CHILD_TO"
	childBatch = 20
)

var phases = []storecopy.Phase{storecopy.PhaseVerifyLog, storecopy.PhaseEvents, storecopy.PhaseSnapshots, storecopy.PhaseSubjectKeys,
	storecopy.PhaseStates, storecopy.PhaseCheckpoints, storecopy.PhaseVerifyOthers}

// marker is a progress report as the child prints it: the phase's place
// in the copy and the items done. Markers of one copy come in order.
type marker struct{ phase, done int64 }

func (m marker) String() string { return fmt.Sprintf("progress %d %d", m.phase, m.done) }

func compareMarkers(a, b marker) int {
	return cmp.Or(cmp.Compare(a.phase, b.phase), cmp.Compare(a.done, b.done))
}

func markerOf(p storecopy.Progress) marker {
	return marker{int64(slices.Index(phases, p.Phase)), p.Done}
}

// TestCopierChild copies a store when run as a subprocess of
// TestKilledCopyEndsIdentical, printing a marker after each step.
func TestCopierChild(t *testing.T) {
	from := os.Getenv(childFrom)
	if from == "" {
		t.Skip("runs as a subprocess of TestKilledCopyEndsIdentical")
	}
	ctx := context.Background()
	src, dst := open(t, from), open(t, os.Getenv(childTo))
	_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Batch: childBatch, Keep: filled, Progress: func(p storecopy.Progress) {
		fmt.Println(markerOf(p))
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// A copy from SQLite to PostgreSQL killed with SIGKILL again and again,
// each time at a place of the copy chosen at random (the kill follows a
// progress marker, so it lands inside the copy: in the events, the
// snapshots, keys or states, the verification or the checkpoints), and
// then run to its end, leaves the target exactly as a copy that ran
// through does. After every kill, a target that is not yet that whole
// copy holds the mark of an unfinished copy.
func TestKilledCopyEndsIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("starts copier processes")
	}
	ctx := context.Background()
	from := storeURL(t, "sqlite") + "?synchronous=normal"
	fill(t, open(t, from), 30, 60)

	// The uninterrupted copy, and the markers it passes.
	whole := open(t, storeURL(t, "postgres"))
	var seen []marker
	if _, err := storecopy.Copy(ctx, open(t, from), whole, storecopy.Options{Batch: childBatch, Keep: filled, Progress: func(p storecopy.Progress) {
		seen = append(seen, markerOf(p))
	}}); err != nil {
		t.Fatal(err)
	}

	// Kill points: markers of each part of the copy, never its last.
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	pick := func(phase ...storecopy.Phase) marker {
		var in []marker
		for _, m := range seen[:len(seen)-1] {
			if slices.Contains(phase, phases[m.phase]) {
				in = append(in, m)
			}
		}
		return in[rng.IntN(len(in))]
	}
	points := []marker{
		pick(storecopy.PhaseEvents), pick(storecopy.PhaseEvents), pick(storecopy.PhaseEvents),
		pick(storecopy.PhaseSnapshots, storecopy.PhaseSubjectKeys, storecopy.PhaseStates),
		pick(storecopy.PhaseCheckpoints, storecopy.PhaseVerifyOthers),
	}
	slices.SortFunc(points, compareMarkers)

	to := storeURL(t, "postgres")
	kills, verifying := 0, 0
	var killed []marker
	// A killed copy leaves a target that is empty, marked, or whole (a
	// kill that came after the copy's end).
	markedOrWhole := func(at marker) {
		t.Helper()
		dst := open(t, to)
		empty, err := storecopy.Empty(ctx, dst)
		if err != nil || empty {
			return
		}
		if _, marked, err := storecopy.FindUnfinished(ctx, dst); marked || err != nil {
			return
		}
		if !reflect.DeepEqual(dump(t, whole), dump(t, dst)) {
			t.Fatalf("the copy killed at %v left a target that is neither whole nor marked unfinished", at)
		}
	}
	for i, at := range points {
		if killAt(t, from, to, at) {
			kills++
			killed = append(killed, at)
			markedOrWhole(at)
		}
		if i > 1 {
			continue
		}
		// A run that resumes first compares what the killed one wrote
		// with the source: kill one in the middle of that too.
		inv, err := open(t, to).(store.Exporter).Inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Events > 2*childBatch {
			at := marker{0, 1 + rng.Int64N(inv.Events-childBatch-1)}
			if killAt(t, from, to, at) {
				kills++
				verifying++
				killed = append(killed, at)
				markedOrWhole(at)
			}
		}
	}
	t.Logf("killed %d times (%d while verifying what an earlier run wrote), at %v", kills, verifying, killed)
	if kills < 5 {
		t.Fatalf("only %d of the copies were killed inside the copy, want at least 5", kills)
	}
	dst := open(t, to)
	rep, err := storecopy.Copy(ctx, open(t, from), dst, storecopy.Options{Batch: childBatch, Keep: filled})
	if err != nil || !rep.Resumed {
		t.Fatalf("the copy after the kills: %+v, %v", rep, err)
	}
	if a, b := dump(t, whole), dump(t, dst); !reflect.DeepEqual(a, b) {
		t.Fatalf("the killed copy differs from the uninterrupted one:\n%+v\n%+v", a.Checkpoints, b.Checkpoints)
	}
}

// killAt runs a copier process and kills it with SIGKILL once it prints a
// marker at or past at. It reports whether the process was killed, rather
// than ending first.
func killAt(t *testing.T, from, to string, at marker) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCopierChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childFrom+"="+from, childTo+"="+to)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m marker
			if _, err := fmt.Sscanf(sc.Text(), "progress %d %d", &m.phase, &m.done); err == nil && compareMarkers(m, at) >= 0 {
				reached <- true
				break
			}
		}
		close(reached)
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-reached:
		if ok {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the copier did not reach %v within a minute:\n%s", at, stderr.String())
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
		return true
	}
	if err != nil {
		t.Fatalf("the copier failed before %v: %v\n%s", at, err, stderr.String())
	}
	t.Logf("the copier ended before it was killed at %v", at)
	return false
}
