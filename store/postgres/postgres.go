package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

func init() {
	store.Register("postgres", openURL)
	store.Register("postgresql", openURL)
}

// openURL opens the store a "postgres:" URL names; store.Open calls it.
func openURL(ctx context.Context, u *url.URL) (store.Store, error) {
	s, err := Open(ctx, u.String())
	if err != nil {
		// Not s: a nil *Store in a store.Store is not a nil store.Store.
		return nil, err
	}
	return s, nil
}

// Session settings that [Open] gives the pool's connections unless the URL
// sets them. A statement waiting for a lock longer than DefaultLockTimeout
// fails instead of queueing behind a stuck transaction, and a session left
// idle inside a transaction for DefaultIdleInTransactionTimeout (a client
// that hung half-way) is ended by the server, releasing its locks.
// Override either as a URL query parameter, in PostgreSQL's units:
// postgres://…?lock_timeout=30s&idle_in_transaction_session_timeout=5min
// ("0" disables).
const (
	DefaultLockTimeout              = "10s"
	DefaultIdleInTransactionTimeout = "1min"
	// DefaultApplicationName names the store's sessions in
	// pg_stat_activity unless the URL's application_name does.
	DefaultApplicationName = "annals"
	// DefaultJIT is PostgreSQL's jit setting for the store's sessions
	// unless the URL's jit sets it. The store's queries are short; the
	// planner's estimates for a page of the log read through its ranges
	// (see docs/global-log.md), filtered by type, pass the cost above
	// which PostgreSQL compiles a query, which then takes tens of
	// milliseconds to read a page that takes one.
	DefaultJIT = "off"
)

// DefaultMinPoolConns is the smallest pool [Open] makes when the URL does
// not set pool_max_conns: the pool has max(DefaultMinPoolConns, CPUs)
// connections, where pgx alone would have max(4, CPUs). A command waits
// on the server's disk for its commit (a flush of the write-ahead log)
// far longer than it works, and PostgreSQL flushes the commits that wait
// at once together: the more commands wait at the same time, the more
// each flush carries, so a pool sized for the CPUs leaves the disk's
// throughput unused as soon as more goroutines write than it has
// connections. docs/benchmarks.md has the measurements. Each connection
// is a server process and counts against the server's max_connections
// (100 by default): set pool_max_conns in the URL to choose the size,
// for instance when many processes share one server.
const DefaultMinPoolConns = 16

const (
	poolMaxConnsParam             = "pool_max_conns"
	lockTimeoutParam              = "lock_timeout"
	idleInTransactionTimeoutParam = "idle_in_transaction_session_timeout"
	applicationNameParam          = "application_name"
	jitParam                      = "jit"
	searchPathParam               = "search_path"
	schemaParam, prefixParam      = "schema", "prefix"
)

// Store is an event store in PostgreSQL. It is safe for concurrent use.
// Create it with [Open] or [New].
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool
	n       names
	sql     statements
	recheck time.Duration // see defaultRecheck
	batch   int64         // see sequenceBatch
	horizon check.Horizon // how far the log is known to reach

	untimedSteps atomic.Bool // see step

	leaseCheck time.Duration // see defaultLeaseCheck

	dcbSQL  sync.Map  // the SQL of conditional appends by the shape of their query; see dcb.go
	lockSQL *lockSQLs // the lock statements of conditional appends; see dcb.go

	closing context.Context    // done once Close is called: ends every Wait
	close   context.CancelFunc // of closing
}

var (
	_ store.Store           = (*Store)(nil)
	_ store.EventFinder     = (*Store)(nil)
	_ store.FaultClassifier = (*Store)(nil)
)

// Option configures a store opened with [Open] or [New].
type Option func(*config)

type config struct {
	schema, prefix       string
	schemaSet, prefixSet bool
}

// WithSchema keeps the store's tables in the named schema (default
// "public"), created if missing. It overrides the URL's schema parameter.
func WithSchema(name string) Option {
	return func(c *config) { c.schema, c.schemaSet = name, true }
}

// WithPrefix starts the names of the store's tables with prefix (default
// "annals_"); it may be empty. It overrides the URL's prefix parameter.
func WithPrefix(prefix string) Option {
	return func(c *config) { c.prefix, c.prefixSet = prefix, true }
}

// Open connects to the PostgreSQL database a URL names, creates or
// upgrades the store's tables, and returns the store, which owns its
// connection pool. The URL is pgx's (postgres://user:pass@host:port/db?…,
// pool settings such as pool_max_conns included) plus two parameters of
// the store's, removed before pgx sees the URL:
//
//   - schema: the schema of the store's tables (default "public");
//   - prefix: the start of their names (default "annals_").
//
// Open sets lock_timeout, idle_in_transaction_session_timeout,
// application_name and jit on the pool's connections unless the URL sets
// them;
// see [DefaultLockTimeout]. With a schema other than "public", it also
// sets search_path to that schema alone, unless the URL sets search_path
// (as a parameter or in options): so the tables a SQL read model's
// handler names without a schema are the store's schema's, and two
// stores in one database with other schemas share no read model either;
// a table missing there is an error, never another schema's table. Set
// search_path in the URL to reach more (search_path=events,public for
// functions an extension installed in public); the URL's setting also
// overrides a search_path set on the role or the database. The pool has max([DefaultMinPoolConns], CPUs)
// connections unless the URL sets pool_max_conns. Options override URL
// parameters. A malformed
// URL, a schema or prefix given twice in it, or a schema or prefix
// PostgreSQL would truncate, fails with [store.ErrInvalid]; a server that
// cannot be reached, with an error that matches [store.ErrUnavailable];
// a database that does not exist, with [store.ErrNotFound]; a role or
// password the server refuses, with its own error, which is not
// [store.ErrUnavailable]: trying again would get the same answer.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	connURL, c, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(&c)
	}
	n, err := newNames(c.schema, c.prefix)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %v: %w", err, store.ErrInvalid)
	}
	if !poolSizeSet(connURL) {
		cfg.MaxConns = int32(max(DefaultMinPoolConns, runtime.NumCPU()))
	}
	params := cfg.ConnConfig.RuntimeParams
	for k, v := range map[string]string{
		lockTimeoutParam:              DefaultLockTimeout,
		idleInTransactionTimeoutParam: DefaultIdleInTransactionTimeout,
		applicationNameParam:          DefaultApplicationName,
		jitParam:                      DefaultJIT,
	} {
		if !setsParam(params, k) {
			params[k] = v
		}
	}
	if c.schema != DefaultSchema && !setsParam(params, searchPathParam) {
		params[searchPathParam] = pgx.Identifier{c.schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	s, err := newStore(ctx, pool, true, n)
	if err != nil {
		pool.Close()
		return nil, unknownParam(err)
	}
	return s, nil
}

// unknownParam explains err when the server refused a run-time parameter
// of the URL that it does not know: pgx sends every URL parameter that is
// neither its own nor the store's to the server as a setting, so a
// misspelt one fails the first connection, and the server's message does
// not say where the name came from.
func unknownParam(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42704" || !strings.HasPrefix(pgErr.Message, "unrecognized configuration parameter") {
		return err
	}
	return fmt.Errorf("postgres store: the server knows no setting of that name (%s): a URL parameter that is neither pgx's (pool_max_conns, sslmode…) nor the store's (schema, prefix) is sent to the server as a setting; check the URL's parameters: %w (%w)", pgErr.Message, store.ErrInvalid, err)
}

// New returns a store on an existing pool, creating or upgrading its
// tables. The pool stays the caller's: [Store.Close] does not close it,
// and the session settings are the pool's own (see [DefaultLockTimeout]
// for the ones Open sets). Its connections must run in READ COMMITTED,
// PostgreSQL's default.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("postgres store: nil pool: %w", store.ErrInvalid)
	}
	c := config{schema: DefaultSchema, prefix: DefaultPrefix}
	for _, o := range opts {
		o(&c)
	}
	n, err := newNames(c.schema, c.prefix)
	if err != nil {
		return nil, err
	}
	return newStore(ctx, pool, false, n)
}

func newStore(ctx context.Context, pool *pgxpool.Pool, own bool, n names) (*Store, error) {
	if err := migrate(ctx, pool, n); err != nil {
		return nil, connectErr(err)
	}
	closing, closeStore := context.WithCancel(context.Background())
	return &Store{pool: pool, ownPool: own, n: n, sql: newStatements(n), recheck: defaultRecheck, batch: sequenceBatch, leaseCheck: defaultLeaseCheck,
		lockSQL: newLockSQLs(), closing: closing, close: closeStore}, nil
}

// poolSizeSet reports whether a URL that parseURL accepted sets the
// pool's size.
func poolSizeSet(connURL string) bool {
	u, err := url.Parse(connURL)
	return err == nil && u.Query().Has(poolMaxConnsParam)
}

// parseURL splits the store's parameters off a postgres:// URL.
func parseURL(rawURL string) (string, config, error) {
	c := config{schema: DefaultSchema, prefix: DefaultPrefix}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The URL is left out of the message: it may hold a password.
		return "", c, fmt.Errorf("postgres store: want a URL postgres://user@host/database?schema=…&prefix=…: %w", store.ErrInvalid)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", c, fmt.Errorf("postgres store: malformed URL query: %v: %w", err, store.ErrInvalid)
	}
	// The store's own parameters, each given once: of two, PostgreSQL's
	// URLs would keep the last, but a repeated schema is more likely a
	// mistake than a choice, and picking one could open another store.
	for _, p := range []struct {
		name string
		into *string
	}{{schemaParam, &c.schema}, {prefixParam, &c.prefix}} {
		switch v := q[p.name]; len(v) {
		case 0:
		case 1:
			*p.into = v[0]
			q.Del(p.name)
		default:
			return "", c, fmt.Errorf("postgres store: URL parameter %q is given %d times; give it once: %w", p.name, len(v), store.ErrInvalid)
		}
	}
	u.RawQuery = q.Encode()
	if u.Host == "" && u.User == nil && u.Path == "" {
		// postgres:// (the server's defaults): a URL with no authority
		// and no path would be written back as postgres:, which pgx
		// does not read as a URL.
		u.Path = "/"
	}
	return u.String(), c, nil
}

// Close ends every Wait in progress, which then fails with an error
// matching [store.ErrClosed], and closes the store's connection pool, if
// the store opened it. Every call after it, a read as much as a write,
// fails with such an error too, also on a pool that stays open, the
// caller's; so does a read that Close cut short. It does not wait for a
// Wait's context to end: a consumer that tails the log stops when its
// store is closed. Closing twice is harmless.
func (s *Store) Close() error {
	s.close()
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

// closedError is the error of a call on a closed store.
func (s *Store) closedError() error {
	return fmt.Errorf("postgres store %s: %w", s.n.schema, store.ErrClosed)
}

// refuseClosedRead returns the error of a read on a closed store, or nil
// while it is open: on a pool that Close closed, the read would fail
// with pgx's own error, which no caller knows to stop on, and on the
// caller's pool it would succeed.
func (s *Store) refuseClosedRead() error {
	if s.closing.Err() != nil {
		return s.closedError()
	}
	return nil
}

// closedRead returns the error of a read that failed with err: the
// closed-store error, which says what happened, when Close came first.
// The server's answer that no row matched is kept: it came before.
func (s *Store) closedRead(err error) error {
	if err != nil && s.closing.Err() != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w (%v)", s.closedError(), err)
	}
	return err
}

// refuseClosed returns the error of a write on a closed store, or nil
// while it is open: once closed, a write fails with store.ErrClosed
// rather than with the pool's own error, and nothing is stored.
func (s *Store) refuseClosed() error {
	if s.closing.Err() != nil {
		return fmt.Errorf("%w; nothing was stored", s.closedError())
	}
	return nil
}

// Pool returns the store's connection pool, for code that shares the
// store's database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// connectionLost reports an error that means the server connection is
// gone: terminated by the server (pg_terminate_backend, a restart) or
// broken on the way. The statement that met it did not complete.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "57P0") || strings.HasPrefix(pgErr.Code, "08")
	}
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &netErr) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

// Unavailable reports whether err, an error of one of the store's calls,
// says that the server could not be reached or could not take the call:
// a connection that could not be opened or broke on the way, a server
// shutting down or starting (57P0x), a connection exception (08xxx), a
// server out of resources such as connections or disk (53xxx). A call
// that meets one may succeed when tried again later; see
// [store.ErrUnavailable]. The end of the caller's context is not one.
func (s *Store) Unavailable(err error) bool { return unavailable(err) }

func unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server answered, at connect time too: only a server out of
		// resources, shutting down or starting, or a connection
		// exception, is passing. A database, role, privilege or setting
		// it refuses gets the same answer again.
		return strings.HasPrefix(pgErr.Code, "53") || connectionLost(err)
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	return connectionLost(err)
}

// connectErr tells what a failure to reach the store means to its
// caller. A server that could not be reached matches
// [store.ErrUnavailable]: a serverless function that starts while its
// database restarts tells its caller to come back, not that its store is
// broken. A database that does not exist is [store.ErrNotFound], and a
// role the server refuses says what to check.
func connectErr(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case unavailable(err):
		return store.Unavailable(err)
	case errors.As(err, &pgErr) && pgErr.Code == missingDatabase:
		return fmt.Errorf("%w; the store creates its schema and tables but not the database: create it (CREATE DATABASE), or check the URL's database name: %w", err, store.ErrNotFound)
	case refusedLogin(err):
		return fmt.Errorf("%w; the server refused the URL's user, password or host: check them and the server's pg_hba.conf", err)
	case errors.As(err, &pgErr) && pgErr.Code == noPrivilege:
		return fmt.Errorf("%w; the role may not connect to the database: GRANT CONNECT ON DATABASE to it, or check the URL's user and database", err)
	}
	return err
}

// noPrivilege is the SQLSTATE of a role refused what it asked for, such
// as connecting to a database on which it lacks CONNECT.
const noPrivilege = "42501"

// refusedLogin reports whether err is the server's refusal of the
// connection's role: a role that does not exist, a wrong password or a
// connection that pg_hba.conf rejects (class 28), or its database, which
// does not exist (3D000).
func refusedLogin(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == missingDatabase || strings.HasPrefix(pgErr.Code, "28"))
}

// missingDatabase is the SQLSTATE of a connection to a database that
// does not exist.
const missingDatabase = "3D000"

// dropDeadConnections drops the pool's connections after one of them was found dead:
// when the server closed its connections, the idle ones are dead too, and
// each would fail one more call. A pool the caller gave is left alone.
//
// A connection cut because ctx ended (a deadline, a cancellation: pgx
// closes a connection whose request it abandons) says nothing of the
// others: only it is dropped, as the pool drops any closed connection
// given back. Resetting the pool then would close every connection the
// other callers are using, and under load with short deadlines each would
// be opened and its statements prepared again.
func (s *Store) dropDeadConnections(ctx context.Context, err error) {
	if !s.ownPool || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return
	}
	if connectionLost(err) {
		s.pool.Reset()
	}
}

// retry runs an idempotent read, and runs it once more if the first try
// met a connection the server had closed. On a closed store it does not
// run it, and a read that Close cut short fails as if it had not run:
// either way with an error matching store.ErrClosed.
func (s *Store) retry(ctx context.Context, read func() error) error {
	if err := s.refuseClosedRead(); err != nil {
		return err
	}
	err := read()
	if err != nil && connectionLost(err) && ctx.Err() == nil && s.closing.Err() == nil {
		s.dropDeadConnections(ctx, err)
		err = read()
	}
	return s.closedRead(err)
}

// setsParam reports whether the URL's runtime parameters set the
// PostgreSQL setting name (in snake case), as a parameter of its own or
// in the parameter "options" (-c name=value or --name=value): the server
// reads a setting's name in any case, and with hyphens for underscores,
// and a second setting the store added would take the URL's place on
// some connections and not on others.
func setsParam(params map[string]string, name string) bool {
	if lo.ContainsBy(lo.Keys(params), func(k string) bool { return strings.EqualFold(k, name) }) {
		return true
	}
	o := strings.ToLower(params["options"])
	return strings.Contains(o, name) || strings.Contains(o, strings.ReplaceAll(name, "_", "-"))
}
