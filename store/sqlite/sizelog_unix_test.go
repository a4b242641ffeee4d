//go:build unix

package sqlite

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/annals-dev/annals/store"
)

const sizeLogChildEnv = "ANNALS_TEST_SIZELOG_CHILD"

// Sizing the write-ahead log on a disk that fills up fails, and gives
// back the space it took: the log is cut back to its size before, so a
// store that fails to open (checkpoint_pages on a full disk) does not
// leave the disk fuller than it found it. The disk fills in a process of
// its own, under a limit on the size of the files it writes.
func TestAFailedLogSizingGivesTheSpaceBack(t *testing.T) {
	if dir := os.Getenv(sizeLogChildEnv); dir != "" {
		sizeLogOnAFullDisk(t, dir)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAFailedLogSizingGivesTheSpaceBack$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), sizeLogChildEnv+"="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the process on a full disk: %v\n%s", err, out)
	}
}

func sizeLogOnAFullDisk(t *testing.T, dir string) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, "s", store.NoStream, []store.Event{{Type: "E", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	size := func(name string) int64 {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	before := size("full.db-wal")
	// Writes past the limit fail with EFBIG rather than kill the process.
	signal.Ignore(syscall.SIGXFSZ)
	limit := uint64(max(before, size("full.db")) + 64<<10)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	err = s.sizeLog(ctx, 2000) // some 8 MB
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("sizing the log past the limit: %v; want EFBIG", err)
	}
	if after := size("full.db-wal"); after != before {
		t.Fatalf("the log is %d bytes after the failed sizing, %d before: the zeros written were kept", after, before)
	}
	if _, err := s.Append(ctx, "s", 1, []store.Event{{Type: "E", Data: []byte(`{}`)}}); err != nil {
		t.Fatalf("an append after the failed sizing: %v", err)
	}
}
