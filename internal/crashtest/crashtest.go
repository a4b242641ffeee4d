// Package crashtest holds what the adapters' crash tests share: a writer
// that appends batches whose events say which batch they belong to, a
// check of a whole log that a killed writer may have left, and the
// killing itself. A test starts the writer in a subprocess (its own test
// binary), kills it with SIGKILL at a random moment, reopens the store and
// checks the log.
package crashtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
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

// Write appends batches to three streams until it is killed or an append
// fails: mostly small batches, and one in five of 200 to 800 events. It
// calls ready once, after its first batch has committed.
func Write(ctx context.Context, s store.Store, seed uint64, ready func()) error {
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	versions := map[string]int64{}
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
		if rng.IntN(5) == 0 {
			n = 200 + rng.IntN(600)
		}
		v, err := s.Append(ctx, stream, versions[stream], Batch(versions[stream], n, nil))
		if err != nil {
			return fmt.Errorf("batch %d: %w", b, err)
		}
		versions[stream] = v
		if b == 0 {
			ready()
		}
	}
}

// Kill starts cmd, waits until it prints "ready" on a line of its own,
// lets it run for up to 300 ms more, and kills it with SIGKILL. It fails
// the test when the process does not get ready within two minutes or
// ends before it is killed.
func Kill(t testing.TB, cmd *exec.Cmd) {
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
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line == "ready\n"
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the writer did not start:\n%s", stderr.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the writer did not commit its first batch within two minutes:\n%s", stderr.String())
	}
	time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the writer ended with %v before it was killed:\n%s", err, stderr.String())
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
