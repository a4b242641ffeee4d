// Package rawgroup is group commit written by hand with database/sql and
// nothing else: the baseline that a store's own group commit is measured
// against in the benchmarks. One goroutine takes the writes waiting in a
// queue, runs each in one transaction as it arrives, and commits them
// together, at most Max at a time; a lone write waits for nobody. It
// keeps none of a store's promises beyond what the statements check, and
// is not for use outside measurements.
package rawgroup

import (
	"context"
	"database/sql"
)

// Max bounds a group, as the SQLite store bounds its own.
const Max = 256

// Committer runs writes in shared transactions on db, whose pool should
// hold one connection.
type Committer struct {
	db    *sql.DB
	queue chan *write
	stop  chan struct{}
	done  chan struct{}
}

type write struct {
	fn   func(*sql.Tx) error
	err  error
	done chan struct{}
}

// New starts a committer on db; Close stops it.
func New(db *sql.DB) *Committer {
	c := &Committer{db: db, queue: make(chan *write, Max), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// Do runs fn in the transaction of the next group and returns once that
// group committed, or at once with fn's error, which must leave nothing
// of fn's writes in the transaction (one statement, which SQLite undoes
// whole when it fails).
func (c *Committer) Do(ctx context.Context, fn func(*sql.Tx) error) error {
	w := &write{fn: fn, done: make(chan struct{})}
	select {
	case c.queue <- w:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-w.done
	return w.err
}

// Close stops the committer once its group, if any, is done. Do must not
// be called after it.
func (c *Committer) Close() error {
	close(c.stop)
	<-c.done
	return nil
}

func (c *Committer) run() {
	defer close(c.done)
	for {
		select {
		case first := <-c.queue:
			c.commit(first)
		case <-c.stop:
			return
		}
	}
}

// commit writes first and every write that joins the queue while the
// group is written, then commits them and answers each.
func (c *Committer) commit(first *write) {
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		first.err = err
		close(first.done)
		return
	}
	defer tx.Rollback()
	var written []*write
	next := first
	for n := 0; next != nil; n++ {
		if next.err = next.fn(tx); next.err != nil {
			close(next.done)
		} else {
			written = append(written, next)
		}
		next = nil
		if n+1 < Max {
			select {
			case next = <-c.queue:
			default:
			}
		}
	}
	err = tx.Commit()
	for _, w := range written {
		w.err = err
		close(w.done)
	}
}
