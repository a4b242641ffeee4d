// Package made words the error of a call on a value of the library that
// its constructor did not make: a nil pointer, or a zero value declared
// with var or new, which holds none of what its methods work with. Every
// package that has such types says it the same way, with the same
// sentinel, so that a caller's errors.Is(err, store.ErrInvalid) finds it
// and a person reading it learns which constructor to call.
package made

import (
	"fmt"

	"github.com/annals-dev/annals/store"
)

// Err returns the error of a call on a value of typ, named as a user
// writes it ("annals.Store"), that its constructor did not make. It
// matches [store.ErrInvalid]; how says how to make one ("open one with
// annals.Open").
func Err(typ, how string) error {
	return fmt.Errorf("zero %s (nil, or not made by its constructor): %s: %w", typ, how, store.ErrInvalid)
}
