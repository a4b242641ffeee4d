package main

import (
	"bytes"
	"strings"
	"testing"
)

const input = `goos: linux
BenchmarkAppend/sqlite/batch100/lib-2   	     300	   4000000 ns/op	       100.0 events/op	   12000 B/op	     900 allocs/op
BenchmarkAppend/sqlite/batch100/lib-2   	     300	   5000000 ns/op	       100.0 events/op	   12000 B/op	     900 allocs/op
BenchmarkAppend/sqlite/batch100/lib-2   	     300	   9000000 ns/op	       100.0 events/op	   12000 B/op	     900 allocs/op
BenchmarkAppend/sqlite/batch100/raw-2   	     300	   4000000 ns/op	       100.0 events/op	   11000 B/op	     500 allocs/op
BenchmarkWriters/postgres/lib-2   	     300	   1000 ns/op	       1 events/op	   1 allocs/op
BenchmarkWriters/postgres/raw-2   	     300	   800 ns/op	       1 events/op	   1 allocs/op
BenchmarkWriters/postgres/lock-2   	     300	   2000 ns/op	       1 events/op	   1 allocs/op
BenchmarkNoLib/raw-2   	     300	   800 ns/op	       1 events/op
BenchmarkNoEvents/lib-2   	     300	   800 ns/op
PASS
`

func TestTable(t *testing.T) {
	rows, err := parse(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].workload != "Append/sqlite/batch100" || rows[1].workload != "Writers/postgres" {
		t.Fatalf("rows = %+v, want the two workloads with a lib variant and events/op", rows)
	}
	// The median of 4, 5 and 9 ms is 5 ms: 100 events in 5 ms.
	if got := rows[0].variants["lib"].eventsPerSec(); got != 20000 {
		t.Fatalf("lib events/s = %v, want 20000", got)
	}
	var out bytes.Buffer
	write(&out, rows)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want a header, a rule and 3 rows:\n%s", len(lines), out.String())
	}
	cells := func(line string) string {
		var out []string
		for _, c := range strings.Split(strings.Trim(line, "| "), "|") {
			out = append(out, strings.TrimSpace(c))
		}
		return strings.Join(out, ",")
	}
	for i, want := range []string{
		"Append/sqlite/batch100,raw,20000,25000,0.80,9.0,5.0",
		"Writers/postgres,lock,1000000,500000,2.00,1.0,1.0",
		"Writers/postgres,raw,1000000,1250000,0.80,1.0,1.0",
	} {
		if got := cells(lines[i+2]); got != want {
			t.Errorf("row %d = %s, want %s", i, got, want)
		}
	}
}

func TestRejectsGarbledNumbers(t *testing.T) {
	if _, err := parse(strings.NewReader("BenchmarkX/lib-2 10 abc ns/op 1 events/op\n")); err == nil {
		t.Fatal("a garbled value parsed without error")
	}
}
