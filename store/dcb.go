package store

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/samber/lo"
)

// Limits on tags and queries. Longer or more values are rejected with
// [ErrInvalid] rather than cut.
const (
	// MaxTags bounds the tags of one event.
	MaxTags = 32
	// MaxTagLen bounds the length of a tag, in bytes.
	MaxTagLen = 255
	// MaxQueryItems bounds the items of a [Query].
	MaxQueryItems = 64
	// MaxItemTypes bounds the types of one [QueryItem].
	MaxItemTypes = 64
)

// A QueryItem matches the events whose type is one of Types and whose tags
// include every one of Tags: types are OR'd, tags AND'd. An item with no
// Types matches events of any type; an item must name a type or a tag.
type QueryItem struct {
	Types []string
	Tags  []string
}

// A Query matches the tagged events that match any of its items. A Query
// with no items matches every tagged event (the specification's
// Query.all()).
//
// Queries see tagged events only: an event appended without tags belongs
// to its stream alone, and no query finds it. That is why [DCB.AppendIf]
// refuses an event without a tag.
type Query struct {
	Items []QueryItem
}

// QueryAll returns the query that matches every tagged event.
func QueryAll() Query { return Query{} }

// QueryItems returns the query made of items (the specification's
// Query.fromItems).
func QueryItems(items ...QueryItem) Query { return Query{Items: items} }

// Or returns the query that matches what q or any of others matches: the
// union of their items. A query that matches everything makes the union
// match everything.
func (q Query) Or(others ...Query) Query {
	if len(q.Items) == 0 {
		return Query{}
	}
	items := slices.Clone(q.Items)
	for _, o := range others {
		if len(o.Items) == 0 {
			return Query{}
		}
		items = append(items, o.Items...)
	}
	return Query{Items: items}
}

// Matches reports whether an event of type typ with tags matches q.
func (q Query) Matches(typ string, tags []string) bool {
	if len(tags) == 0 {
		return false
	}
	if len(q.Items) == 0 {
		return true
	}
	return slices.ContainsFunc(q.Items, func(it QueryItem) bool { return it.Matches(typ, tags) })
}

// Matches reports whether an event of type typ with tags matches the item.
func (it QueryItem) Matches(typ string, tags []string) bool {
	if len(tags) == 0 {
		return false
	}
	if len(it.Types) > 0 && !slices.Contains(it.Types, typ) {
		return false
	}
	for _, t := range it.Tags {
		if !slices.Contains(tags, t) {
			return false
		}
	}
	return true
}

// String shows the item as types and tags, such as
// (CourseDefined|CourseRenamed)[course:c1]. A type or tag that is not
// plain text (empty, not UTF-8, with a space, a control character or one
// of |[]()") is quoted, and one longer than 64 bytes is shown by its
// first 32 characters and its length, so that an error naming the query
// stays one readable line whatever the query holds.
func (it QueryItem) String() string {
	var b strings.Builder
	if len(it.Types) > 0 {
		b.WriteString("(" + strings.Join(lo.Map(it.Types, shown), "|") + ")")
	} else {
		b.WriteString("(any type)")
	}
	if len(it.Tags) > 0 {
		b.WriteString("[" + strings.Join(lo.Map(it.Tags, shown), " ") + "]")
	}
	return b.String()
}

// shown is a type or tag as QueryItem.String shows it.
func shown(s string, _ int) string {
	if len(s) > 64 {
		return fmt.Sprintf("%.32q… (%d bytes)", s, len(s))
	}
	plain := s != "" && utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune(`|[]()"`, r)
	})
	if plain {
		return s
	}
	return strconv.Quote(s)
}

// String shows the items joined by " OR ", or "all" for the query that
// matches every tagged event.
func (q Query) String() string {
	if len(q.Items) == 0 {
		return "all"
	}
	parts := make([]string, len(q.Items))
	for i, it := range q.Items {
		parts[i] = it.String()
	}
	return strings.Join(parts, " OR ")
}

// An AppendCondition makes an append fail when an event that matches
// FailIfEventsMatch is in the log after position After. A decision reads
// the events of its query, and appends with that query and the position of
// the last event it read: the append then fails if anything it would have
// read has been appended since. After 0 means that no matching event may
// exist at all (the specification's condition without a position: log
// positions start at 1). A position past the head of the log, which no
// read can have reached, is refused with [ErrInvalid]: taken, it would let
// through an append that the events after it conflict with.
type AppendCondition struct {
	FailIfEventsMatch Query
	After             int64
}

// DCB is the capability of a store to read events by query and append
// with a condition: dynamic consistency boundaries (dcb.events). Tagged
// events live in the one global log beside every other event: streams,
// consumers and copies see them like any other. Every adapter of this
// module implements it, and the root package's Store handle exposes it.
//
// Implementations are safe for concurrent use. Two appends whose
// conditions would both fail if either saw the other's events never both
// succeed, and the global log shows successful conditional appends in an
// order in which each one's condition held.
type DCB interface {
	// ReadQuery yields the tagged events that match q with positions
	// greater than after, in position order. Every matching event
	// committed before the call is yielded. Stopping early is fine: the
	// position of the last event yielded is what an append condition
	// needs. An invalid query fails with [ErrInvalid].
	ReadQuery(ctx context.Context, q Query, after int64) iter.Seq2[Record, error]

	// AppendIf appends events to a stream, as Append does with expected,
	// if no event matching cond.FailIfEventsMatch has a position greater
	// than cond.After; the check and the append are atomic. A failed
	// condition is an error that matches [ErrConflict] and is a
	// [*ConditionError] naming the query item that matched; nothing is
	// written. Every event must carry at least one tag, or no query could
	// find it: an event without one fails with [ErrInvalid]. The outcomes
	// are those of Append.
	AppendIf(ctx context.Context, streamID string, expected int64, events []Event, cond AppendCondition) (int64, error)
}

// ConditionError is the error of an append whose condition failed: an
// event matching the condition's query was appended after its position.
// It matches [ErrConflict] with errors.Is. Nothing was written.
type ConditionError struct {
	StreamID  string
	Condition AppendCondition
	// Item is the index of the first query item that matched an event
	// after the position; -1 when the query has no items (it matches
	// every tagged event).
	Item int
	// Position is the position of the first such event, or 0 when the
	// store knows the event but has not given it a position yet (a
	// store that numbers the log after commit).
	Position int64
}

// Error names the stream, the query item that matched and where.
func (e *ConditionError) Error() string {
	what := "the query " + e.Condition.FailIfEventsMatch.String()
	if e.Item >= 0 && e.Item < len(e.Condition.FailIfEventsMatch.Items) {
		what = fmt.Sprintf("query item %d %s", e.Item, e.Condition.FailIfEventsMatch.Items[e.Item])
	}
	at := "not numbered yet"
	if e.Position > 0 {
		at = fmt.Sprintf("at position %d", e.Position)
	}
	return fmt.Sprintf("append to stream %q: an event matching %s was appended after position %d (%s): %v",
		e.StreamID, what, e.Condition.After, at, ErrConflict)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConditionError) Is(target error) bool { return target == ErrConflict }
