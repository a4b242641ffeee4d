//go:build unix

package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
)

const fullGroupChildEnv = "ANNALS_TEST_FULL_GROUP_CHILD"

// An append of a group that fails on a full disk, which may roll back the
// whole transaction, fails the group with the disk's error: no append of
// it is stored, none is told "outcome unknown", and no error speaks of a
// savepoint that SQLite's rollback took away. The disk fills in a process
// of its own, under a limit on the size of the files it writes.
func TestAGroupOnAFullDiskFailsWithTheDisksError(t *testing.T) {
	if os.Getenv(fullGroupChildEnv) != "" {
		groupOnAFullDisk(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAGroupOnAFullDiskFailsWithTheDisksError$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fullGroupChildEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the process on a full disk: %v\n%s", err, out)
	}
}

func groupOnAFullDisk(t *testing.T) {
	ctx := context.Background()
	r := newGroupRig(t)
	var largest int64
	for _, suffix := range []string{"", "-wal"} {
		if info, err := os.Stat(r.path + suffix); err == nil {
			largest = max(largest, info.Size())
		}
	}
	// Writes past the limit fail with EFBIG rather than kill the process.
	// The hard limit stays, so that the soft one can be raised again.
	signal.Ignore(syscall.SIGXFSZ)
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	limit := uint64(largest + 1<<20)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: was.Max}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 4<<20) // more than the page cache holds: it spills to the log
	small := &groupAppend{stream: "small", expected: store.NoStream, events: []store.Event{event("A"), event("B")}}
	large := &groupAppend{stream: "large", expected: store.NoStream, events: []store.Event{
		{ID: uuid.New(), Type: "Big", Data: big}, {ID: uuid.New(), Type: "Big", Data: big},
	}}
	r.run(small, large)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	if large.err == nil {
		t.Fatalf("an append of %d bytes past a limit of %d succeeded", 2*len(big), limit)
	}
	for _, a := range []*groupAppend{small, large} {
		if a.err == nil {
			continue
		}
		if errors.Is(a.err, store.ErrOutcomeUnknown) || strings.Contains(a.err.Error(), "savepoint") {
			t.Errorf("append to %q: %v; want the disk's error, nothing stored", a.stream, a.err)
		}
		if n := len(ids(t, r.s, a.stream)); n != 0 {
			t.Errorf("append to %q failed with %v, and %d of its events are stored", a.stream, a.err, n)
		}
	}
	t.Logf("small: %v; large: %v", small.err, large.err)
	// The store writes again once there is room.
	if _, err := r.s.Append(ctx, "after", store.NoStream, []store.Event{event("C"), event("D")}); err != nil {
		t.Fatalf("an append after the disk had room again: %v", err)
	}
}
