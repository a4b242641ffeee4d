package annals_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/annals-dev/annals/internal/testdomain"
	"iter"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/proptest"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/upcast"
)

var accountCommand = rapid.Custom(func(t *rapid.T) testdomain.AccountCmd {
	if rapid.IntRange(0, 9).Draw(t, "kind") == 0 {
		return testdomain.AccountCmd{Open: true, CustomerID: rapid.SampledFrom([]string{"c-1", "c-2"}).Draw(t, "customer"),
			Holder: rapid.StringN(1, 12, -1).Draw(t, "holder")}
	}
	return testdomain.AccountCmd{Amount: rapid.Int64Range(-5, 500).Draw(t, "amount"), Note: rapid.StringN(0, 30, -1).Draw(t, "note")}
})

func TestSnapshotEqualsReplayThroughThePipeline(t *testing.T) {
	s := annals.New(memory.New())
	master := testdomain.MustKeyring(t, testdomain.TestKey2, testdomain.TestKey1)
	opts := []codec.MapperOption{codec.WithUpcaster(testdomain.AccountUpcaster()), codec.WithSubjectKeys(s, master), codec.WithCompression(), codec.WithEncryption(master)}
	proptest.SnapshotEqualsReplay(t, s, s, testdomain.Accounts,
		codec.NewMapper(testdomain.AccountCodec(), opts...), codec.NewMapper(testdomain.AccountStateCodec(), opts...), accountCommand)
}

func TestSnapshotEqualsReplayPlain(t *testing.T) {
	s := annals.New(memory.New())
	proptest.SnapshotEqualsReplay(t, s, s, testdomain.Accounts, testdomain.AccountCodec(), testdomain.AccountStateCodec(), accountCommand)
}

// history opens an account and makes n deposits of 1 through r.
func history(t *testing.T, r *annals.Runner[testdomain.AccountCmd, testdomain.AccountEvent, testdomain.Account], stream string, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.Handle(ctx, stream, testdomain.AccountCmd{Open: true, CustomerID: "c-1", Holder: "Ann"}); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := r.Handle(ctx, stream, testdomain.AccountCmd{Amount: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

// countingStore counts the records its streams yield.
type countingStore struct {
	*memory.Store
	read atomic.Int64
}

func (s *countingStore) ReadStream(ctx context.Context, id string, from int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		for rec, err := range s.Store.ReadStream(ctx, id, from) {
			s.read.Add(1)
			if !yield(rec, err) {
				return
			}
		}
	}
}

func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestLoadReadsOnlyTheTailAfterASnapshot(t *testing.T) {
	ctx := context.Background()
	s := &countingStore{Store: memory.New()}
	r := annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(), annals.WithSnapshots(annals.New(s), snapshot.Every(10), testdomain.AccountStateCodec()))
	history(t, r, "a", 94) // 95 events: the latest snapshot is at 90
	s.read.Store(0)
	a, v, err := r.Load(ctx, "a")
	if err != nil || v != 95 || a.Balance != 94 {
		t.Fatalf("load: %+v at %d, %v", a, v, err)
	}
	if n := s.read.Load(); n != 6 {
		t.Fatalf("load read %d records, want 6 (the snapshot's own version, then 91…95)", n)
	}
}

// A state type changed without a new schema version (a field renamed,
// the parts of a composite reordered) would read an old snapshot without
// an error, its unknown fields dropped and its new ones zero: the snapshot
// is ignored instead, through either kind of state mapper, and the stream
// replayed; a snapshot of the type's own shape is used.
func TestSnapshotOfAnotherShapeUnderTheSameVersionIsIgnored(t *testing.T) {
	ctx := context.Background()
	kr := testdomain.MustKeyring(t, testdomain.TestKey1)
	for name, mapper := range map[string]func(*annals.Store) codec.SnapshotMapper[testdomain.Account]{
		"JSON": func(*annals.Store) codec.SnapshotMapper[testdomain.Account] { return testdomain.AccountStateCodec() },
		"pipeline": func(s *annals.Store) codec.SnapshotMapper[testdomain.Account] {
			return codec.NewMapper(testdomain.AccountStateCodec(), codec.WithSubjectKeys(s, kr), codec.WithCompression(), codec.WithEncryption(kr))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := annals.New(memory.New())
			history(t, annals.NewRunner(s, testdomain.Accounts, testdomain.AccountCodec()), "a", 9) // balance 9 at version 10
			m := mapper(s)
			var logs bytes.Buffer
			r := annals.NewRunner(s, testdomain.Accounts, testdomain.AccountCodec(), annals.WithSnapshots(s, nil, m), annals.WithLogger(logTo(&logs)))
			save := func(state any) {
				t.Helper()
				// A snapshot as another Go type under the name "Account" v1
				// wrote it, through the same steps.
				other := codec.NewJSON[any]().Register("Account", state)
				var opts []codec.MapperOption
				if name == "pipeline" {
					opts = []codec.MapperOption{codec.WithCompression(), codec.WithEncryption(kr)}
				}
				snap, err := codec.NewMapper(other, opts...).ToSnapshot(ctx, "a", 10, state)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.SaveSnapshot(ctx, snap); err != nil {
					t.Fatal(err)
				}
			}
			type renamed struct {
				CustomerID string `json:"customer_id"`
				Holder     string `json:"holder"`
				Cents      int64  `json:"balance_cents"`
				Deposits   int    `json:"deposits"`
			}
			save(renamed{CustomerID: "c-1", Holder: "Ann", Cents: 1000, Deposits: 9})
			if a, v, err := r.Load(ctx, "a"); err != nil || v != 10 || a.Balance != 9 {
				t.Fatalf("with a snapshot whose balance field was renamed: %+v at %d, %v; want the replayed balance 9", a, v, err)
			}
			if !strings.Contains(logs.String(), "snapshot ignored") || !strings.Contains(logs.String(), "balance_cents") {
				t.Fatalf("the snapshot of another shape was not logged with its difference:\n%s", logs.String())
			}
			type same struct {
				CustomerID string `json:"customer_id"`
				Holder     string `json:"holder"`
				Balance    int64  `json:"balance"`
				Deposits   int    `json:"deposits"`
			}
			save(same{CustomerID: "c-1", Holder: "Ann", Balance: 1000, Deposits: 9})
			if a, _, err := r.Load(ctx, "a"); err != nil || a.Balance != 1000 {
				t.Fatalf("with a snapshot of the state's own shape: %+v, %v; want its balance 1000", a, err)
			}
		})
	}
}

func TestSnapshotOfAnotherStateVersionIsNeverDecodedAsThisOne(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	history(t, annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec()), "a", 9) // 10 events, balance 9
	// A snapshot at version 10 as "Account" v1 that decodes without error
	// into today's type but means something else: a state that could only
	// be wrong.
	poisoned := snapshot.Snapshot{StreamID: "a", Version: 10, Type: "Account", SchemaVersion: 1, Time: time.Now().UTC(),
		Data: []byte(`{"customer_id":"c-1","balance_cents":123400,"balance":-1}`)}
	if err := s.SaveSnapshot(ctx, poisoned); err != nil {
		t.Fatal(err)
	}
	v2 := codec.NewJSON[testdomain.Account]().RegisterVersion("Account", 2, testdomain.Account{})
	var logs bytes.Buffer

	r := annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(), annals.WithSnapshots(annals.New(s), nil, v2), annals.WithLogger(logTo(&logs)))
	a, v, err := r.Load(ctx, "a")
	if err != nil || v != 10 || a.Balance != 9 || a.Holder != "Ann" {
		t.Fatalf("with a v1 snapshot and a v2 state codec: %+v at %d, %v; want the replayed balance 9", a, v, err)
	}
	if !strings.Contains(logs.String(), "snapshot ignored") || !strings.Contains(logs.String(), "level=INFO") {
		t.Fatalf("the ignored snapshot was not logged at info level:\n%s", logs.String())
	}

	// With an upcaster from v1 to v2 the snapshot is used: its (made-up)
	// balance shows it.
	up := upcast.New().Add("Account", 1, upcast.JSON(func(o map[string]json.RawMessage) error {
		o["balance"] = o["balance_cents"]
		delete(o, "balance_cents")
		return nil
	}))
	r = annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(), annals.WithSnapshots(annals.New(s), nil, codec.NewMapper(v2, codec.WithUpcaster(up))))
	if a, _, err := r.Load(ctx, "a"); err != nil || a.Balance != 123400 {
		t.Fatalf("with an upcaster for the v1 snapshot: %+v, %v; want the upcast snapshot's balance", a, err)
	}

	// A snapshot of a state type the codec does not know is ignored too.
	poisoned.Type, poisoned.Version = "LegacyAccount", 10
	s2 := annals.New(memory.New())
	history(t, annals.NewRunner(s2, testdomain.Accounts, testdomain.AccountCodec()), "a", 9)
	s2.SaveSnapshot(ctx, poisoned)
	r = annals.NewRunner(s2, testdomain.Accounts, testdomain.AccountCodec(), annals.WithSnapshots(s2, nil, v2), annals.WithLogger(logTo(&logs)))
	if a, _, err := r.Load(ctx, "a"); err != nil || a.Balance != 9 {
		t.Fatalf("with a snapshot of an unknown state type: %+v, %v; want the replayed balance 9", a, err)
	}
}

type failingSnapshots struct {
	*annals.Store
	hang bool
}

var errDiskFull = errors.New("disk full")

func (f failingSnapshots) SaveSnapshot(ctx context.Context, _ snapshot.Snapshot) error {
	if f.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return errDiskFull
}

func TestFailedSnapshotWriteNeverFailsTheCommand(t *testing.T) {
	ctx := context.Background()
	for _, hang := range []bool{false, true} {
		s := annals.New(memory.New())
		var logs bytes.Buffer
		r := annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(),
			annals.WithSnapshots(failingSnapshots{s, hang}, snapshot.Every(1), testdomain.AccountStateCodec()),
			annals.WithSnapshotTimeout(20*time.Millisecond), annals.WithLogger(logTo(&logs)))
		res, err := r.Handle(ctx, "a", testdomain.AccountCmd{Open: true, CustomerID: "c-1", Holder: "Ann"})
		if err != nil || res.Version != 1 {
			t.Fatalf("hang=%v: command with a failing snapshot store: %+v, %v; want success", hang, res, err)
		}
		want := "disk full"
		if hang {
			want = "deadline exceeded"
		}
		if !strings.Contains(logs.String(), "snapshot not saved") || !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "level=WARN") {
			t.Fatalf("hang=%v: the failed snapshot was not logged as a warning with its cause:\n%s", hang, logs.String())
		}
		if _, ok, _ := s.LatestSnapshot(ctx, "a"); ok {
			t.Fatal("a snapshot was stored")
		}
	}
}

func TestSnapshotAheadOfTheStreamIsIgnored(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	history(t, annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec()), "a", 2)
	var logs bytes.Buffer
	r := annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(), annals.WithSnapshots(annals.New(s), snapshot.Every(100), testdomain.AccountStateCodec()), annals.WithLogger(logTo(&logs)))
	ahead, _ := testdomain.AccountStateCodec().ToSnapshot(ctx, "a", 10, testdomain.Account{CustomerID: "c-1", Balance: 1000})
	if err := s.SaveSnapshot(ctx, ahead); err != nil {
		t.Fatal(err)
	}
	if a, v, err := r.Load(ctx, "a"); err != nil || v != 3 || a.Balance != 2 {
		t.Fatalf("with a snapshot beyond the stream's end: %+v at %d, %v; want balance 2 at 3", a, v, err)
	}
	if !strings.Contains(logs.String(), "no event at its version") {
		t.Fatalf("the snapshot ahead of its stream was not logged:\n%s", logs.String())
	}
	if _, err := r.Handle(ctx, "a", testdomain.AccountCmd{Amount: 5}); err != nil {
		t.Fatalf("a command after ignoring the snapshot: %v", err)
	}
}

type unreadableSnapshots struct{ *annals.Store }

func (unreadableSnapshots) LatestSnapshot(ctx context.Context, _ string) (snapshot.Snapshot, bool, error) {
	if err := ctx.Err(); err != nil {
		return snapshot.Snapshot{}, false, err
	}
	return snapshot.Snapshot{}, false, errors.New("connection reset")
}

func TestUnreadableSnapshotsFallBackToReplay(t *testing.T) {
	s := annals.New(memory.New())
	history(t, annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec()), "a", 2)
	var logs bytes.Buffer
	r := annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(), annals.WithSnapshots(unreadableSnapshots{s}, nil, testdomain.AccountStateCodec()), annals.WithLogger(logTo(&logs)))
	if a, _, err := r.Load(context.Background(), "a"); err != nil || a.Balance != 2 {
		t.Fatalf("load with an unreadable snapshot store: %+v, %v", a, err)
	}
	if !strings.Contains(logs.String(), "connection reset") {
		t.Fatalf("the snapshot read failure was not logged:\n%s", logs.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Load(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("load with a cancelled context: %v", err)
	}
}

func TestSnapshotOfAForgottenSubjectIsNotUsed(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	master := testdomain.MustKeyring(t, testdomain.TestKey1)
	events := codec.NewMapper(testdomain.AccountCodec(), codec.WithSubjectKeys(s, master))
	state := codec.NewMapper(testdomain.AccountStateCodec(), codec.WithSubjectKeys(s, master))
	var logs bytes.Buffer
	r := annals.NewRunner(annals.New(s), testdomain.Accounts, events, annals.WithSnapshots(annals.New(s), snapshot.Every(5), state), annals.WithLogger(logTo(&logs)))
	history(t, r, "a", 6)
	snap, ok, _ := s.LatestSnapshot(ctx, "a")
	if !ok || snap.Encoding != "personal" || bytes.Contains(snap.Data, []byte("Ann")) {
		t.Fatalf("snapshot of a state with personal data: found %v, encoding %q, data %s", ok, snap.Encoding, snap.Data)
	}
	if err := codec.ForgetSubject(ctx, s, "c-1"); err != nil {
		t.Fatal(err)
	}
	a, v, err := r.Load(ctx, "a")
	if want := (testdomain.Account{CustomerID: "c-1", Balance: 6, Deposits: 6}); err != nil || a != want || v != 7 {
		t.Fatalf("after forgetting: %+v at %d, %v; want %+v from a replay", a, v, err, want)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("a forgotten subject's snapshot was logged as a problem:\n%s", logs.String())
	}
}

func TestSnapshotsWithACache(t *testing.T) {
	s := annals.New(memory.New())
	var saved []int64
	spy := snapshotSpy{Store: s, saved: &saved}
	r := annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(), annals.WithCache(4), annals.WithSnapshots(spy, snapshot.Every(5), testdomain.AccountStateCodec()))
	history(t, r, "a", 22) // versions 1…23
	if fmt.Sprint(saved) != "[5 10 15 20]" {
		t.Fatalf("snapshots saved at %v, want [5 10 15 20]", saved)
	}
}

type snapshotSpy struct {
	*annals.Store
	saved *[]int64
}

func (s snapshotSpy) SaveSnapshot(ctx context.Context, snap snapshot.Snapshot) error {
	*s.saved = append(*s.saved, snap.Version)
	return s.Store.SaveSnapshot(ctx, snap)
}

func TestWithSnapshotsOfAnotherStateTypePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "WithSnapshots") {
			t.Fatalf("recovered %v, want a panic naming WithSnapshots", r)
		}
	}()
	s := annals.New(memory.New())
	annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(), annals.WithSnapshots(annals.New(s), nil, codec.NewJSON[int]().Register("n", 0)))
}

// seenState keeps what JSON leaves out: its snapshots would lose seen.
type seenState struct {
	Count int
	seen  map[string]bool
}

// A state codec that refused the state makes WithSnapshots panic when the
// program starts, rather than let every command log that its snapshot
// was not saved.
func TestWithSnapshotsOfARefusedStatePanics(t *testing.T) {
	m := codec.NewJSON[seenState]().Register("Seen", seenState{})
	if m.Err() == nil {
		t.Fatal("the codec took a state whose unexported field JSON leaves out: the test tests nothing")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "WithSnapshots") || !strings.Contains(fmt.Sprint(r), "seen") {
			t.Fatalf("recovered %v, want a panic naming WithSnapshots and the field", r)
		}
	}()
	s := annals.New(memory.New())
	annals.WithSnapshots(s, snapshot.Every(1), m)
}

// A state that holds many subjects' personal data in a map would be
// snapshotted in clear, where forgetting a subject does not reach it: the
// subject-keyed state mapper refuses it, and WithSnapshots with it.
func TestWithSnapshotsOfAStateHoldingPersonalDataInAMapPanics(t *testing.T) {
	type directory = map[string]testdomain.Account
	s := annals.New(memory.New())
	m := codec.NewMapper(codec.NewJSON[directory]().Register("Directory", directory{}),
		codec.WithSubjectKeys(s, testdomain.MustKeyring(t, testdomain.TestKey1)))
	if err := m.Err(); !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "Holder") {
		t.Fatalf("state mapper's Err: %v; want codec.ErrUnencodable naming the personal field", err)
	}
	if _, err := m.ToSnapshot(context.Background(), "d", 1, directory{"a": {CustomerID: "c-1", Holder: "Ann"}}); !errors.Is(err, codec.ErrUnencodable) {
		t.Fatalf("snapshot of a map of personal data: %v; want codec.ErrUnencodable", err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "WithSnapshots") || !strings.Contains(fmt.Sprint(r), "map, slice or array") {
			t.Fatalf("recovered %v, want a panic naming WithSnapshots and the map", r)
		}
	}()
	annals.WithSnapshots(s, snapshot.Every(1), m)
}
