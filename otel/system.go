package annalsotel

import (
	"context"
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
//   - annals.log.head ({position}): the position of the last event.
//
// Each consumer's gauges carry its name as annals.consumer. Unregister
// the returned registration to stop. A collection reads the head, each
// checkpoint and, for each consumer that lags, one event.
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
		status, err := sys.Status(ctx)
		if err != nil {
			return err
		}
		if len(status) == 0 {
			h, err := sys.Store().Head(ctx)
			if err != nil {
				return err
			}
			obs.ObserveInt64(head, h)
			return nil
		}
		obs.ObserveInt64(head, status[0].Head)
		now := time.Now()
		for _, st := range status {
			attrs := metric.WithAttributes(ConsumerKey.String(st.Name))
			obs.ObserveInt64(lag, st.Lag, attrs)
			obs.ObserveInt64(position, st.Checkpoint, attrs)
			obs.ObserveInt64(stopped, boolInt(st.Stopped != nil), attrs)
			seconds, err := lagAge(ctx, sys.Store(), st, now)
			if err != nil {
				return err
			}
			obs.ObserveFloat64(age, seconds, attrs)
		}
		return nil
	}, lag, age, position, stopped, head)
}

// lagAge is how long ago the first event after the consumer's checkpoint
// was recorded, read from the adapter so that no span reports it.
func lagAge(ctx context.Context, s *annals.Store, st annals.ConsumerStatus, now time.Time) (float64, error) {
	if st.Lag <= 0 {
		return 0, nil
	}
	recs, err := s.Adapter().ReadLog(ctx, store.LogQuery{After: st.Checkpoint, Limit: 1})
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
