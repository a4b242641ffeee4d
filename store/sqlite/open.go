package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/annals-dev/annals/store"
)

func init() {
	store.Register("sqlite", openURL)
}

// Memory is the path that opens a private in-memory database, as
// "sqlite::memory:" does in a URL. It lives as long as the [Store].
const Memory = ":memory:"

// Defaults of the options.
const (
	DefaultBusyTimeout   = 5 * time.Second
	DefaultPollInterval  = 250 * time.Millisecond
	DefaultLeaseDuration = 15 * time.Second
	// MinPollInterval is the shortest poll interval accepted: anything
	// shorter would spin a core on an idle database.
	MinPollInterval = 10 * time.Millisecond
	// MaxCheckpointPages is the most pages [WithCheckpointPages] takes:
	// the log file is written to that size when the store opens, 400 MB
	// with pages of 4 KiB.
	MaxCheckpointPages = 100_000
	// MinLeaseDuration is the shortest lease duration accepted: a lease
	// is renewed three times per duration, and renewing more often would
	// keep the write lock busy.
	MinLeaseDuration = 100 * time.Millisecond
)

// Synchronous is SQLite's synchronous setting: how often the database
// file is flushed to stable storage.
type Synchronous string

const (
	// SyncFull flushes the write-ahead log on every commit: an append that
	// returned survives a power failure. It is the default.
	SyncFull Synchronous = "full"
	// SyncNormal flushes only at checkpoints. An append that returned
	// survives the crash of the program, but the last appends before a
	// power failure or an operating-system crash can be lost (never torn:
	// each batch is still whole or absent). Faster on slow disks.
	SyncNormal Synchronous = "normal"
)

// Option configures [Open].
type Option func(*config) error

type config struct {
	busyTimeout   time.Duration
	pollInterval  time.Duration
	synchronous   Synchronous
	leaseDuration time.Duration
	noCreate      bool
	// checkpointPages is WithCheckpointPages's n; 0 leaves checkpoints
	// to SQLite.
	checkpointPages int
}

func defaultConfig() config {
	return config{busyTimeout: DefaultBusyTimeout, pollInterval: DefaultPollInterval, synchronous: SyncFull, leaseDuration: DefaultLeaseDuration}
}

// WithCreate sets whether [Open] creates the database file and the
// store's tables when they do not exist; it does by default. With false,
// a path that names no file, or a file that holds no store, fails with
// an error matching [store.ErrNotFound] and nothing is created, so a
// mistyped path in a tool that only inspects a store is an error rather
// than a new, empty store. The tables of a store made by an older
// version are still brought up to date, as any Open does. An in-memory
// database is always new, so it refuses false.
func WithCreate(create bool) Option {
	return func(c *config) error {
		c.noCreate = !create
		return nil
	}
}

// WithBusyTimeout sets how long a write waits for another process that
// holds the database's write lock before it fails (SQLite's busy_timeout).
// In-process writers queue in Go and do not count against it. The default
// is [DefaultBusyTimeout]; it must be at least 1ms.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("busy timeout %v: must be at least 1ms: %w", d, store.ErrInvalid)
		}
		c.busyTimeout = d
		return nil
	}
}

// WithPollInterval sets how often [Store.Wait] looks for events appended
// by other processes sharing the file. Appends through the same Store
// wake waiters at once, without polling. The default is
// [DefaultPollInterval]; it must be at least [MinPollInterval].
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < MinPollInterval {
			return fmt.Errorf("poll interval %v: must be at least %v: %w", d, MinPollInterval, store.ErrInvalid)
		}
		c.pollInterval = d
		return nil
	}
}

// WithLeaseDuration sets how long a lease (see [Store.Lock]) lasts
// unless renewed. The holder renews it three times per duration; when a
// process dies, another takes the lease over once the duration has passed
// since the last renewal. Shorter means faster takeover, longer means
// more tolerance of a holder stalled by a slow disk or a paused machine.
// A renewal is a write, and waits its turn behind the writes of other
// processes and goroutines: under heavy writing, a duration of a second
// or two can lapse before a renewal lands, and the holder loses the lease
// (its consumer is retried, and checkpoints keep its work exact, but
// another process may take it over). Keep it several times the longest
// wait of a write.
// The default is [DefaultLeaseDuration]; it must be at least
// [MinLeaseDuration].
func WithLeaseDuration(d time.Duration) Option {
	return func(c *config) error {
		if d < MinLeaseDuration {
			return fmt.Errorf("lease duration %v: must be at least %v: %w", d, MinLeaseDuration, store.ErrInvalid)
		}
		c.leaseDuration = d
		return nil
	}
}

// WithSynchronous sets how often the database is flushed to stable
// storage; see [SyncFull] (the default) and [SyncNormal].
func WithSynchronous(s Synchronous) Option {
	return func(c *config) error {
		switch Synchronous(strings.ToLower(string(s))) {
		case SyncFull:
			c.synchronous = SyncFull
		case SyncNormal:
			c.synchronous = SyncNormal
		default:
			return fmt.Errorf("synchronous %.64q: want %q or %q: %w", s, SyncFull, SyncNormal, store.ErrInvalid)
		}
		return nil
	}
}

// WithCheckpointPages moves the copying of the write-ahead log into the
// database file (SQLite's checkpoint) off the commit path, and has it
// done every n pages of log instead of SQLite's 1,000. By default (n = 0)
// SQLite checkpoints on the commit that takes the log past 1,000 pages,
// before that commit returns, so that every few hundred appends one waits
// for the copy and a flush of the database file, and under many
// concurrent writers so do the appends queued behind it.
//
// With n > 0 a connection of the store's own copies the log in the
// background once the writer has written n pages since the last copy,
// while appends go on; the writer then copies what was committed
// meanwhile, between two groups of appends, so that the log can start
// again from its beginning. Open writes the log file to about n pages
// (4 KiB each) if it is smaller, since commits that extend the file are
// slower to flush than commits that write over it, and the file stays
// that size while the store is open. Under many concurrent writers this
// lowers the 99th percentile of an append's latency, at the cost of a
// larger log file and a slower Open: see the package documentation,
// "Checkpoints", and docs/benchmarks.md. 10000 is a good value to try.
// n must be from 0 to [MaxCheckpointPages]; an in-memory database has
// no log and ignores it. Every process that opens the file should use
// the same n.
func WithCheckpointPages(n int) Option {
	return func(c *config) error {
		if n < 0 || n > MaxCheckpointPages {
			return fmt.Errorf("checkpoint pages %d: must be 0 (SQLite's own checkpoints) to %d: %w", n, MaxCheckpointPages, store.ErrInvalid)
		}
		c.checkpointPages = n
		return nil
	}
}

// queryParam is a URL query parameter and the option it sets.
type queryParam struct {
	name  string
	parse func(string) (Option, error)
}

// queryParams are the URL query parameters, in the order the error for an
// unknown parameter lists them.
var queryParams = []queryParam{
	{"busy_timeout", durationParam(WithBusyTimeout)},
	{"checkpoint_pages", func(v string) (Option, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%.64q is not a whole number of pages such as 10000", v)
		}
		return WithCheckpointPages(n), nil
	}},
	{"lease_duration", durationParam(WithLeaseDuration)},
	{"poll_interval", durationParam(WithPollInterval)},
	{"synchronous", func(v string) (Option, error) { return WithSynchronous(Synchronous(v)), nil }},
	{"create", func(v string) (Option, error) {
		create, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%.64q is not true or false", v)
		}
		return WithCreate(create), nil
	}},
}

func durationParam(opt func(time.Duration) Option) func(string) (Option, error) {
	return func(v string) (Option, error) {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%.64q is not a duration such as 5s or 250ms", v)
		}
		return opt(d), nil
	}
}

// openURL opens the store a "sqlite:" URL names; store.Open calls it.
func openURL(ctx context.Context, u *url.URL) (store.Store, error) {
	path, opts, err := parseURL(u)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	s, err := Open(ctx, path, opts...)
	if err != nil {
		// Not s: a nil *Store in a store.Store is not a nil store.Store.
		return nil, err
	}
	return s, nil
}

const urlForms = "sqlite::memory: or sqlite:///absolute/path/app.db"

// parseURL returns the database path and the options of a "sqlite:" URL.
// It never puts the whole URL in an error: a URL can hold secrets.
func parseURL(u *url.URL) (string, []Option, error) {
	var path string
	switch {
	case u.User != nil:
		return "", nil, fmt.Errorf("sqlite URL holds a user name; a file database has none: write %s: %w", urlForms, store.ErrInvalid)
	case u.Fragment != "":
		return "", nil, fmt.Errorf("sqlite URL has a #fragment; write %s, with a # in the path written %%23 ((&url.URL{Scheme: \"sqlite\", Path: path}).String() writes a path so): %w", urlForms, store.ErrInvalid)
	case u.Opaque == Memory:
		path = Memory
	case u.Opaque != "":
		return "", nil, fmt.Errorf("sqlite URL path %q is relative; put an absolute path after three slashes, as in sqlite:///absolute/path/app.db (or use sqlite::memory:): %w", u.Opaque, store.ErrInvalid)
	case u.Host == "~" || u.Host == "." || u.Host == "..":
		return "", nil, fmt.Errorf("sqlite URL names host %q, but a file database has no host, and its path must be absolute: nothing expands %s; the path follows three slashes, as in sqlite:///path/to%s (see filepath.Abs, os.UserHomeDir): %w",
			u.Host, u.Host, u.Path, store.ErrInvalid)
	case u.Host != "":
		return "", nil, fmt.Errorf("sqlite URL names host %q, but a file database has no host, and its path must be absolute: the path follows three slashes, as in sqlite:///path/to/%s%s for %s%s in a directory of yours (see filepath.Abs), or sqlite:///%s%s for a file at the root: %w",
			u.Host, u.Host, u.Path, u.Host, u.Path, u.Host, u.Path, store.ErrInvalid)
	case u.Path == "":
		return "", nil, fmt.Errorf("sqlite URL has no database path; write %s: %w", urlForms, store.ErrInvalid)
	default:
		// sqlite:/// followed by an absolute path gives the path a second
		// leading slash, the same file, which the store's errors would
		// then print: one is kept.
		path = "/" + strings.TrimLeft(u.Path, "/")
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("sqlite URL query: %v: %w", err, store.ErrInvalid)
	}
	var opts []Option
	// Sorted, so that the first bad parameter reported is the same every time.
	for _, key := range slices.Sorted(maps.Keys(q)) {
		i := slices.IndexFunc(queryParams, func(p queryParam) bool { return p.name == key })
		if i < 0 {
			names := make([]string, len(queryParams))
			for j, p := range queryParams {
				names[j] = p.name
			}
			return "", nil, fmt.Errorf("sqlite URL parameter %q is not known; the parameters are %s, as in sqlite:///path/app.db?busy_timeout=10s: %w",
				key, strings.Join(names, ", "), store.ErrInvalid)
		}
		if vals := q[key]; len(vals) != 1 {
			return "", nil, fmt.Errorf("sqlite URL parameter %q is given %d times; give it once: %w", key, len(vals), store.ErrInvalid)
		}
		opt, err := queryParams[i].parse(q.Get(key))
		if err != nil {
			return "", nil, fmt.Errorf("sqlite URL parameter %s: %v: %w", key, err, store.ErrInvalid)
		}
		opts = append(opts, opt)
	}
	return path, opts, nil
}

// checkPath refuses a database path that SQLite would misread or that
// depends on the working directory.
func checkPath(path string) error {
	switch {
	case path == Memory:
		return nil
	case path == "":
		return fmt.Errorf("sqlite database path is empty; pass an absolute file path or %q: %w", Memory, store.ErrInvalid)
	case !filepath.IsAbs(path):
		return fmt.Errorf("sqlite database path %q is relative; pass an absolute path (see filepath.Abs), or in a URL write sqlite:///absolute/path.db: %w", path, store.ErrInvalid)
	case strings.ContainsAny(path, "?\x00"):
		return fmt.Errorf("sqlite database path %q contains '?' or a NUL byte, which SQLite would cut the name at; rename the file: %w", path, store.ErrInvalid)
	case strings.HasSuffix(path, "/"):
		return fmt.Errorf("sqlite database path %q names a directory; add a file name such as app.db: %w", path, store.ErrInvalid)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlite database directory %s does not exist; create it first: %w", dir, store.ErrInvalid)
		}
		return fmt.Errorf("sqlite database directory %s: %w", dir, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("sqlite database path %q: %s is not a directory: %w", path, dir, store.ErrInvalid)
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("sqlite database path %q is a directory; add a file name such as app.db: %w", path, store.ErrInvalid)
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("sqlite database path %q is not a regular file (a device, a pipe or a socket), which cannot hold a database and its write-ahead log; pass the path of a file: %w", path, store.ErrInvalid)
	case err != nil && len(filepath.Base(path)) > maxFileName:
		return fmt.Errorf("sqlite database file name %.32q… is %d bytes, more than file systems take (%d); pass a shorter name: %w", filepath.Base(path), len(filepath.Base(path)), maxFileName, store.ErrInvalid)
	}
	return nil
}

// maxFileName is the longest name of a database file, in bytes: most
// file systems take names of 255 bytes, and SQLite adds "-journal" (and
// "-wal" and "-shm") to it for the files beside the database.
const maxFileName = 255 - len("-journal")

// checkExists refuses, when the options forbid creating a store, a path
// that names no file or a file that holds no store. It looks with a
// query-only connection of its own, which creates nothing.
func (c config) checkExists(ctx context.Context, path string) error {
	if !c.noCreate {
		return nil
	}
	if path == Memory {
		return fmt.Errorf("create=false: an in-memory database is always created new: %w", store.ErrInvalid)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sqlite database %s does not exist, and create=false forbids creating it; check the path: %w", path, store.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("sqlite database %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", c.dsn(path, false))
	if err != nil {
		return err
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'annals_schema_migrations'`).Scan(&tables); err != nil {
		return fmt.Errorf("sqlite database %s: %w", path, explainUnreadable(err, path))
	}
	if tables == 0 {
		return fmt.Errorf("sqlite database %s holds no annals store, and create=false forbids creating one; check the path: %w", path, store.ErrNotFound)
	}
	return nil
}

// dsn returns the modernc.org/sqlite data source name of a connection.
// Writers begin their transactions with BEGIN IMMEDIATE and overwrite
// deleted content with zeros (secure_delete), so that a deleted subject
// key does not linger in free space; readers are query-only, so that no
// read can ever take the write lock by mistake.
func (c config) dsn(path string, writer bool) string {
	v := url.Values{}
	v.Set("_busy_timeout", fmt.Sprint(c.busyTimeout.Milliseconds()))
	v.Set("_foreign_keys", "1")
	if path != Memory {
		v.Set("_synchronous", strings.ToUpper(string(c.synchronous)))
		if writer {
			v.Set("_journal_mode", "WAL")
		}
	}
	if writer {
		v.Set("_txlock", "immediate")
		v.Add("_pragma", "secure_delete=ON")
		if c.checkpointPages > 0 && path != Memory {
			// The store checkpoints the log itself: see checkpointer.
			v.Add("_pragma", "wal_autocheckpoint=0")
		}
	} else {
		v.Set("_query_only", "1")
	}
	return path + "?" + v.Encode()
}
