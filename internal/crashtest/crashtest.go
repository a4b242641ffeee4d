// Package crashtest holds what the adapters' crash tests share: a writer
// that appends batches whose events say which batch they belong to, and
// whose store holds its last append in the middle; the killing itself; and
// checks of a whole log that a killed writer may have left. A test starts
// the writer in a subprocess (its own test binary), kills it with SIGKILL
// once its append is held, reopens the store and checks the log.
package crashtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
)

// BatchType is the type of the events Batch makes; CheckLog checks the
// batches of events of this type and only counts the others.
const BatchType = "P"

// Batch returns n events for the versions after version; each one's data
// holds its version and the first and last versions of its batch, so that
// a reader can tell whether a batch is whole. id, when not nil, gives the
// event ID of each version.
func Batch(version int64, n int, id func(v int64) uuid.UUID) []store.Event {
	events := make([]store.Event, n)
	for i := range events {
		v := version + int64(i) + 1
		data := binary.BigEndian.AppendUint64(nil, uint64(v))
		data = binary.BigEndian.AppendUint64(data, uint64(version)+1)
		events[i] = store.Event{Type: BatchType, Data: binary.BigEndian.AppendUint64(data, uint64(version)+uint64(n))}
		if id != nil {
			events[i].ID = id(v)
		}
	}
	return events
}

// batchOf returns the version an event of Batch says it has and the
// first and last versions of its batch; ok is false for other events.
func batchOf(r store.Record) (v, first, last int64, ok bool) {
	if r.Type != BatchType || len(r.Data) != 24 {
		return 0, 0, 0, false
	}
	u := func(i int) int64 { return int64(binary.BigEndian.Uint64(r.Data[8*i:])) }
	return u(0), u(1), u(2), true
}

// The causation IDs that mark the event at which a writer's store holds
// its last append (see Write), until the writer is killed. The crash
// tests install the hold in the store: a hook in the writer process for
// SQLite, triggers in the schema for PostgreSQL.
const (
	// HoldInsert holds the append as it inserts the marked event: the
	// events before it in the batch are written, the transaction is open.
	HoldInsert = "crashtest-hold-insert"
	// HoldCommit holds the append as it commits the batch that holds the
	// marked event: every event is written, only the commit is left.
	HoldCommit = "crashtest-hold-commit"
)

// Write appends batches to three streams, as the writer process of a
// crash test: mostly small batches, and one in five of 200 to 800 events.
// It prints "acked STREAM VERSION" after each append that returns. After
// 1 to 20 batches it appends one of 200 to 800 events, one of which
// carries HoldInsert or HoldCommit as its causation ID: it prints
// "holding STREAM FIRST LAST" first, and the store must hold that append
// until the process is killed. Write fails if the append returns.
func Write(ctx context.Context, s store.Store, seed uint64, out io.Writer) error {
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	versions := map[string]int64{}
	warmup := 1 + rng.IntN(20)
	for b := 0; ; b++ {
		stream := fmt.Sprintf("crash-%d", rng.IntN(3))
		if _, ok := versions[stream]; !ok {
			var last int64
			for r, err := range s.ReadStream(ctx, stream, 0) {
				if err != nil {
					return err
				}
				last = r.Version
			}
			versions[stream] = last
		}
		n := 1 + rng.IntN(20)
		if rng.IntN(5) == 0 || b == warmup {
			n = 200 + rng.IntN(600)
		}
		events := Batch(versions[stream], n, nil)
		if b == warmup {
			mark := []string{HoldInsert, HoldCommit}[rng.IntN(2)]
			events[rng.IntN(n)].Metadata.CausationID = mark
			fmt.Fprintf(out, "holding %s %d %d\n", stream, versions[stream]+1, versions[stream]+int64(n))
		}
		v, err := s.Append(ctx, stream, versions[stream], events)
		if err != nil {
			return fmt.Errorf("batch %d: %w", b, err)
		}
		if b == warmup {
			return fmt.Errorf("the store did not hold the append of versions %d…%d of %q: it returned", versions[stream]+1, v, stream)
		}
		versions[stream] = v
		fmt.Fprintf(out, "acked %s %d\n", stream, v)
	}
}

// Killed is what a writer killed by Kill had been told.
type Killed struct {
	// Acked holds, for each stream the writer appended to, the version
	// its last append that returned left the stream at.
	Acked map[string]int64
	// The batch of versions First…Last of Stream, whose append the store
	// held when the writer was killed.
	Stream      string
	First, Last int64
}

// Kill starts cmd, a process running Write, and kills it with SIGKILL
// once the store holds its last append: when the process prints "held"
// (a hook in it stops the append and says so), or when held, if not nil,
// reports it (for a hold that the test watches from outside). Whatever
// the speed of the machine, the kill lands inside that append, which
// cannot finish. Kill fails the test when the writer is not held within
// two minutes or ends before it is killed.
func Kill(t testing.TB, cmd *exec.Cmd, held func() bool) Killed {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	k := Killed{Acked: map[string]int64{}}
	var other []string // what else the writer printed: a test failure
	fail := func(format string, args ...any) {
		t.Helper()
		cmd.Process.Kill()
		for range lines {
		}
		err := cmd.Wait()
		t.Fatalf("%s (%v):\n%s\n%s", fmt.Sprintf(format, args...), err, strings.Join(other, "\n"), stderr.String())
	}
	deadline := time.After(2 * time.Minute)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
wait:
	for {
		select {
		case line, open := <-lines:
			if !open {
				fail("the writer ended before its append was held")
			}
			var stream string
			var v, last int64
			switch {
			case line == "held":
				break wait
			case scan(line, "acked %s %d", &stream, &v):
				k.Acked[stream] = v
			case scan(line, "holding %s %d %d", &stream, &v, &last):
				k.Stream, k.First, k.Last = stream, v, last
			default:
				other = append(other, line)
			}
		case <-poll.C:
			if held != nil && k.Stream != "" && held() {
				break wait
			}
		case <-deadline:
			fail("the writer's append was not held within two minutes")
		}
	}
	if k.Stream == "" {
		fail("the writer was held before it said which append")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range lines { // the pipe must be drained before Wait
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the writer ended with %v before it was killed:\n%s\n%s", err, strings.Join(other, "\n"), stderr.String())
	}
	return k
}

// scan reports whether line is format with every verb filled in.
func scan(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args)
}

// Acked is what the writers of a crash test were told: for each stream,
// the version that its appends that returned left it at.
type Acked map[string]int64

// Check checks a log read after the writer k tells of was killed: every
// stream of batches holds exactly the versions acknowledged, or these and
// the whole batch the writer was killed in: no acknowledged event is
// lost, and no event is there that the writers did not append. It adds
// what k acknowledged to a, and the killed batch too when it is there.
// CheckLog checks that each batch is whole.
func (a Acked) Check(t testing.TB, log []store.Record, k Killed) {
	t.Helper()
	maps.Copy(a, k.Acked)
	got := map[string]int64{}
	for _, r := range log {
		if r.Type == BatchType {
			got[r.StreamID] = r.Version
		}
	}
	streams := slices.Sorted(maps.Keys(got))
	for stream := range a {
		if _, ok := got[stream]; !ok {
			streams = append(streams, stream)
		}
	}
	for _, stream := range streams {
		switch v, want := got[stream], a[stream]; {
		case v == want:
		case stream == k.Stream && want == k.First-1 && v == k.Last:
			a[stream] = v // the killed append committed, whole
		case v < want:
			t.Fatalf("stream %q holds versions up to %d, but an append up to %d was acknowledged", stream, v, want)
		default:
			t.Fatalf("stream %q holds versions up to %d: beyond the %d acknowledged, and not the batch %d…%d of %q that the writer was killed in",
				stream, v, want, k.First, k.Last, k.Stream)
		}
	}
}

// CheckLog reads the whole log and checks what must hold whatever the
// writers did: positions 1…head without a gap, every stream's versions
// contiguous from 1, every event ID once, and every batch of events made
// by Batch whole and contiguous in the log. It returns the log.
func CheckLog(t testing.TB, s store.Store) []store.Record {
	t.Helper()
	ctx := context.Background()
	var log []store.Record
	for after := int64(0); ; {
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		log = append(log, page...)
		after = page[len(page)-1].Position
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(log)) != head {
		t.Fatalf("the log holds %d events, the head is %d", len(log), head)
	}
	seen := map[uuid.UUID]bool{}
	versions := map[string]int64{}
	for i, r := range log {
		if r.Position != int64(i)+1 {
			t.Fatalf("log record %d has position %d: positions must be 1, 2, 3…", i, r.Position)
		}
		if seen[r.ID] {
			t.Fatalf("event %v is twice in the log", r.ID)
		}
		seen[r.ID] = true
		if versions[r.StreamID]++; r.Version != versions[r.StreamID] {
			t.Fatalf("stream %q: version %d at position %d follows version %d", r.StreamID, r.Version, r.Position, versions[r.StreamID]-1)
		}
		if r.Type != BatchType {
			continue
		}
		v, first, last, ok := batchOf(r)
		switch {
		case !ok:
			t.Fatalf("stream %q version %d: %d bytes of data, want 24", r.StreamID, r.Version, len(r.Data))
		case v != r.Version:
			t.Fatalf("stream %q version %d holds the data of version %d", r.StreamID, r.Version, v)
		case v < first || v > last:
			t.Fatalf("stream %q version %d says it is in the batch of versions %d…%d", r.StreamID, r.Version, first, last)
		}
		// Every event of a batch but its first follows the one before it
		// in the log, of the same batch; so the batch is whole, and
		// contiguous in the log, when its last event is there too.
		if v > first && !sameBatch(log, i-1, r.StreamID, v-1, first, last) {
			t.Fatalf("stream %q: the batch of versions %d…%d lost version %d (position %d is version %d of it)", r.StreamID, first, last, v-1, r.Position, v)
		}
		if v < last && !sameBatch(log, i+1, r.StreamID, v+1, first, last) {
			t.Fatalf("stream %q: the batch of versions %d…%d is cut after version %d (position %d)", r.StreamID, first, last, v, r.Position)
		}
	}
	return log
}

// sameBatch reports whether log[i] exists and is version v of stream, in
// the batch of versions first…last.
func sameBatch(log []store.Record, i int, stream string, v, first, last int64) bool {
	if i < 0 || i >= len(log) || log[i].StreamID != stream {
		return false
	}
	rv, rfirst, rlast, ok := batchOf(log[i])
	return ok && rv == v && rfirst == first && rlast == last
}

// KillAtMarker starts cmd, hands every line it prints on stdout to seen,
// and kills it with SIGKILL as soon as it prints a line that starts with
// marker: the child prints the marker when it has reached the moment the
// test wants to kill it at, and waits there. The lines printed before the
// kill are all handed to seen, those still in the pipe included. It fails
// the test when the child ends before it prints the marker, or does not
// print it within two minutes.
func KillAtMarker(t testing.TB, cmd *exec.Cmd, marker string, seen func(line string)) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(2 * time.Minute)
	killed := false
	for !killed {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("the child ended before it printed %q:\n%s", marker, stderr.String())
			}
			seen(line)
			if strings.HasPrefix(line, marker) {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child did not print %q within two minutes:\n%s", marker, stderr.String())
		}
	}
	for line := range lines {
		seen(line)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, not killed:\n%s", err, stderr.String())
	}
}
