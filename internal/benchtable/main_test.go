package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

const input = `goos: linux
pkg: github.com/annals-dev/annals/store/sqlite
BenchmarkAppend/sqlite/batch100/lib-2   	     300	   4000000 ns/op	  2000000 cpu-ns/op	       100.0 events/op	   12000 B/op	     900 allocs/op
BenchmarkAppend/sqlite/batch100/lib-2   	     300	   5000000 ns/op	  3000000 cpu-ns/op	       100.0 events/op	   12000 B/op	     900 allocs/op
BenchmarkAppend/sqlite/batch100/lib-2   	     300	   9000000 ns/op	  4000000 cpu-ns/op	       100.0 events/op	   12000 B/op	     900 allocs/op
BenchmarkAppend/sqlite/batch100/raw-2   	     300	   4000000 ns/op	  2400000 cpu-ns/op	       100.0 events/op	   11000 B/op	     500 allocs/op
BenchmarkCatchUp/lib-2   	     3	   2000000000 ns/op	       100000 events/op	   1 allocs/op
pkg: github.com/annals-dev/annals/store/postgres
BenchmarkWriters/lib-2   	     300	   1000 ns/op	   500 cpu-ns/op	       1 events/op	   1 allocs/op
BenchmarkWriters/raw-2   	     300	   800 ns/op	   400 cpu-ns/op	       1 events/op	   1 allocs/op
BenchmarkWriters/lock-2   	     300	   2000 ns/op	       1 events/op	   1 allocs/op
BenchmarkNoLib/raw-2   	     300	   800 ns/op	       1 events/op
BenchmarkNoEvents/lib-2   	     300	   800 ns/op
pkg: github.com/annals-dev/annals/examples/dogschool
BenchmarkSchool/sqlite/dogs=10/gets/lib-2   	     30	   50000 ns/op	       10 gets/op	   500 allocs/op	  7 cpu-ns/op
BenchmarkSchool/sqlite/dogs=10/gets/raw-2   	     30	   40000 ns/op	       10 gets/op	   400 allocs/op
BenchmarkSchool/memory/dogs=10/gets/lib-2   	     30	   1000 ns/op	       10 gets/op	   50 allocs/op
BenchmarkSchool/dogs=10/gets/lib-2   	     30	   1000 ns/op	       10 gets/op	   50 allocs/op
PASS
`

func TestTable(t *testing.T) {
	rows, err := parse(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.workload+"@"+r.store)
	}
	want := "Append/batch100@sqlite CatchUp@sqlite Writers@postgres School/dogs=10/gets@sqlite School/dogs=10/gets@memory School/dogs=10/gets@"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows = %v, want %s: the workloads with a lib variant and a unit of work, by store", got, want)
	}
	// The median of 4, 5 and 9 ms is 5 ms: 100 events in 5 ms.
	if got := rows[0].variants["lib"].perSec(); got != 20000 {
		t.Fatalf("lib events/s = %v, want 20000", got)
	}
	var out bytes.Buffer
	write(&out, rows)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	cells := func(line string) string {
		var out []string
		for _, c := range strings.Split(strings.Trim(line, "| "), "|") {
			out = append(out, strings.TrimSpace(c))
		}
		return strings.Join(out, ",")
	}
	wantLines := []string{
		// The median processor times are 3 ms and 2.4 ms: 0.80.
		"Append/batch100,sqlite,events,20000,raw,25000,0.80,0.80,5 ms,9.0,5.0",
		"CatchUp,sqlite,events,50000,—,—,—,—,2 s,0.0,—",
		// The client's processor time says nothing of a server's work.
		"Writers,postgres,events,1000000,lock,500000,2.00,—,1 µs,1.0,1.0",
		"Writers,postgres,events,1000000,raw,1250000,0.80,—,1 µs,1.0,1.0",
		"School/dogs=10/gets,sqlite,gets,200000,raw,250000,0.80,—,50 µs,50.0,40.0",
		"School/dogs=10/gets,memory,gets,10000000,—,—,—,—,1 µs,5.0,—",
		"School/dogs=10/gets,—,gets,10000000,—,—,—,—,1 µs,5.0,—",
	}
	if len(lines) != len(wantLines)+2 {
		t.Fatalf("%d lines, want a header, a rule and %d rows:\n%s", len(lines), len(wantLines), out.String())
	}
	for i, want := range wantLines {
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

func TestDuration(t *testing.T) {
	for ns, want := range map[float64]string{12: "12 ns", 1234: "1.23 µs", 45_600_000: "45.6 ms", 2.5e9: "2.5 s"} {
		if got := duration(ns); got != want {
			t.Errorf("duration(%v) = %q, want %q", ns, got, want)
		}
	}
}

// Metrics per event, such as the bytes a write leaves, get a table of
// their own: the library's median against each baseline's.
func TestPerEventTable(t *testing.T) {
	rows, err := parse(strings.NewReader(`pkg: github.com/annals-dev/annals/store/postgres
BenchmarkWriteVolume/postgres/lib-2   	 20000	 200000 ns/op	 1.000 events/op	 1040 stored-B/event	 800 wal-B/event
BenchmarkWriteVolume/postgres/lib-2   	 20000	 200000 ns/op	 1.000 events/op	 1060 stored-B/event	 820 wal-B/event
BenchmarkWriteVolume/postgres/lib-2   	 20000	 200000 ns/op	 1.000 events/op	 1050 stored-B/event	 900 wal-B/event
BenchmarkWriteVolume/postgres/plain-2 	 20000	 150000 ns/op	 1.000 events/op	 520 stored-B/event	 700 wal-B/event
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	write(&out, rows)
	var got []string
	for _, line := range strings.Split(out.String(), "\n") {
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "| "), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		got = append(got, strings.Join(cells, ","))
	}
	for _, want := range []string{
		// Medians: 1050 of 1040, 1050, 1060; 820 of 800, 820, 900.
		"WriteVolume,postgres,stored-B/event,1050.0,plain,520.0,2.02",
		"WriteVolume,postgres,wal-B/event,820.0,plain,700.0,1.17",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("the table lacks the row %s:\n%s", want, out.String())
		}
	}
}
