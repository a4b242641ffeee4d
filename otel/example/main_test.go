package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// The program sends its traces and metrics to the collector that
// OTEL_EXPORTER_OTLP_ENDPOINT names.
func TestRunExportsTracesAndMetrics(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("ANNALS_STORE", "memory:")
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"POST /v1/traces", "POST /v1/metrics"} {
		if !slices.Contains(paths, want) {
			t.Errorf("the collector got %q, not %s", paths, want)
		}
	}
}
