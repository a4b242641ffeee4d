package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/store"
)

func tagQuery(tags ...string) store.Query {
	return store.QueryItems(store.QueryItem{Tags: tags})
}

// holdLocks takes, in a transaction it leaves open, the advisory locks
// that an append of events with cond would take, as a writer in the
// middle of its append.
func holdLocks(t *testing.T, s *Store, cond *store.AppendCondition, events []store.Event) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	plan := s.n.lockPlan(cond, events)
	if _, err := tx.Exec(ctx, dcbLockSQL, plan.keys, plan.exclusive, nil); err != nil {
		t.Fatal(err)
	}
	if plan.table {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+s.n.events+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
	}
	return tx
}

// An append whose condition shares a tag with a writer in flight waits
// for it; appends that share nothing with it do not, conditional or not.
func TestConditionsWaitOnlyForWhatTheyShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	c1 := store.AppendCondition{FailIfEventsMatch: tagQuery("course:c1")}
	tx := holdLocks(t, s, &c1, []store.Event{{Type: "Subscribed", Tags: []string{"course:c1", "student:s1"}}})

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := s.AppendIf(short, "w1", store.NoStream, []store.Event{{Type: "Subscribed", Tags: []string{"course:c1", "student:s2"}}}, c1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append on course c1 while another holds it: %v, want a deadline", err)
	}
	// Cut while it waited for the lock, it stored nothing. (On a loaded
	// machine the cut may reach it after the lock statement was sent,
	// when the store can only say the outcome is unknown; what it must
	// never do is store the event.)
	if got, err := collect(s.ReadStream(ctx, "w1", 0)); err != nil || len(got) != 0 {
		t.Fatalf("the cut append stored %d events (%v), want none", len(got), err)
	}
	// A reader of course c1's events does not wait.
	if _, err := collect(s.ReadQuery(ctx, tagQuery("course:c1"), 0)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		cond  *store.AppendCondition
		event store.Event
	}{
		{"another course", &store.AppendCondition{FailIfEventsMatch: tagQuery("course:c2")}, store.Event{Type: "Subscribed", Tags: []string{"course:c2", "student:s3"}}},
		{"the same student without a condition on it", &store.AppendCondition{FailIfEventsMatch: tagQuery("course:c3")}, store.Event{Type: "Subscribed", Tags: []string{"course:c3", "student:s1"}}},
		{"a plain append of a tagged event", nil, store.Event{Type: "Noted", Tags: []string{"note:n1"}}},
		{"a plain append of an untagged event", nil, store.Event{Type: "Noted"}},
	} {
		quick, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		start := time.Now()
		if c.cond != nil {
			_, err = s.AppendIf(quick, "w-"+c.name, store.NoStream, []store.Event{c.event}, *c.cond)
		} else {
			_, err = s.Append(quick, "w-"+c.name, store.NoStream, []store.Event{c.event})
		}
		cancel()
		if err != nil {
			t.Fatalf("%s while course c1 is held: %v (after %v)", c.name, err, time.Since(start))
		}
	}
	// A plain append of an event that c1's condition would see waits too:
	// it must not slip between that writer's check and its commit.
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.Append(short, "w-plain-c1", store.NoStream, []store.Event{{Type: "Subscribed", Tags: []string{"course:c1"}}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("plain append tagged course c1 while it is held: %v, want a deadline", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendIf(ctx, "w1", store.NoStream, []store.Event{{Type: "Subscribed", Tags: []string{"course:c1", "student:s2"}}}, c1); err != nil {
		t.Fatalf("append on course c1 once it is free: %v", err)
	}
}

// A conditional append waits for a writer of a matching event that is
// between its locks and its commit, then sees its event, committed but
// not numbered yet, and fails. Without the wait its check would miss the
// event; without counting unnumbered events it would pass a condition
// that the event, numbered later after the position read, breaks.
func TestConditionWaitsForAndSeesAnAppendInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	q := store.QueryItems(store.QueryItem{Types: []string{"Claimed"}, Tags: []string{"name:ada"}})
	if _, err := s.Append(ctx, "warm-up", store.NoStream, []store.Event{{Type: "Claimed", Tags: []string{"name:bob"}}}); err != nil {
		t.Fatal(err)
	}
	head, err := s.Head(ctx) // numbers everything: the position a decision read
	if err != nil {
		t.Fatal(err)
	}

	// A writer claims ada: it holds its locks and has inserted, and has
	// not committed.
	claim := []store.Event{{Type: "Claimed", Tags: []string{"name:ada", "user:u1"}}}
	tx := holdLocks(t, s, nil, claim)
	args, err := dcbArgs("u1", store.NoStream, claim, 0)
	if err != nil {
		t.Fatal(err)
	}
	var inserted, dummy string
	var item, pos *string
	if err := tx.QueryRow(ctx, s.n.insertSQL(nil, false, false, &args), args...).Scan(&dummy, &inserted, &dummy, &item, &pos); err != nil || inserted != "1" {
		t.Fatalf("insert in flight: %v, %s inserted", err, inserted)
	}

	done := make(chan error, 1)
	go func() {
		_, err := s.AppendIf(ctx, "u2", store.NoStream, []store.Event{{Type: "Claimed", Tags: []string{"name:ada", "user:u2"}}},
			store.AppendCondition{FailIfEventsMatch: q, After: head})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the second claim did not wait for the first, in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var ce *store.ConditionError
	if err := <-done; !errors.As(err, &ce) || ce.Item != 0 || ce.Position != 0 {
		t.Fatalf("second claim: %v, want a *store.ConditionError on item 0, for an event not numbered yet", err)
	}
	recs, err := collect(s.ReadQuery(ctx, q, 0))
	if err != nil || len(recs) != 1 || recs[0].StreamID != "u1" || recs[0].Position != head+1 {
		t.Fatalf("claims of ada: %v, %v; want u1's only, at %d", recs, err, head+1)
	}
}

// An append takes a key per tag of its events, shared, and per query item
// of its condition, exclusive, sorted; one that would take too many, or
// whose condition has an item without tags, locks the table instead, or
// as well.
func TestLockPlans(t *testing.T) {
	t.Parallel()
	s := openInternal(t)
	var events []store.Event
	for i := range 40 {
		events = append(events, store.Event{Type: "T", Tags: []string{fmt.Sprint("a", i), fmt.Sprint("b", i)}})
	}
	if plan := s.n.lockPlan(nil, events); !plan.table || len(plan.keys) != 0 {
		t.Fatalf("locks of 80 tags: %+v, want the table alone", plan)
	}
	plan := s.n.lockPlan(&store.AppendCondition{FailIfEventsMatch: tagQuery("z", "a")}, events[:1])
	want := map[int64]bool{s.n.dcbKey("a0"): false, s.n.dcbKey("b0"): false, s.n.dcbKey("a"): true}
	if len(plan.keys) != len(want) || plan.table {
		t.Fatalf("locks: %+v, want %v", plan, want)
	}
	for i, k := range plan.keys {
		if x, ok := want[k]; !ok || x != plan.exclusive[i] || (i > 0 && plan.keys[i-1] >= k) {
			t.Fatalf("locks: %+v, want %v, sorted", plan, want)
		}
	}
	byType := store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Types: []string{"T"}}, store.QueryItem{Tags: []string{"a0"}})}
	if plan := s.n.lockPlan(&byType, events[:1]); !plan.table || len(plan.keys) != 2 {
		t.Fatalf("locks of a condition with an item of types alone: %+v, want the table and the tags' keys", plan)
	}
	if plan := s.n.lockPlan(&store.AppendCondition{}, nil); !plan.table {
		t.Fatalf("locks of a condition on every tagged event: %+v, want the table", plan)
	}
	ctx := context.Background()
	if _, err := s.AppendIf(ctx, "big", store.NoStream, events, store.AppendCondition{FailIfEventsMatch: tagQuery("a1")}); err != nil {
		t.Fatal(err)
	}
}

// The lock statements written for a few keys take the locks that
// dcbLockSQL takes, in their modes, and lower the lock timeout as it does.
func TestLockStatementsOfEveryShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	held := func(tx pgx.Tx) map[string]bool {
		rows, err := tx.Query(ctx, `SELECT ((classid::bigint << 32) | objid::bigint)::text || ' ' || mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'advisory'`)
		if err != nil {
			t.Fatal(err)
		}
		locks, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return lo.SliceToMap(locks, func(l string) (string, bool) { return l, true })
	}
	keys := []int64{-1 << 40, -7, 3, 1 << 33} // sorted, as lockPlan sorts them
	for n := 0; n <= smallLocks; n++ {
		for mask := 0; mask < 1<<n; mask++ {
			exclusive := make([]bool, n)
			want := map[string]bool{}
			for i := range exclusive {
				exclusive[i] = mask&(1<<i) != 0
				want[fmt.Sprint(keys[i], " ", map[bool]string{true: "ExclusiveLock", false: "ShareLock"}[exclusive[i]])] = true
			}
			for _, timeout := range []bool{false, true} {
				tx, err := s.pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				ti, i := lockShape(exclusive, timeout)
				args := lo.ToAnySlice(keys[:n])
				if timeout {
					args = append(args, "1234ms")
				}
				if _, err := tx.Exec(ctx, s.lockSQL[ti][i], args...); err != nil {
					t.Fatal(err)
				}
				var plans, lockTimeout string
				if err := tx.QueryRow(ctx, `SELECT current_setting('plan_cache_mode'), current_setting('lock_timeout')`).Scan(&plans, &lockTimeout); err != nil {
					t.Fatal(err)
				}
				if got := held(tx); !maps.Equal(got, want) || plans != "force_generic_plan" || (lockTimeout == "1234ms") != timeout {
					t.Errorf("%d keys, exclusive %v, timeout %v: locks %v, plan_cache_mode %s, lock_timeout %s; want locks %v",
						n, exclusive, timeout, got, plans, lockTimeout, want)
				}
				tx.Rollback(ctx)
			}
		}
	}
}

// Reads by query keep one plan, whatever their tags, rather than being
// planned anew each time, which costs more than running them on a table
// of many tagged events.
func TestReadsByQueryAreNotPlannedAnew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	if _, err := s.pool.Exec(ctx, `INSERT INTO `+s.n.events+` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, tags)
SELECT 's' || (i / 10), i % 10 + 1, gen_random_uuid(), 'Joined', 1, '', '', '', '', ARRAY['course:' || (i / 5), 'student:' || i]
FROM generate_series(0, 19999) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE `+s.n.events); err != nil {
		t.Fatal(err)
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	var sql string
	for i := range 10 {
		args := []any{int64(0), queryPage}
		sql = s.n.readQuerySQL(store.QueryItems(store.QueryItem{Types: []string{"Joined"}, Tags: []string{fmt.Sprint("course:", i)}}), &args)
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	var generic, custom int64
	if err := c.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`, sql).Scan(&generic, &custom); err != nil {
		t.Fatal(err)
	}
	if generic < 4 {
		t.Errorf("10 reads by query: %d generic plans and %d custom ones, want the generic plan after the first few", generic, custom)
	}
}

// A condition with an item of types alone has no tag to lock: it waits
// for every writer in flight, through the table, and then sees what it
// wrote.
func TestConditionOnTypesWaitsForWritersInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claim := []store.Event{{Type: "Invoiced", Tags: []string{"invoice:1"}}}
	tx := holdLocks(t, s, nil, claim)
	args, err := dcbArgs("i1", store.NoStream, claim, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, s.n.insertSQL(nil, false, false, &args), args...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.AppendIf(ctx, "i2", store.NoStream, []store.Event{{Type: "Invoiced", Tags: []string{"invoice:2"}}},
			store.AppendCondition{FailIfEventsMatch: store.QueryItems(store.QueryItem{Types: []string{"Invoiced"}}), After: head})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the second invoice did not wait for the first, in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var ce *store.ConditionError
	if err := <-done; !errors.As(err, &ce) || ce.Item != 0 {
		t.Fatalf("second invoice: %v, want a *store.ConditionError on item 0", err)
	}
}

// Reads by query and condition checks use the tags' indexes: their cost
// follows the events they match, not the log.
func TestQueriesUseTheIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	if _, err := s.pool.Exec(ctx, `INSERT INTO `+s.n.events+` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, tags)
SELECT 's' || (i / 10), i % 10 + 1, gen_random_uuid(), CASE WHEN i % 3 = 0 THEN 'Joined' ELSE 'Left' END, 1, '', '', '', '',
	CASE WHEN i % 100 = 0 THEN ARRAY['course:' || (i / 1000), 'student:' || (i % 7)] END
FROM generate_series(0, 49999) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE `+s.n.events); err != nil {
		t.Fatal(err)
	}
	plan := func(sql string, args []any) string {
		rows, err := s.pool.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, line)
		}
		return strings.Join(lines, "\n")
	}
	for _, q := range []store.Query{
		tagQuery("course:3"),
		store.QueryItems(store.QueryItem{Types: []string{"Joined"}, Tags: []string{"course:3", "student:2"}}, store.QueryItem{Types: []string{"Left"}, Tags: []string{"student:5"}}),
		store.QueryItems(store.QueryItem{Types: []string{"Joined"}}),
	} {
		args := []any{int64(100), 512}
		read := plan(s.n.readQuerySQL(q, &args), args)
		cargs := []any{int64(100)}
		moved := plan(`SELECT * FROM (`+s.n.movedSQL(q, 1, &cargs)+`) m`, cargs)
		for what, p := range map[string]string{"read": read, "check": moved} {
			if strings.Contains(p, "Seq Scan on annals_events") ||
				!(strings.Contains(p, "events_tags") || strings.Contains(p, "events_tagged_type")) {
				t.Errorf("%s of %v does not use the tags' indexes:\n%s", what, q, p)
			}
		}
	}
}

// A read by query waits for the numbering of the events it matches, and
// of no others: an event of another course, committed and not numbered
// yet, stays so, so that reads never queue for the one step of the store
// behind appends they do not read. An event it matches that waits for a
// position is numbered and read.
func TestReadByQueryNumbersOnlyWhatItMatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	appendTagged := func(stream, tag string) {
		t.Helper()
		if _, err := s.Append(ctx, stream, store.NoStream, []store.Event{{Type: "Subscribed", Data: []byte("{}"), Tags: []string{tag}}}); err != nil {
			t.Fatal(err)
		}
	}
	position := func(stream string) *int64 {
		t.Helper()
		var pos *int64
		if err := s.pool.QueryRow(ctx, `SELECT position FROM `+s.n.events+` WHERE stream_id = $1`, stream).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		return pos
	}
	appendTagged("s1", "course:c1")
	if _, err := s.Head(ctx); err != nil { // numbers s1's event
		t.Fatal(err)
	}
	appendTagged("s2", "course:c2")
	if position("s2") != nil {
		t.Fatal("an append numbered its event itself; this test needs it pending")
	}
	got, err := collect(s.ReadQuery(ctx, tagQuery("course:c1"), 0))
	if err != nil || len(got) != 1 || got[0].StreamID != "s1" {
		t.Fatalf("read course c1: %+v, %v; want s1's event", got, err)
	}
	if pos := position("s2"); pos != nil {
		t.Fatalf("reading course c1 numbered course c2's event (position %d)", *pos)
	}
	// Its own pending event is numbered, after everything read before.
	appendTagged("s3", "course:c1")
	got, err = collect(s.ReadQuery(ctx, tagQuery("course:c1"), 0))
	if err != nil || len(got) != 2 || got[1].StreamID != "s3" || got[1].Position <= got[0].Position {
		t.Fatalf("read course c1 with one of its events pending: %+v, %v; want s1's then s3's, numbered", got, err)
	}
}
