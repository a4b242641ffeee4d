package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/annals-dev/annals/internal/crashtest"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// The killed-writer test runs the writer as a subprocess: the test binary
// started again with -test.run=^TestWriterChild$ and these variables
// naming the server, the schema and the writer.
const (
	writerChildURL    = "ANNALS_PG_WRITER_URL"
	writerChildSchema = "ANNALS_PG_WRITER_SCHEMA"
	writerChildID     = "ANNALS_PG_WRITER_ID"
)

// TestWriterChild is the writer process: it appends batches until it is
// killed. Run directly, it skips.
func TestWriterChild(t *testing.T) {
	u := os.Getenv(writerChildURL)
	if u == "" {
		t.Skip("runs as a subprocess of TestKilledWriterLeavesWholeBatches")
	}
	ctx := context.Background()
	s, err := postgres.Open(ctx, u, postgres.WithSchema(os.Getenv(writerChildSchema)))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.Atoi(os.Getenv(writerChildID))
	if err := crashtest.Write(ctx, s, uint64(id), func() { fmt.Println("ready") }); err != nil {
		t.Fatal(err)
	}
}

// A writer process killed with SIGKILL while it appends batches, some of
// hundreds of events, leaves every batch whole or absent: the log stays
// numbered 1…head without a gap or a duplicate, the streams contiguous,
// and the store takes appends again. Each round kills a writer and
// checks the whole log; the log must grow every round, so the check saw
// the killed writers' work.
func TestKilledWriterLeavesWholeBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	t.Parallel()
	const kills = 5
	ctx := context.Background()
	db := pgtest.New(t)
	var heads []int64
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerChildURL+"="+db.URL, writerChildSchema+"="+db.Schema, writerChildID+"="+strconv.Itoa(k))
		crashtest.Kill(t, cmd)

		s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
		if err != nil {
			t.Fatalf("open after kill %d: %v", k, err)
		}
		heads = append(heads, int64(len(crashtest.CheckLog(t, s))))
		if _, err := s.Append(ctx, fmt.Sprintf("after-kill-%d", k), store.NoStream, []store.Event{{Type: "A"}}); err != nil {
			t.Fatalf("append after kill %d: %v", k, err)
		}
		s.Close()
	}
	for k := 1; k < len(heads); k++ {
		if heads[k] <= heads[k-1] {
			t.Fatalf("the log did not grow between kills: heads %v", heads)
		}
	}
	t.Logf("log heads after each kill: %v", heads)
}
