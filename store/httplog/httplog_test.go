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
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/httplog"
	"github.com/annals-dev/annals/store/memory"
)

// serve serves log over HTTP for the test, and returns a client of it.
func serve(t testing.TB, log store.Log, opts ...httplog.HandlerOption) *httplog.Client {
	srv := httptest.NewServer(http.StripPrefix("/api", httplog.Handler(log, opts...)))
	t.Cleanup(srv.Close)
	c, err := httplog.NewClient(srv.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	return c
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
		c := serve(t, st)
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

	if _, err := c.ReadLog(ctx, store.LogQuery{Types: []string{""}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an empty type: %v; want store.ErrInvalid", err)
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

	// A closed store is the server's trouble, not the request's. (A
	// closed memory store still reads, but refuses to wait.)
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
		{"out of order", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"records":[{"id":%q,"position":5},{"id":%q,"position":5}]}`, uuid.New(), uuid.New())
		}, "broke the log's order"},
		{"not after", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"records":[{"id":%q,"position":0}]}`, uuid.New())
		}, "broke the log's order"},
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
}

// The handler refuses what is not a request of the protocol with 400 and
// a message, and answers nothing but GET.
func TestHandlerRefusesBadRequests(t *testing.T) {
	h := httplog.Handler(memory.New())
	for _, tc := range []struct {
		method, target string
		status         int
		want           string
	}{
		{"GET", "/log?after=x", http.StatusBadRequest, `after=\"x\" is not a whole number`},
		{"GET", "/log?limit=1e3", http.StatusBadRequest, `limit=\"1e3\" is not a whole number`},
		{"GET", "/wait?after=-", http.StatusBadRequest, "not a whole number"},
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
	for _, u := range []string{"", "orders.internal/log", "ftp://host/log", "http://", "://x"} {
		if _, err := httplog.NewClient(u); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("NewClient(%q) = %v; want store.ErrInvalid", u, err)
		}
	}
}

// Headers given to the client reach the server with every request.
func TestClientSendsItsHeaders(t *testing.T) {
	var seen []string
	inner := httplog.Handler(memory.New(), httplog.WithMaxWait(time.Millisecond))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		seen = append(seen, r.URL.Path)
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
	if !slices.Equal(seen[:3], []string{"/head", "/log", "/wait"}) {
		t.Fatalf("requests seen with the credentials: %v", seen)
	}
}
