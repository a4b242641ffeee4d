package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
)

// A transaction that writes elsewhere in the database and stays open
// holds nothing back: appends made after it began are numbered and read
// while it runs, its id waits in the list of transactions in progress,
// the horizon moves past it, and when it ends (here, with events of its
// own, as a stalled writer) its events follow.
func TestLongTransactionElsewhereHoldsNothingBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	if _, err := s.pool.Exec(ctx, `CREATE TABLE elsewhere (n int)`); err != nil {
		t.Fatal(err)
	}
	long, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Rollback(ctx)
	if _, err := long.Exec(ctx, `INSERT INTO elsewhere VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var longID uint64
	if err := long.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&longID); err != nil {
		t.Fatal(err)
	}

	for round := range 3 {
		for i := range 5 {
			if _, err := s.Append(ctx, "after", int64(5*round+i), []store.Event{{Type: "A"}}); err != nil {
				t.Fatal(err)
			}
		}
		log := readAll(t, s, 0)
		if len(log) != 5*(round+1) {
			t.Fatalf("round %d: the log holds %d events while a transaction elsewhere runs, want %d", round, len(log), 5*(round+1))
		}
		var horizon uint64
		var inflight []uint64
		if err := s.pool.QueryRow(ctx, `SELECT horizon::text::bigint, inflight::text[]::bigint[] FROM `+s.n.logHead).Scan(&horizon, &inflight); err != nil {
			t.Fatal(err)
		}
		if horizon <= longID || !slices.Contains(inflight, longID) {
			t.Fatalf("round %d: horizon %d, in progress %v; want the horizon past %d and it in the list", round, horizon, inflight, longID)
		}
	}

	// The long transaction turns out to be a writer: its events, committed
	// last, come last.
	if _, err := long.Exec(ctx, `INSERT INTO `+s.n.events+` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
		VALUES ('late', 1, gen_random_uuid(), 'L', 1, '\x00', '', '', '')`); err != nil {
		t.Fatal(err)
	}
	if err := long.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	log := readAll(t, s, 0)
	if len(log) != 16 || log[15].StreamID != "late" || log[15].Position != 16 {
		t.Fatalf("after the long transaction committed: %d events, last %+v; want its event at 16", len(log), log[len(log)-1])
	}
}

// A transaction of many events gets a range of the log per stream, found
// by stream and version, so that a reader starting inside it reads only
// its page; small transactions share ranges of about rangeEvents events.
// Pages of any size, from anywhere, join into the whole log.
func TestRangesOfLongAndShortTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	// One transaction of 4 streams of 50 events, between appends of one.
	for i := range 70 {
		if _, err := s.Append(ctx, "small", int64(i), []store.Event{{Type: "S"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO `+s.n.events+` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id)
		SELECT 'big-' || (i / 50), i % 50 + 1, gen_random_uuid(), 'B', 1, '\x00', '', '', '' FROM generate_series(0, 199) i`); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := s.Append(ctx, "small", int64(70+i), []store.Event{{Type: "S"}}); err != nil {
			t.Fatal(err)
		}
	}
	whole := readAll(t, s, 0)
	if len(whole) != 280 {
		t.Fatalf("the log holds %d events, want 280", len(whole))
	}
	var byStream, byID int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE stream_id IS NOT NULL), count(*) FILTER (WHERE stream_id IS NULL) FROM `+s.n.logRanges).Scan(&byStream, &byID); err != nil {
		t.Fatal(err)
	}
	if byStream != 4 {
		t.Errorf("%d ranges by stream, want one per stream of the long transaction", byStream)
	}
	if byID < 2 || byID > 4 {
		t.Errorf("%d ranges by transaction id for 80 appends of one event, want about two", byID)
	}
	for _, limit := range []int{1, 7, 64, 65, 500} {
		for after := int64(0); after < 280; after += 13 {
			page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			want := whole[after:min(int(after)+limit, len(whole))]
			if len(page) != len(want) {
				t.Fatalf("page of %d after %d: %d events, want %d", limit, after, len(page), len(want))
			}
			for i := range page {
				if page[i].ID != want[i].ID || page[i].Position != want[i].Position {
					t.Fatalf("page of %d after %d: record %d is %v at %d, want %v at %d", limit, after, i, page[i].ID, page[i].Position, want[i].ID, want[i].Position)
				}
			}
			typed, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: limit, Types: []string{"B"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range typed {
				if r.Type != "B" || r.Position <= after {
					t.Fatalf("typed page after %d holds %s at %d", after, r.Type, r.Position)
				}
			}
		}
	}
}

// An import writes its events with their positions in one transaction,
// many streams interleaved, while events appended before it wait for a
// position and a writer is in flight: its events keep their positions,
// its ranges lead readers to them from anywhere, and the events pending
// and in flight are numbered after them, each once.
func TestImportKeepsTheHorizon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	for i := range 3 {
		if _, err := s.Append(ctx, "before", int64(i), []store.Event{{Type: "A"}}); err != nil {
			t.Fatal(err)
		}
	}
	if log := readAll(t, s, 0); len(log) != 3 {
		t.Fatalf("the log holds %d events before the import, want 3", len(log))
	}
	// Committed, not numbered: no reader came.
	if _, err := s.Append(ctx, "pending", store.NoStream, []store.Event{{Type: "P"}, {Type: "P"}}); err != nil {
		t.Fatal(err)
	}
	inFlight := uncommitted(t, s, "in-flight", 2)
	defer inFlight.Rollback(ctx)

	// 200 events of three streams, interleaved as a log copied from
	// elsewhere is, and a run of 80 of one stream.
	var records []store.Record
	versions := map[string]int64{}
	add := func(stream string) {
		versions[stream]++
		records = append(records, store.Record{
			Position: int64(4 + len(records)), StreamID: stream, Version: versions[stream], ID: uuid.New(),
			Type: "I", SchemaVersion: 1, Time: time.Now().UTC(), Data: []byte{1},
		})
	}
	for i := range 120 {
		add(fmt.Sprintf("imported-%d", i%3))
	}
	for range 80 {
		add("imported-run")
	}
	if err := s.ImportEvents(ctx, records); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 5, 64, 200} {
		for after := int64(0); after < 203; after += 11 {
			page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range page {
				if r.Position != after+int64(i)+1 {
					t.Fatalf("page of %d after %d: record %d at position %d", limit, after, i, r.Position)
				}
				if r.Position >= 4 && r.Position <= 203 && r.ID != records[r.Position-4].ID {
					t.Fatalf("page of %d after %d: position %d holds %s@%d, imported %s@%d there", limit, after, r.Position,
						r.StreamID, r.Version, records[r.Position-4].StreamID, records[r.Position-4].Version)
				}
			}
		}
	}
	if err := inFlight.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	log := readAll(t, s, 0)
	if len(log) != 207 {
		t.Fatalf("the log holds %d events, want 207", len(log))
	}
	for i, r := range log {
		if r.Position != int64(i)+1 {
			t.Fatalf("record %d has position %d", i, r.Position)
		}
	}
	if log[203].StreamID != "pending" || log[204].StreamID != "pending" || log[205].StreamID != "in-flight" {
		t.Fatalf("after the import: %s, %s, %s; want the pending appends, then the one that was in flight",
			log[203].StreamID, log[204].StreamID, log[205].StreamID)
	}
}

// A tagged append that stalls between its insert and its commit while
// the horizon moves past it commits an event that waits for a position
// in the list of transactions in progress, below the horizon. A
// condition on its tag, after every position read, fails on it whatever
// the form of the append (no events, one, several), a read by query
// finds it, and a condition after its position then holds.
func TestConditionSeesAStalledAppendBelowTheHorizon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t)
	cond := store.AppendCondition{FailIfEventsMatch: tagQuery("course:c9")}
	stalled := holdLocks(t, s, nil, []store.Event{{Type: "Subscribed", Tags: []string{"course:c9"}}})
	if _, err := stalled.Exec(ctx, `INSERT INTO `+s.n.events+` (stream_id, version, event_id, type, schema_version, data, encoding, correlation_id, causation_id, tags)
		VALUES ('stalled', 1, gen_random_uuid(), 'Subscribed', 1, '\x00', '', '', '', ARRAY['course:c9'])`); err != nil {
		t.Fatal(err)
	}
	var stalledID uint64
	if err := stalled.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&stalledID); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Append(ctx, "other", int64(i), []store.Event{{Type: "A", Tags: []string{"course:c1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := s.Head(ctx)
	if err != nil || head != 5 {
		t.Fatalf("head %d (%v), want 5", head, err)
	}
	if err := stalled.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var horizon uint64
	var inflight []uint64
	if err := s.pool.QueryRow(ctx, `SELECT horizon::text::bigint, inflight::text[]::bigint[] FROM `+s.n.logHead).Scan(&horizon, &inflight); err != nil {
		t.Fatal(err)
	}
	if horizon <= stalledID || !slices.Contains(inflight, stalledID) {
		t.Fatalf("horizon %d, in progress %v; want the horizon past the stalled append %d and it in the list", horizon, inflight, stalledID)
	}

	cond.After = head
	var ce *store.ConditionError
	for _, events := range [][]store.Event{nil, {{Type: "Subscribed", Tags: []string{"course:c9"}}}, {{Type: "Subscribed", Tags: []string{"course:c9"}}, {Type: "Noted", Tags: []string{"note:1"}}}} {
		if _, err := s.AppendIf(ctx, "next", store.NoStream, events, cond); !errors.As(err, &ce) || ce.Position != 0 {
			t.Fatalf("conditional append of %d events after %d with the stalled event committed, not numbered: %v; want a condition error with no position", len(events), head, err)
		}
	}
	got, err := collect(s.ReadQuery(ctx, cond.FailIfEventsMatch, head))
	if err != nil || len(got) != 1 || got[0].StreamID != "stalled" || got[0].Position != 6 {
		t.Fatalf("read by query after %d: %+v (%v), want the stalled event at 6", head, got, err)
	}
	cond.After = 6
	if _, err := s.AppendIf(ctx, "next", store.NoStream, []store.Event{{Type: "Subscribed", Tags: []string{"course:c9"}}}, cond); err != nil {
		t.Fatalf("conditional append after the stalled event was read: %v", err)
	}
}
