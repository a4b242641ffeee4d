package pgtest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/internal/pgtest"
)

// Each test gets a schema of its own: empty, first on its search_path,
// distinct from every other test's, and gone when the test ends.
func TestNewGivesEachTestItsOwnSchema(t *testing.T) {
	ctx := context.Background()
	var first pgtest.DB
	t.Run("first", func(t *testing.T) {
		first = pgtest.New(t)
		conn, err := pgx.Connect(ctx, first.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var current string
		if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil {
			t.Fatal(err)
		}
		if current != first.Schema {
			t.Fatalf("current_schema() = %q, want the test's schema %q", current, first.Schema)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatal(err)
		}
		second := pgtest.New(t)
		if second.Schema == first.Schema {
			t.Fatalf("two calls gave the same schema %q", first.Schema)
		}
		conn2, err := pgx.Connect(ctx, second.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn2.Close(ctx)
		if _, err := conn2.Exec(ctx, "SELECT * FROM t"); err == nil {
			t.Fatal("the second schema sees the first one's table")
		}
	})
	conn, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", first.Schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("schema %q still exists after its test ended", first.Schema)
	}
}

// Whatever the test's name, its schema name is a plain lowercase
// identifier PostgreSQL keeps whole.
func TestSchemaNames(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		name := rapid.String().Draw(rt, "test name")
		got := pgtest.SchemaName(name)
		if len(got) > 63 || !strings.HasPrefix(got, "t_") {
			rt.Fatalf("schema name %q for test %q: want t_… of at most 63 bytes", got, name)
		}
		for _, r := range got {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				rt.Fatalf("schema name %q for test %q holds %q", got, name, r)
			}
		}
		if pgtest.SchemaName(name) == got {
			rt.Fatalf("two schema names for test %q are both %q", name, got)
		}
	})
}

// The throwaway cluster trades durability for speed unless asked to be
// durable, for benchmarks: then it keeps PostgreSQL's defaults, every
// commit waiting for its flush.
func TestClusterModes(t *testing.T) {
	bindir := pgtest.FindBinaries()
	if bindir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no PostgreSQL binaries; CI=true, so this test fails instead of skipping")
		}
		t.Skip("no PostgreSQL binaries")
	}
	for durable, want := range map[string]string{"": "off off on", "1": "on on on"} {
		t.Run("durable="+durable, func(t *testing.T) {
			t.Parallel()
			mode, err := pgtest.ClusterMode(durable)
			if err != nil {
				t.Fatal(err)
			}
			u, stop, err := pgtest.StartCluster(bindir, mode)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var got string
			if err := conn.QueryRow(ctx, "SELECT current_setting('fsync') || ' ' || current_setting('full_page_writes') || ' ' || current_setting('synchronous_commit')").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%s=%q: fsync, full_page_writes, synchronous_commit = %s, want %s", pgtest.EnvDurable, durable, got, want)
			}
		})
	}
	if _, err := pgtest.ClusterMode("yes please"); err == nil || !strings.Contains(err.Error(), pgtest.EnvDurable) {
		t.Fatalf("an unknown value of %s: got %v, want an error that names it", pgtest.EnvDurable, err)
	}
}
