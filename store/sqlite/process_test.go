package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/internal/crashtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// The tests in this file run writers as subprocesses: the test binary
// started again with -test.run=^TestChild$ and the environment variables
// below saying what to do.
const (
	childEnv = "ANNALS_SQLITE_CHILD"            // "writer", "crash", "group-crash", "lease" or "project"
	pathEnv  = "ANNALS_SQLITE_PATH"             // the database file
	idEnv    = "ANNALS_SQLITE_ID"               // the writer's number
	leaseEnv = "ANNALS_SQLITE_LEASE"            // the lease duration, for "lease"
	stageEnv = "ANNALS_SQLITE_STAGE"            // the group stage to stop at, for "group-crash"
	ckptEnv  = "ANNALS_SQLITE_CHECKPOINT_PAGES" // WithCheckpointPages, when set
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
	if n, err := strconv.Atoi(os.Getenv(ckptEnv)); err == nil {
		opts = append(opts, sqlite.WithCheckpointPages(n))
	}
	if mode == "crash" || mode == "project" {
		installHolds() // before the store opens its connections
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
		if err := crashtest.Write(ctx, s, uint64(id), os.Stdout); err != nil {
			t.Fatal(err)
		}
	case "group-crash":
		childGroupCrash(t, ctx, s, os.Getenv(stageEnv))
	case "lease":
		childLease(t, ctx, s)
	case "project":
		childProject(t, ctx, s, os.Getenv(stepEnv))
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
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
		v, err := s.Append(ctx, own, version, crashtest.Batch(version, n, func(v int64) uuid.UUID { return eventID(own, v) }))
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

func childCommand(t *testing.T, mode, path string, id int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, pathEnv+"="+path, idEnv+"="+strconv.Itoa(id))
	return cmd
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

	log := crashtest.CheckLog(t, s)
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

// A writer killed with SIGKILL while it appends a batch of hundreds of
// events, held in the middle of its inserts or at its commit, leaves every
// batch whole or absent, and every acknowledged one there; the file opens
// again as a working store.
func TestKilledWriterLeavesWholeBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	const kills = 6
	path := filepath.Join(t.TempDir(), "crash.db")
	ctx := context.Background()
	var heads []int64
	acked := crashtest.Acked{}
	for k := range kills {
		killed := crashtest.Kill(t, childCommand(t, "crash", path, k), nil)

		checkIntegrity(t, path)
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen after kill %d: %v", k, err)
		}
		log := crashtest.CheckLog(t, s)
		acked.Check(t, log, killed)
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

// groupWriters is how many goroutines append at once in the child of
// TestKilledGroupsKeepWhatTheyAcknowledged.
const groupWriters = 32

// childGroupCrash runs groupWriters writers, each appending batches to a
// stream of its own and now and then one event to a stream they all
// share, and prints "ok STREAM FIRST LAST" for every append that
// returned success. Once 20 groups of several appends have reached
// stage, the next one to reach it prints "in-group" and waits there
// forever, to be killed.
func childGroupCrash(t *testing.T, ctx context.Context, s *sqlite.Store, stage string) {
	var (
		mu     sync.Mutex
		groups int
	)
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	sqlite.SetGroupHook(s, func(at string, wrote int) error {
		if at != stage || wrote < 2 {
			return nil
		}
		mu.Lock()
		groups++
		n := groups
		mu.Unlock()
		if n > 20 {
			say("in-group %s %d", at, wrote)
			time.Sleep(time.Hour)
		}
		return nil
	})
	version := func(stream string) int64 {
		var v int64
		for r, err := range s.ReadStream(ctx, stream, 0) {
			if err != nil {
				t.Error(err)
			}
			v = r.Version
		}
		return v
	}
	var wg sync.WaitGroup
	for w := range groupWriters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			own := fmt.Sprintf("group-%d", w)
			v := version(own)
			for b := 0; ; b++ {
				stream, expected, n := own, v, 1+rng.IntN(5)
				if b%5 == 4 {
					stream, expected, n = "hot", version("hot"), 1
				}
				got, err := s.Append(ctx, stream, expected, crashtest.Batch(expected, n, func(v int64) uuid.UUID { return eventID(stream, v) }))
				if errors.Is(err, store.ErrConflict) && stream == "hot" {
					continue
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				say("ok %s %d %d", stream, expected+1, got)
				if stream == own {
					v = got
				}
			}
		})
	}
	wg.Wait()
}

// A process whose 32 writers share group commits, killed with SIGKILL
// while a group of several appends is written (before its COMMIT) or
// just after its COMMIT (before anyone is told), loses no append it
// acknowledged, leaves every append whole or absent and the log without
// a gap, and the file opens again as a working store.
func TestKilledGroupsKeepWhatTheyAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	const kills = 6
	path := filepath.Join(t.TempDir(), "group-crash.db")
	ctx := context.Background()
	for k := range kills {
		stage := []string{"written", "committed"}[k%2]
		cmd := childCommand(t, "group-crash", path, k)
		cmd.Env = append(cmd.Env, stageEnv+"="+stage)
		if k >= kills-2 {
			// The last two kills hit a store that checkpoints the log
			// itself every 16 pages, beside its writer and on it.
			cmd.Env = append(cmd.Env, ckptEnv+"=16")
		}
		type acked struct {
			stream      string
			first, last int64
		}
		var acks []acked
		var marker string
		crashtest.KillAtMarker(t, cmd, "in-group", func(line string) {
			var a acked
			if _, err := fmt.Sscanf(line, "ok %s %d %d", &a.stream, &a.first, &a.last); err == nil {
				acks = append(acks, a)
			} else if strings.HasPrefix(line, "in-group") {
				marker = line
			}
		})

		checkIntegrity(t, path)
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen after kill %d: %v", k, err)
		}
		crashtest.CheckLog(t, s)
		stored := map[uuid.UUID]bool{}
		for _, a := range acks {
			if !stored[eventID(a.stream, a.last)] {
				for r, err := range s.ReadStream(ctx, a.stream, a.first) {
					if err != nil {
						t.Fatal(err)
					}
					stored[r.ID] = true
				}
			}
			for v := a.first; v <= a.last; v++ {
				if !stored[eventID(a.stream, v)] {
					t.Fatalf("kill %d (%s): stream %q version %d was acknowledged but is not stored", k, marker, a.stream, v)
				}
			}
		}
		if len(acks) == 0 {
			t.Fatalf("kill %d: no append was acknowledged before it", k)
		}
		t.Logf("kill %d at %q: %d appends acknowledged, all stored", k, marker, len(acks))
		if _, err := s.Append(ctx, fmt.Sprintf("after-group-kill-%d", k), store.NoStream, []store.Event{{Type: "A"}}); err != nil {
			t.Fatalf("append after kill %d: %v", k, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
