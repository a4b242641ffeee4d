package annals

import (
	"fmt"
	"iter"
	"strings"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/internal/made"
	"github.com/annals-dev/annals/store"
)

// How to make each value whose zero value, or nil pointer, does nothing
// but say so: the second half of the errors of errNotMade.
const (
	makeStore      = "open one with annals.Open, or make one from an adapter with annals.New"
	makeRunner     = "make one with annals.NewRunner"
	makeDCBRunner  = "make one with annals.NewDCBRunner"
	makeInstances  = "make one with annals.NewInstances"
	makeComposite  = "make one with annals.NewComposite"
	makeSystem     = "make one with annals.NewSystem"
	makeProjection = "make one with annals.NewProjection, NewBatchProjection, NewRecordProjection or NewRecordBatchProjection, or a view's with annals.NewViewProjection"
	makeView       = "make one with annals.NewViewProjection"
	makeSaga       = "make one with annals.NewSaga or annals.NewProcess"
	makeRelay      = "make one with annals.NewRelay"
)

// errNotMade is the error of a call on a value of type typ of this
// package that its constructor did not make; see [made.Err].
func errNotMade(typ, how string) error { return made.Err("annals."+typ, how) }

// notMade returns the error of a call on s when no constructor made it,
// and nil otherwise.
func (s *Store) notMade() error {
	if s == nil || s.adapter == nil {
		return errNotMade("Store", makeStore)
	}
	return nil
}

// given is an argument a constructor cannot do without.
type given struct {
	missing bool   // the argument is nil, or a zero value of this package's
	what    string // what is missing, as "store" or "decider's Decide"
	give    string // what to pass instead
}

// giveStore is what to pass for a constructor's store.
func giveStore(s *Store) given {
	return given{s.notMade() != nil, "store", "the store from annals.Open or annals.New"}
}

// mustGive panics, naming each missing argument of constructor and what
// to pass instead: a constructor given nil is a mistake of the program,
// found where it starts rather than at the first command or event.
func mustGive(constructor string, args ...given) {
	missing := lo.FilterMap(args, func(a given, _ int) (string, bool) {
		return fmt.Sprintf("nil %s: give %s", a.what, a.give), a.missing
	})
	if len(missing) > 0 {
		panic(fmt.Sprintf("annals: %s: %s", constructor, strings.Join(missing, "; ")))
	}
}

// nilOption returns the error of options of which one is nil, which
// would panic where the options are applied, with a message that names
// none of them; nil when none is.
func nilOption[O any](opts []O) error {
	if _, i, ok := lo.FindIndexOf(opts, func(o O) bool { return lo.IsNil(o) }); ok {
		return fmt.Errorf("option %d is nil: leave it out, or give the option it was meant to be: %w", i, store.ErrInvalid)
	}
	return nil
}

// noNilOptions panics when one of opts, the options of constructor, is
// nil (see nilOption), as mustGive does.
func noNilOptions[O any](constructor string, opts []O) {
	if err := nilOption(opts); err != nil {
		panic(fmt.Sprintf("annals: %s: %v", constructor, err))
	}
}

// failed yields err, and no record.
func failed(err error) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) { yield(store.Record{}, err) }
}

// usableMapper panics, as [mustGive] does, when m reports an error of
// its own (the Err of a [codec.JSON], [codec.Pipeline], [codec.Sum] or
// [codec.KeyedMapper] whose registration was refused, or that no
// constructor made): every encode and decode of such a mapper returns
// that error, so what constructor makes could do nothing, and a consumer
// would fail only at its first event, silently on an empty log.
func usableMapper(constructor string, m any) {
	if err := mapperErr(m); err != nil {
		panic(fmt.Sprintf("annals: %s: its mapper cannot encode or decode: %v; correct it (the error says how), and check the mapper's Err() where it is built", constructor, err))
	}
}

// mapperErr returns the error that m reports of itself, as its Err
// method does, or nil.
func mapperErr(m any) error {
	if r, ok := m.(interface{ Err() error }); ok {
		return r.Err()
	}
	return nil
}
