package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// behind is a store whose head, when it is first read, is the head it
// had before the events after it were appended: the head that verify
// reads before an application appends more, as on a running store. A
// negative stale keeps the head at -stale for ever, as a damaged store's.
type behind struct {
	*memory.Store
	stale int64
	reads int
}

func (b *behind) Head(ctx context.Context) (int64, error) {
	b.reads++
	switch {
	case b.stale < 0:
		return -b.stale, nil
	case b.reads == 1:
		return b.stale, nil
	}
	return b.Store.Head(ctx)
}

// tenEvents returns a memory store that holds the ten events of dog-1.
func tenEvents(t *testing.T) *memory.Store {
	t.Helper()
	mem := memory.New()
	events := make([]store.Event, 10)
	for i := range events {
		events[i] = store.Event{Type: "Noted", Data: []byte(`{}`)}
	}
	if _, err := mem.Append(context.Background(), "dog-1", store.NoStream, events); err != nil {
		t.Fatal(err)
	}
	return mem
}

// runVerify runs verify on s as the tool does and returns its report.
func runVerify(t *testing.T, s store.Store) *verifyReport {
	t.Helper()
	c := &cli{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	dec, err := newDecoder(s, c.getenv)
	if err != nil {
		t.Fatal(err)
	}
	rep := &verifyReport{Problems: []string{}}
	if err := verify(context.Background(), s, dec, "json", rep, newProgress(c, "verify")); err != nil {
		t.Fatal(err)
	}
	return rep
}

// Verify of a store that the application writes meanwhile walks the log
// up to the head it read first, and finds no problem in what was
// appended since: events past that head, a snapshot or a checkpoint
// that a running instance wrote after them. A log that holds events
// past the store's head still is a problem.
func TestVerifyOfARunningStoreFindsNoProblemInWhatIsAppendedMeanwhile(t *testing.T) {
	ctx := context.Background()
	mem := tenEvents(t)
	if err := mem.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "dog-1", Version: 8, Type: "Dog", SchemaVersion: 1, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := mem.SetCheckpoint(ctx, "dogs", 9); err != nil {
		t.Fatal(err)
	}
	rep := runVerify(t, &behind{Store: mem, stale: 5})
	if !rep.OK || rep.Events != 5 || rep.Head != 5 {
		t.Fatalf("verify with events appended after its head: ok %v, %d events, head %d, problems %q; want ok, the 5 events up to the head", rep.OK, rep.Events, rep.Head, rep.Problems)
	}
	// The snapshot and the checkpoint are measured against the store
	// as it is now, which is what is wrong with them.
	if err := mem.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "dog-1", Version: 11, Type: "Dog", SchemaVersion: 1, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := mem.SetCheckpoint(ctx, "dogs", 12); err != nil {
		t.Fatal(err)
	}
	rep = runVerify(t, &behind{Store: mem, stale: 5})
	want := []string{`the snapshot of stream "dog-1" is at version 11, but the stream has 10 events`, `consumer "dogs" has checkpoint 12, past the head 10`}
	if rep.OK || rep.ProblemCount != len(want) {
		t.Fatalf("verify with a snapshot and a checkpoint past the stream and the log: problems %q, want %q", rep.Problems, want)
	}
	for i, w := range want {
		if !strings.Contains(rep.Problems[i], w) {
			t.Errorf("problem %q, want %q", rep.Problems[i], w)
		}
	}
	// A store whose head stays below its log's last event.
	rep = runVerify(t, &behind{Store: mem, stale: -5})
	if rep.OK || rep.Events != 10 || !strings.Contains(strings.Join(rep.Problems, "\n"), "the head is 5, but the last event is at position 10") {
		t.Fatalf("verify of a log past its head: %d events, problems %q; want the 10 events and the head named", rep.Events, rep.Problems)
	}
}

// headAt is a store whose head is stale when first read, as on a
// running store, and then stays at head though the log goes further.
type headAt struct {
	*memory.Store
	stale, head int64
	reads       int
}

func (h *headAt) Head(context.Context) (int64, error) {
	h.reads++
	if h.reads == 1 {
		return h.stale, nil
	}
	return h.head, nil
}

// A log past the store's head is named with the head the store has when
// verify finds it, not the one it read first, which a running store has
// left behind.
func TestVerifyNamesTheHeadALogPassesAsItIsNow(t *testing.T) {
	rep := runVerify(t, &headAt{Store: tenEvents(t), stale: 3, head: 7})
	if rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "the head is 7, but the last event is at position 10") {
		t.Fatalf("problems %q, want the head the store has now named", rep.Problems)
	}
}
