package annals_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/upcast"
	"github.com/annals-dev/annals/view"
)

// tally is a view per counter stream: how many increments it saw and the
// last value, so a doubled or skipped event shows.
type tally struct {
	Count int `json:"count"`
	Last  int `json:"last"`
}

var tallyView = view.View[tally, incremented]{
	Evolve: func(t tally, e incremented) tally { return tally{Count: t.Count + 1, Last: e.To} },
}

func byStream(r store.Record, _ incremented) (string, bool) { return r.StreamID, true }

func newTally(s *annals.Store, opts ...annals.ConsumerOption) *annals.ViewProjection[tally, incremented] {
	return annals.NewViewProjection(s, "tally", tallyView, counterCodec(), byStream, opts...)
}

// For any interleaving of appends and projection steps, with any batch
// size, the projected states equal each stream's replay, and a rebuild
// from zero gives the same states.
func TestViewProjectionIncrementalEqualsRebuild(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		s := annals.New(memory.New())
		r := annals.NewRunner(s, counter, counterCodec())
		p := newTally(s, annals.WithBatchSize(rapid.IntRange(1, 7).Draw(t, "batch")))
		streams := []string{"a", "b", "c"}
		counts := map[string]int{}
		for range rapid.IntRange(0, 40).Draw(t, "steps") {
			if rapid.Bool().Draw(t, "project") {
				if _, err := p.Step(ctx); err != nil {
					t.Fatal(err)
				}
				continue
			}
			id := rapid.SampledFrom(streams).Draw(t, "stream")
			if _, err := r.Handle(ctx, id, increment{}); err != nil {
				t.Fatal(err)
			}
			counts[id]++
		}
		if _, err := p.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		check := func(what string) {
			for _, id := range streams {
				got, err := p.Get(ctx, id)
				if counts[id] == 0 {
					if !errors.Is(err, store.ErrNotFound) || got != (tally{}) {
						t.Fatalf("%s: stream %s with no events: %+v, %v; want the initial state and store.ErrNotFound", what, id, got, err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if want := (tally{Count: counts[id], Last: counts[id]}); got != want {
					t.Fatalf("%s: stream %s view %+v, want %+v", what, id, got, want)
				}
			}
		}
		check("incremental")
		if err := p.Rebuild(ctx, nil); err != nil {
			t.Fatal(err)
		}
		check("rebuilt")
	})
}

func appendN(t interface {
	Helper()
	Fatal(...any)
}, r *annals.Runner[increment, incremented, int], stream string, n int) {
	t.Helper()
	for range n {
		if _, err := r.Handle(context.Background(), stream, increment{}); err != nil {
			t.Fatal(err)
		}
	}
}

// A handler that fails on one event stops its projection there: the events
// before it commit, the checkpoint stays before it, other projections go
// on, and the fixed handler resumes at that event.
func TestProjectionStopsAtFailingEventAndResumes(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 12)

	var broken sync.Mutex
	failAt := int64(7)
	handler := func(ctx context.Context, tx store.StateTx, r store.Record) error {
		broken.Lock()
		defer broken.Unlock()
		if r.Position == failAt {
			return errors.New("cannot handle this one")
		}
		// Record in the transaction, so only committed applications count.
		return tx.SaveState(ctx, "applied", fmt.Sprint(r.Position), []byte("x"))
	}
	p := must(annals.NewRecordProjection(s, "fragile", handler, annals.WithBatchSize(5)))
	other := newTally(s)

	_, err := p.CatchUp(ctx)
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Position != 7 || stopped.Consumer != "fragile" || stopped.Type != "Incremented" {
		t.Fatalf("CatchUp error = %v, want a ConsumerError at position 7", err)
	}
	if !strings.Contains(err.Error(), "position 7") || !strings.Contains(err.Error(), "cannot handle this one") {
		t.Errorf("error %q does not say where and why", err)
	}
	if pos, _ := p.Position(ctx); pos != 6 {
		t.Fatalf("checkpoint = %d after failing at 7, want 6", pos)
	}
	if _, err := other.CatchUp(ctx); err != nil {
		t.Fatalf("another projection: %v", err)
	}
	if got, _ := other.Get(ctx, "c"); got.Count != 12 {
		t.Fatalf("the other projection saw %d events, want 12", got.Count)
	}

	broken.Lock()
	failAt = -1 // the fix
	broken.Unlock()
	if n, err := p.CatchUp(ctx); err != nil || n != 6 {
		t.Fatalf("after the fix CatchUp handled %d events, %v; want the 6 from position 7", n, err)
	}
	for pos := int64(1); pos <= 12; pos++ {
		if _, ok, _ := s.LoadState(ctx, "applied", fmt.Sprint(pos)); !ok {
			t.Errorf("event at position %d was never applied", pos)
		}
	}
}

func TestRebuildReportsProgress(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 23)
	p := newTally(s, annals.WithBatchSize(10))
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var reports []annals.Progress
	if err := p.Rebuild(ctx, func(pr annals.Progress) { reports = append(reports, pr) }); err != nil {
		t.Fatal(err)
	}
	if got := lo.Map(reports, func(pr annals.Progress, _ int) int64 { return pr.Position }); fmt.Sprint(got) != "[10 20 23]" {
		t.Fatalf("progress reported at positions %v for 23 events in batches of 10, want one report a batch: [10 20 23]", got)
	}
	for i, pr := range reports {
		if pr.Head != 23 || pr.Events != int(pr.Position) {
			t.Fatalf("report %d = %+v, want head 23 and as many events as its position", i, pr)
		}
	}
	if last := reports[len(reports)-1]; last.Position != 23 || last.Events != 23 || last.Rate <= 0 {
		t.Fatalf("last report %+v, want position 23, 23 events and a rate", last)
	}
	if got, _ := p.Get(ctx, "c"); got.Count != 23 {
		t.Fatalf("rebuilt view counted %d, want 23", got.Count)
	}
}

// A rebuild that loses batches to another instance of the projection (an
// application's instance, which carries on from the checkpoint the
// rebuild set) goes on from where that instance got to, as catching up
// does, and the read model ends as a rebuild alone leaves it.
func TestARebuildGoesOnFromAnotherInstancesProgress(t *testing.T) {
	// 3: the other instance commits three batches in the middle; 8: it
	// commits every batch from position 5 to the end, so that the
	// rebuild's last step finds nothing left to do.
	for _, races := range []int{3, 8} {
		t.Run(fmt.Sprint(races), func(t *testing.T) {
			ctx := context.Background()
			mem := &commitsRaced{Store: memory.New()}
			s := annals.New(mem)
			appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 43)
			p := newTally(s, annals.WithBatchSize(5), annals.WithoutLease())
			other := newTally(s, annals.WithBatchSize(5), annals.WithoutLease())
			if _, err := p.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			var positions []int64
			err := p.Rebuild(ctx, func(pr annals.Progress) {
				positions = append(positions, pr.Position)
				if pr.Position == 5 {
					// From here the other instance commits first: the
					// rebuild's next commits each find the checkpoint moved.
					mem.race(races, func() {
						if _, err := other.Step(ctx); err != nil {
							t.Errorf("the other instance's step: %v", err)
						}
					})
				}
			})
			if err != nil {
				t.Fatalf("rebuild that lost batches to another instance: %v", err)
			}
			if mem.raced != races {
				t.Fatalf("the other instance committed first %d times, want %d: the test did not race", mem.raced, races)
			}
			if got, _ := p.Get(ctx, "c"); got.Count != 43 {
				t.Fatalf("rebuilt view counted %d, want 43", got.Count)
			}
			if last := positions[len(positions)-1]; last != 43 {
				t.Fatalf("progress reported at %v, want it to end at the head, 43", positions)
			}
		})
	}
}

// A rebuild begun while another instance of the projection commits
// batches is not failed by the instance's progress: its reset, which
// found the checkpoint moved, reads it again and resets from there.
func TestARebuildsResetGoesOnFromAnotherInstancesProgress(t *testing.T) {
	ctx := context.Background()
	mem := &commitsRaced{Store: memory.New()}
	s := annals.New(mem)
	runner := annals.NewRunner(s, counter, counterCodec())
	appendN(t, runner, "c", 43)
	p := newTally(s, annals.WithBatchSize(5), annals.WithoutLease())
	other := newTally(s, annals.WithBatchSize(5), annals.WithoutLease())
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	appendN(t, runner, "d", 20)
	mem.raceResets(3, func() {
		if _, err := other.Step(ctx); err != nil {
			t.Errorf("the other instance's step: %v", err)
		}
	})
	// Events appended while it runs take it past the head it began with:
	// its progress never reports a position past the head it names.
	var reports []annals.Progress
	err := p.Rebuild(ctx, func(pr annals.Progress) {
		if len(reports) == 0 {
			appendN(t, runner, "e", 7)
		}
		reports = append(reports, pr)
	})
	if err != nil {
		t.Fatalf("rebuild whose reset lost to another instance's commits: %v", err)
	}
	if mem.raced != 3 {
		t.Fatalf("the other instance committed before %d resets, want 3: the test did not race", mem.raced)
	}
	if last := reports[len(reports)-1]; last.Position != 70 || last.Head != 70 {
		t.Fatalf("the last report is at %d of %d, want 70 of 70", last.Position, last.Head)
	}
	for _, r := range reports {
		if r.Position > r.Head {
			t.Fatalf("a report at %d of %d: past its head", r.Position, r.Head)
		}
	}
	for key, want := range map[string]int{"c": 43, "d": 20, "e": 7} {
		if got, _ := p.Get(ctx, key); got.Count != want {
			t.Fatalf("rebuilt view counted %d for %s, want %d", got.Count, key, want)
		}
	}
}

// commitsRaced runs a function before the next commits of a consumer that
// move its checkpoint forward: another instance's commit, made after the
// consumer read its checkpoint and before it commits.
type commitsRaced struct {
	*memory.Store
	left   int
	before func()
	raced  int
	resets bool
}

func (m *commitsRaced) race(times int, before func()) { m.left, m.before = times, before }

// raceResets races the next times resets (commits that move a checkpoint
// back to 0) instead of the commits that move it forward.
func (m *commitsRaced) raceResets(times int, before func()) {
	m.race(times, before)
	m.resets = true
}

func (m *commitsRaced) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if m.left > 0 && (to > from) != m.resets {
		m.left--
		left := m.left
		m.left = 0 // the other instance's own commit is not raced
		m.before()
		m.raced++
		m.left = left
	}
	return m.Store.Commit(ctx, consumer, from, to, fn)
}

// A projection's handler that writes to the store it reads is refused at
// once, by every way of writing, and nothing is stored: its transaction
// holds the store (SQLite's writer, a Sync system's checkpoints), so the
// write would wait for the handler until its deadline, and a rebuild
// would write again. A write with another context, or to another store,
// is not the library's to see.
func TestAProjectionsHandlerMayNotWriteToItsStore(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "c", 1)
	var errs []error
	p := must(annals.NewRecordProjection(s, "writer", func(ctx context.Context, _ store.StateTx, rec store.Record) error {
		_, err := r.Handle(ctx, "other", increment{})
		errs = append(errs, err)
		_, err = s.Append(ctx, "other", store.AnyVersion, []store.Event{{Type: "Incremented", Data: []byte(`{}`)}})
		errs = append(errs, err)
		_, err = s.AppendIf(ctx, "other", store.AnyVersion, []store.Event{{Type: "Incremented", Data: []byte(`{}`)}}, store.AppendCondition{})
		errs = append(errs, err)
		errs = append(errs, s.SetCheckpoint(ctx, "other", 1))
		errs = append(errs, s.Commit(ctx, "other", 0, 1, func(store.StateTx) error { return nil }))
		errs = append(errs, s.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "c", Version: 1, Type: "int", Data: []byte(`1`)}))
		_, err = s.CreateSubjectKey(ctx, store.SubjectKey{Subject: "new", KeyID: "k", Wrapped: []byte("w")})
		errs = append(errs, err)
		errs = append(errs, s.DeleteSubjectKey(ctx, "kept"))
		_, err = s.Lock(ctx, "lease")
		errs = append(errs, err)
		return nil
	}))
	if _, err := s.CreateSubjectKey(ctx, store.SubjectKey{Subject: "kept", KeyID: "k", Wrapped: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 9 {
		t.Fatalf("the handler ran %d writes, want 9", len(errs))
	}
	for i, err := range errs {
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `from inside the handler of projection "writer"`) || !strings.Contains(err.Error(), "annals.NewSaga") {
			t.Errorf("write %d from the handler: %v, want store.ErrInvalid naming the projection and what to do", i, err)
		}
	}
	if head, _ := s.Head(ctx); head != 1 {
		t.Fatalf("head %d after the handler's writes, want 1: nothing stored", head)
	}
	if pos, err := s.Checkpoint(ctx, "other"); pos != 0 || err != nil {
		t.Fatalf("checkpoint of other after the handler's writes: %d, %v; want 0", pos, err)
	}
	if _, ok, err := s.LatestSnapshot(ctx, "c"); ok || err != nil {
		t.Fatalf("a snapshot after the handler's writes: %v, %v; want none", ok, err)
	}
	if _, err := s.SubjectKey(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the key the handler created: %v; want none", err)
	}
	if _, err := s.SubjectKey(ctx, "kept"); err != nil {
		t.Fatalf("the key the handler deleted: %v; want it kept", err)
	}
}

// A consumer may not take the name of a checkpoint the library keeps
// beside the consumers' own (a read model's schema version, the mark of
// an unfinished copy): it would read or move that checkpoint.
func TestAConsumerNameMayNotBeReserved(t *testing.T) {
	s := annals.New(memory.New())
	for _, name := range []string{"schema:tally", "annals:copy-unfinished"} {
		_, err := annals.NewRecordProjection(s, name, func(context.Context, store.StateTx, store.Record) error { return nil })
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "name the consumer otherwise") {
			t.Errorf("projection named %q: %v, want store.ErrInvalid saying to rename it", name, err)
		}
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "name the consumer otherwise") {
					t.Errorf("process named %q: recovered %v, want a panic saying to rename it", name, r)
				}
			}()
			annals.NewSaga(s, name, mirrorSaga(0), counterCodec(), dispatchTo(annals.NewRunner(s, counter, counterCodec()), "b"))
		}()
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "name the consumer otherwise") {
					t.Errorf("view named %q: recovered %v, want a panic saying to rename it", name, r)
				}
			}()
			annals.NewViewProjection(s, name, tallyView, counterCodec(), byStream)
		}()
	}
	if _, err := annals.NewRecordProjection(s, "schemas", func(context.Context, store.StateTx, store.Record) error { return nil }); err != nil {
		t.Errorf("a name that only begins like a reserved one: %v", err)
	}
}

// A projection that reads only some types still moves its checkpoint to
// the head, so a system can tell that it is up to date.
func TestFilteredProjectionReachesHead(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	if _, err := s.Append(ctx, "other", store.NoStream, []store.Event{{Type: "Unrelated"}, {Type: "Unrelated"}}); err != nil {
		t.Fatal(err)
	}
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 2)
	if _, err := s.Append(ctx, "other", 2, []store.Event{{Type: "Unrelated"}}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	p := must(annals.NewRecordProjection(s, "filtered", func(context.Context, store.StateTx, store.Record) error { calls++; return nil },
		annals.WithTypes("Incremented"), annals.WithBatchSize(1)))
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if pos, _ := p.Position(ctx); pos != 5 || calls != 2 {
		t.Fatalf("checkpoint %d after %d calls; want the head 5 after 2", pos, calls)
	}
}

// Instances of one projection catching up at once, without leases, still
// apply every event exactly once, and none returns an error: the
// checkpoint is compared and set.
func TestRacingInstancesApplyEachEventOnce(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	for _, id := range []string{"a", "b", "c", "d"} {
		appendN(t, r, id, 50)
	}
	var wg sync.WaitGroup
	for range 3 {
		p := newTally(s, annals.WithBatchSize(3), annals.WithoutLease())
		wg.Go(func() {
			// A batch the other instances committed first is progress,
			// not an error.
			if _, err := p.CatchUp(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, id := range []string{"a", "b", "c", "d"} {
		if got, _ := newTally(s).Get(ctx, id); got != (tally{Count: 50, Last: 50}) {
			t.Fatalf("stream %s: %+v, want 50 events applied once each", id, got)
		}
	}
}

// Instances of one projection following the log at once without leases
// (Run with WithoutLease) take a batch another instance committed first
// as its progress: none of them returns an error, and every event is
// applied once.
func TestRacingRunsWithoutLeasesReturnNoError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		p := newTally(s, annals.WithBatchSize(2), annals.WithoutLease())
		wg.Go(func() { errs <- p.Run(ctx) })
	}
	for range 100 {
		for _, id := range []string{"a", "b"} {
			appendN(t, r, id, 1)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for pos, _ := newTally(s).Position(ctx); pos < 200; pos, _ = newTally(s).Position(ctx) {
		select {
		case err := <-errs:
			t.Fatalf("an instance's Run returned %v while the others ran", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint is at %d, want 200", pos)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want only the cancel", err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if got, _ := newTally(s).Get(context.Background(), id); got != (tally{Count: 100, Last: 100}) {
			t.Fatalf("stream %s: %+v, want 100 events applied once each", id, got)
		}
	}
}

// readCountingStore counts the reads of checkpoints and of the head.
type readCountingStore struct {
	*memory.Store
	checkpoints, heads atomic.Int64
}

func (c *readCountingStore) Checkpoint(ctx context.Context, name string) (int64, error) {
	c.checkpoints.Add(1)
	return c.Store.Checkpoint(ctx, name)
}

func (c *readCountingStore) Head(ctx context.Context) (int64, error) {
	c.heads.Add(1)
	return c.Store.Head(ctx)
}

// While a projection catches up over full pages, each step reads only its
// page: the checkpoint is where the last commit set it, and a full page
// needs no head. For any log and batch size, the checkpoint and the head
// are read at most three times in a catch-up (by its first step, by the
// step of the short page at the end, and by the step that finds nothing
// more), where reading them every step would read them once a page; and
// every event is applied once.
func TestCatchUpReadsOnlyPagesWhileBehind(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		s := annals.New(&readCountingStore{Store: memory.New()})
		counting := s.Adapter().(*readCountingStore)
		r := annals.NewRunner(s, counter, counterCodec())
		ids := []string{"a", "b", "c"}
		counts := rapid.SliceOfN(rapid.IntRange(0, 40), len(ids), len(ids)).Draw(rt, "counts")
		for i, id := range ids {
			appendN(rt, r, id, counts[i])
		}
		batch := rapid.IntRange(1, 20).Draw(rt, "batch")
		p := newTally(s, annals.WithBatchSize(batch), annals.WithoutLease())
		if _, err := p.CatchUp(ctx); err != nil {
			rt.Fatal(err)
		}
		if c, h := counting.checkpoints.Load(), counting.heads.Load(); c > 3 || h > 3 {
			rt.Fatalf("a catch-up over %d events in batches of %d read the checkpoint %d times and the head %d times; want at most 3 each",
				counts[0]+counts[1]+counts[2], batch, c, h)
		}
		for i, id := range ids {
			if got, _ := p.Get(ctx, id); got != (tally{Count: counts[i], Last: counts[i]}) {
				rt.Fatalf("stream %s: %+v, want %d events applied once each", id, got, counts[i])
			}
		}
	})
}

// A projection whose checkpoint another instance moved since its last
// step starts again from where the checkpoint is, without an error and
// without applying an event twice.
func TestProjectionFollowsACheckpointMovedElsewhere(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "a", 10)
	first := newTally(s, annals.WithBatchSize(3), annals.WithoutLease())
	second := newTally(s, annals.WithBatchSize(3), annals.WithoutLease())
	steps := []*annals.ViewProjection[tally, incremented]{first, second, second, first, first, second}
	var handled []int
	for i, p := range steps {
		n, err := p.Step(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		handled = append(handled, n)
	}
	if want := []int{3, 3, 3, 1, 0, 0}; !slices.Equal(handled, want) {
		t.Fatalf("the steps handled %v events, want %v", handled, want)
	}
	if got, _ := first.Get(ctx, "a"); got != (tally{Count: 10, Last: 10}) {
		t.Fatalf("stream a: %+v, want 10 events applied once each", got)
	}
}

// Run holds the projection's lease: while the first instance runs, a
// second waits and handles nothing; when the first stops, the second takes
// over from its checkpoint.
func TestRunTakesOverWhenTheHolderStops(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	instance := func(name string) *annals.Projection[store.StateTx] {
		return must(annals.NewRecordProjection(s, "who", func(ctx context.Context, tx store.StateTx, rec store.Record) error {
			return tx.SaveState(ctx, "who", fmt.Sprint(rec.Position), []byte(name))
		}))
	}
	handledBy := func(pos int64) string {
		for {
			data, ok, err := s.LoadState(ctx, "who", fmt.Sprint(pos))
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				return string(data)
			}
			runtimeYield()
		}
	}
	run := func(name string) (context.CancelFunc, chan error) {
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- instance(name).Run(runCtx) }()
		return stop, done
	}

	appendN(t, r, "c", 3)
	stopFirst, firstDone := run("first")
	if got := handledBy(3); got != "first" {
		t.Fatalf("event 3 handled by %q", got)
	}
	stopSecond, secondDone := run("second")
	appendN(t, r, "c", 3)
	for pos := int64(4); pos <= 6; pos++ {
		if got := handledBy(pos); got != "first" {
			t.Fatalf("event %d handled by %q while the first instance held the lease", pos, got)
		}
	}
	stopFirst()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("first Run returned %v, want context.Canceled", err)
	}
	appendN(t, r, "c", 2)
	for pos := int64(7); pos <= 8; pos++ {
		if got := handledBy(pos); got != "second" {
			t.Fatalf("event %d handled by %q after the first instance stopped", pos, got)
		}
	}
	stopSecond()
	if err := <-secondDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("second Run returned %v, want context.Canceled", err)
	}
}

// losingLocker grants leases that the test can make lost.
type losingLocker struct {
	*memory.Store
	lost chan struct{}
}

type losableLease struct {
	store.Lease
	lost chan struct{}
}

func (l losableLease) Lost() <-chan struct{} { return l.lost }

func (s losingLocker) Lock(ctx context.Context, name string) (store.Lease, error) {
	l, err := s.Store.Lock(ctx, name)
	return losableLease{Lease: l, lost: s.lost}, err
}

func TestRunStopsWhenTheLeaseIsLost(t *testing.T) {
	ctx := context.Background()
	lost := make(chan struct{})
	s := annals.New(losingLocker{Store: memory.New(), lost: lost})
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 2)
	done := make(chan error, 1)
	go func() { done <- newTally(s).Run(ctx) }()
	for {
		if v, _ := newTally(s).Get(ctx, "c"); v.Count == 2 {
			break
		}
		runtimeYield()
	}
	close(lost)
	if err := <-done; !errors.Is(err, store.ErrLeaseLost) || !strings.Contains(err.Error(), `"tally"`) {
		t.Fatalf("Run after losing its lease returned %v, want store.ErrLeaseLost naming the consumer", err)
	}
}

// A view reads events stored under a name its upcaster renames from: the
// type filter a mapper gives includes the old names.
func TestProjectionReadsRenamedTypes(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	if _, err := s.Append(ctx, "c", store.NoStream, []store.Event{{Type: "Bumped", Data: []byte(`{"To":1}`)}}); err != nil {
		t.Fatal(err)
	}
	m := codec.NewMapper(counterCodec(), codec.WithUpcaster(upcast.New().Rename("Bumped", "Incremented")))
	appendN(t, annals.NewRunner(s, counter, m), "c", 1)
	p := annals.NewViewProjection(s, "renamed", tallyView, m, byStream)
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Get(ctx, "c"); got != (tally{Count: 2, Last: 2}) {
		t.Fatalf("view = %+v, want both events, the old-named one included", got)
	}
}

// A batch handler that fails after applying some events commits those and
// stops at the first it did not apply.
func TestBatchProjectionStopsWhereTheBatchFailed(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 10)
	broken := true
	var batches []int
	p := must(annals.NewRecordBatchProjection(s, "batched", func(ctx context.Context, tx store.StateTx, recs []store.Record) (int, error) {
		batches = append(batches, len(recs))
		for i, r := range recs {
			if broken && r.Position == 7 {
				return i, errors.New("row 7 refused")
			}
			if err := tx.SaveState(ctx, "batched", fmt.Sprint(r.Position), nil); err != nil {
				return i, err
			}
		}
		return len(recs), nil
	}, annals.WithBatchSize(4)))
	_, err := p.CatchUp(ctx)
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Position != 7 {
		t.Fatalf("CatchUp = %v, want a ConsumerError at position 7", err)
	}
	if pos, _ := p.Position(ctx); pos != 6 {
		t.Fatalf("checkpoint %d, want 6: the batch's events before 7 commit", pos)
	}
	// Batches of 4: 1-4, then 5-8 fails at 7 and 5-6 is applied again.
	if fmt.Sprint(batches) != "[4 4 2]" {
		t.Fatalf("handler saw batches %v, want [4 4 2]", batches)
	}
	broken = false
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	for pos := 1; pos <= 10; pos++ {
		if _, ok, _ := s.LoadState(ctx, "batched", fmt.Sprint(pos)); !ok {
			t.Errorf("event %d not applied", pos)
		}
	}
}

// A batch handler that returns no error but fewer events than its batch
// (or more) stops at the first it did not claim: the checkpoint never
// passes an event it did not apply.
func TestBatchProjectionStopsAtAShortCountWithNoError(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 5)
	for name, c := range map[string]struct {
		count      func(n int) int
		stopAt, at int64 // where it stops, and the checkpoint it leaves
	}{
		"short": {func(n int) int { return min(n, 2) }, 3, 2}, // claims 2 of 5: stops at the third, the first two committed
		"long":  {func(n int) int { return n + 1 }, 1, 0},     // claims more than it had: nothing of it is trusted
	} {
		t.Run(name, func(t *testing.T) {
			p := must(annals.NewBatchProjection(s, "batch-"+name, counterCodec(), func(_ context.Context, _ store.StateTx, evs []annals.Envelope[incremented]) (int, error) {
				return c.count(len(evs)), nil
			}))
			_, err := p.CatchUp(ctx)
			var stopped *annals.ConsumerError
			if !errors.As(err, &stopped) || stopped.Position != c.stopAt || !strings.Contains(err.Error(), "for a batch of") {
				t.Fatalf("CatchUp = %v, want a ConsumerError at position %d that says the count was not the batch's", err, c.stopAt)
			}
			if pos, _ := p.Position(ctx); pos != c.at {
				t.Fatalf("checkpoint %d, want %d: the events the handler did not claim were passed", pos, c.at)
			}
		})
	}
}

// A rebuild of an empty log still reports once, so that a caller
// waiting for its end hears of it; a rebuild through LogProgress logs
// its first batch and its end once each.
func TestRebuildReportsAnEmptyLogAndLogsTheEndOnce(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	p := newTally(s, annals.WithBatchSize(10))
	var reports []annals.Progress
	if err := p.Rebuild(ctx, func(pr annals.Progress) { reports = append(reports, pr) }); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || reports[0].Events != 0 || reports[0].Head != 0 {
		t.Fatalf("an empty log's rebuild reported %+v, want one report of nothing", reports)
	}

	appendN(t, annals.NewRunner(s, counter, counterCodec()), "c", 23)
	var buf strings.Builder
	if err := p.Rebuild(ctx, annals.LogProgress(slog.New(slog.NewTextHandler(&buf, nil)), "tally", time.Hour)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "position=10") || !strings.Contains(lines[1], "position=23") {
		t.Fatalf("rebuild logged %d lines, want the first batch's and the end's:\n%s", len(lines), buf.String())
	}
}

func TestLogProgressIsThrottledButLogsTheEnd(t *testing.T) {
	var buf strings.Builder
	l := slog.New(slog.NewTextHandler(&buf, nil))
	report := annals.LogProgress(l, "tally", time.Hour)
	for pos := int64(1); pos <= 10; pos++ {
		report(annals.Progress{Events: int(pos), Position: pos, Head: 10, Elapsed: time.Second, Rate: float64(pos)})
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 10 reports within the interval, want the first and the last:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[1], "position=10") || !strings.Contains(lines[1], "percent=100.0") || !strings.Contains(lines[1], "consumer=tally") {
		t.Fatalf("last line %q does not report the end", lines[1])
	}
}

// A view keeps the states it committed, to evolve them without loading
// them back; a batch that starts from a checkpoint another instance moved
// makes it load them again. Two instances of one view, taking turns on
// one stream's events in batches of two, end with the replayed state.
func TestViewCacheSeesAnotherInstancesCommits(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	a := newTally(s, annals.WithBatchSize(2))
	b := newTally(s, annals.WithBatchSize(2))
	for _, turn := range []struct {
		events int
		by     *annals.ViewProjection[tally, incremented]
	}{{2, a}, {1, b}, {1, a}, {3, b}, {2, a}, {1, a}} {
		appendN(t, r, "c", turn.events)
		if _, err := turn.by.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Get(ctx, "c")
	if err != nil || got != (tally{Count: 10, Last: 10}) {
		t.Fatalf("view = %+v, %v; want 10 events counted once each", got, err)
	}
}

// A batch size below 1 keeps the default, as a page limit of 0 does,
// rather than make every event a transaction of its own.
func TestABatchSizeBelowOneKeepsTheDefault(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	evs := lo.Times(annals.DefaultBatchSize+1, func(int) store.Event { return store.Event{Type: "T"} })
	must(s.Append(ctx, "x", store.NoStream, evs))
	for _, n := range []int{0, -3} {
		p := must(annals.NewRecordProjection(s, fmt.Sprintf("p%d", n), func(context.Context, store.StateTx, store.Record) error { return nil }, annals.WithBatchSize(n)))
		if got := must(p.Step(ctx)); got != annals.DefaultBatchSize {
			t.Errorf("WithBatchSize(%d): a step handled %d events; want the default batch, %d", n, got, annals.DefaultBatchSize)
		}
	}
}

// failCommitTo fails, as a lost connection, the next commits of a consumer
// that move its checkpoint to position to.
type failCommitTo struct {
	*memory.Store
	to   int64
	left int
}

func (m *failCommitTo) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if m.left > 0 && to == m.to {
		m.left--
		return errors.New("connection lost")
	}
	return m.Store.Commit(ctx, consumer, from, to, fn)
}

// A consumer that stops at an event and then fails to commit the events
// before it has handled none of them: its error is the commit's, to be
// retried, not a *ConsumerError, whose position would say they were
// handled (and an ops reset past it would skip them). Run again, it
// commits them and stops at the event.
func TestAStopWhoseEarlierEventsFailToCommitIsNoStop(t *testing.T) {
	ctx := context.Background()
	errHandler := errors.New("handler refuses 3")
	for name, newConsumer := range map[string]func(s *annals.Store, r *annals.Runner[increment, incremented, int]) annals.Consumer{
		"projection": func(s *annals.Store, _ *annals.Runner[increment, incremented, int]) annals.Consumer {
			return must(annals.NewProjection(s, "c", counterCodec(), func(_ context.Context, _ store.StateTx, ev annals.Envelope[incremented]) error {
				if ev.Event.To == 3 {
					return errHandler
				}
				return nil
			}))
		},
		"saga": func(s *annals.Store, r *annals.Runner[increment, incremented, int]) annals.Consumer {
			return annals.NewSaga(s, "c", mirrorSaga(0), counterCodec(), func(context.Context, bump, annals.Cause) error { return errHandler })
		},
	} {
		t.Run(name, func(t *testing.T) {
			mem := &failCommitTo{Store: memory.New()}
			s := annals.New(mem)
			r := annals.NewRunner(s, counter, counterCodec())
			appendN(t, r, "a-1", 5)
			c := newConsumer(s, r)

			mem.to, mem.left = 2, 1 // the commit of events 1 and 2
			_, err := c.Step(ctx)
			var stopped *annals.ConsumerError
			if err == nil || errors.As(err, &stopped) || !strings.Contains(err.Error(), "connection lost") || !strings.Contains(err.Error(), errHandler.Error()) {
				t.Fatalf("step whose commit of the events before the failed one failed: %v; want the commit's error, naming the handler's, and no ConsumerError", err)
			}
			if pos, err := s.Checkpoint(ctx, "c"); err != nil || pos != 0 {
				t.Fatalf("checkpoint %d, %v; want 0", pos, err)
			}

			_, err = c.Step(ctx)
			if !errors.As(err, &stopped) || stopped.Position != 3 || !errors.Is(err, errHandler) {
				t.Fatalf("step run again: %v; want a ConsumerError at position 3", err)
			}
			if pos, err := s.Checkpoint(ctx, "c"); err != nil || pos != 2 {
				t.Fatalf("checkpoint %d, %v; want 2", pos, err)
			}
		})
	}
}

// A key that no store can hold stops a view at the event it was returned
// for, with the events before it committed, not at the first event of its
// batch.
func TestAViewStopsAtTheEventWhoseKeyCannotBeStored(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	r := annals.NewRunner(s, counter, counterCodec())
	for _, id := range []string{"a", "b", "c", strings.Repeat("z", store.MaxStreamIDLen-1)} {
		appendN(t, r, id, 1)
	}
	long := func(rec store.Record, _ incremented) (string, bool) { return rec.StreamID + rec.StreamID, true }
	v := annals.NewViewProjection(s, "doubled", tallyView, counterCodec(), long)
	_, err := v.CatchUp(ctx)
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Position != 4 || !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("catch up: %v; want a stop at position 4, the event whose key is too long", err)
	}
	if pos, err := v.Position(ctx); err != nil || pos != 3 {
		t.Fatalf("checkpoint %d, %v; want 3, the events before the stop committed", pos, err)
	}
	if got, err := v.Get(ctx, "cc"); err != nil || got.Count != 1 {
		t.Fatalf("state of cc: %+v, %v; want one event", got, err)
	}
}

// A stored view state that does not decode says why and what to do: not
// JSON, it matches store.ErrCorrupt; JSON of another state type, it says
// that the view is rebuilt from the log.
func TestAStoredStateThatDoesNotDecodeSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	s := annals.New(mem)
	r := annals.NewRunner(s, counter, counterCodec())
	appendN(t, r, "a", 1)
	appendN(t, r, "b", 1)
	v := newTally(s)
	if _, err := v.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	for key, c := range map[string]struct {
		data    string
		corrupt bool
	}{
		"a": {`{"count":`, true},
		"b": {`{"last":9,"count":"one"}`, false},
	} {
		if err := mem.Commit(ctx, "edit", 0, 0, func(tx store.StateTx) error {
			return tx.SaveState(ctx, "tally", key, []byte(c.data))
		}); err != nil {
			t.Fatal(err)
		}
		got, err := v.Get(ctx, key)
		if err == nil || errors.Is(err, store.ErrCorrupt) != c.corrupt || !strings.Contains(err.Error(), "ops rebuild tally") {
			t.Errorf("state %s: %v; want corrupt %v, and the rebuild named", c.data, err, c.corrupt)
		}
		if got != (tally{}) {
			t.Errorf("state %s: Get returned %+v with its error; want the zero state, not a part of the stored one", c.data, got)
		}
	}
}

// A consumer's name leaves room for the names derived from it, of its
// lease and of its read model's schema version: one past
// MaxConsumerNameLen is refused by every constructor, naming the
// constructor, and the longest runs under Run and with migrations.
func TestAConsumerNameLeavesRoomForItsLeaseAndSchema(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := annals.New(memory.New())
	tooLong := strings.Repeat("n", annals.MaxConsumerNameLen+1)
	if _, err := annals.NewRecordProjection(s, tooLong, func(context.Context, store.StateTx, store.Record) error { return nil }); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "MaxConsumerNameLen") {
		t.Errorf("a projection named one byte too long: %v, want store.ErrInvalid naming the limit", err)
	}
	if _, err := annals.NewRelay(s, tooLong, publishFunc(func(context.Context, []store.Record) error { return nil })); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a relay named one byte too long: %v, want store.ErrInvalid", err)
	}
	for constructor, build := range map[string]func(){
		"NewSaga": func() {
			annals.NewSaga(s, tooLong, mirrorSaga(0), counterCodec(), dispatchTo(annals.NewRunner(s, counter, counterCodec()), "b"))
		},
		"NewViewProjection": func() { annals.NewViewProjection(s, tooLong, tallyView, counterCodec(), byStream) },
	} {
		if msg := panicMessage(build); !strings.Contains(msg, "annals: "+constructor+":") || !strings.Contains(msg, "MaxConsumerNameLen") {
			t.Errorf("%s with a name one byte too long panicked with %q, want a message naming %s and the limit", constructor, msg, constructor)
		}
	}
	longest := strings.Repeat("n", annals.MaxConsumerNameLen)
	p, err := annals.NewRecordProjection(s, longest, func(context.Context, store.StateTx, store.Record) error { return nil },
		annals.WithSchema(func(context.Context, store.StateTx) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, annals.NewRunner(s, counter, counterCodec()), "a-1", 2)
	running, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(running) }()
	awaitPosition(t, ctx, p, 2, "the projection with the longest name, under Run,")
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run of the projection with the longest name: %v", err)
	}
}

// A rebuild whose mapper cannot read the log, such as one given the wrong
// key, fails before it empties the view: the states and the checkpoint
// stay as they were, and the error names the first event it could not
// decode.
func TestARebuildThatCannotDecodeTheLogLeavesTheViewAsItWas(t *testing.T) {
	ctx := context.Background()
	keyring := func(key string) *codec.Keyring {
		k, err := codec.KeyringFromEnv(func(name string) string { return map[string]string{"ANNALS_CIPHER_KEY": key}[name] })
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	right := codec.NewMapper[incremented](counterCodec(), codec.WithEncryption(keyring("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")))
	wrong := codec.NewMapper[incremented](counterCodec(), codec.WithEncryption(keyring("k2:HxwdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=")))
	s := annals.New(memory.New())
	appendN(t, annals.NewRunner(s, counter, right), "c", 7)
	p := annals.NewViewProjection(s, "tally", tallyView, right, byStream)
	if _, err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	err := annals.NewViewProjection(s, "tally", tallyView, wrong, byStream).Rebuild(ctx, nil)
	var stopped *annals.ConsumerError
	if !errors.As(err, &stopped) || stopped.Position != 1 || !strings.Contains(err.Error(), "left as it was") {
		t.Fatalf("rebuild with the wrong key: %v; want it refused at position 1, the view left as it was", err)
	}
	if got, err := p.Get(ctx, "c"); err != nil || got.Count != 7 {
		t.Fatalf("view after the refused rebuild: %+v, %v; want the 7 events it had counted", got, err)
	}
	if at, err := p.Position(ctx); err != nil || at != 7 {
		t.Fatalf("checkpoint after the refused rebuild: %d, %v; want 7", at, err)
	}
}
