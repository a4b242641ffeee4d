package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// The tests in this file run writers as subprocesses: the test binary
// started again with -test.run=^TestChild$ and the environment variables
// below saying what to do.
const (
	childEnv = "ANNALS_SQLITE_CHILD" // "writer", "crash", "lease" or "project"
	pathEnv  = "ANNALS_SQLITE_PATH"  // the database file
	idEnv    = "ANNALS_SQLITE_ID"    // the writer's number
	leaseEnv = "ANNALS_SQLITE_LEASE" // the lease duration, for "lease"
)

// Numbers of the multi-process test: each writer appends writerBatches
// batches to its own stream and, every sharedEvery batches, one event to
// a stream that all writers share.
const (
	processWriters = 4
	writerBatches  = 40
	sharedEvery    = 4
)

// TestChild is the body of the subprocesses; run directly, it skips.
func TestChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs as a subprocess of the multi-process tests")
	}
	ctx := context.Background()
	id, _ := strconv.Atoi(os.Getenv(idEnv))
	// A long busy timeout: the writers contend for the lock on a loaded
	// machine, and the test is about correctness, not speed.
	opts := []sqlite.Option{sqlite.WithBusyTimeout(time.Minute)}
	if d, err := time.ParseDuration(os.Getenv(leaseEnv)); err == nil {
		opts = append(opts, sqlite.WithLeaseDuration(d))
	}
	s, err := sqlite.Open(ctx, os.Getenv(pathEnv), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	switch mode {
	case "writer":
		childWriter(t, ctx, s, id)
	case "crash":
		childCrash(t, ctx, s, id)
	case "lease":
		childLease(t, ctx, s)
	case "project":
		childProject(t, ctx, s, os.Getenv(stepEnv))
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
}

// batchEvents returns n events for versions after version; each one's
// data holds its version and the last version of its batch, so a reader
// can tell whether a batch is whole.
func batchEvents(version int64, n int, id func(v int64) uuid.UUID) []store.Event {
	events := make([]store.Event, n)
	for i := range events {
		v := version + int64(i) + 1
		data := binary.BigEndian.AppendUint64(nil, uint64(v))
		events[i] = store.Event{Type: "P", Data: binary.BigEndian.AppendUint64(data, uint64(version)+uint64(n))}
		if id != nil {
			events[i].ID = id(v)
		}
	}
	return events
}

// eventID is the ID of the event at version v of a stream, so the parent
// knows every ID that must be in the log.
func eventID(stream string, v int64) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", stream, v))
}

func childWriter(t *testing.T, ctx context.Context, s *sqlite.Store, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), 3))
	own := fmt.Sprintf("proc-%d", id)
	var version int64
	for b := range writerBatches {
		n := 1 + rng.IntN(9)
		v, err := s.Append(ctx, own, version, batchEvents(version, n, func(v int64) uuid.UUID { return eventID(own, v) }))
		if err != nil {
			t.Fatalf("writer %d batch %d: %v", id, b, err)
		}
		version = v
		if b%sharedEvery == 0 {
			// Read the shared stream's version and append after it; when
			// another process got there first, read again.
			for attempt := 0; ; attempt++ {
				var shared int64
				for r, err := range s.ReadStream(ctx, "shared", 0) {
					if err != nil {
						t.Fatal(err)
					}
					shared = r.Version
				}
				ev := store.Event{Type: "S", Data: fmt.Appendf(nil, "%d/%d", id, b)}
				ev.ID = uuid.NewSHA1(uuid.NameSpaceOID, ev.Data)
				_, err := s.Append(ctx, "shared", shared, []store.Event{ev})
				if err == nil {
					break
				}
				if !errors.Is(err, store.ErrConflict) || attempt > 1000 {
					t.Fatalf("writer %d: append to the shared stream: %v", id, err)
				}
			}
		}
	}
}

// childCrash appends batches until it is killed. It says "ready" once its
// first batch is committed.
func childCrash(t *testing.T, ctx context.Context, s *sqlite.Store, id int) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(id)))
	versions := map[string]int64{}
	for b := 0; ; b++ {
		stream := fmt.Sprintf("crash-%d", rng.IntN(3))
		if _, ok := versions[stream]; !ok {
			var last int64
			for r, err := range s.ReadStream(ctx, stream, 0) {
				if err != nil {
					t.Fatal(err)
				}
				last = r.Version
			}
			versions[stream] = last
		}
		// Mostly small batches; some span several INSERT statements.
		n := 1 + rng.IntN(20)
		if rng.IntN(5) == 0 {
			n = 200 + rng.IntN(600)
		}
		v, err := s.Append(ctx, stream, versions[stream], batchEvents(versions[stream], n, nil))
		if err != nil {
			t.Fatalf("crash writer batch %d: %v", b, err)
		}
		versions[stream] = v
		if b == 0 {
			fmt.Println("ready")
		}
	}
}

func childCommand(t *testing.T, mode, path string, id int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, pathEnv+"="+path, idEnv+"="+strconv.Itoa(id))
	return cmd
}

// checkLog reads the whole log and checks what must hold whatever the
// writers did: positions 1…head without a gap, every stream's versions
// contiguous from 1, every event ID once, and every batch of events made
// by batchEvents whole and contiguous in the log. It returns the log.
func checkLog(t *testing.T, s store.Store) []store.Record {
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
		if r.Type != "P" {
			continue
		}
		if binary.BigEndian.Uint64(r.Data) != uint64(r.Version) {
			t.Fatalf("stream %q version %d holds the data of version %d", r.StreamID, r.Version, binary.BigEndian.Uint64(r.Data))
		}
		if last := int64(binary.BigEndian.Uint64(r.Data[8:])); r.Version < last {
			if i+1 == len(log) || log[i+1].StreamID != r.StreamID || log[i+1].Version != r.Version+1 {
				t.Fatalf("stream %q: the batch ending at version %d is cut after version %d (position %d)", r.StreamID, last, r.Version, r.Position)
			}
		}
	}
	return log
}

// Several processes append to one file at once, each to its own stream and
// all to one shared stream, while this process tails the log.
func TestManyProcessesShareOneFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	path := filepath.Join(t.TempDir(), "shared.db")
	// The writers start before the file exists, so they also race to
	// create the schema.
	cmds := make([]*exec.Cmd, processWriters)
	outs := make([]*strings.Builder, processWriters)
	for i := range cmds {
		cmds[i] = childCommand(t, "writer", path, i)
		outs[i] = &strings.Builder{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, processWriters)
	for i, cmd := range cmds {
		go func() {
			err := cmd.Wait()
			if err != nil {
				err = fmt.Errorf("writer %d: %v\n%s", i, err, outs[i])
			}
			done <- err
		}()
	}

	s := openAt(t, path, sqlite.WithBusyTimeout(time.Minute), sqlite.WithPollInterval(20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The tailing reader stops at the first empty page after every writer
	// exited; until then it waits for other processes' appends, which
	// only polling can see.
	var tailed []store.Record
	finished := 0
	reap := func() {
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				finished++
			default:
				return
			}
		}
	}
	for after := int64(0); ; {
		reap()
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 1 + rand.IntN(50)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if r.Position != after+1 {
				t.Fatalf("tailing reader: position %d after %d", r.Position, after)
			}
			after = r.Position
		}
		tailed = append(tailed, page...)
		if len(page) > 0 {
			continue
		}
		if finished == processWriters {
			break
		}
		wctx, stop := context.WithTimeout(ctx, 200*time.Millisecond)
		if err := s.Wait(wctx, after); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		stop()
		if ctx.Err() != nil {
			t.Fatalf("writers did not finish: %v", ctx.Err())
		}
	}

	log := checkLog(t, s)
	if len(tailed) != len(log) {
		t.Fatalf("the tailing reader saw %d events, the log holds %d", len(tailed), len(log))
	}
	for i := range log {
		if tailed[i].ID != log[i].ID {
			t.Fatalf("position %d: the tailing reader saw %v, the log holds %v", i+1, tailed[i].ID, log[i].ID)
		}
	}
	// Every event each writer appended is there, once (checkLog), and
	// nothing else is.
	inLog := map[uuid.UUID]bool{}
	for _, r := range log {
		inLog[r.ID] = true
	}
	want := 0
	for w := range processWriters {
		rng := rand.New(rand.NewPCG(uint64(w), 3)) // the writer's sizes
		var v int64
		for b := range writerBatches {
			v += int64(1 + rng.IntN(9))
			if b%sharedEvery == 0 {
				id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d/%d", w, b))
				if !inLog[id] {
					t.Fatalf("writer %d's shared event of batch %d is missing", w, b)
				}
				want++
			}
		}
		for version := int64(1); version <= v; version++ {
			if !inLog[eventID(fmt.Sprintf("proc-%d", w), version)] {
				t.Fatalf("writer %d's event at version %d is missing", w, version)
			}
		}
		want += int(v)
	}
	if len(log) != want {
		t.Fatalf("the log holds %d events, the writers appended %d", len(log), want)
	}
}

// A writer killed with SIGKILL at a random moment leaves every batch whole
// or absent, and the file opens again as a working store.
func TestKilledWriterLeavesWholeBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	const kills = 6
	path := filepath.Join(t.TempDir(), "crash.db")
	ctx := context.Background()
	var heads []int64
	for k := range kills {
		cmd := childCommand(t, "crash", path, k)
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
				t.Fatalf("crash writer %d did not start:\n%s", k, stderr.String())
			}
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("crash writer %d did not commit its first batch:\n%s", k, stderr.String())
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("crash writer %d ended with %v before it was killed:\n%s", k, err, stderr.String())
		}

		checkIntegrity(t, path)
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen after kill %d: %v", k, err)
		}
		log := checkLog(t, s)
		heads = append(heads, int64(len(log)))
		// The store still takes appends after the crash.
		if _, err := s.Append(ctx, fmt.Sprintf("after-kill-%d", k), store.NoStream, []store.Event{{Type: "A"}}); err != nil {
			t.Fatalf("append after kill %d: %v", k, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Each writer committed a batch before it was killed, so the log grew
	// every time: the check above saw real data.
	for k := 1; k < len(heads); k++ {
		if heads[k] <= heads[k-1] {
			t.Fatalf("the log did not grow between kills: heads %v", heads)
		}
	}
	t.Logf("log heads after each kill: %v", heads)
}

// checkIntegrity runs SQLite's own check of the file's structure.
func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
		t.Fatalf("integrity check of %s: %q, %v", path, result, err)
	}
}
