package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// Names PostgreSQL would truncate, and names that are not names, are
// refused before anything is created, with an error that says why.
func TestRefusesBadNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	cases := []struct {
		name string
		opts []postgres.Option
		want string
	}{
		{"empty schema", []postgres.Option{postgres.WithSchema("")}, "empty"},
		{"schema of 64 bytes", []postgres.Option{postgres.WithSchema(strings.Repeat("s", 64))}, "63"},
		{"schema of 64 bytes in 32 letters", []postgres.Option{postgres.WithSchema(strings.Repeat("é", 32))}, "63"},
		{"schema with NUL", []postgres.Option{postgres.WithSchema("a\x00b")}, "NUL"},
		{"information_schema", []postgres.Option{postgres.WithSchema("information_schema")}, "PostgreSQL's own"},
		{"pg_catalog", []postgres.Option{postgres.WithSchema("pg_catalog")}, "PostgreSQL's own"},
		{"prefix making a name of 64 bytes", []postgres.Option{postgres.WithSchema(db.Schema), postgres.WithPrefix(strings.Repeat("p", 64-len("schema_migrations_pkey")))}, "63"},
		{"prefix not UTF-8", []postgres.Option{postgres.WithSchema(db.Schema), postgres.WithPrefix("p\xff")}, "UTF-8"},
	}
	for _, c := range cases {
		_, err := postgres.Open(ctx, db.URL, c.opts...)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want store.ErrInvalid saying %q", c.name, err, c.want)
		}
	}
	var tables int
	if err := pgxQueryRow(t, db.URL, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", db.Schema).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("refused options left %d tables (%v)", tables, err)
	}
}

// A URL parameter that is neither pgx's nor the store's goes to the
// server as a setting; one the server does not know (misspelt) fails the
// open with an error that says where the name came from.
func TestAnUnknownURLParameterIsNamedAsSuch(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("schema", db.Schema)
	q.Set("lock_timeot", "3s")
	u.RawQuery = q.Encode()
	s, err := store.Open(context.Background(), u.String())
	if err == nil {
		s.Close()
		t.Fatal("opened a store whose URL sets lock_timeot")
	}
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "lock_timeot") || !strings.Contains(err.Error(), "check the URL's parameters") {
		t.Fatalf("open with lock_timeot: %v; want store.ErrInvalid naming it and the URL's parameters", err)
	}
}

// The longest names that fit, and names that need quoting, are kept
// exactly as given.
func TestOddNamesAreQuoted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	cases := []struct{ schema, prefix string }{
		{db.Schema, `Mixed "Quoted"; DROP TABLE x; --`},
		{db.Schema + `_Ünïcødé "schema"`, ""},
		{strings.Repeat("s", 63), strings.Repeat("p", 63-len("schema_migrations_pkey"))},
	}
	for _, c := range cases {
		s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(c.schema), postgres.WithPrefix(c.prefix))
		if err != nil {
			t.Fatalf("schema %q prefix %q: %v", c.schema, c.prefix, err)
		}
		if _, err := s.Append(ctx, "s", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
			t.Fatalf("schema %q prefix %q: append: %v", c.schema, c.prefix, err)
		}
		if head, err := s.Head(ctx); err != nil || head != 1 {
			t.Fatalf("schema %q prefix %q: head %d, %v", c.schema, c.prefix, head, err)
		}
		s.Close()
		var found bool
		if err := pgxQueryRow(t, db.URL, "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
			c.schema, c.prefix+"events").Scan(&found); err != nil || !found {
			t.Fatalf("no table %q in schema %q (%v)", c.prefix+"events", c.schema, err)
		}
		if c.schema != db.Schema {
			t.Cleanup(func() {
				if _, err := pgxExec(t, db.URL, "DROP SCHEMA "+pgx.Identifier{c.schema}.Sanitize()+" CASCADE"); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// store.Open opens the adapter by URL; the store's own parameters are
// taken off before pgx sees the URL (pgx would send them to the server,
// which would refuse an unknown setting); session settings have defaults
// that the URL overrides.
func TestOpenByURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	for _, scheme := range []string{"postgres", "postgresql"} {
		u, err := url.Parse(db.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.Scheme = scheme
		q := u.Query()
		q.Set("schema", db.Schema)
		q.Set("prefix", scheme+"_")
		if scheme == "postgresql" {
			q.Set("lock_timeout", "3s")
		}
		u.RawQuery = q.Encode()
		s, err := store.Open(ctx, u.String())
		if err != nil {
			t.Fatalf("open %s: %v", scheme, err)
		}
		defer s.Close()
		if _, err := s.Append(ctx, "s", store.NoStream, []store.Event{{Type: "A"}}); err != nil {
			t.Fatal(err)
		}
		var found bool
		if err := pgxQueryRow(t, db.URL, "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
			db.Schema, scheme+"_events").Scan(&found); err != nil || !found {
			t.Fatalf("%s: no table %s_events in the test's schema (%v)", scheme, scheme, err)
		}
		want := map[string]string{"lock_timeout": "10s", "idle_in_transaction_session_timeout": "1min", "application_name": "annals", "jit": "off"}
		if scheme == "postgresql" {
			want["lock_timeout"] = "3s"
		}
		for setting, value := range want {
			var got string
			if err := s.(*postgres.Store).Pool().QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil || got != value {
				t.Errorf("%s: %s = %q (%v), want %q", scheme, setting, got, err, value)
			}
		}
	}
	for _, bad := range []string{"postgres://host/db?prefix=%zz", "mysql://host/db", "postgres://host:notaport/db"} {
		if _, err := postgres.Open(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("open %q: got %v, want store.ErrInvalid", bad, err)
		}
	}
}

// Processes that open a new store at once all succeed, and the
// migrations run once; opening again changes nothing; tables newer than
// the program are refused.
func TestMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema+"_new"))
			if err != nil {
				t.Errorf("concurrent open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	t.Cleanup(func() { pgxExec(t, db.URL, "DROP SCHEMA "+db.Schema+"_new CASCADE") })
	migrations := pgx.Identifier{db.Schema + "_new", "annals_schema_migrations"}.Sanitize()
	var rows, versions int
	if err := pgxQueryRow(t, db.URL, "SELECT count(*), count(DISTINCT version) FROM "+migrations).Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != versions {
		t.Fatalf("after concurrent opens the migrations table has %d rows for %d versions", rows, versions)
	}
	if _, err := pgxExec(t, db.URL, "INSERT INTO "+migrations+" (version, description) VALUES (1000, 'from the future')"); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema+"_new"))
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "version 1000") {
		t.Fatalf("open tables at version 1000: got %v, want store.ErrInvalid naming the version", err)
	}
}

func pgxQueryRow(t *testing.T, connURL, sql string, args ...any) pgx.Row {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), connURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn.QueryRow(context.Background(), sql, args...)
}

func pgxExec(t *testing.T, connURL, sql string) (int64, error) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), connURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(context.Background(), sql)
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", sql, err)
	}
	return tag.RowsAffected(), nil
}

// The steps of ExampleOpen, against the test server.
func TestExampleFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema+"_dogschool"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Cleanup(func() { pgxExec(t, db.URL, "DROP SCHEMA "+db.Schema+"_dogschool CASCADE") })
	version, err := s.Append(ctx, "dog-fido", store.NoStream, []store.Event{
		{Type: "DogRegistered", Data: []byte(`{"name":"Fido"}`)},
		{Type: "TrickAdded", Data: []byte(`{"trick":"roll over"}`)},
	})
	if err != nil || version != 2 {
		t.Fatalf("append: version %d, %v", version, err)
	}
	page, err := s.ReadLog(ctx, store.LogQuery{After: 0, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range page {
		got = append(got, fmt.Sprintf("%d %s %d %s", r.Position, r.StreamID, r.Version, r.Type))
	}
	if want := []string{"1 dog-fido 1 DogRegistered", "2 dog-fido 2 TrickAdded"}; !slices.Equal(got, want) {
		t.Fatalf("log reads %q, want %q", got, want)
	}
}

// The steps of ExampleStore_SQL, against the test server.
func TestExampleSQLFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	table := pgx.Identifier{db.Schema, "order_events"}.Sanitize()
	if _, err := s.Pool().Exec(ctx, `CREATE TABLE `+table+` (order_id text NOT NULL, events int NOT NULL, PRIMARY KEY (order_id))`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "order-42", store.NoStream, []store.Event{{Type: "OrderPlaced"}, {Type: "OrderPaid"}}); err != nil {
		t.Fatal(err)
	}
	counts := must(annals.NewRecordProjection(annals.New(s), "order-events", func(ctx context.Context, tx pgx.Tx, r store.Record) error {
		_, err := tx.Exec(ctx, `INSERT INTO `+table+` AS o (order_id, events) VALUES ($1, 1)
			ON CONFLICT (order_id) DO UPDATE SET events = o.events + 1`, r.StreamID)
		return err
	}))
	for range 2 { // the second catch-up finds nothing new
		if _, err := counts.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var events int
	if err := s.Pool().QueryRow(ctx, `SELECT events FROM `+table+` WHERE order_id = 'order-42'`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("order-42 has %d events (%v), want 2", events, err)
	}
}

// A URL without pool_max_conns gets the store's pool size, larger than
// pgx's for a machine of few cores; a URL that sets it gets that size.
func TestPoolSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	for _, c := range []struct {
		query string
		want  int32
	}{
		{"", int32(max(postgres.DefaultMinPoolConns, runtime.NumCPU()))},
		{"&pool_max_conns=3", 3},
		{"&pool_max_conns=40", 40},
	} {
		s, err := postgres.Open(ctx, db.URL+c.query, postgres.WithSchema(db.Schema))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Pool().Config().MaxConns; got != c.want {
			t.Errorf("URL ending %q: a pool of %d connections, want %d", c.query, got, c.want)
		}
		s.Close()
	}
}

// The store's own URL parameters are given once: a schema or prefix
// given twice is refused, as SQLite refuses a repeated parameter, before
// anything is created, rather than one of them picked in silence.
func TestURLParametersOfTheStoreAreGivenOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	for _, c := range []struct{ query, param string }{
		{"&schema=" + db.Schema + "&schema=" + db.Schema + "_b", "schema"},
		{"&schema=" + db.Schema + "&schema=" + db.Schema, "schema"},
		{"&schema=" + db.Schema + "&prefix=a_&prefix=b_", "prefix"},
	} {
		s, err := store.Open(ctx, db.URL+c.query)
		if s != nil {
			s.Close()
		}
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `"`+c.param+`" is given 2 times; give it once`) {
			t.Errorf("URL ending %q: %v, want store.ErrInvalid saying %s is given twice", c.query, err, c.param)
		}
		if _, err := postgres.Exists(ctx, db.URL+c.query); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("exists, URL ending %q: %v, want store.ErrInvalid", c.query, err)
		}
	}
	var schemas int
	if err := pgxQueryRow(t, db.URL, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", db.Schema+"_b").Scan(&schemas); err != nil || schemas != 0 {
		t.Fatalf("a refused URL created %d schemas (%v)", schemas, err)
	}
	var tables int
	if err := pgxQueryRow(t, db.URL, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", db.Schema).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("refused URLs left %d tables (%v)", tables, err)
	}
}

// A setting the URL gives, as a parameter in any case or in the
// connection's options in any spelling PostgreSQL accepts, is the URL's
// own, which Open keeps.
func TestSetsParam(t *testing.T) {
	for _, c := range []struct {
		params map[string]string
		name   string
		want   bool
	}{
		{map[string]string{}, "search_path", false},
		{map[string]string{"options": "-c statement_timeout=5s"}, "search_path", false},
		{map[string]string{"options": "-c search_path=events"}, "search_path", true},
		{map[string]string{"options": "-c SEARCH_PATH=events,public"}, "search_path", true},
		{map[string]string{"options": "--search-path=events"}, "search_path", true},
		{map[string]string{"search_path": "events"}, "search_path", true},
		{map[string]string{"Search_Path": "events"}, "search_path", true},
		{map[string]string{"Lock_Timeout": "30s"}, "lock_timeout", true},
		{map[string]string{"options": "-c lock_timeout=30s"}, "lock_timeout", true},
		{map[string]string{"application_name": "x"}, "lock_timeout", false},
	} {
		if got := postgres.SetsParam(c.params, c.name); got != c.want {
			t.Errorf("setsParam(%v, %s) = %v, want %v", c.params, c.name, got, c.want)
		}
	}
}

// A URL that leaves host and database to the server's defaults keeps its
// form once the store's own parameters are taken out, so that pgx reads
// it as a URL rather than as keyword=value settings.
func TestAURLOfDefaultsStaysAURL(t *testing.T) {
	for _, raw := range []string{"postgres://", "postgres://?schema=s", "postgresql://?prefix=p_&sslmode=disable", "postgres:///db?schema=s"} {
		u, err := postgres.ParseURL(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if _, err := pgxpool.ParseConfig(u); err != nil {
			t.Errorf("%s became %q, which pgx does not read: %v", raw, u, err)
		}
	}
}
