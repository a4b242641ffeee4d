package annals_test

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// skewed serves a stream's records with a version left out (version 2)
// or repeated (version 2 twice), as a store edited by hand might.
type skewed struct {
	store.Store
	repeat bool
}

func (s skewed) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		for rec, err := range s.Store.ReadStream(ctx, streamID, from) {
			if err == nil && rec.Version == 2 {
				if !s.repeat {
					continue
				}
				if !yield(rec, nil) {
					return
				}
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// A stream whose versions skip or repeat one is not folded into a state
// that no append made, and no command is decided on it: loading fails
// with store.ErrCorrupt, and nothing is appended after the gap.
func TestAStreamWithAGapOrARepeatIsCorrupt(t *testing.T) {
	ctx := context.Background()
	for _, repeat := range []bool{false, true} {
		mem := memory.New()
		appendN(t, annals.NewRunner(annals.New(mem), counter, counterCodec()), "c", 3)
		r := annals.NewRunner(annals.New(skewed{mem, repeat}), counter, counterCodec())
		if _, _, err := r.Load(ctx, "c"); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("repeat=%v: Load = %v, want an error matching store.ErrCorrupt", repeat, err)
		}
		if _, err := r.Handle(ctx, "c", increment{}); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("repeat=%v: Handle = %v, want an error matching store.ErrCorrupt", repeat, err)
		}
		if head, _ := mem.Head(ctx); head != 3 {
			t.Errorf("repeat=%v: the log holds %d events after the refused command, want 3", repeat, head)
		}
	}
}
