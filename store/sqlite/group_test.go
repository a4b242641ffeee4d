package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/internal/crashtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// groupRig forms a group of appends on purpose: a first append is held
// after its statements (its group's "written" stage) while the appends
// under test queue behind it one by one, in order; released, it commits,
// and the next group is exactly the queued appends. The hooks of that
// second group are the test's: written runs at its "written" stage,
// commit's error replaces its COMMIT.
type groupRig struct {
	t       *testing.T
	s       *sqlite.Store
	path    string
	written func(wrote int)
	commit  error

	mu      sync.Mutex
	groups  int   // groups that reached "written"
	commits []int // appends stored by each COMMIT that succeeded
	held    chan struct{}
	release chan struct{}
}

func newGroupRig(t *testing.T) *groupRig {
	r := &groupRig{t: t, held: make(chan struct{}), release: make(chan struct{})}
	r.s, r.path = openFile(t)
	// The INSERT of each batch size is prepared on the writer connection
	// when first needed, which the held group holds: prepare them now.
	var v int64
	for n := 1; n <= 4; n++ {
		var err error
		if v, err = r.s.Append(context.Background(), "warm-up", v, crashtest.Batch(v, n, nil)); err != nil {
			t.Fatal(err)
		}
	}
	sqlite.SetGroupHook(r.s, r.hook)
	return r
}

func (r *groupRig) hook(stage string, wrote int) error {
	r.mu.Lock()
	switch stage {
	case "written":
		r.groups++
		n := r.groups
		r.mu.Unlock()
		switch {
		case n == 1:
			close(r.held)
			<-r.release
		case n == 2 && r.written != nil:
			r.written(wrote)
		}
		return nil
	case "commit":
		defer r.mu.Unlock()
		if r.groups == 2 {
			return r.commit
		}
	case "committed":
		defer r.mu.Unlock()
		r.commits = append(r.commits, wrote)
	default:
		r.mu.Unlock()
	}
	return nil
}

// groupAppend is an append of the group under test and what it returned.
type groupAppend struct {
	stream   string
	expected int64
	events   []store.Event
	ctx      context.Context

	version int64
	err     error
}

// run appends each one in a goroutine of its own, in order, each queued
// before the next starts, all behind the held first append; then it
// releases the first, and returns when all have returned.
func (r *groupRig) run(appends ...*groupAppend) {
	r.t.Helper()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := r.s.Append(ctx, "first-"+uuid.NewString(), store.NoStream, []store.Event{{Type: "First"}})
		first <- err
	}()
	<-r.held
	var wg sync.WaitGroup
	for i, a := range appends {
		if a.ctx == nil {
			a.ctx = ctx
		}
		wg.Go(func() { a.version, a.err = r.s.Append(a.ctx, a.stream, a.expected, a.events) })
		waitFor(r.t, fmt.Sprintf("append %d to queue", i), func() bool { return sqlite.QueuedAppends(r.s) == i+1 })
	}
	close(r.release)
	wg.Wait()
	if err := <-first; err != nil {
		r.t.Fatalf("the first append: %v", err)
	}
}

// waitFor polls cond until it holds, for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

func event(typ string) store.Event { return store.Event{ID: uuid.New(), Type: typ, Data: []byte(typ)} }

// ids returns the IDs of the events of stream, in version order.
func ids(t *testing.T, s store.Store, stream string) []uuid.UUID {
	t.Helper()
	var out []uuid.UUID
	for r, err := range s.ReadStream(context.Background(), stream, 0) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.ID)
	}
	return out
}

// Appends queued behind a commit share the next one, and each keeps its
// own expected version and atomicity: a conflict or a refused event ID
// fails that append alone, with nothing of it stored, while the others
// commit together.
func TestGroupedAppendsFailAlone(t *testing.T) {
	r := newGroupRig(t)
	a := event("A")
	apps := []*groupAppend{
		{stream: "x", expected: store.NoStream, events: []store.Event{a, event("A2")}},
		{stream: "x", expected: store.NoStream, events: []store.Event{event("B")}},                          // x is at 2 by then
		{stream: "y", expected: store.NoStream, events: []store.Event{event("C"), {ID: a.ID, Type: "Dup"}}}, // a's ID is taken
		{stream: "y", expected: store.NoStream, events: []store.Event{event("D")}},
		{stream: "x", expected: 2, events: []store.Event{event("E")}},                           // after the first
		{stream: "z", expected: 5, events: []store.Event{event("F")}},                           // z does not exist
		{stream: "w", expected: store.NoStream, events: []store.Event{{ID: a.ID, Type: "Dup"}}}, // one event, a's ID
		{stream: "w", expected: store.NoStream, events: []store.Event{event("G")}},
	}
	r.run(apps...)
	if !errors.Is(apps[6].err, store.ErrDuplicateEvent) {
		t.Fatalf("append of one event whose ID was written earlier in the group: %v; want store.ErrDuplicateEvent", apps[6].err)
	}
	if apps[7].err != nil || apps[7].version != 1 {
		t.Fatalf("append after a refused one to the same stream: %v %d; want version 1", apps[7].err, apps[7].version)
	}

	if apps[0].err != nil || apps[0].version != 2 || apps[3].err != nil || apps[3].version != 1 || apps[4].err != nil || apps[4].version != 3 {
		t.Fatalf("the appends that fit: %v %d, %v %d, %v %d; want versions 2, 1, 3", apps[0].err, apps[0].version, apps[3].err, apps[3].version, apps[4].err, apps[4].version)
	}
	var conflict *store.ConflictError
	if !errors.As(apps[1].err, &conflict) || conflict.Actual != 2 {
		t.Fatalf("append expecting a new stream after the group's first wrote it: %v; want a conflict at version 2", apps[1].err)
	}
	if !errors.Is(apps[2].err, store.ErrDuplicateEvent) {
		t.Fatalf("append of an event ID written earlier in the group: %v; want store.ErrDuplicateEvent", apps[2].err)
	}
	if !errors.As(apps[5].err, &conflict) || conflict.Actual != 0 {
		t.Fatalf("append to a missing stream at version 5: %v; want a conflict at 0", apps[5].err)
	}
	if got := ids(t, r.s, "x"); len(got) != 3 || got[0] != a.ID || got[2] != apps[4].events[0].ID {
		t.Fatalf("stream x holds %v; want the first append's two events and the fifth's", got)
	}
	if got := ids(t, r.s, "y"); len(got) != 1 || got[0] != apps[3].events[0].ID {
		t.Fatalf("stream y holds %v; want the fourth append's event alone", got)
	}
	if got := ids(t, r.s, "z"); len(got) != 0 {
		t.Fatalf("stream z holds %v; want nothing", got)
	}
	if len(r.commits) != 2 || r.commits[1] != 4 {
		t.Fatalf("COMMITs stored %v appends; want the first alone, then the four that fit together", r.commits)
	}
	crashtest.CheckLog(t, r.s)
}

// An append whose context ends while its group is written is taken out
// before the COMMIT and told that nothing was stored; the group is written
// again without it, so that an append that depended on it now conflicts.
func TestGroupedAppendCutBeforeCommit(t *testing.T) {
	r := newGroupRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	apps := []*groupAppend{
		{stream: "x", expected: store.NoStream, events: []store.Event{event("A")}, ctx: ctx},
		{stream: "x", expected: 1, events: []store.Event{event("B")}},
		{stream: "y", expected: store.NoStream, events: []store.Event{event("C")}},
	}
	r.written = func(wrote int) {
		if wrote != 3 {
			t.Errorf("the group wrote %d appends before the cut; want 3", wrote)
		}
		cancel()
	}
	r.run(apps...)

	if !errors.Is(apps[0].err, context.Canceled) || errors.Is(apps[0].err, store.ErrOutcomeUnknown) {
		t.Fatalf("append cut before the COMMIT: %v; want context.Canceled, nothing stored", apps[0].err)
	}
	var conflict *store.ConflictError
	if !errors.As(apps[1].err, &conflict) || conflict.Actual != 0 {
		t.Fatalf("append that followed the cut one: %v; want a conflict at version 0", apps[1].err)
	}
	if apps[2].err != nil {
		t.Fatalf("independent append in the same group: %v", apps[2].err)
	}
	if got := ids(t, r.s, "x"); len(got) != 0 {
		t.Fatalf("stream x holds %v; want nothing", got)
	}
	if got := ids(t, r.s, "y"); len(got) != 1 {
		t.Fatalf("stream y holds %v; want C", got)
	}
	crashtest.CheckLog(t, r.s)
}

// A COMMIT that fails fails every append of its group, and none is stored.
func TestGroupFailedCommitFailsEveryAppend(t *testing.T) {
	r := newGroupRig(t)
	r.commit = errors.New("the disk is gone")
	apps := []*groupAppend{
		{stream: "x", expected: store.NoStream, events: []store.Event{event("A")}},
		{stream: "y", expected: store.NoStream, events: []store.Event{event("B")}},
		{stream: "y", expected: 5, events: []store.Event{event("C")}},
	}
	r.run(apps...)
	for i, a := range apps[:2] {
		if !errors.Is(a.err, r.commit) || errors.Is(a.err, store.ErrOutcomeUnknown) {
			t.Errorf("append %d of a group whose COMMIT failed: %v; want the COMMIT's error, nothing stored", i, a.err)
		}
	}
	if !errors.Is(apps[2].err, store.ErrConflict) {
		t.Errorf("append that conflicted in a group whose COMMIT failed: %v; want its conflict", apps[2].err)
	}
	if got := len(ids(t, r.s, "x")) + len(ids(t, r.s, "y")); got != 0 {
		t.Fatalf("%d events stored by a group whose COMMIT failed", got)
	}
	if _, err := r.s.Append(context.Background(), "x", store.NoStream, []store.Event{event("D")}); err != nil {
		t.Fatalf("append after the failed group: %v", err)
	}
}

// An append whose context ends while it waits in the queue leaves at
// once, having stored nothing; the appends behind it go on.
func TestQueuedAppendLeavesWhenCut(t *testing.T) {
	r := newGroupRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := r.s.Append(context.Background(), "first", store.NoStream, []store.Event{event("First")})
		first <- err
	}()
	<-r.held
	cut := make(chan error, 1)
	go func() {
		_, err := r.s.Append(ctx, "x", store.NoStream, []store.Event{event("A")})
		cut <- err
	}()
	waitFor(t, "the append to queue", func() bool { return sqlite.QueuedAppends(r.s) == 1 })
	after := make(chan error, 1)
	go func() {
		_, err := r.s.Append(context.Background(), "y", store.NoStream, []store.Event{event("B")})
		after <- err
	}()
	waitFor(t, "the second append to queue", func() bool { return sqlite.QueuedAppends(r.s) == 2 })
	cancel()
	if err := <-cut; !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrOutcomeUnknown) {
		t.Fatalf("append cut in the queue: %v; want context.Canceled, nothing stored", err)
	}
	if n := sqlite.QueuedAppends(r.s); n != 1 {
		t.Fatalf("%d appends queued after one left; want 1", n)
	}
	close(r.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-after; err != nil {
		t.Fatalf("append queued behind the one that left: %v", err)
	}
	if got := ids(t, r.s, "x"); len(got) != 0 {
		t.Fatalf("the cut append stored %v", got)
	}
}

// An append that leads a group but waits for the writer connection, held
// by another write of the store, hands the lead on when its context ends:
// the append queued behind it then leads, and commits once the
// connection is free.
func TestLeaderHandsOnWhenCut(t *testing.T) {
	s, _ := openFile(t)
	bg := context.Background()
	// Prepare the INSERT of one event, which needs the connection.
	if _, err := s.Append(bg, "warm-up", store.NoStream, []store.Event{event("W")}); err != nil {
		t.Fatal(err)
	}
	holding, free := make(chan struct{}), make(chan struct{})
	committed := make(chan error, 1)
	go func() {
		committed <- s.SQL().Commit(bg, "holder", 0, 1, func(*sql.Tx) error {
			close(holding)
			<-free
			return nil
		})
	}()
	<-holding
	ctx, cancel := context.WithCancel(bg)
	led := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "x", store.NoStream, []store.Event{event("A")})
		led <- err
	}()
	waitFor(t, "the leader to queue", func() bool { return sqlite.QueuedAppends(s) == 1 })
	next := make(chan error, 1)
	go func() {
		_, err := s.Append(bg, "y", store.NoStream, []store.Event{event("B")})
		next <- err
	}()
	waitFor(t, "the second append to queue", func() bool { return sqlite.QueuedAppends(s) == 2 })
	cancel()
	if err := <-led; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader cut while waiting for the connection: %v; want context.Canceled", err)
	}
	close(free)
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if err := <-next; err != nil {
		t.Fatalf("append behind a leader that left: %v", err)
	}
	if got := ids(t, s, "x"); len(got) != 0 {
		t.Fatalf("the cut leader stored %v", got)
	}
	if got := ids(t, s, "y"); len(got) != 1 {
		t.Fatalf("stream y holds %v; want B", got)
	}
}

// Many writers at once share COMMITs, and the log they leave is whole.
func TestConcurrentAppendsShareCommits(t *testing.T) {
	s, _ := openFile(t)
	var mu sync.Mutex
	commits, stored := 0, 0
	sqlite.SetGroupHook(s, func(stage string, wrote int) error {
		if stage == "committed" {
			mu.Lock()
			commits, stored = commits+1, stored+wrote
			mu.Unlock()
		}
		return nil
	})
	const writers, each = 32, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("w-%d", w)
			var v int64
			for i := range each {
				var err error
				if v, err = s.Append(context.Background(), stream, v, crashtest.Batch(v, 1+i%3, nil)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if stored != writers*each {
		t.Fatalf("COMMITs stored %d appends; want %d", stored, writers*each)
	}
	if commits >= stored {
		t.Errorf("%d COMMITs for %d appends of %d writers: no group formed", commits, stored, writers)
	}
	t.Logf("%d appends in %d COMMITs", stored, commits)
	crashtest.CheckLog(t, s)
}

// Appends that queue while a group is being written join it and share
// its COMMIT, rather than wait for it and pay a flush of their own.
func TestAppendsQueuedWhileAGroupWritesJoinIt(t *testing.T) {
	s, _ := openFile(t)
	bg := context.Background()
	if _, err := s.Append(bg, "warm-up", store.NoStream, []store.Event{event("W")}); err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	var (
		once    sync.Once
		mu      sync.Mutex
		commits []int
	)
	sqlite.SetGroupHook(s, func(stage string, wrote int) error {
		switch stage {
		case "draining":
			once.Do(func() { close(held); <-release })
		case "committed":
			mu.Lock()
			commits = append(commits, wrote)
			mu.Unlock()
		}
		return nil
	})
	errs := make(chan error, 3)
	appendTo := func(stream string) {
		_, err := s.Append(bg, stream, store.NoStream, []store.Event{event(stream)})
		errs <- err
	}
	go appendTo("x")
	<-held // x is written, its group not yet committed
	go appendTo("y")
	waitFor(t, "y to queue", func() bool { return sqlite.QueuedAppends(s) == 1 })
	go appendTo("z")
	waitFor(t, "z to queue", func() bool { return sqlite.QueuedAppends(s) == 2 })
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(commits) != 1 || commits[0] != 3 {
		t.Fatalf("COMMITs stored %v appends; want one COMMIT of all three", commits)
	}
	for _, stream := range []string{"x", "y", "z"} {
		if got := ids(t, s, stream); len(got) != 1 {
			t.Fatalf("stream %s holds %v; want one event", stream, got)
		}
	}
	crashtest.CheckLog(t, s)
}

// An append that expects a version of a stream that an append before it
// in the same group wrote is told of its conflict before the group
// commits, with the version the group left the stream at; deciding again
// at that version, it joins the group while the group still takes
// appends, and both are stored by one COMMIT.
func TestConflictInAGroupIsAnsweredBeforeItsCommit(t *testing.T) {
	s, _ := openFile(t)
	bg := context.Background()
	if _, err := s.Append(bg, "warm-up", store.NoStream, []store.Event{event("W")}); err != nil {
		t.Fatal(err)
	}
	held, release, answered := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var (
		drains  int
		mu      sync.Mutex
		commits []int
	)
	sqlite.SetGroupHook(s, func(stage string, wrote int) error {
		switch stage {
		case "draining":
			drains++
			switch drains {
			case 1: // x is written: hold its group while h's two appends queue
				close(held)
				<-release
			case 2: // A and B are written: wait for B to hear of its conflict and append again
				select {
				case <-answered:
					for deadline := time.Now().Add(10 * time.Second); sqlite.QueuedAppends(s) == 0 && time.Now().Before(deadline); {
						time.Sleep(time.Millisecond)
					}
				case <-time.After(10 * time.Second):
				}
			}
		case "committed":
			mu.Lock()
			commits = append(commits, wrote)
			mu.Unlock()
		}
		return nil
	})
	errs := make(chan error, 3)
	go func() {
		_, err := s.Append(bg, "x", store.NoStream, []store.Event{event("x")})
		errs <- err
	}()
	<-held
	a, b := event("A"), event("B")
	go func() {
		_, err := s.Append(bg, "h", store.NoStream, []store.Event{a})
		errs <- err
	}()
	waitFor(t, "A to queue", func() bool { return sqlite.QueuedAppends(s) == 1 })
	var (
		conflict *store.ConflictError
		retried  int64
	)
	go func() {
		_, err := s.Append(bg, "h", store.NoStream, []store.Event{b})
		if !errors.As(err, &conflict) {
			errs <- fmt.Errorf("B, expecting no stream after A: %v; want a conflict", err)
			return
		}
		close(answered)
		retried, err = s.Append(bg, "h", conflict.Actual, []store.Event{b})
		errs <- err
	}()
	waitFor(t, "B to queue", func() bool { return sqlite.QueuedAppends(s) == 2 })
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if conflict.StreamID != "h" || conflict.Expected != store.NoStream || conflict.Actual != 1 {
		t.Fatalf("B's conflict: %+v; want stream h expected 0 actual 1", *conflict)
	}
	if retried != 2 {
		t.Fatalf("B's second append: version %d, want 2", retried)
	}
	if len(commits) != 1 || commits[0] != 3 {
		t.Fatalf("COMMITs stored %v appends; want one COMMIT of x, A and B's second append", commits)
	}
	if got := ids(t, s, "h"); len(got) != 2 || got[0] != a.ID || got[1] != b.ID {
		t.Fatalf("stream h holds %v; want A then B", got)
	}
	crashtest.CheckLog(t, s)
}

// A conflict answered before its group commits names the version the
// group was writing; when the COMMIT then fails, nothing of the group is
// stored, and an append at the version named is told the stream's true
// version, so the writer is set right and stores nothing wrong.
func TestConflictAnsweredInAGroupThatFails(t *testing.T) {
	r := newGroupRig(t)
	r.commit = errors.New("the disk is gone")
	apps := []*groupAppend{
		{stream: "h", expected: store.NoStream, events: []store.Event{event("A")}},
		{stream: "h", expected: store.NoStream, events: []store.Event{event("B")}},
	}
	r.run(apps...)
	if !errors.Is(apps[0].err, r.commit) {
		t.Fatalf("A, in the group whose COMMIT failed: %v; want the COMMIT's error", apps[0].err)
	}
	var conflict *store.ConflictError
	if !errors.As(apps[1].err, &conflict) || conflict.Actual != 1 {
		t.Fatalf("B, after A in the group: %v; want a conflict at version 1", apps[1].err)
	}
	bg := context.Background()
	_, err := r.s.Append(bg, "h", conflict.Actual, []store.Event{event("C")})
	if !errors.As(err, &conflict) || conflict.Actual != store.NoStream {
		t.Fatalf("an append at the version named: %v; want a conflict naming no stream", err)
	}
	if v, err := r.s.Append(bg, "h", store.NoStream, []store.Event{event("D")}); err != nil || v != 1 {
		t.Fatalf("an append at the true version: %d, %v", v, err)
	}
}

// lateCtx is a context whose end its goroutine has not noticed yet: Err
// reports it once cut is set, but Done is closed only later, by the test.
// It holds open, for as long as a test needs, the moment between a
// context's end and its goroutine's waking to it, which a group's leader
// may see first.
type lateCtx struct {
	context.Context
	cut  atomic.Bool
	done chan struct{}
}

func newLateCtx() *lateCtx { return &lateCtx{Context: context.Background(), done: make(chan struct{})} }

func (c *lateCtx) Done() <-chan struct{} { return c.done }

func (c *lateCtx) Err() error {
	if c.cut.Load() {
		return context.Canceled
	}
	return nil
}

// A member of a group whose context ends before its group's transaction
// begins is left out of it; when the leader's context ends after the
// group was written, the group rolls back, and the leader leaves before
// its next BEGIN, handing the rest of the group on. The member left out
// is still told that nothing was stored, even though its own goroutine
// had not yet noticed its context's end: it is not left waiting for a
// group that has gone on without it.
func TestAMemberLeftOutIsToldWhenItsLeaderLeaves(t *testing.T) {
	s, _ := openFile(t)
	bg := context.Background()
	if _, err := s.Append(bg, "warm-up", store.NoStream, []store.Event{event("W")}); err != nil {
		t.Fatal(err)
	}
	leaderCtx, cutLeader := context.WithCancel(bg)
	defer cutLeader()
	member := newLateCtx()
	defer close(member.done)
	held, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	begins, written := 0, 0
	sqlite.SetGroupHook(s, func(stage string, _ int) error {
		mu.Lock()
		defer mu.Unlock()
		switch stage {
		case "begin":
			begins++
			if begins == 2 { // the group under test, taken, not begun
				member.cut.Store(true)
			}
		case "written":
			written++
			switch written {
			case 1:
				close(held)
				mu.Unlock()
				<-release
				mu.Lock()
			case 2: // the leader and the third append wrote
				cutLeader()
			}
		}
		return nil
	})

	first := make(chan error, 1)
	go func() {
		_, err := s.Append(bg, "first", store.NoStream, []store.Event{event("F")})
		first <- err
	}()
	<-held
	results := make([]chan error, 3)
	for i, a := range []struct {
		ctx    context.Context
		stream string
	}{{leaderCtx, "leader"}, {member, "member"}, {bg, "third"}} {
		results[i] = make(chan error, 1)
		go func() {
			_, err := s.Append(a.ctx, a.stream, store.NoStream, []store.Event{event("E")})
			results[i] <- err
		}()
		waitFor(t, fmt.Sprintf("append %d to queue", i), func() bool { return sqlite.QueuedAppends(s) == i+1 })
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the first append: %v", err)
	}
	for i, want := range []error{context.Canceled, context.Canceled, nil} {
		select {
		case err := <-results[i]:
			if want == nil && err != nil || want != nil && (!errors.Is(err, want) || errors.Is(err, store.ErrOutcomeUnknown)) {
				t.Errorf("append %d: %v; want %v", i, err, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("append %d has not returned after 30s", i)
		}
	}
	for stream, n := range map[string]int{"leader": 0, "member": 0, "third": 1} {
		if got := ids(t, s, stream); len(got) != n {
			t.Errorf("stream %q holds %d events; want %d", stream, len(got), n)
		}
	}
	crashtest.CheckLog(t, s)
}
