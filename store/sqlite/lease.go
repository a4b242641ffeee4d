package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Lock implements [store.Locker] among all the processes that open the
// database file. A lease is a row of annals_leases that names its holder
// by a random token and says when it expires: Lock takes the row when
// there is none or it has expired, and otherwise tries again when a lease
// of this Store is released or every poll interval (see
// [WithPollInterval]), until ctx is done.
//
// The returned lease renews itself in a goroutine of its own, three times
// per lease duration (see [WithLeaseDuration]), until Release. Lost is
// closed when a renewal finds the lease taken over, or when it could not
// be renewed before it expired (the write lock was held too long, the
// process was paused, the store was closed): from then on another process
// may hold it. A process that dies stops renewing, and another takes the
// lease over once it has expired. Expiry times are read from the clock of
// the machine that the processes share.
func (s *Store) Lock(ctx context.Context, name string) (store.Lease, error) {
	if err := check.Consumer(name); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	owner := uuid.New()
	var poll *time.Timer
	for {
		if err := s.usable(ctx, &s.leaseStmts); err != nil {
			return nil, err
		}
		freed := s.freedChan()
		if err := s.deleteUnreleased(ctx, name); err != nil {
			return nil, err
		}
		now := time.Now()
		expires := now.Add(s.cfg.leaseDuration)
		n, err := s.exec(ctx, s.takeLease, name, owner[:], expires.UnixNano(), now.UnixNano())
		switch {
		case err == nil && n == 1:
			return s.newLease(name, owner, expires), nil
		case err != nil && ctx.Err() != nil:
			return nil, err // it matches ctx.Err(): nothing was taken
		case err != nil && !isBusy(err):
			return nil, s.fail(fmt.Errorf("lock %q: %w", name, err))
		}
		// Held by another, or another process held the write lock for
		// longer than the busy timeout: wait, then try again.
		if poll == nil {
			poll = time.NewTimer(s.cfg.pollInterval)
			defer poll.Stop()
		} else {
			poll.Reset(s.cfg.pollInterval)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, s.closedError()
		case <-freed:
		case <-poll.C:
		}
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

func (s *Store) freedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.freed == nil {
		s.freed = make(chan struct{})
	}
	return s.freed
}

// notifyFreed wakes the Locks of this Store that wait, after a release.
func (s *Store) notifyFreed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}

// lease is a held lease and the goroutine that renews it.
type lease struct {
	s     *Store
	name  string
	owner []byte

	lost     chan struct{}
	loseOnce sync.Once

	stop   context.CancelFunc // stops the renewal
	exited chan struct{}      // closed when the renewal has stopped

	releaseOnce sync.Once
	releaseErr  error
}

func (s *Store) newLease(name string, owner uuid.UUID, expires time.Time) *lease {
	ctx, stop := context.WithCancel(context.Background())
	l := &lease{s: s, name: name, owner: owner[:], lost: make(chan struct{}), stop: stop, exited: make(chan struct{})}
	go l.renew(ctx, expires)
	return l
}

// Lost implements [store.Lease].
func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) lose() { l.loseOnce.Do(func() { close(l.lost) }) }

// renew keeps the lease until ctx is done. A timer closes lost when the
// lease expires unrenewed, even while a renewal waits for the write lock.
func (l *lease) renew(ctx context.Context, expires time.Time) {
	defer close(l.exited)
	expiry := time.AfterFunc(time.Until(expires), l.lose)
	defer expiry.Stop()
	d := l.s.cfg.leaseDuration
	every := d / 3
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.lost:
			return
		case <-l.s.done:
			l.lose()
			return
		case <-timer.C:
		}
		now := time.Now()
		// A renewal that cannot finish before the lease expires is too late.
		rctx, cancel := context.WithDeadline(ctx, expires)
		n, err := l.s.exec(rctx, l.s.renewLease, l.name, l.owner, now.Add(d).UnixNano())
		cancel()
		switch {
		case ctx.Err() != nil:
			return // released meanwhile
		case err == nil && n == 0:
			l.lose() // another took it over after it expired
			return
		case err == nil:
			if !expiry.Stop() {
				return // it expired before the renewal: lost is closed
			}
			expires = now.Add(d)
			expiry.Reset(time.Until(expires))
			timer.Reset(every)
		default:
			// Try again soon, until it expires.
			timer.Reset(max(0, min(d/10, time.Until(expires))))
		}
	}
}

// Release implements [store.Lease]: it stops the renewal and deletes the
// lease's row, unless another has taken it over. Releasing twice is
// harmless. When the row cannot be deleted (the store is closed, the
// disk is full), the lease expires unrenewed, unless a Lock of this
// Store takes it first: it deletes the row before it tries to take the
// lease, so that a consumer that lost its lease to a full disk takes it
// again as soon as the store can write, without waiting for it to
// expire.
func (l *lease) Release() error {
	l.releaseOnce.Do(func() {
		l.stop()
		<-l.exited
		defer l.s.notifyFreed()
		if l.s.closed.Load() {
			l.releaseErr = fmt.Errorf("release lease %q: %w; it expires within %v", l.name, l.s.closedError(), l.s.cfg.leaseDuration)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.s.cfg.leaseDuration)
		defer cancel()
		if _, err := l.s.exec(ctx, l.s.releaseLease, l.name, l.owner); err != nil {
			l.releaseErr = l.s.fail(fmt.Errorf("release lease %q (it expires within %v): %w", l.name, l.s.cfg.leaseDuration, err))
			l.s.mu.Lock()
			if l.s.unreleased == nil {
				l.s.unreleased = map[string][]byte{}
			}
			l.s.unreleased[l.name] = l.owner
			l.s.mu.Unlock()
		}
	})
	return l.releaseErr
}

// deleteUnreleased deletes the row of a lease named name that this Store
// released but could not delete (see Release), if there is one: the lease
// is this Store's to take again at once, not another instance's to wait
// for. The row is deleted only if it is still that lease's. An error says
// that the row is still there: Lock returns it rather than wait, since
// the store cannot write.
func (s *Store) deleteUnreleased(ctx context.Context, name string) error {
	s.mu.Lock()
	owner, ok := s.unreleased[name]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	if _, err := s.exec(ctx, s.releaseLease, name, owner); err != nil {
		return s.fail(fmt.Errorf("lock %q: delete the lease this store released and could not delete then: %w", name, err))
	}
	s.mu.Lock()
	if o, ok := s.unreleased[name]; ok && string(o) == string(owner) {
		delete(s.unreleased, name)
	}
	s.mu.Unlock()
	return nil
}
