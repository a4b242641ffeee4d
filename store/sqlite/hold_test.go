package sqlite_test

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	driver "modernc.org/sqlite"

	"github.com/annals-dev/annals/internal/crashtest"
)

// The crash tests kill a child process inside the work they mean to
// interrupt, whatever the speed of the machine: the child stops at a
// point the parent chose, says "held" on stdout and waits to be killed.
// It stops in its own code (a projection's handler) or, for the store's
// own writes, in hooks of the SQLite driver, which the child installs on
// every connection it opens.

// holdCheckpoint makes the next write of a checkpoint on the child's
// connections hold, and holdCommit the next commit.
var holdCheckpoint, holdCommit atomic.Bool

// hold says "held" and waits to be killed.
func hold() {
	fmt.Println("held")
	time.Sleep(10 * time.Minute)
	fmt.Fprintln(os.Stderr, "the held child was not killed within 10 minutes")
	os.Exit(2)
}

// installHolds makes the connections that the child opens from now on
// hold the insert of a row that holds crashtest.HoldInsert; a write of a
// checkpoint while holdCheckpoint is set; and the commit of a transaction
// that wrote a row that holds crashtest.HoldCommit or during which
// holdCommit was set. A commit hook runs after every statement of the
// transaction, before SQLite writes any of it to the database file or
// its log.
func installHolds() {
	driver.RegisterConnectionHook(func(conn driver.ExecQuerierContext, _ string) error {
		hooks, ok := conn.(driver.HookRegisterer)
		if !ok {
			return fmt.Errorf("a connection of type %T takes no hooks", conn)
		}
		hooks.RegisterPreUpdateHook(func(d driver.SQLitePreUpdateData) {
			if d.TableName == "annals_checkpoints" && holdCheckpoint.Load() {
				hold()
			}
			row := make([]any, d.Count())
			if d.New(row...) != nil { // a delete
				return
			}
			for _, v := range row {
				var s string
				switch v := v.(type) {
				case string:
					s = v
				case []byte:
					s = string(v)
				}
				switch {
				case strings.Contains(s, crashtest.HoldInsert):
					hold()
				case strings.Contains(s, crashtest.HoldCommit):
					holdCommit.Store(true)
				}
			}
		})
		hooks.RegisterCommitHook(func() int32 {
			if holdCommit.Load() {
				hold()
			}
			return 0
		})
		return nil
	})
}
