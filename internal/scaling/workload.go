package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/internal/rawgroup"
	"github.com/annals-dev/annals/store"
)

// eventBytes is the size of every event's payload.
const eventBytes = 256

// deposited is the workload's event: its JSON is eventBytes long.
type deposited struct {
	Amount int64  `json:"amount"`
	Note   string `json:"note"`
}

// deposit is the command of the commands workload.
type deposit struct{ Amount int64 }

// note pads a deposited event's JSON to eventBytes: {"amount":1,"note":"…"}.
var note = strings.Repeat("n", eventBytes-len(`{"amount":1,"note":""}`))

// payload is the JSON of a deposited event, for the appends workload.
var payload = []byte(`{"amount":1,"note":"` + note + `"}`)

// versions is what the writers of the appends workload believe each
// stream's version is; a conflict teaches them the actual one.
type versions struct {
	mu sync.Mutex
	m  map[string]int64
}

func (v *versions) get(stream string) int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[stream]
}

func (v *versions) set(stream string, version int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m[stream] = max(v.m[stream], version)
}

// appendWith returns the appends workload's operation on an append
// function: append one event at the version believed, and on a conflict
// learn the actual version and append again.
func appendWith(appendOne func(ctx context.Context, stream string, expected int64) (int64, error)) func(context.Context, string) (int64, error) {
	known := &versions{m: map[string]int64{}}
	return func(ctx context.Context, stream string) (int64, error) {
		var conflicts int64
		for {
			v, err := appendOne(ctx, stream, known.get(stream))
			var conflict *store.ConflictError
			if errors.As(err, &conflict) {
				conflicts++
				known.set(stream, conflict.Actual)
				continue
			}
			if err != nil {
				return conflicts, err
			}
			known.set(stream, v)
			return conflicts, nil
		}
	}
}

// appender is the appends workload on the store.
func appender(s store.Store) func(context.Context, string) (int64, error) {
	return appendWith(func(ctx context.Context, stream string, expected int64) (int64, error) {
		return s.Append(ctx, stream, expected, []store.Event{{Type: "Deposited", Data: payload}})
	})
}

// counting counts the conflicts its store's appends meet, in the counter
// of the operation that made them, which the context carries.
type counting struct{ store.Store }

// conflictsKey is the context key of an operation's conflict counter.
type conflictsKey struct{}

func (c counting) Append(ctx context.Context, stream string, expected int64, events []store.Event) (int64, error) {
	v, err := c.Store.Append(ctx, stream, expected, events)
	if n, ok := ctx.Value(conflictsKey{}).(*int64); ok && errors.Is(err, store.ErrConflict) {
		*n++
	}
	return v, err
}

// commander is the commands workload on the store: a runner with a state
// cache, as an application with hot streams runs one, handling a deposit
// that decides one event.
func commander(s store.Store) func(context.Context, string) (int64, error) {
	d := decider.Decider[deposit, deposited, int64]{
		Decide: func(c deposit, _ int64) ([]deposited, error) { return []deposited{{Amount: c.Amount, Note: note}}, nil },
		Evolve: func(balance int64, e deposited) int64 { return balance + e.Amount },
	}
	r := annals.NewRunner(annals.New(counting{s}), d, codec.NewJSON[deposited]().Register("Deposited", deposited{}),
		annals.WithCache(16384), annals.WithRetries(1000))
	return func(ctx context.Context, stream string) (int64, error) {
		var conflicts int64
		_, err := r.Handle(context.WithValue(ctx, conflictsKey{}, &conflicts), stream, deposit{Amount: 1})
		return conflicts, err
	}
}

// rawSQLite is a raw baseline of the appends workload on SQLite: the
// store's schema and connection settings, and the statement the store runs
// to append one event at an expected version, written with the driver.
type rawSQLite struct {
	db              *sql.DB
	insert, version *sql.Stmt
}

func openRawSQLite(ctx context.Context, path, sync string) (*rawSQLite, error) {
	v := url.Values{}
	v.Set("_busy_timeout", fmt.Sprint(time.Minute.Milliseconds()))
	v.Set("_foreign_keys", "1")
	v.Set("_synchronous", strings.ToUpper(sync))
	v.Set("_journal_mode", "WAL")
	v.Set("_txlock", "immediate")
	v.Add("_pragma", "secure_delete=ON")
	db, err := sql.Open("sqlite", path+"?"+v.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	insert, err := db.PrepareContext(ctx, `INSERT INTO annals_events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding, metadata)
		SELECT ?1, ?2, ?3 + 1, 'Deposited', 1, ?4, ?5, '', NULL
		WHERE (SELECT coalesce(max(version), 0) FROM annals_events WHERE stream_id = ?2) = ?3`)
	if err != nil {
		db.Close()
		return nil, err
	}
	version, err := db.PrepareContext(ctx, `SELECT coalesce(max(version), 0) FROM annals_events WHERE stream_id = ?`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &rawSQLite{db: db, insert: insert, version: version}, nil
}

func (r *rawSQLite) close() error {
	return errors.Join(r.insert.Close(), r.version.Close(), r.db.Close())
}

// appendIn appends one event in tx, or answers a conflict.
func (r *rawSQLite) appendIn(ctx context.Context, tx *sql.Tx, stream string, expected int64) (int64, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return 0, err
	}
	res, err := tx.StmtContext(ctx, r.insert).ExecContext(ctx, id[:], stream, expected, time.Now().UnixNano(), payload)
	if err != nil {
		return 0, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, err
	} else if n == 0 {
		var actual int64
		if err := tx.StmtContext(ctx, r.version).QueryRowContext(ctx, stream).Scan(&actual); err != nil {
			return 0, err
		}
		return 0, &store.ConflictError{StreamID: stream, Expected: expected, Actual: actual}
	}
	return expected + 1, nil
}

// each is the baseline "raw": one transaction per append, BEGIN
// IMMEDIATE, so every append pays its own commit.
func (r *rawSQLite) each() func(context.Context, string) (int64, error) {
	return appendWith(func(ctx context.Context, stream string, expected int64) (int64, error) {
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback()
		v, err := r.appendIn(ctx, tx, stream, expected)
		if err != nil {
			return 0, err
		}
		return v, tx.Commit()
	})
}

// grouped is the baseline "grouped": group commit written by hand with
// the driver (package rawgroup), the least a library's group commit can
// cost; a conflict is answered at once, and nothing of it is written.
func (r *rawSQLite) grouped(c *rawgroup.Committer) func(context.Context, string) (int64, error) {
	return appendWith(func(ctx context.Context, stream string, expected int64) (int64, error) {
		var v int64
		err := c.Do(ctx, func(tx *sql.Tx) error {
			var err error
			v, err = r.appendIn(context.Background(), tx, stream, expected)
			return err
		})
		return v, err
	})
}
