package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

var _ store.Locker = (*Store)(nil)

// defaultLeaseCheck is how long a lease's watcher waits on its connection
// before it pings the server. A connection the server closes (it was
// terminated, the server stopped) is noticed at once; the ping is for a
// connection that died silently, such as behind a network partition.
const defaultLeaseCheck = 5 * time.Second

// leaseTimeout bounds the statements that end a lease: the unlock, the
// cancel request of a Lock given up, and closing the connection.
const leaseTimeout = 5 * time.Second

// leaseKey is the advisory lock key of the lease name in this store: a
// 64-bit hash of the schema, the prefix and the name, split into the two
// 32-bit keys of pg_advisory_lock(int, int). That form has a key space of
// its own in PostgreSQL, apart from the single bigint keys that the
// sequencer, the waiters and the migrations use (and that most
// applications use), so
// only another two-key lock with the same 64 bits could collide with it.
func (n names) leaseKey(name string) (int32, int32) {
	h := hash64("lease\x00" + n.schema + "\x00" + n.prefix + "\x00" + name)
	return int32(h >> 32), int32(h)
}

// Lock implements [store.Locker] with a session-level advisory lock, held
// by a connection of the lease's own for as long as the lease lasts. See
// the package documentation for why the connection is not the pool's,
// and what happens when it breaks.
//
// The lease runs one goroutine, which watches its connection and closes
// Lost when it breaks; Release stops it. Release every lease, also one
// that was lost, and before the store is closed.
func (s *Store) Lock(ctx context.Context, name string) (store.Lease, error) {
	if err := s.refuseClosed(); err != nil {
		return nil, err
	}
	if err := check.Consumer(name); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k1, k2 := s.n.leaseKey(name)
	conn, err := s.leaseConn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("lock %q: connect: %w", name, err)
	}
	if _, err := conn.Exec(ctx, s.sql.lock, k1, k2); err != nil {
		// Ask the server to stop waiting for the lock now, rather than
		// when its session next notices that the connection is gone,
		// then end the session, which drops the lock if it was granted.
		end, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseTimeout)
		defer cancel()
		_ = conn.PgConn().CancelRequest(end)
		_ = conn.Close(end)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("lock %q: %w", name, err)
	}
	watch, stop := context.WithCancel(context.Background())
	l := &lease{
		name: name, conn: conn, k1: k1, k2: k2, unlock: s.sql.unlock, check: s.leaseCheck,
		lost: make(chan struct{}), stop: stop, done: make(chan struct{}),
	}
	go l.watch(watch)
	return l, nil
}

// leaseConn opens a connection for a lease with the pool's settings and
// hooks, but with no lock_timeout or statement_timeout (a lease waits as
// long as its caller wants, and is held for as long) and no idle session
// timeout (a held lease's session is idle).
func (s *Store) leaseConn(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config() // a copy
	cc := cfg.ConnConfig
	cc.RuntimeParams[lockTimeoutParam] = "0"
	cc.RuntimeParams["statement_timeout"] = "0"
	if _, set := cc.RuntimeParams["idle_session_timeout"]; set {
		cc.RuntimeParams["idle_session_timeout"] = "0"
	}
	if cfg.BeforeConnect != nil {
		if err := cfg.BeforeConnect(ctx, cc); err != nil {
			return nil, err
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	if cfg.AfterConnect != nil {
		if err := cfg.AfterConnect(ctx, conn); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return conn, nil
}

// lease is a held advisory lock and the connection that holds it.
type lease struct {
	name   string
	conn   *pgx.Conn
	k1, k2 int32
	unlock string
	check  time.Duration

	lost chan struct{}      // closed by watch when the connection broke
	stop context.CancelFunc // stops watch
	done chan struct{}      // closed when watch has returned

	once sync.Once
	err  error
}

// watch blocks reading the lease's connection, which is otherwise idle:
// the read fails as soon as the server closes the session, and then the
// lease is lost. Every check interval without news it pings the server,
// to find a connection that died without a word. It owns the connection
// until it returns.
func (l *lease) watch(ctx context.Context) {
	defer close(l.done)
	for {
		wait, cancel := context.WithTimeout(ctx, l.check)
		err := l.conn.PgConn().WaitForNotification(wait)
		timedOut := wait.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return // released
		}
		if err == nil {
			continue // a notification, though the session listens to none
		}
		if timedOut {
			ping, cancel := context.WithTimeout(ctx, l.check)
			err = l.conn.Ping(ping)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				continue
			}
		}
		close(l.lost)
		end, cancel := context.WithTimeout(context.Background(), leaseTimeout)
		_ = l.conn.Close(end)
		cancel()
		return
	}
}

// Lost implements [store.Lease]: it is closed when the connection that
// holds the lock broke, and with it the session and the lock.
func (l *lease) Lost() <-chan struct{} { return l.lost }

// Release implements [store.Lease]: it stops the watcher, unlocks, and
// closes the lease's connection. Closing alone would release the lock
// too, as the session ends; unlocking first makes the release visible to
// a waiting Lock before the connection is torn down. Releasing a lost
// lease does nothing. Release may be called more than once.
func (l *lease) Release() error {
	l.once.Do(func() {
		l.stop()
		<-l.done
		select {
		case <-l.lost:
			return // the session, and the lock with it, are gone
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), leaseTimeout)
		defer cancel()
		var unlocked bool
		err := l.conn.QueryRow(ctx, l.unlock, l.k1, l.k2).Scan(&unlocked)
		if err == nil && !unlocked {
			err = fmt.Errorf("the session did not hold the lock")
		}
		if cerr := l.conn.Close(ctx); err == nil {
			err = cerr
		}
		if err != nil {
			l.err = fmt.Errorf("release lease %q: %w", l.name, err)
		}
	})
	return l.err
}
