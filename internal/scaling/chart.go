package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"slices"
	"strings"
)

// readResults reads the JSON lines files of earlier runs.
func readResults(files []string) ([]result, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("-chart: name the JSON lines files of the results")
	}
	var out []result
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var r result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, r)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// series is the results of one adapter, workload and variant, by writers.
type series struct {
	name   string
	points []result
}

func group(results []result) []series {
	var out []series
	for _, r := range results {
		name := r.Adapter + ", " + r.Workload
		if r.Streams == "uniform" {
			name += ", uniform streams"
		}
		if r.Variant != "lib" {
			name += " (" + r.Variant + ")"
		}
		i := slices.IndexFunc(out, func(s series) bool { return s.name == name })
		if i < 0 {
			out = append(out, series{name: name})
			i = len(out) - 1
		}
		out[i].points = append(out[i].points, r)
	}
	for _, s := range out {
		slices.SortFunc(s.points, func(a, b result) int { return a.Writers - b.Writers })
	}
	return out
}

// markdown is the table of the results: per series and writers, the
// throughput, its ratio to the step before, and the percentiles.
func markdown(results []result) string {
	var b strings.Builder
	b.WriteString("| store | workload | variant | streams | writers | ops/s | × previous | p50 ms | p95 ms | p99 ms | p99.9 ms | conflicts |\n")
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range group(results) {
		for i, r := range s.points {
			step := "—"
			if i > 0 {
				step = fmt.Sprintf("%.2f", r.OpsPerSec/s.points[i-1].OpsPerSec)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %.0f | %s | %.2f | %.2f | %.2f | %.2f | %d |\n",
				r.Adapter, r.Workload, r.Variant, r.Streams, r.Writers, r.OpsPerSec, step, r.P50, r.P95, r.P99, r.P999, r.Conflicts)
		}
	}
	return b.String()
}

// palette holds the series' colours, told apart in colour and in print.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// svgChart draws two panels side by side: throughput against writers,
// and p99 latency against writers, both with writers on a log scale and
// the latency on a log scale too, one line per series.
func svgChart(results []result) string {
	all := group(results)
	const (
		panelW, panelH = 460, 340
		left, top      = 70, 40
		plotW, plotH   = panelW - left - 20, panelH - top - 50
	)
	legendH := 18 * len(all)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", 2*panelW, panelH+legendH+10)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	maxWriters := 1
	for _, r := range results {
		maxWriters = max(maxWriters, r.Writers)
	}
	xOf := func(w int) float64 {
		return left + plotW*math.Log2(float64(w))/math.Max(1, math.Log2(float64(maxWriters)))
	}
	panel := func(x0 int, title, axis string, value func(result) float64, logY bool) {
		lo, hi := math.Inf(1), 0.0
		for _, r := range results {
			lo, hi = math.Min(lo, value(r)), math.Max(hi, value(r))
		}
		if !logY {
			lo = 0
		}
		lo, hi = niceRange(lo, hi, logY)
		yOf := func(v float64) float64 {
			if logY {
				return top + plotH - plotH*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
			}
			return top + plotH - plotH*(v-lo)/(hi-lo)
		}
		fmt.Fprintf(&b, `<g transform="translate(%d,0)">`+"\n", x0)
		fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, top, plotW, plotH)
		for _, t := range ticks(lo, hi, logY) {
			y := yOf(t)
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>`, left, left+plotW, y, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, label(t))
		}
		for w := 1; w <= maxWriters; w *= 2 {
			x := xOf(w)
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>`, x, x, top, top+plotH)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x, top+plotH+16, w)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">writers</text>`+"\n", left+plotW/2, top+plotH+36)
		fmt.Fprintf(&b, `<text x="14" y="%d" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`+"\n", top+plotH/2, top+plotH/2, html.EscapeString(axis))
		for i, s := range all {
			var pts []string
			for _, r := range s.points {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(r.Writers), yOf(value(r))))
			}
			colour := palette[i%len(palette)]
			dash := dashes(s.name)
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), colour, dash)
			for _, p := range pts {
				xy := strings.Split(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, xy[0], xy[1], colour)
			}
			b.WriteString("\n")
		}
		b.WriteString("</g>\n")
	}
	panel(0, "Throughput", "operations per second", func(r result) float64 { return r.OpsPerSec }, false)
	panel(panelW, "p99 latency", "milliseconds (log scale)", func(r result) float64 { return math.Max(r.P99, 0.001) }, true)
	for i, s := range all {
		y := panelH + 4 + 18*i
		colour := palette[i%len(palette)]
		dash := dashes(s.name)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`, left, left+24, y+6, y+6, colour, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", left+30, y+6, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceRange widens [lo, hi] to round numbers: powers of ten on a log
// scale, a multiple of a round step otherwise.
func niceRange(lo, hi float64, logY bool) (float64, float64) {
	if hi <= lo {
		hi = lo + 1
	}
	if logY {
		return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	}
	step := roundStep(hi / 5)
	return 0, math.Ceil(hi/step) * step
}

func roundStep(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func ticks(lo, hi float64, logY bool) []float64 {
	var out []float64
	if logY {
		for v := lo; v <= hi*1.0001; v *= 10 {
			out = append(out, v)
		}
		return out
	}
	step := roundStep(hi / 5)
	for v := lo; v <= hi*1.0001; v += step {
		out = append(out, v)
	}
	return out
}

func label(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

// dashes is the stroke of a series: solid for the library, dashed for
// the raw baseline, dotted for the grouped one.
func dashes(name string) string {
	switch {
	case strings.Contains(name, "(raw)"):
		return ` stroke-dasharray="5,3"`
	case strings.Contains(name, "(grouped)"):
		return ` stroke-dasharray="2,2"`
	}
	return ""
}
