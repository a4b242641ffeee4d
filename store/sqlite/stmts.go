package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
)

// The store's statements are prepared in groups: the group of reading a
// stream and appending when the store opens, each other group the first
// time a method that needs it is called. A process that opens the store
// to handle one command, as a serverless function does on a cold start,
// so prepares six statements rather than thirty-two. Each method prepares
// its groups (through usable or writable) before it takes the writer
// connection, since preparing a statement of the writer needs that
// connection: inside a transaction on it, it would wait for ever. A
// group holds statements of one pool: a read prepares only statements of
// the readers, and so never waits for the writer (on a file; in memory
// the one connection is both).

// stmtGroup is a set of statements prepared together.
type stmtGroup struct {
	name  string // what the statements are for, for errors
	stmts []stmtDef
	mu    sync.Mutex // held while preparing
	ready atomic.Bool
}

// stmtDef is a statement of a group: the query, the pool it is prepared
// on and the field of Store that holds it.
type stmtDef struct {
	db    *sql.DB
	stmt  **sql.Stmt
	query string
}

// defineStatements fills in the groups of s's statements; it runs once w
// and r are open.
func (s *Store) defineStatements() {
	s.appendStmts = stmtGroup{name: "appends", stmts: []stmtDef{
		{s.w, &s.streamVersion, `SELECT max(version) FROM annals_events WHERE stream_id = ?`},
		{s.r, &s.readStream, readStreamSQL},
		{s.w, &s.readStreamW, readStreamSQL},
		// The savepoint of each append of a group (see group.go).
		{s.w, &s.savepoint, savepoint},
		{s.w, &s.release, releaseSavepoint},
		{s.w, &s.rollbackTo, rollbackToSavepoint},
	}}
	s.logStmts = stmtGroup{name: "reading the log", stmts: []stmtDef{
		{s.r, &s.readLog, `SELECT ` + recordColumns + ` FROM annals_events
			WHERE position > ? ORDER BY position LIMIT ?`},
		{s.r, &s.readLogTypes, `SELECT ` + recordColumns + ` FROM annals_events
			WHERE position > ? AND type IN (SELECT value FROM json_each(?)) ORDER BY position LIMIT ?`},
		{s.r, &s.head, `SELECT coalesce(max(position), 0) FROM annals_events`},
		{s.r, &s.findEvent, `SELECT ` + recordColumns + ` FROM annals_events WHERE event_id = ?`},
	}}
	// Consumers: view states and checkpoints, compared and set. The
	// reads are a group of their own, on the readers, so that a read
	// never waits for the writer connection to prepare a write.
	s.consumerReads = stmtGroup{name: "reading consumers' checkpoints and states", stmts: []stmtDef{
		{s.r, &s.checkpoint, `SELECT position FROM annals_checkpoints WHERE consumer = ?`},
		{s.r, &s.checkpointAndGen, `SELECT position, generation FROM annals_checkpoints WHERE consumer = ?`},
		{s.r, &s.loadState, `SELECT data FROM annals_view_states WHERE view_name = ? AND state_key = ?`},
		{s.r, &s.loadStates, `SELECT state_key, data FROM annals_view_states
			WHERE view_name = ? AND state_key IN (SELECT value FROM json_each(?))`},
	}}
	s.consumerWrites = stmtGroup{name: "consumers' commits", stmts: []stmtDef{
		{s.w, &s.setCheckpoint, `INSERT INTO annals_checkpoints (consumer, position, recorded_at) VALUES (?1, ?2, ?3)
			ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, recorded_at = excluded.recorded_at
			WHERE excluded.position >= annals_checkpoints.position`},
		{s.w, &s.txCheckpoint, `SELECT position, generation FROM annals_checkpoints WHERE consumer = ?`},
		{s.w, &s.putCheckpoint, `INSERT INTO annals_checkpoints (consumer, position, recorded_at, generation) VALUES (?1, ?2, ?3, 1)
			ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, recorded_at = excluded.recorded_at,
				generation = annals_checkpoints.generation + 1`},
		{s.w, &s.saveState, `INSERT INTO annals_view_states (view_name, state_key, data) VALUES (?1, ?2, ?3)
			ON CONFLICT (view_name, state_key) DO UPDATE SET data = excluded.data`},
		{s.w, &s.deleteState, `DELETE FROM annals_view_states WHERE view_name = ? AND state_key = ?`},
		{s.w, &s.deleteStates, `DELETE FROM annals_view_states WHERE view_name = ?`},
	}}
	// Snapshots: a save replaces the stored one unless that is newer.
	s.snapshotReads = stmtGroup{name: "reading snapshots", stmts: []stmtDef{
		{s.r, &s.latestSnapshot, `SELECT version, type, schema_version, taken_at, data, encoding FROM annals_snapshots WHERE stream_id = ?`},
	}}
	s.snapshotWrites = stmtGroup{name: "saving snapshots", stmts: []stmtDef{
		{s.w, &s.saveSnapshot, `INSERT INTO annals_snapshots (stream_id, version, type, schema_version, taken_at, data, encoding)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
			ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, type = excluded.type,
				schema_version = excluded.schema_version, taken_at = excluded.taken_at, data = excluded.data, encoding = excluded.encoding
			WHERE excluded.version >= annals_snapshots.version`},
	}}
	s.keyReads = stmtGroup{name: "reading subject keys", stmts: []stmtDef{
		{s.r, &s.subjectKey, `SELECT key_id, wrapped FROM annals_subject_keys WHERE subject = ?`},
	}}
	s.keyWrites = stmtGroup{name: "writing subject keys", stmts: []stmtDef{
		// The first key stored for a subject wins; the no-op update
		// makes RETURNING give the stored row.
		{s.w, &s.createKey, `INSERT INTO annals_subject_keys (subject, key_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (subject) DO UPDATE SET key_id = annals_subject_keys.key_id
			RETURNING key_id, wrapped`},
		{s.w, &s.deleteKeyRow, `DELETE FROM annals_subject_keys WHERE subject = ?`},
		// Rewriting the key table: a DELETE without WHERE empties a table
		// at once, freeing its pages, which secure_delete zeroes.
		{s.w, &s.copyKeys, `INSERT INTO annals_subject_keys_scratch (subject, key_id, wrapped, created_at)
			SELECT subject, key_id, wrapped, created_at FROM annals_subject_keys ORDER BY subject`},
		{s.w, &s.clearKeys, `DELETE FROM annals_subject_keys`},
		{s.w, &s.restoreKeys, `INSERT INTO annals_subject_keys (subject, key_id, wrapped, created_at)
			SELECT subject, key_id, wrapped, created_at FROM annals_subject_keys_scratch ORDER BY subject`},
		{s.w, &s.clearScratch, `DELETE FROM annals_subject_keys_scratch`},
	}}
	// Leases: taken when free or expired, renewed and released only by
	// their holder.
	s.leaseStmts = stmtGroup{name: "leases", stmts: []stmtDef{
		{s.w, &s.takeLease, `INSERT INTO annals_leases (name, owner, expires_at) VALUES (?1, ?2, ?3)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE annals_leases.expires_at <= ?4`},
		{s.w, &s.renewLease, `UPDATE annals_leases SET expires_at = ?3 WHERE name = ?1 AND owner = ?2`},
		{s.w, &s.releaseLease, `DELETE FROM annals_leases WHERE name = ?1 AND owner = ?2`},
	}}
}

// prepare prepares the statements of g unless they are. A failure leaves
// the statements it prepared for the next call, which prepares the rest.
func (s *Store) prepare(ctx context.Context, g *stmtGroup) error {
	if g.ready.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ready.Load() {
		return nil
	}
	for _, d := range g.stmts {
		if *d.stmt != nil {
			continue
		}
		st, err := d.db.PrepareContext(ctx, d.query)
		if err != nil {
			return s.fail(fmt.Errorf("sqlite store %s: prepare the statements of %s: %q: %w", s.path, g.name, d.query, err))
		}
		if !s.keep(st) {
			return s.closedError()
		}
		*d.stmt = st
	}
	g.ready.Store(true)
	return nil
}

// keep adds st to the statements Close closes, unless the store is
// closed: then it closes st and reports false.
func (s *Store) keep(st *sql.Stmt) bool {
	s.stmtsMu.Lock()
	defer s.stmtsMu.Unlock()
	if s.stmtsClosed {
		_ = st.Close()
		return false
	}
	s.stmts = append(s.stmts, st)
	return true
}

// closeStmts closes every statement prepared, and every one prepared
// from now on as soon as it is.
func (s *Store) closeStmts() []error {
	s.stmtsMu.Lock()
	defer s.stmtsMu.Unlock()
	s.stmtsClosed = true
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	return errs
}
