package sqlite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
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
// group commit, go on, so that the log file stays a fraction of the size
// it reaches when the same writes run with the checkpointer stopped. How
// far past n pages the log grows depends on how many pages are written
// while a checkpoint runs, so the bound on its size is relative; the
// restarts are counted in its header.
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
				}
				work(t, s)
				frames[i], restarts[i] = logFrames(t, s, path), logRestarts(t, path)
				s.Close()
			}
			t.Logf("the log holds %d pages and started again %d times; without checkpoints, %d pages and %d times", frames[0], restarts[0], frames[1], restarts[1])
			if restarts[0] < 10 || frames[0] > frames[1]/2 || restarts[1] != 0 {
				t.Errorf("the log started again %d times and holds %d pages, with a checkpoint every %d pages; want at least 10 times, and at most half the %d pages it holds without checkpoints (where it started again %d times, want 0)", restarts[0], frames[0], pages, frames[1], restarts[1])
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

// logRestarts returns how many times the write-ahead log of the database
// at path has started again from its beginning: the checkpoint sequence
// number of its header.
func logRestarts(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var header [16]byte
	if _, err := io.ReadFull(f, header[:]); err != nil {
		t.Fatal(err)
	}
	return int(binary.BigEndian.Uint32(header[12:]))
}
