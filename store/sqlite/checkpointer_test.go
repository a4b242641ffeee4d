package sqlite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// WithCheckpointPages turns SQLite's own checkpoints off on the writer
// and starts the store's checkpointer; without it, or on an in-memory
// database, SQLite checkpoints as it does by default.
func TestCheckpointerSettings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, c := range []struct {
		name         string
		path         string
		opts         []Option
		autocheck    int
		checkpointer bool
	}{
		{"default", filepath.Join(dir, "a.db"), nil, 1000, false},
		{"checkpoint pages", filepath.Join(dir, "b.db"), []Option{WithCheckpointPages(500)}, 0, true},
		{"memory", Memory, []Option{WithCheckpointPages(500)}, 1000, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(ctx, c.path, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var autocheck int
			if err := s.w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&autocheck); err != nil {
				t.Fatal(err)
			}
			if autocheck != c.autocheck || (s.ckpt != nil) != c.checkpointer {
				t.Errorf("writer's wal_autocheckpoint %d, checkpointer %v; want %d, %v", autocheck, s.ckpt != nil, c.autocheck, c.checkpointer)
			}
		})
	}
}

// With WithCheckpointPages, the log starts again from its beginning over
// and over while appends from many goroutines, or writes outside the
// group commit, go on, so that the log file stays a few times n pages,
// where the same writes with the checkpointer stopped take it far past
// that. How many pages are written while a checkpoint runs beside them
// depends on the disk, so here each checkpoint runs while the writer
// waits for it (checkpointer.ran); the restarts are counted by the log
// header's first salt.
func TestCheckpointerBoundsTheLog(t *testing.T) {
	const pages = 32 // a checkpoint every 32 pages
	payload := bytes.Repeat([]byte("x"), 256)
	workloads := map[string]func(t *testing.T, s *Store){
		"appends from 8 goroutines": func(t *testing.T, s *Store) {
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := range 400 {
						if _, err := s.Append(context.Background(), fmt.Sprintf("w%d-%d", w, i), store.NoStream, []store.Event{{Type: "E", Data: payload}}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		},
		"snapshots, outside the group commit": func(t *testing.T, s *Store) {
			for i := range 3000 {
				snap := snapshot.Snapshot{StreamID: fmt.Sprintf("s-%d", i), Version: 1, Type: "S", SchemaVersion: 1, Data: payload, Encoding: "json"}
				if err := s.SaveSnapshot(context.Background(), snap); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
	for name, work := range workloads {
		t.Run(name, func(t *testing.T) {
			var frames, restarts [2]int // with the checkpointer, and stopped
			for i, stopped := range []bool{false, true} {
				path := filepath.Join(t.TempDir(), "events.db")
				s, err := Open(context.Background(), path, WithCheckpointPages(pages), WithSynchronous(SyncNormal))
				if err != nil {
					t.Fatal(err)
				}
				if stopped {
					if err := s.ckpt.close(); err != nil {
						t.Fatal(err)
					}
					s.ckpt = nil
				} else {
					s.ckpt.ran = make(chan struct{})
				}
				first := logGeneration(t, path)
				work(t, s)
				frames[i], restarts[i] = logFrames(t, s, path), int(logGeneration(t, path)-first)
				s.Close()
			}
			t.Logf("the log holds %d pages and started again %d times; without checkpoints, %d pages and %d times", frames[0], restarts[0], frames[1], restarts[1])
			if restarts[0] < frames[1]/pages/4 || frames[0] > 4*pages || restarts[1] != 0 {
				t.Errorf("the log started again %d times and holds %d pages, with a checkpoint every %d pages; want at least %d times, and at most %d pages (without checkpoints it holds %d pages and started again %d times, want 0)", restarts[0], frames[0], pages, frames[1]/pages/4, 4*pages, frames[1], restarts[1])
			}
		})
	}
}

// logFrames returns how many pages the write-ahead log file of the store
// at path holds room for.
func logFrames(t *testing.T, s *Store, path string) int {
	t.Helper()
	var pageSize int64
	if err := s.w.QueryRowContext(context.Background(), `PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	const header, frameHeader = 32, 24
	return int((info.Size() - header) / (pageSize + frameHeader))
}

// logGeneration returns the first salt of the header of the write-ahead
// log of the database at path, which SQLite adds one to each time the
// log starts again from its beginning.
func logGeneration(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header [20]byte
	if _, err := io.ReadFull(f, header[:]); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(header[16:])
}

// A checkpoint beside the writer cannot copy what is committed while it
// runs, and the log starts again only once everything in it is copied:
// the writer copies the rest after its next commit, so that the write
// after that starts the log again. What is committed during the
// checkpoint here comes from another store on the file, as from another
// process.
func TestCheckpointerFinishesOnTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(ctx, path, WithCheckpointPages(64))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.ckpt.every = math.MaxInt // no checkpoint but those the test asks for
	s.ckpt.ran = make(chan struct{})
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	appendOne := func(s *Store, stream string) {
		t.Helper()
		if _, err := s.Append(ctx, stream, store.NoStream, []store.Event{{Type: "E"}}); err != nil {
			t.Fatal(err)
		}
	}
	appendOne(s, "a")
	s.ckpt.wake <- struct{}{} // a checkpoint beside the writer copies a
	<-s.ckpt.ran
	appendOne(other, "x") // as if committed while it ran
	before := logGeneration(t, path)
	appendOne(s, "b") // the log holds x, not copied: the writer copies x and b
	appendOne(s, "c") // the log starts again
	if got := logGeneration(t, path); got != before+1 {
		t.Errorf("the log started again %d times over the appends of b and c; want once", got-before)
	}
}

// With WithCheckpointPages the log file is sized for n pages when the
// store opens, and the zeros after its frames are never read as frames:
// a copy of the database and its log, opened without the shared memory
// that says where the log ends, so that SQLite recovers the log by
// reading it, holds exactly the events appended.
func TestCheckpointerSizesTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(ctx, path, WithCheckpointPages(200))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if frames := logFrames(t, s, path); frames < 200 {
		t.Fatalf("the log file has room for %d pages after Open; want at least 200", frames)
	}
	for i := range 10 {
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i), store.NoStream, []store.Event{{Type: "E", Data: []byte(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if frames := logFrames(t, s, path); frames != 200 {
		t.Errorf("the log file has room for %d pages after ten appends; want 200, written over rather than extended", frames)
	}
	// Copy the database and its log as a crash would leave them.
	copyDir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, "events.db"+suffix), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(ctx, filepath.Join(copyDir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	records, err := c.ReadLog(ctx, store.LogQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 10 {
		t.Fatalf("the recovered copy holds %d events; want the 10 appended", len(records))
	}
	for i, r := range records {
		if r.Position != int64(i+1) || r.StreamID != fmt.Sprintf("s-%d", i) || string(r.Data) != fmt.Sprint(i) {
			t.Errorf("event %d of the recovered copy: %s@%d at %d, %q", i, r.StreamID, r.Version, r.Position, r.Data)
		}
	}
}
