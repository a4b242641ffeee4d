package decider

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Sum is implemented by every sum type of this package: [Either] and
// [Sum3] to [Sum6]. A sum holds exactly one of its cases; the cases are
// numbered from 0 in the order of the type's parameters.
//
// Sum is the contract a codec in another package uses to persist a sum by
// its parts (see "Persisting sums" in the package documentation): it
// stores the value of the case held as that case's own record, with no
// index or envelope, and restores the sum through [SumSetter] from the
// case whose mapper reads the record.
type Sum interface {
	// Case returns the index of the case held and its value.
	Case() (index int, value any)
	// CaseTypes returns the type of each case, in index order. It
	// depends only on the sum's type, so the zero value answers it. A
	// case of interface type is listed as the interface; the value it
	// holds has a dynamic type of its own.
	CaseTypes() []reflect.Type
}

// SumSetter is implemented by a pointer to every sum type of this
// package. SetCase makes the sum hold value as the case index. It returns
// an error that wraps [ErrCase] when index is not a case of the sum or
// value cannot be held by that case (it is not assignable to the case's
// type, or it is nil for a case whose type cannot be nil); the sum is
// then unchanged.
type SumSetter interface {
	Sum
	SetCase(index int, value any) error
}

// ErrCase reports a value that does not fit a case of a sum: the index is
// not one of the sum's cases, or the value is not of the case's type.
var ErrCase = errors.New("decider: value does not fit the case")

var (
	_ SumSetter = (*Either[int, int])(nil)
	_ SumSetter = (*Sum3[int, int, int])(nil)
	_ SumSetter = (*Sum4[int, int, int, int])(nil)
	_ SumSetter = (*Sum5[int, int, int, int, int])(nil)
	_ SumSetter = (*Sum6[int, int, int, int, int, int])(nil)
)

// caseValue converts value to the type T of a case, which may be an
// interface type.
func caseValue[T any](value any) (T, error) {
	var zero T
	t := reflect.TypeFor[T]()
	if value == nil {
		switch t.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
			return zero, nil
		}
		return zero, fmt.Errorf("%w: nil for a case of type %v", ErrCase, t)
	}
	v, ok := value.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %T for a case of type %v", ErrCase, value, t)
	}
	return v, nil
}

// checkIndex rejects an index that is not one of n cases.
func checkIndex(index, n int) error {
	if index < 0 || index >= n {
		return fmt.Errorf("%w: case %d of a sum of %d cases", ErrCase, index, n)
	}
	return nil
}

// caseOf numbers the cases of a sum nested as a left value and a sum of
// the rest: the left value is case 0, case i of the rest is case i+1.
func caseOf[A any, R Sum](e Either[A, R]) (int, any) {
	if a, ok := e.Left(); ok {
		return 0, a
	}
	r, _ := e.Right()
	i, v := r.Case()
	return i + 1, v
}

// setCaseOf sets case index of a sum nested as in caseOf. The index has
// been checked against the whole sum.
func setCaseOf[A, R any, P interface {
	*R
	SetCase(int, any) error
}](e *Either[A, R], index int, value any) error {
	if index == 0 {
		a, err := caseValue[A](value)
		if err != nil {
			return err
		}
		*e = Left[A, R](a)
		return nil
	}
	var r R
	if err := P(&r).SetCase(index-1, value); err != nil {
		return err
	}
	*e = Right[A](r)
	return nil
}

// inRest returns get(r) when e holds the rest r of a nested sum.
func inRest[A, R, V any](e Either[A, R], get func(R) (V, bool)) (V, bool) {
	if r, ok := e.Right(); ok {
		return get(r)
	}
	var zero V
	return zero, false
}

// caseNames name the cases of Sum3 to Sum6, and the fields of Tuple3 to
// Tuple6.
var caseNames = [...]string{"First", "Second", "Third", "Fourth", "Fifth", "Sixth"}

// showCase renders a sum's case as Name(value), the value short.
func showCase(name string, v any) string { return name + "(" + show(v) + ")" }

// goCase renders a sum's case for %#v: the sum's type without its type
// arguments, and the value in Go syntax.
func goCase(typ, name string, v any) string {
	return "decider." + typ + "{" + name + ":" + goSyntax(v) + "}"
}

// goSyntax renders v in Go syntax; a nil interface is nil.
func goSyntax(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%#v", v)
}

// showFields renders a product as {Name:value ...}, values short.
func showFields(names []string, values ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(names[i] + ":" + show(v))
	}
	b.WriteByte('}')
	return b.String()
}

// goFields renders a product for %#v: its type without type arguments and
// each field in Go syntax, so that nil and empty differ.
func goFields(typ string, names []string, values ...any) string {
	var b strings.Builder
	b.WriteString("decider." + typ + "{")
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(names[i] + ":" + goSyntax(v))
	}
	b.WriteByte('}')
	return b.String()
}

// show renders a value short: a struct as its type name without package
// and its fields, a string quoted, a value with a String method by it.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case fmt.Stringer, error:
		return fmt.Sprint(v)
	case string:
		return strconv.Quote(v)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Struct:
		return typeName(rv.Type()) + fmt.Sprintf("%+v", v)
	case reflect.Pointer:
		if rv.IsNil() {
			return "nil"
		}
		if rv.Elem().Kind() == reflect.Struct {
			return "&" + typeName(rv.Elem().Type()) + fmt.Sprintf("%+v", rv.Elem().Interface())
		}
	}
	return fmt.Sprintf("%+v", v)
}

// typeName is the name of t without its package or type arguments.
func typeName(t reflect.Type) string {
	name, _, _ := strings.Cut(t.Name(), "[")
	return name
}
