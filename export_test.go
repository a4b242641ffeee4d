package annals

import "time"

// WaitingTurns returns how many streams have a command of r holding or
// waiting for their turn (see turns).
func WaitingTurns[C, E, S any](r *Runner[C, E, S]) int {
	r.turns.mu.Lock()
	defer r.turns.mu.Unlock()
	return len(r.turns.m)
}

// QueuedCommands returns how many commands of r wait for the turn of
// streamID, not counting the one that holds it.
func QueuedCommands[C, E, S any](r *Runner[C, E, S], streamID string) int {
	r.turns.mu.Lock()
	defer r.turns.mu.Unlock()
	if t := r.turns.m[streamID]; t != nil {
		return len(t.queue)
	}
	return 0
}

// deposit is a command type of another package with the name and fields
// of annals_test's deposit: the test's command type after a move.
type deposit struct{ Amount int }

// MovedDeposit returns a deposit of amount as a command of the moved type.
func MovedDeposit(amount int) any { return deposit{Amount: amount} }

// namedDeposit is the moved deposit naming the type it was before the move.
type namedDeposit struct{ Amount int }

func (namedDeposit) CommandName() string { return "annals_test.deposit" }

// NamedMovedDeposit returns a deposit of amount as a command of the moved
// type that names its former type.
func NamedMovedDeposit(amount int) any { return namedDeposit{Amount: amount} }

// DescribeCommand is describeCommand, for tests.
var DescribeCommand = describeCommand

// SetSettleWarnAfter sets how long an append waits for another settle
// before the warning, and returns the setting it replaced.
func SetSettleWarnAfter(d time.Duration) time.Duration {
	old := settleWarnAfter
	settleWarnAfter = d
	return old
}

// SetLeaseWaitLogAfter sets how long a consumer waits for its lease
// before it logs that it waits, and returns the setting it replaced.
func SetLeaseWaitLogAfter(d time.Duration) time.Duration {
	old := leaseWaitLogAfter
	leaseWaitLogAfter = d
	return old
}

// ReportFailure hands err, a failure of consumer, to the system's
// OnError, as Run and a settle do.
func ReportFailure(sys *System, consumer string, err error) { sys.onError(consumer, err) }

// SetSchemaPoll sets how often Run tries a projection again whose read
// model's schema is newer than its migrations, and returns the setting
// it replaced.
func SetSchemaPoll(d time.Duration) time.Duration {
	old := schemaPoll
	schemaPoll = d
	return old
}
