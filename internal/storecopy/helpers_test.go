package storecopy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

// storeURL returns the URL of a new, empty store of an adapter.
func storeURL(t testing.TB, adapter string) string {
	t.Helper()
	switch adapter {
	case "memory":
		return "memory:"
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "copy.db")
	case "postgres":
		db := pgtest.New(t)
		return db.URL + "&schema=" + db.Schema
	}
	t.Fatalf("no adapter %q", adapter)
	return ""
}

func open(t testing.TB, url string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill writes a bit of everything a store keeps, raw: events of several
// streams with metadata and the encodings of compressed, encrypted and
// personal payloads, snapshots, view states committed with a checkpoint,
// subject keys, a checkpoint set on its own and the schema version of
// the read model of "orders-table", which keeps no view states: its
// tables are the application's, so a copy of the store names it in
// Options.Keep ([filled]) or Options.Rebuild. It returns the head.
func fill(t testing.TB, s store.Store, streams, perStream int) int64 {
	t.Helper()
	ctx := context.Background()
	encodings := []string{"", "deflate", "aes256gcm:k1", "personal+deflate+aes256gcm:k2"}
	// Each append writes a few events of one stream; the streams take
	// turns, so that they interleave in the log.
	chunk := 1 + perStream/10
	for first := 0; first < perStream; first += chunk {
		for i := range streams {
			id := fmt.Sprintf("acct-%03d", i)
			var events []store.Event
			for v := first; v < min(first+chunk, perStream); v++ {
				events = append(events, event(i, v, encodings))
			}
			if _, err := s.Append(ctx, id, int64(first), events); err != nil {
				t.Fatal(err)
			}
		}
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snaps := s.(snapshot.Store)
	for i := 0; i < streams; i += 2 {
		if err := snaps.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: fmt.Sprintf("acct-%03d", i), Version: int64(perStream), Type: "Account",
			SchemaVersion: 1, Time: time.Now(), Data: fmt.Appendf(nil, `{"n":%d}`, i), Encoding: encodings[i%len(encodings)]}); err != nil {
			t.Fatal(err)
		}
	}
	states := s.(store.StateStore)
	if err := states.Commit(ctx, "balances", 0, head/2, func(tx store.StateTx) error {
		for i := range streams {
			if err := tx.SaveState(ctx, "balances", fmt.Sprintf("acct-%03d", i), fmt.Appendf(nil, "%d", i*10)); err != nil {
				return err
			}
		}
		return tx.SaveState(ctx, "totals", "", []byte("{}"))
	}); err != nil {
		t.Fatal(err)
	}
	keys := s.(store.KeyStore)
	for i := range 3 {
		if _, err := keys.CreateSubjectKey(ctx, store.SubjectKey{Subject: fmt.Sprint("customer-", i), KeyID: "k1", Wrapped: []byte{1, 2, byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetCheckpoint(ctx, "mailer", head-1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "schema:orders-table", 2); err != nil {
		t.Fatal(err)
	}
	return head
}

// filled is the consumer that keeps its read model in the application's
// tables in a store that fill wrote: the copies that the tests make take
// those tables as in the target already.
var filled = []string{"orders-table"}

// contents is everything a store holds, read back.
type contents struct {
	Events      []store.Record
	Checkpoints []store.Checkpoint
	Snapshots   []snapshot.Snapshot
	States      []store.State
	Keys        []store.SubjectKey
}

func dump(t testing.TB, s store.Store) contents {
	t.Helper()
	ctx := context.Background()
	var c contents
	for after := int64(0); ; {
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		c.Events = append(c.Events, page...)
		after = page[len(page)-1].Position
	}
	exp := s.(store.Exporter)
	c.Checkpoints = all(t, exp.ExportCheckpoints(ctx))
	c.Snapshots = all(t, exp.ExportSnapshots(ctx))
	c.States = all(t, exp.ExportStates(ctx))
	c.Keys = all(t, exp.ExportSubjectKeys(ctx))
	return c
}

func all[T any](t testing.TB, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for x, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// eventAt returns the ID of the event at a position, nil for 0.
func eventAt(t testing.TB, s store.Store, pos int64) uuid.UUID {
	t.Helper()
	if pos == 0 {
		return uuid.Nil
	}
	recs, err := s.ReadLog(context.Background(), store.LogQuery{After: pos - 1, Limit: 1})
	if err != nil || len(recs) == 0 || recs[0].Position != pos {
		t.Fatalf("no event at position %d: %v", pos, err)
	}
	return recs[0].ID
}

func names[T any](xs []T, name func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return slices.Clip(out)
}

// event is version v+1 of stream i, written by fill.
func event(i, v int, encodings []string) store.Event {
	e := store.Event{
		Type: "Deposited", SchemaVersion: 1 + i%2,
		Data:     fmt.Appendf(nil, `{"amount":%d}`, v),
		Encoding: encodings[(i+v)%len(encodings)],
		Metadata: store.Metadata{CorrelationID: fmt.Sprint("c-", i), CausationID: fmt.Sprint("x-", v)},
	}
	if v%3 == 0 {
		e.Metadata.Extra = map[string]string{"tenant": "t1", "v": fmt.Sprint(v)}
	}
	if v%4 == 1 {
		e.Tags = []string{fmt.Sprint("acct:", i), fmt.Sprint("parity:", v%2)}
	}
	if e.Encoding != "" {
		e.Data = []byte{byte(v), 0, 0xff, byte(i)} // opaque bytes: copied, never decoded
	}
	return e
}
