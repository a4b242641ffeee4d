package annals_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"pgregory.net/rapid"
)

// A counter whose events carry the value they lead to, so a decision made
// on a stale state shows up as a repeated or skipped value.
type (
	increment   struct{ Limit int }
	incremented struct{ To int }
)

var errLimit = errors.New("limit reached")

var counter = decider.Decider[increment, incremented, int]{
	Decide: func(c increment, s int) ([]incremented, error) {
		if c.Limit > 0 && s >= c.Limit {
			return nil, errLimit
		}
		return []incremented{{To: s + 1}}, nil
	},
	Evolve: func(_ int, e incremented) int { return e.To },
}

func counterCodec() *codec.JSON[incremented] {
	return codec.NewJSON[incremented]().Register("Incremented", incremented{})
}

func TestRunnerConcurrentCommandsLoseNothing(t *testing.T) {
	const goroutines, perGoroutine = 32, 1000
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(annals.New(s), counter, counterCodec(), annals.WithRetries(10_000), annals.WithCache(16))

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				if _, err := r.Handle(ctx, "counter-1", increment{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	state, version, err := annals.NewRunner(annals.New(s), counter, counterCodec()).Load(ctx, "counter-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := goroutines * perGoroutine; state != want || version != int64(want) {
		t.Fatalf("state %d at version %d, want %d at %d", state, version, want, want)
	}
	// Every event was decided on the state it was appended to: the values
	// run 1, 2, 3… with no repeat, which a retry that re-sent a stale
	// decision would break.
	want := 1
	for rec, err := range s.ReadStream(ctx, "counter-1", 1) {
		if err != nil {
			t.Fatal(err)
		}
		e, err := counterCodec().Decode(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e.To != want {
			t.Fatalf("event at version %d carries %d, want %d", rec.Version, e.To, want)
		}
		want++
	}
}

// racingStore lets another writer append to the stream just before each
// append of the runner, so every attempt of the runner conflicts.
type racingStore struct {
	*memory.Store
	races int
}

func (s *racingStore) Append(ctx context.Context, id string, expected int64, events []store.Event) (int64, error) {
	s.races++
	if _, err := s.Store.Append(ctx, id, store.AnyVersion, []store.Event{{Type: "Incremented", Data: fmt.Appendf(nil, `{"To":%d}`, 1000+s.races)}}); err != nil {
		return 0, err
	}
	return s.Store.Append(ctx, id, expected, events)
}

func TestRunnerGivesUpWithConflictNamingVersions(t *testing.T) {
	ctx := context.Background()
	s := &racingStore{Store: memory.New()}
	r := annals.NewRunner(annals.New(s), counter, counterCodec(), annals.WithRetries(2), annals.WithBackoff(func(int) time.Duration { return 0 }))

	res, err := r.Handle(ctx, "counter-x", increment{})
	var conflict *store.ConflictError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &conflict) {
		t.Fatalf("error = %v, want a ConflictError", err)
	}
	if s.races != 3 {
		t.Errorf("append attempts = %d, want 1 + 2 retries", s.races)
	}
	// The third attempt loaded version 2 and found version 3; the
	// result is the state it decided on: the second racing event's.
	if conflict.StreamID != "counter-x" || conflict.Expected != 2 || conflict.Actual != 3 {
		t.Errorf("conflict = %+v, want stream counter-x expected 2 actual 3", *conflict)
	}
	if res.Version != 2 || res.State != 1002 || len(res.Events) != 0 {
		t.Errorf("result = %+v, want the state at version 2 (1002) and no events", res)
	}
	for _, part := range []string{`"counter-x"`, "gave up after 3 attempts", "share one Runner per decider", "expected version 2", "actual version 3"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not say %s", err, part)
		}
	}
	// Only the racing writer's events are stored.
	head, _ := s.Head(ctx)
	if head != 3 {
		t.Errorf("head = %d, want the 3 racing events only", head)
	}
}

func TestRunnerRejectionStoresNothing(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(annals.New(s), counter, counterCodec())
	for range 2 {
		if _, err := r.Handle(ctx, "c", increment{Limit: 2}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Handle(ctx, "c", increment{Limit: 2})
	if !errors.Is(err, errLimit) || !errors.Is(err, annals.ErrRejected) {
		t.Fatalf("error = %v, want the business rule's error", err)
	}
	// The rejection says what it was decided on.
	if res.State != 2 || res.Version != 2 || len(res.Events) != 0 || res.Duplicate {
		t.Fatalf("result of the rejection = %+v, want state 2 at version 2, no events", res)
	}
	if head, _ := s.Head(ctx); head != 2 {
		t.Fatalf("head = %d after a rejection, want 2", head)
	}
}

func TestRunnerTimeTravel(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(annals.New(s), counter, counterCodec())
	for range 5 {
		if _, err := r.Handle(ctx, "c", increment{}); err != nil {
			t.Fatal(err)
		}
	}
	for v := int64(0); v <= 6; v++ {
		state, version, err := r.LoadAt(ctx, "c", v)
		if err != nil {
			t.Fatal(err)
		}
		want := min(v, 5)
		if int64(state) != want || version != want {
			t.Errorf("LoadAt(%d) = %d at version %d, want %d", v, state, version, want)
		}
	}
	var third time.Time
	for rec := range s.ReadStream(ctx, "c", 3) {
		third = rec.Time
		break
	}
	state, _, err := r.LoadAsOf(ctx, "c", third)
	if err != nil {
		t.Fatal(err)
	}
	if state < 3 {
		t.Errorf("LoadAsOf(time of version 3) = %d, want at least 3", state)
	}
	if state, _, _ := r.LoadAsOf(ctx, "c", third.Add(-time.Hour)); state != 0 {
		t.Errorf("LoadAsOf(an hour before) = %d, want 0", state)
	}
}

func TestRunnerReportsUndecodableEvents(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	if _, err := s.Append(ctx, "c", store.NoStream, []store.Event{{Type: "Mystery", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	_, _, err := annals.NewRunner(annals.New(s), counter, counterCodec()).Load(ctx, "c")
	if !errors.Is(err, codec.ErrUnknownEventType) || !strings.Contains(err.Error(), "Mystery") {
		t.Fatalf("error = %v, want ErrUnknownEventType naming the type", err)
	}
}

// A command handled twice with one idempotency key takes effect once, and
// its events decrypt: the derived IDs are the ones the ciphertext is bound
// to.
func TestRunnerIdempotencyKeyWithEncryption(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	keys, err := codec.NewKeyring(codec.Key{ID: "k1", Secret: make([]byte, codec.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	r := annals.NewRunner(annals.New(s), counter, codec.NewMapper(counterCodec(), codec.WithEncryption(keys)))
	first, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("order-7/ship"))
	if err != nil || first.Duplicate {
		t.Fatalf("first handling: %+v, %v", first, err)
	}
	again, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("order-7/ship"))
	if err != nil || !again.Duplicate || again.State != 1 || again.Version != 1 {
		t.Fatalf("second handling: %+v, %v; want a duplicate at state 1, version 1", again, err)
	}
	if other, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("order-8/ship")); err != nil || other.Duplicate || other.State != 2 {
		t.Fatalf("another key: %+v, %v; want a new event", other, err)
	}
	for rec, err := range s.ReadStream(ctx, "c", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.ID != annals.EventID("order-7/ship", 0) && rec.ID != annals.EventID("order-8/ship", 0) {
			t.Fatalf("event ID %v is not derived from a key", rec.ID)
		}
		if !strings.Contains(rec.Encoding, "aes256gcm") {
			t.Fatalf("encoding %q, want encrypted", rec.Encoding)
		}
	}
}

// Runners with caches, racing on one stream, each decide on their cached
// state and append at its version without reading first. For any number
// of runners and any scripts of increments with limits, no update is lost
// or applied on a stale state (the final count is the number of
// successes, and every success left the count one above the state before
// it), every rejection holds on the state it reports, and a cached load
// equals an uncached one.
func TestCachedRunnersRacingLoseNothing(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		s := annals.New(memory.New())
		n := rapid.IntRange(2, 4).Draw(rt, "runners")
		scripts := make([][]int, n)
		for i := range scripts {
			scripts[i] = rapid.SliceOfN(rapid.IntRange(0, 30), 1, 25).Draw(rt, fmt.Sprintf("limits %d", i))
		}
		type outcome struct {
			res annals.Result[incremented, int]
			err error
			cmd increment
		}
		outcomes := make([][]outcome, n)
		runners := make([]*annals.Runner[increment, incremented, int], n)
		var wg sync.WaitGroup
		for i := range n {
			runners[i] = annals.NewRunner(s, counter, counterCodec(), annals.WithCache(2),
				annals.WithRetries(1000), annals.WithBackoff(func(int) time.Duration { return 0 }))
			wg.Go(func() {
				for _, limit := range scripts[i] {
					c := increment{Limit: limit} // 0: no limit
					res, err := runners[i].Handle(ctx, "shared", c)
					outcomes[i] = append(outcomes[i], outcome{res, err, c})
				}
			})
		}
		wg.Wait()
		successes := 0
		for i := range outcomes {
			for _, o := range outcomes[i] {
				switch {
				case o.err == nil:
					successes++
					if len(o.res.Events) != 1 || o.res.State != o.res.Events[0].To || o.res.State != int(o.res.Version) {
						rt.Fatalf("runner %d: %+v for %+v: want one increment to the version", i, o.res, o.cmd)
					}
				case errors.Is(o.err, errLimit):
					if o.res.State < o.cmd.Limit {
						rt.Fatalf("runner %d: %+v rejected on state %d, which is below the limit", i, o.cmd, o.res.State)
					}
				default:
					rt.Fatalf("runner %d: %v", i, o.err)
				}
			}
		}
		fresh := annals.NewRunner(s, counter, counterCodec())
		state, version, err := fresh.Load(ctx, "shared")
		if err != nil || state != successes || version != int64(successes) {
			rt.Fatalf("the stream holds %d at version %d (%v); want the %d successes", state, version, err, successes)
		}
		for i, r := range runners {
			if cs, cv, err := r.Load(ctx, "shared"); err != nil || cs != state || cv != version {
				rt.Fatalf("runner %d with a cache loads %d at %d (%v), uncached %d at %d", i, cs, cv, err, state, version)
			}
		}
	})
}

// An idempotency key binds a command to its stream. A retry is answered
// as a duplicate with the current state, even when deciding again would
// reject it; the key reused on another stream, or with another command,
// is refused and stores nothing.
//
// It holds whether the store looks the key up by event ID
// (store.EventFinder) or the runner reads the stream for it.
func TestIdempotencyKeyIsBoundToStreamAndCommand(t *testing.T) {
	for name, adapter := range map[string]func() store.Store{
		"finder":    func() store.Store { return memory.New() },
		"no finder": func() store.Store { return struct{ store.Store }{memory.New()} },
	} {
		t.Run(name, func(t *testing.T) { checkIdempotencyKeyIsBound(t, adapter()) })
	}
}

func checkIdempotencyKeyIsBound(t *testing.T, adapter store.Store) {
	ctx := context.Background()
	s := annals.New(adapter)
	r := annals.NewRunner(s, counter, counterCodec())
	if _, err := r.Handle(ctx, "c", increment{Limit: 1}, annals.WithIdempotencyKey("k")); err != nil {
		t.Fatal(err)
	}
	appendN(t, r, "c", 1) // another command: c is at 2, over the limit of 1
	if _, err := r.Handle(ctx, "c", increment{Limit: 1}); !errors.Is(err, errLimit) {
		t.Fatalf("deciding again = %v, want the limit's rejection", err)
	}
	res, err := r.Handle(ctx, "c", increment{Limit: 1}, annals.WithIdempotencyKey("k"))
	if err != nil || !res.Duplicate || res.State != 2 || res.Version != 2 || !reflect.DeepEqual(res.Events, []incremented{{To: 1}}) {
		t.Fatalf("retry = %+v, %v; want a duplicate with the current state 2 at version 2 and the first call's event", res, err)
	}
	appendN(t, r, "e", 1) // e is at 1, at the limit of 1
	_, finder := adapter.(store.EventFinder)
	for _, reuse := range []struct {
		name, stream string
		cmd          increment
		finderOnly   bool // told only by a store that finds the key's events
	}{
		{"on another stream", "d", increment{Limit: 1}, false},
		{"on another stream where deciding would reject", "e", increment{Limit: 1}, true},
		{"with another command", "c", increment{Limit: 5}, false},
		{"with another command that deciding would reject", "c", increment{Limit: 2}, false},
	} {
		if reuse.finderOnly && !finder {
			continue
		}
		res, err := r.Handle(ctx, reuse.stream, reuse.cmd, annals.WithIdempotencyKey("k"))
		if !errors.Is(err, annals.ErrIdempotencyKey) || res.Duplicate || len(res.Events) != 0 {
			t.Fatalf("key reused %s = %+v, %v; want annals.ErrIdempotencyKey", reuse.name, res, err)
		}
	}
	if head, _ := s.Head(ctx); head != 3 {
		t.Fatalf("head = %d, want 3: the refused commands stored nothing", head)
	}
}

// readCounter counts the records its adapter's streams yield.
type readCounter struct {
	*memory.Store
	read atomic.Int64
}

func (c *readCounter) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		for r, err := range c.Store.ReadStream(ctx, streamID, from) {
			c.read.Add(1)
			if !yield(r, err) {
				return
			}
		}
	}
}

// A command retried with its idempotency key on a long stream loaded
// from snapshots is answered by looking the key's events up by ID, not
// by reading the stream from its start: its cost does not grow with the
// stream.
func TestAKeyedRetryDoesNotReadTheWholeStream(t *testing.T) {
	ctx := context.Background()
	adapter := &readCounter{Store: memory.New()}
	s := annals.New(adapter)
	r := annals.NewRunner(s, counter, counterCodec(), annals.WithSnapshots(s, snapshot.Every(50), codec.NewJSON[int]().Register("Count", 0)))
	appendN(t, r, "c", 999)
	if _, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("late")); err != nil {
		t.Fatal(err)
	}
	adapter.read.Store(0)
	res, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("late"))
	if err != nil || !res.Duplicate || res.Version != 1000 {
		t.Fatalf("retry = %+v, %v; want a duplicate at version 1000", res, err)
	}
	if n := adapter.read.Load(); n > 100 {
		t.Fatalf("the retry read %d records of a 1,000-event stream; want those after the latest snapshot", n)
	}
}

type (
	deposit  struct{ Amount int }
	withdraw struct{ Amount int }
)

// A key names one command, by its type and its content: a command type
// moved to another package is another command, refused loudly rather than
// answered as the first, unless it names the type it had
// (CommandNamer); a command of another type with the same content is
// refused too.
func TestAKeyOutlivesItsCommandTypeMovingOnlyByName(t *testing.T) {
	ctx := context.Background()
	ledger := decider.Decider[any, incremented, int]{
		Decide: func(any, int) ([]incremented, error) { return []incremented{{To: 1}}, nil },
		Evolve: func(s int, _ incremented) int { return s + 1 },
	}
	adapter := memory.New()
	r := annals.NewRunner(annals.New(adapter), ledger, counterCodec())
	if _, err := r.Handle(ctx, "a", deposit{Amount: 5}, annals.WithIdempotencyKey("k")); err != nil {
		t.Fatal(err)
	}
	// The fingerprint stored is the one every earlier release stored, so
	// that keys written before an upgrade still match after it.
	sum := sha256.Sum256([]byte("annals_test.deposit\x00" + `{"Amount":5}`))
	for rec, err := range adapter.ReadStream(ctx, "a", 1) {
		if err != nil || rec.Metadata.Extra["annals.idempotency"] != hex.EncodeToString(sum[:16]) {
			t.Fatalf("the first event's fingerprint is %q (%v), want the hash of the type as %%T writes it and the JSON", rec.Metadata.Extra["annals.idempotency"], err)
		}
	}
	if _, err := r.Handle(ctx, "a", annals.MovedDeposit(5), annals.WithIdempotencyKey("k")); !errors.Is(err, annals.ErrIdempotencyKey) {
		t.Fatalf("the moved command retried = %v, want annals.ErrIdempotencyKey", err)
	}
	res, err := r.Handle(ctx, "a", annals.NamedMovedDeposit(5), annals.WithIdempotencyKey("k"))
	if err != nil || !res.Duplicate || res.Version != 1 {
		t.Fatalf("the moved command naming its former type retried = %+v, %v; want a duplicate at version 1", res, err)
	}
	if _, err := r.Handle(ctx, "a", withdraw{Amount: 5}, annals.WithIdempotencyKey("k")); !errors.Is(err, annals.ErrIdempotencyKey) {
		t.Fatalf("another command with the same content = %v, want annals.ErrIdempotencyKey", err)
	}
}

// alwaysConflicts is a store on which every append finds another writer
// first.
type alwaysConflicts struct{ *memory.Store }

func (alwaysConflicts) Append(context.Context, string, int64, []store.Event) (int64, error) {
	return 0, fmt.Errorf("another writer: %w", store.ErrConflict)
}

func (alwaysConflicts) AppendIf(context.Context, string, int64, []store.Event, store.AppendCondition) (int64, error) {
	return 0, fmt.Errorf("another writer: %w", store.ErrConflict)
}

// A command whose context ends while it waits to try again after a
// conflict says where it was and that nothing was stored, as every other
// failure of a command does, not only the context's error.
func TestACommandStoppedBetweenAttemptsSaysWhereAndThatNothingWasStored(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	backoff := annals.WithBackoff(func(int) time.Duration {
		cancel()
		return time.Hour
	})
	s := annals.New(alwaysConflicts{memory.New()})
	_, err := annals.NewRunner(s, counter, counterCodec(), backoff).Handle(ctx, "c-1", increment{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `stream "c-1"`) || !strings.Contains(err.Error(), "conflict") || !strings.Contains(err.Error(), "nothing was stored") {
		t.Errorf("stream command: %v, want context.Canceled naming the stream, the conflict and that nothing was stored", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, err = newSeats(s, backoff).Handle(ctx, takeSeat{"a", "ann"})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "conflict") || !strings.Contains(err.Error(), "nothing was stored") {
		t.Errorf("DCB command: %v, want context.Canceled naming the conflict and that nothing was stored", err)
	}
}

// readsFail is a memory store whose reads of streams fail once fail is
// set.
type readsFail struct {
	*memory.Store
	fail atomic.Bool
}

func (s *readsFail) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	if s.fail.Load() {
		return func(yield func(store.Record, error) bool) { yield(store.Record{}, errors.New("the disk is gone")) }
	}
	return s.Store.ReadStream(ctx, streamID, from)
}

// A cached runner whose read of what its cached state lacks fails says
// where, and that nothing was stored, as it does on every other path.
func TestACachedCommandWhoseCatchUpFailsSaysWhereAndThatNothingWasStored(t *testing.T) {
	ctx := context.Background()
	mem := &readsFail{Store: memory.New()}
	r := annals.NewRunner(annals.New(mem), counter, counterCodec(), annals.WithCache(8))
	if _, err := r.Handle(ctx, "c-1", increment{}); err != nil {
		t.Fatal(err)
	}
	mem.fail.Store(true)
	// A rejection is given only on the stream as it is: the runner reads
	// what its cached state may lack.
	_, err := r.Handle(ctx, "c-1", increment{Limit: 1})
	if err == nil || !strings.Contains(err.Error(), `stream "c-1"`) || !strings.Contains(err.Error(), "the disk is gone") || !strings.Contains(err.Error(), "nothing was stored") {
		t.Errorf("rejected command on a cached stream whose read fails: %v, want an error naming the stream, the read's failure and that nothing was stored", err)
	}
	// Another writer made the cache stale: the append at the cached
	// version conflicts, and the read of what the cache lacks fails.
	mem.fail.Store(false)
	if _, err := annals.NewRunner(annals.New(mem), counter, counterCodec()).Handle(ctx, "c-1", increment{}); err != nil {
		t.Fatal(err)
	}
	mem.fail.Store(true)
	_, err = r.Handle(ctx, "c-1", increment{})
	if err == nil || !strings.Contains(err.Error(), `stream "c-1"`) || !strings.Contains(err.Error(), "conflict") || !strings.Contains(err.Error(), "the disk is gone") || !strings.Contains(err.Error(), "nothing was stored") {
		t.Errorf("command on a stale cached stream whose read fails: %v, want an error naming the stream, the conflict, the read's failure and that nothing was stored", err)
	}
}

// A keyed command retried while another writer appends to its stream
// before every attempt conflicts on the version each time, since the
// store checks it before the key's event ID: the key answers at the first
// conflict, Duplicate when the command was stored here, and
// ErrIdempotencyKey when its key was first used on another stream,
// rather than a conflict after the retries, which says nothing stored.
func TestAKeyedRetryOnAMovingStreamIsAnsweredByItsKey(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	if _, err := annals.NewRunner(annals.New(mem), counter, counterCodec()).Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("k")); err != nil {
		t.Fatal(err)
	}
	racing := &racingStore{Store: mem}
	for name, adapter := range map[string]store.Store{"finder": racing, "no finder": struct{ store.Store }{racing}} {
		r := annals.NewRunner(annals.New(adapter), counter, counterCodec(), annals.WithRetries(3), annals.WithBackoff(func(int) time.Duration { return 0 }))
		races := racing.races
		res, err := r.Handle(ctx, "c", increment{}, annals.WithIdempotencyKey("k"))
		if err != nil || !res.Duplicate || !reflect.DeepEqual(res.Events, []incremented{{To: 1}}) {
			t.Fatalf("%s: the command retried on a moving stream = %+v, %v; want a duplicate with the first call's event", name, res, err)
		}
		if n := racing.races - races; n != 1 {
			t.Errorf("%s: %d attempts, want 1: the key answers at the first conflict", name, n)
		}
	}
	r := annals.NewRunner(annals.New(racing), counter, counterCodec(), annals.WithRetries(3), annals.WithBackoff(func(int) time.Duration { return 0 }))
	if _, err := r.Handle(ctx, "d", increment{}, annals.WithIdempotencyKey("k")); !errors.Is(err, annals.ErrIdempotencyKey) || errors.Is(err, store.ErrConflict) {
		t.Fatalf("the key on another, moving stream = %v; want ErrIdempotencyKey", err)
	}
}

// Metadata that sets the entry a keyed command keeps its fingerprint in
// is refused, keyed or not, by Runner and DCBRunner alike, and nothing is
// stored: the library would otherwise replace the caller's value without
// a word, or a later keyed retry read the caller's value as a fingerprint.
func TestMetadataSettingTheFingerprintEntryIsRefused(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	seats := newSeats(s)
	meta := annals.WithMetadata(store.Metadata{Extra: map[string]string{"annals.idempotency": "mine"}})
	for name, handle := range map[string]func(...annals.HandleOption) error{
		"runner": func(opts ...annals.HandleOption) error {
			_, err := r.Handle(ctx, "c", increment{}, opts...)
			return err
		},
		"DCB runner": func(opts ...annals.HandleOption) error {
			_, err := seats.Handle(ctx, takeSeat{"a", "ada"}, opts...)
			return err
		},
	} {
		for _, opts := range [][]annals.HandleOption{{meta}, {meta, annals.WithIdempotencyKey("k")}} {
			err := handle(opts...)
			if !errors.Is(err, store.ErrInvalid) || errors.Is(err, annals.ErrStored) || !strings.Contains(err.Error(), `"annals.idempotency"`) {
				t.Errorf("%s with %d options: %v; want store.ErrInvalid naming the entry, and nothing stored", name, len(opts), err)
			}
		}
	}
	if head, err := s.Head(ctx); err != nil || head != 0 {
		t.Fatalf("head = %d, %v; want nothing stored", head, err)
	}
	// Another entry of the caller's is kept beside the fingerprint.
	own := annals.WithMetadata(store.Metadata{Extra: map[string]string{"tenant": "t1"}})
	if _, err := r.Handle(ctx, "c", increment{}, own, annals.WithIdempotencyKey("k")); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ReadLog(ctx, store.LogQuery{})
	if err != nil || len(recs) != 1 || recs[0].Metadata.Extra["tenant"] != "t1" || recs[0].Metadata.Extra["annals.idempotency"] == "" {
		t.Fatalf("the keyed command's event: %+v, %v; want the caller's entry and a fingerprint", recs, err)
	}
}
