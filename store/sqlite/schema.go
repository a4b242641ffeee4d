package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/annals-dev/annals/store"
)

// migration is one step of the schema. Steps are applied in order, each
// once, in the transaction that records it; a database records the steps
// it has in annals_schema_migrations.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the schema, oldest step first. Append new steps; never
// edit or reorder a step that has been released, since databases in use
// have applied it.
var migrations = []migration{
	{1, "events and checkpoints", `
-- The global log and every stream. position is the rowid: an append takes
-- the write lock (BEGIN IMMEDIATE) before it inserts, so positions are
-- max+1 in commit order. Events are never deleted, so positions are never
-- reused and AUTOINCREMENT would only cost a write.
CREATE TABLE annals_events (
	position       INTEGER PRIMARY KEY,
	event_id       BLOB    NOT NULL UNIQUE CHECK (length(event_id) = 16),
	stream_id      TEXT    NOT NULL,
	version        INTEGER NOT NULL CHECK (version >= 1),
	type           TEXT    NOT NULL,
	schema_version INTEGER NOT NULL CHECK (schema_version >= 1),
	recorded_at    INTEGER NOT NULL, -- Unix time in nanoseconds, UTC
	data           BLOB    NOT NULL,
	encoding       TEXT    NOT NULL,
	metadata       TEXT,             -- JSON of store.Metadata; NULL when empty
	UNIQUE (stream_id, version)
) STRICT;

CREATE TABLE annals_checkpoints (
	consumer    TEXT    PRIMARY KEY,
	position    INTEGER NOT NULL CHECK (position >= 0),
	recorded_at INTEGER NOT NULL -- Unix time in nanoseconds, UTC
) STRICT, WITHOUT ROWID;
`},
	{2, "snapshots", `
-- The latest snapshot of each stream: a save replaces the row unless it
-- holds a higher version. A rowid table, since a state can be large and
-- the rows of a WITHOUT ROWID table should be small.
CREATE TABLE annals_snapshots (
	stream_id      TEXT    NOT NULL UNIQUE,
	version        INTEGER NOT NULL CHECK (version >= 1),
	type           TEXT    NOT NULL,
	schema_version INTEGER NOT NULL CHECK (schema_version >= 1),
	taken_at       INTEGER,          -- Unix time in nanoseconds, UTC; NULL for the zero time
	data           BLOB    NOT NULL,
	encoding       TEXT    NOT NULL
) STRICT;
`},
	{3, "subject keys", `
-- One wrapped key per data subject. Deleting a row forgets the subject.
-- The writer connection runs with secure_delete, which overwrites deleted
-- rows and freed pages with zeros; but when the b-tree moves rows between
-- pages it can leave old copies in a page's unused space. So a delete
-- rewrites the table: the other keys are copied to the scratch table, the
-- table is emptied at once (its pages freed and zeroed), the keys copied
-- back, and the scratch table emptied the same way.
CREATE TABLE annals_subject_keys (
	subject    TEXT    PRIMARY KEY,
	key_id     TEXT    NOT NULL,
	wrapped    BLOB    NOT NULL CHECK (length(wrapped) >= 1),
	created_at INTEGER NOT NULL -- Unix time in nanoseconds, UTC
) STRICT, WITHOUT ROWID;

CREATE TABLE annals_subject_keys_scratch (
	subject    TEXT    PRIMARY KEY,
	key_id     TEXT    NOT NULL,
	wrapped    BLOB    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`},
	{4, "view states", `
-- View states, written with a consumer's checkpoint in one transaction.
CREATE TABLE annals_view_states (
	view_name TEXT NOT NULL,
	state_key TEXT NOT NULL, -- '' for a view's single state
	data      BLOB NOT NULL,
	PRIMARY KEY (view_name, state_key)
) STRICT, WITHOUT ROWID;

-- Every Commit adds one to its consumer's generation, so that a Commit
-- whose handler ran outside the write transaction can tell that another
-- committed meanwhile, even one that moved the checkpoint back to where
-- it was (a rebuild).
ALTER TABLE annals_checkpoints ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
`},
	{5, "leases", `
-- Leases: a row per held lease, with its holder's random token and when it
-- expires unless renewed (Unix time in nanoseconds, by the clock of the
-- machine that the processes share).
CREATE TABLE annals_leases (
	name       TEXT    PRIMARY KEY,
	owner      BLOB    NOT NULL CHECK (length(owner) = 16),
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`},
	{6, "tags", `
-- Tags (dynamic consistency boundaries, docs/dcb.md). A tagged event keeps
-- its tags on its row, as a JSON array, so that every read carries them
-- back; NULL for an event without tags, which no query finds.
ALTER TABLE annals_events ADD COLUMN tags TEXT;

-- One row per tag of each tagged event, with the event's type, so that a
-- query item of tags and types is answered from this table alone, in
-- position order, at a cost proportional to the events of its tag.
CREATE TABLE annals_event_tags (
	tag      TEXT    NOT NULL,
	position INTEGER NOT NULL,
	type     TEXT    NOT NULL,
	PRIMARY KEY (tag, position)
) STRICT, WITHOUT ROWID;

-- Query items of types alone find the tagged events of a type here; the
-- events without tags pay nothing for it.
CREATE INDEX annals_events_tagged_type ON annals_events (type) WHERE tags IS NOT NULL;
`},
}

// migrate brings the schema of the database up to date. It reads the
// version first, in a read transaction, which waits for no other process
// and writes nothing: a database whose schema is current is opened
// without the write lock, even while another process holds it, and even
// when the file is read-only. Only a database that lacks a step takes the
// write lock, and reads the version again under it (see migrateLocked).
func migrate(ctx context.Context, db *sql.DB) error {
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if err := checkVersion(current); err != nil || current == latestVersion() {
		return err
	}
	if err := migrateLocked(ctx, db); err != nil {
		if isReadOnly(err) {
			return fmt.Errorf("the schema is at version %d, older than this program's %d, and the file is read-only to this process, so it cannot be brought up to date: open it once with write access (or a program of the schema's version): %w",
				current, latestVersion(), err)
		}
		return err
	}
	return nil
}

// latestVersion is the version of the last step of the schema.
func latestVersion() int { return migrations[len(migrations)-1].version }

// checkVersion refuses a schema newer than this program's.
func checkVersion(current int) error {
	if latest := latestVersion(); current > latest {
		return fmt.Errorf("database schema is at version %d, newer than the %d this program knows; upgrade the program: %w", current, latest, store.ErrInvalid)
	}
	return nil
}

// schemaVersion reads the version of the database's schema, 0 for a
// database without one, in a read transaction (BEGIN, not BEGIN
// IMMEDIATE), so that both reads see one snapshot.
func schemaVersion(ctx context.Context, db *sql.DB) (version int, err error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer func() {
		if rerr := tx.Rollback(); err == nil && rerr != nil {
			err = rerr
		}
	}()
	var tables int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'annals_schema_migrations'`).Scan(&tables); err != nil || tables == 0 {
		return 0, err
	}
	err = tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM annals_schema_migrations`).Scan(&version)
	return version, err
}

// migrateLocked applies the missing steps in one write transaction, in
// which it reads the version again: processes that open a new file at
// the same time apply each step once, and a step that fails leaves
// nothing behind.
func migrateLocked(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see config.dsn
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS annals_schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL -- Unix time in nanoseconds, UTC
) STRICT`); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM annals_schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	if err := checkVersion(current); err != nil {
		return err
	}
	if current == 0 {
		// No step recorded: a new file, unless the store's tables are
		// there, which a step made and recorded.
		var tables int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'annals_events'`).Scan(&tables); err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
		if tables > 0 {
			return fmt.Errorf("the record of the schema's steps (table annals_schema_migrations) is missing or empty, but the store's tables exist: the file was changed by hand or restored in part, and its schema's version is unknown, so nothing was changed; restore the file from a backup that passes `annals verify`: %w", store.ErrCorrupt)
		}
	}
	for _, m := range migrations[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate schema to version %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO annals_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("migrate schema to version %d (%s): %w", m.version, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}
