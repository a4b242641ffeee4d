package storecopy_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// cutTarget is a target whose second import of events fails as over a
// connection that broke.
type cutTarget struct {
	*memory.Store
	imports atomic.Int32
}

func (c *cutTarget) ImportEvents(ctx context.Context, records []store.Record) error {
	if c.imports.Add(1) == 2 {
		return fmt.Errorf("import %d events: move the head: %w", len(records), io.ErrUnexpectedEOF)
	}
	return c.Store.ImportEvents(ctx, records)
}

// A copy cut by a failure of the target says that the same copy, run
// again, goes on; and it does.
func TestACutCopySaysItResumes(t *testing.T) {
	ctx := context.Background()
	src := open(t, "memory:")
	fill(t, src, 3, 20)
	dst := &cutTarget{Store: memory.New()}
	opts := storecopy.Options{Batch: 10, Keep: []string{"orders-table"}}
	_, err := storecopy.Copy(ctx, src, dst, opts)
	if err == nil || !strings.HasSuffix(err.Error(), "run the same copy again, which goes on from what it holds") {
		t.Fatalf("the cut copy failed with %v; want it to end by saying it resumes", err)
	}
	rep, err := storecopy.Copy(ctx, src, dst, opts)
	if err != nil || !rep.Resumed {
		t.Fatalf("the copy run again: %+v, %v; want it resumed and finished", rep, err)
	}
}
