package annals

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
	streamID    string
	state       S
	version     int64
	snapVersion int64 // version of the latest snapshot known to exist
}

func newStateCache[S any](size int) *stateCache[S] {
	return &stateCache[S]{size: size, order: list.New(), byID: map[string]*list.Element{}}
}

func (c *stateCache[S]) get(streamID string) (loaded[S], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[streamID]
	if !ok {
		return loaded[S]{}, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*cacheEntry[S])
	return loaded[S]{state: e.state, version: e.version, snapVersion: e.snapVersion}, true
}

// put records a loaded state, unless the cache already holds a later
// version of the stream.
func (c *stateCache[S]) put(streamID string, l loaded[S]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[streamID]; ok {
		e := el.Value.(*cacheEntry[S])
		if e.version < l.version {
			e.state, e.version = l.state, l.version
		}
		e.snapVersion = max(e.snapVersion, l.snapVersion)
		c.order.MoveToFront(el)
		return
	}
	c.byID[streamID] = c.order.PushFront(&cacheEntry[S]{streamID: streamID, state: l.state, version: l.version, snapVersion: l.snapVersion})
	if c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byID, last.Value.(*cacheEntry[S]).streamID)
	}
}
