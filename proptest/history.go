package proptest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/store"
)

// call is a command an instance handled, and what it was told.
type call struct {
	id       string // the causation ID of the events it appends
	instance int
	voucher  int
	stream   string
	cmd      voucherCmd
	key      string
	keyUse   keyUse // how the script chose the key
	fault    fault
	fired    bool
	res      annals.Result[voucherEvent, voucher]
	err      error
	// held is the key's first event when the store held it before the
	// call, for a key that only this instance uses.
	held *store.Record
	// behind says how the views or the saga lagged a command told it
	// succeeded with no fault.
	behind string
}

type keyUse string

const (
	noKey        keyUse = "no key"
	freshKey     keyUse = "a new key"
	retryKey     keyUse = "a retry"
	otherStream  keyUse = "a key reused on another stream"
	otherCommand keyUse = "a key reused with another command"
)

func (c *call) options() []annals.HandleOption {
	opts := []annals.HandleOption{annals.WithMetadata(store.Metadata{CausationID: c.id})}
	if c.key != "" {
		opts = append(opts, annals.WithIdempotencyKey(c.key))
	}
	return opts
}

func (c *call) String() string {
	what := "issue"
	if c.cmd.Redeem {
		what = "redeem"
	}
	s := fmt.Sprintf("call %s (instance %d): %s %s, amount %d, %s", c.id, c.instance, what, c.stream, c.cmd.Amount, c.keyUse)
	if c.key != "" {
		s += " " + c.key
	}
	if c.fault.Step != "" {
		s += fmt.Sprintf(", %v (fired: %v)", c.fault, c.fired)
	}
	return s + fmt.Sprintf(", told %+v, %v", c.res, c.err)
}

// history is what a run left in the store: the records of its streams.
type history struct {
	streams map[string][]store.Record
	byCause map[string][]store.Record
	byID    map[uuid.UUID]store.Record
}

// readHistory reads the records of run ns, written after position after.
func readHistory(ctx context.Context, s store.Store, ns string, after int64) (history, error) {
	h := history{streams: map[string][]store.Record{}, byCause: map[string][]store.Record{}, byID: map[uuid.UUID]store.Record{}}
	for {
		page, err := s.ReadLog(ctx, store.LogQuery{After: after, Limit: 1000})
		if err != nil {
			return h, err
		}
		for _, r := range page {
			if !strings.HasPrefix(r.StreamID, ns+"/") {
				continue
			}
			h.streams[r.StreamID] = append(h.streams[r.StreamID], r)
			h.byCause[r.Metadata.CausationID] = append(h.byCause[r.Metadata.CausationID], r)
			h.byID[r.ID] = r
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Position
	}
	for _, recs := range h.streams {
		slices.SortFunc(recs, func(a, b store.Record) int { return int(a.Version - b.Version) })
	}
	return h, nil
}

// replay folds the first upTo events of a stream.
func (h history) replay(ctx context.Context, stream string, upTo int64) (voucher, error) {
	v := vouchers.InitialState()
	for _, r := range h.streams[stream] {
		if r.Version > upTo {
			break
		}
		e, err := voucherCodec().FromRecord(ctx, r)
		if err != nil {
			return v, err
		}
		v = vouchers.Evolve(v, e)
	}
	return v, nil
}

// tally folds the events of streams.
func (h history) tally(ctx context.Context, streams ...string) (voucherTally, error) {
	t := voucherTallies.InitialState()
	for _, s := range streams {
		for _, r := range h.streams[s] {
			e, err := voucherCodec().FromRecord(ctx, r)
			if err != nil {
				return t, err
			}
			t = voucherTallies.Evolve(t, e)
		}
	}
	return t, nil
}

// misreport returns what is wrong with what c was told, given what the
// store holds, or "" when it told the truth. calls finds the call whose
// events carry a causation ID.
func (h history) misreport(ctx context.Context, c *call, calls map[string]*call) string {
	mine := h.byCause[c.id]
	err := c.err
	if c.behind != "" {
		return c.behind
	}
	if errors.Is(err, store.ErrOutcomeUnknown) && errors.Is(err, store.ErrConflict) {
		return "the error matches both store.ErrOutcomeUnknown and store.ErrConflict"
	}
	// The key's events were stored before the call: by the same command
	// on the same stream (a retry), or by another use of the key.
	var retry, reused bool
	if c.held != nil {
		owner := calls[c.held.Metadata.CausationID]
		retry = owner != nil && owner.stream == c.stream && owner.cmd == c.cmd
		reused = !retry
	}
	switch {
	case err == nil || errors.Is(err, annals.ErrStored):
		if errors.Is(err, store.ErrOutcomeUnknown) || errors.Is(err, store.ErrConflict) {
			return "told stored with an error that also says unknown or conflict"
		}
		if err != nil && !c.fired {
			return "told stored with an error, though no fault hit the call: another instance's progress or an old failure was reported"
		}
		if reused {
			return fmt.Sprintf("its key was first used by call %s for another stream or command, and it was not refused", c.held.Metadata.CausationID)
		}
		if c.res.Duplicate {
			return h.duplicate(ctx, c, mine, calls)
		}
		if retry {
			return "a retry whose key's events the store held was not answered as a duplicate"
		}
		return h.stored(ctx, c, mine)
	case errors.Is(err, store.ErrOutcomeUnknown):
		if !c.fired || !c.fault.makesUnknown() {
			return "told the outcome is unknown, though no fault made it so"
		}
		if len(mine) != 0 && len(mine) != eventsOf(c.cmd) {
			return fmt.Sprintf("the store holds %d of the command's %d events", len(mine), eventsOf(c.cmd))
		}
		return ""
	}
	// Told nothing was stored.
	if len(mine) != 0 {
		return fmt.Sprintf("told nothing was stored, the store holds %d of its events", len(mine))
	}
	switch {
	case errors.Is(err, annals.ErrRejected):
		if retry {
			return fmt.Sprintf("a retry whose key's events the store held (version %d) was rejected, not answered as a duplicate", c.held.Version)
		}
		if reused && c.held.StreamID == c.stream {
			// On another stream the runner cannot know, without
			// appending, that the key was used: a genuine rejection
			// stores nothing and is the truth.
			return "a key reused with another command on its stream was rejected by the decider, not refused as reused"
		}
		state, rerr := h.replay(ctx, c.stream, c.res.Version)
		if rerr != nil {
			return rerr.Error()
		}
		if state != c.res.State || c.res.Version > int64(len(h.streams[c.stream])) {
			return fmt.Sprintf("rejected on state %+v at version %d, but the stream at that version is %+v", c.res.State, c.res.Version, state)
		}
		if _, derr := vouchers.Decide(c.cmd, state); derr == nil || !errors.Is(err, derr) {
			return fmt.Sprintf("rejected with %v, but deciding on the stream at version %d gives %v", err, c.res.Version, derr)
		}
		return h.ownIssue(c)
	case errors.Is(err, annals.ErrIdempotencyKey):
		first, ok := h.byID[annals.EventID(c.key, 0)]
		if !ok {
			return "refused the key as reused, but the store holds no event of it"
		}
		if owner := calls[first.Metadata.CausationID]; owner != nil && owner.stream == c.stream && owner.cmd == c.cmd {
			return fmt.Sprintf("refused the key as reused, but it was first used (call %s) on this stream with this command", owner.id)
		}
		return ""
	case errors.Is(err, store.ErrConflict):
		return ""
	case !c.fired:
		return "failed with no fault"
	}
	return ""
}

// ownIssue returns what is wrong with "already issued" told to a caller
// whose own key issued the voucher.
func (h history) ownIssue(c *call) string {
	if c.key == "" || c.cmd.Redeem || !errors.Is(c.err, errAlreadyIssued) {
		return ""
	}
	first, ok := h.byID[annals.EventID(c.key, 0)]
	if ok && first.StreamID == c.stream && first.Metadata.CausationID != c.id {
		return fmt.Sprintf("told 'already issued' for a voucher its own key issued (call %s)", first.Metadata.CausationID)
	}
	return ""
}

// stored checks a call told its events were stored.
func (h history) stored(ctx context.Context, c *call, mine []store.Record) string {
	if len(c.res.Events) != eventsOf(c.cmd) || len(mine) != len(c.res.Events) {
		return fmt.Sprintf("told %d events were stored, the store holds %d", len(c.res.Events), len(mine))
	}
	for i, r := range mine {
		if r.StreamID != c.stream || r.Version != c.res.Version-int64(len(mine)-1-i) {
			return fmt.Sprintf("told stored up to version %d of %s, event %d is at version %d of %s", c.res.Version, c.stream, i, r.Version, r.StreamID)
		}
		if c.key != "" && r.ID != annals.EventID(c.key, i) {
			return fmt.Sprintf("event %d has ID %v, not the one its key derives", i, r.ID)
		}
	}
	state, err := h.replay(ctx, c.stream, c.res.Version)
	if err != nil {
		return err.Error()
	}
	if state != c.res.State {
		return fmt.Sprintf("told the state is %+v, the replay at version %d is %+v", c.res.State, c.res.Version, state)
	}
	return ""
}

// duplicate checks a call told its key had been handled before.
func (h history) duplicate(ctx context.Context, c *call, mine []store.Record, calls map[string]*call) string {
	if c.key == "" {
		return "told a duplicate without a key"
	}
	if len(mine) != 0 {
		return fmt.Sprintf("told a duplicate, and it stored %d events", len(mine))
	}
	first, ok := h.byID[annals.EventID(c.key, 0)]
	if !ok || first.StreamID != c.stream {
		return fmt.Sprintf("told a duplicate, but the key's first event is not in %s (found: %v, in %q)", c.stream, ok, first.StreamID)
	}
	if owner := calls[first.Metadata.CausationID]; owner != nil && owner.cmd != c.cmd {
		return fmt.Sprintf("told a duplicate, but the key was first used (call %s) with another command", owner.id)
	}
	if c.res.Version < first.Version {
		return fmt.Sprintf("told a duplicate at version %d, before the key's event at version %d", c.res.Version, first.Version)
	}
	state, err := h.replay(ctx, c.stream, c.res.Version)
	if err != nil {
		return err.Error()
	}
	if state != c.res.State || c.res.Version > int64(len(h.streams[c.stream])) {
		return fmt.Sprintf("told a duplicate with state %+v at version %d, the replay is %+v", c.res.State, c.res.Version, state)
	}
	// Told the events the key's first call appended, as that call was.
	var told []voucherEvent
	for i := 0; ; i++ {
		r, ok := h.byID[annals.EventID(c.key, i)]
		if !ok || r.StreamID != c.stream {
			break
		}
		e, err := voucherCodec().FromRecord(ctx, r)
		if err != nil {
			return err.Error()
		}
		told = append(told, e)
	}
	if !slices.Equal(c.res.Events, told) {
		return fmt.Sprintf("told a duplicate with events %+v, the key's first call appended %+v", c.res.Events, told)
	}
	return ""
}

// consistent checks that the views of a run equal the replay of its
// streams, and that the saga issued one reward per redeemed voucher.
func (h history) consistent(ctx context.Context, a *app) []string {
	var problems []string
	var all []string
	for stream := range h.streams {
		all = append(all, stream)
		want, err := h.tally(ctx, stream)
		if err != nil {
			return append(problems, err.Error())
		}
		got, err := a.byID.Get(ctx, stream)
		if err != nil || got != want {
			problems = append(problems, fmt.Sprintf("view of %s: %+v, %v; the replay is %+v", stream, got, err, want))
		}
	}
	want, err := h.tally(ctx, all...)
	if err != nil {
		return append(problems, err.Error())
	}
	got, err := a.totals.Get(ctx, "total")
	if len(all) == 0 && errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	if err != nil || got != want {
		problems = append(problems, fmt.Sprintf("view of the totals: %+v, %v; the replay is %+v", got, err, want))
	}
	for stream, recs := range h.streams {
		for _, r := range recs {
			if r.Type != "VoucherRedeemed" {
				continue
			}
			var caused []store.Record
			for _, reward := range h.streams[rewardOf(stream)] {
				if reward.Metadata.CausationID == r.ID.String() {
					caused = append(caused, reward)
				}
			}
			if len(caused) != 1 || len(h.streams[rewardOf(stream)]) != 1 || caused[0].Type != "VoucherIssued" {
				problems = append(problems, fmt.Sprintf("redeeming %s led to %d events in %s, %d of them caused by it; want one reward issued", stream, len(h.streams[rewardOf(stream)]), rewardOf(stream), len(caused)))
			}
		}
	}
	return problems
}
