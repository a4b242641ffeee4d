package annals_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/store/sqlite"
)

// walletTotals is a read model in the application's own SQLite table: its
// handler gets each payment decoded, with the record it was stored as,
// inside the transaction that also moves the projection's checkpoint.
// WithSchema creates the table, then changes it, each migration once.
func walletTotals(s *annals.Store) (*annals.Projection[*sql.Tx], error) {
	// docs:begin sqlite
	totals, err := annals.NewProjection(s, "wallet-totals", walletCodec(),
		func(ctx context.Context, tx *sql.Tx, ev annals.Envelope[Paid]) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO wallet_totals (wallet, total, payments) VALUES (?, ?, 1)
				ON CONFLICT (wallet) DO UPDATE SET total = total + excluded.total, payments = payments + 1`,
				ev.StreamID, ev.Event.Amount)
			return err
		},
		annals.WithSchema(
			func(ctx context.Context, tx *sql.Tx) error { // schema version 1
				_, err := tx.ExecContext(ctx, `CREATE TABLE wallet_totals (wallet TEXT PRIMARY KEY, total INTEGER NOT NULL)`)
				return err
			},
			func(ctx context.Context, tx *sql.Tx) error { // schema version 2
				_, err := tx.ExecContext(ctx, `ALTER TABLE wallet_totals ADD COLUMN payments INTEGER NOT NULL DEFAULT 0`)
				return err
			},
		),
	)
	// docs:end sqlite
	return totals, err
}

// walletPayments is the same kind of read model on PostgreSQL, whose
// handlers get a pgx.Tx.
func walletPayments(s *annals.Store) (*annals.Projection[pgx.Tx], error) {
	// docs:begin postgres
	payments, err := annals.NewProjection(s, "wallet-payments", walletCodec(),
		func(ctx context.Context, tx pgx.Tx, ev annals.Envelope[Paid]) error {
			_, err := tx.Exec(ctx, `INSERT INTO wallet_payments (position, wallet, amount) VALUES ($1, $2, $3)`,
				ev.Position, ev.StreamID, ev.Event.Amount)
			return err
		},
		annals.WithSchema(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE wallet_payments (
				position bigint PRIMARY KEY, wallet text NOT NULL, amount bigint NOT NULL)`)
			return err
		}),
	)
	// docs:end postgres
	return payments, err
}

// A read model in the application's own table, on SQLite; its queries
// use the adapter's pool of readers, which annals.ReadDB reaches.
func ExampleNewProjection() {
	ctx := context.Background()
	// docs:begin sqlite-open
	s, err := annals.Open(ctx, "sqlite::memory:") // or sqlite:///path/app.db
	if err != nil {
		panic(err)
	}
	defer s.Close()
	// docs:end sqlite-open

	wallets := annals.NewRunner(s, wallet, walletCodec())
	for _, id := range []string{"ada", "bob", "ada"} {
		if _, err := wallets.Handle(ctx, id, Pay{Amount: 21}); err != nil {
			panic(err)
		}
	}
	totals, err := walletTotals(s)
	if err != nil {
		panic(err)
	}
	if _, err := totals.CatchUp(ctx); err != nil { // or Run(ctx), or a System
		panic(err)
	}

	// docs:begin sqlite-query
	db, err := annals.ReadDB[*sql.DB](s) // *pgxpool.Pool on PostgreSQL
	if err != nil {
		panic(err)
	}
	var total, payments int
	err = db.QueryRowContext(ctx, `SELECT total, payments FROM wallet_totals WHERE wallet = ?`, "ada").Scan(&total, &payments)
	// docs:end sqlite-query
	version, _ := s.Checkpoint(ctx, annals.SchemaConsumer("wallet-totals"))
	fmt.Println(total, payments, err, "; schema version", version)
	// Output: 42 2 <nil> ; schema version 2
}

// A projection's transaction type is the adapter's: a store that has no
// such transactions refuses it when the projection is built.
func TestReadModelNeedsItsAdapter(t *testing.T) {
	ctx := context.Background()
	if _, err := walletPayments(annals.New(memory.New())); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("a pgx.Tx projection on the memory store: %v; want store.ErrUnsupported", err)
	}
	db, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	s := annals.New(db)
	defer s.Close()
	if _, err := walletPayments(s); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("a pgx.Tx projection on SQLite: %v; want store.ErrUnsupported", err)
	}
	if _, err := walletTotals(s); err != nil {
		t.Errorf("a *sql.Tx projection on SQLite: %v", err)
	}
}
