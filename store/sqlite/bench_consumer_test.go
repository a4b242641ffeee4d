package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/workload"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// BenchmarkCatchUp rebuilds read models over the global log of 100,000
// events, in pages of 500 with the checkpoint committed per page:
//
//   - decode: a annals.Projection whose handler decodes each event and
//     writes nothing, against reading the log raw (raw-read);
//   - view: a annals.ViewProjection keeping each account's state in the
//     store, against raw-read and raw-states, which per page loads the
//     states the page touches from a table like the store's, folds the
//     events and upserts them with the checkpoint in one transaction;
//   - process: a annals.SagaRunner of a process whose events go to 500
//     instances in turn, so that each page meets 500 stored states, and
//     that sends no command (workload.CatchUpProcess), against raw-read;
//   - sql: a annals.Projection through Store.SQL inserting a row per event
//     into the application's table, against raw-read and raw-insert,
//     which does the same inserts and checkpoint per page by hand.
func BenchmarkCatchUp(b *testing.B) {
	ctx := context.Background()
	s, db, want := seededLog(b)
	perStream := want.Events / min(workload.LogStreams, want.Events)
	name := func(model, variant string) string {
		return fmt.Sprintf("sqlite/events=%d/%s/%s", want.Events, model, variant)
	}
	rawRead := func(b *testing.B) {
		page := db.prepare(b, db.r, rawLogPage)
		workload.Loop(b, want.Events, func(int) error {
			t, err := rawReadLog(ctx, page, nil)
			if err != nil {
				return err
			}
			return workload.Check("raw read", t, want)
		})
	}
	exec := func(b *testing.B, query string) {
		if _, err := db.w.ExecContext(ctx, query); err != nil {
			b.Fatal(err)
		}
	}
	exec(b, `CREATE TABLE raw_view_states (view_name TEXT NOT NULL, state_key TEXT NOT NULL, data BLOB NOT NULL,
		PRIMARY KEY (view_name, state_key)) STRICT, WITHOUT ROWID`)
	exec(b, `CREATE TABLE deposits (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, amount INTEGER NOT NULL) STRICT`)
	const (
		insertDeposit = `INSERT INTO deposits (position, stream, amount) VALUES (?, ?, ?)`
		rawCheckpoint = `INSERT INTO annals_checkpoints (consumer, position, recorded_at) VALUES (?, ?, ?)
			ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, recorded_at = excluded.recorded_at`
	)

	b.Run(name("decode", "lib"), func(b *testing.B) {
		catchUp := workload.CatchUpDecode(ctx, annals.New(s))
		workload.Loop(b, want.Events, func(int) error {
			t, err := catchUp()
			if err != nil {
				return err
			}
			return workload.Check("projection", t, want)
		})
	})
	b.Run(name("decode", "raw-read"), rawRead)

	b.Run(name("view", "lib"), func(b *testing.B) {
		catchUp := workload.CatchUpView(ctx, annals.New(s), perStream)
		workload.Loop(b, want.Events, func(int) error { return catchUp() })
	})
	b.Run(name("view", "raw-read"), rawRead)
	b.Run(name("view", "raw-states"), func(b *testing.B) {
		page := db.prepare(b, db.r, rawLogPage)
		load := db.prepare(b, db.w, `SELECT data FROM raw_view_states WHERE view_name = 'accounts' AND state_key = ?`)
		save := db.prepare(b, db.w, `INSERT INTO raw_view_states (view_name, state_key, data) VALUES ('accounts', ?, ?)
			ON CONFLICT (view_name, state_key) DO UPDATE SET data = excluded.data`)
		checkpoint := db.prepare(b, db.w, rawCheckpoint)
		wantState := workload.AccountAt(perStream)
		workload.Loop(b, want.Events, func(int) error {
			if _, err := db.w.ExecContext(ctx, `DELETE FROM raw_view_states`); err != nil {
				return err
			}
			var events []rawEvent
			var err error
			t, rerr := rawReadLog(ctx, page, func(r rawEvent) {
				events = append(events, r)
				if len(events) == workload.Page {
					err = errors.Join(err, rawFold(ctx, db, load, save, checkpoint, events))
					events = events[:0]
				}
			})
			if err == nil && len(events) > 0 {
				err = rawFold(ctx, db, load, save, checkpoint, events)
			}
			if err = errors.Join(err, rerr); err != nil {
				return err
			}
			var data []byte
			if err := db.r.QueryRowContext(ctx, `SELECT data FROM raw_view_states WHERE state_key = ?`, workload.StreamID(0, 1)).Scan(&data); err != nil {
				return err
			}
			var a workload.Account
			if err := json.Unmarshal(data, &a); err != nil {
				return err
			}
			if err := workload.CheckAccount(a, wantState); err != nil {
				return err
			}
			return workload.Check("raw states", t, want)
		})
	})

	b.Run(name("process", "lib"), func(b *testing.B) {
		catchUp := workload.CatchUpProcess(ctx, annals.New(s), want.Events)
		workload.Loop(b, want.Events, func(int) error { return catchUp() })
	})
	b.Run(name("process", "raw-read"), rawRead)

	b.Run(name("sql", "lib"), func(b *testing.B) {
		codec := workload.Codec()
		var cur *sql.Tx
		var ins *sql.Stmt
		p := must(annals.NewRecordProjection(annals.New(s), "deposits", func(ctx context.Context, tx *sql.Tx, r store.Record) error {
			e, err := codec.FromRecord(ctx, r)
			if err != nil {
				return err
			}
			if tx != cur {
				if ins, err = tx.PrepareContext(ctx, insertDeposit); err != nil {
					return err
				}
				cur = tx
			}
			_, err = ins.ExecContext(ctx, r.Position, r.StreamID, amount(e))
			return err
		}, annals.WithoutLease()))
		workload.Loop(b, want.Events, func(int) error {
			return p.Rebuild(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM deposits`)
				return err
			}, nil)
		})
	})
	b.Run(name("sql", "raw-read"), rawRead)
	b.Run(name("sql", "raw-insert"), func(b *testing.B) {
		page := db.prepare(b, db.r, rawLogPage)
		ins := db.prepare(b, db.w, insertDeposit)
		checkpoint := db.prepare(b, db.w, rawCheckpoint)
		workload.Loop(b, want.Events, func(int) error {
			if _, err := db.w.ExecContext(ctx, `DELETE FROM deposits`); err != nil {
				return err
			}
			var events []rawEvent
			insert := func() error {
				tx, err := db.w.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				txIns := tx.StmtContext(ctx, ins)
				for _, r := range events {
					if _, err := txIns.ExecContext(ctx, r.position, r.stream, amount(r.event)); err != nil {
						return err
					}
				}
				if _, err := tx.StmtContext(ctx, checkpoint).ExecContext(ctx, "raw-deposits", events[len(events)-1].position, time.Now().UnixNano()); err != nil {
					return err
				}
				events = events[:0]
				return tx.Commit()
			}
			var err error
			t, rerr := rawReadLog(ctx, page, func(r rawEvent) {
				events = append(events, r)
				if len(events) == workload.Page {
					err = errors.Join(err, insert())
				}
			})
			if err == nil && len(events) > 0 {
				err = insert()
			}
			if err = errors.Join(err, rerr); err != nil {
				return err
			}
			return workload.Check("raw inserts", t, want)
		})
	})
}

func amount(e workload.Event) int64 {
	if d, ok := e.(workload.Deposited); ok {
		return d.Amount
	}
	return 0
}

// rawFold applies a page of events to the states in raw_view_states and
// moves the checkpoint, in one transaction.
func rawFold(ctx context.Context, db rawDB, load, save, checkpoint *sql.Stmt, events []rawEvent) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	states := map[string]workload.Account{}
	var keys []string
	txLoad := tx.StmtContext(ctx, load)
	for _, r := range events {
		a, ok := states[r.stream]
		if !ok {
			var data []byte
			err := txLoad.QueryRowContext(ctx, r.stream).Scan(&data)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			default:
				if err := json.Unmarshal(data, &a); err != nil {
					return err
				}
			}
			keys = append(keys, r.stream)
		}
		states[r.stream] = workload.Evolve(a, r.event)
	}
	txSave := tx.StmtContext(ctx, save)
	for _, k := range keys {
		data, err := json.Marshal(states[k])
		if err != nil {
			return err
		}
		if _, err := txSave.ExecContext(ctx, k, data); err != nil {
			return err
		}
	}
	if _, err := tx.StmtContext(ctx, checkpoint).ExecContext(ctx, "raw-accounts", events[len(events)-1].position, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkSnapshot saves and loads a snapshot of about 1 KiB, through the
// store and by hand with the same statements on the same connections.
func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	s := openStore(b, SyncNormal)
	for _, g := range []*stmtGroup{&s.snapshotReads, &s.snapshotWrites} { // the raw baselines use them
		if err := s.prepare(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	snap := snapshot.Snapshot{StreamID: "account-1", Type: "Account", SchemaVersion: 1, Time: time.Now().UTC(), Data: make([]byte, 1024)}
	var version int64
	b.Run("sqlite/save/lib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			version++
			snap.Version = version
			if err := s.SaveSnapshot(ctx, snap); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sqlite/save/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			version++
			if _, err := s.saveSnapshot.ExecContext(ctx, snap.StreamID, version, snap.Type, int64(1), snap.Time.UnixNano(), snap.Data, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sqlite/load/lib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := s.LatestSnapshot(ctx, "account-1"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("sqlite/load/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v, sv int64
			var typ, enc string
			var taken sql.NullInt64
			var data []byte
			if err := s.latestSnapshot.QueryRowContext(ctx, "account-1").Scan(&v, &typ, &sv, &taken, &data, &enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
