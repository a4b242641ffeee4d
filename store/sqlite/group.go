package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/annals-dev/annals/store"
)

// Group commit. With synchronous=FULL every commit waits for the disk to
// flush the write-ahead log, and that flush, not the insert, is most of
// the time an append takes. Appends that arrive while another is being
// written wait for it, and then share one transaction and one flush: the
// first of them to be woken, the leader, takes the writer connection and
// the others waiting behind it (a group, bounded by maxGroupAppends and
// maxGroupEvents), runs each one's statements in a savepoint of its own,
// commits once, and tells each what happened. Appends that queue while
// the group's statements run join it too, until the queue is empty or
// the group full (drain), since the statements take much less time than
// the flush they would otherwise wait for and then pay again.
//
// No timer is involved: a lone writer finds nobody waiting and commits
// alone at once; a group is whatever queued while the previous group was
// being written or while it is, so groups grow with the load and with
// the time a flush takes. One thing only helps them form: a leader whose
// previous group held several appends yields the processor once
// (runtime.Gosched) before it takes its group, so that the goroutines of
// the process that are ready to run, among them the writers of that
// group coming back with their next append, may queue first. Without it
// the writers woken together by one COMMIT would split into a group of
// the first one back, alone, and a group of all the others. The yield
// waits for no one: with nothing else to run, the leader goes on at
// once, and after a group of one (a lone writer) it does not yield.
//
// What each caller hears is what it would hear alone:
//
//   - Its expected version is checked in the transaction, after the
//     appends of the group before it, as if they had committed just
//     before; a conflict or a refused event ID rolls back its savepoint
//     only, and it alone fails, having stored nothing.
//   - A conflict with an append before it in the group is answered at
//     once, with the version the group left the stream at (see write
//     and answer), so that the writer can decide again and join the
//     group while it still takes appends.
//   - Nobody hears success before the COMMIT returned; a COMMIT that
//     fails fails every append in the group, with the outcome
//     commitFailed says (unknown only for an I/O error).
//   - A caller whose context ends while it waits to join a group leaves
//     the queue, and one whose group has not begun its transaction (it
//     waits for the writer connection, or for another process's write
//     lock) leaves the group: it is told at once, and nothing of it is
//     stored. The leader is no exception, though the wait for the lock
//     runs in its goroutine: that wait ends with the leader's context
//     (see begin), the leader leaves, and the rest of the group goes back
//     to the head of the queue, where the first of them leads it. Each
//     append waits for the lock up to the busy timeout in all, counted
//     from when it arrived, however many leaders wait for it in turn.
//     One whose context ends
//     while its group works is removed before the COMMIT: the group rolls
//     back, the caller is told that nothing was stored, and the group
//     runs again without it (its statements depend on the appends before
//     them). A context that ends once the COMMIT has begun changes
//     nothing: the caller hears the COMMIT's outcome.
//
// The group's statements never run under a caller's context: SQLite
// interrupts a statement whose context ends, and an interrupted INSERT
// rolls back the whole transaction, which would take every other
// caller's appends with it. Deadlines are checked between statements
// instead.

// Bounds of a group: it takes at most maxGroupAppends appends, and stops
// taking more once it holds maxGroupEvents events (the first append is
// always taken, whatever its size), so that no group holds the write lock
// for long.
const (
	maxGroupAppends = 256
	maxGroupEvents  = 8192
)

// groupCommitter queues the appends of one Store and forms their groups.
// queue holds the appends waiting, in arrival order; while leading is
// true an append at its head leads, or is about to. When leading is
// false the queue is empty.
type groupCommitter struct {
	s       *Store
	mu      sync.Mutex
	queue   []*groupMember
	leading bool
	last    int // how many appends the last group took
	// written holds, for the transaction the leader writes, the version
	// each stream it appended to is at; see write. Only the leader, who
	// holds the writer connection, uses it.
	written map[string]int64
	// outside counts the writes that hold the writer connection, or wait
	// for it, outside the group commit (see Store.write); a read borrows
	// the writer only when there are none, since one of them may run a
	// caller's code that reads the store (a projection's handler).
	outside atomic.Int32
	// hook, when set (tests only), is called with the stage a group has
	// reached and how many of its appends wrote: "begin", with 0, before
	// each BEGIN of a group's transaction; "written", after every
	// member's statements, before the deadlines are checked; "commit",
	// just before the COMMIT, which does not run when the hook returns an
	// error, the group failing as if the COMMIT had failed with it;
	// "committed", after a COMMIT that succeeded, before anyone is told;
	// and "borrowed", with 0, when a read has borrowed the writer (see
	// borrow), before it runs. It may block.
	hook func(stage string, wrote int) error
}

// memberState is where an append stands in the group commit; mu guards it.
type memberState int

const (
	queued    memberState = iota // in the queue
	leader                       // at the head of the queue, leading
	taken                        // in a group whose statements have not reached it
	running                      // its group runs; it leaves only with the outcome
	abandoned                    // its context ended before it ran: it returned
	finished                     // err holds its outcome
)

// groupMember is one append waiting for, or in, a group.
type groupMember struct {
	ctx    context.Context
	events int
	// oneStatement says that work runs a single statement that writes:
	// SQLite undoes a statement that fails, so a member that fails with
	// an answer of the store, or an error of its statement alone (see
	// statementOnly), needs no savepoint to leave the group's
	// transaction as it found it.
	oneStatement bool
	// stream and expected are the stream the append writes and the
	// version it expects (store.AnyVersion when it checks none); events
	// is how many events it appends. See write.
	stream   string
	expected int64
	// work runs the append's statements in tx, under a context that never
	// ends; it may run more than once, each time on the database as it
	// then is, and returns an error of the append (nil: it wrote).
	work  func(tx *sql.Tx) error
	state memberState
	err   error
	// lockWaited is how long the member has waited for another
	// process's write lock, in its group or queued behind one, since it
	// arrived; with the busy timeout it bounds the member's wait however
	// many leaders in turn wait for it (see begin). g.mu guards it.
	lockWaited time.Duration
	arrived    time.Time
	// answered says that write told the member its outcome before the
	// group ended (see answer); only the leader uses it.
	answered bool
	// wake gets a send when state becomes leader or finished. It is made
	// only for a member that queues: one that leads at once waits for
	// nobody, and an append alone costs no channel (see signal).
	wake chan struct{}
}

// signal wakes m, which waits if it queued; g.mu is held.
func (m *groupMember) signal() {
	if m.wake != nil {
		m.wake <- struct{}{}
	}
}

// do runs work in a group and returns its outcome, one of write's three.
// oneStatement says that work writes with a single statement (see
// groupMember).
func (g *groupCommitter) do(ctx context.Context, stream string, expected int64, events int, oneStatement bool, work func(tx *sql.Tx) error) error {
	m := &groupMember{ctx: ctx, stream: stream, expected: expected, events: events, oneStatement: oneStatement, work: work, arrived: time.Now()}
	g.mu.Lock()
	g.queue = append(g.queue, m)
	if !g.leading {
		g.leading = true
		m.state = leader
		g.mu.Unlock()
		return g.lead(m)
	}
	m.wake = make(chan struct{}, 1)
	g.mu.Unlock()
	for {
		select {
		case <-m.wake:
		case <-ctx.Done():
			g.mu.Lock()
			switch m.state {
			case queued:
				g.remove(m)
				m.state = abandoned
				g.mu.Unlock()
				return notStored(ctx, ctx.Err())
			case taken:
				m.state = abandoned
				g.mu.Unlock()
				return notStored(ctx, ctx.Err())
			}
			g.mu.Unlock()
			<-m.wake // leader, running or finished: told soon
		}
		g.mu.Lock()
		state := m.state
		g.mu.Unlock()
		switch state {
		case finished:
			return m.err
		case leader:
			return g.lead(m)
		}
	}
}

// remove takes m out of the queue; g.mu is held.
func (g *groupCommitter) remove(m *groupMember) {
	for i, q := range g.queue {
		if q == m {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			return
		}
	}
}

// handOff makes the head of the queue the next leader, or records that
// nobody leads; g.mu is held.
func (g *groupCommitter) handOff() {
	if len(g.queue) == 0 {
		g.leading = false
		return
	}
	next := g.queue[0]
	next.state = leader
	next.signal()
}

// lead runs the group that m, at the head of the queue, leads, and returns
// m's outcome. It takes the writer connection first, waiting behind the
// store's other writes; a leader whose context ends meanwhile hands the
// lead on and leaves.
func (g *groupCommitter) lead(m *groupMember) error {
	conn, err := g.s.w.Conn(m.ctx)
	if err != nil {
		g.mu.Lock()
		g.remove(m)
		m.state = abandoned
		g.handOff()
		g.mu.Unlock()
		return notStored(m.ctx, explainBusy(err, g.s.cfg.busyTimeout))
	}
	g.mu.Lock()
	company := g.last > 1
	g.mu.Unlock()
	if company {
		runtime.Gosched()
	}
	g.mu.Lock()
	group := g.take(nil)
	g.mu.Unlock()

	stored, unbegun := g.run(conn, m, &group)
	if unbegun != nil {
		// The group's wait for another process's write lock ended before
		// its transaction began, nothing written: m's context ended, or
		// m waited out the busy timeout, and so did every member that
		// waited as long (busy). They leave; the rest of the group goes
		// back to the head of the queue, the first of them to lead it.
		conn.Close()
		g.mu.Lock()
		defer g.mu.Unlock()
		busy := !errors.Is(unbegun, errLeaderLeft)
		var back []*groupMember
		for _, o := range group {
			switch {
			case o == m:
				m.state = abandoned
			case o.state == running:
				// Started, then left out of the transaction: its context
				// ended before a COMMIT (see startLocked and transact),
				// and err says that nothing was stored.
				o.state = finished
				o.signal()
			case o.state != taken:
			case busy && o.lockWaited >= m.lockWaited:
				o.err = notStored(o.ctx, unbegun)
				o.state = finished
				o.signal()
			default:
				o.state = queued
				back = append(back, o)
			}
		}
		g.queue = append(back, g.queue...)
		g.handOff()
		if busy {
			return notStored(m.ctx, unbegun)
		}
		return notStored(m.ctx, m.ctx.Err())
	}
	if stored {
		g.s.ckpt.committed(conn)
	}
	conn.Close()
	if stored {
		g.s.notify()
	}

	g.mu.Lock()
	g.last = len(group)
	g.handOff()
	for _, o := range group {
		if o != m && o.state == running {
			o.state = finished
			o.signal()
		}
	}
	g.mu.Unlock()
	return m.err
}

// take moves appends from the head of the queue to the end of group, as
// many as the bounds of a group let in, marks those queued as taken, and
// returns the group; g.mu is held.
func (g *groupCommitter) take(group []*groupMember) []*groupMember {
	// Appends answered before the group ended (see answer) hold nothing
	// in it and do not count.
	size, events := 0, 0
	for _, m := range group {
		if !m.answered {
			size, events = size+1, events+m.events
		}
	}
	n := 0
	for n < len(g.queue) && size < maxGroupAppends && (size == 0 || events+g.queue[n].events <= maxGroupEvents) {
		m := g.queue[n]
		size, events = size+1, events+m.events
		if m.state == queued {
			m.state = taken
		}
		group = append(group, m)
		n++
	}
	g.queue = append(g.queue[:0], g.queue[n:]...)
	return group
}

// start marks the members of group that are still there as running, so
// that they wait for their outcome, and returns them; those whose context
// has ended are told that nothing was stored.
func (g *groupCommitter) start(group []*groupMember) []*groupMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.startLocked(group)
}

// startLocked is start with g.mu held.
func (g *groupCommitter) startLocked(group []*groupMember) []*groupMember {
	live := group[:0:0]
	for _, m := range group {
		if m.state == abandoned {
			continue
		}
		m.state = running
		if err := m.ctx.Err(); err != nil {
			m.err = notStored(m.ctx, err)
			continue
		}
		live = append(live, m)
	}
	return live
}

// Statements of the savepoint of each member of a group of several,
// prepared on the writer connection when the store opens.
const (
	savepoint           = `SAVEPOINT annals_append`
	releaseSavepoint    = `RELEASE annals_append`
	rollbackToSavepoint = `ROLLBACK TO annals_append`
)

// background is the context of the group's statements: see the comment
// at the top of this file.
var background = context.Background()

// run writes the group that leader leads on conn and sets each member's
// err. It reports whether a COMMIT stored anything, or why the group's
// wait for the write lock ended before its transaction began (unbegun,
// see begin): then nothing was written, and the members but the leader
// are still taken. The appends that queue while the group writes join it
// (see drain), so run adds them to *group.
func (g *groupCommitter) run(conn *sql.Conn, leader *groupMember, group *[]*groupMember) (stored bool, unbegun error) {
	live := *group
	for {
		tx, release, err := g.begin(conn, leader, live)
		if err != nil {
			return false, err
		}
		// The members are taken until the transaction has begun: one
		// whose context ends while the group waits for the lock leaves
		// at once. From here on they wait for the outcome.
		live = g.start(live)
		if len(live) == 0 {
			_ = tx.Rollback()
			release()
			return false, nil
		}
		stored, again := g.transact(tx, leader, &live, group)
		release()
		if !again {
			return stored, nil
		}
	}
}

// transact writes live, the members of a group that leader leads that
// are there, in tx, which it commits or rolls back. It reports whether
// the COMMIT stored anything, or that the context of a member that wrote
// ended before the COMMIT (again): then the transaction is rolled back,
// the members whose contexts ended are told that nothing was stored, and
// *live holds the others, which must be written again without them in a
// new transaction, since their statements may have depended on what was
// taken out; until it begins they are taken again, free to leave (see
// run). The appends that queue meanwhile join the group (see drain).
func (g *groupCommitter) transact(tx *sql.Tx, leader *groupMember, live *[]*groupMember, group *[]*groupMember) (stored, again bool) {
	clear(g.written)
	wrote, broken := g.write(tx, *live, len(*live) == 1)
	if broken == nil && len(wrote) > 0 {
		var more, moreWrote []*groupMember
		more, moreWrote, broken = g.drain(tx, group, len(wrote))
		*live, wrote = append(*live, more...), append(wrote, moreWrote...)
	}
	*live = slices.DeleteFunc(*live, func(m *groupMember) bool { return m.answered })
	if broken != nil {
		_ = tx.Rollback()
		for _, m := range *live {
			m.err = notStored(m.ctx, fmt.Errorf("the transaction it shared with other appends failed: %w", broken))
		}
		return false, false
	}
	g.at("written", len(wrote))
	if slices.ContainsFunc(wrote, func(m *groupMember) bool { return m.ctx.Err() != nil }) {
		_ = tx.Rollback()
		var rerun []*groupMember
		g.mu.Lock()
		for _, m := range *live {
			if err := m.ctx.Err(); err != nil {
				m.err = notStored(m.ctx, err)
				if m != leader {
					m.state = finished
					m.signal()
				}
				continue
			}
			if m != leader {
				m.state = taken
			}
			rerun = append(rerun, m)
		}
		g.mu.Unlock()
		*live = rerun
		return false, len(rerun) > 0
	}
	if len(wrote) == 0 {
		_ = tx.Rollback()
		return false, false
	}
	err := g.at("commit", len(wrote))
	if err != nil {
		_ = tx.Rollback()
	} else {
		err = tx.Commit()
	}
	if err != nil {
		for _, m := range wrote {
			m.err = commitFailed(m.ctx, err)
		}
		return false, false
	}
	g.at("committed", len(wrote))
	return true, false
}

// begin begins the transaction of the group that leader leads, whose
// members are live, with BEGIN IMMEDIATE, which waits for the write lock
// while another process holds it. The wait is the group's, but the
// leader's caller, whose goroutine it is, must hear of the end of its own
// context at once, as every member does: so the wait ends when the
// leader's context ends, with errLeaderLeft, and lead hands the group on
// to its next member. Each member counts the time it has waited for the
// lock (lockWaited), and the wait ends too once the leader, the member
// that has waited longest (the queue is in order of arrival, and a group
// handed on goes back to its head), has waited the busy timeout in all,
// with an error that says so: lead fails the members that waited as long
// and hands the group on to those that joined it later.
//
// The transaction runs under a context of its own that never ends once
// BEGIN has returned: database/sql rolls back a transaction whose context
// ends, and the group's statements run under no caller's context (see the
// top of this file). release frees it, once the transaction has ended.
func (g *groupCommitter) begin(conn *sql.Conn, leader *groupMember, live []*groupMember) (tx *sql.Tx, release func(), err error) {
	if leader.ctx.Err() != nil {
		return nil, nil, errLeaderLeft
	}
	g.at("begin", 0)
	g.mu.Lock()
	waited := leader.lockWaited
	g.mu.Unlock()
	timeout := g.s.cfg.busyTimeout
	began := time.Now()
	if leader.ctx.Done() == nil && waited == 0 {
		// Nothing cuts the wait short but SQLite's busy timeout.
		tx, err := conn.BeginTx(background, nil) // BEGIN IMMEDIATE, see dsn
		if err != nil {
			g.waited(live, began)
			return nil, nil, explainBusy(err, timeout)
		}
		return tx, func() {}, nil
	}

	ctx, cancel := context.WithCancel(background)
	var mu sync.Mutex
	var begun bool
	var why error // what ended the wait
	abort := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if !begun && why == nil {
			why = err
			cancel()
		}
	}
	stop := context.AfterFunc(leader.ctx, func() { abort(errLeaderLeft) })
	defer stop()
	if waited > 0 {
		timer := time.AfterFunc(max(timeout-waited, time.Millisecond), func() { abort(errBusyTimeout(timeout)) })
		defer timer.Stop()
	}
	tx, err = conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE, see dsn
	mu.Lock()
	begun = true
	ended := why
	mu.Unlock()
	switch {
	case ended != nil:
		// Even if BEGIN took the lock just before the wait was cut
		// short: database/sql rolls back a transaction whose context
		// ended, so it is rolled back here, nothing written.
		if err == nil {
			_ = tx.Rollback()
		}
		err = ended
	case err != nil:
		err = explainBusy(err, timeout)
	default:
		return tx, cancel, nil
	}
	cancel()
	g.waited(live, began)
	return nil, nil, err
}

// waited adds the wait for the write lock that began at began and has
// ended unsuccessfully to the time each member of live, and each append
// queued behind them, has waited for the lock, from when it arrived if
// that was later.
func (g *groupCommitter) waited(live []*groupMember, began time.Time) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range slices.Concat(live, g.queue) {
		from := began
		if m.arrived.After(from) {
			from = m.arrived
		}
		m.lockWaited += now.Sub(from)
	}
}

// errLeaderLeft is begin's error when the leader's context ended while
// the group waited for the write lock.
var errLeaderLeft = errors.New("the leader's context ended while its group waited for the write lock")

// errBusyTimeout is the error of a member that waited out the busy
// timeout for another process's write lock in groups led by several
// leaders in turn.
func errBusyTimeout(timeout time.Duration) error {
	return fmt.Errorf("%w (%v); raise it with busy_timeout or shorten that process's transactions", errLockHeld, timeout)
}

// statementOnly reports whether err is an error that SQLite gives for a
// statement alone, undoing the statement and leaving its transaction as
// it was: a constraint, a value too big or of the wrong type, an error in
// the SQL. SQLite may roll the whole transaction back on the others
// (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_NOMEM, SQLITE_INTERRUPT,
// and errors it does not document for this), so after any other error
// the group gives up (see "Response To Errors Within A Transaction" in
// SQLite's documentation of the language).
func statementOnly(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE, sqlite3.SQLITE_ERROR:
		return true
	}
	return false
}

// at calls the test hook, if any.
func (g *groupCommitter) at(stage string, wrote int) error {
	if g.hook == nil {
		return nil
	}
	return g.hook(stage, wrote)
}

// drain takes into the group the appends that queued while its first
// ones were written, and writes them in tx, again and again until the
// queue is empty or the group full, so that they share its COMMIT rather
// than wait for it and then pay a flush of their own: nobody is waited
// for, only those already waiting are taken. It returns the members it
// started and those of them that wrote; wrote is how many wrote before.
// It is not called after a lone append that failed, which had no
// savepoint and whose transaction is rolled back.
func (g *groupCommitter) drain(tx *sql.Tx, group *[]*groupMember, wrote int) (live, written []*groupMember, broken error) {
	for {
		g.at("draining", wrote+len(written))
		g.mu.Lock()
		n := len(*group)
		*group = g.take(*group)
		more := g.startLocked((*group)[n:])
		g.mu.Unlock()
		if n == len(*group) {
			return live, written, nil
		}
		live = append(live, more...)
		w, err := g.write(tx, more, false)
		written = append(written, w...)
		if err != nil {
			return live, written, err
		}
	}
}

// write runs the statements of each member in tx, in order, and returns
// those that wrote. A member that fails is rolled back to its savepoint
// and given its error; when a savepoint's own statements fail, or a
// member's fail with an error that may roll back more than the statement
// (see statementOnly), the transaction may be gone, and write returns
// the error that broke it.
// A member alone in its transaction needs no savepoint.
//
// An append that expects a version of a stream that an append before it
// in the transaction wrote is answered at once: the stream is at the
// version that append left it at (g.written), which is what the
// member's own statements would read in the transaction. On a hot
// stream, writers that read the same version all but one conflict in
// the group they share, and this answer costs them no statement.
func (g *groupCommitter) write(tx *sql.Tx, live []*groupMember, alone bool) (wrote []*groupMember, broken error) {
	if g.written == nil {
		g.written = map[string]int64{}
	}
	if alone {
		// Alone: the transaction is the savepoint.
		m := live[0]
		if err := m.work(tx); err != nil {
			m.err = notStored(m.ctx, err)
			return nil, nil
		}
		m.err = nil
		g.wrote(m)
		return live, nil
	}
	wrote = make([]*groupMember, 0, len(live))
	for _, m := range live {
		if v, ok := g.written[m.stream]; ok && m.expected != store.AnyVersion && v != m.expected {
			g.answer(m, &store.ConflictError{StreamID: m.stream, Expected: m.expected, Actual: v})
			continue
		}
		if m.oneStatement {
			err := m.work(tx)
			switch {
			case err == nil:
				m.err = nil
				wrote = append(wrote, m)
				g.wrote(m)
			case isAnswer(err) || statementOnly(err):
				m.err = notStored(m.ctx, err)
			default:
				m.err = notStored(m.ctx, err)
				return wrote, err
			}
			continue
		}
		if _, err := tx.StmtContext(background, g.s.savepoint).ExecContext(background); err != nil {
			return wrote, err
		}
		err := m.work(tx)
		if err == nil {
			if _, err := tx.StmtContext(background, g.s.release).ExecContext(background); err != nil {
				return wrote, err
			}
			m.err = nil
			wrote = append(wrote, m)
			g.wrote(m)
			continue
		}
		m.err = notStored(m.ctx, err)
		if !isAnswer(err) && !statementOnly(err) {
			// A full disk, an I/O error: SQLite may have rolled the
			// whole transaction back, savepoint and all.
			return wrote, err
		}
		if _, rerr := tx.StmtContext(background, g.s.rollbackTo).ExecContext(background); rerr != nil {
			return wrote, errors.Join(err, rerr)
		}
		if _, rerr := tx.StmtContext(background, g.s.release).ExecContext(background); rerr != nil {
			return wrote, errors.Join(err, rerr)
		}
	}
	return wrote, nil
}

// answer tells m, a member of the group that stored nothing, its outcome
// err at once, rather than when the group ends: a writer told of a
// conflict can decide again and append while the group still takes
// appends (see drain), and then shares its transaction. (The leader
// writes first in every transaction of its group, so it is never
// answered so.)
func (g *groupCommitter) answer(m *groupMember, err error) {
	m.err = err
	m.answered = true
	g.mu.Lock()
	m.state = finished
	m.signal()
	g.mu.Unlock()
}

// wrote records the version m's append left its stream at, when it is
// known without a read (see write).
func (g *groupCommitter) wrote(m *groupMember) {
	if m.expected == store.AnyVersion {
		delete(g.written, m.stream)
		return
	}
	g.written[m.stream] = m.expected + int64(m.events)
}

// borrow takes the writer connection for a read, and reports whether it
// did. It does when no group holds the writer or waits for it, no write
// outside the group commit does either, and the last group was a lone
// append: under concurrent appends the writer is rarely idle for long,
// and reads run best on readers, beside it. A borrower holds the writer
// as a leader does: an append that arrives meanwhile queues, and leads
// once giveBack is called, which the borrower must do as soon as its read
// is done.
func (g *groupCommitter) borrow() bool {
	if g.outside.Load() > 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.leading || g.last > 1 {
		return false
	}
	g.leading = true
	return true
}

// giveBack ends a borrow: the first append queued meanwhile leads.
func (g *groupCommitter) giveBack() {
	g.mu.Lock()
	g.handOff()
	g.mu.Unlock()
}
