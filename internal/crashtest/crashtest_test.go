package crashtest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/internal/crashtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// fatalTB records the first fatal message of CheckLog and stops it there,
// as a test's Fatal would.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// check runs CheckLog on s and returns its failure, or "" when it passed.
func check(t testing.TB, s store.Store) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		crashtest.CheckLog(f, s)
	}()
	<-done
	return f.msg
}

// CheckLog passes every log of whole batches, and fails a log where one
// batch lost its tail, whichever batch it is: the crash tests' check can
// see the damage it is there to see.
func TestCheckLogSeesACutBatch(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		sizes := rapid.SliceOfN(rapid.IntRange(1, 30), 1, 12).Draw(rt, "sizes")
		streams := rapid.SliceOfN(rapid.IntRange(0, 2), len(sizes), len(sizes)).Draw(rt, "streams")
		cut := rapid.IntRange(-1, len(sizes)-1).Draw(rt, "cut")
		if cut >= 0 && sizes[cut] < 2 {
			cut = -1 // a batch of one cannot lose its tail
		}
		s := memory.New()
		versions := map[string]int64{}
		for i, n := range sizes {
			stream := fmt.Sprintf("crash-%d", streams[i])
			events := crashtest.Batch(versions[stream], n, nil)
			if i == cut {
				events = events[:rapid.IntRange(1, n-1).Draw(rt, "kept")]
			}
			v, err := s.Append(ctx, stream, versions[stream], events)
			if err != nil {
				rt.Fatal(err)
			}
			versions[stream] = v
		}
		msg := check(t, s)
		switch {
		case cut < 0 && msg != "":
			rt.Fatalf("a log of whole batches failed the check: %s", msg)
		case cut >= 0 && !strings.Contains(msg, "is cut after"):
			rt.Fatalf("batch %d lost its tail, and the check said %q", cut, msg)
		}
	})
}

// An event holding another version's data fails the check.
func TestCheckLogSeesMisplacedData(t *testing.T) {
	s := memory.New()
	events := crashtest.Batch(0, 3, nil)
	events[0].Data = events[2].Data
	if _, err := s.Append(context.Background(), "crash-0", store.NoStream, events); err != nil {
		t.Fatal(err)
	}
	if msg := check(t, s); !strings.Contains(msg, "holds the data of version 3") {
		t.Fatalf("check said %q", msg)
	}
}
