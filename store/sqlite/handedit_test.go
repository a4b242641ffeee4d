package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/testdomain"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// handEdit runs statements on the file at path, on a connection of its
// own, as someone with write access to the database would, with the
// tables' CHECK constraints off.
func handEdit(t *testing.T, path string, statements ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // the pragma holds for its connection
	ctx := context.Background()
	for _, st := range append([]string{`PRAGMA busy_timeout = 5000`, `PRAGMA ignore_check_constraints = ON`}, statements...) {
		if _, err := db.ExecContext(ctx, st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
}

// rowCount counts the rows a query of the file at path finds.
func rowCount(t *testing.T, path, query string, args ...any) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An event whose version was changed by hand to 0 or below, as no append
// writes it, makes its stream fail to load with ErrCorrupt naming the
// stream and the version, rather than load as shorter than it is; and no
// append takes such a version as the stream's head, so that no command
// is decided on it and no version 1 is written beside it.
func TestAVersionBelowOneIsCorrupt(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []int64{0, -1} {
		for _, events := range []int{1, 2} {
			t.Run(fmt.Sprintf("version %d of %d events", bad, events), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "hand.db")
				s := annals.New(openAt(t, path))
				write := annals.NewRunner(s, testdomain.Accounts, testdomain.AccountCodec())
				if _, err := write.Handle(ctx, "acct", testdomain.AccountCmd{Open: true, CustomerID: "c"}); err != nil {
					t.Fatal(err)
				}
				if events == 2 {
					if _, err := write.Handle(ctx, "acct", testdomain.AccountCmd{Amount: 5}); err != nil {
						t.Fatal(err)
					}
				}
				handEdit(t, path, fmt.Sprintf(`UPDATE annals_events SET version = %d WHERE stream_id = 'acct' AND version = 1`, bad))
				rows := rowCount(t, path, `SELECT count(*) FROM annals_events`)

				want := func(what string, err error) {
					t.Helper()
					if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), `"acct"`) || !strings.Contains(err.Error(), fmt.Sprintf("version %d,", bad)) {
						t.Errorf("%s: %v, want ErrCorrupt naming stream \"acct\" and version %d", what, err, bad)
					}
				}
				r := annals.NewRunner(s, testdomain.Accounts, testdomain.AccountCodec())
				st, v, err := r.Load(ctx, "acct")
				want("Load", err)
				if err == nil {
					t.Logf("Load answered %+v at version %d", st, v)
				}
				_, err = r.Handle(ctx, "acct", testdomain.AccountCmd{Open: true, CustomerID: "c"})
				want("Handle on a fresh runner", err)
				// The runner that wrote the stream knows its version and
				// appends without reading it first.
				_, err = write.Handle(ctx, "acct", testdomain.AccountCmd{Amount: 7})
				if events == 1 {
					want("Handle on the runner that wrote it", err)
				} else if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrCorrupt) {
					t.Errorf("Handle on the runner that wrote it: %v, want ErrConflict or ErrCorrupt", err)
				}
				e := store.Event{Type: "MoneyDeposited", SchemaVersion: 2, Data: []byte(`{"amount":1}`)}
				if events == 1 {
					for name, batch := range map[string][]store.Event{"one event": {e}, "two events": {e, e}} {
						for _, expected := range []int64{store.NoStream, store.AnyVersion} {
							_, err := s.Adapter().Append(ctx, "acct", expected, batch)
							want(fmt.Sprintf("Append of %s expecting %d", name, expected), err)
						}
					}
				}
				if n := rowCount(t, path, `SELECT count(*) FROM annals_events`); n != rows {
					t.Errorf("%d events stored after the refusals, want the %d there were", n, rows)
				}
			})
		}
	}
}

// The tag index is derived from the events' tags. A row a hand deleted
// from it makes a query miss the event, which only VerifyIndexes sees;
// a row a hand added makes the query find an event that does not match
// it, which ReadQuery refuses with ErrCorrupt. VerifyIndexes names the
// position of both.
func TestATagIndexChangedByHand(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hand.db")
	s := openAt(t, path)
	for i, tags := range [][]string{{"show:a", "seat:1"}, {"show:a", "seat:2"}, {"show:b", "seat:1"}} {
		if _, err := s.Append(ctx, fmt.Sprintf("booking-%d", i), store.NoStream, []store.Event{{Type: "Booked", Data: []byte(`{}`), Tags: tags}}); err != nil {
			t.Fatal(err)
		}
	}
	problems := func() []string {
		t.Helper()
		var out []string
		for p, err := range s.VerifyIndexes(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	if p := problems(); len(p) != 0 {
		t.Fatalf("VerifyIndexes of an index as written: %q", p)
	}
	read := func(tag string) ([]int64, error) {
		var positions []int64
		for r, err := range s.ReadQuery(ctx, store.Query{Items: []store.QueryItem{{Types: []string{"Booked"}, Tags: []string{tag}}}}, 0) {
			if err != nil {
				return positions, err
			}
			positions = append(positions, r.Position)
		}
		return positions, nil
	}

	handEdit(t, path, `DELETE FROM annals_event_tags WHERE tag = 'show:a' AND position = 2`,
		`INSERT INTO annals_event_tags (tag, position, type) VALUES ('show:b', 1, 'Booked')`)
	p := problems()
	if len(p) != 2 || !strings.Contains(p[0], `no row for tag "show:a" of the event at position 2`) ||
		!strings.Contains(p[1], `a row for tag "show:b" and type "Booked" at position 1, which the event there does not have`) {
		t.Errorf("VerifyIndexes of an index with a row deleted and one added: %q", p)
	}
	if _, err := read("show:b"); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "position 1") {
		t.Errorf("ReadQuery of a tag whose index holds an event without it: %v, want ErrCorrupt naming position 1", err)
	}
}

// A snapshot whose version or schema version a hand set below 1 is
// ignored by a load, which replays the stream, and the log says why:
// what it holds, not that it is of another stream.
func TestASnapshotChangedByHandIsIgnoredForWhatItIs(t *testing.T) {
	ctx := context.Background()
	for _, spoil := range []string{"version = 0", "version = -1", "schema_version = 0"} {
		t.Run(spoil, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hand.db")
			s := openAt(t, path)
			var logged strings.Builder
			r := annals.NewRunner(annals.New(s), testdomain.Accounts, testdomain.AccountCodec(),
				annals.WithSnapshots(s, snapshot.Every(1), testdomain.AccountStateCodec()),
				annals.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
			for _, cmd := range []testdomain.AccountCmd{{Open: true, CustomerID: "c"}, {Amount: 5}} {
				if _, err := r.Handle(ctx, "acct", cmd); err != nil {
					t.Fatal(err)
				}
			}
			handEdit(t, path, `UPDATE annals_snapshots SET `+spoil)
			logged.Reset()
			a, v, err := r.Load(ctx, "acct")
			if err != nil || v != 2 || a.Balance != 5 {
				t.Fatalf("Load: %+v at version %d, %v; want the replayed balance 5 at version 2", a, v, err)
			}
			if out := logged.String(); !strings.Contains(out, "snapshot ignored: it holds what no save writes") || strings.Contains(out, "not of this stream") {
				t.Errorf("the log of a load ignoring the snapshot: %s", out)
			}
		})
	}
}

// A URL of sqlite:/// followed by an absolute path names the file, and the
// store's errors print its path with one leading slash, not two.
func TestAPathAfterThreeSlashesPrintsOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "slashes.db")
	s, err := store.Open(ctx, "sqlite:///"+path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = s.Head(ctx)
	if !errors.Is(err, store.ErrClosed) || !strings.Contains(err.Error(), "sqlite store "+path+":") {
		t.Errorf("Head after Close: %v, want ErrClosed naming %s", err, path)
	}
}

// A file whose record of schema steps a hand emptied or dropped fails to
// open with ErrCorrupt saying so, not with SQLite's complaint that a
// table already exists, and is left as it was.
func TestALostSchemaRecordIsSaidSo(t *testing.T) {
	ctx := context.Background()
	for _, spoil := range []string{`DELETE FROM annals_schema_migrations`, `DROP TABLE annals_schema_migrations`} {
		t.Run(spoil, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hand.db")
			s := openAt(t, path)
			if _, err := s.Append(ctx, "s", store.NoStream, []store.Event{{Type: "T", Data: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			handEdit(t, path, spoil)
			_, err := store.Open(ctx, "sqlite://"+path)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "annals_schema_migrations) is missing or empty") {
				t.Errorf("open: %v, want ErrCorrupt saying the schema's record is missing", err)
			}
			if n := rowCount(t, path, `SELECT count(*) FROM annals_events`); n != 1 {
				t.Errorf("%d events after the refused open, want 1", n)
			}
		})
	}
}

// A condition's position past the head is refused against the head read
// under the write lock: a Store that saw a longer log before its end was
// deleted by hand does not take the old head for the log's, or its
// condition would miss the events appended where the deleted ones were.
func TestAConditionPastAHeadThatWentBackIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dcb.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := store.QueryItems(store.QueryItem{Tags: []string{"seat:1"}})
	for i := range 3 {
		if _, err := s.Append(ctx, fmt.Sprint("s-", i), store.NoStream, []store.Event{{Type: "Claimed", Tags: []string{"seat:1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	var last int64
	for r, err := range s.ReadQuery(ctx, q, 0) {
		if err != nil {
			t.Fatal(err)
		}
		last = r.Position
	}
	if last != 3 {
		t.Fatalf("read up to %d, want 3", last)
	}
	handEdit(t, path, `DELETE FROM annals_event_tags WHERE position > 1`, `DELETE FROM annals_events WHERE position > 1`)
	_, err = s.AppendIf(ctx, "late", store.NoStream, []store.Event{{Type: "Claimed", Tags: []string{"seat:1"}}}, store.AppendCondition{FailIfEventsMatch: q, After: last})
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "past the head of the log (1)") {
		t.Fatalf("append if after 3 on a log cut back to 1: %v; want store.ErrInvalid naming the head", err)
	}
	if n := rowCount(t, path, `SELECT count(*) FROM annals_events`); n != 1 {
		t.Fatalf("%d events after the refused append, want 1", n)
	}
}
