package annalsnats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/samber/lo"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// DefaultSubjectPrefix is the first token of the subjects a [Publisher]
// publishes to, unless [WithSubjectPrefix] or [WithSubject] says
// otherwise.
const DefaultSubjectPrefix = "annals"

// DefaultAckWait is how long [Publisher.Publish] waits for the broker's
// acknowledgements of a batch, unless [WithAckWait] says otherwise.
const DefaultAckWait = 30 * time.Second

// A Publisher publishes records to NATS JetStream: it is the
// [annals.Publisher] of an [annals.Relay].
type Publisher struct {
	js      jetstream.JetStream
	subject func(store.Record) string
	ackWait time.Duration
}

var _ annals.Publisher = (*Publisher)(nil)

// config is what the options set.
type config struct {
	subject func(store.Record) string
	ackWait time.Duration
}

// Option configures [NewPublisher].
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithSubjectPrefix publishes each record to prefix + "." +
// SubjectToken(rec.Type); prefix is [DefaultSubjectPrefix] by default.
// A prefix that is not a subject a message can be published to (empty,
// with an empty token, a wildcard or white space) fails [NewPublisher].
func WithSubjectPrefix(prefix string) Option {
	return optionFunc(func(c *config) error {
		if !validSubject(prefix) {
			return fmt.Errorf("subject prefix %q is not a subject to publish to: %w", prefix, store.ErrInvalid)
		}
		c.subject = func(rec store.Record) string { return prefix + "." + SubjectToken(rec.Type) }
		return nil
	})
}

// WithSubject publishes each record to the subject subject returns for
// it. A subject that a message cannot be published to fails
// [Publisher.Publish] before it publishes any record of the batch.
func WithSubject(subject func(store.Record) string) Option {
	return optionFunc(func(c *config) error {
		if subject == nil {
			return fmt.Errorf("the subject function is nil: %w", store.ErrInvalid)
		}
		c.subject = subject
		return nil
	})
}

// WithAckWait sets how long [Publisher.Publish] waits for the broker's
// acknowledgements of a batch once it has sent it; [DefaultAckWait] by
// default. A batch not acknowledged in time fails, and a relay publishes
// it again.
func WithAckWait(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("ack wait %v is not positive: %w", d, store.ErrInvalid)
		}
		c.ackWait = d
		return nil
	})
}

// NewPublisher returns a publisher on js. A nil js, or an option that
// does not hold, fails with an error matching [store.ErrInvalid].
func NewPublisher(js jetstream.JetStream, opts ...Option) (*Publisher, error) {
	if lo.IsNil(js) {
		return nil, fmt.Errorf("new nats publisher: the JetStream is nil: %w", store.ErrInvalid)
	}
	c := config{ackWait: DefaultAckWait}
	if err := WithSubjectPrefix(DefaultSubjectPrefix).apply(&c); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if lo.IsNil(o) {
			return nil, fmt.Errorf("new nats publisher: an option is nil: %w", store.ErrInvalid)
		}
		if err := o.apply(&c); err != nil {
			return nil, fmt.Errorf("new nats publisher: %w", err)
		}
	}
	return &Publisher{js: js, subject: c.subject, ackWait: c.ackWait}, nil
}

// Publish publishes recs, in their order, one message each, and returns
// nil once JetStream has acknowledged every one of them; an
// acknowledgement that the stream dropped a message as a duplicate is
// one. Each message's Nats-Msg-Id is its record's ID, its headers carry
// the rest of the record (see [RecordFromHeaders]) and its body is
// rec.Data.
//
// The messages are sent without waiting for each other's
// acknowledgements. An error names the position of the first record
// whose publish failed (or whose acknowledgement did not come before ctx
// ended or the ack wait passed), and wraps its cause. Records after it
// may be stored already; published again, they are dropped as
// duplicates, so the stream then holds the failed record after them. A
// message is not retried within a call: a stream that has no responder
// for a moment fails the batch, rather than take a record out of order.
//
// A record NATS refuses for good, larger than the server's max_payload or
// the stream's MaxMsgSize, or one that [WithSubject] gives no valid
// subject, fails with an [annals.RefusedError] naming it, once every
// record before it is acknowledged (nothing after an invalid subject is
// sent): the relay stops there.
func (p *Publisher) Publish(ctx context.Context, recs []store.Record) error {
	if len(recs) == 0 {
		return nil
	}
	msgs := make([]*nats.Msg, 0, len(recs))
	var badErr error // the first record that has no message, refused
	for _, rec := range recs {
		m, err := p.message(rec)
		if err != nil {
			badErr = &annals.RefusedError{Position: rec.Position, Err: fmt.Errorf("nats: position %d: %w", rec.Position, err)}
			break
		}
		msgs = append(msgs, m)
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("nats: position %d: %w", recs[0].Position, err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.ackWait,
		fmt.Errorf("no acknowledgement within %v: %w", p.ackWait, context.DeadlineExceeded))
	defer cancel()
	acks := make([]jetstream.PubAckFuture, 0, len(msgs))
	var sendErr error
	for i, m := range msgs {
		f, err := p.js.PublishMsgAsync(m, jetstream.WithRetryAttempts(0), jetstream.WithStallWait(p.ackWait))
		if err != nil {
			sendErr = refused(recs[i].Position, fmt.Errorf("nats: position %d (subject %s): %w", recs[i].Position, m.Subject, err))
			break
		}
		acks = append(acks, f)
	}
	for i, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return refused(recs[i].Position, fmt.Errorf("nats: position %d (subject %s): %w", recs[i].Position, msgs[i].Subject, err))
		case <-ctx.Done():
			return fmt.Errorf("nats: position %d (subject %s): %w", recs[i].Position, msgs[i].Subject, context.Cause(ctx))
		}
	}
	if sendErr != nil {
		return sendErr
	}
	return badErr
}

// refused returns err as an [annals.RefusedError] of the record at
// position when NATS refuses it for good: larger than the server's
// max_payload, or than the stream's MaxMsgSize. Other failures pass: a
// server down, a stream full or missing, a leader changing.
func refused(position int64, err error) error {
	var apiErr *jetstream.APIError
	if errors.Is(err, nats.ErrMaxPayload) || errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum {
		return &annals.RefusedError{Position: position, Err: err}
	}
	return err
}

// message is the message of rec.
func (p *Publisher) message(rec store.Record) (*nats.Msg, error) {
	subject := p.subject(rec)
	if !validSubject(subject) {
		return nil, fmt.Errorf("subject %q is not a subject to publish to: %w", subject, store.ErrInvalid)
	}
	return &nats.Msg{Subject: subject, Header: Headers(rec), Data: rec.Data}, nil
}

// SubjectToken returns typ as one token of a NATS subject, which the
// default subjects end with: the ASCII letters, digits, '-' and '_' of
// typ stay as they are, and every other byte becomes '%' and its two
// hexadecimal digits, in upper case. "OrderPlaced" stays "OrderPlaced";
// "order.placed v2" becomes "order%2Eplaced%20v2". Different types have
// different tokens, and a token holds no '.', wildcard or white space,
// so a subscriber filters one type on its subject:
//
//	"annals." + annalsnats.SubjectToken("order.placed v2")
func SubjectToken(typ string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(typ))
	for i := range len(typ) {
		switch c := typ[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// validSubject reports whether a message can be published to s: tokens
// separated by '.', none empty or a wildcard, no white space or control
// byte anywhere.
func validSubject(s string) bool {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}
