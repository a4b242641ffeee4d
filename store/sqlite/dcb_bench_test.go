package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/annals-dev/annals/internal/dcbbench"
	"github.com/annals-dev/annals/store/sqlite"
)

// The benchmarks of dynamic consistency boundaries (docs/dcb.md), each
// against the same work on streams in the same run.

func openDCB(b *testing.B) dcbbench.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "dcb.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkDCBAppend(b *testing.B)           { dcbbench.Append(b, openDCB) }
func BenchmarkDCBConcurrentAppend(b *testing.B) { dcbbench.ConcurrentAppend(b, openDCB) }
func BenchmarkDCBRead(b *testing.B)             { dcbbench.Read(b, openDCB) }
func BenchmarkDCBDecisions(b *testing.B)        { dcbbench.Decisions(b, openDCB) }
func BenchmarkDCBWriters(b *testing.B)          { dcbbench.Writers(b, openDCB) }
