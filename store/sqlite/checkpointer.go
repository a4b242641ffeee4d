package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// Checkpoints. In WAL mode a commit appends pages to the write-ahead log,
// and a checkpoint copies them back into the database file and flushes
// it, so that the log can start over. SQLite runs one on the connection
// whose commit finds the log past 1,000 pages, before that commit
// returns: the appends of that group commit wait for the copy of a
// thousand pages and the flush of the database file, several times what
// their own flush takes, and with many writers those waits were the
// slowest percent of all appends (docs/benchmarks.md, "Scaling to 256
// writers").
//
// So a connection of the store's own runs checkpoints too, in a
// goroutine, each time the writes since its last one come to about
// checkpointPages pages, half SQLite's mark. Its checkpoints are
// PASSIVE, SQLite's kind that waits for nobody: it copies what no reader
// still needs, and flushes it, while the writer goes on appending. The
// writer keeps SQLite's own policy, which then finds most of the log
// copied and flushed already, and starts the log over as before; should
// a checkpoint of the store's find one of the writer's at work, or the
// other way round, SQLite skips it (the writer's is tried again at its
// next commit). A checkpoint that fails loses nothing: the pages stay in
// the log, which every reader reads, and the next checkpoint copies them.

// checkpointPages is about how many pages of log the writes since the
// checkpointer's last checkpoint make before it runs the next: half of
// SQLite's wal_autocheckpoint. A variable for tests.
var checkpointPages int64 = 500

// checkpointer runs the store's checkpoints; see above.
type checkpointer struct {
	db      *sql.DB // one connection, which may write
	pending atomic.Int64
	runs    atomic.Int64 // checkpoints run, for tests
	mu      sync.Mutex   // held while it checkpoints; see pause
	wake    chan struct{}
	stop    chan struct{} // closed by close
	wg      sync.WaitGroup
}

// newCheckpointer starts a checkpointer on db.
func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.wg.Go(c.run)
	return c
}

// wrote records that a commit of the writer wrote about pages pages of
// log. A nil checkpointer (an in-memory store) ignores it.
func (c *checkpointer) wrote(pages int64) {
	if c == nil {
		return
	}
	if c.pending.Add(pages) >= checkpointPages {
		select {
		case c.wake <- struct{}{}:
		default: // it is awake already
		}
	}
}

func (c *checkpointer) run() {
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.pending.Store(0)
		c.mu.Lock()
		var busy, log, copied int64
		// Its error is not kept: see above.
		_ = c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied)
		c.mu.Unlock()
		c.runs.Add(1)
	}
}

// pause waits for the checkpoint the checkpointer is running, if any,
// and keeps it from starting another until resume: SQLite refuses a
// checkpoint while another runs, and the store's own TRUNCATE checkpoint
// (see Forgetting) must not be refused for the checkpointer's.
func (c *checkpointer) pause() (resume func()) {
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	return c.mu.Unlock
}

// close stops the checkpointer, after the checkpoint it is running if
// any, and closes its connection.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	close(c.stop)
	c.wg.Wait()
	return c.db.Close()
}

// pagesOf is the checkpointer's estimate of the pages of log that rows
// with the values vals make: a page a row for its index entries, and the
// bytes of its values.
func pagesOf(rows int, vals []any) int64 {
	bytes := 0
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			bytes += len(v)
		case string:
			bytes += len(v)
		}
	}
	return int64(rows + bytes/pageBytes)
}

// pageBytes is the size of a page.
const pageBytes = 4096
