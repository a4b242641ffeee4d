package annals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// DefaultSnapshotTimeout bounds how long a command waits for its snapshot
// to be saved, unless [WithSnapshotTimeout] says otherwise.
const DefaultSnapshotTimeout = 2 * time.Second

// WithSnapshots loads streams from their latest snapshot in st and the
// events after it, and, after a command's append succeeded, saves a
// snapshot of the new state when policy says so; a nil policy never saves.
// m encodes the state: a [*codec.JSON] of S registered under the state's
// type name, or a [codec.NewMapper] pipeline for upcasting, compression and
// encryption.
//
// Snapshots never change what a command does: the save happens after the
// append, in the calling goroutine, bounded by the context and by
// [WithSnapshotTimeout]; a failure is logged (see [WithLogger]) and the
// command still succeeds. A snapshot that cannot be read, or whose type
// name or schema version the state codec does not read and no upcaster
// leads to, is logged and ignored: the stream is replayed in full and the
// policy sees no snapshot, so a fresh one is taken soon.
//
// A snapshot holds what JSON stores of S. The codec refuses a state whose
// content JSON would lose (see [codec.JSON.RegisterVersion]), and
// WithSnapshots panics when m reports such a refusal (its Err method), as
// every snapshot would fail to save: a mistake of the program, found when
// it starts. A type of another module may still hold an unexported field
// beside exported ones (a cache, a set of seen IDs): JSON leaves it out,
// and a state loaded from a snapshot has it empty where a replay filled
// it. Export what Evolve builds up, or keep it out of S.
func WithSnapshots[S any](st snapshot.Store, policy snapshot.Policy, m codec.SnapshotMapper[S]) RunnerOption {
	mustGive("annals.WithSnapshots",
		given{lo.IsNil(st), "snapshot store", "the store the snapshots are kept in, usually the runner's own *annals.Store"},
		given{lo.IsNil(m), "state mapper", "the codec of the state, such as codec.NewJSON[S]().Register(\"Account\", Account{})"})
	if s, ok := st.(*Store); ok && s.notMade() != nil {
		panic("annals: annals.WithSnapshots: " + s.notMade().Error())
	}
	if r, ok := m.(interface{ Err() error }); ok && r.Err() != nil {
		panic(fmt.Sprintf("annals: annals.WithSnapshots: the state mapper refused the state, so no snapshot could be saved: %v", r.Err()))
	}
	return func(c *runnerConfig) {
		c.snapshots = &snapshotConfig[S]{store: st, policy: policy, mapper: m}
	}
}

// WithSnapshotTimeout bounds the time a command spends saving its
// snapshot; d ≤ 0 means [DefaultSnapshotTimeout].
func WithSnapshotTimeout(d time.Duration) RunnerOption {
	return func(c *runnerConfig) {
		if d <= 0 {
			d = DefaultSnapshotTimeout
		}
		c.snapshotTimeout = d
	}
}

type snapshotConfig[S any] struct {
	store  snapshot.Store
	policy snapshot.Policy
	mapper codec.SnapshotMapper[S]
}

// stateType names S in the refusal of snapshots given to a runner of
// another state.
func (*snapshotConfig[S]) stateType() reflect.Type { return reflect.TypeFor[S]() }

type snapshots[S any] struct {
	snapshotConfig[S]
	timeout time.Duration
}

// load returns the state of the latest usable snapshot of streamID at or
// below version upTo. Only a cancelled context is an error: a snapshot that
// cannot be used is logged and ignored.
func (s *snapshots[S]) load(ctx context.Context, log *slog.Logger, streamID string, upTo int64) (S, int64, bool, error) {
	var zero S
	snap, ok, err := s.store.LatestSnapshot(ctx, streamID)
	if err != nil {
		if ctx.Err() != nil {
			return zero, 0, false, fmt.Errorf("load stream %q: read snapshot: %w", streamID, err)
		}
		log.WarnContext(ctx, "annals: snapshot not read; replaying the stream", "stream", streamID, "error", err)
		return zero, 0, false, nil
	}
	if !ok || snap.Version > upTo {
		return zero, 0, false, nil
	}
	if snap.StreamID != streamID {
		log.WarnContext(ctx, "annals: snapshot ignored: it is not of this stream; replaying the stream",
			"stream", streamID, "snapshot_stream", snap.StreamID, "snapshot_version", snap.Version)
		return zero, 0, false, nil
	}
	if err := check.Snapshot(snap); err != nil {
		// A version or schema version below 1, say: changed by hand.
		log.WarnContext(ctx, "annals: snapshot ignored: it holds what no save writes; replaying the stream",
			"stream", streamID, "snapshot_version", snap.Version, "schema_version", snap.SchemaVersion, "error", err)
		return zero, 0, false, nil
	}
	state, err := s.mapper.FromSnapshot(ctx, snap)
	if err != nil {
		if ctx.Err() != nil {
			return zero, 0, false, fmt.Errorf("load stream %q: decode snapshot: %w", streamID, err)
		}
		// A changed state type or a forgotten subject is expected; anything
		// else (a missing key, corrupt bytes) deserves attention.
		level := slog.LevelWarn
		if errors.Is(err, codec.ErrUnknownEventType) || errors.Is(err, codec.ErrSchemaVersion) || errors.Is(err, store.ErrNotFound) {
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "annals: snapshot ignored; replaying the stream",
			"stream", streamID, "snapshot_version", snap.Version, "type", snap.Type, "schema_version", snap.SchemaVersion, "error", err)
		return zero, 0, false, nil
	}
	return state, snap.Version, true, nil
}

// afterAppend saves a snapshot of l when the policy says so, and returns
// the version of the latest snapshot the stream now has to its knowledge.
func (s *snapshots[S]) afterAppend(ctx context.Context, log *slog.Logger, streamID string, l loaded[S], appended []store.Event) int64 {
	if s.policy == nil {
		return l.snapVersion
	}
	types := make([]string, len(appended))
	for i, e := range appended {
		types[i] = e.Type
	}
	if !s.policy(snapshot.Info{StreamID: streamID, Version: l.version, SnapshotVersion: l.snapVersion, Types: types}) {
		return l.snapVersion
	}
	saveCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	snap, err := s.mapper.ToSnapshot(saveCtx, streamID, l.version, l.state)
	if err == nil {
		err = s.store.SaveSnapshot(saveCtx, snap)
	}
	if err != nil {
		log.WarnContext(ctx, "annals: snapshot not saved; the command succeeded", "stream", streamID, "version", l.version, "error", err)
		return l.snapVersion
	}
	return l.version
}
