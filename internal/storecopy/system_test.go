package storecopy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/view"
)

// A small bank: accounts are opened for a customer (whose name is
// personal data) and take deposits, each numbered; a saga rewards every
// deposit of 100 or more on a stream of rewards; a view keeps, per
// account, the numbers of the deposits it has seen, in order.
type (
	bankCmd struct {
		Open          bool
		Customer      string
		Name          string
		Amount        int64
		Seq           int
		Memo          string
		RewardFor     string
		RewardsStream bool
	}
	bankEvent interface{ isBankEvent() }
	opened    struct {
		Customer string `json:"customer"`
		Name     string `json:"name" annals:"personal"`
	}
	deposited struct {
		Amount int64  `json:"amount"`
		Seq    int    `json:"seq"`
		Memo   string `json:"memo,omitempty"`
	}
	rewarded struct {
		For string `json:"for"`
	}
	account struct {
		Customer string `json:"customer"`
		Balance  int64  `json:"balance"`
		Rewards  int    `json:"rewards"`
	}
	activity struct {
		Opens int   `json:"opens"`
		Seqs  []int `json:"seqs"`
	}
)

func (opened) isBankEvent()    {}
func (deposited) isBankEvent() {}
func (rewarded) isBankEvent()  {}

func (o opened) DataSubject() string { return o.Customer }

var bank = decider.Decider[bankCmd, bankEvent, account]{
	Decide: func(c bankCmd, a account) ([]bankEvent, error) {
		switch {
		case c.RewardsStream:
			return []bankEvent{rewarded{For: c.RewardFor}}, nil
		case c.Open:
			return []bankEvent{opened{Customer: c.Customer, Name: c.Name}}, nil
		}
		return []bankEvent{deposited{Amount: c.Amount, Seq: c.Seq, Memo: c.Memo}}, nil
	},
	Evolve: func(a account, e bankEvent) account {
		switch e := e.(type) {
		case opened:
			a.Customer = e.Customer
		case deposited:
			a.Balance += e.Amount
		case rewarded:
			a.Rewards++
		}
		return a
	},
}

var activityView = view.View[activity, bankEvent]{
	Evolve: func(s activity, e bankEvent) activity {
		switch e := e.(type) {
		case opened:
			s.Opens++
		case deposited:
			s.Seqs = append(slices.Clone(s.Seqs), e.Seq)
		}
		return s
	},
}

var rewarder = saga.Saga[bankEvent, bankCmd]{
	React: func(e bankEvent) []bankCmd {
		if d, ok := e.(deposited); ok && d.Amount >= 100 {
			return []bankCmd{{RewardsStream: true, RewardFor: fmt.Sprint(d.Seq)}}
		}
		return nil
	},
}

// kinds are the four ways the bank stores events: plain JSON, deflated,
// encrypted, and with personal fields encrypted per customer.
var kinds = []string{"plain", "zip", "sealed", "personal"}

// app is the bank wired on one store.
type app struct {
	s        *annals.Store
	runners  map[string]*annals.Runner[bankCmd, bankEvent, account]
	replay   *annals.Runner[bankCmd, bankEvent, account] // without snapshots
	view     *annals.ViewProjection[activity, bankEvent]
	saga     *annals.SagaRunner[struct{}, bankEvent, bankCmd]
	reader   *codec.Pipeline[bankEvent]
	states   map[string]codec.SnapshotMapper[account]
	dispatch *dispatchLog
}

// dispatchLog records every event the saga dispatched a command for, in
// both stores' lifetimes, to find an event handled twice.
type dispatchLog struct {
	mu     sync.Mutex
	events []uuid.UUID
}

func newApp(t *testing.T, s *annals.Store, kr *codec.Keyring, log *dispatchLog) *app {
	t.Helper()
	events := func() *codec.JSON[bankEvent] {
		return codec.NewJSON[bankEvent]().Register("Opened", opened{}).Register("Deposited", deposited{}).Register("Rewarded", rewarded{})
	}
	stateJSON := codec.NewJSON[account]().Register("Account", account{})
	a := &app{s: s, runners: map[string]*annals.Runner[bankCmd, bankEvent, account]{}, dispatch: log,
		reader: codec.NewMapper[bankEvent](events(), codec.WithSubjectKeys(s, kr), codec.WithEncryption(kr)),
		states: map[string]codec.SnapshotMapper[account]{
			"plain": stateJSON, "zip": codec.NewMapper[account](stateJSON, codec.WithCompression()),
			"sealed": codec.NewMapper[account](stateJSON, codec.WithEncryption(kr)), "personal": stateJSON,
		}}
	mappers := map[string]codec.Mapper[bankEvent]{
		"plain":    events(),
		"zip":      codec.NewMapper[bankEvent](events(), codec.WithCompression()),
		"sealed":   codec.NewMapper[bankEvent](events(), codec.WithEncryption(kr)),
		"personal": codec.NewMapper[bankEvent](events(), codec.WithSubjectKeys(s, kr)),
	}
	for _, k := range kinds {
		a.runners[k] = annals.NewRunner(s, bank, mappers[k], annals.WithSnapshots[account](s, snapshot.Every(2), a.states[k]))
	}
	a.replay = annals.NewRunner(s, bank, a.reader)
	a.view = annals.NewViewProjection(s, "activity", activityView, a.reader, func(r store.Record, _ bankEvent) (string, bool) {
		return r.StreamID, !strings.HasPrefix(r.StreamID, "reward-")
	}, annals.WithBatchSize(5))
	a.saga = annals.NewSaga(s, "rewarder", rewarder, a.reader, func(ctx context.Context, c bankCmd, cause annals.Cause) error {
		log.mu.Lock()
		log.events = append(log.events, cause.Event.ID)
		log.mu.Unlock()
		_, err := a.runners["plain"].Handle(ctx, "reward-"+cause.Event.StreamID, c, cause.Options()...)
		return err
	}, annals.WithConsumerOptions[bankCmd](annals.WithBatchSize(4)))
	return a
}

// bankTraffic sends commands to every kind of account and returns, per
// account stream, the deposit numbers it sent, after those in sent.
func (a *app) traffic(t *testing.T, ctx context.Context, round int, sent map[string][]int, seq *int) {
	t.Helper()
	for _, k := range kinds {
		for i := range 3 {
			id := fmt.Sprintf("%s-%d", k, i)
			if round == 0 {
				if _, err := a.runners[k].Handle(ctx, id, bankCmd{Open: true, Customer: fmt.Sprint("cust-", id), Name: "Name of " + id}); err != nil {
					t.Fatal(err)
				}
			}
			*seq++
			c := bankCmd{Amount: int64(50 + 100*((*seq)%2)), Seq: *seq}
			if k == "zip" {
				c.Memo = strings.Repeat("a memo that compresses well ", 8)
			}
			if _, err := a.runners[k].Handle(ctx, id, c); err != nil {
				t.Fatal(err)
			}
			sent[id] = append(sent[id], *seq)
		}
	}
}

// A running bank on SQLite — plain, compressed, encrypted and personal
// records, snapshots, a view's states and a saga's checkpoint, both
// behind the head — is copied to PostgreSQL; the bank then runs there:
// the view and the saga resume where they were, so every deposit is in
// the view once and in order, and every large deposit is rewarded once,
// the saga having dispatched no event twice.
func TestSystemResumesOnPostgresAfterCopy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kr, err := codec.NewKeyring(codec.Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	log := &dispatchLog{}
	sent := map[string][]int{}
	seq := 0

	// On SQLite: traffic, then the consumers catch up part of the way.
	sqliteURL := "sqlite://" + filepath.Join(t.TempDir(), "bank.db")
	lite, err := annals.Open(ctx, sqliteURL)
	if err != nil {
		t.Fatal(err)
	}
	bankLite := newApp(t, lite, kr, log)
	for round := range 3 {
		bankLite.traffic(t, ctx, round, sent, &seq)
	}
	for range 3 {
		if _, err := bankLite.view.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := bankLite.saga.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	bankLite.traffic(t, ctx, 3, sent, &seq)
	if err := codec.ForgetSubject(ctx, lite, "cust-personal-2"); err != nil {
		t.Fatal(err)
	}
	viewAt, _ := bankLite.view.Position(ctx)
	sagaAt, _ := bankLite.saga.Position(ctx)
	head, _ := lite.Head(ctx)
	if viewAt == 0 || sagaAt == 0 || viewAt >= head || sagaAt >= head || viewAt == sagaAt {
		t.Fatalf("the consumers should be part of the way, apart: view at %d, saga at %d, head %d", viewAt, sagaAt, head)
	}
	inv, _ := lite.Adapter().(store.Exporter).Inventory(ctx)
	if inv.Snapshots == 0 || inv.States == 0 || inv.SubjectKeys != 2 {
		t.Fatalf("the SQLite store should hold snapshots, view states and two subject keys: %+v", inv)
	}
	lite.Close()

	// The copy.
	db := pgtest.New(t)
	pgURL := db.URL + "&schema=" + db.Schema
	from, err := store.Open(ctx, sqliteURL)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := store.Open(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := storecopy.Copy(ctx, from, to, storecopy.Options{})
	to.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != head {
		t.Fatalf("copied %d events, want %d", rep.Events, head)
	}

	// On PostgreSQL: the system runs, more traffic, and it settles.
	pg, err := annals.Open(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	bankPG := newApp(t, pg, kr, log)
	if at, _ := bankPG.view.Position(ctx); at != viewAt {
		t.Errorf("the view's checkpoint is %d in PostgreSQL, %d in SQLite", at, viewAt)
	}
	sys, err := annals.NewSystem(pg, annals.Async)
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Add(bankPG.view, bankPG.saga); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	bankPG.traffic(t, ctx, 4, sent, &seq)
	if err := sys.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Every deposit in the view once, in order.
	for id, want := range sent {
		got, err := bankPG.view.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Opens != 1 || !reflect.DeepEqual(got.Seqs, want) {
			t.Errorf("view of %s: %+v, want one opening and deposits %v", id, got, want)
		}
	}
	// Every large deposit rewarded once, no event dispatched twice.
	var large []uuid.UUID
	rewards := map[string]int{}
	for after := int64(0); ; {
		page, err := pg.ReadLog(ctx, store.LogQuery{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			e, err := bankPG.reader.FromRecord(ctx, r)
			if err != nil {
				t.Fatalf("%s@%d (%s) does not decode on PostgreSQL: %v", r.StreamID, r.Version, r.Encoding, err)
			}
			switch e := e.(type) {
			case deposited:
				if e.Amount >= 100 {
					large = append(large, r.ID)
				}
			case rewarded:
				rewards[r.StreamID]++
			case opened:
				if want := "Name of " + strings.TrimPrefix(e.Customer, "cust-"); e.Customer != "cust-personal-2" && e.Name != want {
					t.Errorf("personal data of %s: %q, want %q", e.Customer, e.Name, want)
				}
			}
		}
		after = page[len(page)-1].Position
	}
	dispatched := slices.Clone(log.events)
	slices.SortFunc(dispatched, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	if d := slices.Compact(slices.Clone(dispatched)); len(d) != len(dispatched) {
		t.Errorf("the saga dispatched %d commands for %d events: some twice", len(dispatched), len(d))
	}
	slices.SortFunc(large, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(dispatched, large) {
		t.Errorf("the saga dispatched for %d events, want the %d large deposits", len(dispatched), len(large))
	}
	total := 0
	for _, n := range rewards {
		total += n
	}
	if total != len(large) {
		t.Errorf("%d rewards for %d large deposits", total, len(large))
	}

	// Snapshots copied from SQLite decode in PostgreSQL and agree with a
	// full replay.
	for _, k := range kinds {
		id := k + "-0"
		snap, ok, err := pg.LatestSnapshot(ctx, id)
		if err != nil || !ok {
			t.Fatalf("no snapshot of %s: %v", id, err)
		}
		if _, err := bankPG.states[k].FromSnapshot(ctx, snap); err != nil {
			t.Errorf("snapshot of %s (%s) does not decode on PostgreSQL: %v", id, snap.Encoding, err)
		}
		withSnap, v1, err := bankPG.runners[k].Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		replayed, v2, err := bankPG.replay.Load(ctx, id)
		if err != nil || v1 != v2 || withSnap != replayed {
			t.Errorf("%s: loaded %+v@%d with snapshots, %+v@%d replayed (%v)", id, withSnap, v1, replayed, v2, err)
		}
	}
}
