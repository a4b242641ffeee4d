package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
)

// Checkpoints. SQLite appends every commit to the write-ahead log and
// copies the log into the database file now and then (a checkpoint), so
// that the log can start again from its beginning. By default it does
// so on the commit that takes the log past 1,000 pages, before that
// commit returns: the appends of that commit, and under concurrent
// writers those queued behind it, wait for the copy and for a flush of
// the database file.
//
// With WithCheckpointPages(n), the writer connection checkpoints never
// by itself (wal_autocheckpoint=0). Whoever holds the writer counts the
// pages each commit wrote (SQLite's DBSTATUS_CACHE_WRITE), and once n
// have been written since the last checkpoint, wakes a checkpointer: a
// goroutine with a connection of its own that runs a PASSIVE checkpoint,
// copying the log as it stood when the checkpoint began, beside the
// appends that go on. The log can start again only when every page in it
// has been copied, and appends committed during the copy have not been,
// so the writer finishes the job: after the next commit, before the next
// group takes the writer, it runs a PASSIVE checkpoint of its own, which
// copies only what was committed during the first. The next write then
// starts the log from its beginning. That commit's callers, and those
// queued behind them, wait for that short checkpoint, once every n pages.
//
// A checkpoint moves no data that is not already durable in the log, and
// SQLite makes it safe to interrupt at any point, by a crash as much as
// by another process's writes or checkpoints, so a failed checkpoint
// loses nothing: the log only grows until a later one succeeds. As with
// SQLite's own checkpoints, its error is not reported.

// checkpointer copies the write-ahead log into the database file beside
// the writer connection; see the comment above.
type checkpointer struct {
	db *sql.DB // one connection of its own
	// mu is held while db checkpoints: SQLite lets one connection
	// checkpoint at a time and refuses another at once, so the store's
	// own TRUNCATE checkpoint (see Store.truncateLog) waits for it.
	mu    sync.Mutex
	every int // WithCheckpointPages's n
	// pages counts the pages written since the last wake; only whoever
	// holds the writer connection uses it.
	pages int
	wake  chan struct{} // buffered: a checkpoint is due
	// finish says that a checkpoint ended: the writer copies what was
	// committed during it.
	finish atomic.Bool
	stop   chan struct{} // closed by close
	done   chan struct{} // closed when run returns
	// ran, when set (tests only), is sent to after each checkpoint of
	// run, and committed waits for it after waking run: each checkpoint
	// then runs while the writer waits, whatever the disk's speed.
	ran chan struct{}
}

// startCheckpointer sizes the log and opens the checkpointer's
// connection and starts it, when the store has a log and
// WithCheckpointPages asked for one.
func (s *Store) startCheckpointer(ctx context.Context) error {
	if s.cfg.checkpointPages == 0 || s.path == Memory {
		return nil
	}
	if err := s.sizeLog(ctx, s.cfg.checkpointPages); err != nil {
		return fmt.Errorf("size the write-ahead log for checkpoint_pages=%d: %w", s.cfg.checkpointPages, err)
	}
	db, err := sql.Open("sqlite", s.cfg.dsn(s.path, false))
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	s.ckpt = &checkpointer{db: db, every: s.cfg.checkpointPages, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go s.ckpt.run()
	return nil
}

// sizeLog makes the write-ahead log file at least large enough for pages
// pages, by writing zeros after its end and flushing them, unless it is
// already. A commit that extends the file waits for the file system to
// record the file's new blocks and size as well as its data, which took
// about half again as long as a commit that overwrites the file on the
// machine of docs/benchmarks.md. SQLite reuses the file from its
// beginning once a checkpoint has copied it, and never shrinks it while
// the store is open (no journal_size_limit), so with SQLite's 1,000
// pages only the first few hundred appends extend it, but with tens of
// thousands a store would extend it for its first minutes.
//
// SQLite knows where the log's valid frames end from the shared
// wal-index, or, when it recovers the log, by reading frames from the
// beginning until one's salt or checksum does not match the log's
// header; bytes after the last frame are never read as frames, and
// zeros, whose salts are zero, never match. (It leaves the old frames of
// a reused log after the new ones the same way.) The zeros are written
// only past the file's end, while the store holds the write lock, so
// that no connection, in this process or another, writes frames or
// truncates the file meanwhile. When the zeros cannot all be written (a
// full disk), the file is cut back to its size before, so that a store
// that fails to open leaves the disk's space as it found it.
func (s *Store) sizeLog(ctx context.Context, pages int) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return explainBusy(err, s.cfg.busyTimeout)
	}
	defer conn.Close()
	if _, ok := pagesWritten(conn); !ok {
		return errors.New("the SQLite driver does not count the pages a connection writes (DBSTATUS_CACHE_WRITE), which the store's checkpoints rely on")
	}
	var pageSize int64
	if err := conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		return explainBusy(err, s.cfg.busyTimeout)
	}
	defer tx.Rollback()
	f, err := os.OpenFile(s.path+"-wal", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	const header, frameHeader = 32, 24
	want := header + int64(pages)*(frameHeader+pageSize)
	info, err := f.Stat()
	if err == nil && info.Size() < want {
		zeros := make([]byte, min(want-info.Size(), 1<<20))
		for off := info.Size(); off < want && err == nil; off += int64(len(zeros)) {
			_, err = f.WriteAt(zeros[:min(int64(len(zeros)), want-off)], off)
		}
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			// A full disk: give back what was written, which the
			// store's own writes then have.
			err = errors.Join(err, f.Truncate(info.Size()))
		}
	}
	return errors.Join(err, f.Close())
}

// run checkpoints the log each time it is woken, until close.
func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.mu.Lock()
		ran := ranCheckpoint(c.db.QueryRowContext(background, passiveCheckpoint))
		c.mu.Unlock()
		if ran {
			c.finish.Store(true)
		}
		if c.ran != nil {
			c.ran <- struct{}{}
		}
	}
}

// pagesWritten returns how many pages conn has written since the last
// call (SQLite's DBSTATUS_CACHE_WRITE, reset), and whether the driver
// tells.
func pagesWritten(conn *sql.Conn) (n int, ok bool) {
	_ = conn.Raw(func(dc any) error {
		var st sqlite.DBStatus
		if st, ok = dc.(sqlite.DBStatus); ok {
			n, _, _ = st.Status(sqlite.DBStatusCacheWrite, true)
		}
		return nil
	})
	return n, ok
}

// passiveCheckpoint copies what it can of the log without waiting for
// anyone; it answers busy, the log's pages and the pages copied.
const passiveCheckpoint = `PRAGMA wal_checkpoint(PASSIVE)`

// ranCheckpoint scans the answer of passiveCheckpoint, and reports
// whether the checkpoint ran.
func ranCheckpoint(row *sql.Row) bool {
	var busy, log, copied int
	return row.Scan(&busy, &log, &copied) == nil && busy == 0
}

// committed is called by whoever holds the writer connection conn after
// a commit: it counts the pages the commit wrote, wakes the checkpointer
// when a checkpoint is due, and finishes the one that ended. A nil
// checkpointer does nothing.
func (c *checkpointer) committed(conn *sql.Conn) {
	if c == nil {
		return
	}
	n, _ := pagesWritten(conn)
	c.pages += n
	if c.pages >= c.every {
		c.pages = 0
		select {
		case c.wake <- struct{}{}:
		default: // one is running, and copies these pages too
		}
		if c.ran != nil {
			<-c.ran
		}
	}
	if c.finish.Swap(false) {
		ranCheckpoint(conn.QueryRowContext(background, passiveCheckpoint))
	}
}

// hold keeps the checkpointer from starting a checkpoint, waiting for
// one that runs, until the function it returns is called. A nil
// checkpointer holds nothing.
func (c *checkpointer) hold() (release func()) {
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	return c.mu.Unlock
}

// close stops the checkpointer, waiting for a checkpoint that runs, and
// closes its connection. A nil checkpointer does nothing.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	close(c.stop)
	<-c.done
	return c.db.Close()
}
