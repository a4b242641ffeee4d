// Command raw is the baseline of the coldstart benchmark: what
// examples/coldstart does — open a SQLite file, create the table if
// missing, append one event to a stream with its version checked, print
// the version — written with database/sql and the driver alone, with the
// same pragmas and the same event row.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"
)

const schema = `CREATE TABLE IF NOT EXISTS events (
	position       INTEGER PRIMARY KEY,
	event_id       BLOB    NOT NULL UNIQUE,
	stream_id      TEXT    NOT NULL,
	version        INTEGER NOT NULL,
	type           TEXT    NOT NULL,
	schema_version INTEGER NOT NULL,
	recorded_at    INTEGER NOT NULL,
	data           BLOB    NOT NULL,
	encoding       TEXT    NOT NULL,
	metadata       TEXT,
	UNIQUE (stream_id, version)
) STRICT`

func main() {
	path := os.Getenv("RAW_DB")
	if path == "" {
		path = os.TempDir() + "/annals-coldstart-raw.db"
	}
	version, err := run(context.Background(), path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "raw:", err)
		os.Exit(1)
	}
	fmt.Println(version)
}

func run(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("sqlite", path+"?_busy_timeout=5000&_foreign_keys=1&_synchronous=FULL&_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?`, "visits").Scan(&version); err != nil {
		return 0, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return 0, err
	}
	version++
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (event_id, stream_id, version, type, schema_version, recorded_at, data, encoding) VALUES (?, ?, ?, ?, 1, ?, ?, '')`,
		id[:], "visits", version, "Visited", time.Now().UnixNano(), []byte("{}")); err != nil {
		return 0, err
	}
	return version, tx.Commit()
}
