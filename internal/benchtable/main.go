// Command benchtable turns `go test -bench` output into the table of
// docs/benchmarks.md: for each workload, the library's events per second,
// each baseline's, their ratio, and allocations per event.
//
// Benchmarks follow one convention: a workload is a benchmark path whose
// last element names the variant — "lib" for the library, anything else
// (such as "raw" or "lock") for a baseline written with the driver alone
// in the same run — and each reports how many events one operation
// handles with b.ReportMetric(n, "events/op"). Repeated runs (-count) are
// summarised by their median.
//
//	go test -run '^$' -bench . -benchmem -count 6 ./... | go run ./internal/benchtable
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	rows, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark with a lib variant and an events/op metric in the input")
		os.Exit(1)
	}
	write(os.Stdout, rows)
}

// sample is one benchmark result line.
type sample struct {
	nsPerOp, eventsPerOp, allocsPerOp float64
}

// row is one workload: its variants' medians.
type row struct {
	workload string
	variants map[string]sample
}

// parse reads benchmark lines such as
//
//	BenchmarkAppend/sqlite/batch100/lib-2  300  4000 ns/op  100 events/op  120 B/op  3 allocs/op
//
// and returns a row per workload that has a "lib" variant.
func parse(r io.Reader) ([]row, error) {
	samples := map[string]map[string][]sample{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		slash := strings.LastIndex(name, "/")
		if slash < 0 {
			continue
		}
		workload, variant := strings.TrimPrefix(name[:slash], "Benchmark"), name[slash+1:]
		var s sample
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: value %q is not a number", fields[0], fields[i])
			}
			switch fields[i+1] {
			case "ns/op":
				s.nsPerOp = v
			case "events/op":
				s.eventsPerOp = v
			case "allocs/op":
				s.allocsPerOp = v
			}
		}
		if s.nsPerOp == 0 || s.eventsPerOp == 0 {
			continue
		}
		if samples[workload] == nil {
			samples[workload] = map[string][]sample{}
			order = append(order, workload)
		}
		samples[workload][variant] = append(samples[workload][variant], s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var rows []row
	for _, w := range order {
		if _, ok := samples[w]["lib"]; !ok {
			continue
		}
		r := row{workload: w, variants: map[string]sample{}}
		for v, ss := range samples[w] {
			r.variants[v] = median(ss)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func median(ss []sample) sample {
	pick := func(get func(sample) float64) float64 {
		vs := make([]float64, len(ss))
		for i, s := range ss {
			vs[i] = get(s)
		}
		slices.Sort(vs)
		if n := len(vs); n%2 == 0 {
			return (vs[n/2-1] + vs[n/2]) / 2
		}
		return vs[len(vs)/2]
	}
	return sample{
		nsPerOp:     pick(func(s sample) float64 { return s.nsPerOp }),
		eventsPerOp: pick(func(s sample) float64 { return s.eventsPerOp }),
		allocsPerOp: pick(func(s sample) float64 { return s.allocsPerOp }),
	}
}

func (s sample) eventsPerSec() float64   { return s.eventsPerOp / (s.nsPerOp * 1e-9) }
func (s sample) allocsPerEvent() float64 { return s.allocsPerOp / s.eventsPerOp }

// write prints a Markdown table: one line per workload and baseline.
func write(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| workload\t baseline\t library events/s\t baseline events/s\t ratio\t allocs/event (lib)\t allocs/event (baseline)\t")
	fmt.Fprintln(tw, "|---\t---\t---:\t---:\t---:\t---:\t---:\t")
	for _, r := range rows {
		lib := r.variants["lib"]
		var baselines []string
		for v := range r.variants {
			if v != "lib" {
				baselines = append(baselines, v)
			}
		}
		slices.Sort(baselines)
		if len(baselines) == 0 {
			fmt.Fprintf(tw, "| %s\t —\t %.0f\t —\t —\t %.1f\t —\t\n", r.workload, lib.eventsPerSec(), lib.allocsPerEvent())
			continue
		}
		for _, b := range baselines {
			base := r.variants[b]
			fmt.Fprintf(tw, "| %s\t %s\t %.0f\t %.0f\t %.2f\t %.1f\t %.1f\t\n", r.workload, b,
				lib.eventsPerSec(), base.eventsPerSec(), lib.eventsPerSec()/base.eventsPerSec(),
				lib.allocsPerEvent(), base.allocsPerEvent())
		}
	}
	tw.Flush()
}
