package annals

import (
	"context"
	"sync"
)

// turns lets the commands a Runner handles on one stream take turns: a
// command holds its stream's turn from the load of the state it decides
// on to the end of its append, and a second command on the stream waits
// for it, then decides on the state the first one left (from the cache,
// without a read, when the runner has one) and appends after it.
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
// A turn is held only around the store's reads, Decide and the append,
// never around a Sync system's consumers (which may handle commands on
// the same stream) or anything else that may call back into the runner.
// A command whose context ends while it waits for its turn returns the
// context's error, having stored nothing.
type turns struct {
	mu sync.Mutex
	m  map[string]*turn
}

// turn is one stream's turn: whoever put the token into token holds it.
// users counts the commands that hold it or wait for it; turns.mu guards
// it, and the turn leaves the map when nobody uses it.
type turn struct {
	token chan struct{}
	users int
}

// take waits for streamID's turn and returns it, held; or returns ctx's
// error if ctx ends first.
func (ts *turns) take(ctx context.Context, streamID string) (*turn, error) {
	ts.mu.Lock()
	if ts.m == nil {
		ts.m = map[string]*turn{}
	}
	t := ts.m[streamID]
	if t == nil {
		t = freeTurns.Get().(*turn)
		ts.m[streamID] = t
	}
	t.users++
	ts.mu.Unlock()
	select {
	case t.token <- struct{}{}:
		return t, nil
	default:
	}
	select {
	case t.token <- struct{}{}:
		return t, nil
	case <-ctx.Done():
		ts.leave(streamID, t)
		return nil, ctx.Err()
	}
}

// release gives streamID's turn t, taken with take, to the next command
// waiting for it.
func (ts *turns) release(streamID string, t *turn) {
	<-t.token
	ts.leave(streamID, t)
}

// leave drops one user of t.
func (ts *turns) leave(streamID string, t *turn) {
	ts.mu.Lock()
	t.users--
	if t.users == 0 {
		delete(ts.m, streamID)
		freeTurns.Put(t) // nobody holds or waits for it
	}
	ts.mu.Unlock()
}

// freeTurns keeps turns nobody uses, so that a command on a stream that
// no other command holds allocates none.
var freeTurns = sync.Pool{New: func() any { return &turn{token: make(chan struct{}, 1)} }}
