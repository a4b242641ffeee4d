package httplog_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/internal/workload"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/httplog"
	"github.com/annals-dev/annals/store/sqlite"
)

// BenchmarkReadLogOverHTTP reads the whole global log of 100,000 events
// into typed events, in pages of 500, through a client of the log served
// over loopback HTTP, against the same pages read from the store itself
// in the same process: what the wire (JSON, base64 payloads, a round trip
// a page) costs a consumer that holds no credentials of the database.
func BenchmarkReadLogOverHTTP(b *testing.B) {
	ctx := context.Background()
	n := workload.Size(b, workload.LogEvents)
	streams := min(workload.LogStreams, n)
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "log.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := workload.SeedLog(ctx, s, streams, n/streams); err != nil {
		b.Fatal(err)
	}
	want := workload.ExpectedLog(streams, n/streams)
	srv := httptest.NewServer(httplog.NewHandler(s))
	b.Cleanup(srv.Close)
	c, err := httplog.NewClient(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	codec := workload.Codec()
	for _, v := range []struct {
		name string
		log  store.Log
	}{{"lib", c}, {"direct", s}} {
		b.Run(fmt.Sprintf("sqlite/events=%d/%s", want.Events, v.name), func(b *testing.B) {
			workload.Loop(b, want.Events, func(int) error {
				t, err := workload.ReadLog(ctx, v.log, codec)
				if err != nil {
					return err
				}
				return workload.Check("ReadLog", t, want)
			})
		})
	}
}
