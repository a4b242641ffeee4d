package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/samber/lo"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
)

// CustomerOrders is the name of the read model of orders per customer: a
// projection of order events into the SQL table customer_orders, one row
// per order, committed with the projection's checkpoint. The table is
// created by the projection's first migration (annals.WithSchema).
const CustomerOrders = "customer-orders"

// The read model's SQL, in what SQLite and PostgreSQL share: $n
// parameters, ON CONFLICT … DO UPDATE, and CASE rather than summing
// booleans, which PostgreSQL does not.
const (
	createCustomerOrders = `CREATE TABLE customer_orders (
		order_id    TEXT PRIMARY KEY,
		customer    TEXT NOT NULL,
		items       INTEGER NOT NULL,
		total_cents INTEGER NOT NULL,
		status      TEXT NOT NULL
	)`
	indexCustomerOrders = `CREATE INDEX customer_orders_by_customer ON customer_orders (customer)`
	selectOrderRow      = `SELECT status, customer, items, total_cents FROM customer_orders WHERE order_id = $1`
	upsertOrderRow      = `INSERT INTO customer_orders (order_id, customer, items, total_cents, status) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (order_id) DO UPDATE SET
			customer = excluded.customer, items = excluded.items,
			total_cents = excluded.total_cents, status = excluded.status`
	sumCustomers = `SELECT customer, COUNT(*),
			SUM(CASE WHEN status = 'shipped' THEN 1 ELSE 0 END),
			SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END),
			SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE items END),
			SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE total_cents END)
		FROM customer_orders
		WHERE customer IN (%s)
		GROUP BY customer ORDER BY customer`
)

// customerQuery reads the summaries of customers from the read model.
type customerQuery func(ctx context.Context, customers []string) ([]CustomerSummary, error)

// newCustomerOrders returns the projection for the SQL adapter of s, and
// the query that reads its table. A projection's handler takes the
// adapter's own transaction, *sql.Tx on SQLite and pgx.Tx on PostgreSQL,
// so the read model has one handler for each, around the same SQL; the
// store refuses the one that is not its own with store.ErrUnsupported. A
// store without SQL tables (the memory store) refuses both, and so does
// newCustomerOrders.
func newCustomerOrders(s *annals.Store, events codec.Mapper[OrderEvent]) (annals.Consumer, customerQuery, error) {
	lite, err := annals.NewProjection(s, CustomerOrders, events, projectOrderSQLite, annals.WithSchema(
		func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, createCustomerOrders); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, indexCustomerOrders)
			return err
		},
	))
	if err == nil {
		db, err := annals.ReadDB[*sql.DB](s)
		if err != nil {
			return nil, nil, err
		}
		return lite, func(ctx context.Context, customers []string) ([]CustomerSummary, error) {
			rows, err := db.QueryContext(ctx, sumCustomersOf(len(customers)), anys(customers)...)
			if err != nil {
				return nil, err
			}
			return scanSummaries(rows)
		}, nil
	}
	if !errors.Is(err, store.ErrUnsupported) {
		return nil, nil, err
	}
	pg, pgErr := annals.NewProjection(s, CustomerOrders, events, projectOrderPostgres, annals.WithSchema(
		func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, createCustomerOrders); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, indexCustomerOrders)
			return err
		},
	))
	switch {
	case errors.Is(pgErr, store.ErrUnsupported):
		return nil, nil, fmt.Errorf("%w; nor %w", err, pgErr)
	case pgErr != nil:
		return nil, nil, pgErr
	}
	pool, err := annals.ReadDB[*pgxpool.Pool](s)
	if err != nil {
		return nil, nil, err
	}
	return pg, func(ctx context.Context, customers []string) ([]CustomerSummary, error) {
		rows, err := pool.Query(ctx, sumCustomersOf(len(customers)), anys(customers)...)
		if err != nil {
			return nil, err
		}
		return scanSummaries(pgRows{rows})
	}, nil
}

// projectOrderSQLite and projectOrderPostgres fold an order event into
// the order's row, each with its adapter's transaction.
func projectOrderSQLite(ctx context.Context, tx *sql.Tx, ev annals.Envelope[OrderEvent]) error {
	return foldOrder(ev,
		func(id string, o *Order) error {
			err := tx.QueryRowContext(ctx, selectOrderRow, id).Scan(&o.Status, &o.Customer, &o.Items, &o.TotalCents)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		},
		func(id string, o Order) error {
			_, err := tx.ExecContext(ctx, upsertOrderRow, id, o.Customer, o.Items, o.TotalCents, o.Status)
			return err
		})
}

func projectOrderPostgres(ctx context.Context, tx pgx.Tx, ev annals.Envelope[OrderEvent]) error {
	return foldOrder(ev,
		func(id string, o *Order) error {
			err := tx.QueryRow(ctx, selectOrderRow, id).Scan(&o.Status, &o.Customer, &o.Items, &o.TotalCents)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		},
		func(id string, o Order) error {
			_, err := tx.Exec(ctx, upsertOrderRow, id, o.Customer, o.Items, o.TotalCents, o.Status)
			return err
		})
}

// foldOrder folds an order event into the order's row with the order
// decider's own Evolve, so the row is the order's state and no event type
// needs a case of its own here: read fills the row, left as it is when
// there is none, and write stores it.
func foldOrder(ev annals.Envelope[OrderEvent], read func(id string, o *Order) error, write func(id string, o Order) error) error {
	id := strings.TrimPrefix(ev.StreamID, orderPrefix)
	var o Order
	if err := read(id, &o); err != nil {
		return fmt.Errorf("read order %s: %w", id, err)
	}
	o = OrderDecider.Evolve(o, ev.Event)
	if err := write(id, o); err != nil {
		return fmt.Errorf("write order %s: %w", id, err)
	}
	return nil
}

// CustomerSummary is one customer's line of the read model.
type CustomerSummary struct {
	Customer string
	// Orders counts every order; Shipped and Cancelled those that were.
	Orders, Shipped, Cancelled int
	// Items and TotalCents add up the orders that were not cancelled.
	Items, TotalCents int
}

// String writes the summary as main prints it.
func (c CustomerSummary) String() string {
	return fmt.Sprintf("%d %s (%d shipped, %d cancelled), %d items, %s",
		c.Orders, plural(c.Orders, "order"), c.Shipped, c.Cancelled, c.Items, formatCents(c.TotalCents))
}

// sumCustomersOf is sumCustomers for n customers, $1 to $n.
func sumCustomersOf(n int) string {
	params := make([]string, n)
	for i := range params {
		params[i] = "$" + strconv.Itoa(i+1)
	}
	return fmt.Sprintf(sumCustomers, strings.Join(params, ", "))
}

func anys(ss []string) []any {
	return lo.Map(ss, func(s string, _ int) any { return s })
}

// summaryRows is what scanSummaries reads: *sql.Rows, or pgx's rows.
type summaryRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// pgRows gives pgx.Rows the Close of *sql.Rows.
type pgRows struct{ pgx.Rows }

func (r pgRows) Close() error { r.Rows.Close(); return nil }

// scanSummaries reads the rows of sumCustomers, and closes them.
func scanSummaries(rows summaryRows) ([]CustomerSummary, error) {
	defer rows.Close()
	var out []CustomerSummary
	for rows.Next() {
		var c CustomerSummary
		if err := rows.Scan(&c.Customer, &c.Orders, &c.Shipped, &c.Cancelled, &c.Items, &c.TotalCents); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
