package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// Checkpoints. In WAL mode a commit appends pages to the write-ahead log,
// and a checkpoint copies them back into the database file so that the
// log can start over. SQLite's own policy runs a checkpoint on the
// connection whose commit takes the log past 1,000 pages, before that
// commit returns: the appends of that group commit then wait for the copy
// of a thousand pages and a flush of the database file, several times
// what their own flush takes, and with many writers those waits are the
// slowest percent of all appends (docs/benchmarks.md, "Scaling to 256
// writers").
//
// So the store turns that off on its writer connection
// (wal_autocheckpoint=0) and checkpoints from a connection of its own, in
// a goroutine, each time the writes since the last checkpoint come to
// about checkpointPages pages. Its checkpoints are PASSIVE, SQLite's kind
// that waits for nobody: it copies what no reader still needs while the
// writer goes on appending.
//
// The log starts over only at a write transaction that finds all of it
// copied, and a checkpoint that runs beside the writer never leaves it
// so, the writer having appended meanwhile: the log would grow for ever.
// So once a checkpoint finds the log longer than restartPages, the writer
// finishes it before its next transaction, with a PASSIVE checkpoint of
// its own that has only what was appended since to copy, and that next
// transaction starts the log over; the checkpointer waits for that before
// it runs again. A log that starts over is overwritten in place, which
// also keeps the flush of each commit from having to grow the file.
//
// A checkpoint that fails, or finds another process's checkpoint at work,
// loses nothing: the pages stay in the log, which every reader reads, and
// the next checkpoint copies them. Other processes on the file keep their
// own policy; a checkpoint of the log, from any of them, serves all.

// checkpointPages is about how many pages of log the writes since the
// last checkpoint make before the next runs, SQLite's default for
// wal_autocheckpoint; restartPages is how long the log may grow before
// the writer finishes a checkpoint so that it starts over. Variables for
// tests.
var (
	checkpointPages int64 = 1000
	restartPages    int64 = 4000
)

// checkpointer runs the store's checkpoints; see above.
type checkpointer struct {
	db      *sql.DB // one connection, which may write
	pending atomic.Int64
	finish  atomic.Bool  // the writer is to finish a checkpoint; see finishIn
	runs    atomic.Int64 // checkpoints run, for tests
	mu      sync.Mutex   // held while the checkpointer checkpoints; see pause
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
	if c.pending.Add(pages) >= checkpointPages && !c.finish.Load() {
		c.due()
	}
}

// due wakes the checkpointer.
func (c *checkpointer) due() {
	select {
	case c.wake <- struct{}{}:
	default: // it is awake already
	}
}

// finishIn runs the checkpoint that the writer is to finish, if one is
// due, on the writer connection q, outside a transaction; see above.
func (c *checkpointer) finishIn(q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) {
	if c == nil || !c.finish.Load() {
		return
	}
	_ = checkpoint(q) // its error is not kept: see above
	c.finish.Store(false)
	if c.pending.Load() >= checkpointPages {
		c.due()
	}
}

func (c *checkpointer) run() {
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		if c.finish.Load() {
			continue // the writer has yet to finish the last one; it wakes us then
		}
		c.pending.Store(0)
		c.mu.Lock()
		log := checkpoint(c.db)
		c.mu.Unlock()
		c.runs.Add(1)
		if log >= restartPages {
			c.finish.Store(true)
		}
	}
}

// checkpoint runs a PASSIVE checkpoint on q and returns how many pages
// the log holds, or 0 if it failed.
func checkpoint(q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (logPages int64) {
	var busy, copied int64
	if err := q.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied); err != nil {
		return 0
	}
	return logPages
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
