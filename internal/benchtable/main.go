// Command benchtable turns `go test -bench` output into the table of
// docs/benchmarks.md: for each workload and store, the library's
// throughput, each baseline's, their ratio, the ratio of their processor
// times (when they report cpu-ns/op), the library's time per operation,
// and allocations per unit of work.
//
// Benchmarks follow one convention: a workload is a benchmark path whose
// last element names the variant — "lib" for the library, anything else
// (such as "raw" or "raw-read") for a baseline written with the driver
// alone in the same run — and each reports how many units of work one
// operation does with b.ReportMetric(n, "events/op") (or "commands/op",
// "gets/op"). The element of the path that names a store (memory, sqlite,
// postgres) goes into the store column; a path without one takes the
// store of its package when the package is an adapter. Repeated runs
// (-count) are summarised by their median.
//
//	go test -run '^$' -bench . -benchmem -count 6 ./... | go run ./internal/benchtable
package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
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
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark with a lib variant and an events/op, commands/op or gets/op metric in the input")
		os.Exit(1)
	}
	write(os.Stdout, rows)
}

// stores are the path elements that name a store.
var stores = []string{"memory", "sqlite", "postgres"}

// units are the metrics that count the work of one operation, in the
// order in which one is picked when a line reports several.
var units = []string{"events", "commands", "gets"}

// sample is one benchmark result line.
type sample struct {
	nsPerOp, cpuPerOp, perOp, allocsPerOp float64
	unit                                  string
	// perEvent holds the metrics reported per event, such as
	// "wal-B/event", by unit.
	perEvent map[string]float64
}

// row is one workload on one store: its variants' medians.
type row struct {
	workload, store string
	variants        map[string]sample
}

// parse reads benchmark lines such as
//
//	BenchmarkAppend/sqlite/batch100/lib-2  300  4000 ns/op  100 events/op  120 B/op  3 allocs/op
//
// and returns a row per workload that has a "lib" variant.
func parse(r io.Reader) ([]row, error) {
	type key struct{ workload, store string }
	samples := map[key]map[string][]sample{}
	var order []key
	pkgStore := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if pkg, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkgStore = ""
			if base := path.Base(strings.TrimSpace(pkg)); slices.Contains(stores, base) {
				pkgStore = base
			}
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		elems := strings.Split(strings.TrimPrefix(name, "Benchmark"), "/")
		if len(elems) < 2 {
			continue
		}
		variant := elems[len(elems)-1]
		k := key{store: pkgStore}
		var workload []string
		for i, e := range elems[:len(elems)-1] {
			if i > 0 && slices.Contains(stores, e) {
				k.store = e
				continue
			}
			workload = append(workload, e)
		}
		k.workload = strings.Join(workload, "/")
		s, err := parseMetrics(fields)
		if err != nil {
			return nil, err
		}
		if s.nsPerOp == 0 || s.perOp == 0 {
			continue
		}
		if samples[k] == nil {
			samples[k] = map[string][]sample{}
			order = append(order, k)
		}
		samples[k][variant] = append(samples[k][variant], s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var rows []row
	for _, k := range order {
		if _, ok := samples[k]["lib"]; !ok {
			continue
		}
		r := row{workload: k.workload, store: k.store, variants: map[string]sample{}}
		for v, ss := range samples[k] {
			r.variants[v] = median(ss)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// parseMetrics reads the value-unit pairs after a benchmark's name and
// iteration count.
func parseMetrics(fields []string) (sample, error) {
	var s sample
	rank := len(units)
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return s, fmt.Errorf("%s: value %q is not a number", fields[0], fields[i])
		}
		switch unit := fields[i+1]; unit {
		case "ns/op":
			s.nsPerOp = v
		case "cpu-ns/op":
			s.cpuPerOp = v
		case "allocs/op":
			s.allocsPerOp = v
		default:
			if u := slices.Index(units, strings.TrimSuffix(unit, "/op")); u >= 0 && u < rank && strings.HasSuffix(unit, "/op") {
				rank, s.perOp, s.unit = u, v, units[u]
			}
			if strings.HasSuffix(unit, "/event") {
				if s.perEvent == nil {
					s.perEvent = map[string]float64{}
				}
				s.perEvent[unit] = v
			}
		}
	}
	return s, nil
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
	m := sample{
		nsPerOp:     pick(func(s sample) float64 { return s.nsPerOp }),
		cpuPerOp:    pick(func(s sample) float64 { return s.cpuPerOp }),
		perOp:       pick(func(s sample) float64 { return s.perOp }),
		allocsPerOp: pick(func(s sample) float64 { return s.allocsPerOp }),
		unit:        ss[0].unit,
	}
	for unit := range ss[0].perEvent {
		if m.perEvent == nil {
			m.perEvent = map[string]float64{}
		}
		m.perEvent[unit] = pick(func(s sample) float64 { return s.perEvent[unit] })
	}
	return m
}

func (s sample) perSec() float64        { return s.perOp / (s.nsPerOp * 1e-9) }
func (s sample) allocsPerUnit() float64 { return s.allocsPerOp / s.perOp }

// duration formats nanoseconds with three significant digits.
func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3g s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.3g ns", ns)
}

// cpuRatio is the ratio of the processor time per unit of work of base to
// that of lib, "—" when either did not report it or when the store runs
// in a server, whose work the client's processor time leaves out.
func cpuRatio(store string, lib, base sample) string {
	if lib.cpuPerOp == 0 || base.cpuPerOp == 0 || store == "postgres" {
		return "—"
	}
	return fmt.Sprintf("%.2f", (base.cpuPerOp/base.perOp)/(lib.cpuPerOp/lib.perOp))
}

// write prints a Markdown table: one line per workload, store and
// baseline; then, when some workload reports metrics per event (such as
// bytes written), a second table of those, the library's against each
// baseline's.
func write(w io.Writer, rows []row) {
	writeThroughput(w, rows)
	writePerEvent(w, rows)
}

// writePerEvent prints the metrics per event that a library variant and
// a baseline both report, with their ratio (library / baseline: below 1
// the library spends less).
func writePerEvent(w io.Writer, rows []row) {
	var lines [][]string
	for _, r := range rows {
		lib := r.variants["lib"]
		for _, unit := range slices.Sorted(maps.Keys(lib.perEvent)) {
			for _, b := range slices.Sorted(maps.Keys(r.variants)) {
				base, ok := r.variants[b].perEvent[unit]
				if b == "lib" || !ok {
					continue
				}
				store := r.store
				if store == "" {
					store = "—"
				}
				ratio := "—"
				if base != 0 {
					ratio = fmt.Sprintf("%.2f", lib.perEvent[unit]/base)
				}
				lines = append(lines, []string{r.workload, store, unit, fmt.Sprintf("%.1f", lib.perEvent[unit]), b, fmt.Sprintf("%.1f", base), ratio})
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| workload\t store\t metric\t library\t baseline\t baseline's\t ratio\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---:\t---\t---:\t---:\t")
	for _, l := range lines {
		fmt.Fprintf(tw, "| %s\t\n", strings.Join(l, "\t "))
	}
	tw.Flush()
}

func writeThroughput(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| workload\t store\t unit\t library /s\t baseline\t baseline /s\t ratio\t CPU ratio\t library time/op\t allocs/unit (lib)\t allocs/unit (baseline)\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---:\t---\t---:\t---:\t---:\t---:\t---:\t---:\t")
	for _, r := range rows {
		lib := r.variants["lib"]
		store := r.store
		if store == "" {
			store = "—"
		}
		var baselines []string
		for v := range r.variants {
			if v != "lib" {
				baselines = append(baselines, v)
			}
		}
		slices.Sort(baselines)
		if len(baselines) == 0 {
			fmt.Fprintf(tw, "| %s\t %s\t %s\t %.0f\t —\t —\t —\t —\t %s\t %.1f\t —\t\n", r.workload, store, lib.unit,
				lib.perSec(), duration(lib.nsPerOp), lib.allocsPerUnit())
			continue
		}
		for _, b := range baselines {
			base := r.variants[b]
			fmt.Fprintf(tw, "| %s\t %s\t %s\t %.0f\t %s\t %.0f\t %.2f\t %s\t %s\t %.1f\t %.1f\t\n", r.workload, store, lib.unit,
				lib.perSec(), b, base.perSec(), lib.perSec()/base.perSec(), cpuRatio(r.store, lib, base), duration(lib.nsPerOp),
				lib.allocsPerUnit(), base.allocsPerUnit())
		}
	}
	tw.Flush()
}
