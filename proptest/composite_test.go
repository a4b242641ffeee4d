package proptest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

// A poll counts votes per option of many polls; a panel has many
// tallies too.
type (
	pollCommand = decider.Either[decider.Keyed[string, vote], decider.Keyed[string, vote]]
	pollEvent   = decider.Either[decider.Keyed[string, voted], decider.Keyed[string, voted]]
	pollState   = decider.Pair[map[string]tally, map[string]tally]
)

var polls = decider.Combine(decider.Many[string](tallyDecider()), decider.Many[string](tallyDecider()))

func votedCodec() *codec.JSON[voted] { return codec.NewJSON[voted]().Register("Voted", voted{}) }

var pollCommandGen = rapid.Custom(func(t *rapid.T) pollCommand {
	c := decider.Keyed[string, vote]{Key: rapid.SampledFrom([]string{"a", "b"}).Draw(t, "poll"), Value: voteGen.Draw(t, "vote")}
	if rapid.Bool().Draw(t, "panel") {
		return decider.Right[decider.Keyed[string, vote]](c)
	}
	return decider.Left[decider.Keyed[string, vote], decider.Keyed[string, vote]](c)
})

// pollComposite returns a composite of polls on streams of its own for
// every run, with part b's decider, codec and streams given.
func pollComposite(s *annals.Store, b decider.Decider[vote, voted, tally], events codec.Mapper[voted], streamsB func(run string) codec.Streams[string], opts ...annals.RunnerOption) func(t *rapid.T) *annals.Composite[pollCommand, pollEvent, pollState] {
	runs := 0
	return func(t *rapid.T) *annals.Composite[pollCommand, pollEvent, pollState] {
		runs++
		run := fmt.Sprintf("run%d-", runs)
		return annals.NewComposite(polls,
			annals.NewInstances(s, tallyDecider(), codec.NewKeyed(codec.StreamPrefix[string](run+"poll-"), votedCodec()), opts...),
			annals.NewInstances(s, b, codec.NewKeyed(streamsB(run), events), opts...))
	}
}

// panels keeps part b's instances in streams prefixed panel-.
func panels(run string) codec.Streams[string] { return codec.StreamPrefix[string](run + "panel-") }

// pollStreams keeps part b's instances in part a's streams, by functions
// of its own: no check of prefixes sees that they meet.
func pollStreams(run string) codec.Streams[string] {
	return codec.Streams[string]{
		Stream: func(key string) string { return run + "poll-" + key },
		Key:    func(streamID string) (string, bool) { return strings.CutPrefix(streamID, run+"poll-") },
	}
}

func TestCompositeEqualsPureHolds(t *testing.T) {
	s := annals.New(memory.New())
	CompositeEqualsPure(t, polls, pollComposite(s, tallyDecider(), votedCodec(), panels), pollCommandGen, Length(1, 30))
}

// lossy stores votes without their option.
type lossy struct{}

func (lossy) ToEvent(_ context.Context, at codec.Placement, _ voted, meta store.Metadata) (store.Event, error) {
	return store.Event{ID: at.ID, Type: "Voted", Data: []byte("{}"), Metadata: meta}, nil
}
func (lossy) FromRecord(context.Context, store.Record) (voted, error) { return voted{}, nil }
func (lossy) Types() []string                                         { return []string{"Voted"} }

func TestCompositeEqualsPureCatchesWhatDiffers(t *testing.T) {
	generous := tallyDecider()
	generous.Decide = func(c vote, s tally) ([]voted, error) { return []voted{{Option: c.option}}, nil }
	for name, c := range map[string]struct {
		build func(t *rapid.T) *annals.Composite[pollCommand, pollEvent, pollState]
		says  []string // what the check may say, one of them
	}{
		"a part of another decider": {pollComposite(annals.New(memory.New()), generous, votedCodec(), panels), []string{"the pure composition rejects it"}},
		// Where the two kinds meet shows first in what loads back, or,
		// when the draws make the second kind's first command a vote its
		// tally of both kinds' events refuses, in that decision.
		"two kinds in one stream": {pollComposite(annals.New(memory.New()), tallyDecider(), votedCodec(), pollStreams),
			[]string{"load back from the store other than the pure fold", "and the stored one fails: too many votes"}},
		"events that lose content": {pollComposite(annals.New(memory.New()), tallyDecider(), lossy{}, panels), []string{"load back from the store other than the pure fold"}},
		// A cache holds the states decided on, not what the store
		// holds: the check loads past it.
		"events that lose content, cached": {pollComposite(annals.New(memory.New()), tallyDecider(), lossy{}, panels, annals.WithCache(100)), []string{"load back from the store other than the pure fold"}},
	} {
		r := &recorder{TB: t}
		CompositeEqualsPure(r, polls, c.build, pollCommandGen)
		r.finish()
		if !lo.SomeBy(c.says, func(s string) bool { return strings.Contains(r.output(), s) }) {
			t.Errorf("%s: the check said\n%s\nwant one of %q", name, r.output(), c.says)
		}
	}
}
