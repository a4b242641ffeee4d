package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A short run on SQLite writes a result per workload, variant and number
// of writers, whose consumer read every event; the chart and the table
// are made from them.
func TestRunAndChart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the workload for a second")
	}
	ctx := context.Background()
	dir := t.TempDir()
	results := filepath.Join(dir, "results.jsonl")
	var out bytes.Buffer
	if err := run(ctx, []string{"-writers", "1,2", "-duration", "150ms", "-warmup", "50ms", "-streams", "50", "-out", results}, &out); err != nil {
		t.Fatal(err)
	}
	got, err := readResults([]string{results})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 { // appends lib, raw and grouped, commands lib; 1 and 2 writers
		t.Fatalf("%d results, want 8:\n%s", len(got), out.String())
	}
	for _, r := range got {
		if r.Ops == 0 || r.Tailed < int64(r.Ops) || r.P50 <= 0 || r.P999 < r.P99 || r.P99 < r.P50 {
			t.Errorf("result %+v: want operations, each event tailed, and ordered percentiles", r)
		}
	}
	svg := filepath.Join(dir, "chart.svg")
	out.Reset()
	if err := run(ctx, []string{"-chart", svg, results}, &out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("<svg")) || bytes.Count(data, []byte("<polyline")) != 8 {
		t.Errorf("the chart is not an SVG of four series in two panels:\n%s", data)
	}
	if n := strings.Count(out.String(), "| sqlite sync=full |"); n != 8 {
		t.Errorf("the table has %d rows of results, want 8:\n%s", n, out.String())
	}
}

// A step too short for any operation to finish within it, as on a busy
// machine, still times one: its percentiles are that operation's.
func TestAStepTooShortForAnOperationStillTimesOne(t *testing.T) {
	if testing.Short() {
		t.Skip("opens the stores of a workload")
	}
	results := filepath.Join(t.TempDir(), "results.jsonl")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-writers", "1", "-duration", "1ns", "-warmup", "0s", "-streams", "5", "-out", results}, &out); err != nil {
		t.Fatal(err)
	}
	got, err := readResults([]string{results})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.Ops == 0 || r.P50 <= 0 {
			t.Errorf("result %+v: want the one operation timed", r)
		}
	}
}
