package annals

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/store"
)

// A Publisher hands records of the log to a message broker (package
// github.com/annals-dev/annals/nats is one, for NATS JetStream).
type Publisher interface {
	// Publish publishes recs, in their order, and returns nil only once
	// the broker has acknowledged every one of them. It gives each
	// message its record's ID as the broker's message ID, so that the
	// broker drops a record published a second time: a [Relay] that
	// stops between the broker's acknowledgement and its checkpoint
	// publishes the batch again. A record the broker refuses for good
	// is a [*RefusedError] naming it.
	Publish(ctx context.Context, recs []store.Record) error
}

// A RefusedError is a [Publisher]'s error for a record its broker
// refuses for good, such as one larger than the broker takes or one with
// no subject it could be published to: publishing it again would be
// refused again. Every record before it in the batch has been
// acknowledged. A [Relay] moves its checkpoint past those and stops at
// the refused one, as a projection stops at an event its handler fails
// on: the error is a [*ConsumerError], a [System] reports the relay
// stopped, and it resumes once the broker takes the record (the
// application's ops command replays it) or its checkpoint is moved past
// it. Any other error of Publish is taken as passing, and retried.
type RefusedError struct {
	// Position is the refused record's position in the log.
	Position int64
	// Err is the broker's refusal.
	Err error
}

// Error returns the broker's refusal.
func (e *RefusedError) Error() string { return e.Err.Error() }

// Unwrap returns the broker's refusal.
func (e *RefusedError) Unwrap() error { return e.Err }

// A Relay publishes the events of the global log to a message broker, in
// the log's order, and moves its checkpoint after the broker has
// acknowledged them: the transactional outbox, with the log as the
// outbox. Nothing is lost: an event is only passed when the broker has
// it. Nothing is handed over twice, as long as the broker drops a message
// ID it has seen (NATS JetStream does within its stream's duplicate
// window): what a relay publishes again after a crash is the batch it had
// not yet checkpointed, under the same IDs.
//
// A Relay is a [Consumer]: add it to a [System], or run it by itself with
// [Relay.Run]. It takes the options of consumers: [WithTypes] relays only
// some types (its checkpoint still moves past the others), [WithBatchSize]
// bounds a batch, [WithSource] relays a log read from elsewhere. Run
// holds the relay's lease on a store that grants them, so one instance
// publishes at a time.
type Relay struct {
	name  string
	store *Store
	pub   Publisher
	cfg   consumerConfig
}

// NewRelay returns a relay named name (its checkpoint's consumer name)
// that publishes the log of s through pub. A name that no checkpoint
// could have, or a nil store or publisher, fails with [store.ErrInvalid].
func NewRelay(s *Store, name string, pub Publisher, opts ...ConsumerOption) (*Relay, error) {
	if err := checkConsumerName(name); err != nil {
		return nil, fmt.Errorf("new relay: %w", err)
	}
	switch {
	case s.notMade() != nil:
		return nil, fmt.Errorf("new relay %q: nil store: give the store from annals.Open or annals.New whose log it publishes: %w", name, store.ErrInvalid)
	case lo.IsNil(pub):
		return nil, fmt.Errorf("new relay %q: nil publisher: give the publisher of a broker, such as one of package nats: %w", name, store.ErrInvalid)
	}
	if err := nilOption(opts); err != nil {
		return nil, fmt.Errorf("new relay %q: %w", name, err)
	}
	return &Relay{name: name, store: s, pub: pub, cfg: newConsumerConfig(opts)}, nil
}

// Name returns the relay's name.
func (r *Relay) Name() string {
	if r == nil {
		return ""
	}
	return r.name
}

func (r *Relay) storeHandle() *Store { return r.store }

// notMade returns the error of a call on r when no constructor made it.
func (r *Relay) notMade() error {
	if r == nil || r.store == nil {
		return errNotMade("Relay", makeRelay)
	}
	return nil
}

func (r *Relay) source() store.Log { return r.cfg.source }

// Position returns the relay's checkpoint: the position of the last event
// the broker has acknowledged or the relay skipped.
func (r *Relay) Position(ctx context.Context) (int64, error) {
	if err := r.notMade(); err != nil {
		return 0, err
	}
	return r.store.Checkpoint(ctx, r.name)
}

// Step publishes the next batch of events after the checkpoint and
// returns how many it published; 0 means the relay has caught up.
func (r *Relay) Step(ctx context.Context) (int, error) {
	if err := r.notMade(); err != nil {
		return 0, err
	}
	n, _, err := r.step(ctx)
	return n, err
}

// CatchUp publishes batches until the relay has reached the head of the
// log, and returns how many events it published.
func (r *Relay) CatchUp(ctx context.Context) (int, error) {
	return catchUp(ctx, r.Step)
}

// Run catches up, then follows the log as events arrive, until ctx is
// done or a batch fails, like [Projection.Run]: a publish that failed, or
// a read, lease or checkpoint the store failed. A failure returns: in an
// Async [System], Run retries it after a pause, and only a record the
// broker refused for good (a [RefusedError]) stops the relay there.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.notMade(); err != nil {
		return err
	}
	return follow(ctx, r.store, r.name, r.cfg, r.step, nil)
}

func (r *Relay) step(ctx context.Context) (int, int64, error) {
	n, at, _, err := r.advance(ctx)
	return n, at, err
}

// advance publishes the next batch, and says whether it reached the head
// it read.
func (r *Relay) advance(ctx context.Context) (int, int64, bool, error) {
	from, head, recs, err := nextBatch(ctx, r.store, r.name, r.cfg)
	if err != nil || head <= from {
		return 0, from, err == nil, err
	}
	bctx, endBatch := r.store.startBatch(ctx, r.name, from, recs)
	n, to, err := r.publish(bctx, from, head, recs)
	endBatch(n, to, err)
	return n, to, err == nil && len(recs) < r.cfg.batch, err
}

// publish hands recs to the broker, then moves the checkpoint past them.
func (r *Relay) publish(ctx context.Context, from, head int64, recs []store.Record) (int, int64, error) {
	to := batchEnd(from, head, recs, r.cfg.batch)
	if len(recs) > 0 {
		if err := recovered(func() error { return r.pub.Publish(ctx, recs) }); err != nil {
			if refused, ok := errors.AsType[*RefusedError](err); ok {
				if i := slices.IndexFunc(recs, func(rec store.Record) bool { return rec.Position == refused.Position }); i >= 0 {
					return r.stopAt(ctx, from, recs, i, err)
				}
			}
			return 0, from, fmt.Errorf("relay %q: publish positions %d to %d: %w", r.name, recs[0].Position, recs[len(recs)-1].Position, err)
		}
	}
	err := r.store.SetCheckpoint(ctx, r.name, to)
	if errors.Is(err, store.ErrCheckpointBackwards) {
		// Another instance, run without the lease, published these and
		// went further: its progress, not a failure.
		return 0, from, fmt.Errorf("relay %q: another instance moved the checkpoint past %d: %w", r.name, to, store.ErrConflict)
	}
	if err != nil {
		return 0, from, fmt.Errorf("relay %q: the broker has positions %d to %d, but moving the checkpoint past them failed (what it did not pass is published again, under the same IDs): %w", r.name, from+1, to, err)
	}
	return len(recs), to, nil
}

// stopAt stops the relay at recs[refused], which its broker refused for
// good (see [RefusedError]): it moves the checkpoint past the records
// before it, which the broker acknowledged, and returns a
// [*ConsumerError]; or, when that fails, the store's error, and the batch
// is published again.
func (r *Relay) stopAt(ctx context.Context, from int64, recs []store.Record, refused int, cause error) (int, int64, error) {
	stopped := consumerError(r.name, recs[refused], cause)
	if refused == 0 {
		return 0, from, stopped
	}
	to := recs[refused-1].Position
	if err := r.store.SetCheckpoint(ctx, r.name, to); err != nil {
		return 0, from, fmt.Errorf("relay %q: the broker refused position %d for good (%v), and moving the checkpoint past the %d records before it failed: %w", r.name, recs[refused].Position, cause, refused, err)
	}
	return refused, to, stopped
}
