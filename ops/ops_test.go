package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/ops"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/httplog"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/view"
)

// A tally: add commands, added events, a totals view per stream, an echo
// saga that does nothing, and a ledger that fails while it is down.
type (
	add   struct{ N int }
	added struct{ N int }
)

var tally = decider.Decider[add, added, int]{
	Decide: func(c add, _ int) ([]added, error) { return []added{{c.N}}, nil },
	Evolve: func(n int, e added) int { return n + e.N },
}

func events() *codec.JSON[added] { return codec.NewJSON[added]().Register("Added", added{}) }

type shop struct {
	sys     *annals.System
	runner  *annals.Runner[add, added, int]
	totals  *annals.ViewProjection[int, added]
	ledger  *bool // down when true
	out     bytes.Buffer
	errs    bytes.Buffer
	command ops.Commands
}

func newShop(t *testing.T) *shop {
	t.Helper()
	s := annals.New(memory.New())
	sys, err := annals.NewSystem(s, annals.Sync)
	if err != nil {
		t.Fatal(err)
	}
	sys.OnError(func(string, error) {})
	down := false
	ledger, err := annals.NewRecordProjection(s, "ledger", func(context.Context, store.StateTx, store.Record) error {
		if down {
			return errors.New("ledger down")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	byStream := func(r store.Record, _ added) (string, bool) { return r.StreamID, true }
	sh := &shop{
		sys:    sys,
		runner: annals.NewRunner(s, tally, events()),
		totals: annals.NewViewProjection(s, "totals", view.View[int, added]{Evolve: tally.Evolve}, events(), byStream, annals.WithBatchSize(2)),
		ledger: &down,
	}
	echo := annals.NewSaga(s, "echo", saga.Saga[added, add]{React: func(added) []add { return nil }}, events(),
		func(context.Context, add, annals.Cause) error { return nil })
	if err := sys.Add(sh.totals, echo, ledger); err != nil {
		t.Fatal(err)
	}
	sh.command = ops.Commands{System: sys, Rebuilders: []ops.Rebuilder{sh.totals}, Program: "shop ops",
		Stdout: &sh.out, Stderr: &sh.errs, ProgressEvery: time.Nanosecond}
	return sh
}

func (sh *shop) add(t *testing.T, stream string, ns ...int) {
	t.Helper()
	for _, n := range ns {
		if _, err := sh.runner.Handle(context.Background(), stream, add{n}); err != nil && !errors.Is(err, annals.ErrStored) {
			t.Fatal(err)
		}
	}
}

// run runs an operator command and returns its exit status, stdout and
// stderr.
func (sh *shop) run(args ...string) (int, string, string) {
	sh.out.Reset()
	sh.errs.Reset()
	code := sh.command.Run(context.Background(), args)
	return code, sh.out.String(), sh.errs.String()
}

func TestStatusShowsEachConsumer(t *testing.T) {
	sh := newShop(t)
	sh.add(t, "a", 1, 2)
	*sh.ledger = true
	sh.add(t, "a", 3)

	code, out, _ := sh.run("status")
	want := `CONSUMER  CHECKPOINT  HEAD  LAG  STOPPED
totals    3           3     0    -
echo      3           3     0    -
ledger    2           3     1    consumer "ledger" stopped at position 3`
	if code != ops.ExitOK || !strings.HasPrefix(out, want) {
		t.Fatalf("status = %d\n%s\nwant it to begin\n%s", code, out, want)
	}

	code, out, _ = sh.run("status", "-json")
	var lines []ops.Status
	if err := json.Unmarshal([]byte(out), &lines); code != ops.ExitOK || err != nil {
		t.Fatalf("status -json = %d, %v\n%s", code, err, out)
	}
	if len(lines) != 3 || lines[0] != (ops.Status{Name: "totals", Checkpoint: 3, Head: 3}) || lines[2].Lag != 1 || !strings.Contains(lines[2].Stopped, "ledger down") {
		t.Fatalf("status -json = %+v", lines)
	}
	// A checkpoint past the head (a store restored under newer
	// checkpoints) would skip events: its lag of 0 says so.
	if err := sh.sys.Store().SetCheckpoint(context.Background(), "echo", 7); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = sh.run("status"); code != ops.ExitOK || !strings.Contains(out, "echo      7           3     0, past the head  -\n") ||
		!strings.Contains(out, "totals    3           3     0                 -\n") {
		t.Fatalf("status with a checkpoint past the head = %d\n%s", code, out)
	}
}

func TestRebuildRebuildsAReadModelWithProgress(t *testing.T) {
	ctx := context.Background()
	sh := newShop(t)
	sh.add(t, "a", 1, 2, 3)
	sh.add(t, "b", 10)

	code, out, progress := sh.run("rebuild", "totals")
	if code != ops.ExitOK || !strings.HasPrefix(out, "rebuilt totals: 4 events, checkpoint 4, in ") {
		t.Fatalf("rebuild = %d, %q, %q", code, out, progress)
	}
	wantProgress := "rebuild totals: position 2 of 4 (50.0%), 2 events, "
	lines := strings.Split(strings.TrimSpace(progress), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], wantProgress) || !strings.HasPrefix(lines[1], "rebuild totals: position 4 of 4 (100.0%), 4 events, ") {
		t.Fatalf("progress:\n%s\nwant a line per batch of 2, beginning %q", progress, wantProgress)
	}
	for stream, want := range map[string]int{"a": 6, "b": 10} {
		if got, err := sh.totals.Get(ctx, stream); err != nil || got != want {
			t.Fatalf("totals of %s after the rebuild = %d, %v; want %d", stream, got, err, want)
		}
	}

	// Flags come anywhere.
	code, out, _ = sh.run("rebuild", "totals", "-json")
	var rebuilt ops.Rebuilt
	if err := json.Unmarshal([]byte(out), &rebuilt); code != ops.ExitOK || err != nil || rebuilt.Name != "totals" || rebuilt.Events != 4 || rebuilt.Position != 4 {
		t.Fatalf("rebuild totals -json = %d, %v, %+v", code, err, out)
	}

	for _, c := range []struct {
		name, want string
	}{
		{"echo", `consumer "echo" cannot be rebuilt: it is a saga, and the commands it sent are not undone`},
		{"ledger", `consumer "ledger" cannot be rebuilt: it is a projection into the application's own tables, which only the application can empty: list ops.RebuildWith(projection, reset)`},
		{"nosuch", `no consumer named "nosuch"`},
	} {
		if code, _, errs := sh.run("rebuild", c.name); code != ops.ExitFailure || !strings.Contains(errs, c.want) {
			t.Errorf("rebuild %s = %d, %q; want exit 1 and %q", c.name, code, errs, c.want)
		}
	}
}

// A consumer that rebuild refuses is there: its refusal matches
// store.ErrInvalid, not store.ErrNotFound, which a name of no consumer
// matches, so that the two failures, and their -json, end apart.
func TestRebuildRefusesAFoundConsumerOtherwiseThanNoSuchConsumer(t *testing.T) {
	sh := newShop(t)
	var out, errs bytes.Buffer
	for _, c := range []struct {
		name      string
		is, isNot error
	}{
		{"echo", store.ErrInvalid, store.ErrNotFound},
		{"nosuch", store.ErrNotFound, store.ErrInvalid},
	} {
		code, err := sh.command.RunErr(context.Background(), []string{"rebuild", c.name}, &out, &errs)
		if code != ops.ExitFailure || !errors.Is(err, c.is) || errors.Is(err, c.isNot) {
			t.Errorf("rebuild %s = %d, %v; want exit 1 and an error that matches %q and not %q", c.name, code, err, c.is, c.isNot)
		}
		code, stdout, _ := sh.run("rebuild", "-json", c.name)
		var failed ops.Failure
		if err := json.Unmarshal([]byte(stdout), &failed); code != ops.ExitFailure || err != nil || !strings.HasSuffix(failed.Error, ": "+c.is.Error()) {
			t.Errorf("rebuild -json %s = %d, %v, %s; want exit 1 and an error ending %q", c.name, code, err, stdout, c.is)
		}
	}
}

// A consumer that rebuild cannot rebuild is refused with what it is and
// why: a relay's publishes and a saga's commands are not undone, a
// projection into the application's tables wants its reset, a view wants
// listing among the Rebuilders; another consumer is told which read
// models rebuild can rebuild.
func TestRebuildSaysWhyAConsumerCannotBeRebuilt(t *testing.T) {
	s := annals.New(memory.New())
	sys, err := annals.NewSystem(s, annals.Async)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := annals.NewRelay(s, "outbox", publisher(func(context.Context, []store.Record) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	byStream := func(r store.Record, _ added) (string, bool) { return r.StreamID, true }
	unlisted := annals.NewViewProjection(s, "unlisted", view.View[int, added]{Evolve: tally.Evolve}, events(), byStream)
	if err := sys.Add(relay, unlisted, other{"custom"}); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	cmd := ops.Commands{System: sys, Stdout: &out, Stderr: &errs}
	for _, c := range []struct {
		name, want string
	}{
		{"outbox", `consumer "outbox" cannot be rebuilt: it is a relay, and what it published stays with the broker`},
		{"unlisted", `consumer "unlisted" cannot be rebuilt: it is a read model, but not among the Rebuilders of the application's ops.Commands`},
		{"custom", `consumer "custom" cannot be rebuilt: it is not among the read models that the application's ops.Commands can rebuild (none)`},
	} {
		errs.Reset()
		if code := cmd.Run(context.Background(), []string{"rebuild", c.name}); code != ops.ExitFailure || !strings.Contains(errs.String(), c.want) || strings.Contains(errs.String(), "saga") {
			t.Errorf("rebuild %s = %d, %q; want exit 1 and %q", c.name, code, errs.String(), c.want)
		}
	}
}

// publisher is a Publisher of a function.
type publisher func(context.Context, []store.Record) error

func (p publisher) Publish(ctx context.Context, recs []store.Record) error { return p(ctx, recs) }

// other is a consumer of the application's own making.
type other struct{ name string }

func (o other) Name() string                            { return o.name }
func (o other) Step(context.Context) (int, error)       { return 0, nil }
func (o other) Position(context.Context) (int64, error) { return 0, nil }
func (o other) Run(ctx context.Context) error           { <-ctx.Done(); return nil }

func TestResetMovesACheckpointOnlyWhenConfirmed(t *testing.T) {
	ctx := context.Background()
	sh := newShop(t)
	*sh.ledger = true
	sh.add(t, "a", 1, 2, 3)
	position := func() int64 {
		c, _ := sh.sys.Consumer("ledger")
		at, err := c.Position(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}

	code, out, errs := sh.run("reset", "ledger", "1")
	if code != ops.ExitFailure || out != "" || !strings.Contains(errs, "moving ledger from 0 to 1 skips 1 event after 0; run again with -yes") || position() != 0 {
		t.Fatalf("reset without -yes = %d, %q, %q; checkpoint %d", code, out, errs, position())
	}
	code, out, errs = sh.run("reset", "-yes", "ledger", "1")
	if code != ops.ExitOK || out != "moved ledger from 0 to 1: it skips 1 event after 0\n" || position() != 1 {
		t.Fatalf("reset -yes = %d, %q, %q; checkpoint %d", code, out, errs, position())
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"reset", "-yes", "ledger", "9"}, ops.ExitFailure, "past the head of the log, 3"},
		{[]string{"reset", "ledger", "-yes", "--", "-1"}, ops.ExitUsage, `position "-1" is not a position`},
		{[]string{"reset", "-yes", "ledger", "-1"}, ops.ExitUsage, `position "-1" is not a position`},
		{[]string{"reset", "-yes", "--", "ledger", "-1"}, ops.ExitUsage, `position "-1" is not a position`},
		{[]string{"-yes", "--", "reset", "ledger", "-1"}, ops.ExitUsage, `position "-1" is not a position`},
		{[]string{"reset", "ledger"}, ops.ExitUsage, "reset takes 2 arguments, got 1"},
		{[]string{"reset", "-yes", "nosuch", "1"}, ops.ExitFailure, `no consumer named "nosuch"`},
	} {
		if code, _, errs := sh.run(c.args...); code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%q = %d, %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
	*sh.ledger = false
	if code, _, errs := sh.run("replay", "ledger"); code != ops.ExitOK {
		t.Fatalf("replay = %d, %s", code, errs)
	}
	if code, _, errs := sh.run("reset", "-yes", "ledger", "2"); code != ops.ExitFailure || !strings.Contains(errs, "moves back only to 0") {
		t.Fatalf("reset back to 2 = %d, %q", code, errs)
	}
	if code, out, _ := sh.run("reset", "-yes", "-json", "ledger", "0"); code != ops.ExitOK || !strings.Contains(out, `"to": 0`) || position() != 0 {
		t.Fatalf("reset to 0 = %d, %q; checkpoint %d", code, out, position())
	}
}

// A replay after a reset in the same process begins where the reset
// left the checkpoint, not where the consumer last committed it.
func TestReplayAfterAResetHandlesTheEventsAgain(t *testing.T) {
	sh := newShop(t)
	sh.add(t, "a", 1, 2, 3)
	if code, out, errs := sh.run("reset", "-yes", "totals", "0"); code != ops.ExitOK {
		t.Fatalf("reset = %d, %q, %q", code, out, errs)
	}
	code, out, errs := sh.run("replay", "-json", "totals")
	var replayed ops.Replayed
	if err := json.Unmarshal([]byte(out), &replayed); code != ops.ExitOK || err != nil || replayed != (ops.Replayed{Name: "totals", Events: 3, Checkpoint: 3}) {
		t.Fatalf("replay after the reset = %d, %v, %q, %q; want 3 events handled again", code, err, out, errs)
	}
}

func TestReplayRetriesAStoppedConsumer(t *testing.T) {
	sh := newShop(t)
	*sh.ledger = true
	sh.add(t, "a", 1, 2)

	code, _, errs := sh.run("replay", "ledger")
	if code != ops.ExitFailure || !strings.Contains(errs, `0 events handled, then: consumer "ledger" stopped at position 1`) {
		t.Fatalf("replay while down = %d, %q", code, errs)
	}
	// With -json, the failure is JSON on stdout too, with where it stopped.
	code, out, _ := sh.run("replay", "-json", "ledger")
	var failed ops.Failure
	if err := json.Unmarshal([]byte(out), &failed); code != ops.ExitFailure || err != nil || failed.Stopped == nil ||
		failed.Stopped.Consumer != "ledger" || failed.Stopped.Position != 1 || failed.Stopped.StreamID != "a" || failed.Stopped.Cause != "ledger down" || !strings.Contains(failed.Error, "stopped at position 1") {
		t.Fatalf("replay -json while down = %d, %v, %s", code, err, out)
	}
	if code, out, _ := sh.run("reset", "-json", "nosuch", "1"); code != ops.ExitFailure || !strings.Contains(out, `"error": "no consumer named \"nosuch\"`) {
		t.Fatalf("reset -json of no such consumer = %d, %s", code, out)
	}
	*sh.ledger = false
	code, out, _ = sh.run("replay", "-json", "ledger")
	var replayed ops.Replayed
	if err := json.Unmarshal([]byte(out), &replayed); code != ops.ExitOK || err != nil || replayed != (ops.Replayed{Name: "ledger", Events: 2, Checkpoint: 2}) {
		t.Fatalf("replay after the fix = %d, %v, %s", code, err, out)
	}
	if _, out, _ := sh.run("status"); strings.Contains(out, "stopped at") {
		t.Fatalf("status after replay still shows it stopped:\n%s", out)
	}
}

func TestCommandLineConventions(t *testing.T) {
	sh := newShop(t)
	for _, c := range []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"-h"}, ops.ExitOK, "usage: shop ops COMMAND", ""},
		{[]string{"help"}, ops.ExitOK, "Read models that rebuild can rebuild: totals", ""},
		{[]string{"status", "-h"}, ops.ExitOK, "usage: shop ops status [-json]", ""},
		{[]string{"reset", "-help"}, ops.ExitOK, "usage: shop ops reset [-json] -yes NAME POSITION", ""},
		{nil, ops.ExitUsage, "", "usage: shop ops COMMAND"},
		{[]string{"frobnicate"}, ops.ExitUsage, "", `unknown command "frobnicate"`},
		{[]string{"status", "-verbose"}, ops.ExitUsage, "", "flag provided but not defined: -verbose"},
		{[]string{"status", "extra"}, ops.ExitUsage, "", "status takes 0 arguments, got 1"},
		{[]string{"replay", "-yes", "ledger"}, ops.ExitUsage, "", "-yes is for reset"},
	} {
		code, out, errs := sh.run(c.args...)
		if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errs, c.errs) {
			t.Errorf("%q = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q", c.args, code, out, errs, c.code, c.out, c.errs)
		}
	}
}

// Flags may come before the command's name too, as the annals tool
// takes them: an application that mounts the commands gets the same
// results either way.
func TestFlagsBeforeTheCommand(t *testing.T) {
	sh := newShop(t)
	sh.add(t, "a", 1, 2)
	_, after, _ := sh.run("status", "-json")
	if code, before, errs := sh.run("-json", "status"); code != ops.ExitOK || before != after {
		t.Errorf("-json status = %d\n%s\n%s\nwant what status -json prints:\n%s", code, before, errs, after)
	}
	if code, out, _ := sh.run("-json", "replay", "nosuch"); code != ops.ExitFailure || !strings.Contains(out, `"error": "no consumer named \"nosuch\"`) {
		t.Errorf("-json replay nosuch = %d\n%s\nwant the failure as JSON", code, out)
	}
	if code, out, errs := sh.run("-yes", "-json", "reset", "totals", "1"); code != ops.ExitFailure || !strings.Contains(errs, "moves back only to 0") || !strings.Contains(out, `"error"`) {
		t.Errorf("-yes -json reset totals 1 = %d\n%s\n%s\nwant the refusal, as JSON too", code, out, errs)
	}
	for _, c := range []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"-json", "-h"}, ops.ExitOK, "usage: shop ops COMMAND", ""},
		{[]string{"-json"}, ops.ExitUsage, "", "usage: shop ops COMMAND"},
		{[]string{"-verbose", "status"}, ops.ExitUsage, "", "flag provided but not defined: -verbose"},
		{[]string{"-yes", "replay", "ledger"}, ops.ExitUsage, "", "-yes is for reset"},
		{[]string{"-json", "frobnicate"}, ops.ExitUsage, "", `unknown command "frobnicate"`},
	} {
		code, out, errs := sh.run(c.args...)
		if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errs, c.errs) {
			t.Errorf("%q = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q", c.args, code, out, errs, c.code, c.out, c.errs)
		}
	}
}

// A consumer whose source does not answer still has its line, with ?
// where status could not read, beside the others; and the command fails
// with the reason, so that a script sees it.
func TestStatusShowsEveryConsumerWhenASourceIsDown(t *testing.T) {
	ctx := context.Background()
	origin := annals.New(memory.New())
	local := annals.New(memory.New())
	srv := httptest.NewServer(httplog.NewHandler(origin))
	client, err := httplog.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	sys, err := annals.NewSystem(local, annals.Async)
	if err != nil {
		t.Fatal(err)
	}
	byStream := func(r store.Record, _ added) (string, bool) { return r.StreamID, true }
	totals := view.View[int, added]{Evolve: tally.Evolve}
	if err := sys.Add(
		annals.NewViewProjection(local, "remote", totals, events(), byStream, annals.WithSource(client)),
		annals.NewViewProjection(local, "totals", totals, events(), byStream),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := annals.NewRunner(local, tally, events()).Handle(ctx, "a", add{1}); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	cmd := ops.Commands{System: sys, Program: "shop ops", Stdout: &out, Stderr: &errs}

	code := cmd.Run(ctx, []string{"status"})
	want := `CONSUMER  CHECKPOINT  HEAD  LAG  STOPPED
remote    0           ?     ?    -
totals    0           1     1    -
`
	if code != ops.ExitFailure || out.String() != want || !strings.Contains(errs.String(), `consumer "remote": the head of its source`) {
		t.Fatalf("status = %d\n%s\nstderr: %s\nwant %d and\n%s", code, out.String(), errs.String(), ops.ExitFailure, want)
	}

	out.Reset()
	code = cmd.Run(ctx, []string{"status", "-json"})
	var lines []ops.Status
	if err := json.Unmarshal(out.Bytes(), &lines); code != ops.ExitFailure || err != nil || len(lines) != 2 {
		t.Fatalf("status -json = %d, %v\n%s", code, err, out.String())
	}
	if got := lines[0]; got.Head != -1 || got.Lag != -1 || got.Unread == "" {
		t.Errorf("status -json for the consumer whose source is down: %+v; want head and lag -1, and why", got)
	}
	if got, want := lines[1], (ops.Status{Name: "totals", Checkpoint: 0, Head: 1, Lag: 1}); got != want {
		t.Errorf("status -json for the store's consumer: %+v; want %+v", got, want)
	}
}

// Commands without a system say so, rather than panic.
func TestCommandsWithoutASystemSaySo(t *testing.T) {
	var errs bytes.Buffer
	c := ops.Commands{Stderr: &errs}
	if code := c.Run(context.Background(), []string{"status"}); code != ops.ExitFailure || !strings.Contains(errs.String(), "has no System") {
		t.Fatalf("status without a system = %d, %q", code, errs.String())
	}
	errs.Reset()
	c.OpenErr = errors.New("no SQLite store at /var/lib/shp.db")
	if code := c.Run(context.Background(), []string{"status"}); code != ops.ExitFailure || !strings.Contains(errs.String(), "no SQLite store at /var/lib/shp.db") {
		t.Fatalf("status without a system, with OpenErr = %d, %q; want OpenErr told", code, errs.String())
	}
	var out bytes.Buffer
	c.Stdout = &out
	for _, help := range [][]string{{"help"}, {"-h"}, {"status", "-h"}} {
		if code := c.Run(context.Background(), help); code != ops.ExitOK || !strings.Contains(out.String(), "usage:") {
			t.Fatalf("%q without a system = %d, %q", help, code, out.String())
		}
	}
}

// A malformed command line with -json, wherever it comes, prints its
// failure as an ops.Failure on stdout too, as a command that fails does,
// so that a script reading stdout learns why; help prints no failure.
func TestBadUsageWithJSONPrintsAFailure(t *testing.T) {
	sh := newShop(t)
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"-json", "status", "extra"}, "status takes 0 arguments, got 1"},
		{[]string{"status", "extra", "-json"}, "status takes 0 arguments, got 1"},
		{[]string{"-json", "bogus"}, `unknown command "bogus"`},
		{[]string{"-verbose", "-json", "status"}, "flag provided but not defined: -verbose"},
		{[]string{"-json", "status", "-verbose"}, "flag provided but not defined: -verbose"},
		{[]string{"-json", "replay", "-yes", "ledger"}, "-yes is for reset"},
		{[]string{"-json", "reset", "-yes", "ledger", "x"}, `position "x" is not a position`},
		{[]string{"-json"}, "no command"},
	} {
		code, out, errs := sh.run(c.args...)
		var failure ops.Failure
		if err := json.Unmarshal([]byte(out), &failure); code != ops.ExitUsage || err != nil || !strings.Contains(failure.Error, c.err) || !strings.Contains(errs, "usage:") {
			t.Errorf("%q = %d\nstdout: %s\nstderr: %s\nwant %d, an ops.Failure with %q on stdout (%v), and the usage on stderr", c.args, code, out, errs, ops.ExitUsage, c.err, err)
		}
	}
	for _, args := range [][]string{{"-json", "-h"}, {"-json", "status", "-h"}, {"-json", "help"}} {
		if code, out, _ := sh.run(args...); code != ops.ExitOK || strings.Contains(out, `"error"`) {
			t.Errorf("%q = %d\n%s\nwant the help, and no failure", args, code, out)
		}
	}
	var out, errs bytes.Buffer
	none := ops.Commands{Stdout: &out, Stderr: &errs}
	var failure ops.Failure
	if code := none.Run(context.Background(), []string{"-json", "status"}); code != ops.ExitFailure || json.Unmarshal(out.Bytes(), &failure) != nil || !strings.Contains(failure.Error, "has no System") {
		t.Errorf("-json status without a system = %d\n%s\nwant an ops.Failure saying so", code, out.String())
	}
}

// racingCommits is a store on which another instance runs the consumer
// "ledger": before each of the next moves commits of another, it commits
// the ledger one event further itself.
type racingCommits struct {
	*memory.Store
	moves int
	by    int64 // how far each move goes; 1 when 0
}

func (r *racingCommits) Commit(ctx context.Context, consumer string, from, to int64, fn func(store.StateTx) error) error {
	if consumer == "ledger" && r.moves > 0 {
		r.moves--
		if err := r.Store.Commit(ctx, consumer, from, from+max(r.by, 1), func(store.StateTx) error { return nil }); err != nil {
			return err
		}
	}
	return r.Store.Commit(ctx, consumer, from, to, fn)
}

// A reset of a consumer that a running instance moves on meanwhile
// moves it from where it is then, and says where that was; one that
// keeps moving under it says so and what to do.
func TestResetOfARunningConsumerMovesItFromWhereItIs(t *testing.T) {
	ctx := context.Background()
	adapter := &racingCommits{Store: memory.New()}
	s := annals.New(adapter)
	for range 10 {
		if _, err := adapter.Append(ctx, "a", store.AnyVersion, []store.Event{{Type: "Added", Data: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	sys, err := annals.NewSystem(s, annals.Async)
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := annals.NewRecordProjection(s, "ledger", func(context.Context, store.StateTx, store.Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Add(ledger); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	cmds := ops.Commands{System: sys, Program: "shop ops", Stdout: &out, Stderr: &errs}
	if err := adapter.Store.SetCheckpoint(ctx, "ledger", 1); err != nil {
		t.Fatal(err)
	}
	adapter.moves = 2
	if code := cmds.Run(ctx, []string{"reset", "-yes", "ledger", "4"}); code != ops.ExitOK || out.String() != "moved ledger from 3 to 4: it skips 1 event after 3\n" {
		t.Fatalf("reset while another instance moved the ledger from 1 to 3: %d, %q, %q", code, out.String(), errs.String())
	}
	if at, _ := ledger.Position(ctx); at != 4 {
		t.Fatalf("ledger at %d, want 4", at)
	}
	// One that passes the position a forward reset was to skip to.
	adapter.moves, adapter.by = 1, 3
	errs.Reset()
	if code := cmds.Run(ctx, []string{"reset", "-yes", "ledger", "5"}); code != ops.ExitFailure || !strings.Contains(errs.String(), "ledger passed 5 while this reset ran (it is at 7)") {
		t.Fatalf("a forward reset the consumer passed meanwhile: %d, %q", code, errs.String())
	}
	adapter.moves, adapter.by = 1<<20, 1
	errs.Reset()
	if code := cmds.Run(ctx, []string{"reset", "-yes", "ledger", "0"}); code != ops.ExitFailure || !strings.Contains(errs.String(), "stop the instances that run it") {
		t.Fatalf("reset of a consumer that keeps moving: %d, %q", code, errs.String())
	}
}
