package httplog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/httplog"
	"github.com/annals-dev/annals/store/memory"
)

// serve serves log over HTTP for the test, and returns a client of it.
func serve(t testing.TB, log store.Log, opts ...httplog.HandlerOption) *httplog.Client {
	return must(httplog.NewClient(serveURL(t, log, opts...)))
}

// serveURL serves log over HTTP for the test, and returns its URL.
func serveURL(t testing.TB, log store.Log, opts ...httplog.HandlerOption) string {
	srv := httptest.NewServer(http.StripPrefix("/api", httplog.NewHandler(log, opts...)))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/"
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// sameRecords fails unless got and want hold the same records, field by
// field.
func sameRecords(t testing.TB, got, want []store.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.Time.Location() != time.UTC {
			t.Fatalf("record %d: time %v, want %v in UTC", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, gj, wj)
		}
	}
}

// For any log and any query, the client answers what the store answers:
// the same records, in the same order, with every field, payloads that
// are not text among them.
func TestClientReadsWhatTheStoreHolds(t *testing.T) {
	ctx := context.Background()
	rapid.Check(t, func(rt *rapid.T) {
		st := memory.New()
		defer st.Close()
		// A server's largest page, and the client's, 0 for the default:
		// a read of more asks for several pages.
		pages := rapid.SampledFrom([]int{0, 1, 3, 7}).Draw(rt, "page limit")
		c := must(httplog.NewClient(serveURL(t, st, httplog.WithMaxLimit(pages)), httplog.WithPageLimit(pages)))
		types := []string{"Opened", "Closed", "dog.Named", "ü ☃"}
		for range rapid.IntRange(0, 30).Draw(rt, "appends") {
			n := rapid.IntRange(1, 3).Draw(rt, "events")
			evs := make([]store.Event, n)
			for i := range evs {
				evs[i] = store.Event{
					Type:          rapid.SampledFrom(types).Draw(rt, "type"),
					SchemaVersion: rapid.IntRange(1, 3).Draw(rt, "schema"),
					Data:          rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(rt, "data"),
					Encoding:      rapid.SampledFrom([]string{"", "gzip", "aes256gcm:k1"}).Draw(rt, "encoding"),
					Metadata: store.Metadata{
						CorrelationID: rapid.SampledFrom([]string{"", "c1"}).Draw(rt, "correlation"),
						Extra:         rapid.MapOfN(rapid.SampledFrom([]string{"a", "b"}), rapid.StringMatching(`[a-zé "\\]{0,6}`), 0, 2).Draw(rt, "extra"),
					},
					Tags: rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"course:c1", "student:s7"}), 0, 2, func(s string) string { return s }).Draw(rt, "tags"),
				}
			}
			stream := rapid.SampledFrom([]string{"a", "b", "c/1"}).Draw(rt, "stream")
			if _, err := st.Append(ctx, stream, store.AnyVersion, evs); err != nil {
				rt.Fatal(err)
			}
		}
		head, err := st.Head(ctx)
		if err != nil {
			rt.Fatal(err)
		}
		if got, err := c.Head(ctx); err != nil || got != head {
			rt.Fatalf("Head = %d, %v; want %d", got, err, head)
		}
		for range 5 {
			q := store.LogQuery{
				After: rapid.Int64Range(-1, head+1).Draw(rt, "after"),
				Limit: rapid.IntRange(-1, 40).Draw(rt, "limit"),
				Types: rapid.SliceOfN(rapid.SampledFrom(types), 0, 2).Draw(rt, "types"),
			}
			want, err := st.ReadLog(ctx, q)
			if err != nil {
				rt.Fatal(err)
			}
			got, err := c.ReadLog(ctx, q)
			if err != nil {
				rt.Fatalf("ReadLog(%+v): %v", q, err)
			}
			sameRecords(t, got, want)
		}
	})
}

// Wait returns once an event is appended after the position, however many
// times the server's own wait ran out before, and not before.
func TestWaitReturnsWhenAnEventArrives(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	defer st.Close()
	if _, err := st.Append(ctx, "a", store.AnyVersion, []store.Event{{Type: "T"}}); err != nil {
		t.Fatal(err)
	}
	c := serve(t, st, httplog.WithMaxWait(5*time.Millisecond))
	if err := c.Wait(ctx, 0); err != nil {
		t.Fatalf("Wait after 0 with an event at 1: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait(ctx, 1) }()
	select {
	case err := <-done:
		t.Fatalf("Wait after the head returned %v before any event came", err)
	case <-time.After(60 * time.Millisecond): // a dozen of the server's waits
	}
	if _, err := st.Append(ctx, "a", store.AnyVersion, []store.Event{{Type: "T"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := c.Wait(cctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait until a deadline with no event = %v; want context.DeadlineExceeded", err)
	}
}

// brokenLog is a log whose every read fails with err.
type brokenLog struct{ err error }

func (b brokenLog) ReadLog(context.Context, store.LogQuery) ([]store.Record, error) {
	return nil, b.err
}
func (b brokenLog) Head(context.Context) (int64, error) { return 0, b.err }
func (b brokenLog) Wait(context.Context, int64) error   { return b.err }

// whole is the JSON of a record at position that has every field a log's
// record has.
func whole(position int) string {
	return fmt.Sprintf(`{"id":%q,"stream_id":"o-%d","version":1,"position":%d,"type":"Placed"}`, uuid.New(), position, position)
}

// The store's errors cross the wire as the errors a caller branches on,
// and an answer that is not the handler's, or not whole, is an error,
// never an empty page.
func TestClientTellsWhatFailed(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	if _, err := st.Append(ctx, "a", store.AnyVersion, []store.Event{{Type: "T"}, {Type: "T"}}); err != nil {
		t.Fatal(err)
	}
	c := serve(t, st, httplog.WithMaxLimit(10))

	if _, err := c.ReadLog(ctx, store.LogQuery{Types: []string{""}}); !errors.Is(err, store.ErrInvalid) || strings.Count(err.Error(), store.ErrInvalid.Error()) != 1 {
		t.Errorf("an empty type: %v; want store.ErrInvalid, said once", err)
	}
	many := lo.Times(100_000, func(i int) string { return fmt.Sprintf("Type%d", i) }) // a URL past the server's 1 MB of headers
	if _, err := c.ReadLog(ctx, store.LogQuery{Types: many}); err == nil || len(err.Error()) > 1000 {
		t.Errorf("a URL too long for the server: an error of %d bytes; want one shorter than 1000", len(fmt.Sprint(err)))
	}
	if _, err := c.ReadLog(ctx, store.LogQuery{Limit: 11}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "above the 10 records") {
		t.Errorf("a limit above the server's: %v; want store.ErrInvalid that names the server's limit", err)
	}
	if recs, err := c.ReadLog(ctx, store.LogQuery{Limit: 10}); err != nil || len(recs) != 2 {
		t.Errorf("a limit at the server's: %d records, %v; want 2", len(recs), err)
	}

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"corrupt", fmt.Errorf("row 7: %w", store.ErrCorrupt), store.ErrCorrupt},
		{"refused", fmt.Errorf("bad: %w", store.ErrInvalid), store.ErrInvalid},
	} {
		bc := serve(t, brokenLog{tc.err})
		if _, err := bc.ReadLog(ctx, store.LogQuery{}); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.err.Error()) {
			t.Errorf("%s: ReadLog = %v; want %v with the server's message", tc.name, err, tc.want)
		}
		if _, err := bc.Head(ctx); !errors.Is(err, tc.want) {
			t.Errorf("%s: Head = %v; want %v", tc.name, err, tc.want)
		}
		if err := bc.Wait(ctx, 0); !errors.Is(err, tc.want) {
			t.Errorf("%s: Wait = %v; want %v", tc.name, err, tc.want)
		}
	}

	// A closed store is the server's trouble, not the request's.
	closed := memory.New()
	closed.Close()
	if err := serve(t, closed).Wait(ctx, 0); err == nil || errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "503") {
		t.Errorf("a closed store: %v; want a 503 that is not store.ErrInvalid", err)
	}

	// Answers that are not the handler's.
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"not found", http.NotFound, "check that the URL"},
		{"cut off", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"records":[{"id":"`) }, "does not decode"},
		{"not a page", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{}`) }, `without a "records"`},
		{"null", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `null`) }, `without a "records"`},
		{"too many", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"records":[%s]}`, strings.Join(lo.Times(101, func(i int) string { return whole(i + 1) }), ","))
		}, "broke the log's paging"},
		{"out of order", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"records":[%s,%s]}`, whole(5), whole(5))
		}, "broke the log's order"},
		{"not after", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"records":[%s]}`, whole(0))
		}, "broke the log's order"},
		{"empty records", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"records":[{"position":1}]}`) }, "has no event ID"},
		{"no stream", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"records":[{"id":%q,"position":1,"version":1,"type":"Placed"}]}`, uuid.New())
		}, "has no stream"},
		{"no version", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"records":[{"id":%q,"stream_id":"o-1","position":1,"type":"Placed"}]}`, uuid.New())
		}, "has no version"},
		{"no type", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"records":[{"id":%q,"stream_id":"o-1","position":1,"version":1}]}`, uuid.New())
		}, "has no type"},
	} {
		srv := httptest.NewServer(tc.handler)
		c, err := httplog.NewClient(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := c.ReadLog(ctx, store.LogQuery{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ReadLog = %d records, %v; want an error saying %q", tc.name, len(recs), err, tc.want)
		}
		srv.Close()
	}

	// A server that answers everything with something else: no head is
	// taken for 0, and Wait does not take it for "nothing yet".
	catchAll := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) }))
	defer catchAll.Close()
	other := must(httplog.NewClient(catchAll.URL))
	if h, err := other.Head(ctx); err == nil || !strings.Contains(err.Error(), `without a "head"`) {
		t.Errorf("Head from a server that is not the handler = %d, %v; want an error", h, err)
	}
	if err := other.Wait(ctx, 0); err == nil || !strings.Contains(err.Error(), `without a "head"`) {
		t.Errorf("Wait on a server that is not the handler = %v; want an error", err)
	}
}

// The handler refuses what is not a request of the protocol with 400 and
// a message, and answers nothing but GET.
func TestHandlerRefusesBadRequests(t *testing.T) {
	h := httplog.NewHandler(memory.New())
	for _, tc := range []struct {
		method, target string
		status         int
		want           string
	}{
		{"GET", "/log?after=x", http.StatusBadRequest, `after=\"x\" is not a whole number`},
		{"GET", "/log?limit=1e3", http.StatusBadRequest, `limit=\"1e3\" is not a whole number`},
		{"GET", "/log?after=-1", http.StatusBadRequest, `after=\"-1\" is not a whole number of 0 or more`},
		{"GET", "/log?limit=-5", http.StatusBadRequest, `limit=\"-5\" is not a whole number of 0 or more`},
		{"GET", "/wait?after=-1", http.StatusBadRequest, `after=\"-1\" is not a whole number of 0 or more`},
		{"GET", "/wait?after=-", http.StatusBadRequest, "not a whole number"},
		{"GET", "/log?after=%zz", http.StatusBadRequest, "does not parse"},
		{"GET", "/log?after=3;x=1", http.StatusBadRequest, "does not parse"},
		{"GET", "/log?limit=%zz", http.StatusBadRequest, "does not parse"},
		{"GET", "/wait?after=%zz", http.StatusBadRequest, "does not parse"},
		{"GET", "/log?after=3&after=0", http.StatusBadRequest, "after is given 2 times"},
		{"GET", "/log?limit=3&limit=4", http.StatusBadRequest, "limit is given 2 times"},
		{"GET", "/wait?after=1&after=1", http.StatusBadRequest, "after is given 2 times"},
		{"GET", "/log?type=", http.StatusBadRequest, `"invalid"`},
		{"POST", "/log", http.StatusMethodNotAllowed, ""},
		{"GET", "/log", http.StatusOK, `{"records":[]}`},
		{"GET", "/head", http.StatusOK, `{"head":0}`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %s; want %d with %s", tc.method, tc.target, rec.Code, rec.Body, tc.status, tc.want)
		}
	}
}

func TestNewClientRefusesAURLItCannotUse(t *testing.T) {
	for _, u := range []string{"", "orders.internal/log", "ftp://host/log", "http://", "://x", "http://host/log#page", "http://host/log?token=%zz"} {
		if _, err := httplog.NewClient(u); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("NewClient(%q) = %v; want store.ErrInvalid", u, err)
		}
	}
}

// Headers given to the client reach the server with every request.
func TestClientSendsItsHeaders(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	inner := httplog.NewHandler(memory.New(), httplog.WithMaxWait(time.Millisecond))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx := context.Background()
	anon, _ := httplog.NewClient(srv.URL)
	if _, err := anon.Head(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without credentials: %v; want the 401", err)
	}
	c, _ := httplog.NewClient(srv.URL, httplog.WithHeader("Authorization", "Bearer s3cret"))
	if _, err := c.Head(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadLog(ctx, store.LogQuery{}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_ = c.Wait(wctx, 0)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen[:3], []string{"/head", "/log", "/wait"}) {
		t.Fatalf("requests seen with the credentials: %v", seen)
	}
}

// A wait that the server ends early, with nothing new, is asked again
// after a pause, not at once: a server whose longest wait is short, or
// that shuts down, is not flooded.
func TestWaitPausesWhenTheServerAnswersAtOnce(t *testing.T) {
	var requests atomic.Int64
	inner := httplog.NewHandler(memory.New(), httplog.WithMaxWait(time.Nanosecond))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := must(httplog.NewClient(srv.URL)).Wait(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v; want the deadline", err)
	}
	if n := requests.Load(); n > 30 {
		t.Fatalf("%d requests in 300 ms; want a pause between them", n)
	}
}

// Close ends the waits open on the handler, and those that come after,
// with the head; the reads go on.
func TestCloseEndsTheWaits(t *testing.T) {
	st := memory.New()
	h := httplog.NewHandler(st, httplog.WithMaxWait(time.Hour))
	wait := func() chan *httptest.ResponseRecorder {
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/wait?after=0", nil))
			done <- rec
		}()
		return done
	}
	open := wait()
	select {
	case rec := <-open:
		t.Fatalf("a wait on an empty log answered %d %s before Close", rec.Code, rec.Body)
	case <-time.After(50 * time.Millisecond):
	}
	h.Close()
	for _, done := range []chan *httptest.ResponseRecorder{open, wait()} {
		select {
		case rec := <-done:
			if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"head":0}` {
				t.Fatalf("a wait ended by Close: %d %s; want the head", rec.Code, rec.Body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a wait did not end within 10 s of Close")
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/log", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("a read after Close: %d %s", rec.Code, rec.Body)
	}
}

// A query in the client's URL (a token) goes with every request.
func TestClientKeepsTheQueryOfItsURL(t *testing.T) {
	inner := httplog.NewHandler(memory.New())
	var (
		mu     sync.Mutex
		tokens []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.URL.Query().Get("token"))
		mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := must(httplog.NewClient(srv.URL + "/?token=s3cret"))
	ctx := context.Background()
	must(c.Head(ctx))
	must(c.ReadLog(ctx, store.LogQuery{After: 3}))
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(tokens, []string{"s3cret", "s3cret"}) {
		t.Fatalf("tokens the server saw: %q", tokens)
	}
}

// countingLog counts the waits on a log that run at once.
type countingLog struct {
	store.Log
	now, most atomic.Int64
}

func (c *countingLog) Wait(ctx context.Context, after int64) error {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		m := c.most.Load()
		if n <= m || c.most.CompareAndSwap(m, n) {
			break
		}
	}
	return c.Log.Wait(ctx, after)
}

// However many clients wait, the store sees one wait at a time (on
// PostgreSQL a wait holds a connection of the pool), and every client
// wakes when an event comes.
func TestClientsShareOneWaitOnTheStore(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	must(st.Append(ctx, "a", store.NoStream, []store.Event{{Type: "T"}}))
	log := &countingLog{Log: st}
	c := serve(t, log)
	const clients = 40
	errs := make(chan error, clients)
	for range clients {
		go func() { errs <- c.Wait(ctx, 1) }()
	}
	time.Sleep(100 * time.Millisecond) // the clients' requests arrive
	select {
	case err := <-errs:
		t.Fatalf("a wait at the head returned %v before any event came", err)
	default:
	}
	must(st.Append(ctx, "a", 1, []store.Event{{Type: "T"}}))
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if most := log.most.Load(); most != 1 {
		t.Fatalf("%d waits on the store at once for %d clients; want 1", most, clients)
	}
}

// Every wait on a store that cannot wait is answered with its failure,
// not only the first: the one wait the clients share fails again for
// each.
func TestEveryWaitOnAClosedStoreFails(t *testing.T) {
	closed := memory.New()
	closed.Close()
	c := serve(t, closed, httplog.WithMaxWait(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		if err := c.Wait(ctx, 0); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("wait %d on a closed store: %v; want a 503", i, err)
		}
	}
}

// roundTripper counts the requests it carries to its transport.
type roundTripper struct{ n atomic.Int64 }

func (rt *roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// The client given by WithHTTPClient carries every request.
func TestClientUsesTheHTTPClientGiven(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	if _, err := s.Append(ctx, "a", store.NoStream, []store.Event{{Type: "A"}, {Type: "B"}}); err != nil {
		t.Fatal(err)
	}
	// A wait for an event the log holds ends as soon as the handler has
	// read the head; a short longest wait could end it first, answering
	// "not yet", and the client would ask again.
	srv := httptest.NewServer(httplog.NewHandler(s, httplog.WithMaxWait(time.Minute)))
	defer srv.Close()
	rt := &roundTripper{}
	c, err := httplog.NewClient(srv.URL, httplog.WithHTTPClient(&http.Client{Transport: rt}), httplog.WithPageLimit(1))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.ReadLog(ctx, store.LogQuery{Limit: 2})
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadLog = %d records, %v; want 2", len(recs), err)
	}
	if _, err := c.Head(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := rt.n.Load(); got != 4 {
		t.Fatalf("the HTTP client given carried %d requests; want 4 (two pages, the head, the wait)", got)
	}
}
