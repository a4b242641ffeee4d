package proptest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
)

// DecidesAsOnTheWholeLog checks that a decider whose consistency
// boundary is a query reads every event its rules depend on. A
// specification of [ForDCB] checks the cases it names; a query that
// misses an event (a tag the query spells one way and Tags another, a
// type left out of an item) passes every case whose history lacks that
// event, and lets two racing decisions break the rule in production.
//
// Each run grows a log from nothing. At each step next draws, given the
// log so far, the events other deciders append first (a course's
// definition, a stream's events that the queries read; nil for none) and
// a command; the command is then decided twice:
//
//   - by d, on the events of the log its query matches, as a
//     [annals.DCBRunner] reads them (each named by m's type name, tagged
//     by d.Tags, the parts of a [annals.CombineDCB] decider each folded
//     from its own query's events);
//   - by whole, the same rules written plainly on the whole log.
//
// The two must agree: the same events, or two rejections, d's matching
// whole's with errors.Is (return the rule's sentinel error from whole)
// or with the same message. The accepted events join the log. A failure
// shows the command, its query's items, and the log with the items that
// matched each event, so that the one its query missed stands out.
//
// next decides what runs reach: draw the commands whose rules bite (a
// course that is full, a student at the limit) often enough. Runs are 0
// to [MaxCommands] steps long unless [Length] says otherwise. It takes
// testing.TB, not [T]: it is a whole property and runs rapid.Check
// itself, so a test calls it, never another property.
func DecidesAsOnTheWholeLog[C, E, S any](t testing.TB, d annals.DCBDecider[C, E, S], m codec.Mapper[E],
	whole func(log []E, cmd C) ([]E, error), next func(t *rapid.T, log []E) (given []E, cmd C), opts ...Option) {
	t.Helper()
	o := configure(opts)
	rapid.Check(t, func(t *rapid.T) {
		var log []E
		for step := range drawLength(t, o) {
			i := step + 1
			given, c := next(t, log)
			log = append(log, given...)
			state, matched, err := foldQuery(d, m, c, d.InitialState(), log)
			if err != nil {
				t.Fatalf("command %d, %s: the log cannot be read as a runner reads it: %v", i, show(c), err)
			}
			events, rejection := d.Decide(c, state)
			want, wantErr := whole(log, c)
			where := func() string {
				items := lo.Map(d.Query(c).Items, func(it store.QueryItem, j int) string { return fmt.Sprintf("item %d: %v", j+1, it) })
				return fmt.Sprintf("its query:\n  %s\nthe log, with the items that matched each event:\n%s", strings.Join(items, "\n  "), markLog(log, matched))
			}
			switch {
			case wantErr != nil && rejection == nil:
				t.Fatalf("command %d, %s: on the whole log it is rejected (%v), on its query's events it decides %s\n%s", i, show(c), wantErr, lines(events), where())
			case wantErr != nil && !errors.Is(rejection, wantErr) && rejection.Error() != wantErr.Error():
				t.Fatalf("command %d, %s: on the whole log it is rejected with %q, on its query's events with %q\n%s", i, show(c), wantErr, rejection, where())
			case wantErr == nil && rejection != nil:
				t.Fatalf("command %d, %s: on the whole log it decides %s, on its query's events it is rejected: %v\n%s", i, show(c), lines(want), rejection, where())
			case wantErr == nil && !sameList(want, events):
				t.Fatalf("command %d, %s: the whole log and its query's events decide apart (- whole log, + query):\n%s%s", i, show(c), diffLists(want, events), where())
			}
			log = append(log, events...)
		}
	})
}

// markLog renders the log one event a line, each with the query items
// that matched it.
func markLog[E any](log []E, matched [][]int) string {
	if len(log) == 0 {
		return "  (empty)"
	}
	var b strings.Builder
	for i, e := range log {
		items := "none"
		if len(matched[i]) > 0 {
			items = strings.Join(lo.Map(matched[i], func(j, _ int) string { return fmt.Sprint(j) }), ",")
		}
		fmt.Fprintf(&b, "  %d [items %s] %s\n", i+1, items, show(e))
	}
	return b.String()
}
