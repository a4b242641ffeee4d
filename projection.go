package annals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/internal/names"
	"github.com/annals-dev/annals/internal/storefault"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// DefaultBatchSize is how many events a projection or saga takes from the
// log per transaction, unless [WithBatchSize] says otherwise.
const DefaultBatchSize = 500

// A Projection applies the events of the global log, in order, to a read
// model, and commits each batch with its checkpoint through a
// [store.Committer]: after a crash it resumes exactly after the last batch that
// committed, so no event is lost or applied twice.
//
// T is what the handler writes through: a [store.StateTx] for states kept in
// the store (see [ViewProjection]), or an adapter's transaction for the
// user's own tables. The handler must do all its writes through tx; what
// it does elsewhere is not undone when the batch fails.
//
// A Projection is safe for concurrent use, but one instance working at a
// time is enough: instances that race only lose commits to each other
// ([store.ErrConflict]) and retry. [Projection.Run] holds a lease when the store
// is a [store.Locker], so that the others wait.
type Projection[T any] struct {
	name       string
	store      *Store
	committer  store.Committer[T]
	apply      func(ctx context.Context, tx T, recs []store.Record) (int, error)
	cfg        consumerConfig
	cursor     cursor
	migrations []func(context.Context, T) error
	migrated   atomic.Bool
	watcher    batchWatcher // nil but for a view
	// decode, when set, decodes a batch before its transaction begins,
	// for apply to read; batchMu keeps one batch at a time.
	decode  func(ctx context.Context, recs []store.Record) (int, error)
	batchMu sync.Mutex
}

// cursor remembers where this projection's last commit left its
// checkpoint, and whether that batch filled its page. While the
// projection catches up, the next step then reads only the page: not the
// checkpoint, which the commit set, nor the head, which a full page does
// not need. The commit compares and sets the checkpoint, so a checkpoint
// moved meanwhile by another instance fails it with [store.ErrConflict]; the
// step then forgets the cursor and runs again from what the store says.
type cursor struct {
	mu   sync.Mutex
	at   int64
	full bool
	ok   bool
}

func (c *cursor) get() (at int64, full, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at, c.full, c.ok
}

func (c *cursor) set(at int64, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.full, c.ok = at, full, true
}

func (c *cursor) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok = false
}

// ConsumerOption configures a projection or a saga.
type ConsumerOption func(*consumerConfig)

type consumerConfig struct {
	batch  int
	types  []string
	lease  bool
	schema any       // a []func(context.Context, T) error, checked by newProjection
	source store.Log // nil: the consumer's own store
}

// log returns the log a consumer on s reads.
func (c consumerConfig) log(s *Store) store.Log {
	if c.source != nil {
		return c.source
	}
	return s
}

func newConsumerConfig(opts []ConsumerOption) consumerConfig {
	cfg := consumerConfig{batch: DefaultBatchSize, lease: true}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// WithBatchSize sets how many events a consumer handles per transaction;
// n < 1 keeps [DefaultBatchSize], as a [store.LogQuery]'s Limit of 0 keeps
// its default.
func WithBatchSize(n int) ConsumerOption {
	return func(c *consumerConfig) {
		if n >= 1 {
			c.batch = n
		}
	}
}

// WithTypes makes a consumer read only events of the given types from the
// log. Its checkpoint still moves past the events it skips. It panics
// when a name is one no store keeps (empty, longer than
// [store.MaxTypeLen] bytes, not valid UTF-8 or holding a NUL byte), as
// [codec.JSON.Register] does: that is a programming error found at
// start-up, not at the consumer's first read.
func WithTypes(types ...string) ConsumerOption {
	for _, t := range types {
		if problem := names.TypeName(t); problem != "" {
			panic(fmt.Sprintf("annals: WithTypes: %s; name the type as the store keeps it", problem))
		}
	}
	return func(c *consumerConfig) { c.types = append(c.types, types...) }
}

// WithoutLease makes Run work without taking the consumer's lease, even
// when the store can grant one.
func WithoutLease() ConsumerOption {
	return func(c *consumerConfig) { c.lease = false }
}

// WithSource makes a consumer read the global log from log instead of from
// its store, which keeps its checkpoint, its read model or process states,
// and its lease: to follow from one process the log of an application
// whose database it cannot reach, such as a log served over HTTP (see
// package store/httplog). The checkpoint still moves in the transaction
// of the batch, so the consumer never skips or repeats an event of log.
//
// Such a consumer runs by itself (Run, CatchUp, Step), or in an Async
// [System], which retries it when its source fails and counts its lag
// against its source's head. A Sync system refuses it: it settles its
// consumers after the appends of its own store, which do not move
// another log. The records arrive as they are stored: a payload
// encrypted for a data subject decodes only where the subject's key can
// be read.
func WithSource(log store.Log) ConsumerOption {
	return func(c *consumerConfig) { c.source = log }
}

// Envelope is an event decoded from the log, with the record it was
// stored as: its stream, version, position, time and metadata.
type Envelope[E any] struct {
	// Event is the decoded event.
	Event E
	store.Record
}

// NewProjection returns a projection named name (its checkpoint's
// consumer name: 1 to [MaxConsumerNameLen] bytes of UTF-8 without NUL,
// not beginning with "schema:" or "annals:") that calls handle, inside
// the transaction of its batch, for each event of the log that m
// decodes, in order. It reads only the types m lists (see codec.Mapper),
// and skips events m does not know.
//
// T is the transaction the handler writes through: the adapter's own for
// a read model in the application's tables (*sql.Tx on SQLite, pgx.Tx on
// PostgreSQL; see [SQL]), or [store.StateTx] for states kept in the
// store. A store that has no transactions of type T fails here, with an
// error that matches [store.ErrUnsupported] and names the type it has;
// so does an m that reports an error of its own (see [NewRunner]), with
// that error. [WithSchema] creates and migrates the read model's tables.
//
// A handler error stops the projection at that event: the events before
// it in the batch commit, the checkpoint stays before it, and Step returns
// a [*ConsumerError]. A passing failure (one that matches [ErrTransient],
// [store.ErrUnavailable] or [store.ErrOutcomeUnknown]) stops nothing: the
// whole batch rolls back and runs again (a [System] runs it again; a Step
// or CatchUp of its own returns the failure, and the next runs it again),
// so the handler meets the events before it again, and what it did
// outside the transaction for them it does again.
func NewProjection[T, E any](s *Store, name string, m codec.Mapper[E], handle func(ctx context.Context, tx T, ev Envelope[E]) error, opts ...ConsumerOption) (*Projection[T], error) {
	if err := checkProjection(s, name, lo.IsNil(m), handle == nil); err != nil {
		return nil, err
	}
	if err := mapperErr(m); err != nil {
		return nil, fmt.Errorf("new projection %q: its mapper cannot encode or decode: %w", name, err)
	}
	var evs decodedBatch[E]
	apply := func(ctx context.Context, tx T, recs []store.Record) (int, error) {
		for i := range recs {
			if !evs.ok[i] {
				continue
			}
			if err := recovered(func() error { return handle(ctx, tx, evs.envs[i]) }); err != nil {
				return i, err
			}
		}
		return len(recs), nil
	}
	p, err := newProjection(s, name, apply, append(typesOf(m), opts...))
	if p != nil {
		p.decode = func(ctx context.Context, recs []store.Record) (int, error) { return evs.decode(ctx, m, recs) }
	}
	return p, err
}

// decodedBatch holds the events of a batch, decoded before the batch's
// transaction begins: decoding may read the store (a data subject's key),
// and doing it inside the transaction would hold two connections at once.
// envs[i] and ok[i] are those of the batch's i-th record; ok is false for
// a type the mapper does not read, which the handler never sees.
type decodedBatch[E any] struct {
	envs []Envelope[E]
	ok   []bool
}

// decode decodes recs, and returns how many it decoded before an error.
func (b *decodedBatch[E]) decode(ctx context.Context, m codec.Mapper[E], recs []store.Record) (int, error) {
	b.envs, b.ok = b.envs[:0], b.ok[:0]
	for i, r := range recs {
		var e E
		err := recovered(func() (err error) { e, err = m.FromRecord(ctx, r); return err })
		if err != nil && !errors.Is(err, codec.ErrUnknownEventType) {
			return i, err
		}
		b.envs = append(b.envs, Envelope[E]{Event: e, Record: r})
		b.ok = append(b.ok, err == nil)
	}
	return len(recs), nil
}

// NewBatchProjection is [NewProjection] for a handler that takes a whole
// batch at once, to write it in fewer round trips (a multi-row statement,
// COPY). handle returns how many of evs it applied; when it fails after
// applying n, the batch is rolled back, the first n events are applied
// again in a transaction of their own and committed, and the projection
// stops at event n with a [*ConsumerError]. A count other than len(evs)
// with no error is such a failure too, never taken for the whole batch.
func NewBatchProjection[T, E any](s *Store, name string, m codec.Mapper[E], handle func(ctx context.Context, tx T, evs []Envelope[E]) (int, error), opts ...ConsumerOption) (*Projection[T], error) {
	if err := checkProjection(s, name, lo.IsNil(m), handle == nil); err != nil {
		return nil, err
	}
	if err := mapperErr(m); err != nil {
		return nil, fmt.Errorf("new projection %q: its mapper cannot encode or decode: %w", name, err)
	}
	var decoded decodedBatch[E]
	apply := func(ctx context.Context, tx T, recs []store.Record) (int, error) {
		evs := make([]Envelope[E], 0, len(recs))
		at := make([]int, 0, len(recs)) // the index in recs of each of evs
		for i := range recs {
			if decoded.ok[i] {
				evs = append(evs, decoded.envs[i])
				at = append(at, i)
			}
		}
		n, err := applyBatch(ctx, tx, evs, handle)
		if err != nil {
			return at[n], err
		}
		return len(recs), nil
	}
	p, err := newProjection(s, name, apply, append(typesOf(m), opts...))
	if p != nil {
		p.decode = func(ctx context.Context, recs []store.Record) (int, error) { return decoded.decode(ctx, m, recs) }
	}
	return p, err
}

// applyBatch runs a batch handler and returns the index of the event it
// failed at: the first when it panicked.
func applyBatch[T, E any](ctx context.Context, tx T, evs []Envelope[E], handle func(context.Context, T, []Envelope[E]) (int, error)) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	var n int
	err := recovered(func() (err error) { n, err = handle(ctx, tx, evs); return err })
	if err == nil {
		err = shortBatch(n, len(evs))
	}
	if err != nil {
		return failedAt(n, len(evs)), err
	}
	return len(evs), nil
}

// failedAt is the index of the event a batch handler that failed after
// applying n of batch events failed at: n itself, the last event for a
// count of the whole batch, and the first for a count it cannot have
// applied (below 0 or above the batch), since nothing of it can be
// trusted then.
func failedAt(n, batch int) int {
	if n < 0 || n > batch {
		return 0
	}
	return min(n, batch-1)
}

// shortBatch returns the error of a batch handler that returned no error
// but a count other than its batch's length: taking it for the whole
// batch would move the checkpoint past events it did not apply.
func shortBatch(n, batch int) error {
	if n == batch {
		return nil
	}
	return fmt.Errorf("the batch handler returned %d for a batch of %d and no error: return the batch's length when it applied every event, or an error with the count it applied", n, batch)
}

// NewRecordProjection is [NewProjection] for a handler that takes the
// records as stored, undecoded: a read model of the log itself, or one
// that decodes by hand. It reads every type unless [WithTypes] says
// otherwise.
func NewRecordProjection[T any](s *Store, name string, handle func(ctx context.Context, tx T, rec store.Record) error, opts ...ConsumerOption) (*Projection[T], error) {
	if err := checkProjection(s, name, false, handle == nil); err != nil {
		return nil, err
	}
	apply := func(ctx context.Context, tx T, recs []store.Record) (int, error) {
		for i, r := range recs {
			if err := recovered(func() error { return handle(ctx, tx, r) }); err != nil {
				return i, err
			}
		}
		return len(recs), nil
	}
	return newProjection(s, name, apply, opts)
}

// NewRecordBatchProjection is [NewBatchProjection] for a handler that
// takes the records as stored, undecoded.
func NewRecordBatchProjection[T any](s *Store, name string, handle func(ctx context.Context, tx T, recs []store.Record) (int, error), opts ...ConsumerOption) (*Projection[T], error) {
	if err := checkProjection(s, name, false, handle == nil); err != nil {
		return nil, err
	}
	apply := func(ctx context.Context, tx T, recs []store.Record) (int, error) {
		var n int
		err := recovered(func() (err error) { n, err = handle(ctx, tx, recs); return err })
		if err == nil {
			err = shortBatch(n, len(recs))
		}
		if err != nil {
			return failedAt(n, len(recs)), err
		}
		return len(recs), nil
	}
	return newProjection(s, name, apply, opts)
}

// checkProjection returns the error of a projection built on a nil store,
// or with a nil mapper or handler, which matches [store.ErrInvalid].
func checkProjection(s *Store, name string, nilMapper, nilHandler bool) error {
	switch {
	case s.notMade() != nil:
		return fmt.Errorf("new projection %q: nil store: give the store from annals.Open or annals.New whose log it reads and whose transactions it writes in: %w", name, store.ErrInvalid)
	case nilMapper:
		return fmt.Errorf("new projection %q: nil mapper: give the codec or mapper of the events it handles: %w", name, store.ErrInvalid)
	case nilHandler:
		return fmt.Errorf("new projection %q: nil handler: give the function that writes each event to the read model: %w", name, store.ErrInvalid)
	}
	return nil
}

// committerFor returns the committer through which a consumer of s writes
// a T: the store's view states for store.StateTx, its SQL otherwise.
func committerFor[T any](s *Store) (store.Committer[T], error) {
	if c, ok := any(store.Committer[store.StateTx](s)).(store.Committer[T]); ok {
		if s.states == nil {
			return nil, s.unsupported("view states", "store.StateStore")
		}
		return c, nil
	}
	return SQL[T](s)
}

func newProjection[T any](s *Store, name string, apply func(context.Context, T, []store.Record) (int, error), opts []ConsumerOption) (*Projection[T], error) {
	if err := checkConsumerName(name); err != nil {
		return nil, fmt.Errorf("new projection: %w", err)
	}
	if err := nilOption(opts); err != nil {
		return nil, fmt.Errorf("new projection %q: %w", name, err)
	}
	c, err := committerFor[T](s)
	if err != nil {
		return nil, fmt.Errorf("new projection %q: %w", name, err)
	}
	cfg := newConsumerConfig(opts)
	var migrations []func(context.Context, T) error
	if cfg.schema != nil {
		m, ok := cfg.schema.([]func(context.Context, T) error)
		if !ok {
			return nil, fmt.Errorf("new projection %q: WithSchema was given migrations of %T, want []func(context.Context, %v) error, the projection's transaction: %w",
				name, cfg.schema, reflect.TypeFor[T](), store.ErrInvalid)
		}
		migrations = m
	}
	mark := &handlerMark{store: s, consumer: name}
	marked := func(ctx context.Context, tx T, recs []store.Record) (int, error) {
		return apply(context.WithValue(ctx, handlerKey{}, mark), tx, recs)
	}
	return &Projection[T]{name: name, store: s, committer: c, apply: marked, cfg: cfg, migrations: migrations}, nil
}

// reservedPrefixes begin the names of the checkpoints the library keeps
// beside its consumers': a read model's schema version (SchemaConsumer)
// and the mark of an unfinished copy (annals:copy-unfinished).
var reservedPrefixes = []string{"schema:", "annals:"}

// MaxConsumerNameLen is the longest name of a consumer (a projection, a
// view, a saga or process, a relay), in bytes: room in
// [store.MaxStreamIDLen] for the names derived from it, of its lease
// ([LeaseName]) and of its read model's schema version
// ([SchemaConsumer]).
const MaxConsumerNameLen = store.MaxStreamIDLen - len("consumer:")

// checkConsumerName checks the name of a consumer: one the store takes,
// with the names derived from it, and none that a checkpoint of the
// library's own is named.
func checkConsumerName(name string) error {
	if err := check.Consumer(name); err != nil {
		return err
	}
	if len(name) > MaxConsumerNameLen {
		return fmt.Errorf("consumer name %.32q… is %d bytes, the limit is %d (annals.MaxConsumerNameLen), leaving room for the names of its lease and schema version: name the consumer shorter: %w", name, len(name), MaxConsumerNameLen, store.ErrInvalid)
	}
	if p, ok := lo.Find(reservedPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }); ok {
		return fmt.Errorf("consumer name %q begins with %q, which the library's own checkpoints are named with; name the consumer otherwise: %w", name, p, store.ErrInvalid)
	}
	return nil
}

// handlerKey is the key of the [handlerMark] of the context a
// projection's handler is called with.
type handlerKey struct{}

// handlerMark says which projection's handler a context is of.
type handlerMark struct {
	store    *Store
	consumer string
}

// inHandler returns the mark of ctx when it is the context of the handler
// of a projection of s, and nil otherwise. A write to s from there is
// refused (see handlerMark.refuse).
func (s *Store) inHandler(ctx context.Context) *handlerMark {
	if m, ok := ctx.Value(handlerKey{}).(*handlerMark); ok && m.store == s {
		return m
	}
	return nil
}

// refuse returns the error, matching [store.ErrInvalid], of a write to the
// store that is doing from inside the handler m marks: its transaction
// holds SQLite's one writer, and in a Sync system the checkpoints the
// write would wait for, so the write would wait for the handler forever;
// and a rebuild or a replay would write again.
func (m *handlerMark) refuse(doing string) error {
	return fmt.Errorf("%s from inside the handler of projection %q: the write would not commit with the projection's checkpoint, so a rebuild or a replay would write again, and where the handler's transaction holds the store (SQLite's one writer, a Sync system's checkpoints) it would wait for the handler forever; "+
		"a projection only reads the log and writes its read model: do what follows from an event (a command, forgetting a data subject) in a saga or a process (annals.NewSaga, annals.NewProcess), whose dispatcher runs outside the store's transactions and takes effect once however often the event is replayed: %w", doing, m.consumer, store.ErrInvalid)
}

// WithSchema gives a projection the migrations that create and change its
// read model's tables, in order: migration i brings the schema from
// version i to version i+1. Before its first batch, and before a rebuild,
// the projection runs those it has not run yet, in one transaction that
// also records the schema's version (as the checkpoint of the consumer
// "schema:" + the projection's name), so that each runs once, whatever
// the number of instances and however they crash. Never change a
// migration that has run; add one. A migration that fails or panics (a
// [*PanicError]) keeps nothing of what it did: the projection fails its
// step, and [System.Run] tries again.
//
//	annals.WithSchema(
//		func(ctx context.Context, tx *sql.Tx) error {
//			_, err := tx.ExecContext(ctx, `CREATE TABLE dogs (id TEXT PRIMARY KEY, tricks INTEGER NOT NULL)`)
//			return err
//		},
//	)
//
// T must be the projection's transaction type; another fails the
// projection's constructor.
func WithSchema[T any](migrations ...func(ctx context.Context, tx T) error) ConsumerOption {
	return func(c *consumerConfig) { c.schema = migrations }
}

// SchemaConsumer is the name of the checkpoint that records the schema
// version of the read model of projection.
func SchemaConsumer(projection string) string { return "schema:" + projection }

// migrate runs the migrations the read model has not had yet.
func (p *Projection[T]) migrate(ctx context.Context) error {
	if len(p.migrations) == 0 || p.migrated.Load() {
		return nil
	}
	name := SchemaConsumer(p.name)
	for {
		at, err := p.store.Checkpoint(ctx, name)
		if err != nil {
			return fmt.Errorf("projection %q: read the schema version: %w", p.name, err)
		}
		want := int64(len(p.migrations))
		if at > want {
			return &schemaAhead{fmt.Errorf("projection %q: the read model's schema is at version %d, but this program knows %d migrations: run the program whose migrations brought it there; a rebuild runs migrations and cannot undo them (to go back, drop the read model's tables and delete the checkpoint %q, then rebuild): %w", p.name, at, want, SchemaConsumer(p.name), store.ErrInvalid)}
		}
		if at < want {
			err = p.committer.Commit(ctx, name, at, want, func(tx T) error {
				for i := at; i < want; i++ {
					if err := recovered(func() error { return p.migrations[i](ctx, tx) }); err != nil {
						return fmt.Errorf("migration %d: %w", i+1, err)
					}
				}
				return nil
			})
			err = p.store.fault(err)
			if errors.Is(err, store.ErrConflict) && ctx.Err() == nil {
				continue // another instance migrated meanwhile
			}
			if err != nil {
				return fmt.Errorf("projection %q: migrate the read model from version %d to %d: %w", p.name, at, want, err)
			}
		}
		p.migrated.Store(true)
		return nil
	}
}

// schemaAhead is the error of a projection whose read model's schema a
// newer program migrated past the migrations this one knows: every step
// fails with it until the schema is taken back, and a [System] shows the
// projection stopped meanwhile (see System.awaitSchema).
type schemaAhead struct{ err error }

func (e *schemaAhead) Error() string { return e.err.Error() }
func (e *schemaAhead) Unwrap() error { return e.err }

// schemaReady reports whether the read model's schema has had every
// migration this program knows, run by this instance or another: a
// [System.WaitQuiet] that returned before them would let a query find no
// table on a new store, whose empty log a projection is caught up with
// from the start.
func (p *Projection[T]) schemaReady(ctx context.Context) (bool, error) {
	if len(p.migrations) == 0 || p.migrated.Load() {
		return true, nil
	}
	at, err := p.store.Checkpoint(ctx, SchemaConsumer(p.name))
	if err != nil {
		return false, fmt.Errorf("projection %q: read the schema version: %w", p.name, err)
	}
	// A schema newer than the program's is not waited for: the
	// projection's Run says what is wrong with it.
	return at >= int64(len(p.migrations)), nil
}

// Name returns the projection's name.
func (p *Projection[T]) Name() string {
	if p == nil {
		return ""
	}
	return p.name
}

func (p *Projection[T]) storeHandle() *Store { return p.store }

// notMade returns the error of a call on p when no constructor made it.
func (p *Projection[T]) notMade() error {
	if p == nil || p.store == nil {
		return errNotMade("Projection", makeProjection)
	}
	return nil
}

func (p *Projection[T]) source() store.Log { return p.cfg.source }

// forgetCursor makes the next step start from the checkpoint the store
// holds, not from where this projection's last commit left it: for a
// retry after an operator moved the checkpoint (see [System.Retry]).
func (p *Projection[T]) forgetCursor() { p.cursor.forget() }

// Position returns the projection's checkpoint: the position of the last
// event it has handled or skipped.
func (p *Projection[T]) Position(ctx context.Context) (int64, error) {
	if err := p.notMade(); err != nil {
		return 0, err
	}
	return p.store.Checkpoint(ctx, p.name)
}

// Step handles the next batch of events after the checkpoint and returns
// how many it handled; 0 means the projection has caught up.
func (p *Projection[T]) Step(ctx context.Context) (int, error) {
	if err := p.notMade(); err != nil {
		return 0, err
	}
	n, _, err := p.step(ctx)
	return n, err
}

// step also returns the checkpoint after the batch.
func (p *Projection[T]) step(ctx context.Context) (int, int64, error) {
	n, at, _, err := p.advance(ctx)
	return n, at, err
}

// advance handles the next batch and also says whether the batch reached
// the head it read: whether the projection has caught up with every event
// appended before the step.
func (p *Projection[T]) advance(ctx context.Context) (int, int64, bool, error) {
	if err := p.migrate(ctx); err != nil {
		return 0, 0, false, err
	}
	_, _, cached := p.cursor.get()
	n, at, caughtUp, err := p.stepOnce(ctx)
	if err != nil {
		p.cursor.forget()
		var stopped *ConsumerError
		if cached && errors.Is(err, store.ErrConflict) && !errors.As(err, &stopped) && ctx.Err() == nil {
			// The checkpoint moved since this projection set it: start
			// again from where it is now. (A handler's error, even a
			// conflict, stops the projection as it did.)
			return p.stepOnce(ctx)
		}
	}
	return n, at, caughtUp, err
}

func (p *Projection[T]) stepOnce(ctx context.Context) (int, int64, bool, error) {
	var (
		from, head int64
		recs       []store.Record
		err        error
	)
	if at, full, ok := p.cursor.get(); ok {
		// The last commit of this projection set the checkpoint to at.
		from = at
		filtered := len(p.cfg.types) > 0
		limit := p.cfg.batch
		if !full && filtered {
			// A page of some types only says nothing of the head, which
			// the batch's end then needs, read before the page.
			if head, err = p.cfg.log(p.store).Head(ctx); err != nil {
				return 0, from, false, fmt.Errorf("consumer %q: read the head of the log: %w", p.name, err)
			}
			if head <= from {
				return 0, from, true, nil
			}
			limit = pageLimit(from, head, p.cfg.batch)
		}
		recs, err = p.cfg.log(p.store).ReadLog(ctx, store.LogQuery{After: from, Limit: limit, Types: p.cfg.types})
		if err != nil {
			return 0, from, false, fmt.Errorf("consumer %q: read the log after %d: %w", p.name, from, err)
		}
		switch {
		case len(recs) == p.cfg.batch || (len(recs) > 0 && !filtered):
			// A full page ends where it ends; a short page of every
			// type ends at the head as it was when it was read: a store
			// numbers the events committed before a read, and reads
			// them.
			head = recs[len(recs)-1].Position
		case !filtered:
			return 0, from, true, nil // nothing after the checkpoint
		case full:
			recs = nil // a short page after a full one: read the head first
		}
	}
	if recs == nil {
		if from, head, recs, err = nextBatch(ctx, p.store, p.name, p.cfg); err != nil || head <= from {
			return 0, from, err == nil, err
		}
	}
	bctx, endBatch := p.store.startBatch(ctx, p.name, from, recs)
	n, to, err := p.commitBatch(bctx, from, head, recs)
	endBatch(n, to, err)
	full := len(recs) == p.cfg.batch
	if err == nil {
		p.cursor.set(to, full)
	}
	return n, to, err == nil && !full, err
}

// errCommitUnfinished is what the watcher is told of a commit that
// unwound without returning.
var errCommitUnfinished = errors.New("the commit did not return")

// commit commits fn's writes with the checkpoint moved from from to to,
// telling the projection's watcher, if it has one.
func (p *Projection[T]) commit(ctx context.Context, from, to int64, fn func(T) error) error {
	if p.watcher == nil {
		return p.store.fault(p.committer.Commit(ctx, p.name, from, to, fn))
	}
	p.watcher.begin(from)
	err := errCommitUnfinished
	defer func() { p.watcher.end(to, err) }()
	err = p.store.fault(p.committer.Commit(ctx, p.name, from, to, fn))
	return err
}

// A batchWatcher is told of each commit of a projection's batch, so that
// a view can keep the states it committed: begin comes before the commit
// starts, from the checkpoint it moves from, and end after it ended.
// Between the two, the watcher holds whatever lock it needs.
type batchWatcher interface {
	begin(from int64)
	end(to int64, err error)
	reset()
}

// commitBatch handles recs, the batch after the checkpoint from, and
// commits them with the checkpoint.
func (p *Projection[T]) commitBatch(ctx context.Context, from, head int64, recs []store.Record) (int, int64, error) {
	to := batchEnd(from, head, recs, p.cfg.batch)
	if p.decode != nil {
		// One batch at a time: apply reads what decode wrote.
		p.batchMu.Lock()
		defer p.batchMu.Unlock()
		if n, err := p.decode(ctx, recs); err != nil {
			if unavailable(err) {
				// A codec that reads the store (a data subject's key)
				// and could not: the store's failure, retried whole.
				return 0, from, notStopped(p.name, recs[n], err)
			}
			return p.stopAt(ctx, from, recs, n, err)
		}
	}
	failed := len(recs)
	var handlerErr error
	err := p.commit(ctx, from, to, func(tx T) error {
		failed, handlerErr = p.apply(ctx, tx, recs)
		return handlerErr
	})
	if handlerErr == nil && err != nil || storefault.Is(err) || storefault.Is(handlerErr) || unavailable(handlerErr) {
		// The store's failure (a state it could not load, a connection
		// that broke under the handler, a call the store could not
		// take) rolled the batch back: retried whole, it is no event's
		// fault.
		return 0, from, fmt.Errorf("projection %q: commit positions %d to %d: %w", p.name, from+1, to, err)
	}
	if handlerErr == nil {
		return len(recs), to, nil
	}
	return p.stopAt(ctx, from, recs, failed, handlerErr)
}

// stopAt stops the projection at recs[failed], which cause failed: it
// commits the events before it, and returns a [*ConsumerError]; or, when
// that commit fails, the commit's error (see prefixUncommitted).
func (p *Projection[T]) stopAt(ctx context.Context, from int64, recs []store.Record, failed int, cause error) (int, int64, error) {
	stopped := consumerError(p.name, recs[failed], cause)
	if failed == 0 {
		return 0, from, stopped
	}
	// Keep the events before the one that failed.
	to := recs[failed-1].Position
	err := p.commit(ctx, from, to, func(tx T) error {
		_, err := p.apply(ctx, tx, recs[:failed])
		return err
	})
	if err != nil {
		return 0, from, prefixUncommitted(fmt.Errorf("projection %q: commit positions %d to %d: %w", p.name, from+1, to, err), stopped)
	}
	return failed, to, stopped
}

// nextBatch reads a consumer's checkpoint, the head, and the next batch of
// events after the checkpoint.
func nextBatch(ctx context.Context, s *Store, name string, cfg consumerConfig) (from, head int64, recs []store.Record, err error) {
	if from, err = s.Checkpoint(ctx, name); err != nil {
		return 0, 0, nil, consumerErr(name, err)
	}
	// The head is read before the log, so every event up to it is visible
	// to the read that follows.
	log := cfg.log(s)
	if head, err = log.Head(ctx); err != nil {
		return from, 0, nil, fmt.Errorf("consumer %q: read the head of the log: %w", name, err)
	}
	if head <= from {
		return from, head, nil, nil
	}
	recs, err = log.ReadLog(ctx, store.LogQuery{After: from, Limit: pageLimit(from, head, cfg.batch), Types: cfg.types})
	if err != nil {
		return 0, 0, nil, fmt.Errorf("consumer %q: read the log after %d: %w", name, from, err)
	}
	return from, head, recs, nil
}

// pageLimit is the size of the page to read after from when the head is
// known: the log's positions are contiguous, so no more than head-from
// events lie between them, and a page that size needs no more room.
func pageLimit(from, head int64, batch int) int {
	return int(min(int64(batch), max(head-from, 1)))
}

// batchEnd is the checkpoint after a batch: its last event, or, when the
// page was not full, the head read before it: no event of interest lies
// between them, so a consumer that filters by type still reaches the head.
func batchEnd(from, head int64, recs []store.Record, limit int) int64 {
	to := from
	if len(recs) > 0 {
		to = recs[len(recs)-1].Position
	}
	if len(recs) < limit {
		to = max(to, head)
	}
	return to
}

// CatchUp handles batches until the projection has reached the head of the
// log, and returns how many events it handled.
//
// Instances of one projection may catch up at the same time: a batch that
// another instance committed first is that instance's progress, not an
// error, and CatchUp goes on from the checkpoint it set.
func (p *Projection[T]) CatchUp(ctx context.Context) (int, error) {
	return catchUp(ctx, p.Step)
}

// catchUp steps until a step handles nothing. A commit that lost to
// another instance (a conflict that is not a handler's error) is retried
// from the moved checkpoint, a bounded number of times in a row.
func catchUp(ctx context.Context, step func(context.Context) (int, error)) (int, error) {
	total, lost := 0, 0
	for {
		n, err := step(ctx)
		total += n
		if lostCommit(ctx, err) && lost < maxLostCommits {
			lost++
			if err := sleep(ctx, JitterBackoff(lost)); err != nil {
				return total, err
			}
			continue
		}
		if err != nil || n == 0 {
			return total, err
		}
		lost = 0
	}
}

// lostCommit reports a step's error that is another instance's progress:
// a commit that lost the checkpoint's compare-and-set, not a handler's
// error.
func lostCommit(ctx context.Context, err error) bool {
	var stopped *ConsumerError
	return err != nil && errors.Is(err, store.ErrConflict) && !errors.As(err, &stopped) && ctx.Err() == nil
}

// maxLostCommits bounds how many commits in a row a consumer catching up
// may lose to other instances before it reports the conflict.
const maxLostCommits = 100

// Run catches up, then follows the log as events arrive, until ctx is done
// or the handler fails. When the store is a [store.Locker] it first takes the
// projection's lease (see [WithoutLease]) and stops when the lease is
// lost. It returns the handler's [*ConsumerError], ctx's error, or the
// error of a read or commit that failed (a lost connection, a source
// that cannot be reached): an Async [System] runs it again after such an
// error, with a growing pause. A batch that another instance run without
// the lease committed first is that instance's progress, not an error:
// Run goes on from the checkpoint it set. While it waits for the log, it
// reads its checkpoint once a second, and goes on from one that another
// moved (an ops reset from another process), though the log did not move.
func (p *Projection[T]) Run(ctx context.Context) error {
	if err := p.notMade(); err != nil {
		return err
	}
	return follow(ctx, p.store, p.name, p.cfg, p.step, p.cursor.forget)
}

// follow runs step until it handles nothing, waits for the log to pass the
// checkpoint or for another to move the checkpoint (see awaitMove), and
// repeats; under the consumer's lease when asked. forget, when not nil,
// makes step read the checkpoint from the store again.
func follow(ctx context.Context, s *Store, name string, cfg consumerConfig, step func(context.Context) (int, int64, error), forget func()) error {
	if s.locker != nil && cfg.lease {
		// A lease held by an instance that crashed is free only once the
		// store frees it (its session ends, or it expires): say why
		// nothing happens meanwhile.
		waiting := time.AfterFunc(leaseWaitLogAfter, func() {
			slog.Info("annals: consumer waits for its lease, which another instance holds ('annals consumers' shows the holder); the lease of an instance that crashed is free once the store frees it: on PostgreSQL when its session ends, on SQLite when the lease expires", "consumer", name, "store", s.name)
		})
		asked := time.Now()
		l, err := s.locker.Lock(ctx, LeaseName(name))
		err = s.fault(err)
		waited := !waiting.Stop() // the log said it waits
		if err != nil {
			return fmt.Errorf("consumer %q: take the lease: %w", name, err)
		}
		if waited {
			// The instance that held it stopped, or died and the store
			// freed its lease: say that this one took over.
			slog.Info("annals: consumer took its lease, which another instance held, and runs here", "consumer", name, "store", s.name, "waited", time.Since(asked).Round(time.Millisecond))
		}
		defer l.Release()
		if lost := l.Lost(); lost != nil {
			var cancel context.CancelCauseFunc
			ctx, cancel = context.WithCancelCause(ctx)
			defer cancel(nil)
			go func() {
				select {
				case <-lost:
					cancel(fmt.Errorf("consumer %q: %w", name, store.ErrLeaseLost))
				case <-ctx.Done():
				}
			}()
		}
	}
	leased := s.locker != nil && cfg.lease
	lost := 0
	for {
		n, at, err := step(ctx)
		if !leased && lostCommit(ctx, err) && lost < maxLostCommits {
			// Another instance (run without the lease) committed the
			// batch first: its progress, so go on from there. Under the
			// lease no other instance commits, and a lost commit says
			// the lease is gone: Run returns, to take it again.
			lost++
			if err := sleep(ctx, JitterBackoff(lost)); err != nil {
				return context.Cause(ctx)
			}
			continue
		}
		lost = 0
		if err == nil && n == 0 {
			err = awaitMove(ctx, s, name, cfg, at, forget)
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
	}
}

// checkpointPoll is how often a consumer that waits for the log reads its
// checkpoint, to take up one that another moved meanwhile.
var checkpointPoll = time.Second

// awaitMove waits until the log the consumer name reads holds an event
// after at, its checkpoint, or until the checkpoint in the store is no
// longer at: an operator's ops reset from another process moved it (back
// to 0, its states emptied), or a rebuild did, and the log need not move
// for that. A view reset in a quiet system would have shown no states
// until the next event; it is rebuilt within checkpointPoll instead. The
// checkpoint is read beside the wait, whose context is cancelled only
// when it moved, so that a store's wait (PostgreSQL's LISTEN connection)
// is not cut and begun again at every read. forget, when not nil, is
// called when it moved.
func awaitMove(ctx context.Context, s *Store, name string, cfg consumerConfig, at int64, forget func()) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var moved atomic.Bool
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		tick := time.NewTicker(checkpointPoll)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
				if cp, err := s.Checkpoint(wctx, name); err == nil && cp != at {
					moved.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	err := cfg.log(s).Wait(wctx, at)
	cancel()
	<-polled
	if moved.Load() && ctx.Err() == nil {
		if forget != nil {
			forget()
		}
		return nil
	}
	return err
}

// leaseWaitLogAfter is how long a consumer's Run waits for its lease
// before it logs that it waits.
var leaseWaitLogAfter = 2 * time.Second

// LeaseName is the name of the lease that a consumer's Run holds.
func LeaseName(consumer string) string { return "consumer:" + consumer }

// Progress reports how far a rebuild has gone.
type Progress struct {
	// Events is how many events the rebuild has handled.
	Events int
	// Position is the checkpoint reached, and Head the head of the log
	// when the rebuild started, or Position when events appended since
	// took the rebuild further: Position/Head is the fraction done.
	Position, Head int64
	// Elapsed is the time since the rebuild started, and Rate the events
	// handled per second.
	Elapsed time.Duration
	Rate    float64
}

// reset runs reset and moves the checkpoint back to 0 in one commit. The
// commit compares the checkpoint it read: when an instance of the
// projection running meanwhile (an application's) committed a batch in
// between, the reset reads the checkpoint again and tries again, at once
// the first time (that instance's next batch has yet to be read) and then
// after a growing pause, so that a rebuild begun while the application
// runs is not failed by the application's progress.
func (p *Projection[T]) reset(ctx context.Context, reset func(ctx context.Context, tx T) error) error {
	for lost := 0; ; lost++ {
		from, err := p.store.Checkpoint(ctx, p.name)
		if err != nil {
			return err
		}
		p.cursor.forget()
		if p.watcher != nil {
			p.watcher.reset()
		}
		err = p.store.fault(p.committer.Commit(ctx, p.name, from, 0, func(tx T) error { return recovered(func() error { return reset(ctx, tx) }) }))
		if !lostCommit(ctx, err) {
			return err
		}
		if lost == maxLostCommits {
			return fmt.Errorf("other instances of the projection moved its checkpoint before each of %d resets: %w; stop them, or try again when they are less busy", lost+1, err)
		}
		if lost > 0 {
			if err := sleep(ctx, JitterBackoff(lost)); err != nil {
				return err
			}
		}
	}
}

// Rebuild rebuilds the read model from the start of the log: in one
// transaction it runs reset, which must empty the read model, and moves
// the checkpoint back to 0; then it catches up, calling progress (if not
// nil) once after each batch it commits, and once at the end when that
// report would not tell where it ended (the log held no event to rebuild
// from, or another instance committed the last batches). A rebuild interrupted by a crash resumes where it
// stopped when the projection runs again. Instances of the projection
// that run meanwhile (an application's) carry on from the checkpoint the
// reset set, and a batch one of them commits first is the rebuild's
// progress, as in [Projection.CatchUp]; progress counts only the events
// this rebuild handled. A nil reset is refused with an error matching
// [store.ErrInvalid]; a reset that panics fails the rebuild with a
// [*PanicError], its transaction rolled back. A projection that decodes
// its events with a mapper first decodes the batch it would start with:
// when the mapper cannot read it (the wrong key, a missing upcaster), the
// rebuild fails before reset, leaving the read model as it was.
func (p *Projection[T]) Rebuild(ctx context.Context, reset func(ctx context.Context, tx T) error, progress func(Progress)) error {
	if err := p.notMade(); err != nil {
		return err
	}
	if reset == nil {
		return fmt.Errorf("rebuild %q: reset is nil: give the function that empties the read model (its tables or states), or the rebuild would handle every event again over what the read model holds: %w", p.name, store.ErrInvalid)
	}
	if err := p.migrate(ctx); err != nil {
		return fmt.Errorf("rebuild %q: %w", p.name, err)
	}
	if err := p.decodesFirstBatch(ctx); err != nil {
		return fmt.Errorf("rebuild %q: %w", p.name, err)
	}
	if err := p.reset(ctx, reset); err != nil {
		return fmt.Errorf("rebuild %q: reset: %w", p.name, err)
	}
	head, err := p.cfg.log(p.store).Head(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %q: %w", p.name, err)
	}
	start := time.Now()
	events, lost, reported := 0, 0, int64(-1)
	for {
		n, at, err := p.step(ctx)
		if lostCommit(ctx, err) && lost < maxLostCommits {
			// Another instance of the projection (the application's
			// own, which carries on from the checkpoint the reset set)
			// committed the batch first: its progress is the rebuild's,
			// so go on from there, as catching up does.
			lost++
			if err := sleep(ctx, JitterBackoff(lost)); err != nil {
				return err
			}
			continue
		}
		lost = 0
		events += n
		// The step that finds nothing more reports only where no report
		// told its position yet: an empty log, or one whose last batches
		// another instance committed.
		if progress != nil && (n > 0 || (err == nil && at != reported)) {
			reported = at
			elapsed := time.Since(start)
			progress(Progress{Events: events, Position: at, Head: max(head, at), Elapsed: elapsed, Rate: float64(events) / max(elapsed.Seconds(), 1e-9)})
		}
		if err != nil || n == 0 {
			return err
		}
	}
}

// decodesFirstBatch decodes the first batch a rebuild would handle, for a
// projection that decodes its events with a mapper: a mapper that cannot
// read the log (the wrong key, a codec that lacks a type's upcaster)
// fails the rebuild before its reset empties the read model, rather than
// at the first event after it. What fails further on still stops the
// rebuild there, the read model rebuilt up to it.
func (p *Projection[T]) decodesFirstBatch(ctx context.Context) error {
	if p.decode == nil {
		return nil
	}
	recs, err := p.cfg.log(p.store).ReadLog(ctx, store.LogQuery{Limit: p.cfg.batch, Types: p.cfg.types})
	if err != nil {
		return fmt.Errorf("read the log's first events: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	p.batchMu.Lock()
	defer p.batchMu.Unlock()
	if n, err := p.decode(ctx, recs); err != nil {
		if unavailable(err) {
			return err // a key the store could not read: nothing is known of the events
		}
		return fmt.Errorf("the read model was left as it was, since the log's first events do not decode: %w", consumerError(p.name, recs[n], err))
	}
	return nil
}

// LogProgress returns a progress callback for [Projection.Rebuild] that
// logs to l (slog.Default() when nil) at most once per interval, and always
// the last report, so that a rebuild of millions of events shows how far
// it is and how fast it goes without flooding the log.
func LogProgress(l *slog.Logger, consumer string, interval time.Duration) func(Progress) {
	var last time.Time
	return func(p Progress) {
		done := p.Head > 0 && p.Position >= p.Head
		if !done && time.Since(last) < interval {
			return
		}
		last = time.Now()
		if l == nil {
			l = slog.Default()
		}
		percent := 100.0
		if p.Head > 0 {
			percent = 100 * float64(min(p.Position, p.Head)) / float64(p.Head)
		}
		l.Info("rebuilding projection", "consumer", consumer, "events", p.Events, "position", p.Position,
			"head", p.Head, "percent", fmt.Sprintf("%.1f", percent), "events_per_second", fmt.Sprintf("%.0f", p.Rate),
			"elapsed", p.Elapsed.Round(time.Millisecond))
	}
}
