package annals

import (
	"context"
	"sync"

	"github.com/samber/lo"
)

// turns lets the commands a Runner handles on one stream take turns: a
// command holds its stream's turn from the load of the state it decides
// on to the end of its append, and the commands that arrive meanwhile
// queue behind it.
//
// Without turns, commands on one stream in one process would race as if
// they came from different processes: each loads the same version, all
// but one conflict, catch up and decide again, and with many writers on
// a hot stream the retries take more of the store's work than the
// appends that are stored (docs/benchmarks.md, "Scaling to 256 writers").
// Turns order what the process already knows would collide; optimistic
// concurrency still settles what it cannot know, the writes of other
// processes and of other runners on the stream.
//
// When a turn ends, the command at the head of the queue takes it and
// leads: it takes the commands queued behind it along (see gather), and
// the runner decides them one after the other, each on the state the one
// before it left, and appends their events together (see
// Runner.decideTogether). A hot stream then takes a queue's worth of
// commands for each append, where it took one.
//
// A turn is held only around the store's reads, Decide and the append,
// never around a Sync system's consumers (which may handle commands on
// the same stream) or anything else that may call back into the runner.
// A command whose context ends while it waits for its turn returns the
// context's error, having stored nothing.
type turns struct {
	mu sync.Mutex
	m  map[string]*turn
}

// turn is one stream's turn: whether a command holds it, and the
// commands waiting for it, in the order they came.
type turn struct {
	held  bool
	queue []*ticket
}

// ticket is a command's place at its stream's turn: job is the command
// (the runner's *command). The turns' mu guards state.
type ticket struct {
	job   any
	wake  chan struct{} // buffered: the state changed from queued; made when it queues
	state ticketState
}

type ticketState uint8

const (
	queued  ticketState = iota
	leading             // holds the turn, and leads the commands it gathers
	taken               // gathered by a leader, which handles it
	done                // handled by a leader: its job holds the outcome
)

// take takes the turn on streamID if no command holds it, and reports
// whether it did. A command that takes it leads, with no ticket: none
// is needed until it queues (enter).
func (ts *turns) take(streamID string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tn := ts.turn(streamID)
	if tn.held {
		return false
	}
	tn.held = true
	return true
}

// turn returns streamID's turn, made if need be; ts.mu is held.
func (ts *turns) turn(streamID string) *turn {
	if ts.m == nil {
		ts.m = map[string]*turn{}
	}
	tn := ts.m[streamID]
	if tn == nil {
		tn = freeTurns.Get().(*turn)
		ts.m[streamID] = tn
	}
	return tn
}

// enter waits for t's turn on streamID. It returns true when t holds the
// turn and leads, false when a leader took t along and handled it, or
// ctx's error if ctx ended while t was still queued (t is then out of the
// queue and was not handled).
func (ts *turns) enter(ctx context.Context, streamID string, t *ticket) (bool, error) {
	ts.mu.Lock()
	tn := ts.turn(streamID)
	if !tn.held {
		tn.held, t.state = true, leading
		ts.mu.Unlock()
		return true, nil
	}
	if t.wake == nil {
		t.wake = make(chan struct{}, 1)
	}
	tn.queue = append(tn.queue, t)
	ts.mu.Unlock()
	select {
	case <-t.wake:
	case <-ctx.Done():
		ts.mu.Lock()
		if t.state == queued {
			tn.queue = lo.Without(tn.queue, t)
			ts.mu.Unlock()
			return false, ctx.Err()
		}
		ts.mu.Unlock()
		<-t.wake // taken along or leading: told soon
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return t.state == leading, nil
}

// gather returns the group the leader of streamID's turn leads: a first
// place for the leader's ticket, which the leader fills, then the
// commands queued behind it that join it, in order: from the head of the
// queue, as long as join says so and at most limit in all. They leave
// the queue. With none, it returns nil.
func (ts *turns) gather(streamID string, limit int, join func(job any) bool) []*ticket {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tn := ts.m[streamID]
	n := 0
	for n < len(tn.queue) && n+1 < limit && join(tn.queue[n].job) {
		tn.queue[n].state = taken
		n++
	}
	if n == 0 {
		return nil
	}
	group := append(make([]*ticket, 1, n+1), tn.queue[:n]...)
	tn.queue = append(tn.queue[:0], tn.queue[n:]...)
	return group
}

// pass ends the turn of the leader of group (as gather returned it, nil
// for a leader alone): it tells the others in group that they were
// handled, and gives the turn to the command at the head of the queue, if
// any.
func (ts *turns) pass(streamID string, group []*ticket) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for i, t := range group {
		if i > 0 {
			t.state = done
			t.wake <- struct{}{}
		}
	}
	tn := ts.m[streamID]
	if len(tn.queue) == 0 {
		delete(ts.m, streamID)
		tn.held, tn.queue = false, tn.queue[:0]
		freeTurns.Put(tn) // nobody holds or waits for it
		return
	}
	next := tn.queue[0]
	tn.queue = tn.queue[1:]
	next.state = leading
	next.wake <- struct{}{}
}

// freeTurns keeps turns nobody uses, so that a command on a stream that
// no other command holds allocates none.
var freeTurns = sync.Pool{New: func() any { return new(turn) }}
