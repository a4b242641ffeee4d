// Command annals inspects, verifies and copies event stores. The store is
// the URL of -store, or of the ANNALS_STORE environment variable:
//
//	annals head                              the position of the last event
//	annals log [-after N] [-limit N] [-type T]... [-follow]
//	annals stream [-from V] STREAM           a stream's events
//	annals checkpoint CONSUMER               a consumer's checkpoint
//	annals consumers [CONSUMER]...           checkpoints, lag, leases
//	annals verify [-payload any]             walk the store and check it
//	annals copy -from URL -to URL            copy a store to another
//
// Flags go before or after the command's arguments; -json prints JSON
// for scripts (one object per line for log and stream); -h prints the
// usage. The exit status is 0 on success, 1 on an error (a stream or
// consumer that does not exist, a problem verify found), 2 on bad usage.
//
// Inspection never creates a store: a SQLite path that names no file,
// or a PostgreSQL database without a store's tables, is an error. A
// payload prints as text when it is JSON; a compressed one is inflated;
// an encrypted one (or one with personal data) is decrypted when the
// keys are in ANNALS_CIPHER_KEY and ANNALS_CIPHER_OLD_KEYS, and otherwise
// prints as its size and encoding. A payload whose data subject is
// forgotten prints without its personal fields, marked so.
//
// docs/operations.md shows how to move a store from SQLite to PostgreSQL
// with annals copy.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/annals-dev/annals/internal/cliflags"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, tty: isTerminal(os.Stderr)}
	os.Exit(c.main(ctx, os.Args[1:]))
}

// isTerminal reports whether f is a terminal (a character device), as
// a progress display needs.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// cli is one run of the tool, with its outputs and environment.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	tty            bool // stderr is a terminal
}

// interrupted is the error of a command that was interrupted and says
// what to do next, which the tool prints.
type interrupted struct{ err error }

func (e *interrupted) Error() string { return e.err.Error() }
func (e *interrupted) Unwrap() error { return e.err }

// main runs the tool and returns its exit status.
func (c *cli) main(ctx context.Context, args []string) int {
	err := c.run(ctx, args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(c.stderr, "annals:", err)
		if cu := (*commandUsage)(nil); errors.As(err, &cu) {
			fmt.Fprintf(c.stderr, "usage: %s\n(annals help %s lists its flags)\n", strings.TrimSpace("annals "+cu.name+" "+cu.args), cu.name)
			return 2
		}
		fmt.Fprint(c.stderr, usage)
		return 2
	case errors.Is(err, context.Canceled):
		if it := (*interrupted)(nil); errors.As(err, &it) {
			fmt.Fprintln(c.stderr, "annals:", it) // what to do next
			return 1
		}
		fmt.Fprintln(c.stderr, "annals: interrupted")
		return 1
	}
	fmt.Fprintln(c.stderr, "annals:", err)
	return 1
}

const usage = `usage: annals [-store URL] [-json] COMMAND [flags] [arguments]

commands:
  head                               the position of the last event in the log
  log [-after N] [-limit N] [-type T]... [-follow]
                                     the log's events: 100 by default, all with -limit 0
  stream [-from V] STREAM            the events of a stream
  checkpoint CONSUMER                a consumer's checkpoint
  consumers [CONSUMER]...            consumers' checkpoints, lag and leases
  verify                             walk the store and check everything in it
  copy -from URL -to URL [-batch N] [-rebuild CONSUMER]... [-keep CONSUMER]...
                                     copy a whole store to another, and verify it

The store URL defaults to $ANNALS_STORE (sqlite:///path/app.db, postgres://…).
Flags may come before or after arguments; -json prints JSON; -h prints help.
Encrypted payloads are decrypted with the keys in ANNALS_CIPHER_KEY and
ANNALS_CIPHER_OLD_KEYS, when set. Run "annals COMMAND -h" for a command's flags.
`

// errUsage marks a command line the tool cannot run.
var errUsage = errors.New("bad usage")

// globals are the flags every command takes.
type globals struct {
	store string
	json  bool
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.Var(urlFlag{&g.store}, "store", "store `URL` (default $"+store.EnvVar+")")
	fs.BoolVar(&g.json, "json", g.json, "print JSON")
}

// urlFlag is a flag holding a URL that is never printed, since it may
// hold a password: not as the default in the usage, which would show the
// value of the environment variable.
type urlFlag struct{ p *string }

// String never shows the URL; Set keeps it.
func (f urlFlag) String() string     { return "" }
func (f urlFlag) Set(v string) error { *f.p = v; return nil }

// command is one of the tool's commands.
type command struct {
	args  string // what follows the command's name in its usage
	about string
	// flags registers the command's own flags; run runs it.
	flags func(fs *flag.FlagSet) func(ctx context.Context, c *cli, g *globals, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"head":       {"", "Print the position of the last event of the global log.", headFlags},
		"log":        {"[-after N] [-limit N] [-type T]... [-follow]", "Print events of the global log.", logFlags},
		"stream":     {"[-from V] STREAM", "Print the events of a stream; a stream without events is an error.", streamFlags},
		"checkpoint": {"CONSUMER", "Print a consumer's checkpoint; a consumer without one is an error.", checkpointFlags},
		"consumers":  {"[CONSUMER]...", "Print each consumer's checkpoint, lag, lease and what the store knows of its state.", consumersFlags},
		"verify":     {"[-payload json|any]", "Walk the store: gap-free log, contiguous streams, every record and snapshot readable (as JSON unless -payload any). Exits 1 on a problem.", verifyFlags},
		"copy":       {"-from URL -to URL [-batch N] [-rebuild CONSUMER]... [-keep CONSUMER]...", "Copy a whole store to another (empty) one, resumably, and verify the copy.", copyFlags},
	}
}

func (c *cli) run(ctx context.Context, args []string) error {
	g := &globals{store: c.getenv(store.EnvVar)}
	stdout := c.stdout
	out := &written{w: stdout}
	c.stdout = out
	err := c.runCommand(ctx, g, args)
	c.stdout = stdout
	if err != nil && (g.json || cliflags.AsksJSON(args)) && !out.any && !errors.Is(err, flag.ErrHelp) {
		// A script reading stdout gets the failure as JSON too, bad
		// usage included; the message goes to stderr as well.
		_ = printJSON(stdout, map[string]string{"error": err.Error()})
	}
	return err
}

// runCommand parses args and runs the command they name.
func (c *cli) runCommand(ctx context.Context, g *globals, args []string) error {
	top := flag.NewFlagSet("annals", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	g.register(top)
	name, rest, err := cliflags.Leading(top, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stdout, usage)
			return err
		}
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if name == "" {
		return fmt.Errorf("no command: %w", errUsage)
	}
	if name == "help" {
		if len(rest) == 0 {
			fmt.Fprint(c.stdout, usage)
			return nil
		}
		name, rest = rest[0], []string{"-h"}
	}
	cmd, ok := commands()[name]
	if !ok {
		return fmt.Errorf("unknown command %q: %w", name, errUsage)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	runCmd := cmd.flags(fs)
	pos, err := cliflags.Interleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n\n%s\n\nflags:\n", strings.TrimSpace("annals "+name+" "+cmd.args), cmd.about)
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		return err
	}
	if err != nil {
		return &commandUsage{name, cmd.args, fmt.Errorf("%s: %v: %w", name, err, errUsage)}
	}
	err = runCmd(ctx, c, g, pos)
	if errors.Is(err, errUsage) {
		return &commandUsage{name, cmd.args, err}
	}
	return err
}

// commandUsage is a command line that one command cannot run: its usage,
// not the tool's, is printed.
type commandUsage struct {
	name, args string
	err        error
}

func (e *commandUsage) Error() string { return e.err.Error() }
func (e *commandUsage) Unwrap() error { return e.err }

// written is a writer that records whether anything was written to it.
type written struct {
	w   io.Writer
	any bool
}

func (w *written) Write(p []byte) (int, error) {
	w.any = true
	return w.w.Write(p)
}

// needStore returns the store URL, or a usage error naming where it
// comes from.
func (g *globals) needStore() (string, error) {
	if g.store == "" {
		return "", fmt.Errorf("no store: give -store URL or set %s: %w", store.EnvVar, errUsage)
	}
	return g.store, nil
}

// openExisting opens a store to inspect it, never creating one: a SQLite
// URL gets create=false unless it says create= itself, and a PostgreSQL
// database must already hold the store's tables. A memory: store lives inside its program, so there is
// nothing to inspect.
func openExisting(ctx context.Context, rawURL string) (store.Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return store.Open(ctx, rawURL) // which says what is wrong, without the URL
	}
	switch u.Scheme {
	case "memory":
		return nil, fmt.Errorf("a memory: store lives inside its program and ends with it; there is nothing to inspect: %w", store.ErrInvalid)
	case "sqlite":
		q := u.Query()
		if q.Has("create") {
			break // the URL's own say
		}
		q.Set("create", "false")
		u.RawQuery = q.Encode()
		noStore := func(what string) error {
			return fmt.Errorf("no SQLite store at %s: %s, and the tool inspects stores, never creating one; check the path: %w", u.Path, what, store.ErrNotFound)
		}
		if dir := filepath.Dir(u.Path); u.Path != "" && u.Host == "" && u.Opaque == "" {
			if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
				return nil, noStore("its directory " + dir + " does not exist")
			}
		}
		s, err := store.Open(ctx, u.String())
		if errors.Is(err, store.ErrNotFound) {
			what := "the file holds no annals store"
			if _, statErr := os.Stat(u.Path); errors.Is(statErr, fs.ErrNotExist) {
				what = "the file does not exist"
			}
			return nil, noStore(what)
		}
		return s, err
	case "postgres", "postgresql":
		ok, err := postgres.Exists(ctx, rawURL)
		if err != nil {
			return nil, err
		}
		if !ok {
			q := u.Query()
			return nil, fmt.Errorf("the PostgreSQL database holds no annals store in schema %q with table prefix %q; check the URL (its schema= and prefix=): %w",
				cmp.Or(q.Get("schema"), postgres.DefaultSchema), cmp.Or(q.Get("prefix"), postgres.DefaultPrefix), store.ErrNotFound)
		}
	}
	return store.Open(ctx, rawURL)
}

// withStore opens the store of g for inspection and runs f on it.
func withStore(ctx context.Context, g *globals, f func(store.Store) error) error {
	u, err := g.needStore()
	if err != nil {
		return err
	}
	s, err := openExisting(ctx, u)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

// noArgs refuses arguments to a command that takes none.
func noArgs(name string, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, got %s: %w", name, strings.Join(args, " "), errUsage)
	}
	return nil
}
