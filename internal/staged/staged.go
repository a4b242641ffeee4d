// Package staged keeps the view-state writes of a consumer's transaction
// until the adapter applies them with the checkpoint: the part of a
// store.StateTx that the memory, SQLite and PostgreSQL adapters share. An
// adapter's transaction embeds a Writes, which gives it SaveState,
// DeleteState and DeleteStates, and its LoadState looks at Staged before
// reading the committed state.
package staged

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"slices"

	"github.com/annals-dev/annals/store/check"
)

type key struct{ view, key string }

// Writes holds the states a transaction saved or deleted, and the views it
// cleared. The zero value is empty and ready to use.
type Writes struct {
	writes  map[key][]byte  // nil value: deleted
	cleared map[string]bool // views whose committed states are all deleted
}

// SaveState stages a copy of data (never nil) under view and key.
func (w *Writes) SaveState(ctx context.Context, view, k string, data []byte) error {
	if err := check.State(view, k); err != nil {
		return err
	}
	w.put(key{view, k}, append([]byte{}, data...))
	return ctx.Err()
}

// DeleteState stages the deletion of the state under view and key.
func (w *Writes) DeleteState(ctx context.Context, view, k string) error {
	if err := check.State(view, k); err != nil {
		return err
	}
	w.put(key{view, k}, nil)
	return ctx.Err()
}

// DeleteStates stages the deletion of every state of view: the committed
// ones, and those staged so far.
func (w *Writes) DeleteStates(ctx context.Context, view string) error {
	if err := check.State(view, ""); err != nil {
		return err
	}
	maps.DeleteFunc(w.writes, func(k key, _ []byte) bool { return k.view == view })
	if w.cleared == nil {
		w.cleared = map[string]bool{}
	}
	w.cleared[view] = true
	return ctx.Err()
}

func (w *Writes) put(k key, data []byte) {
	if w.writes == nil {
		w.writes = map[key][]byte{}
	}
	w.writes[k] = data
}

// Staged returns what the transaction decided of the state under view and
// key. decided is false when it decided nothing, and the committed state
// shows through; otherwise ok says whether there is a state, and data is
// a copy of it.
func (w *Writes) Staged(view, k string) (data []byte, ok, decided bool) {
	if data, staged := w.writes[key{view, k}]; staged {
		return bytes.Clone(data), data != nil, true
	}
	if w.cleared[view] {
		return nil, false, true
	}
	return nil, false, false
}

// Cleared returns the views whose committed states are all deleted, in
// order.
func (w *Writes) Cleared() []string {
	return slices.Sorted(maps.Keys(w.cleared))
}

// Each calls fn with every staged state, in no particular order; data is
// nil for a deleted state. It stops at fn's first error.
func (w *Writes) Each(fn func(view, key string, data []byte) error) error {
	for k, data := range w.writes {
		if err := fn(k.view, k.key, data); err != nil {
			return err
		}
	}
	return nil
}

// EachInOrder is Each in order of view and key, so that two transactions
// writing the same rows of a database lock them in the same order and
// cannot deadlock. Sorting costs; an adapter with one writer at a time
// has no need of it.
func (w *Writes) EachInOrder(fn func(view, key string, data []byte) error) error {
	keys := slices.SortedFunc(maps.Keys(w.writes), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.view, b.view), cmp.Compare(a.key, b.key))
	})
	for _, k := range keys {
		if err := fn(k.view, k.key, w.writes[k]); err != nil {
			return err
		}
	}
	return nil
}
