package codec_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals/codec"
)

type (
	orderLine struct {
		SKU      string `json:"sku"`
		Name     string `json:"name"`
		Quantity int    `json:"quantity"`
		Cents    int64  `json:"cents"`
	}
	orderPlaced struct {
		OrderID    string      `json:"order_id"`
		CustomerID string      `json:"customer_id"`
		Lines      []orderLine `json:"lines"`
		Note       string      `json:"note,omitempty"`
		Tags       []string    `json:"tags,omitempty"`
		At         time.Time   `json:"at"`
	}
	// tagged has a field of type any, whose content Encode checks.
	tagged struct {
		Order orderPlaced    `json:"order"`
		Attrs map[string]any `json:"attrs"`
	}
	// total is zero, by its IsZero, when it holds no cents.
	total struct {
		Cents    int64  `json:"cents"`
		Currency string `json:"currency"`
	}
	// priced has a field tagged omitzero whose IsZero Encode checks.
	priced struct {
		Order orderPlaced `json:"order"`
		Total total       `json:"total,omitzero"`
	}
)

func (t total) IsZero() bool { return t.Cents == 0 }

// BenchmarkEncode is the encode of an event by [codec.JSON]: a typical
// one (ids, three lines, a note, tags, a time), one that carries a long
// text, one with fields of type any, and one with a field tagged omitzero
// whose type has an IsZero method.
func BenchmarkEncode(b *testing.B) {
	c := codec.NewJSON[any]().Register("OrderPlaced", orderPlaced{}).Register("Tagged", tagged{}).Register("Priced", priced{})
	if err := c.Err(); err != nil {
		b.Fatal(err)
	}
	typical := orderPlaced{
		OrderID:    "ord-01890a5d-ac96-774b",
		CustomerID: "cust-4711",
		Lines: []orderLine{
			{SKU: "BK-978-0", Name: "The Go Programming Language", Quantity: 1, Cents: 3999},
			{SKU: "MG-001", Name: "Mug, blue", Quantity: 2, Cents: 1250},
			{SKU: "ST-042", Name: "Stickers (pack of 10)", Quantity: 1, Cents: 499},
		},
		Note: "Leave at the door, please — ring twice.",
		Tags: []string{"gift", "express"},
		At:   time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC),
	}
	text := typical
	text.Note = strings.Repeat("A long note with some text in it, and ünïcödé too. ", 80)
	for _, bc := range []struct {
		name string
		e    any
	}{{"typical", typical}, {"text", text}, {"any", tagged{Order: typical, Attrs: map[string]any{"channel": "web", "lines": typical.Lines}}},
		{"omitzero", priced{Order: typical, Total: total{Cents: 6998, Currency: "EUR"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, _, err := c.Encode(bc.e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFromSnapshot reads the snapshot of a state of 100 orders: the
// codec's decode with its shape check, against encoding/json's decode of
// the same bytes, the raw baseline.
func BenchmarkFromSnapshot(b *testing.B) {
	type book struct {
		Orders map[string]orderPlaced `json:"orders"`
		Total  int64                  `json:"total"`
	}
	st := book{Orders: map[string]orderPlaced{}}
	for i := range 100 {
		st.Orders[fmt.Sprint("ord-", i)] = orderPlaced{OrderID: fmt.Sprint("ord-", i), CustomerID: "cust-4711",
			Lines: []orderLine{{SKU: "BK-978-0", Name: "The Go Programming Language", Quantity: 1, Cents: 3999}, {SKU: "MG-001", Name: "Mug", Quantity: 2, Cents: 1250}},
			At:    time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC)}
	}
	c := codec.NewJSON[book]().Register("Book", book{})
	snap, err := c.ToSnapshot(context.Background(), "books", 1, st)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("codec", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.FromSnapshot(context.Background(), snap); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var v book
			if err := json.Unmarshal(snap.Data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
