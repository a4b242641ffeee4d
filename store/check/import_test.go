package check_test

import (
	"errors"
	"math"
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
		"an empty tag":      {func(r *store.Record) { r.Tags = []string{"a", ""} }, "tag is empty"},
		"a tag with NUL":    {func(r *store.Record) { r.Tags = []string{"a\x00b"} }, "tag"},
		"a repeated tag":    {func(r *store.Record) { r.Tags = []string{"a", "a"} }, "tag"},
		"year 1600":         {func(r *store.Record) { r.Time = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) }, "outside the years 1677 to 2262"},
		"year 3000":         {func(r *store.Record) { r.Time = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, "outside the years 1677 to 2262"},
	} {
		second := good(2)
		c.spoil(&second)
		err := check.Records([]store.Record{good(1), second}, 0)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want store.ErrInvalid saying %q", name, err, c.want)
		}
	}
}

// The bounds of the times every store keeps are themselves kept, and a
// nanosecond past either is refused.
func TestTimeTakesTheBoundsAndNothingPast(t *testing.T) {
	for _, ok := range []time.Time{{}, store.MinTime, store.MaxTime, time.Unix(0, 0)} {
		if err := check.Time(ok); err != nil {
			t.Errorf("%v: %v, want it taken", ok, err)
		}
	}
	for _, bad := range []time.Time{store.MinTime.Add(-1), store.MaxTime.Add(1), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)} {
		if err := check.Time(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%v: %v, want store.ErrInvalid", bad, err)
		}
	}
	if err := check.ImportCheckpoint(store.Checkpoint{Consumer: "c", Position: 1, Time: store.MaxTime.Add(1)}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a checkpoint past store.MaxTime: %v, want store.ErrInvalid", err)
	}
}

// An append whose versions would pass the largest int64 is refused, with
// any number of events, rather than left to overflow in a database.
func TestAppendRefusesAnExpectedVersionWithNoRoom(t *testing.T) {
	one := []store.Event{{Type: "T"}}
	if err := check.Append("s", math.MaxInt64-1, one); err != nil {
		t.Fatalf("one event after MaxInt64-1: %v, want it taken", err)
	}
	for _, n := range []int{1, 2} {
		err := check.Append("s", math.MaxInt64-int64(n)+1, make([]store.Event, n, n))
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "leaves no room") {
			t.Errorf("%d events after MaxInt64-%d: %v, want store.ErrInvalid saying it leaves no room", n, n-1, err)
		}
	}
}
