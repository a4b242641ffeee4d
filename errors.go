package annals

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/internal/storefault"
	"github.com/annals-dev/annals/store"
)

// What a call that writes tells its caller is one of three outcomes, each
// told apart with errors.Is:
//
//   - nil, or an error that matches [ErrStored]: the write was stored.
//     The result the call returns holds what was stored. With ErrStored,
//     something that ran after the write failed (a consumer of a Sync
//     system); the write must not be retried.
//   - an error that matches [store.ErrOutcomeUnknown]: the request was
//     sent, then the connection or the deadline cut the answer off. The
//     write may or may not be stored; retry with an idempotency key (see
//     [WithIdempotencyKey]), which answers "already done" when it was.
//   - any other error: nothing was stored. This is the case of
//     [store.ErrConflict], [ErrRejected], [store.ErrInvalid] and of a
//     context that ended before the write was sent.
var (
	// ErrStored matches the error of a write that was stored although
	// something after it failed. The error is a [*StoredError].
	ErrStored = errors.New("stored")

	// ErrRejected matches every business-rule rejection that
	// [Runner.Handle] returns: the error of Decide, which errors.Is also
	// matches. Nothing was stored.
	ErrRejected = errors.New("command rejected")

	// ErrIdempotencyKey reports an idempotency key that was first used
	// for another stream or another command: nothing was stored. Use a
	// key per command (a request ID), never per customer or per day.
	ErrIdempotencyKey = errors.New("idempotency key reused")

	// ErrUnfinishedCopy reports a store that an annals copy has written
	// to and not finished: it may lack part of its source's events,
	// snapshots, view states, checkpoints and data subjects' keys (see
	// [UnfinishedCopy]). [Open] refuses such a store.
	ErrUnfinishedCopy = errors.New("the store is the target of an unfinished copy")

	// ErrRunning reports a [System.Retry] of a consumer that an instance
	// runs (it holds the consumer's lease): nothing was stepped. Retry is
	// for a consumer that stopped; a running one follows the log by
	// itself.
	ErrRunning = errors.New("consumer is running")

	// ErrTransient marks a consumer's failure as one that passes: wrap
	// it in the error of a saga's dispatcher or a projection's handler
	// whose call to another service was refused for now or timed out
	// (fmt.Errorf("payment gateway: %w", annals.ErrTransient)), and the
	// consumer is not stopped at the event but runs again from it after
	// a growing pause, as after the store's own passing failures
	// ([store.ErrUnavailable], [store.ErrOutcomeUnknown]), which need no
	// marking. An [Async] system retries it until it succeeds, each
	// failure reported to [System.OnError]; in a [Sync] system, the
	// command whose events met it is told [ErrStored] with it (test
	// ErrStored first: the command must not be sent again), and the next
	// command or [System.Settle] steps the consumer again. Mark only what
	// passes, never a refusal that running again would meet again.
	ErrTransient = errors.New("transient failure")
)

// UnfinishedCopy is the name of the checkpoint by which annals copy marks
// its target until the whole copy is written and verified (see
// docs/operations.md). No consumer may take the name.
const UnfinishedCopy = "annals:copy-unfinished"

// StoredError is the error of a write that was stored although something
// after it failed, such as a consumer of a [Sync] system. It matches
// [ErrStored], and never [store.ErrConflict] nor [store.ErrOutcomeUnknown],
// whatever failed after the write: the write itself is done.
type StoredError struct {
	// StreamID and Version say what was stored: the stream and its
	// version after the write.
	StreamID string
	Version  int64
	// Err is what failed after the write, such as a [*ConsumerError].
	Err error
}

// Error says what was stored and what failed after.
func (e *StoredError) Error() string {
	return fmt.Sprintf("stream %q: the write is stored, up to version %d, and stands; what ran after it failed, and what that says was not stored is its own work: %v", e.StreamID, e.Version, e.Err)
}

// Is makes errors.Is(err, ErrStored) true.
func (e *StoredError) Is(target error) bool { return target == ErrStored }

// Unwrap returns what failed after the write, unless it would make the
// error match store.ErrConflict or store.ErrOutcomeUnknown, which would
// tell the caller the write was not, or may not be, stored.
func (e *StoredError) Unwrap() error {
	if errors.Is(e.Err, store.ErrConflict) || errors.Is(e.Err, store.ErrOutcomeUnknown) {
		return nil
	}
	return e.Err
}

// ConsumerError is the error of a projection or saga that stopped on an
// event: the checkpoint stays before Position, so that the consumer
// resumes at that event once the cause is fixed.
type ConsumerError struct {
	// Consumer is the consumer's name.
	Consumer string
	// Position, EventID, Type, StreamID and Version identify the event
	// it stopped at.
	Position int64
	EventID  string
	Type     string
	StreamID string
	Version  int64
	// Err is the handler's error.
	Err error
}

// prefixUncommitted is the error of a batch that stopped at an event
// (stopped) and then failed to commit the events before it (commitErr).
// The consumer is still at its checkpoint, before those events, so the
// error is the commit's, which a [System] retries as it retries any failed
// commit, and not a [*ConsumerError]: its position would tell an operator
// that the events before it were handled, and moving the checkpoint past
// it (ops reset) would skip them. The stop shows again when the batch
// runs again, after its events before it commit.
func prefixUncommitted(commitErr, stopped error) error {
	if stopped == nil {
		return commitErr
	}
	return fmt.Errorf("%w; committing the events before one that failed: %v", commitErr, stopped)
}

// unavailable reports whether err, met while a consumer handled an
// event, is a passing failure rather than the event's: the store could
// not be reached or could not take a call (it matches
// [store.ErrUnavailable]), a write's answer was lost on the way (it
// matches [store.ErrOutcomeUnknown]), or the handler marked its own
// failure as passing ([ErrTransient]). The consumer does not stop at the
// event then: nothing of the event is committed, and its batch runs
// again from there with a [System]'s growing pause, as after a commit
// that failed.
func unavailable(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrOutcomeUnknown) || errors.Is(err, ErrTransient)
}

// notStopped returns the error of consumer, which met err, a passing
// failure of the store (see unavailable), while it handled rec: not a
// [*ConsumerError], so that the consumer is retried rather than stopped.
func notStopped(consumer string, rec store.Record, err error) error {
	return storefault.Mark(fmt.Errorf("consumer %q at position %d (event %s, type %s, stream %q version %d), retried: %w", consumer, rec.Position, rec.ID, rec.Type, rec.StreamID, rec.Version, err))
}

// consumerError returns the error of consumer stopping at rec.
func consumerError(consumer string, rec store.Record, err error) *ConsumerError {
	return &ConsumerError{Consumer: consumer, Position: rec.Position, EventID: rec.ID.String(), Type: rec.Type, StreamID: rec.StreamID, Version: rec.Version, Err: err}
}

// Error says which consumer stopped, where, and why.
func (e *ConsumerError) Error() string {
	return fmt.Sprintf("consumer %q stopped at position %d (event %s, type %s, stream %q version %d): %v", e.Consumer, e.Position, e.EventID, e.Type, e.StreamID, e.Version, e.Err)
}

// Unwrap returns the handler's error.
func (e *ConsumerError) Unwrap() error { return e.Err }

// PanicError is the cause of a [ConsumerError] whose handler panicked: a
// view's Evolve, a projection's handler, a saga's reaction or dispatcher,
// a mapper's decoding. The consumer stops at the event as it would at an
// error, in both modes of a [System]: the panic unwinds neither the
// goroutine of the command whose events it handled (Sync), where the
// command's events are stored and it is told [ErrStored], nor the
// system's (Async), and the store stays usable.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the stack of the goroutine where it panicked.
	Stack []byte
}

// Error gives the panic's value and the function and line that
// panicked, on one line (a value's line breaks become spaces): the whole
// stack is in Stack, which the default error log of a [System] writes
// beside the error.
func (e *PanicError) Error() string {
	value := strings.ReplaceAll(fmt.Sprint(e.Value), "\n", " ") // one line, as logs want it
	if at := panickedAt(e.Stack); at != "" {
		return fmt.Sprintf("panic: %s (in %s)", value, at)
	}
	return "panic: " + value
}

// panickedAt returns the function that panicked and its file and line,
// as "pkg.F at /path/file.go:42", read from stack as runtime/debug.Stack
// writes it: the first frame after the runtime's panic that is not the
// runtime's own (a nil map's write panics inside the runtime). It
// returns "" when the stack holds none.
func panickedAt(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	// The last panic: one that a deferred recover raised again
	// (encoding/json's, around a MarshalJSON) comes before it.
	_, start, ok := lo.FindLastIndexOf(lines, func(l string) bool { return strings.HasPrefix(l, "panic(") })
	if !ok {
		return ""
	}
	// Frames are pairs of lines: the function, then its file and line.
	for i := start + 2; i+1 < len(lines); i += 2 {
		fn, file := lines[i], strings.TrimSpace(lines[i+1])
		if strings.HasPrefix(fn, "runtime.") {
			continue
		}
		if j := strings.LastIndex(fn, "("); j > 0 {
			fn = fn[:j]
		}
		if j := strings.LastIndex(file, " +0x"); j > 0 {
			file = file[:j]
		}
		return fn + " at " + file
	}
	return ""
}

// Unwrap returns the value panicked with when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// recovered calls f and returns its error, or a [*PanicError] when f
// panics.
func recovered(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}

// consumerErr names the consumer name in err, unless err begins with its
// name already, as an adapter's error for its checkpoint does: a message
// names it once.
func consumerErr(name string, err error) error {
	prefix := fmt.Sprintf("consumer %q: ", name)
	if strings.HasPrefix(err.Error(), prefix) {
		return err
	}
	return fmt.Errorf("%s%w", prefix, err)
}
