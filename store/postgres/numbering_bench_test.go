package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// Sizes of BenchmarkLogFirstRead's rounds: benchStreams streams of
// benchPerStream events each, read in pages of benchPage.
const (
	benchStreams   = 1000
	benchPerStream = 20
	benchPage      = annals.DefaultBatchSize
)

// BenchmarkLogFirstRead measures what numbering the log costs its first
// reader. Each round appends 20,000 events on 1,000 streams (untimed),
// which leaves them without positions, then reads the log in pages of
// 500 with Store.ReadLog twice: the first read numbers the events as it
// goes, the second only reads. It reports both in ns per event, and
// their difference, the numbering.
func BenchmarkLogFirstRead(b *testing.B) {
	ctx := context.Background()
	s := newBench(b).s
	const total = benchStreams * benchPerStream
	readAll := func(after int64) (int64, error) {
		n := 0
		for {
			page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: benchPage})
			if err != nil {
				return after, err
			}
			n += len(page)
			if len(page) < benchPage {
				if n != total {
					return after, fmt.Errorf("read %d events, want %d", n, total)
				}
				return after, nil
			}
			after = page[len(page)-1].Position
		}
	}
	var first, again time.Duration
	var head int64
	b.ResetTimer()
	for round := range b.N {
		b.StopTimer()
		for i := range benchStreams {
			events := make([]store.Event, benchPerStream)
			for j := range events {
				events[j] = store.Event{Type: "Placed", Data: fmt.Appendf(nil, `{"amount":%d}`, j)}
			}
			if _, err := s.Append(ctx, fmt.Sprintf("order-%d-%d", round, i), store.NoStream, events); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		end, err := readAll(head)
		if err != nil {
			b.Fatalf("first read: %v", err)
		}
		first += time.Since(start)
		start = time.Now()
		if _, err := readAll(head); err != nil {
			b.Fatalf("second read: %v", err)
		}
		again += time.Since(start)
		head = end
	}
	b.StopTimer()
	perEvent := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*total) }
	b.ReportMetric(perEvent(first), "first-read-ns/event")
	b.ReportMetric(perEvent(again), "read-ns/event")
	b.ReportMetric(perEvent(first-again), "numbering-ns/event")
}
