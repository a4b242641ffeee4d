package annalsotel

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/annals-dev/annals/store"
)

// annals.query holds a query as its String shows it, and at most 1 KiB
// of a big one, cut on a rune's boundary, with its length and items.
func TestAnnalsQueryIsCutAtOneKiB(t *testing.T) {
	small := store.Query{Items: []store.QueryItem{{Types: []string{"SeatTaken"}, Tags: []string{"course:c1"}}}}
	if got := queryAttr(small).Value.AsString(); got != small.String() {
		t.Fatalf("a small query's attribute is %q, want %q", got, small.String())
	}
	var big store.Query
	for i := range store.MaxQueryItems {
		// Tags of two-byte runes, so that a cut at a byte count may
		// fall inside one.
		big.Items = append(big.Items, store.QueryItem{Tags: []string{fmt.Sprintf("é%d:%s", i, strings.Repeat("é", 120))}})
	}
	text := big.String()
	got := queryAttr(big).Value.AsString()
	i := strings.LastIndex(got, "… (")
	if i < 0 {
		t.Fatalf("the attribute %q is not cut", got)
	}
	head, tail := got[:i], got[i+len("… "):]
	if len(head) > maxQueryAttr || len(head) < maxQueryAttr-utf8.UTFMax || !strings.HasPrefix(text, head) {
		t.Fatalf("a %d-byte query's attribute is %d bytes: %.80q…", len(text), len(got), got)
	}
	if want := fmt.Sprintf("(%d bytes, %d items)", len(text), store.MaxQueryItems); tail != want {
		t.Fatalf("the attribute ends with %q, want %q", tail, want)
	}
	if !utf8.ValidString(got) {
		t.Fatal("the cut attribute is not valid UTF-8")
	}
}
