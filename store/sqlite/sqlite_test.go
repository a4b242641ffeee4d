package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

func openFile(t *testing.T, opts ...sqlite.Option) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	return openAt(t, path, opts...), path
}

func openAt(t *testing.T, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContractFile(t *testing.T) {
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s, _ := openFile(t)
		return s
	})
}

// The contract holds when the store checkpoints the log itself, every 16
// pages, so that checkpoints run all through it.
func TestContractFileCheckpointer(t *testing.T) {
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s, _ := openFile(t, sqlite.WithCheckpointPages(16))
		return s
	})
}

func TestContractMemory(t *testing.T) {
	proptest.StoreContract(t, func(t *testing.T) store.Store {
		s, err := store.Open(context.Background(), "sqlite::memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestOpenRefusesBadURLs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url  string
		want []string // in the error message
	}{
		{"sqlite:app.db", []string{`"app.db" is relative`, "three slashes", "sqlite:///absolute/path/app.db"}},
		{"sqlite:./data/app.db", []string{"relative"}},
		{"sqlite://data/app.db", []string{`host "data"`, "sqlite:///path/to/data/app.db for data/app.db in a directory of yours", "sqlite:///data/app.db"}},
		{"sqlite://~/app.db", []string{`host "~"`, "nothing expands ~", "sqlite:///path/to/app.db", "os.UserHomeDir"}},
		{"sqlite://./app.db", []string{`host "."`, "nothing expands ."}},
		{"sqlite://", []string{"no database path"}},
		{"sqlite:", []string{"no database path"}},
		{"sqlite:///" + dir[1:] + "/a.db?cache=shared", []string{`"cache" is not known`, "busy_timeout, checkpoint_pages, lease_duration, poll_interval, synchronous"}},
		{"sqlite:///" + dir[1:] + "/a.db?checkpoint_pages=many", []string{"checkpoint_pages", `"many" is not a whole number`}},
		{"sqlite:///" + dir[1:] + "/a.db?checkpoint_pages=-1", []string{"checkpoint pages -1", "must be 0"}},
		{"sqlite:///" + dir[1:] + "/a.db?checkpoint_pages=100001", []string{"checkpoint pages 100001", "to 100000"}},
		{"sqlite:///" + dir[1:] + "/a.db?busy_timeout=soon", []string{"busy_timeout", "not a duration"}},
		{"sqlite:///" + dir[1:] + "/a.db?busy_timeout=1s&busy_timeout=2s", []string{"given 2 times"}},
		{"sqlite:///" + dir[1:] + "/a.db?busy_timeout=0s", []string{"at least 1ms"}},
		{"sqlite:///" + dir[1:] + "/a.db?poll_interval=1ms", []string{"at least 10ms"}},
		{"sqlite:///" + dir[1:] + "/a.db?lease_duration=50ms", []string{"lease duration", "at least 100ms"}},
		{"sqlite:///" + dir[1:] + "/a.db?synchronous=off", []string{`synchronous "off"`, `"full" or "normal"`}},
		{"sqlite:///" + dir[1:] + "/a.db?%zz", []string{"query"}},
		{"sqlite://me@/" + dir[1:] + "/a.db", []string{"user name"}},
		{"sqlite:///" + dir[1:] + "/a.db#x", []string{"fragment", "%23"}},
		{"sqlite:///" + dir[1:] + "/missing/a.db", []string{"does not exist", "create it first"}},
		{"sqlite:///" + dir[1:] + "/file/a.db", []string{"is not a directory"}},
		{"sqlite:///" + dir[1:] + "/", []string{"names a directory"}},
		{"sqlite:///" + dir[1:], []string{"is a directory"}},
		{"sqlite:///" + dir[1:] + "/what%3F.db", []string{"'?'"}},
		{"sqlite:///dev/null", []string{"not a regular file"}},
		{"sqlite:///" + dir[1:] + "/" + strings.Repeat("n", 245) + ".db", []string{"is 248 bytes", "pass a shorter name"}},
	}
	for _, c := range cases {
		s, err := store.Open(ctx, c.url)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened, want an error", c.url)
			continue
		}
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v; want an error matching store.ErrInvalid", c.url, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.url, err, w)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("refused URLs left files behind: %v", entries)
	}
}

func TestOpenRefusesBadPathsAndOptions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cases := []struct {
		path string
		opts []sqlite.Option
		want string
	}{
		{"", nil, "path is empty"},
		{"app.db", nil, `"app.db" is relative`},
		{filepath.Join(dir, "a.db"), []sqlite.Option{sqlite.WithBusyTimeout(0)}, "busy timeout"},
		{filepath.Join(dir, "a.db"), []sqlite.Option{sqlite.WithPollInterval(time.Millisecond)}, "poll interval"},
		{filepath.Join(dir, "a.db"), []sqlite.Option{sqlite.WithSynchronous("off")}, "synchronous"},
	}
	for _, c := range cases {
		s, err := sqlite.Open(ctx, c.path, c.opts...)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): no error, want one saying %q", c.path, c.want)
			continue
		}
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q): %v; want store.ErrInvalid saying %q", c.path, err, c.want)
		}
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(ctx, garbage); err == nil {
		s.Close()
		t.Errorf("opened a file that is not a database")
	} else if !strings.Contains(err.Error(), garbage) {
		t.Errorf("opening a file that is not a database: %v; want the error to name the file", err)
	}
}

func TestOperationsAfterClose(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) *sqlite.Store{
		"file":   func(t *testing.T) *sqlite.Store { s, _ := openFile(t); return s },
		"memory": func(t *testing.T) *sqlite.Store { return openAt(t, sqlite.Memory) },
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			if _, err := s.Append(ctx, "s", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
				t.Fatal(err)
			}
			waitErr := make(chan error, 1)
			go func() { waitErr <- s.Wait(ctx, 1) }()
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			select {
			case err := <-waitErr:
				checkClosed(t, "wait in progress", err)
			case <-time.After(time.Minute):
				t.Fatal("Close did not wake a Wait in progress")
			}
			_, err := s.Append(ctx, "s", 1, []store.Event{{Type: "A"}})
			checkClosed(t, "append", err)
			_, err = s.ReadLog(ctx, store.LogQuery{})
			checkClosed(t, "read log", err)
			for _, err := range s.ReadStream(ctx, "s", 0) {
				checkClosed(t, "read stream", err)
			}
			_, err = s.Head(ctx)
			checkClosed(t, "head", err)
			checkClosed(t, "wait", s.Wait(ctx, 0))
			_, err = s.Checkpoint(ctx, "c")
			checkClosed(t, "checkpoint", err)
			checkClosed(t, "set checkpoint", s.SetCheckpoint(ctx, "c", 1))
			if err := s.Close(); err != nil {
				t.Fatalf("second close: %v", err)
			}
		})
	}
}

func checkClosed(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("%s after Close: %v; want an error matching store.ErrInvalid that says the store is closed", what, err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	s, path := openFile(t)
	id := uuid.New()
	meta := store.Metadata{CorrelationID: "c", CausationID: "d", Extra: map[string]string{"k": "v"}}
	if _, err := s.Append(ctx, "kept", store.NoStream, []store.Event{{ID: id, Type: "A", SchemaVersion: 3, Data: []byte("x"), Encoding: "gzip", Metadata: meta}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "reader", 1); err != nil {
		t.Fatal(err)
	}
	before, err := s.ReadLog(ctx, store.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	for range 2 { // the second reopen finds the schema complete
		s = openAt(t, path)
		after, err := s.ReadLog(ctx, store.LogQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("after reopening the log is\n%v\nwant\n%v", after, before)
		}
		if pos, err := s.Checkpoint(ctx, "reader"); err != nil || pos != 1 {
			t.Fatalf("checkpoint after reopening = %d, %v; want 1", pos, err)
		}
		if _, err := s.Append(ctx, "kept", store.NoStream, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("expecting no stream on a stream kept across reopening: %v, want store.ErrConflict", err)
		}
		s.Close()
	}
}

func TestMemoryDatabasesAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, b := openAt(t, sqlite.Memory), openAt(t, sqlite.Memory)
	if _, err := a.Append(ctx, "s", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	if head, err := b.Head(ctx); err != nil || head != 0 {
		t.Fatalf("a second in-memory store has head %d, %v; want its own empty database", head, err)
	}
}

// Batches larger than one INSERT statement are still atomic and
// contiguous, and a duplicate ID anywhere in them refuses all of them.
func TestLargeBatches(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t, sqlite.WithSynchronous(sqlite.SyncNormal))
	var stored []uuid.UUID
	run, chunked, refused := 0, 0, 0
	rapid.Check(t, func(t *rapid.T) {
		run++
		stream := fmt.Sprintf("large-%d", run)
		var version int64
		for range rapid.IntRange(1, 3).Draw(t, "batches") {
			n := rapid.IntRange(0, 700).Draw(t, "size")
			events := make([]store.Event, n)
			for i := range events {
				events[i] = store.Event{Type: "L", Data: fmt.Appendf(nil, "%d", version+int64(i)+1)}
			}
			dup := n > 0 && len(stored) > 0 && rapid.Bool().Draw(t, "duplicate")
			if dup {
				events[rapid.IntRange(0, n-1).Draw(t, "at")].ID = stored[rapid.IntRange(0, len(stored)-1).Draw(t, "which")]
			}
			head, err := s.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.Append(ctx, stream, version, events)
			if dup {
				if !errors.Is(err, store.ErrDuplicateEvent) {
					t.Fatalf("batch of %d with a stored ID: %v, want store.ErrDuplicateEvent", n, err)
				}
				if after, _ := s.Head(ctx); after != head {
					t.Fatalf("refused batch of %d moved the head from %d to %d", n, head, after)
				}
				if n > 256 {
					refused++
				}
				continue
			}
			if err != nil || v != version+int64(n) {
				t.Fatalf("append %d events at version %d: %d, %v", n, version, v, err)
			}
			if n > 512 {
				chunked++
			}
			page, err := s.ReadLog(ctx, store.LogQuery{After: head, Limit: n + 1})
			if err != nil || len(page) != n {
				t.Fatalf("log after %d: %d records, %v; want the %d just appended", head, len(page), err, n)
			}
			for i, r := range page {
				if r.Position != head+int64(i)+1 || r.StreamID != stream || r.Version != version+int64(i)+1 || string(r.Data) != fmt.Sprint(r.Version) {
					t.Fatalf("record %d of the batch: position %d, stream %q, version %d, data %q", i, r.Position, r.StreamID, r.Version, r.Data)
				}
				stored = append(stored, r.ID)
			}
			version = v
		}
		var n int64
		for r, err := range s.ReadStream(ctx, stream, 0) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; r.Version != n {
				t.Fatalf("stream %q: record %d has version %d", stream, n, r.Version)
			}
		}
		if n != version {
			t.Fatalf("stream %q read back %d events, want %d", stream, n, version)
		}
	})
	// An INSERT holds at most 256 rows: make sure that batches of several
	// INSERTs were appended and refused, not only small ones.
	if chunked == 0 || refused == 0 {
		t.Fatalf("%d batches of more than 512 events appended, %d of more than 256 refused; want some of each", chunked, refused)
	}
}

func TestDuplicateErrorNamesTheEvent(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t)
	id := uuid.New()
	if _, err := s.Append(ctx, "first", store.NoStream, []store.Event{{ID: id, Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	// The duplicate in a batch of one INSERT, and in the third INSERT of a
	// batch whose first two are in the transaction already.
	for _, at := range []int{1, 600} {
		events := make([]store.Event, at+1)
		for i := range events {
			events[i] = store.Event{Type: "A"}
		}
		events[at].ID = id
		_, err := s.Append(ctx, "second", store.NoStream, events)
		if want := fmt.Sprintf("event %d has ID %v, already stored in stream \"first\"", at, id); !errors.Is(err, store.ErrDuplicateEvent) || !strings.Contains(err.Error(), want) {
			t.Fatalf("duplicate error %q: want store.ErrDuplicateEvent saying %q", err, want)
		}
	}
}

// A Store sees the appends of another Store on the same file, as it sees
// those of other processes: by polling the head in Wait.
func TestWaitSeesAnotherStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, path := openFile(t)
	b := openAt(t, path, sqlite.WithPollInterval(20*time.Millisecond))

	idle, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	if err := b.Wait(idle, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait on an empty log: %v, want it to block until the deadline", err)
	}
	var wg sync.WaitGroup
	var waitErr error
	wg.Go(func() { waitErr = b.Wait(ctx, 0) })
	time.Sleep(50 * time.Millisecond)
	if _, err := a.Append(ctx, "s", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if waitErr != nil {
		t.Fatalf("wait for another store's append: %v", waitErr)
	}
}

// Records read in one page share their metadata's decoding, but not its
// map: changing one record's metadata changes no other.
func TestRecordsDoNotShareMetadata(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t)
	meta := store.Metadata{CorrelationID: "c", Extra: map[string]string{"k": "v"}}
	other := store.Metadata{CausationID: "d"}
	events := []store.Event{{Type: "A", Metadata: meta}, {Type: "A", Metadata: meta}, {Type: "A", Metadata: other}, {Type: "A", Metadata: meta}}
	if _, err := s.Append(ctx, "s", store.NoStream, events); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ReadLog(ctx, store.LogQuery{})
	if err != nil || len(recs) != 4 {
		t.Fatalf("read %d records, %v", len(recs), err)
	}
	recs[0].Metadata.Extra["k"] = "changed"
	for i, want := range []store.Metadata{meta, other, meta} {
		if got := recs[i+1].Metadata; got.CorrelationID != want.CorrelationID || got.CausationID != want.CausationID || fmt.Sprint(got.Extra) != fmt.Sprint(want.Extra) {
			t.Errorf("record %d has metadata %+v, want %+v", i+2, got, want)
		}
	}
}

// The longest file name that leaves room for the "-journal" SQLite adds
// for a file beside it opens.
func TestTheLongestFileNameOpens(t *testing.T) {
	name := strings.Repeat("n", 244) + ".db" // 247 bytes, and 255 with -journal
	s := openAt(t, filepath.Join(t.TempDir(), name))
	if _, err := s.Append(context.Background(), "s", store.NoStream, []store.Event{{Type: "E"}}); err != nil {
		t.Fatal(err)
	}
}
