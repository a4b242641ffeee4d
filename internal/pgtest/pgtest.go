// Package pgtest gives each test a PostgreSQL schema of its own, on a real
// server, so that PostgreSQL tests run in parallel without seeing each
// other's tables.
//
// A test calls [New]:
//
//	db := pgtest.New(t) // skips, or fails in CI, when there is no server
//	s, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
//
// The server is the one named by the ANNALS_TEST_POSTGRES environment
// variable (a postgres:// URL) when it is set; .ci/run sets it to one
// cluster for the whole run. Otherwise the first call in a test binary
// starts a throwaway cluster from the PostgreSQL binaries on the machine
// (initdb and postgres on PATH, or under /usr/lib/postgresql/*/bin as
// Debian and Ubuntu install them) in a temporary directory, listening only
// on a Unix socket there, as the postgres (or nobody) user when the tests
// run as root, with fsync off. The cluster lives as long as the test
// binary: it gets a parent-death signal when the binary exits, stops, and
// removes its directory. No TestMain is needed.
//
// Benchmarks that measure writes should run on a cluster as durable as a
// production server's: with ANNALS_TEST_POSTGRES_DURABLE=1 the throwaway
// cluster keeps PostgreSQL's defaults (fsync, full_page_writes and
// synchronous_commit on), so that every commit waits for its flush.
//
// Without a server and without binaries, New skips the test with one line
// saying so, except when CI=true, where it fails: CI must not pass by
// skipping the database tests.
//
// The shared server is the one piece of process-wide state in the tests,
// started once per test binary.
package pgtest

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the URL of a PostgreSQL
// server for tests. The user it names must be able to create schemas.
const EnvURL = "ANNALS_TEST_POSTGRES"

// EnvDurable names the environment variable that, set to 1, makes the
// throwaway cluster durable: PostgreSQL's default settings instead of
// fsync and full_page_writes off. It has no effect when EnvURL is set.
const EnvDurable = "ANNALS_TEST_POSTGRES_DURABLE"

// DB is a schema of its own for one test, on the shared test server.
type DB struct {
	// URL connects to the server's database, with search_path set to
	// Schema. Raw pgx code can use it as is.
	URL string
	// Schema is the test's schema, created empty by New and dropped when
	// the test ends.
	Schema string
}

//go:embed cluster.sh
var clusterScript string

var shared struct {
	once sync.Once
	url  string // base URL of the server
	skip string // why there is no server, when there is none
	err  error  // why the server could not be started
}

// New returns a fresh, empty schema on the test server for t, and drops it
// when t ends. It skips t when there is no PostgreSQL (fails when CI=true).
func New(t testing.TB) DB {
	t.Helper()
	base := serverURL(t)
	schema := schemaName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec1(ctx, base, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec1(ctx, base, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: server URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return DB{URL: u.String(), Schema: schema}
}

// ServerURL returns the URL of the shared test server's database, starting
// the server if needed, with the same skip and failure rules as [New].
// Tests that need a database of their own create it through this URL.
func ServerURL(t testing.TB) string {
	t.Helper()
	return serverURL(t)
}

func serverURL(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.url, shared.skip, shared.err = start() })
	switch {
	case shared.err != nil:
		t.Fatalf("pgtest: %v", shared.err)
	case shared.skip != "" && os.Getenv("CI") == "true":
		t.Fatalf("pgtest: %s; CI=true, so PostgreSQL tests fail instead of skipping", shared.skip)
	case shared.skip != "":
		t.Skipf("pgtest: %s; PostgreSQL tests skipped", shared.skip)
	}
	return shared.url
}

// schemaName makes a schema name from a test name that is unique across
// test binaries sharing one server and shorter than PostgreSQL's 63 bytes.
func schemaName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var random [6]byte
	_, _ = rand.Read(random[:])
	return b.String() + "_" + hex.EncodeToString(random[:])
}

func exec1(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// start finds or starts the server. It returns the server's URL, or why
// there is none (skip), or why starting one failed (err).
func start() (serverURL, skip string, err error) {
	if u := os.Getenv(EnvURL); u != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec1(ctx, u, "SELECT 1"); err != nil {
			return "", "", fmt.Errorf("%s is set but the server does not answer: %w", EnvURL, err)
		}
		return u, "", nil
	}
	bindir := findBinaries()
	if bindir == "" {
		return "", fmt.Sprintf("no PostgreSQL server: %s is not set and initdb/postgres are neither on PATH nor in /usr/lib/postgresql/*/bin", EnvURL), nil
	}
	mode, err := clusterMode(os.Getenv(EnvDurable))
	if err != nil {
		return "", "", err
	}
	// The shared cluster lives as long as the test binary.
	u, _, err := startCluster(bindir, mode)
	return u, "", err
}

// clusterMode turns the value of EnvDurable into the mode cluster.sh
// takes.
func clusterMode(durable string) (string, error) {
	switch durable {
	case "", "0", "false":
		return "fast", nil
	case "1", "true":
		return "durable", nil
	}
	return "", fmt.Errorf("%s=%q: want 1 (durable settings) or 0 (fsync off, the default)", EnvDurable, durable)
}

// findBinaries returns the directory holding initdb and postgres, or "".
func findBinaries() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "postgres")) {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first.
	slices.SortFunc(dirs, func(a, b string) int { return majorVersion(b) - majorVersion(a) })
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir
		}
	}
	return ""
}

func majorVersion(bindir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startCluster runs cluster.sh in a new temporary directory, in mode
// "fast" or "durable", and waits until the server accepts connections. It
// returns the server's URL and a function that stops the cluster and
// removes its directory, which otherwise happens when the test binary
// exits.
func startCluster(bindir, mode string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "annals-pgtest-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", clusterScript, "cluster.sh", bindir, dir, mode)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the cluster as an
		// unprivileged user that owns the directory.
		uid, gid, err := unprivilegedUser()
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start PostgreSQL cluster: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}

	u := "postgres://postgres@/postgres?host=" + url.QueryEscape(dir)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := exec1(ctx, u, "SELECT 1")
		cancel()
		if err == nil {
			return u, stop, nil
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "cluster.log"))
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("PostgreSQL cluster from %s exited (%v) before accepting connections; its log:\n%s", bindir, werr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("PostgreSQL cluster from %s in %s did not accept connections within 2 minutes: %w", bindir, dir, err)
		}
	}
}

// unprivilegedUser returns the uid and gid of the postgres user, or of
// nobody when there is no postgres user.
func unprivilegedUser() (uint32, uint32, error) {
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil {
			return uint32(uid), uint32(gid), nil
		}
	}
	return 0, 0, fmt.Errorf("running as root, and no unprivileged user to run PostgreSQL as: %w", errors.Join(errs...))
}
