package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// Opening a store on a server that does not answer fails with an error
// that matches store.ErrUnavailable, and says where it tried.
func TestOpenOnAServerThatIsDownIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = postgres.Open(ctx, "postgres://app@"+addr+"/db?connect_timeout=5")
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrInvalid) {
		t.Fatalf("open on a server that is down: %v; want store.ErrUnavailable", err)
	}
	if _, err := postgres.Exists(ctx, "postgres://app@"+addr+"/db?connect_timeout=5"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Exists on a server that is down: %v; want store.ErrUnavailable", err)
	}
	var s *postgres.Store
	if !s.Unavailable(err) {
		t.Fatalf("Unavailable(%v) = false; want true", err)
	}
}

// Unavailable tells the server's and the connection's failures apart
// from its answers and from the end of the caller's context.
func TestUnavailableTellsTheServerDownFromItsAnswers(t *testing.T) {
	var s *postgres.Store
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{&pgconn.PgError{Code: "08006", Message: "connection failure"}, true},
		{&pgconn.PgError{Code: "53300", Message: "too many connections"}, true},
		{&pgconn.PgError{Code: "53100", Message: "could not extend file"}, true},
		{fmt.Errorf("read stream: %w", io.ErrUnexpectedEOF), true},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key"}, false},
		{&pgconn.PgError{Code: "42P01", Message: "relation does not exist"}, false},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, false},
		{fmt.Errorf("append: %w", store.ErrConflict), false},
		{fmt.Errorf("append: %w", context.DeadlineExceeded), false},
		{fmt.Errorf("append: %w: %w", context.Canceled, io.ErrUnexpectedEOF), false},
	} {
		if got := s.Unavailable(fmt.Errorf("postgres store: %w", c.err)); got != c.want {
			t.Errorf("Unavailable(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}

// A server that answers but refuses the URL's database, role, privilege
// or setting is not unavailable: the same URL gets the same answer, and a
// caller that waits and tries again on store.ErrUnavailable would wait
// for ever. A database
// that does not exist is store.ErrNotFound, as a SQLite file that does
// not exist is.
func TestOpenRefusedByTheServerIsNotUnavailable(t *testing.T) {
	u, err := url.Parse(pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A role that may log in, and a database it may not connect to.
	admin, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	for _, sql := range []string{
		`DROP DATABASE IF EXISTS annals_no_connect`, `DROP ROLE IF EXISTS annals_no_connect`,
		`CREATE ROLE annals_no_connect LOGIN`, `CREATE DATABASE annals_no_connect`,
		`REVOKE CONNECT ON DATABASE annals_no_connect FROM PUBLIC`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		admin, err := pgx.Connect(ctx, u.String())
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close(ctx)
		for _, sql := range []string{`DROP DATABASE IF EXISTS annals_no_connect`, `DROP ROLE IF EXISTS annals_no_connect`} {
			if _, err := admin.Exec(ctx, sql); err != nil {
				t.Errorf("%s: %v", sql, err)
			}
		}
	})
	for _, c := range []struct {
		name     string
		edit     func(u *url.URL)
		notFound bool
		says     string
	}{
		{"database that does not exist", func(u *url.URL) { u.Path = "/annals_no_such_database" }, true, "CREATE DATABASE"},
		{"role that does not exist", func(u *url.URL) { u.User = url.User("annals_no_such_role") }, false, "pg_hba.conf"},
		{"database the role may not connect to", func(u *url.URL) { u.User, u.Path = url.User("annals_no_connect"), "/annals_no_connect" }, false, "GRANT CONNECT"},
		{"setting the server does not know", func(u *url.URL) {
			q := u.Query()
			q.Set("statement_timout", "5s")
			u.RawQuery = q.Encode()
		}, false, "the server knows no setting of that name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := *u
			c.edit(&v)
			s, err := postgres.Open(ctx, v.String())
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			_, existsErr := postgres.Exists(ctx, v.String())
			for call, err := range map[string]error{"Open": err, "Exists": existsErr} {
				if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) != c.notFound || !strings.Contains(fmt.Sprint(err), c.says) {
					t.Errorf("%s: %v; want an error that is not store.ErrUnavailable, is store.ErrNotFound: %v, and says %q", call, err, c.notFound, c.says)
				}
				if s.Unavailable(err) {
					t.Errorf("Unavailable(%v) = true", err)
				}
			}
		})
	}
}
