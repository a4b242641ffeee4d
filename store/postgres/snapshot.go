package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

var _ snapshot.Store = (*Store)(nil)

// SaveSnapshot implements [snapshot.Store]. One statement writes it: an
// upsert that leaves a stored snapshot of a higher version in place, so
// concurrent savers need no lock of their own and the highest version
// wins whatever the order of their commits.
func (s *Store) SaveSnapshot(ctx context.Context, snap snapshot.Snapshot) error {
	if err := s.refuseClosed(); err != nil {
		return err
	}
	if err := check.Snapshot(snap); err != nil {
		return err
	}
	if snap.SchemaVersion > math.MaxInt32 {
		return fmt.Errorf("snapshot of stream %q: schema version %d does not fit the integer column; the limit is %d: %w", snap.StreamID, snap.SchemaVersion, math.MaxInt32, store.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data := snap.Data
	if data == nil {
		data = []byte{}
	}
	// The upsert is safe to repeat on a dead connection.
	err := s.writeStatement(ctx, func() error {
		_, err := s.pool.Exec(ctx, s.sql.saveSnapshot, snap.StreamID, snap.Version, snap.Type,
			int32(snap.SchemaVersion), snap.Time.UTC(), data, snap.Encoding)
		return err
	})
	if err != nil {
		return fmt.Errorf("save snapshot of stream %q at version %d: %w", snap.StreamID, snap.Version, err)
	}
	return nil
}

// LatestSnapshot implements [snapshot.Store].
func (s *Store) LatestSnapshot(ctx context.Context, streamID string) (snapshot.Snapshot, bool, error) {
	if err := check.StreamID(streamID); err != nil {
		return snapshot.Snapshot{}, false, fmt.Errorf("latest snapshot: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return snapshot.Snapshot{}, false, err
	}
	snap := snapshot.Snapshot{StreamID: streamID}
	var schema int32
	var taken pgtype.Timestamptz
	err := s.retry(ctx, func() error {
		return s.pool.QueryRow(ctx, s.sql.latestSnapshot, streamID).
			Scan(&snap.Version, &snap.Type, &schema, &taken, &snap.Data, &snap.Encoding)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return snapshot.Snapshot{}, false, nil
	}
	if err != nil {
		return snapshot.Snapshot{}, false, fmt.Errorf("latest snapshot of stream %q: %w", streamID, err)
	}
	snap.SchemaVersion = int(schema)
	snap.Time = taken.Time.UTC()
	if snap.Data == nil {
		snap.Data = []byte{}
	}
	return snap, true, nil
}
