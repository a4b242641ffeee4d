package memory_test

import (
	"bytes"
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

// A reader's records are its own: the payloads of a page or a chunk share
// one allocation, but writing into one, or appending to it, changes
// neither the store nor the records read with it.
func TestReadRecordsAreTheReaders(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	events := []store.Event{
		{Type: "E", Data: []byte("one"), Tags: []string{"t"}},
		{Type: "E", Data: []byte("two"), Tags: []string{"t"}},
		{Type: "E", Data: []byte{}, Tags: []string{"t"}},
		{Type: "E", Tags: []string{"t"}},
	}
	if _, err := s.Append(ctx, "s", store.NoStream, events); err != nil {
		t.Fatal(err)
	}
	spoil := func(recs []store.Record) {
		for i := range recs {
			if len(recs[i].Data) > 0 {
				recs[i].Data[0] = 'X'
			}
			recs[i].Data = append(recs[i].Data, "!!"...)
			if next := i + 1; next < len(recs) && !bytes.Equal(recs[next].Data, events[next].Data) {
				t.Fatalf("spoiling record %d changed record %d to %q", i, next, recs[next].Data)
			}
		}
	}
	check := func(what string, recs []store.Record) {
		t.Helper()
		if len(recs) != len(events) {
			t.Fatalf("%s: %d records, want %d", what, len(recs), len(events))
		}
		for i, r := range recs {
			if !bytes.Equal(r.Data, events[i].Data) || r.Data == nil {
				t.Fatalf("%s: record %d holds %q (nil %v), want %q and never nil", what, i, r.Data, r.Data == nil, events[i].Data)
			}
		}
	}
	readStream := func() []store.Record {
		var recs []store.Record
		for r, err := range s.ReadStream(ctx, "s", 1) {
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		return recs
	}
	readLog := func() []store.Record {
		recs, err := s.ReadLog(ctx, store.LogQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	readQuery := func() []store.Record {
		var recs []store.Record
		for r, err := range s.ReadQuery(ctx, store.QueryAll(), 0) {
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		return recs
	}
	for _, read := range []func() []store.Record{readStream, readLog, readQuery} {
		recs := read()
		check("read", recs)
		spoil(recs)
	}
	check("stream after spoiling", readStream())
	check("log after spoiling", readLog())
	check("query after spoiling", readQuery())
}
