package annals_test

import "time"

// runtimeYield lets background consumers run between polls of a test.
func runtimeYield() { time.Sleep(time.Millisecond) }

// must returns v, or panics with err: for constructors in tests.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
