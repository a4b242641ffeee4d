// Command scaling runs the scaling workload of docs/benchmarks.md on a
// durable store: 1, 2, 4, … 256 writers at once, each appending events of
// 256 bytes (appends) or handling commands that decide one (commands), to
// streams drawn from many small ones and a few hot ones (a Zipf
// distribution), while a consumer tails the log. For each number of
// writers it reports the throughput and the latency percentiles of every
// operation, and checks that the consumer read every event once, in
// order. scripts/bench -scaling runs it; it writes one JSON object per
// line, which -chart turns into an SVG chart and a Markdown table.
//
//	go run ./internal/scaling -url sqlite -sync full -out results.jsonl
//	go run ./internal/scaling -url "$ANNALS_TEST_POSTGRES" -out results.jsonl
//	go run ./internal/scaling -chart docs/scaling.svg results.jsonl
//
// On SQLite the appends also run as a raw baseline: the same statements
// with database/sql, one transaction per append, on the store's schema
// and settings, which is what the store did before it grouped appends.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/annals-dev/annals/internal/rawgroup"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
	"github.com/annals-dev/annals/store/sqlite"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scaling:", err)
		os.Exit(1)
	}
}

// config is what one run measures.
type config struct {
	url       string // "sqlite" for files in a temporary directory, or a postgres:// URL
	sync      string // SQLite's synchronous setting
	ckptPages int    // SQLite's WithCheckpointPages; 0 leaves checkpoints to SQLite
	workloads []string
	writers   []int
	duration  time.Duration
	warmup    time.Duration // how long the writers run before a step's measurement begins
	streams   int
	zipf      float64  // the exponent of the streams' distribution; 0 for uniform
	baselines []string // on SQLite's appends: "raw", "grouped"
	out       string   // JSON lines, appended to
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("scaling", flag.ContinueOnError)
	var (
		c       config
		chart   = fs.String("chart", "", "write an SVG chart to this file, and a Markdown table to stdout, from the JSON lines files given as arguments; run nothing")
		writers = fs.String("writers", "1,2,4,8,16,32,64,128,256", "the numbers of writers, comma-separated")
		loads   = fs.String("workloads", "appends,commands", "the workloads, comma-separated: appends, commands")
	)
	fs.StringVar(&c.url, "url", "sqlite", `the store: "sqlite" (a new file for each step) or a postgres:// URL (a new schema for each step)`)
	fs.StringVar(&c.sync, "sync", "full", "SQLite's synchronous setting: full or normal")
	fs.IntVar(&c.ckptPages, "checkpoint-pages", 0, "SQLite's checkpoint_pages: copy the log into the database file beside the writer every this many pages; 0 leaves it to SQLite")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long each step runs")
	fs.DurationVar(&c.warmup, "warmup", 0, "how long the writers of each step run before the measurement begins, for the steady state of a store whose files are new")
	fs.IntVar(&c.streams, "streams", 100_000, "how many streams the writers draw from")
	fs.Float64Var(&c.zipf, "zipf", 1.1, "the exponent s of the streams' Zipf distribution, P(rank k) ∝ 1/(10+k)^s; 0 draws them uniformly")
	baselines := fs.String("baselines", "raw,grouped", `on SQLite, also run the appends with the driver, comma-separated: "raw" commits each append in its own transaction, "grouped" commits them in groups from a queue, as a hand-written group commit; "" runs none`)
	fs.StringVar(&c.out, "out", "", "append the results to this file, one JSON object a line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *chart != "" {
		results, err := readResults(fs.Args())
		if err != nil {
			return err
		}
		if err := os.WriteFile(*chart, []byte(svgChart(results)), 0o644); err != nil {
			return err
		}
		_, err = io.WriteString(stdout, markdown(results))
		return err
	}
	for _, w := range strings.Split(*writers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 {
			return fmt.Errorf("-writers: %q is not a number of writers", w)
		}
		c.writers = append(c.writers, n)
	}
	for _, b := range strings.Split(*baselines, ",") {
		switch b = strings.TrimSpace(b); b {
		case "":
		case "raw", "grouped":
			c.baselines = append(c.baselines, b)
		default:
			return fmt.Errorf("-baselines: %q is not raw or grouped", b)
		}
	}
	c.workloads = strings.Split(*loads, ",")
	for _, w := range c.workloads {
		if w != "appends" && w != "commands" {
			return fmt.Errorf("-workloads: %q is not appends or commands", w)
		}
	}
	var out io.Writer = io.Discard
	if c.out != "" {
		f, err := os.OpenFile(c.out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	enc := json.NewEncoder(out)
	for _, workload := range c.workloads {
		variants := []string{"lib"}
		if workload == "appends" && c.url == "sqlite" {
			variants = append(variants, c.baselines...)
		}
		for _, n := range c.writers {
			for _, variant := range variants {
				r, err := step(ctx, c, workload, variant, n)
				if err != nil {
					return fmt.Errorf("%s, %s, %d writers: %w", workload, variant, n, err)
				}
				fmt.Fprintf(stdout, "%-8s %-8s %-4s %-10s %3d writers: %8.0f ops/s  p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  p99.9 %7.2f ms  conflicts %d\n",
					r.Adapter, workload, variant, r.Streams, n, r.OpsPerSec, r.P50, r.P95, r.P99, r.P999, r.Conflicts)
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// result is one step: a workload, on a store, by a number of writers.
type result struct {
	Adapter   string  `json:"adapter"` // "sqlite sync=full", "postgres"
	Workload  string  `json:"workload"`
	Variant   string  `json:"variant"` // lib, or a baseline: raw, grouped
	Streams   string  `json:"streams"` // how the streams were drawn: "zipf s=1.1", "uniform"
	Writers   int     `json:"writers"`
	Ops       int     `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Conflicts int64   `json:"conflicts"` // appends refused for a stale version, then retried
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Tailed    int64   `json:"tailed"` // events the consumer read, each once and in order
}

// target is what a step runs on: the operation a writer repeats, the
// store it writes to, and the store the consumer tails. On SQLite the
// consumer has a Store of its own on the file, which learns of appends by
// polling every 10ms, whoever wrote them: so it costs the library's
// writers what it costs the raw baseline's, not a read per append.
type target struct {
	adapter       string
	store, reader store.Store
	op            func(ctx context.Context, stream string) (conflicts int64, err error)
	close         func() error
}

// step runs one workload with n writers on a new store for c.warmup, then
// for c.duration, which it measures.
func step(ctx context.Context, c config, workload, variant string, n int) (result, error) {
	t, err := open(ctx, c, workload, variant, n)
	if err != nil {
		return result{}, err
	}
	defer t.close()

	start, err := t.reader.Head(ctx)
	if err != nil {
		return result{}, err
	}
	tailCtx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	var tailed atomic.Int64
	tailDone := make(chan error, 1)
	var target atomic.Int64 // the head to reach once the writers stopped; 0 until then
	go func() { tailDone <- tail(tailCtx, t.reader, start, &tailed, &target) }()

	var (
		wg        sync.WaitGroup
		conflicts atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		first     error
	)
	began := time.Now().Add(c.warmup)
	deadline := began.Add(c.duration)
	for w := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			// Many small streams and a few hot ones: rank k is drawn with
			// a probability proportional to 1/(10+k)^s; with s = 1.1, the
			// default, the hottest stream takes about 2% of the operations
			// and the ten hottest about 12%.
			draw := func() uint64 { return rng.Uint64N(uint64(c.streams)) }
			if c.zipf > 0 {
				draw = rand.NewZipf(rng, c.zipf, 10, uint64(c.streams-1)).Uint64
			}
			var mine []time.Duration
			// The first writer goes on past the deadline until it has
			// timed an operation, so that a step on a machine too busy
			// to finish one within it still has percentiles.
			for time.Now().Before(deadline) || w == 0 && len(mine) == 0 {
				stream := "s-" + strconv.FormatUint(draw(), 10)
				opStart := time.Now()
				k, err := t.op(ctx, stream)
				if !opStart.Before(began) {
					mine = append(mine, time.Since(opStart))
					conflicts.Add(k)
				}
				if err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if first != nil {
		return result{}, first
	}
	head, err := t.reader.Head(ctx)
	if err != nil {
		return result{}, err
	}
	target.Store(head)
	select {
	case err := <-tailDone:
		if err != nil {
			return result{}, fmt.Errorf("the consumer: %w", err)
		}
	case <-time.After(time.Minute):
		return result{}, fmt.Errorf("the consumer read %d of %d events in a minute after the writers stopped", tailed.Load(), head-start)
	}
	if got := tailed.Load(); got != head-start {
		return result{}, fmt.Errorf("the consumer read %d events, the writers appended %d", got, head-start)
	}
	slices.Sort(latencies)
	ms := func(q float64) float64 {
		i := min(len(latencies)-1, int(math.Ceil(q*float64(len(latencies))))-1)
		return float64(latencies[max(i, 0)]) / float64(time.Millisecond)
	}
	mix := fmt.Sprintf("zipf s=%g", c.zipf)
	if c.zipf == 0 {
		mix = "uniform"
	}
	return result{
		Adapter: t.adapter, Workload: workload, Variant: variant, Streams: mix, Writers: n,
		Ops: len(latencies), Seconds: elapsed.Seconds(), OpsPerSec: float64(len(latencies)) / elapsed.Seconds(),
		Conflicts: conflicts.Load(), P50: ms(0.50), P95: ms(0.95), P99: ms(0.99), P999: ms(0.999), Tailed: tailed.Load(),
	}, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// tail reads the log from after start, waiting when it has read all there
// is, and checks that positions follow each other, until it has read up
// to the head that target holds once the writers stopped.
func tail(ctx context.Context, s store.Store, start int64, read, target *atomic.Int64) error {
	after := start
	for {
		if t := target.Load(); t != 0 && after >= t {
			return nil
		}
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 500})
		if err != nil {
			return err
		}
		for _, r := range page {
			if r.Position != after+1 {
				return fmt.Errorf("position %d follows %d", r.Position, after)
			}
			after = r.Position
		}
		read.Add(int64(len(page)))
		if len(page) > 0 {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err = s.Wait(wctx, after)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

// open makes a new store for a step.
func open(ctx context.Context, c config, workload, variant string, n int) (target, error) {
	var (
		t       target
		cleanup []func() error
	)
	t.close = func() error {
		var errs []error
		for i := len(cleanup) - 1; i >= 0; i-- {
			errs = append(errs, cleanup[i]())
		}
		return errors.Join(errs...)
	}
	if c.url == "sqlite" {
		dir, err := os.MkdirTemp("", "annals-scaling-")
		if err != nil {
			return t, err
		}
		cleanup = append(cleanup, func() error { return os.RemoveAll(dir) })
		path := filepath.Join(dir, "scaling.db")
		ckpt := sqlite.WithCheckpointPages(c.ckptPages)
		s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.Synchronous(c.sync)), sqlite.WithBusyTimeout(time.Minute), ckpt)
		if err != nil {
			return t, err
		}
		cleanup = append(cleanup, s.Close)
		t.store, t.adapter = s, "sqlite sync="+c.sync
		if c.ckptPages > 0 {
			t.adapter += fmt.Sprintf(" checkpoint_pages=%d", c.ckptPages)
		}
		r, err := sqlite.Open(ctx, path, sqlite.WithPollInterval(sqlite.MinPollInterval), sqlite.WithBusyTimeout(time.Minute), ckpt)
		if err != nil {
			return t, err
		}
		cleanup = append(cleanup, r.Close)
		t.reader = r
		if variant != "lib" {
			raw, err := openRawSQLite(ctx, path, c.sync)
			if err != nil {
				return t, err
			}
			cleanup = append(cleanup, raw.close)
			if variant == "raw" {
				t.op = raw.each()
				return t, nil
			}
			c := rawgroup.New(raw.db)
			cleanup = append(cleanup, c.Close)
			t.op = raw.grouped(c)
			return t, nil
		}
	} else {
		u, err := url.Parse(c.url)
		if err != nil {
			return t, fmt.Errorf("-url: %w", err)
		}
		schema := fmt.Sprintf("scaling_%s_%s_%d_%d", workload, variant, n, time.Now().UnixNano())
		q := u.Query()
		q.Set("schema", schema)
		u.RawQuery = q.Encode()
		s, err := postgres.Open(ctx, u.String())
		if err != nil {
			return t, err
		}
		cleanup = append(cleanup, func() error {
			_, err := s.Pool().Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
			return errors.Join(err, s.Close())
		})
		var fsync string
		if err := s.Pool().QueryRow(ctx, `SELECT current_setting('fsync')`).Scan(&fsync); err != nil {
			return t, err
		}
		t.store, t.reader, t.adapter = s, s, "postgres fsync="+fsync
	}
	switch workload {
	case "appends":
		t.op = appender(t.store)
	case "commands":
		t.op = commander(t.store)
	}
	return t, nil
}
