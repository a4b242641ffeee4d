package proptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// SnapshotStoreContract runs the behaviour every [snapshot.Store] must
// have against the stores that open returns. Each subtest calls open once;
// open should return a fresh, empty store and register its cleanup with
// t.Cleanup. Adapters run it beside [StoreContract]:
//
//	func TestSnapshotStoreContract(t *testing.T) {
//		proptest.SnapshotStoreContract(t, func(t *testing.T) snapshot.Store { return openTestStore(t) })
//	}
//
// It takes *testing.T, not [T]: it runs each behaviour as a subtest
// (t.Run) and hands that subtest's t to open.
func SnapshotStoreContract(t *testing.T, open func(t *testing.T) snapshot.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, snapshot.Store)
	}{
		{"StateMachine", snapContractStateMachine},
		{"RoundTrip", snapContractRoundTrip},
		{"LatestWins", snapContractLatestWins},
		{"ConcurrentSaves", snapContractConcurrent},
		{"InvalidInput", snapContractInvalid},
		{"BytesAreCopied", snapContractCopies},
		{"Cancellation", snapContractCancellation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

func testSnapshot(stream string, version int64, data string) snapshot.Snapshot {
	return snapshot.Snapshot{
		StreamID: stream, Version: version, Type: "Account", SchemaVersion: 2,
		Time: time.Now().UTC(), Data: []byte(data), Encoding: "deflate",
	}
}

// snapshotDiff describes how got differs from want, or returns "". Times
// may lose precision below a millisecond in a database.
func snapshotDiff(got, want snapshot.Snapshot) string {
	var diffs []string
	if got.StreamID != want.StreamID || got.Version != want.Version {
		diffs = append(diffs, fmt.Sprintf("stream %q version %d, want %q version %d", got.StreamID, got.Version, want.StreamID, want.Version))
	}
	if got.Type != want.Type || got.SchemaVersion != want.SchemaVersion {
		diffs = append(diffs, fmt.Sprintf("type %q v%d, want %q v%d", got.Type, got.SchemaVersion, want.Type, want.SchemaVersion))
	}
	if !bytes.Equal(got.Data, want.Data) {
		diffs = append(diffs, fmt.Sprintf("data %q, want %q", got.Data, want.Data))
	}
	if got.Encoding != want.Encoding {
		diffs = append(diffs, fmt.Sprintf("encoding %q, want %q", got.Encoding, want.Encoding))
	}
	if d := got.Time.Sub(want.Time).Abs(); d > time.Millisecond || got.Time.Location() != time.UTC {
		diffs = append(diffs, fmt.Sprintf("time %v, want %v in UTC", got.Time, want.Time))
	}
	return strings.Join(diffs, "; ")
}

func snapContractStateMachine(t *testing.T, ss snapshot.Store) {
	ctx := context.Background()
	runs := 0
	rapid.Check(t, func(t *rapid.T) {
		runs++
		prefix := fmt.Sprintf("snap-%d-%s/", runs, uuid.NewString()[:8])
		model := map[string]snapshot.Snapshot{}
		stream := func(t *rapid.T) string {
			return prefix + rapid.SampledFrom([]string{"a", "b", "ψ"}).Draw(t, "stream")
		}
		t.Repeat(map[string]func(*rapid.T){
			"save": func(t *rapid.T) {
				s := testSnapshot(stream(t), rapid.Int64Range(1, 12).Draw(t, "version"), "")
				s.Data = rapid.SliceOfN(rapid.Byte(), 0, 32).Draw(t, "data")
				s.Type = rapid.SampledFrom([]string{"Account", "Account.v2", "Zähler"}).Draw(t, "type")
				s.SchemaVersion = rapid.IntRange(1, 4).Draw(t, "schema")
				s.Encoding = rapid.SampledFrom([]string{"", "deflate", "aes256gcm:k1"}).Draw(t, "encoding")
				if err := ss.SaveSnapshot(ctx, s); err != nil {
					t.Fatalf("save snapshot of %q at %d: %v", s.StreamID, s.Version, err)
				}
				if old, ok := model[s.StreamID]; !ok || old.Version <= s.Version {
					model[s.StreamID] = s
				}
			},
			"load": func(t *rapid.T) {
				id := stream(t)
				got, ok, err := ss.LatestSnapshot(ctx, id)
				if err != nil {
					t.Fatalf("latest snapshot of %q: %v", id, err)
				}
				want, exists := model[id]
				if ok != exists {
					t.Fatalf("latest snapshot of %q: found = %v, want %v", id, ok, exists)
				}
				if ok {
					if d := snapshotDiff(got, want); d != "" {
						t.Fatalf("latest snapshot of %q: %s", id, d)
					}
				}
			},
		})
	})
}

func snapContractRoundTrip(t *testing.T, ss snapshot.Store) {
	ctx := context.Background()
	if _, ok, err := ss.LatestSnapshot(ctx, "none"); ok || err != nil {
		t.Fatalf("latest snapshot of a stream without one: found %v, %v; want false, nil", ok, err)
	}
	for _, want := range []snapshot.Snapshot{
		testSnapshot("plain", 1, `{"balance":42}`),
		{StreamID: "empty", Version: 7, Type: "T", SchemaVersion: 1, Time: time.Now().UTC()},
		testSnapshot("big", 1_000_000_000_000, strings.Repeat("\x00\xffΩ", 1<<18)),
		testSnapshot(strings.Repeat("ß", store.MaxStreamIDLen/2), 3, "long stream ID"),
	} {
		if err := ss.SaveSnapshot(ctx, want); err != nil {
			t.Fatalf("save snapshot of %.20q: %v", want.StreamID, err)
		}
		got, ok, err := ss.LatestSnapshot(ctx, want.StreamID)
		if err != nil || !ok {
			t.Fatalf("latest snapshot of %.20q: found %v, %v", want.StreamID, ok, err)
		}
		if d := snapshotDiff(got, want); d != "" {
			t.Fatalf("snapshot of %.20q read back: %s", want.StreamID, d)
		}
		if got.Data == nil {
			t.Fatalf("snapshot of %.20q read back with nil Data; want an empty slice: a stored snapshot's Data is never nil", want.StreamID)
		}
	}
}

func snapContractLatestWins(t *testing.T, ss snapshot.Store) {
	ctx := context.Background()
	for _, step := range []struct {
		version int64
		data    string
		want    string
	}{
		{100, "at 100", "at 100"},
		{300, "at 300", "at 300"},
		{200, "late 200", "at 300"},                     // an older snapshot saved late is ignored
		{300, "300 by newer code", "300 by newer code"}, // the same version replaces
	} {
		if err := ss.SaveSnapshot(ctx, testSnapshot("s", step.version, step.data)); err != nil {
			t.Fatalf("save at %d: %v", step.version, err)
		}
		got, ok, err := ss.LatestSnapshot(ctx, "s")
		if err != nil || !ok || string(got.Data) != step.want {
			t.Fatalf("after saving %q at %d, latest is %q at %d (found %v, %v); want %q", step.data, step.version, got.Data, got.Version, ok, err, step.want)
		}
	}
	if _, ok, _ := ss.LatestSnapshot(ctx, "other"); ok {
		t.Fatal("a snapshot of one stream is visible on another")
	}
}

func snapContractConcurrent(t *testing.T, ss snapshot.Store) {
	ctx := context.Background()
	for round := range 5 {
		stream := fmt.Sprintf("racing-%d", round)
		versions := rand.Perm(24)
		var wg sync.WaitGroup
		errs := make([]error, len(versions))
		for i, v := range versions {
			wg.Go(func() { errs[i] = ss.SaveSnapshot(ctx, testSnapshot(stream, int64(v+1), fmt.Sprint(v+1))) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent save: %v", err)
			}
		}
		got, ok, err := ss.LatestSnapshot(ctx, stream)
		if err != nil || !ok || got.Version != 24 || string(got.Data) != "24" {
			t.Fatalf("after concurrent saves of versions 1…24, latest is %d %q (found %v, %v); want 24", got.Version, got.Data, ok, err)
		}
	}
}

func snapContractInvalid(t *testing.T, ss snapshot.Store) {
	ctx := context.Background()
	valid := testSnapshot("x", 1, "")
	for name, change := range map[string]func(*snapshot.Snapshot){
		"empty stream":                func(s *snapshot.Snapshot) { s.StreamID = "" },
		"stream too long":             func(s *snapshot.Snapshot) { s.StreamID = strings.Repeat("s", store.MaxStreamIDLen+1) },
		"stream with NUL":             func(s *snapshot.Snapshot) { s.StreamID = "a\x00" },
		"version 0":                   func(s *snapshot.Snapshot) { s.Version = 0 },
		"negative version":            func(s *snapshot.Snapshot) { s.Version = -3 },
		"empty type":                  func(s *snapshot.Snapshot) { s.Type = "" },
		"type too long":               func(s *snapshot.Snapshot) { s.Type = strings.Repeat("t", store.MaxTypeLen+1) },
		"type not UTF-8":              func(s *snapshot.Snapshot) { s.Type = "\xff" },
		"schema version 0":            func(s *snapshot.Snapshot) { s.SchemaVersion = 0 },
		"encoding with NUL":           func(s *snapshot.Snapshot) { s.Encoding = "deflate\x00" },
		"encoding too long":           func(s *snapshot.Snapshot) { s.Encoding = strings.Repeat("e", store.MaxEncodingLen+1) },
		"a time before store.MinTime": func(s *snapshot.Snapshot) { s.Time = store.MinTime.Add(-time.Nanosecond) },
		"a time past store.MaxTime":   func(s *snapshot.Snapshot) { s.Time = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"schema version past the limit": func(s *snapshot.Snapshot) {
			s.SchemaVersion = int(int64(store.MaxSchemaVersion) + 1) // negative where int is 32 bits
		},
	} {
		s := valid
		s.StreamID = "invalid-" + name
		change(&s)
		if err := ss.SaveSnapshot(ctx, s); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("save a snapshot with %s: %v, want store.ErrInvalid", name, err)
		}
		if s.StreamID != "" && check.StreamID(s.StreamID) == nil {
			if _, ok, err := ss.LatestSnapshot(ctx, s.StreamID); ok || err != nil {
				t.Errorf("after refusing a snapshot with %s: found %v, %v; want nothing stored", name, ok, err)
			}
		}
	}
	if _, _, err := ss.LatestSnapshot(ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("latest snapshot of an empty stream ID: %v, want store.ErrInvalid", err)
	}
}

func snapContractCopies(t *testing.T, ss snapshot.Store) {
	ctx := context.Background()
	s := testSnapshot("copied", 1, "original")
	if err := ss.SaveSnapshot(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Data[0] = 'X'
	got, _, err := ss.LatestSnapshot(ctx, "copied")
	if err != nil {
		t.Fatal(err)
	}
	got.Data[1] = 'X'
	if again, _, err := ss.LatestSnapshot(ctx, "copied"); err != nil || string(again.Data) != "original" {
		t.Fatalf("changing the caller's bytes changed the stored snapshot: %q, %v", again.Data, err)
	}
}

func snapContractCancellation(t *testing.T, ss snapshot.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ss.SaveSnapshot(ctx, testSnapshot("cancelled", 1, "")); err == nil {
		t.Error("save with a cancelled context succeeded")
	}
	if _, _, err := ss.LatestSnapshot(ctx, "cancelled"); err == nil {
		t.Error("latest snapshot with a cancelled context succeeded")
	}
	if _, ok, _ := ss.LatestSnapshot(context.Background(), "cancelled"); ok {
		t.Error("a save with a cancelled context stored a snapshot")
	}
}
