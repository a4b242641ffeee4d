package httplog

import (
	"context"
	"sync"
	"time"
)

// watch is the one wait on the log that the handler's /wait requests
// share: however many clients wait, the store sees one Wait and one Head
// at a time. (On PostgreSQL a Wait holds a connection of the pool; a
// wait per client would take the connections the appends need.) Its
// goroutine runs while a request waits, and ends when none does.
type watch struct {
	mu      sync.Mutex
	head    int64         // the highest head read
	err     error         // why the last wait on the log failed, until one succeeds
	changed chan struct{} // closed when head or err changes
	waiting int           // requests waiting
	running bool          // the goroutine runs
}

// await blocks until the log's head is past after, and returns it; or
// until ctx is done or the handler closed, and returns the head it knows
// then; or until the wait on the log fails, and returns why.
func (h *Handler) await(ctx context.Context, after int64) (int64, error) {
	w := &h.watch
	w.mu.Lock()
	if w.head > after {
		defer w.mu.Unlock()
		return w.head, nil
	}
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	w.waiting++
	if !w.running {
		w.running = true
		go h.follow()
	}
	changed := w.changed
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.waiting--
		w.mu.Unlock()
	}()
	for {
		select {
		case <-changed:
		case <-ctx.Done():
		case <-h.ctx.Done():
		}
		w.mu.Lock()
		head, err := w.head, w.err
		changed = w.changed
		w.mu.Unlock()
		switch {
		case head > after, ctx.Err() != nil, h.closed():
			return head, nil
		case err != nil:
			return head, err
		}
	}
}

// follow waits on the log after the head it knows, reads the new head,
// and wakes the requests, while any waits.
func (h *Handler) follow() {
	w := &h.watch
	pause := time.Duration(0)
	for {
		w.mu.Lock()
		if w.waiting == 0 || h.closed() {
			w.running = false
			w.mu.Unlock()
			return
		}
		at := w.head
		w.mu.Unlock()
		head, err := h.next(at)
		if h.closed() {
			continue // and end: the requests end with Close
		}
		w.mu.Lock()
		if head > w.head || err != nil || w.err != nil { // each failure reaches the requests waiting then
			w.head = max(w.head, head)
			w.err = err
			close(w.changed)
			w.changed = make(chan struct{})
		}
		w.mu.Unlock()
		if err == nil {
			pause = 0
			continue
		}
		// A store that cannot be read now: the waiting requests answer
		// its error; ask it again after a pause.
		pause = min(max(2*pause, 10*time.Millisecond), time.Second)
		select {
		case <-time.After(pause):
		case <-h.ctx.Done():
		}
	}
}

// next waits, up to the handler's longest wait, for the log to pass at,
// and reads its head.
func (h *Handler) next(at int64) (int64, error) {
	ctx, cancel := context.WithTimeout(h.ctx, h.maxWait)
	defer cancel()
	if err := h.log.Wait(ctx, at); err != nil && ctx.Err() == nil {
		return 0, err
	}
	ctx, cancel = context.WithTimeout(h.ctx, h.maxWait)
	defer cancel()
	return h.log.Head(ctx)
}

// closed reports whether Close was called.
func (h *Handler) closed() bool { return h.ctx.Err() != nil }
