//go:build unix

package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// readOnlyEnv names the database file that TestReadOnlyChild opens.
const readOnlyEnv = "ANNALS_SQLITE_READONLY"

// readOnlyResult is what TestReadOnlyChild reports, on a line of its own
// after "result: ".
type readOnlyResult struct {
	Open       string        // the error of the open, "" when it opened
	OpenTook   time.Duration // how long the open took
	Head       int64
	Append     string // the errors of an append and of a checkpoint
	Checkpoint string
}

// TestReadOnlyChild is the body of the subprocess of
// TestReadOnlyFileOpensForReading, which may not write the file; run
// directly, it skips.
func TestReadOnlyChild(t *testing.T) {
	path := os.Getenv(readOnlyEnv)
	if path == "" {
		t.Skip("runs as a subprocess of TestReadOnlyFileOpensForReading")
	}
	ctx := context.Background()
	var r readOnlyResult
	began := time.Now()
	s, err := store.Open(ctx, "sqlite://"+path+"?create=false&busy_timeout=30s")
	r.OpenTook = time.Since(began)
	if err != nil {
		r.Open = err.Error()
	} else {
		defer s.Close()
		if r.Head, err = s.Head(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, "b", store.NoStream, []store.Event{event("B")}); err != nil {
			r.Append = err.Error()
		}
		if err := s.(*sqlite.Store).SetCheckpoint(ctx, "c", 1); err != nil {
			r.Checkpoint = err.Error()
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.Write(append(append([]byte("result: "), b...), '\n'))
}

// A store in a file that the process may not write — another user's,
// in a directory it may not write either — opens for reading, even
// while another process holds the write lock, and its writes fail saying
// that the file is read-only. When no process has the store open, the
// file has no -wal and -shm beside it, and SQLite cannot read it safely:
// the open fails saying so and what to do.
func TestReadOnlyFileOpensForReading(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	ctx := context.Background()
	// A directory of its own that another user can enter: t.TempDir's
	// parent is private.
	top, err := os.MkdirTemp("", "annals-readonly")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(top)
	})
	dir := filepath.Join(top, "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "events.db")
	s := openAt(t, path)
	if _, err := s.Append(ctx, "a", store.NoStream, []store.Event{event("A")}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}

	// Root may write any file: the child then runs as nobody, from a copy
	// of the test binary that nobody may run.
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReadOnlyChild$", "-test.count=1")
		return cmd
	}
	if os.Geteuid() == 0 {
		bin := filepath.Join(top, "sqlite.test")
		if err := copyFile(os.Args[0], bin); err != nil {
			t.Fatal(err)
		}
		child = func() *exec.Cmd {
			cmd := exec.Command(bin, "-test.run=^TestReadOnlyChild$", "-test.count=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			return cmd
		}
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	run := func() readOnlyResult {
		t.Helper()
		cmd := child()
		cmd.Env = append(os.Environ(), readOnlyEnv+"="+path, "HOME="+top)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the child: %v\n%s", err, out)
		}
		for line := range strings.Lines(string(out)) {
			if rest, ok := strings.CutPrefix(line, "result: "); ok {
				var r readOnlyResult
				if err := json.Unmarshal([]byte(rest), &r); err != nil {
					t.Fatal(err)
				}
				return r
			}
		}
		t.Fatalf("the child reported nothing:\n%s", out)
		return readOnlyResult{}
	}

	// The store is open here, so its -wal and -shm files exist; this
	// process holds the write lock.
	raw := rawDB(t, path)
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := run()
	tx.Rollback()
	raw.Close()
	if r.Open != "" || r.Head != 1 || r.OpenTook > 5*time.Second {
		t.Fatalf("a read-only file, open elsewhere: open took %v and failed with %q, head %d; want it open at once, at head 1", r.OpenTook, r.Open, r.Head)
	}
	for what, err := range map[string]string{"append": r.Append, "checkpoint": r.Checkpoint} {
		if !strings.Contains(err, "is read-only to this process") {
			t.Errorf("%s to a read-only file: %q; want an error that says the file is read-only", what, err)
		}
	}

	// Closed everywhere, the store leaves no -wal and -shm files.
	s.Close()
	for _, ext := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + ext); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s%s is still there after the store closed: %v", path, ext, err)
		}
	}
	r = run()
	if !strings.Contains(r.Open, "cannot read "+path+" safely") || !strings.Contains(r.Open, "copy the file") {
		t.Fatalf("a read-only file, closed everywhere, in a read-only directory: %q; want an error that says SQLite cannot read it safely and what to do", r.Open)
	}
}

// copyFile copies the file at from to an executable file at to.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
