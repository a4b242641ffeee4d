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

// The store's checkpointer copies the write-ahead log into the database
// file beside the writer, whether the writes are appends that share
// commits or writes of their own (appends with tags): 1 MB of events,
// too few pages for SQLite's own checkpoint, which waits for 1,000, are
// in the database file once the checkpointer, set to run every 50 pages,
// has run; and every event reads back whole, before and after the store
// reopens.
func TestCheckpointerCopiesTheLogBesideTheWriter(t *testing.T) {
	for _, tags := range []bool{false, true} {
		t.Run(fmt.Sprintf("tags=%v", tags), func(t *testing.T) {
			sqlite.SetCheckpointPages(t, 50)
			ctx := context.Background()
			s, path := openFile(t, sqlite.WithSynchronous(sqlite.SyncNormal))
			data := bytes.Repeat([]byte("x"), 1024)
			const appends, batch = 50, 20 // 1,000 events of 1 KiB
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
			const want = 1 << 20 // the events' bytes
			size := func() int64 {
				info, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				return info.Size()
			}
			// The checkpoints run beside the writer: wait for them.
			for deadline := time.Now().Add(time.Minute); size() < want; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the database file holds %d bytes after %d checkpoints, a minute after 1 MB of events were appended", size(), sqlite.Checkpoints(s))
				}
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
