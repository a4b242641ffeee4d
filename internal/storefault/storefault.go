// Package storefault marks the errors met inside a consumer's batch that
// are the store's, not its handler's: a view's states that could not be
// loaded, a transaction whose connection broke under the handler. The
// consumer machinery of the root package retries the batch after such
// an error, with a growing pause, rather than stop the consumer at the
// event it was handling; nothing of the batch was committed, so the
// retry handles each event once.
package storefault

import "errors"

type fault struct{ err error }

func (f *fault) Error() string { return f.err.Error() }
func (f *fault) Unwrap() error { return f.err }

// Mark returns err marked as the store's; nil stays nil.
func Mark(err error) error {
	if err == nil {
		return nil
	}
	return &fault{err}
}

// Is reports whether err or an error it wraps was marked.
func Is(err error) bool {
	var f *fault
	return errors.As(err, &f)
}
