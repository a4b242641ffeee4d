// Command annals inspects an event store: the head of the global log, its
// records, a stream, a consumer's checkpoint. The store is the URL of
// -store, or of the ANNALS_STORE environment variable:
//
//	annals head
//	annals log [-after N] [-limit N] [-type T]... [-follow]
//	annals stream [-from V] STREAM
//	annals checkpoint CONSUMER
//
// Payloads print as text when they are JSON; compressed or encrypted ones
// print as their size and encoding, since the tool holds no keys.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/annals-dev/annals/store"
	_ "github.com/annals-dev/annals/store/postgres"
	_ "github.com/annals-dev/annals/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "annals:", err)
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage:
  annals [-store URL] head
  annals [-store URL] log [-after N] [-limit N] [-type T]... [-follow]
  annals [-store URL] stream [-from V] STREAM
  annals [-store URL] checkpoint CONSUMER
The store URL defaults to $ANNALS_STORE (sqlite:///path/app.db, postgres://…).
`

var errUsage = errors.New("bad usage")

func run(ctx context.Context, args []string, w io.Writer, getenv func(string) string) error {
	global := flag.NewFlagSet("annals", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	url := global.String("store", getenv(store.EnvVar), "store URL")
	if err := global.Parse(args); err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if global.NArg() == 0 {
		return fmt.Errorf("no command: %w", errUsage)
	}
	if *url == "" {
		return fmt.Errorf("no store: give -store URL or set %s: %w", store.EnvVar, errUsage)
	}
	cmd, rest := global.Arg(0), global.Args()[1:]
	commands := map[string]func(context.Context, store.Store, []string, io.Writer) error{
		"head": head, "log": logCmd, "stream": streamCmd, "checkpoint": checkpoint,
	}
	f, ok := commands[cmd]
	if !ok {
		return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
	}
	s, err := store.Open(ctx, *url)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(ctx, s, rest, w)
}

func head(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("head takes no arguments: %w", errUsage)
	}
	h, err := s.Head(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, h)
	return err
}

type typesFlag []string

func (t *typesFlag) String() string     { return strings.Join(*t, ",") }
func (t *typesFlag) Set(v string) error { *t = append(*t, v); return nil }

func logCmd(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	after := fs.Int64("after", 0, "read after this position")
	limit := fs.Int("limit", 100, "at most this many records (0: all; with -follow: stop after this many)")
	var types typesFlag
	fs.Var(&types, "type", "only records of this type (repeatable)")
	follow := fs.Bool("follow", false, "wait for new records")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("log: %v: %w", err, errUsage)
	}
	if fs.NArg() > 0 || *limit < 0 || *after < 0 {
		return fmt.Errorf("log: unexpected arguments or negative numbers: %w", errUsage)
	}
	printed := 0
	for pos := *after; ; {
		page := store.DefaultLogLimit
		if *limit > 0 {
			page = min(page, *limit-printed)
		}
		// The head, read before the page, is where a filtered read that
		// found nothing may wait from: every event up to it was visible.
		h, err := s.Head(ctx)
		if err != nil {
			return err
		}
		recs, err := s.ReadLog(ctx, store.LogQuery{After: pos, Limit: page, Types: types})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := printRecord(w, r); err != nil {
				return err
			}
			pos = r.Position
		}
		printed += len(recs)
		if *limit > 0 && printed >= *limit {
			return nil
		}
		if len(recs) > 0 {
			continue
		}
		if !*follow {
			return nil
		}
		pos = max(pos, h)
		if err := s.Wait(ctx, pos); err != nil {
			return err
		}
	}
}

func streamCmd(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.Int64("from", 1, "first version")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("stream: %v: %w", err, errUsage)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("stream: want one stream ID: %w", errUsage)
	}
	n := 0
	for r, err := range s.ReadStream(ctx, fs.Arg(0), *from) {
		if err != nil {
			return err
		}
		if err := printRecord(w, r); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("stream %q has no events from version %d: %w", fs.Arg(0), *from, store.ErrNotFound)
	}
	return nil
}

func checkpoint(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("checkpoint: want one consumer name: %w", errUsage)
	}
	pos, err := s.Checkpoint(ctx, args[0])
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, pos)
	return err
}

// printRecord prints one record on a line: position, stream and version,
// type and schema version (and tags, if any), time, and the payload.
func printRecord(w io.Writer, r store.Record) error {
	payload := string(r.Data)
	if r.Encoding != "" || !json.Valid(r.Data) {
		payload = fmt.Sprintf("<%d bytes", len(r.Data))
		if r.Encoding != "" {
			payload += ", " + r.Encoding
		}
		payload += ">"
	}
	typ := fmt.Sprintf("%s/v%d", r.Type, r.SchemaVersion)
	if len(r.Tags) > 0 {
		typ += " [" + strings.Join(r.Tags, " ") + "]" // the tags queries find it by
	}
	_, err := fmt.Fprintf(w, "%d\t%s@%d\t%s\t%s\t%s\n", r.Position, r.StreamID, r.Version, typ,
		r.Time.Format("2006-01-02T15:04:05.000Z"), payload)
	return err
}
