package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
)

// CustomerOrders is the name of the read model of orders per customer: a
// projection of order events into the SQL table customer_orders, one row
// per order, committed with the projection's checkpoint. The table is
// created by the projection's first migration (annals.WithSchema).
const CustomerOrders = "customer-orders"

// newCustomerOrders returns the projection. A store without SQL tables
// (the memory store) fails with an error matching store.ErrUnsupported.
func newCustomerOrders(s *annals.Store, events codec.Mapper[OrderEvent]) (*annals.Projection[*sql.Tx], error) {
	return annals.NewProjection(s, CustomerOrders, events, projectOrder, annals.WithSchema(
		func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `
				CREATE TABLE customer_orders (
					order_id    TEXT PRIMARY KEY,
					customer    TEXT NOT NULL,
					items       INTEGER NOT NULL,
					total_cents INTEGER NOT NULL,
					status      TEXT NOT NULL
				);
				CREATE INDEX customer_orders_by_customer ON customer_orders (customer)`)
			return err
		},
	))
}

// projectOrder folds an order event into the order's row with the order
// decider's own Evolve, so the row is the order's state and no event type
// needs a case of its own here.
func projectOrder(ctx context.Context, tx *sql.Tx, ev annals.Envelope[OrderEvent]) error {
	id := strings.TrimPrefix(ev.StreamID, orderPrefix)
	var o Order
	err := tx.QueryRowContext(ctx, `SELECT status, customer, items, total_cents FROM customer_orders WHERE order_id = ?`, id).
		Scan(&o.Status, &o.Customer, &o.Items, &o.TotalCents)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read order %s: %w", id, err)
	}
	o = OrderDecider.Evolve(o, ev.Event)
	_, err = tx.ExecContext(ctx, `
		INSERT INTO customer_orders (order_id, customer, items, total_cents, status) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET
			customer = excluded.customer, items = excluded.items,
			total_cents = excluded.total_cents, status = excluded.status`,
		id, o.Customer, o.Items, o.TotalCents, o.Status)
	if err != nil {
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

// queryCustomers reads the summaries of customers, by customer, from the
// read model.
func queryCustomers(ctx context.Context, db *sql.DB, customers []string) ([]CustomerSummary, error) {
	if len(customers) == 0 {
		return nil, nil
	}
	args := make([]any, len(customers))
	for i, c := range customers {
		args[i] = c
	}
	rows, err := db.QueryContext(ctx, `
		SELECT customer, COUNT(*),
			SUM(status = 'shipped'), SUM(status = 'cancelled'),
			SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE items END),
			SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE total_cents END)
		FROM customer_orders
		WHERE customer IN (?`+strings.Repeat(", ?", len(customers)-1)+`)
		GROUP BY customer ORDER BY customer`, args...)
	if err != nil {
		return nil, err
	}
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
