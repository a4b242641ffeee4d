package memory

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sort"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// taggedIndex finds tagged events by tag and by type: each list holds the
// log indexes (position-1) of the tagged events with that tag or type, in
// log order, so a query costs in proportion to the events of its
// shortest list, not to the log.
type taggedIndex struct {
	byTag  map[string][]int
	byType map[string][]int
	all    []int
}

func (x *taggedIndex) add(i int, r store.Record) {
	if len(r.Tags) == 0 {
		return
	}
	if x.byTag == nil {
		x.byTag, x.byType = map[string][]int{}, map[string][]int{}
	}
	for _, t := range r.Tags {
		x.byTag[t] = append(x.byTag[t], i)
	}
	x.byType[r.Type] = append(x.byType[r.Type], i)
	x.all = append(x.all, i)
}

// candidates returns the lists among which the events matching an item
// are: the list of its rarest tag, or those of its types.
func (x *taggedIndex) candidates(it store.QueryItem) [][]int {
	if len(it.Tags) > 0 {
		shortest := x.byTag[it.Tags[0]]
		for _, t := range it.Tags[1:] {
			if l := x.byTag[t]; len(l) < len(shortest) {
				shortest = l
			}
		}
		return [][]int{shortest}
	}
	lists := make([][]int, 0, len(it.Types))
	for _, typ := range it.Types {
		lists = append(lists, x.byType[typ])
	}
	return lists
}

// match returns up to limit indexes from from on of the events matching q,
// in log order.
func (s *Store) match(q store.Query, from, limit int) []int {
	if len(q.Items) == 0 {
		l := s.tagged.all
		start := sort.SearchInts(l, from)
		return slices.Clone(l[start:min(len(l), start+limit)])
	}
	var out []int
	for _, it := range q.Items {
		for _, l := range s.tagged.candidates(it) {
			found := 0
			for _, i := range l[sort.SearchInts(l, from):] {
				if found == limit {
					break
				}
				if r := s.log.at(i); it.Matches(r.Type, r.Tags) {
					out = append(out, i)
					found++
				}
			}
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), limit)]
}

// queryChunk is how many records ReadQuery copies under one read lock.
const queryChunk = 64

// ReadQuery implements [store.DCB]. Like ReadStream, it copies the
// records in chunks, each under the read lock, and yields them with the
// lock released.
func (s *Store) ReadQuery(ctx context.Context, q store.Query, after int64) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		if err := check.ReadQuery(q, after); err != nil {
			yield(store.Record{}, err)
			return
		}
		next := int(after) // the log index of position after+1
		for {
			if err := ctx.Err(); err != nil {
				yield(store.Record{}, err)
				return
			}
			s.mu.RLock()
			if err := s.readable(fmt.Sprintf("read query %v after %d", q, after)); err != nil {
				s.mu.RUnlock()
				yield(store.Record{}, err)
				return
			}
			idx := s.match(q, next, queryChunk)
			chunk := make([]store.Record, len(idx))
			for j, i := range idx {
				chunk[j] = *s.log.at(i)
			}
			copyRecords(chunk)
			s.mu.RUnlock()
			for _, r := range chunk {
				if err := ctx.Err(); err != nil {
					yield(store.Record{}, err)
					return
				}
				if !yield(r, nil) {
					return
				}
			}
			if len(idx) < queryChunk {
				return
			}
			next = idx[len(idx)-1] + 1
		}
	}
}

// AppendIf implements [store.DCB]. The condition is checked and the events
// appended under one lock, so conditional appends are ordered one after
// the other.
func (s *Store) AppendIf(ctx context.Context, streamID string, expected int64, events []store.Event, cond store.AppendCondition) (int64, error) {
	if err := check.AppendIf(streamID, expected, events, cond); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var small [smallAppend]store.Record
	records, err := newRecords(streamID, events, small[:])
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(ctx); err != nil {
		return 0, err
	}
	if err := s.checkCondition(streamID, cond); err != nil {
		return 0, err
	}
	return s.appendLocked(streamID, expected, records)
}

// checkCondition returns a [*store.ConditionError] when an event matching
// cond's query is after its position. It holds s.mu.
func (s *Store) checkCondition(streamID string, cond store.AppendCondition) error {
	if err := check.ConditionPosition(streamID, cond.After, int64(s.log.len())); err != nil {
		return err
	}
	q := cond.FailIfEventsMatch
	if len(q.Items) == 0 {
		if m := s.match(q, int(cond.After), 1); len(m) > 0 {
			return &store.ConditionError{StreamID: streamID, Condition: cond, Item: -1, Position: int64(m[0]) + 1}
		}
		return nil
	}
	for i, it := range q.Items {
		if m := s.match(store.Query{Items: []store.QueryItem{it}}, int(cond.After), 1); len(m) > 0 {
			return &store.ConditionError{StreamID: streamID, Condition: cond, Item: i, Position: int64(m[0]) + 1}
		}
	}
	return nil
}

func cloneTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	return slices.Clone(tags)
}
