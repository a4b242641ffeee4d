package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/annals-dev/annals/store"
)

// The error of the request that commits a write is an answer, telling
// that nothing was stored, only when the server answered the request
// itself: a FATAL or PANIC ends the session, or the server, and may come
// after the commit record was flushed, whatever its code. Found with
// pg_wal on a full disk: the backend flushing its commit PANICked with
// 53100 on the next segment, and recovery replayed the commit.
func TestOnlyTheServersOwnAnswerSaysNothingStored(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		err     error
		unknown bool
	}{
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "23505"}, false},
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "55P03"}, false},
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "53100"}, false},
		{&pgconn.PgError{Severity: "PANIC", SeverityUnlocalized: "PANIC", Code: "53100"}, true},
		{&pgconn.PgError{Severity: "PANIK", SeverityUnlocalized: "PANIC", Code: "58030"}, true},
		{&pgconn.PgError{Severity: "PANIC", Code: "XX000"}, true},
		{&pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "53100"}, true},
		{&pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01"}, true},
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "08006"}, true},
		{fmt.Errorf("commit: %w", pgconn.ErrConnClosed), true},
		{errors.New("read: connection reset by peer"), true},
	} {
		err := writeError(ctx, fmt.Errorf("append: %w", c.err), true)
		if got := errors.Is(err, store.ErrOutcomeUnknown); got != c.unknown {
			t.Errorf("committing request failed with %v: %v; want outcome unknown = %v", c.err, err, c.unknown)
		}
		if err := writeError(ctx, c.err, false); errors.Is(err, store.ErrOutcomeUnknown) {
			t.Errorf("a request before the commit failed with %v: %v; want nothing stored", c.err, err)
		}
	}
}

// unsent is an error pgx gives for a request none of which left: safe to
// retry.
type unsent struct{ error }

func (unsent) SafeToRetry() bool { return true }

// A write that failed before it reached the server says that nothing was
// stored, in words: "unexpected EOF" alone reads as if the write could
// have committed. The server's answers and the store's are left as they
// are, and an ended context says it once.
func TestAWriteThatNeverReachedTheServerSaysNothingStored(t *testing.T) {
	ctx := context.Background()
	eof := unsent{fmt.Errorf("write failed: %w", io.ErrUnexpectedEOF)}
	for _, c := range []struct {
		err        error
		committing bool
		says       bool
	}{
		{eof, true, true},
		{eof, false, true},
		{errors.New("failed to connect: dial tcp: connection refused"), false, true},
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "23505"}, true, false},
		{&pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42P01"}, false, false},
		{fmt.Errorf("stream %q: %w", "a", store.ErrConflict), false, false},
	} {
		err := writeError(ctx, c.err, c.committing)
		if errors.Is(err, store.ErrOutcomeUnknown) || !errors.Is(err, c.err) {
			t.Fatalf("%v: got %v; want the error itself, nothing stored", c.err, err)
		}
		if says := strings.HasSuffix(err.Error(), "; nothing was stored"); says != c.says {
			t.Errorf("%v: got %q; want it to say nothing was stored: %v", c.err, err, c.says)
		}
	}
	cut, cancel := context.WithCancel(ctx)
	cancel()
	err := writeError(cut, eof, false)
	if !errors.Is(err, context.Canceled) || strings.Count(err.Error(), "nothing was stored") != 1 {
		t.Errorf("after a cancellation: got %q; want it to match context.Canceled and say nothing was stored once", err)
	}
}
