package store

import (
	"container/list"
	"sync"
)

// stateCache keeps the last known state and version of recently used
// streams, so that loading a stream reads only the events after the cached
// version. It relies on Evolve being pure: a cached state is shared by
// every command on that stream.
type stateCache[S any] struct {
	mu    sync.Mutex
	size  int
	order *list.List // of *cacheEntry, most recent first
	byID  map[string]*list.Element
}

type cacheEntry[S any] struct {
	streamID string
	state    S
	version  int64
}

func newStateCache[S any](size int) *stateCache[S] {
	return &stateCache[S]{size: size, order: list.New(), byID: map[string]*list.Element{}}
}

func (c *stateCache[S]) get(streamID string) (S, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[streamID]
	if !ok {
		var zero S
		return zero, 0, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*cacheEntry[S])
	return e.state, e.version, true
}

// put records state at version, unless the cache already holds a later
// version of the stream.
func (c *stateCache[S]) put(streamID string, state S, version int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[streamID]; ok {
		e := el.Value.(*cacheEntry[S])
		if e.version < version {
			e.state, e.version = state, version
		}
		c.order.MoveToFront(el)
		return
	}
	c.byID[streamID] = c.order.PushFront(&cacheEntry[S]{streamID: streamID, state: state, version: version})
	if c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byID, last.Value.(*cacheEntry[S]).streamID)
	}
}
