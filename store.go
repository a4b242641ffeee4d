package annals

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// EnvVar is the environment variable from which applications read the
// store URL, by convention: memory:, sqlite:///path/app.db, postgres://….
const EnvVar = store.EnvVar

// Store is the handle an application holds on an event store: it appends
// and reads events, and it is what runners, projections, sagas and
// systems are built on. It can do everything its adapter can, without a
// type assertion: keep view states, snapshots and data subjects' keys,
// grant leases, and hand SQL read models the adapter's transactions (see
// [SQL]). A feature the adapter does not implement fails with an error
// that matches [store.ErrUnsupported] and names it; [Store.Unsupported]
// lists them up front.
//
// When a [System] in [Sync] mode runs over the store, every append through
// it returns once the system's consumers have handled what followed from
// it, whichever runner made it.
//
// A Store is safe for concurrent use.
type Store struct {
	adapter store.Store
	name    string // what the messages call the store: the URL scheme or the adapter's type
	states  store.StateStore
	batch   store.StateBatchStore // nil when the adapter loads states one by one
	snaps   snapshot.Store
	keys    store.KeyStore
	locker  store.Locker
	dcb     store.DCB             // see dcb.go
	finder  store.EventFinder     // nil when the adapter finds no event by ID: runners read the stream
	faults  store.FaultClassifier // nil when the adapter tells no unavailability apart (see fault)
	// boundaries are the turns of the DCBRunners' decisions on the
	// store, one for each tag their queries name (see enterBoundary).
	boundaries turns
	system     atomic.Pointer[System]
	appends    atomic.Uint64 // appends that stored events, for a settling system

	observer atomic.Pointer[observer] // see Observe
	closed   atomic.Bool              // Close was called: a system's Run stops
	done     chan struct{}            // closed by Close, for waits on a closed flag
}

// The handle is each of the interfaces that consumers of a store take.
var (
	_ store.Store           = (*Store)(nil)
	_ store.StateBatchStore = (*Store)(nil)
	_ snapshot.Store        = (*Store)(nil)
	_ store.KeyStore        = (*Store)(nil)
	_ store.Locker          = (*Store)(nil)
	_ store.DCB             = (*Store)(nil)
)

// Open opens the store a URL names, with the adapter registered for its
// scheme: "memory:", "sqlite:///abs/path.db", "postgres://user@host/db"….
// The adapter's package must be imported, usually for its side effect:
//
//	import _ "github.com/annals-dev/annals/store/sqlite"
//
// An unknown scheme or a malformed URL fails with an error that matches
// [store.ErrUnknownScheme] or [store.ErrInvalid] and lists the linked
// schemes. A store that an annals copy has not finished writing to fails
// with [ErrUnfinishedCopy], so that no application runs on half a store:
// run the same copy again first. On error the returned store is nil.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	a, err := store.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if err := notUnfinished(ctx, a); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	s := New(a)
	if scheme, _, ok := cutScheme(rawURL); ok {
		s.name = scheme
	}
	return s, nil
}

// notUnfinished refuses a store marked as the target of a copy that has
// not finished.
func notUnfinished(ctx context.Context, a store.Store) error {
	pos, err := a.Checkpoint(ctx, UnfinishedCopy)
	if err != nil {
		return fmt.Errorf("open store: read the mark of an unfinished copy: %w", err)
	}
	if pos > 0 {
		return fmt.Errorf("open store: an annals copy into this store has not finished, so it may lack part of its source (events, snapshots, view states, checkpoints, data subjects' keys); run the same copy again, which goes on where it stopped, before the application uses it (annals verify and annals consumers say the same): %w", ErrUnfinishedCopy)
	}
	return nil
}

func cutScheme(rawURL string) (string, string, bool) {
	for i, r := range rawURL {
		if r == ':' {
			return rawURL[:i], rawURL[i+1:], i > 0
		}
	}
	return "", rawURL, false
}

// New returns the handle on an adapter value, such as memory.New() or a
// store opened with its adapter's own Open. The handle uses whatever of
// store.StateStore, snapshot.Store, store.KeyStore, store.Locker and store.DCB the
// adapter implements. Closing the handle closes the adapter. It panics
// when adapter is nil.
func New(adapter store.Store) *Store {
	if lo.IsNil(adapter) {
		panic("annals: annals.New: nil adapter: give an adapter value, such as memory.New(), or open a store by its URL with annals.Open")
	}
	if h, ok := adapter.(*Store); ok {
		return h
	}
	s := &Store{adapter: adapter, name: reflect.TypeOf(adapter).String(), done: make(chan struct{})}
	s.states, _ = adapter.(store.StateStore)
	s.batch, _ = adapter.(store.StateBatchStore)
	s.snaps, _ = adapter.(snapshot.Store)
	s.keys, _ = adapter.(store.KeyStore)
	s.locker, _ = adapter.(store.Locker)
	s.dcb, _ = adapter.(store.DCB)
	s.finder, _ = adapter.(store.EventFinder)
	s.faults, _ = adapter.(store.FaultClassifier)
	return s
}

// fault returns err, an error of one of the adapter's calls, marked as
// [store.ErrUnavailable] when the adapter says that it is: so that a
// program, and a System's consumers, can tell a store that could not be
// reached from one that refused a call, whatever the adapter.
func (s *Store) fault(err error) error {
	if err == nil || s.faults == nil || !s.faults.Unavailable(err) {
		return err
	}
	return store.Unavailable(err)
}

// findEvent finds the event whose ID is id through the adapter's
// [store.EventFinder], which the caller checked it has.
func (s *Store) findEvent(ctx context.Context, id uuid.UUID) (store.Record, bool, error) {
	rec, ok, err := s.finder.FindEvent(ctx, id)
	return rec, ok, s.fault(err)
}

// faultRead is read, its errors marked by fault.
func (s *Store) faultRead(read iter.Seq2[store.Record, error]) iter.Seq2[store.Record, error] {
	if s.faults == nil {
		return read
	}
	return func(yield func(store.Record, error) bool) {
		for rec, err := range read {
			if !yield(rec, s.fault(err)) {
				return
			}
		}
	}
}

// Adapter returns the adapter the handle runs on, for code that needs an
// adapter's own methods (a PostgreSQL pool, say).
func (s *Store) Adapter() store.Store {
	if s == nil {
		return nil
	}
	return s.adapter
}

// Unsupported lists the features of a handle that its adapter does not
// implement, each with the interface that would provide it; empty for
// every adapter of this module.
func (s *Store) Unsupported() []string {
	if err := s.notMade(); err != nil {
		return []string{err.Error()}
	}
	var missing []string
	if s.states == nil {
		missing = append(missing, "view states and consumer commits (store.StateStore): projections (but SQL ones on an adapter with SQL()), processes and sagas")
	}
	if s.snaps == nil {
		missing = append(missing, "snapshots (snapshot.Store)")
	}
	if s.keys == nil {
		missing = append(missing, "data subjects' keys (store.KeyStore): codec.WithSubjectKeys")
	}
	if s.locker == nil {
		missing = append(missing, "leases (store.Locker): consumers run without one")
	}
	if s.dcb == nil {
		missing = append(missing, "reads by query and conditional appends (store.DCB): DCB runners")
	}
	return missing
}

// unsupported returns the error of a call that needs what, which the
// adapter does not keep for want of iface; once the handle is closed, the
// error of every call after Close instead, which matches
// [store.ErrClosed]: a consumer's loop stops on it, whatever it called.
func (s *Store) unsupported(what, iface string) error {
	if s.closed.Load() {
		return fmt.Errorf("store %s (which does not keep %s): %w", s.name, what, store.ErrClosed)
	}
	return fmt.Errorf("store %s does not keep %s: its adapter does not implement %s: %w", s.name, what, iface, store.ErrUnsupported)
}

// Append appends events to a stream; see [store.Store.Append]. Under a
// [System] in [Sync] mode it then runs the system's consumers until they
// have handled what followed from the append; if one of them fails
// because of these events, the events are stored all the same and the
// error is a [*StoredError] that says so.
func (s *Store) Append(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	if err := s.notMade(); err != nil {
		return 0, err
	}
	if m := s.inHandler(ctx); m != nil {
		return 0, m.refuse(fmt.Sprintf("append to stream %q", streamID))
	}
	v, err := s.appendUnsettled(ctx, streamID, expected, events)
	if err != nil || len(events) == 0 {
		return v, err
	}
	return v, s.settle(ctx, streamID, v-int64(len(events)), v)
}

// appendUnsettled is Append without running a Sync system's consumers,
// which its caller runs with settle.
func (s *Store) appendUnsettled(ctx context.Context, streamID string, expected int64, events []store.Event) (int64, error) {
	v, err := s.append(ctx, streamID, expected, events)
	if err == nil && len(events) > 0 {
		s.appends.Add(1)
	}
	return v, err
}

// settle runs the consumers of a Sync system over the store, if it has
// one, until they have handled what followed from the events of stream
// after version from up to version to, which are stored; see
// System.settleAfter.
func (s *Store) settle(ctx context.Context, streamID string, from, to int64) error {
	if sys := s.system.Load(); sys != nil && sys.mode == Sync {
		return sys.settleAfter(ctx, streamID, from, to)
	}
	return nil
}

// ReadStream yields the records of a stream from version from; see
// [store.Store.ReadStream].
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	if err := s.notMade(); err != nil {
		return failed(err)
	}
	return s.faultRead(s.readStream(ctx, streamID, from))
}

// ReadLog returns a page of the global log; see [store.Store.ReadLog].
func (s *Store) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	if err := s.notMade(); err != nil {
		return nil, err
	}
	return s.readLog(ctx, q)
}

// Head returns the position of the last event of the global log.
func (s *Store) Head(ctx context.Context) (int64, error) {
	if err := s.notMade(); err != nil {
		return 0, err
	}
	head, err := s.adapter.Head(ctx)
	return head, s.fault(err)
}

// Wait blocks until the log holds an event after position after.
func (s *Store) Wait(ctx context.Context, after int64) error {
	if err := s.notMade(); err != nil {
		return err
	}
	return s.fault(s.adapter.Wait(ctx, after))
}

// Checkpoint returns the last position recorded for consumer, or 0.
func (s *Store) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	if err := s.notMade(); err != nil {
		return 0, err
	}
	at, err := s.adapter.Checkpoint(ctx, consumer)
	return at, s.fault(err)
}

// SetCheckpoint records position for consumer; see
// [store.Store.SetCheckpoint].
func (s *Store) SetCheckpoint(ctx context.Context, consumer string, position int64) error {
	if err := s.notMade(); err != nil {
		return err
	}
	if m := s.inHandler(ctx); m != nil {
		return m.refuse(fmt.Sprintf("set the checkpoint of consumer %q", consumer))
	}
	return s.fault(s.adapter.SetCheckpoint(ctx, consumer, position))
}

// Close closes the adapter. Every call on the store after it fails with
// an error matching [store.ErrClosed], also one that the adapter does not
// implement, and a [System.Run] on the store returns such an error,
// rather than retry forever. Closing twice is harmless.
func (s *Store) Close() error {
	if err := s.notMade(); err != nil {
		return err
	}
	if s.closed.CompareAndSwap(false, true) {
		close(s.done)
	}
	return s.adapter.Close()
}

// Commit runs fn in a transaction that keeps view states and moves a
// consumer's checkpoint; see [store.Committer].
func (s *Store) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if err := s.notMade(); err != nil {
		return err
	}
	if s.states == nil {
		return s.unsupported("view states", "store.StateStore")
	}
	if m := s.inHandler(ctx); m != nil {
		return m.refuse(fmt.Sprintf("commit for consumer %q", consumer))
	}
	return s.fault(s.states.Commit(ctx, consumer, from, to, fn))
}

// LoadState returns a committed view state; see [store.StateStore].
func (s *Store) LoadState(ctx context.Context, view, key string) ([]byte, bool, error) {
	if err := s.notMade(); err != nil {
		return nil, false, err
	}
	if s.states == nil {
		return nil, false, s.unsupported("view states", "store.StateStore")
	}
	data, ok, err := s.states.LoadState(ctx, view, key)
	return data, ok, s.fault(err)
}

// LoadStates returns the committed states of the keys of a view that
// have one: in one round trip when the adapter is a
// [store.StateBatchStore], and one per key when it is not.
func (s *Store) LoadStates(ctx context.Context, view string, keys []string) (map[string][]byte, error) {
	if err := s.notMade(); err != nil {
		return nil, err
	}
	if s.states == nil {
		return nil, s.unsupported("view states", "store.StateStore")
	}
	if s.batch != nil {
		states, err := s.batch.LoadStates(ctx, view, keys)
		return states, s.fault(err)
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		data, ok, err := s.states.LoadState(ctx, view, k)
		if err != nil {
			return nil, s.fault(err)
		}
		if ok {
			out[k] = data
		}
	}
	return out, nil
}

// SaveSnapshot stores a snapshot; see [snapshot.Store].
func (s *Store) SaveSnapshot(ctx context.Context, snap snapshot.Snapshot) error {
	if err := s.notMade(); err != nil {
		return err
	}
	if s.snaps == nil {
		return s.unsupported("snapshots", "snapshot.Store")
	}
	if m := s.inHandler(ctx); m != nil {
		return m.refuse(fmt.Sprintf("save a snapshot of stream %q", snap.StreamID))
	}
	return s.fault(s.snaps.SaveSnapshot(ctx, snap))
}

// LatestSnapshot returns a stream's latest snapshot; see [snapshot.Store].
func (s *Store) LatestSnapshot(ctx context.Context, streamID string) (snapshot.Snapshot, bool, error) {
	if err := s.notMade(); err != nil {
		return snapshot.Snapshot{}, false, err
	}
	if s.snaps == nil {
		return snapshot.Snapshot{}, false, s.unsupported("snapshots", "snapshot.Store")
	}
	snap, ok, err := s.snaps.LatestSnapshot(ctx, streamID)
	return snap, ok, s.fault(err)
}

// CreateSubjectKey stores a data subject's key; see [store.KeyStore].
func (s *Store) CreateSubjectKey(ctx context.Context, k store.SubjectKey) (store.SubjectKey, error) {
	if err := s.notMade(); err != nil {
		return store.SubjectKey{}, err
	}
	if s.keys == nil {
		return store.SubjectKey{}, s.unsupported("data subjects' keys", "store.KeyStore")
	}
	if m := s.inHandler(ctx); m != nil {
		return store.SubjectKey{}, m.refuse(fmt.Sprintf("create the key of data subject %q", k.Subject))
	}
	k, err := s.keys.CreateSubjectKey(ctx, k)
	return k, s.fault(err)
}

// SubjectKey returns a data subject's key; see [store.KeyStore].
func (s *Store) SubjectKey(ctx context.Context, subject string) (store.SubjectKey, error) {
	if err := s.notMade(); err != nil {
		return store.SubjectKey{}, err
	}
	if s.keys == nil {
		return store.SubjectKey{}, s.unsupported("data subjects' keys", "store.KeyStore")
	}
	k, err := s.keys.SubjectKey(ctx, subject)
	return k, s.fault(err)
}

// DeleteSubjectKey deletes a data subject's key; see [store.KeyStore] and
// codec.ForgetSubject.
func (s *Store) DeleteSubjectKey(ctx context.Context, subject string) error {
	if err := s.notMade(); err != nil {
		return err
	}
	if s.keys == nil {
		return s.unsupported("data subjects' keys", "store.KeyStore")
	}
	if m := s.inHandler(ctx); m != nil {
		return m.refuse(fmt.Sprintf("delete the key of data subject %q (forget the subject)", subject))
	}
	return s.fault(s.keys.DeleteSubjectKey(ctx, subject))
}

// Lock takes the lease on name; see [store.Locker].
func (s *Store) Lock(ctx context.Context, name string) (store.Lease, error) {
	if err := s.notMade(); err != nil {
		return nil, err
	}
	if s.locker == nil {
		return nil, s.unsupported("leases", "store.Locker")
	}
	if m := s.inHandler(ctx); m != nil {
		return nil, m.refuse(fmt.Sprintf("take the lease %q", name))
	}
	lease, err := s.locker.Lock(ctx, name)
	return lease, s.fault(err)
}

// ReadDB returns the adapter's handle for the queries of read models kept
// in the application's own tables, for an adapter whose handle is of type
// T: *sql.DB on SQLite (a pool of read-only connections), *pgxpool.Pool on
// PostgreSQL. Queries see what the projections committed. A store whose
// adapter has no such handle fails with an error that matches
// [store.ErrUnsupported].
func ReadDB[T any](s *Store) (T, error) {
	if err := s.notMade(); err != nil {
		var zero T
		return zero, err
	}
	switch a := s.adapter.(type) {
	case interface{ ReadDB() T }:
		return a.ReadDB(), nil
	case interface{ Pool() T }:
		return a.Pool(), nil
	}
	var zero T
	return zero, fmt.Errorf("store %s has no %v for the queries of read models: %w", s.name, reflect.TypeFor[T](), store.ErrUnsupported)
}

// SQL returns the committer through which a read model in the
// application's own tables writes with the consumer's checkpoint, for an
// adapter whose transactions are of type T: *sql.Tx for store/sqlite,
// pgx.Tx for store/postgres. [NewProjection] calls it; few programs need
// to. A store whose adapter has no such transactions fails with an error
// that matches [store.ErrUnsupported] and says which type it has, if any.
func SQL[T any](s *Store) (store.Committer[T], error) {
	if err := s.notMade(); err != nil {
		return nil, err
	}
	type sqlAdapter interface{ SQL() store.Committer[T] }
	if a, ok := s.adapter.(sqlAdapter); ok {
		return a.SQL(), nil
	}
	want := reflect.TypeFor[T]()
	if m, ok := reflect.TypeOf(s.adapter).MethodByName("SQL"); ok && m.Type.NumOut() == 1 {
		if commit, ok := m.Type.Out(0).MethodByName("Commit"); ok && commit.Type.NumIn() == 5 && commit.Type.In(4).NumIn() == 1 {
			have := commit.Type.In(4).In(0) // Commit(ctx, consumer, from, to, fn func(tx T) error)
			return nil, fmt.Errorf("store %s hands SQL read models a %v, not a %v: write the handler for %v: %w", s.name, have, want, have, store.ErrUnsupported)
		}
	}
	return nil, fmt.Errorf("store %s has no SQL tables for read models (asked for %v transactions); use a view projection, or a SQL adapter such as sqlite or postgres: %w", s.name, want, store.ErrUnsupported)
}
