package sqlite

import (
	"database/sql"
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
}

// startCheckpointer opens the checkpointer's connection and starts it,
// when the store has a log and WithCheckpointPages asked for one.
func (s *Store) startCheckpointer() error {
	if s.cfg.checkpointPages == 0 || s.path == Memory {
		return nil
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
		ran := checkpoint(c.db.QueryRowContext(background, passiveCheckpoint))
		c.mu.Unlock()
		if ran {
			c.finish.Store(true)
		}
	}
}

// passiveCheckpoint copies what it can of the log without waiting for
// anyone; it answers busy, the log's pages and the pages copied.
const passiveCheckpoint = `PRAGMA wal_checkpoint(PASSIVE)`

// checkpoint scans the answer of passiveCheckpoint, and reports whether
// the checkpoint ran.
func checkpoint(row *sql.Row) bool {
	var busy, log, copied int
	return row.Scan(&busy, &log, &copied) == nil && busy == 0
}

// committed is called by whoever holds the writer connection conn after
// a commit: it counts the pages the
// commit wrote, wakes the checkpointer when a checkpoint is due, and
// finishes the one that ended. A nil checkpointer does nothing.
func (c *checkpointer) committed(conn *sql.Conn) {
	if c == nil {
		return
	}
	_ = conn.Raw(func(dc any) error {
		if st, ok := dc.(interface {
			Status(sqlite.DBStatusOp, bool) (int, int, error)
		}); ok {
			n, _, _ := st.Status(sqlite.DBStatusCacheWrite, true)
			c.pages += n
		}
		return nil
	})
	if c.pages >= c.every {
		c.pages = 0
		select {
		case c.wake <- struct{}{}:
		default: // one is running, and copies these pages too
		}
	}
	if c.finish.Swap(false) {
		checkpoint(conn.QueryRowContext(background, passiveCheckpoint))
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
