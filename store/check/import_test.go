package check_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// The records of an import are refused as a whole for what no append
// could store, so that every adapter refuses the same import: here a
// record without a time, which SQLite cannot store and the memory store
// would have taken.
func TestRecordsRefusesWhatNoAppendStores(t *testing.T) {
	good := func(pos int64) store.Record {
		return store.Record{Position: pos, StreamID: "s", Version: pos, ID: uuid.New(), Type: "T", SchemaVersion: 1, Time: time.Unix(1, 0)}
	}
	if err := check.Records([]store.Record{good(1), good(2)}, 0); err != nil {
		t.Fatalf("two good records: %v", err)
	}
	for name, c := range map[string]struct {
		spoil func(*store.Record)
		want  string
	}{
		"no time":           {func(r *store.Record) { r.Time = time.Time{} }, "has no time"},
		"no ID":             {func(r *store.Record) { r.ID = uuid.Nil }, "has no ID"},
		"version 0":         {func(r *store.Record) { r.Version = 0 }, "want both ≥ 1"},
		"schema version 0":  {func(r *store.Record) { r.SchemaVersion = 0 }, "want both ≥ 1"},
		"no type":           {func(r *store.Record) { r.Type = "" }, "type"},
		"empty stream":      {func(r *store.Record) { r.StreamID = "" }, "stream"},
		"encoding too long": {func(r *store.Record) { r.Encoding = strings.Repeat("e", store.MaxEncodingLen+1) }, "encoding"},
	} {
		second := good(2)
		c.spoil(&second)
		err := check.Records([]store.Record{good(1), second}, 0)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want store.ErrInvalid saying %q", name, err, c.want)
		}
	}
}
