package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// A row whose metadata does not decode (changed by hand to JSON of
// another shape) is reported as a corrupt store by every read that meets
// it.
func TestARowThatDoesNotDecodeIsCorrupt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	events := []store.Event{{Type: "T", Data: []byte(`{}`), Metadata: store.Metadata{Extra: map[string]string{"k": "v"}}}}
	if _, err := s.Append(ctx, "s", store.NoStream, events); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadLog(ctx, store.LogQuery{}); err != nil { // numbers the event
		t.Fatal(err)
	}
	table := pgx.Identifier{db.Schema, "annals_events"}.Sanitize()
	if _, err := s.Pool().Exec(ctx, `UPDATE `+table+` SET extra = '5'::jsonb`); err != nil {
		t.Fatal(err)
	}
	_, logErr := s.ReadLog(ctx, store.LogQuery{})
	var streamErr error
	for _, err := range s.ReadStream(ctx, "s", 0) {
		streamErr = err
	}
	for read, err := range map[string]error{"ReadLog": logErr, "ReadStream": streamErr} {
		if !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s after a hand changed the metadata: %v, want ErrCorrupt", read, err)
		}
	}
}
