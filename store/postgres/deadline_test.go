package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// timedCommit is one commit of TestSQLCommitsUnderDeadlines and what its
// caller was told.
type timedCommit struct {
	consumer string
	key      string // the row its handler inserts
	deadline time.Duration
	err      error
	cut      bool // its context was done when it returned
}

// commitDeadline draws a deadline for one commit of
// TestSQLCommitsUnderDeadlines: mostly 0 to 5ms, which cuts it at any
// moment, and one time in four a second, which a commit meets even on a
// loaded machine. Each cut costs a connection, which the pool opens again;
// with only short deadlines a slow machine (the race detector, parallel
// packages) can fail every commit at the acquire, and then the test checks
// nothing.
func commitDeadline(spread *rand.Rand) time.Duration {
	if spread.IntN(4) == 0 {
		return time.Second
	}
	return time.Duration(spread.Int64N(int64(5*time.Millisecond) + 1))
}

// Commits of read models in the application's tables, three at a time,
// most cut by deadlines of 0 to 5ms at any moment (acquiring a connection, in
// the handler, at the COMMIT), tell the truth: a commit that returned nil
// is stored, a commit whose error does not match store.ErrOutcomeUnknown
// is not, no error matches both that and store.ErrConflict, and every
// error of a commit whose deadline had passed matches
// context.DeadlineExceeded. The handler's row and the checkpoint are
// stored together or not at all.
func TestSQLCommitsUnderDeadlines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL+"&pool_max_conns=6", postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	seen := pgx.Identifier{db.Schema, "seen"}.Sanitize()
	checkpoints := pgx.Identifier{db.Schema, "annals_checkpoints"}.Sanitize()
	if _, err := s.Pool().Exec(ctx, `CREATE TABLE `+seen+` (consumer text NOT NULL, key text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	c := s.SQL()
	outcomes := map[string]int{}
	runs := 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		spread := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 0))
		plans := make([][]*timedCommit, 3)
		for w := range plans {
			consumer := fmt.Sprintf("run%d/w%d", runs, w)
			for i := range rapid.IntRange(1, 6).Draw(rt, "commits") {
				plans[w] = append(plans[w], &timedCommit{
					consumer: consumer, key: fmt.Sprintf("%s/%d", consumer, i),
					deadline: commitDeadline(spread),
				})
			}
		}
		var wg sync.WaitGroup
		for _, plan := range plans {
			wg.Go(func() {
				var from int64
				for _, tc := range plan {
					cctx, cancel := context.WithTimeout(ctx, tc.deadline)
					tc.err = c.Commit(cctx, tc.consumer, from, from+1, func(tx pgx.Tx) error {
						_, err := tx.Exec(cctx, `INSERT INTO `+seen+` (consumer, key) VALUES ($1, $2)`, tc.consumer, tc.key)
						return err
					})
					tc.cut = cctx.Err() != nil
					cancel()
					if tc.err == nil {
						from++
					} else if pos, err := s.Checkpoint(ctx, tc.consumer); err == nil {
						// A commit whose outcome is unknown may still land:
						// the next one then conflicts, and reads again.
						from = pos
					}
				}
			})
		}
		wg.Wait()

		for _, plan := range plans {
			for _, tc := range plan {
				var n int
				if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM `+seen+` WHERE key = $1`, tc.key).Scan(&n); err != nil {
					rt.Fatal(err)
				}
				checkTold(rt, fmt.Sprintf("commit of %q with a deadline of %v", tc.key, tc.deadline), tc.err, tc.cut, n == 1, outcomes)
			}
			// In one snapshot, so that a commit landing meanwhile is
			// seen whole or not at all.
			var pos, rows int64
			err := s.Pool().QueryRow(ctx, `SELECT coalesce((SELECT position FROM `+checkpoints+` WHERE consumer = $1), 0),
				(SELECT count(*) FROM `+seen+` WHERE consumer = $1)`, plan[0].consumer).Scan(&pos, &rows)
			if err != nil {
				rt.Fatal(err)
			}
			if pos != rows {
				rt.Fatalf("consumer %q: checkpoint %d, but %d commits stored their rows", plan[0].consumer, pos, rows)
			}
		}
	})
	t.Logf("outcomes: %v", outcomes)
	if outcomes["succeeded"] == 0 || outcomes["cut, nothing stored"]+outcomes["cut, outcome unknown, stored"]+outcomes["cut, outcome unknown, not stored"] == 0 {
		t.Fatalf("outcomes %v: no commit both succeeded and was cut, so the deadlines checked nothing", outcomes)
	}
}

// checkTold fails the run unless what a write returned (err, after its
// context was done when cut) is true of the store, which holds the write
// when stored, and counts the outcome.
func checkTold(t *rapid.T, what string, err error, cut, stored bool, outcomes map[string]int) {
	unknown := errors.Is(err, store.ErrOutcomeUnknown)
	conflict := errors.Is(err, store.ErrConflict)
	switch {
	case err == nil && !stored:
		t.Fatalf("%s returned nil, but it is not stored", what)
	case err != nil && !unknown && stored:
		t.Fatalf("%s failed with %q, which does not match store.ErrOutcomeUnknown, but it is stored", what, err)
	case unknown && conflict:
		t.Fatalf("%s failed with %q, which matches both store.ErrOutcomeUnknown and store.ErrConflict", what, err)
	case err != nil && cut && !conflict && !errors.Is(err, context.DeadlineExceeded):
		t.Fatalf("%s failed after its deadline with %q, which does not match context.DeadlineExceeded", what, err)
	case err != nil && !cut && !conflict:
		t.Fatalf("%s failed before its deadline: %v", what, err)
	}
	switch {
	case err == nil:
		outcomes["succeeded"]++
	case conflict:
		outcomes["conflict"]++
	case unknown && stored:
		outcomes["cut, outcome unknown, stored"]++
	case unknown:
		outcomes["cut, outcome unknown, not stored"]++
	default:
		outcomes["cut, nothing stored"]++
	}
}
