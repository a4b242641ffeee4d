package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// defaultRecheck is how long [Store.Wait] sleeps on notifications before
// it runs the sequencing step once more itself. Notifications come from
// the writers that find a consumer waiting, each after its commit; the
// recheck only matters when such a writer died between its commit and its
// notification, and no other writer came after it.
const defaultRecheck = 5 * time.Second

// maxPagePrealloc bounds the records ReadLog makes room for before it
// reads, whatever limit the caller asks for.
const maxPagePrealloc = 1024

// ReadStream implements [store.Store]. It reads the stream in one query,
// streamed row by row as the caller iterates. Events committed but not yet
// sequenced have Position 0.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		if err := check.ReadStream(streamID); err != nil {
			yield(store.Record{}, err)
			return
		}
		if err := ctx.Err(); err != nil {
			yield(store.Record{}, err)
			return
		}
		// From the start, the read has no lower bound, so that it meets
		// a version below 1, which no append writes, and fails rather
		// than read the stream as shorter than it is. The plan is the
		// same range of the primary key's index either way.
		if from <= 1 {
			from = math.MinInt64
		}
		// Each chunk's records are yielded as values before the next is
		// read, so the next reuses its slice, and so does the next
		// ReadStream, through streamChunks.
		buf := streamChunks.Get().(*[]store.Record)
		defer putStreamChunk(buf)
		for {
			var chunk []store.Record
			err := s.retry(ctx, func() (err error) {
				chunk, err = s.readStreamChunk(ctx, streamID, from, (*buf)[:0])
				return err
			})
			if chunk != nil {
				*buf = chunk // grown, perhaps: the next chunk and the pool keep it
			}
			if err != nil {
				yield(store.Record{}, fmt.Errorf("read stream %q: %w", streamID, err))
				return
			}
			for _, r := range chunk {
				if err := check.StoredVersion(streamID, r.Version); err != nil {
					yield(store.Record{}, fmt.Errorf("position %d: %w", r.Position, err))
					return
				}
				if !yield(r, nil) {
					return
				}
			}
			if len(chunk) < streamChunk {
				return
			}
			from = chunk[len(chunk)-1].Version + 1
		}
	}
}

// streamChunks keeps the slices ReadStream reads its chunks into: once
// the iteration is over nothing refers to one, and the next ReadStream
// takes it rather than allocate one and grow it record by record.
var streamChunks = sync.Pool{New: func() any { return new([]store.Record) }}

// putStreamChunk gives buf back to streamChunks, cleared, so that the
// pool keeps no record's payload alive.
func putStreamChunk(buf *[]store.Record) {
	clear((*buf)[:cap(*buf)])
	*buf = (*buf)[:0]
	streamChunks.Put(buf)
}

// streamChunk is how many records of a stream one query reads. The
// records are yielded only once the query is done and its connection is
// back in the pool, so that what the caller does with each (decode it,
// look up a data subject's key, load another stream) never waits for a
// connection that this read holds, whatever the pool's size.
const streamChunk = 512

// FindEvent implements [store.EventFinder], through the unique index on
// event_id. Like ReadStream, it gives Position 0 for an event the log has
// not numbered yet.
func (s *Store) FindEvent(ctx context.Context, id uuid.UUID) (store.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, false, err
	}
	var (
		r     store.Record
		found bool
	)
	err := s.retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, s.sql.findEvent, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		sc := newRecordScanner()
		for rows.Next() {
			if r, found, err = sc.scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return store.Record{}, false, fmt.Errorf("find event %v: %w", id, err)
	}
	return r, found, nil
}

// readStreamChunk reads up to streamChunk records of a stream from
// version from, appended to out.
func (s *Store) readStreamChunk(ctx context.Context, streamID string, from int64, out []store.Record) ([]store.Record, error) {
	rows, err := s.pool.Query(ctx, s.sql.readStream, streamID, from, streamChunk)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sc := newRecordScanner()
	for rows.Next() {
		r, _, err := sc.scan(rows)
		if err != nil {
			return nil, err
		}
		if out == nil {
			// Most streams are short: start with room for a few
			// records, not one.
			out = make([]store.Record, 0, 8)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// recordScanner scans the record columns, all nullable because ReadLog's
// query returns a row of NULLs when its page is empty.
type recordScanner struct {
	position, version       pgtype.Int8
	streamID, typ, encoding pgtype.Text
	correlation, causation  pgtype.Text
	eventID                 pgtype.UUID
	schema                  pgtype.Int4
	recordedAt              pgtype.Timestamptz
	data, extra             []byte
	tags                    []string
	dest                    []any // built once: a row's scan allocates nothing for it
}

// newRecordScanner returns a scanner of rows whose record columns come
// after the columns scanned into before.
func newRecordScanner(before ...any) *recordScanner {
	sc := &recordScanner{}
	sc.dest = append(before, &sc.position, &sc.streamID, &sc.version, &sc.eventID, &sc.typ, &sc.schema, &sc.recordedAt,
		&sc.data, &sc.encoding, &sc.correlation, &sc.causation, &sc.extra, &sc.tags)
	return sc
}

// scan reads one row; ok is false for the row of NULLs.
func (sc *recordScanner) scan(rows pgx.Rows) (r store.Record, ok bool, err error) {
	sc.data, sc.extra, sc.tags = nil, nil, nil
	if err := rows.Scan(sc.dest...); err != nil {
		return r, false, err
	}
	if !sc.streamID.Valid {
		return r, false, nil
	}
	r = store.Record{
		ID:            uuid.UUID(sc.eventID.Bytes),
		StreamID:      sc.streamID.String,
		Version:       sc.version.Int64,
		Position:      sc.position.Int64, // 0 when not sequenced yet
		Type:          sc.typ.String,
		SchemaVersion: int(sc.schema.Int32),
		Time:          sc.recordedAt.Time.UTC(),
		Data:          sc.data,
		Encoding:      sc.encoding.String,
		Metadata: store.Metadata{
			CorrelationID: sc.correlation.String,
			CausationID:   sc.causation.String,
		},
		Tags: sc.tags, // nil when NULL: an event without tags
	}
	if r.Data == nil {
		r.Data = []byte{}
	}
	if sc.extra != nil {
		// Into a variable of its own: the address of r's field would move
		// the whole record to the heap, for every row.
		var extra map[string]string
		if err := json.Unmarshal(sc.extra, &extra); err != nil {
			return r, false, fmt.Errorf("event %v: metadata that does not decode (%w): %w", r.ID, err, store.ErrCorrupt)
		}
		if len(extra) > 0 { // see store.Metadata.Extra
			r.Metadata.Extra = extra
		}
	}
	return r, true, nil
}

// ReadLog implements [store.Store]. It reads the page and learns in the
// same query whether committed events are still waiting for a position.
// When they are and the page reached the end of the sequenced log, it
// runs the sequencing step, which numbers a batch of them, and reads on,
// until the page is full or nothing committed before the call is left
// without a position: a page ends short only where the committed log
// ends.
func (s *Store) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	if err := check.ReadLog(q); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLogLimit
	}
	// Below 0, after is 0: the page's query reads positions after+1 to
	// after+limit, which must start at the first one.
	after := max(q.After, 0)
	// A page is usually full while a consumer catches up: room for it, up
	// to a bound, saves growing the slice record by record.
	out := make([]store.Record, 0, min(limit, maxPagePrealloc))
	err := s.retry(ctx, func() error {
		out = out[:0]
		pending, err := s.readLogPage(ctx, after, limit, q.Types, &out)
		for err == nil && pending && len(out) < limit {
			if _, pending, err = s.sequenceLog(ctx, int64(limit-len(out))); err != nil {
				return err
			}
			next := after
			if len(out) > 0 {
				next = out[len(out)-1].Position
			}
			_, err = s.readLogPage(ctx, next, limit-len(out), q.Types, &out)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read log after %d: %w", q.After, err)
	}
	return out, nil
}

// readLogPage reads up to limit records after position after ≥ 0 into
// out, and says whether committed events wait for a position.
func (s *Store) readLogPage(ctx context.Context, after int64, limit int, types []string, out *[]store.Record) (pending bool, err error) {
	// The query reads positions up to after+limit, a bigint: a limit
	// past the largest position is cut to reach it, which keeps the same
	// records, and nothing comes after the largest.
	limit = int(min(int64(limit), math.MaxInt64-after))
	if limit == 0 {
		return false, nil
	}
	var rows pgx.Rows
	if len(types) > 0 {
		rows, err = s.pool.Query(ctx, s.sql.readLogTypes, after, limit, types)
	} else {
		rows, err = s.pool.Query(ctx, s.sql.readLog, after, limit)
	}
	if err != nil {
		return false, err
	}
	defer rows.Close()
	sc := newRecordScanner(&pending)
	start := len(*out)
	for rows.Next() {
		r, ok, err := sc.scan(rows)
		if err != nil {
			return false, err
		}
		if ok {
			*out = append(*out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(types) == 0 {
		// The page of positions after to after+limit, in no particular
		// order (see pendingAndPage); mostly in order already.
		page := (*out)[start:]
		if !slices.IsSortedFunc(page, byPosition) {
			slices.SortFunc(page, byPosition)
		}
	}
	return pending, nil
}

func byPosition(a, b store.Record) int { return cmp.Compare(a.Position, b.Position) }

// sequenceBatch is the number of events one sequencing step numbers at
// least, when that many are pending: big enough that the cost of a step
// (its lock, its commit) is spread over many events, small enough that no
// step holds the sequencer lock long (tens of milliseconds).
const sequenceBatch = 10_000

// sequenceLog runs one sequencing step, which numbers at least
// max(want, s.batch) of the pending events, whole transactions (fewer
// only when fewer are pending), and returns the log's head and whether
// events were still pending when it looked. s.batch is sequenceBatch but
// in tests.
func (s *Store) sequenceLog(ctx context.Context, want int64) (head int64, more bool, err error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, false, err
	}
	defer c.Release()
	return s.step(ctx, c.Conn(), max(want, s.batch))
}

// untimed begins a query of the simple protocol, whose statements run
// in one implicit transaction, and lifts statement_timeout for the
// statements after it, and for them only: PostgreSQL arms the timeout
// anew as each statement starts, and SET LOCAL ends with the
// transaction. In the query's text, the setting costs no round trip of
// its own.
const untimed = "SET LOCAL statement_timeout = 0; "

// step runs one sequencing step for at least n events on conn and
// returns the log's head and whether events were still pending when it
// looked.
//
// The work of a step is the backlog's, not its caller's: a step cut by a
// statement_timeout shorter than it rolls back, and the next one faces
// the same work, so the log would never move again while appends go on.
// A step runs as a prepared statement until statement_timeout first cuts
// one; from then on, the store's steps run with statement_timeout off
// (see untimed), which costs them a parse and a SET (tens of
// microseconds) but no round trip. The caller's deadline still cuts a
// step.
func (s *Store) step(ctx context.Context, conn *pgx.Conn, n int64) (head int64, more bool, err error) {
	if !s.untimedSteps.Load() {
		err = conn.QueryRow(ctx, s.sql.sequence, n).Scan(&head, &more)
		if !isStatementTimeout(err) || ctx.Err() != nil {
			return head, more, err
		}
		s.untimedSteps.Store(true)
	}
	results, err := conn.PgConn().Exec(ctx, s.sql.sequenceUntimed+strconv.FormatInt(n, 10)+")").ReadAll()
	if err != nil {
		return 0, false, err
	}
	last := results[len(results)-1]
	if len(last.Rows) != 1 || len(last.Rows[0]) != 2 {
		return 0, false, fmt.Errorf("sequencing step: %d rows, not one of two columns", len(last.Rows))
	}
	row := last.Rows[0]
	if head, err = strconv.ParseInt(string(row[0]), 10, 64); err != nil {
		return 0, false, fmt.Errorf("sequencing step: head %q: %w", row[0], err)
	}
	return head, string(row[1]) == "t", nil
}

// isStatementTimeout reports a statement cancelled, by statement_timeout
// or by a cancel request, which PostgreSQL tell apart only in words.
func isStatementTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57014"
}

// Head implements [store.Store]. It runs the sequencing step until no
// event committed before the call is left without a position, so the
// head counts every one of them.
func (s *Store) Head(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var head int64
	err := s.retry(ctx, func() error {
		for more := true; more; {
			var err error
			if head, more, err = s.sequenceLog(ctx, s.batch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("head: %w", err)
	}
	s.horizon.Saw(head)
	return head, nil
}

// Wait implements [store.Store]. It holds one connection for the duration
// of the call, LISTENing on the store's channel, and runs the sequencing
// step. When the head is not past after, it takes the wait lock, runs the
// step again, and, when the head is still not past after, sleeps until a
// notification, holding the lock. While a consumer holds it, writers
// cannot take the lock in shared mode, and each one that tries notifies
// after its commit; a writer that took it first held it until its
// commit, so the step, which follows the lock, saw its events. When
// woken, it releases the lock, so that other waiters can take it, and
// looks again. docs/global-log.md has the proof. It also looks every few
// seconds on its own, for a writer that died between its commit and its
// notification.
func (s *Store) Wait(ctx context.Context, after int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closing.Err() != nil {
		return s.closedError()
	}
	// Close ends the wait: its connection goes back to the pool, which
	// Close then closes, instead of Close waiting for the caller's context.
	caller := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()
	err := s.wait(ctx, after)
	if err != nil && caller.Err() == nil && s.closing.Err() != nil {
		return s.closedError()
	}
	if err != nil && connectionLost(err) && ctx.Err() == nil {
		s.dropDeadConnections(ctx, err)
		err = s.wait(ctx, after)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("wait after %d: %w", after, err)
	}
	return nil
}

func (s *Store) wait(ctx context.Context, after int64) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Conn()
	held := false
	defer func() {
		// A connection that still held the lock or listened would keep
		// writers notifying, or collect notifications for its next
		// user; one that cannot let go of them is closed, and the pool
		// replaces it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if held {
			if _, err := conn.Exec(ctx, s.sql.waitUnlock); err != nil {
				conn.Close(ctx)
			}
		}
		if _, err := conn.Exec(ctx, s.sql.unlisten); err != nil {
			conn.Close(ctx)
		}
		c.Release()
	}()
	if _, err := conn.Exec(ctx, s.sql.listen); err != nil {
		return err
	}
	step := func() (head int64, more bool, err error) {
		return s.step(ctx, conn, s.batch)
	}
	// Look before taking the lock: under load there is often something
	// new already, and a waiter that holds the lock makes writers take
	// the longer path that notifies.
	if head, _, err := step(); err != nil || head > after {
		return err
	}
	for {
		if !held {
			// Queue for the lock behind the writers that hold it, whose
			// events the step then sees, and behind other waiters,
			// which let go of it when they are woken. When that takes
			// longer than lock_timeout, look without it, and queue again.
			// Without arguments, pgx sends the query in the simple
			// protocol, which untimed needs.
			_, err := conn.Exec(ctx, s.sql.waitLock)
			switch {
			case err == nil:
				held = true
			case !isLockTimeout(err):
				return err
			}
		}
		head, more, err := step()
		switch {
		case err != nil:
			return err
		case head > after:
			return nil
		case more || !held:
			continue
		}
		if head, err = s.nextNotification(ctx, conn); err != nil || head > after {
			return err
		}
		if _, err := conn.Exec(ctx, s.sql.waitUnlock); err != nil {
			return err
		}
		held = false
		if head, _, err = step(); err != nil || head > after {
			return err
		}
	}
}

// isLockTimeout reports the error of a lock wait longer than lock_timeout.
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// nextNotification waits for a notification on the store's channel and
// returns the head it announces: 0 when it announces none (a writer's
// notification) or when the recheck interval passed first.
func (s *Store) nextNotification(ctx context.Context, conn *pgx.Conn) (int64, error) {
	recheck, cancel := context.WithTimeout(ctx, s.recheck)
	defer cancel()
	for {
		note, err := conn.WaitForNotification(recheck)
		switch {
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case recheck.Err() != nil:
			return 0, nil
		case err != nil:
			return 0, err
		case note.Channel == s.n.channel:
			head, _ := strconv.ParseInt(note.Payload, 10, 64)
			return head, nil
		}
	}
}

// Checkpoint implements [store.Store].
func (s *Store) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	if err := check.Consumer(consumer); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var pos int64
	err := s.retry(ctx, func() error {
		err := s.pool.QueryRow(ctx, s.sql.checkpoint, consumer).Scan(&pos)
		if errors.Is(err, pgx.ErrNoRows) {
			pos, err = 0, nil
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("consumer %q: read checkpoint: %w", consumer, err)
	}
	return pos, nil
}

// SetCheckpoint implements [store.Store]. The comparison with the recorded
// position happens in the database, in the statement that writes it.
func (s *Store) SetCheckpoint(ctx context.Context, consumer string, position int64) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	if err := check.Consumer(consumer); err != nil {
		return fmt.Errorf("set checkpoint: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := check.NegativeCheckpoint(consumer, position); err != nil {
		return err
	}
	// Setting the same position again is harmless: it is safe to repeat.
	moved := false
	err := s.writeStatement(ctx, func() error {
		var written int64
		err := s.pool.QueryRow(ctx, s.sql.setCheckpoint, consumer, position).Scan(&written)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a higher position is recorded
		}
		moved = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("consumer %q: write checkpoint: %w", consumer, err)
	}
	if !moved {
		recorded, rerr := s.Checkpoint(ctx, consumer)
		if rerr != nil {
			return fmt.Errorf("consumer %q: checkpoint %d is below the recorded one: %w", consumer, position, store.ErrCheckpointBackwards)
		}
		return fmt.Errorf("consumer %q: checkpoint %d is below the recorded %d: %w", consumer, position, recorded, store.ErrCheckpointBackwards)
	}
	return nil
}
