package httplog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
)

// The paths the handler serves, under the prefix it is mounted at.
const (
	pathLog  = "/log"
	pathHead = "/head"
	pathWait = "/wait"
)

// Defaults of [NewHandler].
const (
	// DefaultMaxWait is how long the handler holds a request to /wait
	// when no event comes.
	DefaultMaxWait = 25 * time.Second
	// DefaultMaxLimit is the largest page the handler serves.
	DefaultMaxLimit = 10000
)

// record is a [store.Record] on the wire. Its fields are Record's, in
// Record's order, so that each converts to the other; a field added to
// Record and not here fails the build.
type record struct {
	ID            uuid.UUID      `json:"id"`
	StreamID      string         `json:"stream_id"`
	Version       int64          `json:"version"`
	Position      int64          `json:"position"`
	Type          string         `json:"type"`
	SchemaVersion int            `json:"schema_version"`
	Time          time.Time      `json:"time"`
	Data          []byte         `json:"data"`
	Encoding      string         `json:"encoding,omitempty"`
	Metadata      store.Metadata `json:"metadata"`
	Tags          []string       `json:"tags,omitempty"`
}

// missing names a field that every record of a log has and r lacks, or
// is "".
func (r record) missing() string {
	switch {
	case r.ID == uuid.Nil:
		return "event ID"
	case r.StreamID == "":
		return "stream"
	case r.Version < 1:
		return "version"
	case r.Type == "":
		return "type"
	}
	return ""
}

// page is the answer to /log.
type page struct {
	Records []record `json:"records"`
}

// headAnswer is the answer to /head and /wait.
type headAnswer struct {
	Head int64 `json:"head"`
}

// The kinds of failure an answer names, which the client turns back into
// the store's errors.
const (
	kindInvalid     = "invalid"     // store.ErrInvalid: the request can never succeed
	kindCorrupt     = "corrupt"     // store.ErrCorrupt
	kindUnavailable = "unavailable" // the store is closed: try again, elsewhere or later
	kindFailed      = "failed"      // any other failure of the store
)

// failure is the body of an answer other than 200.
type failure struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// HandlerOption configures [NewHandler].
type HandlerOption func(*Handler)

// WithMaxWait sets how long a request to /wait is held when no event
// comes; d <= 0 keeps [DefaultMaxWait]. Make it less than the time-outs
// of the proxies between the server and its clients. The client asks
// again, so this bounds a request, not the wait.
func WithMaxWait(d time.Duration) HandlerOption {
	return func(h *Handler) {
		if d > 0 {
			h.maxWait = d
		}
	}
}

// WithMaxLimit sets the largest page the handler serves; n <= 0 keeps
// [DefaultMaxLimit]. A request for more is refused, never cut short: a
// consumer takes a short page for the end of the log. Give the clients
// the same [WithPageLimit], or less.
func WithMaxLimit(n int) HandlerOption {
	return func(h *Handler) {
		if n > 0 {
			h.maxLimit = n
		}
	}
}

// Handler serves a log over HTTP; see [NewHandler].
type Handler struct {
	log      store.Log
	maxWait  time.Duration
	maxLimit int
	mux      *http.ServeMux
	ctx      context.Context // ends with Close
	cancel   context.CancelFunc
	watch    watch
}

// NewHandler returns an HTTP handler that serves log, read-only, to the
// [Client]s of this package:
//
//	GET /log?after=P&limit=N&type=T…  the records after position P
//	GET /head                          the head of the log
//	GET /wait?after=P                  the head, once it has passed P or
//	                                   after the handler's longest wait
//
// Mount it under a prefix of your server with http.StripPrefix, behind
// the authentication your other endpoints use: it serves every event of
// the log, as stored. Payloads that the codec encrypted stay encrypted.
// However many clients wait, it runs one Wait on the log at a time, in a
// goroutine that lives while a request waits: on PostgreSQL a wait
// holds a connection of the pool, which the appends need. Register its
// Close with the server's shutdown, so that a graceful shutdown does
// not wait for the clients' waits:
//
//	srv.RegisterOnShutdown(h.Close)
func NewHandler(log store.Log, opts ...HandlerOption) *Handler {
	h := &Handler{log: log, maxWait: DefaultMaxWait, maxLimit: DefaultMaxLimit}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(h)
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET "+pathLog, h.readLog)
	h.mux.HandleFunc("GET "+pathHead, h.head)
	h.mux.HandleFunc("GET "+pathWait, h.wait)
	return h
}

// Close ends the waits of the clients: those open answer the head at
// once, and so do those that come after, so that the server can shut
// down without waiting out the longest wait. The clients then ask
// again, with a pause, until they reach a server that serves the log.
// Reads of the log go on.
func (h *Handler) Close() { h.cancel() }

// ServeHTTP answers a request of a [Client].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) readLog(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	after, err := intParam(q.Get("after"), "after")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	limit, err := intParam(q.Get("limit"), "limit")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if limit > int64(h.maxLimit) {
		h.fail(w, r, fmt.Errorf("limit %d is above the %d records this server serves at once: give the client httplog.WithPageLimit(%d): %w", limit, h.maxLimit, h.maxLimit, store.ErrInvalid))
		return
	}
	recs, err := h.log.ReadLog(r.Context(), store.LogQuery{After: after, Limit: int(limit), Types: q["type"]})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := page{Records: make([]record, len(recs))}
	for i, rec := range recs {
		out.Records[i] = record(rec)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) head(w http.ResponseWriter, r *http.Request) {
	at, err := h.log.Head(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, headAnswer{Head: at})
}

func (h *Handler) wait(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	after, err := intParam(q.Get("after"), "after")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.maxWait)
	defer cancel()
	head, err := h.await(ctx, after)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The wait ended: by an event, by its time, or by Close.
	writeJSON(w, http.StatusOK, headAnswer{Head: head})
}

// query parses r's query string, refusing one that does not parse whole
// (url.Values drops the pairs it cannot read, which would serve the page
// after 0 for a position that did not arrive) and a number given twice.
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("the query %.64q does not parse (%v): %w", r.URL.RawQuery, err, store.ErrInvalid)
	}
	for _, name := range []string{"after", "limit"} {
		if len(q[name]) > 1 {
			return nil, fmt.Errorf("%s is given %d times; give it once: %w", name, len(q[name]), store.ErrInvalid)
		}
	}
	return q, nil
}

// intParam parses a query parameter that is a number of 0 or more (a
// position, or a count), 0 when absent.
func intParam(v, name string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%.64q is not a whole number of 0 or more: %w", name, v, store.ErrInvalid)
	}
	return n, nil
}

// fail answers with err, its kind telling the client which of the store's
// errors it was.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client has gone
	}
	status, kind := http.StatusInternalServerError, kindFailed
	switch {
	case errors.Is(err, store.ErrClosed):
		status, kind = http.StatusServiceUnavailable, kindUnavailable
	case errors.Is(err, store.ErrInvalid):
		status, kind = http.StatusBadRequest, kindInvalid
	case errors.Is(err, store.ErrCorrupt):
		kind = kindCorrupt
	}
	if status != http.StatusBadRequest {
		slog.ErrorContext(r.Context(), "serving the log failed", "path", r.URL.Path, "error", err)
	}
	writeJSON(w, status, failure{Error: err.Error(), Kind: kind})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client sees a cut answer as an error
}
