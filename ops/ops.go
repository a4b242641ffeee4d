// Package ops mounts operator commands on an application's own binary.
// Projections, views and sagas are the application's code, so a generic
// tool cannot rebuild them; the application can, given a word on its
// command line:
//
//	if len(os.Args) > 1 && os.Args[1] == "ops" {
//		cmds := ops.Commands{System: sys, Rebuilders: []ops.Rebuilder{summary}}
//		os.Exit(cmds.Run(ctx, os.Args[2:]))
//	}
//
// Open the store for the commands without creating it, so that a
// mistyped path is an error rather than a new, empty store whose
// checkpoints all read 0 (on SQLite with create=false in its URL; see
// docs/operations.md); when it cannot be opened, set [Commands.OpenErr]
// instead of System, and each command fails with it.
//
// The commands are
//
//	status                    each consumer's checkpoint, the head of the log, lag, stopped error
//	rebuild NAME              rebuild a read model from the start of the log, with progress
//	reset -yes NAME POSITION  move a consumer's checkpoint: forward, to skip events, or back to 0
//	replay NAME               catch up a consumer that stopped, once the cause is fixed
//
// A reset back to 0 handles the whole log again over the read model as
// it is, but for the states the store keeps under the consumer's name (a
// view's, a process's; see [annals.StateKeeper]): it deletes those in
// the commit that moves the checkpoint, so that the replay starts from
// empty states as the consumer's first run did, and says so
// ([Reset.StatesEmptied]).
//
// Each takes -json, for scripts, and -h; flags may come anywhere, before
// the command's name too (ops -json status), as with the annals tool. Run
// returns the exit status: 0 when the command did what it says, 1 when it
// failed or named no such consumer, 2 for a malformed command line. With
// -json, a failure, a malformed command line's too, is printed on stdout
// as a [Failure], besides its message on stderr. A name of no consumer
// fails with an error that matches [store.ErrNotFound]; a command refused
// for the consumer it names (a rebuild of a saga, a reset past the head
// of the log) with one that matches [store.ErrInvalid], so that the
// message of each ends with its sentinel's.
//
// A status read by another process than the one running the consumers
// shows their checkpoints and lag, but not why one stopped: that lives in
// the running process (see [annals.System.Status]), and replay finds it
// out again.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/cliflags"
	"github.com/annals-dev/annals/store"
	"github.com/samber/lo"
)

// A Rebuilder is a read model that can be rebuilt from the start of the
// log: a [*annals.ViewProjection] is one; [RebuildWith] makes one of a
// projection into the application's own tables.
type Rebuilder interface {
	Name() string
	Rebuild(ctx context.Context, progress func(annals.Progress)) error
}

// RebuildWith returns the Rebuilder of a projection whose read model
// reset empties, inside the transaction that moves its checkpoint back
// to 0 (see [annals.Projection.Rebuild]).
func RebuildWith[T any](p *annals.Projection[T], reset func(ctx context.Context, tx T) error) Rebuilder {
	return projectionRebuilder[T]{p, reset}
}

type projectionRebuilder[T any] struct {
	p     *annals.Projection[T]
	reset func(context.Context, T) error
}

func (r projectionRebuilder[T]) Name() string { return r.p.Name() }

func (r projectionRebuilder[T]) Rebuild(ctx context.Context, progress func(annals.Progress)) error {
	return r.p.Rebuild(ctx, r.reset, progress)
}

// Commands are the operator commands of a system.
type Commands struct {
	// System is the application's system, as it wires its consumers.
	System *annals.System
	// OpenErr is why System is nil: the error of opening the store, say
	// (open it without creating it, see docs/operations.md). Every
	// command then fails with it, as JSON too with -json; help still
	// prints.
	OpenErr error
	// Rebuilders are the read models rebuild can rebuild.
	Rebuilders []Rebuilder
	// Program names the commands in usage messages ("orders ops");
	// "ops" when empty.
	Program string
	// Stdout and Stderr are where results, and progress and errors, go;
	// os.Stdout and os.Stderr when nil.
	Stdout, Stderr io.Writer
	// ProgressEvery is the least time between two progress lines of a
	// rebuild; one second when 0. The last line is always printed.
	ProgressEvery time.Duration
}

// Exit statuses of [Commands.Run].
const (
	ExitOK      = 0
	ExitFailure = 1 // the command failed, or named no such consumer
	ExitUsage   = 2 // the command line is malformed
)

// command is one operator command.
type command struct {
	name, args, summary string
	positional          int // how many arguments it takes
	run                 func(c *Commands, ctx context.Context, call call) error
}

var commands = []command{
	{"status", "", "each consumer's checkpoint, the head of the log, lag and stopped error", 0, (*Commands).status},
	{"rebuild", "NAME", "rebuild a read model from the start of the log, with progress", 1, (*Commands).rebuild},
	{"reset", "-yes NAME POSITION", "move a consumer's checkpoint: forward to skip events, or back to 0", 2, (*Commands).reset},
	{"replay", "NAME", "catch up a consumer that stopped, once the cause is fixed", 1, (*Commands).replay},
}

// usageError is a malformed command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flags are the flags of every command. They may come before the
// command's name too (ops -json status), as the annals tool takes its
// own.
type flags struct{ json, yes bool }

// register defines the flags on fs, with the values already parsed as
// their defaults.
func (f *flags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.json, "json", f.json, "print the result as JSON")
	fs.BoolVar(&f.yes, "yes", f.yes, "confirm the change")
}

// Run runs the command that args (the words after the program's own
// command word) name, and returns the exit status. Commands without a
// System (a nil *Commands too) print their help, and fail every command
// with [ExitFailure], saying why (OpenErr, when set). With -json, a command line that fails, a malformed one
// too, prints a [Failure] on stdout when it printed nothing there,
// besides the message on stderr.
func (c *Commands) Run(ctx context.Context, args []string) int {
	if c == nil {
		c = &Commands{}
	}
	stdout, stderr := c.writers()
	out := &written{w: stdout}
	code, err := c.run(ctx, args, out, stderr)
	if err != nil && !out.any && cliflags.AsksJSON(args) {
		// A script reading stdout gets the failure as JSON too.
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(newFailure(err))
	}
	return code
}

// run runs the command line args, and returns the exit status and, when
// it is not [ExitOK], why.
func (c *Commands) run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var f flags
	top := flag.NewFlagSet(c.program(), flag.ContinueOnError)
	top.SetOutput(io.Discard)
	f.register(top)
	name, rest, err := cliflags.Leading(top, args)
	if errors.Is(err, flag.ErrHelp) {
		c.usage(stdout)
		return ExitOK, nil
	} else if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.program(), err)
		c.usage(stderr)
		return ExitUsage, err
	}
	if name == "" {
		c.usage(stderr)
		return ExitUsage, errors.New("no command given")
	}
	if name == "help" {
		c.usage(stdout)
		return ExitOK, nil
	}
	for _, cmd := range commands {
		if cmd.name == name {
			return c.runCommand(ctx, cmd, f, rest, stdout, stderr)
		}
	}
	err = fmt.Errorf("unknown command %q", name)
	fmt.Fprintf(stderr, "%s: %v\n", c.program(), err)
	c.usage(stderr)
	return ExitUsage, err
}

func (c *Commands) runCommand(ctx context.Context, cmd command, f flags, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	commandUsage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: %s %s [-json] %s\n\n%s.\n", c.program(), cmd.name, cmd.args, upper(cmd.summary))
	}
	positional, err := cliflags.Interleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(stdout)
		return ExitOK, nil
	}
	if err == nil && len(positional) != cmd.positional {
		err = fmt.Errorf("%s takes %d arguments, got %d", cmd.name, cmd.positional, len(positional))
	}
	if err == nil && f.yes && cmd.name != "reset" {
		err = errors.New("-yes is for reset")
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", c.program(), cmd.name, err)
		commandUsage(stderr)
		return ExitUsage, err
	}
	if c.System == nil {
		err := c.OpenErr
		if err == nil {
			err = errors.New("ops.Commands has no System: set it to the application's system, with its consumers added")
		}
		fmt.Fprintf(stderr, "%s %s: %v\n", c.program(), cmd.name, err)
		return ExitFailure, err
	}
	err = cmd.run(c, ctx, call{args: positional, yes: f.yes, json: f.json, stdout: stdout, stderr: stderr})
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s %s: %v\n", c.program(), cmd.name, err)
		commandUsage(stderr)
		return ExitUsage, err
	case err != nil:
		fmt.Fprintf(stderr, "%s %s: %v\n", c.program(), cmd.name, err)
		return ExitFailure, err
	}
	return ExitOK, nil
}

// written is a writer that records whether anything was written to it.
type written struct {
	w   io.Writer
	any bool
}

func (w *written) Write(p []byte) (int, error) {
	w.any = true
	return w.w.Write(p)
}

// Failure is what a command line with -json prints on stdout when it
// fails before printing its result, a malformed one too: the error, and
// where a consumer stopped when that is the failure (a replay or rebuild
// that stopped at an event).
type Failure struct {
	Error   string   `json:"error"`
	Stopped *Stopped `json:"stopped,omitempty"`
}

// Stopped is the event a consumer stopped at, as in [annals.ConsumerError].
type Stopped struct {
	Consumer string `json:"consumer"`
	Position int64  `json:"position"`
	EventID  string `json:"event_id"`
	Type     string `json:"type"`
	StreamID string `json:"stream_id"`
	Version  int64  `json:"version"`
	Cause    string `json:"cause"`
}

func newFailure(err error) Failure {
	f := Failure{Error: err.Error()}
	if ce := (*annals.ConsumerError)(nil); errors.As(err, &ce) {
		f.Stopped = &Stopped{Consumer: ce.Consumer, Position: ce.Position, EventID: ce.EventID, Type: ce.Type, StreamID: ce.StreamID, Version: ce.Version}
		if ce.Err != nil {
			f.Stopped.Cause = ce.Err.Error()
		}
	}
	return f
}

func (c *Commands) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [-json] [ARGS]\n\nOperator commands of the application's consumers:\n\n", c.program())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "  %s %s\t%s\n", cmd.name, cmd.args, cmd.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nFlags may come anywhere; -json prints results as JSON. Exit status: 0 done, 1 failed or no such consumer, 2 bad command line.\n")
	if len(c.Rebuilders) > 0 {
		fmt.Fprintf(w, "\nRead models that rebuild can rebuild:")
		for _, r := range c.Rebuilders {
			fmt.Fprintf(w, " %s", r.Name())
		}
		fmt.Fprintln(w)
	}
}

func (c *Commands) program() string {
	if c.Program == "" {
		return "ops"
	}
	return c.Program
}

func (c *Commands) writers() (io.Writer, io.Writer) {
	stdout, stderr := c.Stdout, c.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	return stdout, stderr
}

func upper(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// call is a command's arguments and flags, and where it writes.
type call struct {
	args           []string
	yes, json      bool
	stdout, stderr io.Writer
}

// result prints v as JSON, or text as it is.
func (o call) result(v any, text string) error {
	if !o.json {
		_, err := io.WriteString(o.stdout, text)
		return err
	}
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// consumer returns the system's consumer named name.
func (c *Commands) consumer(name string) (annals.Consumer, error) {
	cons, ok := c.System.Consumer(name)
	if !ok {
		return nil, fmt.Errorf("no consumer named %q (see status): %w", name, store.ErrNotFound)
	}
	return cons, nil
}

// Status is a consumer's line of the status command's JSON.
type Status struct {
	Name string `json:"name"`
	// Checkpoint, Head and Lag are -1 where they could not be read (see
	// Unread).
	Checkpoint int64 `json:"checkpoint"`
	Head       int64 `json:"head"`
	Lag        int64 `json:"lag"`
	// Stopped is the error that stopped the consumer in this process,
	// empty while it works.
	Stopped string `json:"stopped,omitempty"`
	// Unread is why its checkpoint or the head of its log could not be
	// read, empty when both were.
	Unread string `json:"unread,omitempty"`
}

// status prints every consumer's line, those it could not read too, and
// then fails if it could not read one, so that the exit status says so.
func (c *Commands) status(ctx context.Context, out call) error {
	status, statusErr := c.System.Status(ctx)
	lines := make([]Status, len(status))
	var text strings.Builder
	tw := tabwriter.NewWriter(&text, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tCHECKPOINT\tHEAD\tLAG\tSTOPPED")
	known := func(n int64) string {
		if n < 0 {
			return "?"
		}
		return strconv.FormatInt(n, 10)
	}
	for i, s := range status {
		lines[i] = Status{Name: s.Name, Checkpoint: s.Checkpoint, Head: s.Head, Lag: s.Lag}
		stopped := "-"
		if s.Stopped != nil {
			lines[i].Stopped = s.Stopped.Error()
			stopped = lines[i].Stopped
		}
		if s.Unread != nil {
			lines[i].Unread = s.Unread.Error()
		}
		lag := known(s.Lag)
		if s.Unread == nil && s.Checkpoint > s.Head {
			lag += ", past the head" // it would skip the events appended up to its checkpoint
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, known(s.Checkpoint), known(s.Head), lag, stopped)
	}
	tw.Flush()
	if err := out.result(lines, text.String()); err != nil {
		return err
	}
	return statusErr
}

// Rebuilt is the JSON of the rebuild command.
type Rebuilt struct {
	Name           string  `json:"name"`
	Events         int     `json:"events"`
	Position       int64   `json:"position"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

func (c *Commands) rebuild(ctx context.Context, out call) error {
	name := out.args[0]
	var r Rebuilder
	for _, candidate := range c.Rebuilders {
		if candidate.Name() == name {
			r = candidate
		}
	}
	if r == nil {
		cons, err := c.consumer(name)
		if err != nil {
			return err
		}
		// The consumer is there: rebuilding it is what is refused.
		return fmt.Errorf("consumer %q cannot be rebuilt: %s: %w", name, c.whyNotRebuilt(cons), store.ErrInvalid)
	}
	every := c.ProgressEvery
	if every == 0 {
		every = time.Second
	}
	var last, final annals.Progress
	var printed time.Time
	progress := func(p annals.Progress) {
		final = p
		if time.Since(printed) < every || p.Position >= p.Head {
			return
		}
		printed, last = time.Now(), p
		fmt.Fprintln(out.stderr, progressLine(name, p))
	}
	if err := r.Rebuild(ctx, progress); err != nil {
		return err
	}
	if final != last {
		fmt.Fprintln(out.stderr, progressLine(name, final))
	}
	return out.result(Rebuilt{Name: name, Events: final.Events, Position: final.Position, ElapsedSeconds: final.Elapsed.Seconds()},
		fmt.Sprintf("rebuilt %s: %d events, checkpoint %d, in %v\n", name, final.Events, final.Position, final.Elapsed.Round(time.Millisecond)))
}

// whyNotRebuilt says what cons, a consumer that no Rebuilder rebuilds,
// is, and why rebuild cannot rebuild it.
func (c *Commands) whyNotRebuilt(cons annals.Consumer) string {
	if _, ok := cons.(Rebuilder); ok {
		return "it is a read model, but not among the Rebuilders of the application's ops.Commands: add it there to rebuild it"
	}
	if _, ok := cons.(*annals.Relay); ok {
		return "it is a relay, and what it published stays with the broker; to publish the log again, reset its checkpoint to 0"
	}
	// The generic consumers of package annals, by their type's name
	// (Projection[T], SagaRunner[S, E, C]), which no interface can tell.
	t := reflect.TypeOf(cons)
	if t.Kind() == reflect.Pointer && t.Elem().PkgPath() == reflect.TypeFor[annals.Relay]().PkgPath() {
		switch generic, _, _ := strings.Cut(t.Elem().Name(), "["); generic {
		case "SagaRunner":
			return "it is a saga, and the commands it sent are not undone; to handle events again, reset its checkpoint"
		case "Projection":
			return "it is a projection into the application's own tables, which only the application can empty: list ops.RebuildWith(projection, reset) among the Rebuilders of its ops.Commands, with a reset that empties them"
		}
	}
	return fmt.Sprintf("it is not among the read models that the application's ops.Commands can rebuild (%s)", c.rebuildable())
}

// rebuildable names the read models that rebuild can rebuild.
func (c *Commands) rebuildable() string {
	if len(c.Rebuilders) == 0 {
		return "none"
	}
	return strings.Join(lo.Map(c.Rebuilders, func(r Rebuilder, _ int) string { return r.Name() }), ", ")
}

func progressLine(name string, p annals.Progress) string {
	percent := 100.0
	if p.Head > 0 {
		percent = 100 * float64(min(p.Position, p.Head)) / float64(p.Head)
	}
	return fmt.Sprintf("rebuild %s: position %d of %d (%.1f%%), %d events, %.0f events/s", name, p.Position, p.Head, percent, p.Events, p.Rate)
}

// Reset is the JSON of the reset command.
type Reset struct {
	Name string `json:"name"`
	From int64  `json:"from"`
	To   int64  `json:"to"`
	// StatesEmptied says that the reset deleted the states the store
	// keeps under the consumer's name (a view's, a process's; see
	// [annals.StateKeeper]), in the commit that moved its checkpoint
	// back to 0, so that it handles the log again from empty states.
	StatesEmptied bool `json:"states_emptied"`
}

func (c *Commands) reset(ctx context.Context, out call) error {
	name := out.args[0]
	to, err := strconv.ParseInt(out.args[1], 10, 64)
	if err != nil || to < 0 {
		return usageError{fmt.Sprintf("position %q is not a position of the log (0 or more)", out.args[1])}
	}
	cons, err := c.consumer(name)
	if err != nil {
		return err
	}
	s := c.System.Store()
	// An instance that runs the consumer meanwhile moves its checkpoint
	// on between the read and the commit: read it again and move it
	// from there, a few times, before saying so.
	const tries = 10
	for try := 1; ; try++ {
		done, err := c.resetOnce(ctx, out, s, cons, name, to, try > 1)
		if done || !errors.Is(err, store.ErrConflict) {
			return err
		}
		if try == tries {
			return fmt.Errorf("%w; an instance that runs %s moved its checkpoint on %d times while this reset read it: try again, or stop the instances that run it first", err, name, tries)
		}
	}
}

// resetOnce is one try of reset: it reads where the consumer is and
// moves it, and reports whether it is done; an error matching
// store.ErrConflict with done false says the checkpoint moved meanwhile.
// again says that an earlier try found it moved.
func (c *Commands) resetOnce(ctx context.Context, out call, s *annals.Store, cons annals.Consumer, name string, to int64, again bool) (bool, error) {
	from, err := cons.Position(ctx)
	if err != nil {
		return true, err
	}
	head, err := s.Head(ctx)
	if err != nil {
		return true, err
	}
	switch {
	case to > head:
		return true, fmt.Errorf("position %d is past the head of the log, %d: %w", to, head, store.ErrInvalid)
	case to < from && to != 0 && again:
		return true, fmt.Errorf("%s passed %d while this reset ran (it is at %d): the instance that runs it handled the events this reset was to skip, and nothing was moved: %w", name, to, from, store.ErrConflict)
	case to < from && to != 0:
		return true, fmt.Errorf("%s is at %d: a checkpoint moves back only to 0, so that no event is handled twice by halves; rebuild a read model instead: %w", name, from, store.ErrInvalid)
	case to == from:
		return true, out.result(Reset{Name: name, From: from, To: to}, fmt.Sprintf("%s is at %d already\n", name, from))
	}
	// The states a view or a process keeps in the store are the fold of
	// the events up to its checkpoint: handled again over them, the log
	// would count each event twice, and a process would react to its
	// first events from its last states, sending commands it never sent.
	// They go with the checkpoint, as they came with it.
	empty := to == 0 && keepsStates(cons)
	what := fmt.Sprintf("skips %s after %d", events(to-from), from)
	switch {
	case empty:
		what = fmt.Sprintf("handles all %s again, from empty states (its states in the store are deleted)", events(head))
	case to < from:
		what = fmt.Sprintf("handles all %s again, over the read model as it is", events(head))
	}
	if !out.yes {
		return true, fmt.Errorf("moving %s from %d to %d %s; run again with -yes to do it", name, from, to, what)
	}
	err = s.Commit(ctx, name, from, to, func(tx store.StateTx) error {
		if empty {
			if err := tx.DeleteStates(ctx, name); err != nil {
				return fmt.Errorf("delete the states of %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return true, out.result(Reset{Name: name, From: from, To: to, StatesEmptied: empty}, fmt.Sprintf("moved %s from %d to %d: it %s\n", name, from, to, what))
}

// keepsStates reports whether the store keeps cons's states under its
// name, which a reset to 0 deletes.
func keepsStates(cons annals.Consumer) bool {
	k, ok := cons.(annals.StateKeeper)
	return ok && k.KeepsStates()
}

func events(n int64) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}

// Replayed is the JSON of the replay command.
type Replayed struct {
	Name       string `json:"name"`
	Events     int    `json:"events"`
	Checkpoint int64  `json:"checkpoint"`
}

func (c *Commands) replay(ctx context.Context, out call) error {
	name := out.args[0]
	cons, err := c.consumer(name)
	if err != nil {
		return err
	}
	n, err := c.System.Retry(ctx, name)
	if err != nil {
		return fmt.Errorf("%d events handled, then: %w", n, err)
	}
	at, err := cons.Position(ctx)
	if err != nil {
		return err
	}
	return out.result(Replayed{name, n, at}, fmt.Sprintf("replayed %s: %d events, checkpoint %d\n", name, n, at))
}
