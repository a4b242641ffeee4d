package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store/check"
)

// SaveSnapshot implements [snapshot.Store]. One statement stores the
// snapshot unless the stored one has a higher version, so that writers
// saving out of order keep the newest.
func (s *Store) SaveSnapshot(ctx context.Context, snap snapshot.Snapshot) error {
	if err := check.Snapshot(snap); err != nil {
		return err
	}
	var taken any // NULL for the zero time
	if !snap.Time.IsZero() {
		taken = snap.Time.UnixNano() // in range: check.Snapshot saw to it
	}
	if err := s.writable(ctx, &s.snapshotWrites); err != nil {
		return err
	}
	data := snap.Data
	if data == nil {
		data = []byte{} // a nil []byte would be stored as NULL
	}
	_, err := s.exec(ctx, s.saveSnapshot, snap.StreamID, snap.Version, snap.Type, int64(snap.SchemaVersion), taken, data, snap.Encoding)
	if err != nil {
		return s.fail(fmt.Errorf("save snapshot of stream %q at version %d: %w", snap.StreamID, snap.Version, err))
	}
	return nil
}

// LatestSnapshot implements [snapshot.Store].
func (s *Store) LatestSnapshot(ctx context.Context, streamID string) (snapshot.Snapshot, bool, error) {
	if err := check.StreamID(streamID); err != nil {
		return snapshot.Snapshot{}, false, fmt.Errorf("latest snapshot: %w", err)
	}
	if err := s.usable(ctx, &s.snapshotReads); err != nil {
		return snapshot.Snapshot{}, false, err
	}
	snap := snapshot.Snapshot{StreamID: streamID}
	var taken sql.NullInt64
	err := s.latestSnapshot.QueryRowContext(ctx, streamID).Scan(&snap.Version, &snap.Type, &snap.SchemaVersion, &taken, &snap.Data, &snap.Encoding)
	if errors.Is(err, sql.ErrNoRows) {
		return snapshot.Snapshot{}, false, nil
	}
	if err != nil {
		return snapshot.Snapshot{}, false, s.fail(fmt.Errorf("read snapshot of stream %q: %w", streamID, err))
	}
	if taken.Valid {
		snap.Time = time.Unix(0, taken.Int64).UTC()
	}
	if snap.Data == nil {
		snap.Data = []byte{} // an empty BLOB scans as nil; see snapshot.Snapshot.Data
	}
	return snap, true, nil
}
