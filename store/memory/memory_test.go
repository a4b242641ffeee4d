package memory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// The log is kept in blocks of records; reads that cross from one block to
// the next see every record once, in order, with its own payload.
func TestReadsCrossLogBlocks(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	const events = 10_000 // more than two blocks
	for i := 0; i < events; i += 100 {
		batch := make([]store.Event, 100)
		for j := range batch {
			batch[j] = store.Event{Type: "E", Data: fmt.Appendf(nil, "%d", i+j+1)}
		}
		stream := []string{"a", "b", "c"}[i/100%3]
		if _, err := s.Append(ctx, stream, store.AnyVersion, batch); err != nil {
			t.Fatal(err)
		}
	}
	var pos int64
	for {
		page, err := s.ReadLog(ctx, store.LogQuery{After: pos, Limit: 777})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			pos++
			if r.Position != pos || string(r.Data) != fmt.Sprint(pos) {
				t.Fatalf("log record at %d: position %d, data %q", pos, r.Position, r.Data)
			}
		}
	}
	if pos != events {
		t.Fatalf("read %d records of the log, want %d", pos, events)
	}
	var version int64
	var last int64
	for r, err := range s.ReadStream(ctx, "b", 1) {
		if err != nil {
			t.Fatal(err)
		}
		version++
		if r.Version != version || r.StreamID != "b" || r.Position <= last || string(r.Data) != fmt.Sprint(r.Position) {
			t.Fatalf("stream b record %d: %+v after position %d", version, r, last)
		}
		last = r.Position
	}
	if want := int64(3300); version != want {
		t.Fatalf("stream b has %d records, want %d", version, want)
	}
}
