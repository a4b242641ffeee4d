package decider

import "reflect"

// Either holds exactly one of a left value L or a right value R. It routes
// commands and events between two combined deciders. Build one with [Left]
// or [Right]; the zero Either holds the zero left value.
//
// Either is a [Sum] of two cases: Left is case 0 and Right is case 1.
type Either[L, R any] struct {
	left    L
	right   R
	isRight bool
}

// Left returns an Either that holds the left value l.
func Left[L, R any](l L) Either[L, R] { return Either[L, R]{left: l} }

// Right returns an Either that holds the right value r.
func Right[L, R any](r R) Either[L, R] { return Either[L, R]{right: r, isRight: true} }

// IsRight reports whether e holds a right value.
func (e Either[L, R]) IsRight() bool { return e.isRight }

// Left returns the left value and true, or the zero value and false when e
// holds a right value.
func (e Either[L, R]) Left() (L, bool) { return e.left, !e.isRight }

// Right returns the right value and true, or the zero value and false when e
// holds a left value.
func (e Either[L, R]) Right() (R, bool) { return e.right, e.isRight }

// Case returns 0 and the left value, or 1 and the right value.
func (e Either[L, R]) Case() (int, any) {
	if e.isRight {
		return 1, e.right
	}
	return 0, e.left
}

// CaseTypes returns the types L and R.
func (Either[L, R]) CaseTypes() []reflect.Type {
	return []reflect.Type{reflect.TypeFor[L](), reflect.TypeFor[R]()}
}

// SetCase makes e hold value as its left (0) or right (1) value; see
// [SumSetter].
func (e *Either[L, R]) SetCase(index int, value any) error {
	if err := checkIndex(index, 2); err != nil {
		return err
	}
	if index == 0 {
		l, err := caseValue[L](value)
		if err != nil {
			return err
		}
		*e = Left[L, R](l)
		return nil
	}
	r, err := caseValue[R](value)
	if err != nil {
		return err
	}
	*e = Right[L](r)
	return nil
}

// String renders e as Left(value) or Right(value), a struct value by its
// type name and fields: Left(Deposited{Amount:3}).
func (e Either[L, R]) String() string {
	if e.isRight {
		return showCase("Right", e.right)
	}
	return showCase("Left", e.left)
}

// GoString renders e for %#v with the value in Go syntax, so that nil and
// empty differ: decider.Either{Left:bank.Deposited{Amount:3}}.
func (e Either[L, R]) GoString() string {
	if e.isRight {
		return goCase("Either", "Right", e.right)
	}
	return goCase("Either", "Left", e.left)
}

// Pair is the state of two combined deciders.
type Pair[A, B any] struct {
	First  A
	Second B
}

// String renders p as {First:… Second:…}, each part short.
func (p Pair[A, B]) String() string {
	return showFields(caseNames[:2], p.First, p.Second)
}

// GoString renders p for %#v with its parts in Go syntax.
func (p Pair[A, B]) GoString() string {
	return goFields("Pair", caseNames[:2], p.First, p.Second)
}

// Keyed is a command or event addressed to the instance Key of a [Many]
// decider.
type Keyed[K comparable, V any] struct {
	Key   K
	Value V
}

var keyedNames = []string{"Key", "Value"}

// String renders k as {Key:… Value:…}, each part short.
func (k Keyed[K, V]) String() string { return showFields(keyedNames, k.Key, k.Value) }

// GoString renders k for %#v with its parts in Go syntax.
func (k Keyed[K, V]) GoString() string { return goFields("Keyed", keyedNames, k.Key, k.Value) }
