package proptest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// contractCallsAfterClose: once a store is closed, every call on it fails
// with an error matching store.ErrClosed, a read as much as a write, so
// that a consumer's loop stops rather than retry, or read on as if the
// store were open. The calls are found by reflection: every exported
// method of the store's type that returns an error, or an iter.Seq2 that
// yields one, is called once with valid arguments, and so is the Commit
// of a committer a method without arguments returns (SQL()). A method an
// adapter gains later is checked without a line here. Close itself is
// the exception, and stays harmless: a second Close returns nil.
func contractCallsAfterClose(t *testing.T, s store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), contractTimeout)
	defer cancel()
	// Something to read, so that a read that ignores Close finds it.
	id := uuid.New()
	if _, err := s.Append(ctx, closedName, store.NoStream, []store.Event{{ID: id, Type: "Closed"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, closedName, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// A call that waits (a Wait, a Lock) must fail at once, not when
	// this ends.
	calls, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	args := closedArgs(calls, id)
	called := callAfterClose(t, reflect.ValueOf(s), args)
	if called == 0 {
		t.Fatalf("%T has no method that returns an error to call after Close", s)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close returned %v; want nil: closing twice is harmless", err)
	}
}

// closedName is the stream, consumer, view, key, subject and lease name
// of the calls after Close.
const closedName = "closed"

// callAfterClose calls each method of v that returns an error, except
// Close, with arguments from args, and fails t for each that does not
// fail with store.ErrClosed. It returns how many it called.
func callAfterClose(t *testing.T, v reflect.Value, args func(reflect.Type) reflect.Value) int {
	t.Helper()
	called := 0
	for i := range v.NumMethod() {
		name, m := v.Type().Method(i).Name, v.Method(i)
		if name == "Close" {
			continue
		}
		if n := callClosed(t, name, m, args); n > 0 {
			called += n
			continue
		}
		if m.Type().NumIn() > 0 || m.Type().NumOut() != 1 {
			continue
		}
		// A committer the store hands out (SQL()) commits on it.
		c := m.Call(nil)[0]
		if (c.Kind() == reflect.Interface || c.Kind() == reflect.Pointer) && c.IsNil() {
			continue
		}
		if commit := c.MethodByName("Commit"); commit.IsValid() && commit.Type().NumIn() > 0 && commit.Type().In(0) == contextType {
			called += callClosed(t, name+"().Commit", commit, args)
		}
	}
	return called
}

// callClosed calls m, a method named name, with arguments from args when
// it returns an error or an iter.Seq2 that yields one, and fails t
// unless the error matches store.ErrClosed. It returns 1 when it called
// m.
func callClosed(t *testing.T, name string, m reflect.Value, args func(reflect.Type) reflect.Value) int {
	t.Helper()
	ft := m.Type()
	in := make([]reflect.Value, ft.NumIn())
	for j := range in {
		in[j] = args(ft.In(j))
	}
	var err error
	switch {
	case ft.NumOut() > 0 && ft.Out(ft.NumOut()-1) == errorType:
		err = recovered(func() error {
			out := callMethod(m, in)
			err, _ := out[len(out)-1].Interface().(error)
			return err
		})
	case ft.NumOut() == 1 && isErrSeq(ft.Out(0)):
		err = recovered(func() error { return firstYield(callMethod(m, in)[0]) })
	default:
		return 0
	}
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("%s after Close returned %v; want an error matching store.ErrClosed: nothing succeeds on a closed store", name, err)
	}
	return 1
}

func callMethod(m reflect.Value, in []reflect.Value) []reflect.Value {
	if m.Type().IsVariadic() {
		return m.CallSlice(in)
	}
	return m.Call(in)
}

// recovered runs f, and turns its panic into an error.
func recovered(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

var (
	errorType   = reflect.TypeFor[error]()
	contextType = reflect.TypeFor[context.Context]()
)

// isErrSeq reports whether t is an iter.Seq2[V, error].
func isErrSeq(t reflect.Type) bool {
	if t.Kind() != reflect.Func || t.NumIn() != 1 || t.NumOut() != 0 {
		return false
	}
	y := t.In(0)
	return y.Kind() == reflect.Func && y.NumIn() == 2 && y.In(1) == errorType && y.NumOut() == 1 && y.Out(0).Kind() == reflect.Bool
}

// firstYield ranges over seq, an iter.Seq2[V, error], and returns the
// error of its first pair; an error when it yields none.
func firstYield(seq reflect.Value) error {
	err := errors.New("no error: it yielded nothing")
	yield := reflect.MakeFunc(seq.Type().In(0), func(in []reflect.Value) []reflect.Value {
		err, _ = in[1].Interface().(error)
		if err == nil {
			err = fmt.Errorf("no error: it yielded a %v", in[0].Type())
		}
		return []reflect.Value{reflect.ValueOf(false)}
	})
	seq.Call([]reflect.Value{yield})
	return err
}

// closedArgs returns the arguments of the calls after Close, by type:
// each one that a store's methods take is valid, so that a store refuses
// it for being closed, not for being wrong; a function returns zero
// values, and any other type is its zero value.
func closedArgs(ctx context.Context, id uuid.UUID) func(reflect.Type) reflect.Value {
	query := store.Query{Items: []store.QueryItem{{Types: []string{"Closed"}, Tags: []string{"closed:1"}}}}
	snap := snapshot.Snapshot{StreamID: closedName, Version: 1, Type: "State", SchemaVersion: 1, Data: []byte("{}")}
	key := store.SubjectKey{Subject: closedName, KeyID: "k1", Wrapped: []byte{1, 2, 3}}
	samples := map[reflect.Type]reflect.Value{}
	for _, v := range []any{
		closedName,
		int64(0), // a version, a position, a checkpoint: 0 is valid for each
		id,
		[]string{closedName},
		[]store.Event{{Type: "Closed", Tags: []string{"closed:1"}}},
		store.LogQuery{},
		query,
		store.AppendCondition{FailIfEventsMatch: query},
		snap,
		[]snapshot.Snapshot{snap},
		key,
		[]store.SubjectKey{key},
		[]store.Checkpoint{{Consumer: closedName, Position: 1}},
		[]store.State{{View: closedName, Key: closedName, Data: []byte("{}")}},
		[]store.Record{{ID: uuid.New(), StreamID: "imported", Version: 1, Position: 2, Type: "Closed", SchemaVersion: 1, Time: time.Now().UTC(), Data: []byte{}}},
	} {
		samples[reflect.TypeOf(v)] = reflect.ValueOf(v)
	}
	return func(t reflect.Type) reflect.Value {
		switch v, ok := samples[t]; {
		case t == contextType:
			return reflect.ValueOf(ctx)
		case ok:
			return v
		case t.Kind() == reflect.Func:
			return reflect.MakeFunc(t, func([]reflect.Value) []reflect.Value {
				out := make([]reflect.Value, t.NumOut())
				for i := range out {
					out[i] = reflect.Zero(t.Out(i))
				}
				return out
			})
		}
		return reflect.Zero(t)
	}
}
