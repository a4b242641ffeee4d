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

// checkAcked runs a.Check on the log of s and returns its failure, or ""
// when it passed.
func checkAcked(t testing.TB, s store.Store, a crashtest.Acked, k crashtest.Killed) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Check(f, crashtest.CheckLog(t, s), k)
	}()
	<-done
	return f.msg
}

// Acked.Check passes a log of exactly the acknowledged batches, with or
// without the batch the writer was killed in, and fails a log that lost
// an acknowledged event or holds one that no writer was told of.
func TestAckedCheckSeesLostAndExtraEvents(t *testing.T) {
	ctx := context.Background()
	appendBatches := func(sizes ...int) store.Store {
		s := memory.New()
		var v int64
		for _, n := range sizes {
			var err error
			if v, err = s.Append(ctx, "crash-0", v, crashtest.Batch(v, n, nil)); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	killed := crashtest.Killed{Acked: map[string]int64{"crash-0": 5}, Stream: "crash-0", First: 6, Last: 8}
	for _, c := range []struct {
		name  string
		s     store.Store
		acked crashtest.Acked
		want  string // in the failure; "" to pass
		after int64  // the version acknowledged after the check
	}{
		{"acknowledged", appendBatches(2, 3), crashtest.Acked{}, "", 5},
		{"killed batch committed", appendBatches(2, 3, 3), crashtest.Acked{}, "", 8},
		{"acknowledged batch lost", appendBatches(2), crashtest.Acked{}, "an append up to 5 was acknowledged", 0},
		{"acknowledged in an earlier round, lost", appendBatches(2, 3), crashtest.Acked{"crash-1": 1}, `stream "crash-1" holds versions up to 0`, 0},
		{"unacknowledged batch", appendBatches(2, 3, 4), crashtest.Acked{}, "beyond the 5 acknowledged", 0},
	} {
		msg := checkAcked(t, c.s, c.acked, killed)
		switch {
		case c.want == "" && msg != "":
			t.Errorf("%s: the check failed: %s", c.name, msg)
		case c.want != "" && !strings.Contains(msg, c.want):
			t.Errorf("%s: the check said %q, want %q", c.name, msg, c.want)
		case c.want == "" && c.acked["crash-0"] != c.after:
			t.Errorf("%s: after the check, version %d of crash-0 is acknowledged, want %d", c.name, c.acked["crash-0"], c.after)
		}
	}
}
