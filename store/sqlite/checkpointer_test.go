package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/annals-dev/annals/internal/crashtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// The store's writer connection leaves checkpoints to the store's
// checkpointer, which keeps the write-ahead log from growing with the
// data, whether the writes are appends that share commits or writes of
// their own (appends with tags): after 6 MB of events, with a checkpoint
// every 50 pages and the log starting over past 200, the log stays
// within a few hundred pages, and every event reads back whole, before
// and after the store reopens.
func TestCheckpointerKeepsTheLogShort(t *testing.T) {
	for _, tags := range []bool{false, true} {
		t.Run(fmt.Sprintf("tags=%v", tags), func(t *testing.T) {
			sqlite.SetCheckpointPages(t, 50, 200)
			ctx := context.Background()
			s, path := openFile(t, sqlite.WithSynchronous(sqlite.SyncNormal))
			data := bytes.Repeat([]byte("x"), 1024)
			const appends, batch = 300, 20 // 6,000 events of 1 KiB
			for i := range appends {
				events := make([]store.Event, batch)
				for j := range events {
					events[j] = store.Event{Type: "Big", Data: data}
					if tags {
						events[j].Tags = []string{"big"}
					}
				}
				if _, err := s.Append(ctx, "big", int64(i*batch), events); err != nil {
					t.Fatal(err)
				}
			}
			if sqlite.Checkpoints(s) == 0 {
				// It runs beside the writer: wait for the first.
				for deadline := time.Now().Add(time.Minute); sqlite.Checkpoints(s) == 0; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("no checkpoint in a minute after 6 MB of events")
					}
				}
			}
			info, err := os.Stat(path + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			// Without checkpoints the log would hold every page written,
			// more than the 6 MB of events; without starting over, every
			// page too.
			if limit := int64(3 << 20); info.Size() > limit {
				t.Fatalf("the write-ahead log is %d bytes after %d checkpoints; want at most %d", info.Size(), sqlite.Checkpoints(s), limit)
			}
			check := func(s *sqlite.Store) {
				t.Helper()
				n := 0
				for r, err := range s.ReadStream(ctx, "big", 1) {
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(r.Data, data) {
						t.Fatalf("event %d reads back %d bytes", r.Version, len(r.Data))
					}
					n++
				}
				if n != appends*batch {
					t.Fatalf("the stream holds %d events, want %d", n, appends*batch)
				}
				crashtest.CheckLog(t, s)
			}
			check(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			check(openAt(t, path))
		})
	}
}
