package annalsotel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// ObserveSystem reports where each consumer of sys stands, as gauges
// read from [annals.System.Status] whenever the meter provider collects:
//
//   - annals.consumer.lag ({event}): positions of the log after the
//     consumer's checkpoint;
//   - annals.consumer.lag.age (s): how long ago the oldest event it has
//     yet to handle was recorded, 0 when it has caught up;
//   - annals.consumer.position ({position}): its checkpoint;
//   - annals.consumer.stopped ({consumer}): 1 while it is stopped at an
//     event (as far as this process knows: see [annals.System.Status]),
//     0 while it works;
//   - annals.log.head ({position}): the position of the last event of
//     the store's log.
//
// Each consumer's gauges carry its name as annals.consumer. Unregister
// the returned registration to stop. A collection reads the head, each
// checkpoint and, for each consumer that lags, one event of the log it
// reads (its source's, for a consumer built [annals.WithSource]). A
// consumer whose checkpoint or head cannot be read is left out of that
// collection, the others are observed, and the callback returns why.
func ObserveSystem(sys *annals.System, opts ...Option) (metric.Registration, error) {
	m := newConfig(opts).meterProvider.Meter(ScopeName)
	lag, err := m.Int64ObservableGauge("annals.consumer.lag", metric.WithUnit("{event}"),
		metric.WithDescription("Positions of the log after the consumer's checkpoint."))
	if err != nil {
		return nil, err
	}
	age, err := m.Float64ObservableGauge("annals.consumer.lag.age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest event the consumer has yet to handle; 0 when it has caught up."))
	if err != nil {
		return nil, err
	}
	position, err := m.Int64ObservableGauge("annals.consumer.position", metric.WithUnit("{position}"),
		metric.WithDescription("The consumer's checkpoint: the position of the last event it handled."))
	if err != nil {
		return nil, err
	}
	stopped, err := m.Int64ObservableGauge("annals.consumer.stopped", metric.WithUnit("{consumer}"),
		metric.WithDescription("1 while the consumer is stopped at an event it failed on, 0 while it works."))
	if err != nil {
		return nil, err
	}
	head, err := m.Int64ObservableGauge("annals.log.head", metric.WithUnit("{position}"),
		metric.WithDescription("The position of the last event of the log."))
	if err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(ctx context.Context, obs metric.Observer) error {
		status, statusErr := sys.Status(ctx)
		h, err := storeHead(ctx, sys, status)
		if errors.Is(err, store.ErrClosed) || errors.Is(statusErr, store.ErrClosed) {
			// The program closed the store before the provider's last
			// collection (its Shutdown): nothing is left to observe, and
			// nothing went wrong.
			return nil
		}
		if err != nil {
			return err
		}
		obs.ObserveInt64(head, h)
		now := time.Now()
		var ageErrs []error
		for _, st := range status {
			if st.Unread != nil {
				continue // in statusErr; a lag not measured is not 0
			}
			attrs := metric.WithAttributes(ConsumerKey.String(st.Name))
			obs.ObserveInt64(lag, st.Lag, attrs)
			obs.ObserveInt64(position, st.Checkpoint, attrs)
			obs.ObserveInt64(stopped, boolInt(st.Stopped != nil), attrs)
			seconds, err := lagAge(ctx, st, now)
			if err != nil {
				ageErrs = append(ageErrs, fmt.Errorf("consumer %q: the age of its lag: %w", st.Name, err))
				continue
			}
			obs.ObserveFloat64(age, seconds, attrs)
		}
		return errors.Join(statusErr, errors.Join(ageErrs...))
	}, lag, age, position, stopped, head)
}

// storeHead is the head of the store's log: as a consumer of it read it
// in status, or read now when none did.
func storeHead(ctx context.Context, sys *annals.System, status []annals.ConsumerStatus) (int64, error) {
	adapter := sys.Store().Adapter()
	for _, st := range status {
		if st.Log == adapter && st.Head >= 0 {
			return st.Head, nil
		}
	}
	return adapter.Head(ctx)
}

// lagAge is how long ago the first event after the consumer's checkpoint
// was recorded, read from the log it reads (the store's adapter, so that
// no span reports it, or its source).
func lagAge(ctx context.Context, st annals.ConsumerStatus, now time.Time) (float64, error) {
	if st.Lag <= 0 {
		return 0, nil
	}
	recs, err := st.Log.ReadLog(ctx, store.LogQuery{After: st.Checkpoint, Limit: 1})
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return max(now.Sub(recs[0].Time).Seconds(), 0), nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
