package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/store"
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
// TestSQLCommitsUnderDeadlines: mostly 0 to 2ms, which cuts it at any
// moment, and one time in four a second, which a commit meets even on a
// loaded machine, where a sync alone can take longer than 2ms: with only
// short deadlines every commit could be cut, and the test check nothing.
func commitDeadline(spread *rand.Rand) time.Duration {
	if spread.IntN(4) == 0 {
		return time.Second
	}
	return time.Duration(spread.Int64N(int64(2*time.Millisecond) + 1))
}

// Commits of read models in the application's tables, three at a time,
// most cut by deadlines of 0 to 2ms at any moment (waiting for the writer
// connection, in the handler, at the COMMIT), tell the truth: a commit
// that returned nil is stored, a commit whose error does not match
// store.ErrOutcomeUnknown is not, and every error of a commit whose
// deadline had passed matches context.DeadlineExceeded. The handler's row
// and the checkpoint are stored together or not at all.
func TestSQLCommitsUnderDeadlines(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			c := s.SQL()
			if err := c.Commit(ctx, "setup", 0, 0, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `CREATE TABLE seen (key TEXT PRIMARY KEY)`)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			outcomes := map[string]int{}
			runs := 0
			rapid.Check(t, func(rt *rapid.T) {
				runs++
				spread := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 0))
				plans := make([][]*timedCommit, 3)
				for w := range plans {
					consumer := fmt.Sprintf("run%d/w%d", runs, w)
					for i := range rapid.IntRange(1, 10).Draw(rt, "commits") {
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
							tc.err = c.Commit(cctx, tc.consumer, from, from+1, func(tx *sql.Tx) error {
								_, err := tx.ExecContext(cctx, `INSERT INTO seen (key) VALUES (?)`, tc.key)
								return err
							})
							tc.cut = cctx.Err() != nil
							cancel()
							if tc.err == nil {
								from++
							} else if pos, err := s.Checkpoint(ctx, tc.consumer); err == nil {
								from = pos
							}
						}
					})
				}
				wg.Wait()

				for _, plan := range plans {
					var committed int64
					for _, tc := range plan {
						var n int
						if err := s.ReadDB().QueryRowContext(ctx, `SELECT count(*) FROM seen WHERE key = ?`, tc.key).Scan(&n); err != nil {
							rt.Fatal(err)
						}
						committed += int64(n)
						checkTold(rt, fmt.Sprintf("commit of %q with a deadline of %v", tc.key, tc.deadline), tc.err, tc.cut, n == 1, outcomes)
					}
					if pos, err := s.Checkpoint(ctx, plan[0].consumer); err != nil || pos != committed {
						rt.Fatalf("consumer %q: checkpoint %d (%v), but %d commits stored their rows", plan[0].consumer, pos, err, committed)
					}
				}
			})
			t.Logf("outcomes: %v", outcomes)
			if outcomes["succeeded"] == 0 || outcomes["cut, nothing stored"] == 0 {
				t.Fatalf("outcomes %v: no commit both succeeded and was cut, so the deadlines checked nothing", outcomes)
			}
		})
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

// A write whose context ended before it began says so, and that nothing
// was stored, as every write cut short by its context does.
func TestAWriteWithAnEndedContextSaysNothingWasStored(t *testing.T) {
	s, _ := openFile(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, appendErr := s.Append(ctx, "a", store.NoStream, []store.Event{{Type: "E"}})
	_, appendIfErr := s.AppendIf(ctx, "a", store.NoStream, []store.Event{{Type: "E", Tags: []string{"t"}}}, store.AppendCondition{})
	for name, err := range map[string]error{
		"Append":        appendErr,
		"AppendIf":      appendIfErr,
		"SetCheckpoint": s.SetCheckpoint(ctx, "c", 1),
		"Commit":        s.Commit(ctx, "c", 0, 1, func(store.StateTx) error { return nil }),
		"SQL Commit":    s.SQL().Commit(ctx, "c", 0, 1, func(*sql.Tx) error { return nil }),
	} {
		if !errors.Is(err, context.Canceled) || !strings.HasSuffix(err.Error(), "nothing was stored") {
			t.Errorf("%s with a cancelled context: %v; want context.Canceled, saying nothing was stored", name, err)
		}
	}
	if head, err := s.Head(context.Background()); err != nil || head != 0 {
		t.Fatalf("head %d (%v) after the cancelled writes, want 0", head, err)
	}
}
