package proptest

import (
	"slices"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// A specification inside rapid.Check takes the property's *rapid.T. Each
// test below runs a property whose specification a wrong decider fails
// on some cases only, with a recorder as the test rapid reports to, and
// checks that the specification failed exactly the cases it should
// (rt.Failed, read in the property), and that rapid reported the
// failure once, shrunk: the last case rapid runs is the one it shrank
// to, and its report holds that case's failure.

// lenientTally is the tally with its limit off by one: it takes a
// fourth vote for an option.
func lenientTally() decider.Decider[vote, voted, tally] {
	d := tallyDecider()
	decide := d.Decide
	d.Decide = func(c vote, s tally) ([]voted, error) {
		if s.Votes[c.option] == 3 {
			return []voted{{Option: c.option}}, nil
		}
		return decide(c, s)
	}
	return d
}

func TestForReportsThroughTheRapidT(t *testing.T) {
	d := lenientTally()
	var history []voted
	var command vote
	failures := 0
	outer := &recorder{TB: t}
	rapid.Check(outer, func(rt *rapid.T) {
		options := rapid.SampledFrom([]string{"x", "y", "z"})
		given := rapid.SliceOfN(rapid.Custom(func(rt *rapid.T) voted {
			return voted{Option: options.Draw(rt, "option")}
		}), 0, 12).Draw(rt, "history")
		c := vote{option: options.Draw(rt, "command")}
		spec := For(rt, d).Given(given...).When(c)
		before := lo.CountBy(given, func(e voted) bool { return e.Option == c.option })
		if before >= 3 {
			spec.ThenError(errTooMany)
		} else {
			spec.Then(voted{Option: c.option})
		}
		if wrong := before == 3; rt.Failed() != wrong {
			t.Errorf("given %d votes for the option, the specification failed its case: %v, want %v", before, rt.Failed(), wrong)
		}
		if rt.Failed() {
			failures++
			history, command = given, c
		}
	})
	checkShrunkReport(t, outer, failures, func(tb testing.TB) {
		For(tb, d).Given(history...).When(command).ThenError(errTooMany)
	})
	// Shrunk, the history holds the three votes that make the fourth
	// wrong, and nothing else.
	if want := slices.Repeat([]voted{{Option: command.option}}, 3); !slices.Equal(history, want) {
		t.Errorf("rapid shrank the failing case to the history %v, want %v", history, want)
	}
}

// byInitial is lending with a careless boundary: copies are tagged, and
// loans queried, by the first letter of the ISBN, so that a copy of
// "alan" lets "ada" be lent.
func byInitial() annals.DCBDecider[lend, shelfLog, bool] {
	d := lending
	d.Query = func(c lend) store.Query {
		return store.QueryItems(store.QueryItem{Tags: []string{"copy:" + c.ISBN[:1]}})
	}
	d.Tags = func(e shelfLog) []string {
		return lo.Map(lending.Tags(e), func(tag string, _ int) string { return tag[:len("copy:")+1] })
	}
	return d
}

func TestForDCBReportsThroughTheRapidT(t *testing.T) {
	d, isbns := byInitial(), rapid.SampledFrom([]string{"ada", "alan", "bob", "barbara", "carl"})
	var copies []string
	var isbn string
	failures := 0
	outer := &recorder{TB: t}
	rapid.Check(outer, func(rt *rapid.T) {
		want := isbns.Draw(rt, "isbn")
		others := lo.Without(rapid.SliceOfN(isbns, 0, 8).Draw(rt, "copies"), want)
		ForDCB(rt, d, shelfMapper()).
			Given(lo.Map(others, func(isbn string, _ int) shelfLog { return copyAcquired(isbn) })...).
			When(lend{ISBN: want}).
			ThenError(errNoCopy)
		wrong := lo.SomeBy(others, func(isbn string) bool { return isbn[0] == want[0] })
		if rt.Failed() != wrong {
			t.Errorf("lending %q given copies of %q, the specification failed its case: %v, want %v", want, others, rt.Failed(), wrong)
		}
		if rt.Failed() {
			failures++
			copies, isbn = others, want
		}
	})
	checkShrunkReport(t, outer, failures, func(tb testing.TB) {
		ForDCB(tb, d, shelfMapper()).
			Given(lo.Map(copies, func(isbn string, _ int) shelfLog { return copyAcquired(isbn) })...).
			When(lend{ISBN: isbn}).
			ThenError(errNoCopy)
	})
	// Shrunk, the log holds one copy, of another book with the same
	// first letter.
	if len(copies) != 1 || copies[0][0] != isbn[0] {
		t.Errorf("rapid shrank the failing case to lending %q given copies of %q, want one copy of another book starting with the same letter", isbn, copies)
	}
}

// checkShrunkReport checks that the specification failed some case, and
// that rapid reported to outer one failure, holding that of the last
// case the property ran, which spec runs again.
func checkShrunkReport(t *testing.T, outer *recorder, failures int, spec func(tb testing.TB)) {
	t.Helper()
	if failures == 0 {
		t.Fatal("the specification failed no case: the wrong decider went unseen")
	}
	report := outer.output()
	if !strings.HasPrefix(report, "[rapid] failed after") {
		t.Fatalf("rapid reported:\n%s\nwant a failure it could reproduce", report)
	}
	if want := specFailure(t, "the shrunk case", spec); want == "" || !strings.Contains(report, want) {
		t.Errorf("rapid reported:\n%s\nwant the failure of the case it shrank to:\n%s", report, want)
	}
}

// A specification without a Then fails the case it was written in, not
// the next one rapid draws: rapid reproduces the failure instead of
// calling the property flaky.
func TestASpecWithoutThenFailsItsRapidCase(t *testing.T) {
	for name, spec := range map[string]func(rt *rapid.T, s string){
		"For":     func(rt *rapid.T, s string) { For(rt, lending.Decider).When(lend{ISBN: s}) },
		"ForDCB":  func(rt *rapid.T, s string) { ForDCB(rt, lending, shelfMapper()).When(lend{ISBN: s}) },
		"ForView": func(rt *rapid.T, s string) { ForView(rt, ballot).When(voted{Option: s}) },
		"ForSaga": func(rt *rapid.T, s string) { ForSaga(rt, thanks).When(voted{Option: s}) },
	} {
		t.Run(name, func(t *testing.T) {
			outer := &recorder{TB: t}
			rapid.Check(outer, func(rt *rapid.T) {
				spec(rt, rapid.StringMatching(`[a-z]{1,8}`).Draw(rt, "s"))
			})
			report := outer.output()
			if !strings.HasPrefix(report, "[rapid] failed after 0 tests") || !strings.Contains(report, "no Then") {
				t.Errorf("rapid reported:\n%s\nwant the first case failed for want of a Then", report)
			}
		})
	}
}
