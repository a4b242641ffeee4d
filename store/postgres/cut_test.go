package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/samber/lo"

	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/postgres"
)

// cutter is a proxy in front of the test server that, once armed with a
// marker, forwards the first request that holds it and then drops the
// server's answer and closes the connection: the request reached the
// server, which carried it out, and its answer never came back, as when
// a network breaks at that moment.
type cutter struct {
	ln     net.Listener
	dial   func() (net.Conn, error)
	mu     sync.Mutex
	marker []byte        // armed when not nil
	cut    chan struct{} // receives once per connection cut
}

// newCutter starts a proxy to db's server and returns it with the URL of
// db through it.
func newCutter(t *testing.T, db pgtest.DB) (*cutter, string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	network, addr := "tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	if filepath.IsAbs(cfg.Host) {
		network, addr = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, dial: func() (net.Conn, error) { return net.Dial(network, addr) }, cut: make(chan struct{}, 16)}
	go c.accept()
	t.Cleanup(func() { ln.Close() })
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("host")
	q.Del("port")
	q.Set("sslmode", "disable")
	u.Host, u.RawQuery = ln.Addr().String(), q.Encode()
	return c, u.String()
}

// arm makes the proxy cut the connection that next sends marker.
func (c *cutter) arm(marker []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.marker = marker
}

// armed reports whether chunk holds the armed marker, and disarms it.
func (c *cutter) armed(chunk []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.marker == nil || !bytes.Contains(chunk, c.marker) {
		return false
	}
	c.marker = nil
	return true
}

func (c *cutter) accept() {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		server, err := c.dial()
		if err != nil {
			client.Close()
			continue
		}
		go c.pipe(client, server)
	}
}

func (c *cutter) pipe(client, server net.Conn) {
	var cutting sync.Once
	armed := make(chan struct{})
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 && c.armed(buf[:n]) {
				cutting.Do(func() { close(armed) })
			}
			if n > 0 {
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				server.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		select {
		case <-armed:
			// The answer to the marked request: dropped, with the
			// connection.
			client.Close()
			server.Close()
			c.cut <- struct{}{}
			return
		default:
		}
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				server.Close()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				server.Close()
			}
			client.Close()
			return
		}
	}
}

// waitCut waits for the proxy to cut a connection.
func (c *cutter) waitCut(t *testing.T) {
	t.Helper()
	select {
	case <-c.cut:
	case <-time.After(30 * time.Second):
		t.Fatal("the proxy never met the marked request")
	}
}

// A write whose commit the server carried out but whose answer was lost
// with the connection is told as of unknown outcome, never as not
// stored: a conditional append (one batch of statements, which pgx reads
// with a reader of several results), a consumer's commit (a transaction's
// COMMIT), and, as a guard, a plain append.
func TestALostAnswerAfterTheCommitIsUnknown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	direct, err := postgres.Open(ctx, db.URL, postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	c, viaURL := newCutter(t, db)
	via, err := postgres.Open(ctx, viaURL+"&pool_max_conns=2", postgres.WithSchema(db.Schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { via.Close() })
	streamHolds := func(stream string) int {
		recs, err := collect(direct.ReadStream(ctx, stream, 0))
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}

	for _, w := range []struct {
		name   string
		marker string
		write  func() error
		stored func() bool
	}{
		{"conditional append", "CutAfterCommit-1", func() error {
			q := store.Query{Items: []store.QueryItem{{Tags: []string{"seat:1"}}}}
			_, err := via.AppendIf(ctx, "decision-1", store.NoStream,
				[]store.Event{{Type: "CutAfterCommit-1", Tags: []string{"seat:1"}, Data: []byte(`{}`)}},
				store.AppendCondition{FailIfEventsMatch: q})
			return err
		}, func() bool { return streamHolds("decision-1") == 1 }},
		{"plain append", "CutAfterCommit-2", func() error {
			_, err := via.Append(ctx, "stream-2", store.NoStream, []store.Event{{Type: "CutAfterCommit-2", Data: []byte(`{}`)}})
			return err
		}, func() bool { return streamHolds("stream-2") == 1 }},
		{"consumer commit", "Q\x00\x00\x00\x0bcommit\x00", func() error {
			return via.Commit(ctx, "cut-consumer", 0, 1, func(tx store.StateTx) error {
				return tx.SaveState(ctx, "v", "k", []byte(`{"n":1}`))
			})
		}, func() bool {
			pos, err := direct.Checkpoint(ctx, "cut-consumer")
			if err != nil {
				t.Fatal(err)
			}
			return pos == 1
		}},
	} {
		c.arm([]byte(w.marker))
		err := w.write()
		c.waitCut(t)
		if !w.stored() {
			t.Fatalf("%s: not stored (%v); the proxy should have cut the answer to its commit", w.name, err)
		}
		if err == nil || !errors.Is(err, store.ErrOutcomeUnknown) {
			t.Errorf("%s: stored, and told %v; want an error matching store.ErrOutcomeUnknown", w.name, err)
		}
	}
}

// A request cut because its own context ended drops its connection
// alone: the other connections of the pool, idle or in use, are the
// server's sessions they were before.
func TestADeadlineDropsOnlyItsConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := openFaultyWith(t, "&pool_max_conns=4&pool_min_conns=4")
	db, s, app, admin := f.db, f.Store, f.app, f.admin
	sessions := func() []int {
		rows, err := admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatal(err)
		}
		return pids
	}
	var before []int
	for deadline := time.Now().Add(10 * time.Second); len(before) < 4; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pool opened %d of its 4 connections", len(before))
		}
		before = sessions()
	}
	events := pgx.Identifier{db.Schema, "annals_events"}.Sanitize()
	for _, sql := range []string{
		`CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.type = 'Slow' THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER slow_insert BEFORE INSERT ON ` + events + ` FOR EACH ROW EXECUTE FUNCTION slow_insert()`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.Append(short, "slow", store.NoStream, []store.Event{{Type: "Slow", Data: []byte(`{}`)}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an append past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if _, err := s.Append(ctx, "fast", store.NoStream, []store.Event{{Type: "Fast", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a reset pool closes its connections in the background
	after := sessions()
	kept := len(lo.Intersect(before, after))
	if kept < len(before)-1 {
		t.Fatalf("of the pool's %d sessions %v, %d are left %v after one request met its deadline; want all but the one cut", len(before), before, kept, after)
	}
}
