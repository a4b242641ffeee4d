package staged_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/internal/staged"
	"github.com/annals-dev/annals/store"
)

// For any sequence of saves, deletes and clears over a committed set of
// states, what a transaction reads through Staged, and what applying the
// staged writes as an adapter does (cleared views first, then each staged
// state) leaves, both equal a model that applies each operation at once.
// Each and EachInOrder give the same writes, EachInOrder in order of view
// and key.
func TestStagedWritesAgreeWithTheirApplication(t *testing.T) {
	views, keys := []string{"a", "b"}, []string{"k1", "k2", "k3"}
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		committed := map[[2]string][]byte{}
		for _, v := range views {
			for _, k := range keys {
				if rapid.Bool().Draw(rt, "committed") {
					committed[[2]string{v, k}] = []byte("old " + v + k)
				}
			}
		}
		model := maps.Clone(committed)
		// read is what a transaction's LoadState returns.
		var w staged.Writes
		read := func(v, k string) ([]byte, bool) {
			if data, ok, decided := w.Staged(v, k); decided {
				return data, ok
			}
			data, ok := committed[[2]string{v, k}]
			return data, ok
		}
		for i := range rapid.IntRange(0, 12).Draw(rt, "ops") {
			v := rapid.SampledFrom(views).Draw(rt, "view")
			k := rapid.SampledFrom(keys).Draw(rt, "key")
			var err error
			switch rapid.IntRange(0, 2).Draw(rt, "op") {
			case 0:
				data := fmt.Appendf(nil, "new %d", i)
				err = w.SaveState(ctx, v, k, data)
				model[[2]string{v, k}] = data
			case 1:
				err = w.DeleteState(ctx, v, k)
				delete(model, [2]string{v, k})
			case 2:
				err = w.DeleteStates(ctx, v)
				maps.DeleteFunc(model, func(key [2]string, _ []byte) bool { return key[0] == v })
			}
			if err != nil {
				rt.Fatal(err)
			}
		}
		apply := func(each func(func(v, k string, data []byte) error) error) (map[[2]string][]byte, [][2]string) {
			applied := map[[2]string][]byte{}
			for k, data := range committed {
				if !slices.Contains(w.Cleared(), k[0]) {
					applied[k] = data
				}
			}
			var order [][2]string
			if err := each(func(v, k string, data []byte) error {
				order = append(order, [2]string{v, k})
				if data == nil {
					delete(applied, [2]string{v, k})
				} else {
					applied[[2]string{v, k}] = data
				}
				return nil
			}); err != nil {
				rt.Fatal(err)
			}
			return applied, order
		}
		applied, _ := apply(w.Each)
		inOrder, order := apply(w.EachInOrder)
		if !slices.IsSortedFunc(order, func(a, b [2]string) int { return slices.Compare(a[:], b[:]) }) {
			rt.Fatalf("EachInOrder went in the order %v", order)
		}
		if !maps.EqualFunc(applied, inOrder, bytes.Equal) {
			rt.Fatalf("Each applied %q, EachInOrder %q", applied, inOrder)
		}
		for _, v := range views {
			for _, k := range keys {
				want, wantOK := model[[2]string{v, k}]
				if got, ok := read(v, k); ok != wantOK || !bytes.Equal(got, want) {
					rt.Fatalf("%s/%s: the transaction read %q (%v), want %q (%v)", v, k, got, ok, want, wantOK)
				}
				if got, ok := applied[[2]string{v, k}]; ok != wantOK || !bytes.Equal(got, want) {
					rt.Fatalf("%s/%s: the applied writes hold %q (%v), want %q (%v)", v, k, got, ok, want, wantOK)
				}
			}
		}
	})
}

// A staged state is a copy: changing the bytes saved or read afterwards
// changes nothing staged. Bad names are refused before anything is staged.
func TestStagedWritesCopyAndValidate(t *testing.T) {
	ctx := context.Background()
	var w staged.Writes
	data := []byte("v1")
	if err := w.SaveState(ctx, "view", "key", data); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	got, ok, _ := w.Staged("view", "key")
	if !ok || string(got) != "v1" {
		t.Fatalf("staged %q, %v after the caller changed its bytes; want v1", got, ok)
	}
	got[0] = 'Y'
	if again, _, _ := w.Staged("view", "key"); string(again) != "v1" {
		t.Fatalf("staged %q after a reader changed its copy; want v1", again)
	}
	if err := w.SaveState(ctx, "", "key", nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("saving under an empty view: %v, want ErrInvalid", err)
	}
	if err := w.Each(func(v, k string, _ []byte) error {
		if v != "view" || k != "key" {
			return fmt.Errorf("staged %s/%s", v, k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
