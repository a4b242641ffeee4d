package store_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/store"
)

// A query shows as one line of valid, printable text, however long or
// strange its types and tags (raw bytes, NULs, a 100 KB tag), with about
// a hundred bytes at most for each of them; plain ones show as they are.
func TestQueryStringIsOneReadableLine(t *testing.T) {
	plain := rapid.StringMatching(`[a-zA-Z0-9:/_.-]{1,64}`)
	value := rapid.OneOf(
		plain,
		rapid.String(),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 200), func(b []byte) string { return string(b) }),
		rapid.Map(rapid.IntRange(65, 100_000), func(n int) string { return strings.Repeat("x", n) }),
	)
	rapid.Check(t, func(t *rapid.T) {
		items := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) store.QueryItem {
			return store.QueryItem{
				Types: rapid.SliceOfN(value, 0, 3).Draw(t, "types"),
				Tags:  rapid.SliceOfN(value, 0, 3).Draw(t, "tags"),
			}
		}), 1, 3).Draw(t, "items")
		q := store.Query{Items: items}
		got := q.String()
		if !utf8.ValidString(got) || strings.ContainsFunc(got, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
			t.Fatalf("%q is not one line of printable text", got)
		}
		values := 0
		for _, it := range items {
			values += len(it.Types) + len(it.Tags) + 1
			for _, v := range append(it.Types, it.Tags...) {
				if len(v) <= 64 && isPlain(v) && !strings.Contains(got, v) {
					t.Fatalf("%q does not show the plain value %q as it is", got, v)
				}
			}
		}
		if limit := values*110 + len(items)*20; len(got) > limit {
			t.Fatalf("the query shows in %d bytes, more than %d for its %d values", len(got), limit, values)
		}
	})
}

func isPlain(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":/_.-", r))
	})
}

func TestQueryStringShowsPlainValuesAsTheyAre(t *testing.T) {
	q := store.Query{Items: []store.QueryItem{
		{Types: []string{"CourseDefined", "CourseRenamed"}, Tags: []string{"course:c1"}},
		{Tags: []string{"bucket:\x00", "a b", strings.Repeat("y", 300)}},
	}}
	want := `(CourseDefined|CourseRenamed)[course:c1] OR (any type)["bucket:\x00" "a b" "` + strings.Repeat("y", 32) + `"… (300 bytes)]`
	if got := q.String(); got != want {
		t.Fatalf("String() = %s\nwant        %s", got, want)
	}
}
