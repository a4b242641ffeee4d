package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Store is an event store in one SQLite database file. It is safe for
// concurrent use, and several processes may open the same file.
type Store struct {
	path string
	cfg  config

	// w has one connection, on which every write happens: in-process
	// writers queue for it in database/sql rather than in SQLite's busy
	// handler, which sleeps. r is the pool of query-only readers; for an
	// in-memory database, which lives in one connection, r is w.
	w, r *sql.DB

	// Statements prepared on w.
	streamVersion, setCheckpoint                        *sql.Stmt
	saveSnapshot, createKey, deleteKeyRow               *sql.Stmt
	copyKeys, clearKeys, restoreKeys, clearScratch      *sql.Stmt
	txCheckpoint, putCheckpoint, saveState, deleteState *sql.Stmt
	deleteStates, takeLease, renewLease, releaseLease   *sql.Stmt
	savepoint, release, rollbackTo                      *sql.Stmt // of the group commit
	readStreamW                                         *sql.Stmt // readStream, for a borrowed writer; see readPage
	inserts                                             insertCache
	dcb                                                 dcbStatements // see dcb.go
	group                                               groupCommitter
	ckpt                                                *checkpointer // nil unless WithCheckpointPages
	// Statements prepared on r.
	readStream, readLog, readLogTypes, head, checkpoint                 *sql.Stmt
	findEvent                                                           *sql.Stmt
	latestSnapshot, subjectKey, loadState, loadStates, checkpointAndGen *sql.Stmt
	// The groups of the statements above, prepared on first use (see
	// stmts.go).
	appendStmts, logStmts, leaseStmts stmtGroup
	consumerReads, consumerWrites     stmtGroup
	snapshotReads, snapshotWrites     stmtGroup
	keyReads, keyWrites               stmtGroup
	// stmts holds every prepared statement, to close them; stmtsClosed
	// says that they are closed.
	stmtsMu     sync.Mutex
	stmts       []*sql.Stmt
	stmtsClosed bool

	mu      sync.Mutex
	changed chan struct{} // made by a waiter, closed by the next append
	freed   chan struct{} // made by a Lock that waits, closed by the next Release
	// unreleased holds, by lease name, the owner token of each lease of
	// this Store that was released but whose row could not be deleted
	// (a full disk): Lock deletes it before taking the lease again,
	// rather than wait for it to expire.
	unreleased map[string][]byte
	closed     atomic.Bool
	done       chan struct{} // closed by Close
}

var (
	_ store.Store           = (*Store)(nil)
	_ snapshot.Store        = (*Store)(nil)
	_ store.KeyStore        = (*Store)(nil)
	_ store.StateBatchStore = (*Store)(nil)
	_ store.Locker          = (*Store)(nil)
	_ store.DCB             = (*Store)(nil)
	_ store.EventFinder     = (*Store)(nil)
	_ store.FaultClassifier = (*Store)(nil)
)

// Open opens the event store in the SQLite database at path, an absolute
// file name, creating the file and the schema when they do not exist; the
// directory must exist. The path [Memory] opens a private in-memory
// database instead, which lives until Close. Invalid paths and options
// fail with [store.ErrInvalid].
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("open sqlite store: %w", err)
		}
	}
	if err := checkPath(path); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := cfg.checkExists(ctx, path); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	s := &Store{path: path, cfg: cfg, done: make(chan struct{})}
	s.group.s = s
	if err := s.open(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, explainOpen(err))
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	var err error
	if s.w, err = sql.Open("sqlite", s.cfg.dsn(s.path, true)); err != nil {
		return err
	}
	// One writer connection that is never closed for being idle: for an
	// in-memory database it is the database.
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if s.path == Memory {
		s.r = s.w
	} else {
		if s.r, err = sql.Open("sqlite", s.cfg.dsn(s.path, false)); err != nil {
			return err
		}
		n := max(4, runtime.GOMAXPROCS(0))
		s.r.SetMaxOpenConns(n)
		s.r.SetMaxIdleConns(n)
		if err := s.r.PingContext(ctx); err != nil {
			return err
		}
		if err := s.startCheckpointer(ctx); err != nil {
			return err
		}
	}
	s.inserts.db = s.w
	s.defineStatements()
	return s.prepare(ctx, &s.appendStmts)
}

// migrate brings the schema up to date. Processes that open a new file at
// once race to switch it to WAL and to create the schema, and SQLite
// reports some of those collisions as busy at once, without waiting out
// the busy timeout: migrate tries again, after a short random pause, for
// as long as the busy timeout.
func (s *Store) migrate(ctx context.Context) error {
	deadline := time.Now().Add(s.cfg.busyTimeout)
	for {
		err := migrate(ctx, s.w)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return explainUnreadable(explainBusy(err, s.cfg.busyTimeout), s.path)
		}
		select {
		case <-time.After(time.Duration(5+rand.IntN(45)) * time.Millisecond):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
}

// Columns of a record, in the order scanRecord reads them.
const recordColumns = `position, event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata, tags`

// Parameters shared by every row of an insert; then each row has its own.
const (
	sharedParams = 3 // ?1 stream_id, ?2 recorded_at, ?3 version before the first row
	rowParams    = 6 // event_id, type, schema_version, data, encoding, metadata
	// maxInsertRows caps the rows of one INSERT statement; a larger batch
	// is inserted in chunks, in the same transaction.
	maxInsertRows = 256
)

// insertCache holds the prepared multi-row INSERT statements, one per
// number of rows, made when first needed.
type insertCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[int]*sql.Stmt
}

func (c *insertCache) get(ctx context.Context, rows int) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[rows]; ok {
		return st, nil
	}
	// The shared parameters are numbered (?1, ?2, ?3); the rows' own are
	// plain ?, which SQLite numbers one above the highest number seen so
	// far, so the first row names its first parameter ?4 and the rest
	// follow on: row i holds parameters 4+6i to 9+6i. Only the shared
	// parameters are named: binding looks each name up in a list, and
	// naming every parameter would make a batch quadratic.
	//
	//
	// A single row is inserted only if the stream is at version ?3, the
	// one before it: the statement checks the expected version itself,
	// so that the append of one event runs one statement in its
	// transaction, not a query and then an insert. For more rows the
	// append reads the version first: an INSERT whose SELECT reads the
	// table it inserts into makes SQLite stage every row in a temporary
	// table, which costs more than the query once there are a few.
	// A stream expected empty (?3 = 0) must have no row at all: one
	// whose highest version is 0 or below was changed by hand, and the
	// failed insert's look at the version says so (see Store.version).
	var b strings.Builder
	b.WriteString(`INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata) `)
	if rows == 1 {
		b.WriteString(`SELECT ?4,?1,?3+1,?,?,?2,?,?,? WHERE (SELECT max(version) FROM annals_events WHERE stream_id = ?1) IS nullif(?3, 0)`)
	} else {
		b.WriteString(`VALUES `)
		for i := range rows {
			first := "?"
			if i == 0 {
				first = "?" + strconv.Itoa(sharedParams+1)
			} else {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%s,?1,?3+%d,?,?,?2,?,?,?)", first, i+1)
		}
	}
	st, err := c.db.PrepareContext(ctx, b.String())
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = map[int]*sql.Stmt{}
	}
	c.stmts[rows] = st
	return st, nil
}

func (c *insertCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

// Append implements [store.Store]. It checks the expected version and
// inserts the whole batch in a savepoint of a BEGIN IMMEDIATE
// transaction, which appends made meanwhile by other goroutines share
// (group commit, see the package documentation).
func (s *Store) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	if err := check.Append(streamID, expected, events); err != nil {
		return 0, err
	}
	if err := s.writable(ctx); err != nil {
		return 0, err
	}
	if tagged(events) {
		return s.appendTagged(ctx, streamID, expected, events, nil) // dcb.go
	}
	// The rows' own parameters are ready before the transaction starts,
	// so that the write lock is held only for the statements.
	args := make([]any, sharedParams+len(events)*rowParams)
	args[0], args[1] = streamID, time.Now().UnixNano()
	ids := make([]byte, 16*len(events))
	var meta metadataEncoder
	for i, e := range events {
		row := args[sharedParams+i*rowParams:]
		id := ids[16*i : 16*i+16 : 16*i+16]
		if e.ID == uuid.Nil {
			v7, err := uuid.NewV7()
			if err != nil {
				return 0, fmt.Errorf("append to stream %q: %w", streamID, err)
			}
			copy(id, v7[:])
		} else {
			copy(id, e.ID[:])
		}
		data := e.Data
		if data == nil {
			data = []byte{} // a nil []byte would be stored as NULL
		}
		m, err := meta.encode(e.Metadata)
		if err != nil {
			return 0, fmt.Errorf("append to stream %q: event %d metadata: %w", streamID, i, err)
		}
		row[0], row[1], row[2], row[3], row[5] = id, e.Type, int64(max(e.SchemaVersion, 1)), data, m
		if e.Encoding == "" {
			row[4] = "" // a constant: no allocation
		} else {
			row[4] = e.Encoding
		}
	}

	// The INSERT statements are prepared on the writer connection before
	// the transaction holds it.
	var first [1]*sql.Stmt
	inserts := first[:0]
	for start := 0; start < len(events); start += maxInsertRows {
		ins, err := s.inserts.get(ctx, min(len(events)-start, maxInsertRows))
		if err != nil {
			return 0, s.fail(fmt.Errorf("append to stream %q: prepare insert: %w", streamID, notStored(ctx, err)))
		}
		inserts = append(inserts, ins)
	}

	version, err := s.append(ctx, streamID, expected, inserts, args)
	if err != nil {
		if errors.As(err, new(*store.ConflictError)) {
			return 0, err // it names the stream and the versions
		}
		return 0, s.fail(fmt.Errorf("append to stream %q: %w", streamID, err))
	}
	if len(events) > 0 {
		s.notify()
	}
	return version, nil
}

// append runs the statements of Append in a group commit (see group.go):
// inserts[i] inserts the rows of chunk i of the batch, whose parameters
// are in args. The statements run under a context that never ends (see
// group.go for why); ctx only decides whether the append still joins or
// stays in its group.
func (s *Store) append(ctx context.Context, streamID string, expected int64, inserts []*sql.Stmt, args []any) (version int64, err error) {
	events := (len(args) - sharedParams) / rowParams
	ctx0 := background
	// The insert of one event checks the expected version itself (see
	// insertCache.get): it is the append's only statement that writes.
	checked := events == 1 && expected != store.AnyVersion
	err = s.group.do(ctx, streamID, expected, events, checked, func(tx *sql.Tx) error {
		// Otherwise the version is read first.
		actual := expected
		if !checked {
			var err error
			if actual, err = s.version(ctx0, tx, streamID); err != nil {
				return err
			}
			if err := check.Expected(streamID, expected, actual); err != nil {
				return err
			}
		}
		for i, ins := range inserts {
			start := i * maxInsertRows
			n := min(events-start, maxInsertRows)
			chunk := args
			if events > maxInsertRows {
				chunk = append(append(make([]any, 0, sharedParams+n*rowParams), args[:sharedParams]...),
					args[sharedParams+start*rowParams:sharedParams+(start+n)*rowParams]...)
			}
			chunk[2] = actual + int64(start)
			res, err := tx.StmtContext(ctx0, ins).ExecContext(ctx0, chunk...)
			if err != nil {
				if isUniqueEventID(err) {
					return duplicateError(ctx0, tx, args, start, n)
				}
				return fmt.Errorf("insert: %w", err)
			}
			if !checked {
				continue
			}
			if inserted, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("insert: %w", err)
			} else if inserted == 0 {
				// The stream is not at the version expected.
				if actual, err = s.version(ctx0, tx, streamID); err != nil {
					return err
				}
				return &store.ConflictError{StreamID: streamID, Expected: expected, Actual: actual}
			}
		}
		version = actual + int64(events)
		return nil
	})
	return version, err
}

// version reads the version of a stream in tx, 0 when it has no events.
// A highest version below 1 is no head an append may follow: the stream
// was changed by hand, and the error matches [store.ErrCorrupt].
func (s *Store) version(ctx context.Context, tx *sql.Tx, streamID string) (int64, error) {
	var v sql.NullInt64
	if err := tx.StmtContext(ctx, s.streamVersion).QueryRowContext(ctx, streamID).Scan(&v); err != nil {
		return 0, fmt.Errorf("read version: %w", err)
	}
	if v.Valid {
		if err := check.StoredVersion(streamID, v.Int64); err != nil {
			return 0, err
		}
	}
	return v.Int64, nil
}

// isUniqueEventID reports whether err is the violation of the uniqueness
// of event IDs.
func isUniqueEventID(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE &&
		strings.Contains(se.Error(), "annals_events.event_id")
}

// duplicateError names the first event of a refused batch whose ID is
// already stored, looking among the n events from start, whose INSERT
// failed. It runs in the append's transaction, after that INSERT has been
// undone; the batch's earlier chunks are still in the transaction, but
// they cannot hold the ID, since ValidateAppend refused IDs repeated in a
// batch.
func duplicateError(ctx context.Context, tx *sql.Tx, args []any, start, n int) error {
	for i := start; i < start+n; i++ {
		id := args[sharedParams+i*rowParams].([]byte)
		var stored string
		err := tx.QueryRowContext(ctx, `SELECT stream_id FROM annals_events WHERE event_id = ?`, id).Scan(&stored)
		if err == nil {
			return fmt.Errorf("event %d has ID %v, already stored in stream %q: %w",
				i, uuid.UUID(id), stored, store.ErrDuplicateEvent)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("an event ID is already stored: %w (finding it: %v)", store.ErrDuplicateEvent, err)
		}
	}
	return fmt.Errorf("an event ID is already stored: %w", store.ErrDuplicateEvent)
}

// Unavailable reports whether err, an error of one of the store's calls,
// says that the file could not take the call for now: another process
// held its lock for longer than the busy timeout (SQLITE_BUSY, or a
// write's wait for the lock that the store bounds itself), or a table
// was locked (SQLITE_LOCKED). A call that meets one may succeed when
// tried again later; see [store.ErrUnavailable].
func (s *Store) Unavailable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return errors.Is(err, errLockHeld)
}

// explainOpen adds what it means and what to do to SQLite's own error of
// a file that could not be opened as a database.
func explainOpen(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w: the file is not a SQLite database, or its header is damaged: check the path, or restore the file from a backup that passes `annals verify`: %w", err, store.ErrCorrupt)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%w: the database file is damaged: restore it from a backup that passes `annals verify`: %w", err, store.ErrCorrupt)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%w: check that the file and its directory exist and that this process may read and write both (SQLite keeps its -wal and -shm files beside the file)", err)
	}
	return err
}

// errLockHeld is wrapped by the error of a write that waited out the busy
// timeout for another process's write lock.
var errLockHeld = errors.New("another process held the write lock for longer than the busy timeout")

// explainBusy adds what to do to an error of a write that waited longer
// than the busy timeout for another process's write lock.
func explainBusy(err error, timeout time.Duration) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("%w (%v); raise it with busy_timeout or shorten that process's transactions: %w", errLockHeld, timeout, err)
	}
	return err
}

// metadataEncoder turns metadata into the value of the metadata column:
// NULL when empty, else JSON. The events of a batch usually share their
// metadata, so it reuses the last encoding when the metadata repeats.
type metadataEncoder struct {
	last    store.Metadata
	encoded any
}

func (enc *metadataEncoder) encode(m store.Metadata) (any, error) {
	if m.CorrelationID == "" && m.CausationID == "" && len(m.Extra) == 0 {
		return nil, nil // NULL
	}
	if enc.encoded != nil && m.CorrelationID == enc.last.CorrelationID && m.CausationID == enc.last.CausationID &&
		maps.Equal(m.Extra, enc.last.Extra) {
		return enc.encoded, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	enc.last, enc.encoded = m, string(b)
	return enc.encoded, nil
}

// FindEvent implements [store.EventFinder], through the index on event_id.
func (s *Store) FindEvent(ctx context.Context, id uuid.UUID) (store.Record, bool, error) {
	if err := s.usable(ctx, &s.logStmts); err != nil {
		return store.Record{}, false, err
	}
	recs, err := s.query(ctx, s.findEvent, nil, id[:])
	if err != nil {
		return store.Record{}, false, s.fail(fmt.Errorf("find event %v: %w", id, err))
	}
	if len(recs) == 0 {
		return store.Record{}, false, nil
	}
	return recs[0], true, nil
}

// ReadStream implements [store.Store]. It reads the stream in pages, each
// in its own short read transaction, so that no transaction stays open
// while the caller handles records; since a stream only grows at its end,
// the pages join up into one consistent prefix of it.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		if err := check.ReadStream(streamID); err != nil {
			yield(store.Record{}, err)
			return
		}
		buf := streamPages.Get().(*[]store.Record)
		defer putStreamPage(buf)
		// From the start, the read has no lower bound, so that it meets
		// a version below 1, which no append writes, and fails rather
		// than read the stream as shorter than it is. The plan is the
		// same range of the (stream_id, version) index either way.
		next := from
		if from <= 1 {
			next = math.MinInt64
		}
		for {
			if err := s.usable(ctx); err != nil {
				yield(store.Record{}, err)
				return
			}
			page, err := s.readPage(func(db *sql.DB) ([]store.Record, error) {
				st := s.readStream
				if db == s.w {
					st = s.readStreamW
				}
				return s.query(ctx, st, (*buf)[:0], streamID, next, streamPage)
			})
			if page != nil {
				*buf = page // grown, perhaps: the next page and the pool keep it
			}
			if err != nil {
				yield(store.Record{}, s.fail(fmt.Errorf("read stream %q from version %d: %w", streamID, max(next, 1), err)))
				return
			}
			for _, r := range page {
				if err := ctx.Err(); err != nil {
					yield(store.Record{}, err)
					return
				}
				if err := check.StoredVersion(streamID, r.Version); err != nil {
					yield(store.Record{}, fmt.Errorf("position %d: %w", r.Position, err))
					return
				}
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < streamPage {
				return
			}
			next = page[len(page)-1].Version + 1
		}
	}
}

// streamPages keeps the slices ReadStream reads its pages into. A page's
// records are yielded as values, so once the iteration is over nothing
// refers to its slice, and the next ReadStream takes it rather than
// allocate one and grow it record by record.
var streamPages = sync.Pool{New: func() any { return new([]store.Record) }}

// putStreamPage gives buf back to streamPages, cleared, so that the pool
// keeps no record's payload alive.
func putStreamPage(buf *[]store.Record) {
	clear((*buf)[:cap(*buf)])
	*buf = (*buf)[:0]
	streamPages.Put(buf)
}

// readPage runs read, one query of the store's tables, on the writer
// connection when it is idle and appends come one at a time, and
// otherwise on a reader (see groupCommitter.borrow). In WAL mode SQLite
// empties a connection's page cache whenever another connection has
// committed since its last read, so a reader fetches every page of a
// stream again after each append, while the writer's cache holds the
// pages of its own appends: a lone writer's command reads its stream as
// fast as a raw transaction that reads and appends on one connection.
// A writer borrowed for a read is held as a group holds it: appends that
// arrive meanwhile queue, and the first of them leads once the read is
// done. With a group in flight the read goes to a reader and waits for
// nothing.
func (s *Store) readPage(read func(db *sql.DB) ([]store.Record, error)) ([]store.Record, error) {
	if s.r != s.w && s.group.borrow() {
		defer s.group.giveBack()
		_ = s.group.at("borrowed", 0)
		return read(s.w)
	}
	return read(s.r)
}

// readStreamSQL reads a page of a stream from a version on.
const readStreamSQL = `SELECT ` + recordColumns + ` FROM annals_events
	WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?`

// streamPage is how many records ReadStream reads per query.
const streamPage = 512

// ReadLog implements [store.Store].
func (s *Store) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	if err := check.ReadLog(q); err != nil {
		return nil, err
	}
	if err := s.usable(ctx, &s.logStmts); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLogLimit
	}
	var recs []store.Record
	var err error
	if len(q.Types) == 0 {
		recs, err = s.query(ctx, s.readLog, nil, q.After, limit)
	} else {
		types, jerr := json.Marshal(q.Types)
		if jerr != nil {
			return nil, fmt.Errorf("read log: types: %w", jerr)
		}
		recs, err = s.query(ctx, s.readLogTypes, nil, q.After, string(types), limit)
	}
	if err != nil {
		return nil, s.fail(fmt.Errorf("read log after %d: %w", q.After, err))
	}
	return recs, nil
}

// query runs a prepared SELECT of recordColumns and reads every row,
// appended to out.
func (s *Store) query(ctx context.Context, st *sql.Stmt, out []store.Record, args ...any) ([]store.Record, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		// One set of scan destinations serves every row, so that a row
		// costs only the values it keeps; the raw bytes are valid until
		// the next row, and copied. They are one value, so that they
		// cost one allocation, not one each.
		sc struct {
			r              store.Record
			id, meta, tags sql.RawBytes
			ns             int64
		}
		r    = &sc.r
		dest = []any{&r.Position, &sc.id, &r.StreamID, &r.Version, &r.Type, &r.SchemaVersion, &sc.ns, &r.Data, &r.Encoding, &sc.meta, &sc.tags}
		// The events of a batch usually share their metadata: the last
		// metadata decoded, as stored and decoded, is reused when it
		// repeats.
		lastMeta    []byte
		lastDecoded store.Metadata
	)
	for rows.Next() {
		r.Data, r.Metadata = nil, store.Metadata{} // Scan sets Data anew; the rest is overwritten
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if r.Data == nil {
			r.Data = []byte{} // an empty BLOB scans as nil; see store.Record.Data
		}
		if r.Tags, err = decodeTags(sc.tags); err != nil { // dcb.go
			return nil, fmt.Errorf("position %d: tags that do not decode (%w): %w", r.Position, err, store.ErrCorrupt)
		}
		if r.ID, err = uuid.FromBytes(sc.id); err != nil {
			return nil, fmt.Errorf("position %d: an event ID that does not decode (%w): %w", r.Position, err, store.ErrCorrupt)
		}
		r.Time = time.Unix(0, sc.ns).UTC()
		switch {
		case len(sc.meta) == 0:
		case lastMeta != nil && bytes.Equal(sc.meta, lastMeta):
			r.Metadata = lastDecoded
			r.Metadata.Extra = maps.Clone(lastDecoded.Extra) // each record has its own
		default:
			if err := json.Unmarshal(sc.meta, &r.Metadata); err != nil {
				return nil, fmt.Errorf("position %d: metadata that does not decode (%w): %w", r.Position, err, store.ErrCorrupt)
			}
			lastMeta = append(lastMeta[:0], sc.meta...)
			lastDecoded = r.Metadata
			lastDecoded.Extra = maps.Clone(r.Metadata.Extra)
		}
		if out == nil {
			// Most reads are of a short stream or of a page of the
			// log: start with room for a few records, not one.
			out = make([]store.Record, 0, 8)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// Head implements [store.Store].
func (s *Store) Head(ctx context.Context) (int64, error) {
	if err := s.usable(ctx, &s.logStmts); err != nil {
		return 0, err
	}
	var head int64
	if err := s.head.QueryRowContext(ctx).Scan(&head); err != nil {
		return 0, s.fail(fmt.Errorf("read head: %w", err))
	}
	return head, nil
}

// Wait implements [store.Store]. An append through this Store wakes it at
// once. Appends by other processes, or by another Store on the same file,
// are found by reading the head every poll interval (see
// [WithPollInterval]), in the calling goroutine; an in-memory database
// has no other writers and is never polled.
func (s *Store) Wait(ctx context.Context, after int64) error {
	var poll *time.Timer
	var tick <-chan time.Time
	for {
		// Take the channel before reading the head, so that an append
		// committed after the read still closes the channel we wait on.
		changed := s.changedChan()
		head, err := s.Head(ctx)
		if err != nil {
			return err
		}
		if head > after {
			return nil
		}
		if s.path != Memory {
			if poll == nil {
				poll = time.NewTimer(s.cfg.pollInterval)
				defer poll.Stop()
			} else {
				poll.Reset(s.cfg.pollInterval)
			}
			tick = poll.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return s.closedError()
		case <-changed:
		case <-tick:
		}
	}
}

func (s *Store) changedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// notify wakes the waiters after a commit. No channel is made when
// nobody waits.
func (s *Store) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// Checkpoint implements [store.Store].
func (s *Store) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	if err := check.Consumer(consumer); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	if err := s.usable(ctx, &s.consumerReads); err != nil {
		return 0, err
	}
	var pos int64
	err := s.checkpoint.QueryRowContext(ctx, consumer).Scan(&pos)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, s.fail(fmt.Errorf("read checkpoint of consumer %q: %w", consumer, err))
	}
	return pos, nil
}

// SetCheckpoint implements [store.Store]. One statement moves the
// checkpoint only forwards, so racing consumers cannot move it back.
func (s *Store) SetCheckpoint(ctx context.Context, consumer string, position int64) error {
	if err := check.Consumer(consumer); err != nil {
		return fmt.Errorf("set checkpoint: %w", err)
	}
	if err := s.writable(ctx, &s.consumerWrites); err != nil {
		return err
	}
	if err := check.NegativeCheckpoint(consumer, position); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.setCheckpoint).ExecContext(ctx, consumer, position, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var old, gen int64
		if err := tx.StmtContext(ctx, s.txCheckpoint).QueryRowContext(ctx, consumer).Scan(&old, &gen); err != nil {
			return fmt.Errorf("checkpoint %d is below the recorded one: %w (reading it: %v)", position, store.ErrCheckpointBackwards, err)
		}
		return fmt.Errorf("checkpoint %d is below the recorded %d: %w", position, old, store.ErrCheckpointBackwards)
	})
	if err != nil {
		return s.fail(fmt.Errorf("set checkpoint of consumer %q: %w", consumer, err))
	}
	return nil
}

// Close implements [store.Store]. It waits for calls in progress, closes
// the database and wakes every Wait; every call after it, and every Wait
// it woke, fails with an error matching [store.ErrClosed] (and so
// [store.ErrInvalid]). Closing twice is harmless.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.done)
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	s.inserts.close()
	s.dcb.close()
	errs := s.closeStmts()
	errs = append(errs, s.ckpt.close())
	if s.r != nil && s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store %s: %w", s.path, err)
	}
	return nil
}

// usable returns the error of a call that must not start: the store is
// closed, ctx is done, or the statements of the groups the call needs
// cannot be prepared.
func (s *Store) usable(ctx context.Context, needs ...*stmtGroup) error {
	if s.closed.Load() {
		return s.closedError()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, g := range needs {
		if err := s.prepare(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// writable is usable for a write: a context that has ended says that
// nothing was stored, as the write's other errors do.
func (s *Store) writable(ctx context.Context, needs ...*stmtGroup) error {
	if err := s.usable(ctx, needs...); err != nil {
		return notStored(ctx, err)
	}
	return nil
}

func (s *Store) closedError() error {
	return fmt.Errorf("sqlite store %s: %w", s.path, store.ErrClosed)
}

// fail replaces the error of a call that Close cut short with the
// closed-store error, which says what happened, and says of a write
// refused because the file is read-only that it is (see explainReadOnly).
func (s *Store) fail(err error) error {
	if s.closed.Load() && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrDuplicateEvent) {
		return fmt.Errorf("%w (%v)", s.closedError(), err)
	}
	return explainReadOnly(err, s.path)
}
