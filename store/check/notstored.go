package check

import (
	"context"
	"errors"
	"fmt"
)

// NotStored returns the error of a write that did not commit. When ctx has
// ended, the error matches ctx.Err() as well as err and says that nothing
// was stored; answer, the database's own answer to the write (a conflict,
// a duplicate event ID, a checkpoint moved backwards), is returned as it
// is. An error NotStored already returned is returned as it is, so that a
// write that passes through two layers says it once.
func NotStored(ctx context.Context, err error, answer bool) error {
	done := ctx.Err()
	var told *nothingStored
	switch {
	case done == nil || answer || errors.As(err, &told):
		return err
	case errors.Is(err, done):
		return &nothingStored{fmt.Errorf("%w; nothing was stored", err)}
	}
	return &nothingStored{fmt.Errorf("%w; nothing was stored: %w", done, err)}
}

// NothingStored returns err saying that nothing was stored, for a write
// that failed before any of it reached the database: a connection that
// broke, or could not be opened, before the write was sent. Such an error
// reads as if the outcome could be either way, and it is not. An error
// NothingStored or NotStored already returned is returned as it is.
func NothingStored(err error) error {
	var told *nothingStored
	if err == nil || errors.As(err, &told) {
		return err
	}
	return &nothingStored{fmt.Errorf("%w; nothing was stored", err)}
}

// nothingStored is an error of NotStored's or NothingStored's.
type nothingStored struct{ err error }

func (e *nothingStored) Error() string { return e.err.Error() }
func (e *nothingStored) Unwrap() error { return e.err }
