package annals_test

import "time"

// runtimeYield lets background consumers run between polls of a test.
func runtimeYield() { time.Sleep(time.Millisecond) }
