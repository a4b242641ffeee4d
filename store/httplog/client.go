package httplog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/annals-dev/annals/store"
)

// Client reads a log that a [Handler] serves. It is a [store.Log]: give
// it to a consumer with annals.WithSource, and the consumer follows the
// log of a database it holds no credentials for, keeping its checkpoint
// and read model in its own store. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	http      *http.Client
	header    http.Header
	pageLimit int
}

var _ store.Log = (*Client)(nil)

// ClientOption configures a [Client].
type ClientOption func(*Client)

// WithHTTPClient makes the client send its requests with c instead of
// http.DefaultClient: for TLS settings, a transport, or a time-out. A
// time-out must be longer than the server's longest wait
// ([DefaultMaxWait] unless [WithMaxWait] said otherwise).
func WithHTTPClient(c *http.Client) ClientOption {
	return func(cl *Client) {
		if c != nil {
			cl.http = c
		}
	}
}

// WithHeader adds a header to every request, such as the credentials the
// server's authentication wants:
//
//	httplog.WithHeader("Authorization", "Bearer "+token)
func WithHeader(name, value string) ClientOption {
	return func(cl *Client) { cl.header.Add(name, value) }
}

// WithPageLimit sets the most records the client asks the server for in
// one request; n <= 0 keeps [DefaultMaxLimit], the server's default. A
// read of more asks page after page, so that it answers as a store would:
// the records asked for, or all there are. Set it to at most the
// server's [WithMaxLimit].
func WithPageLimit(n int) ClientOption {
	return func(cl *Client) {
		if n > 0 {
			cl.pageLimit = n
		}
	}
}

// NewClient returns a client of the log served at baseURL, the URL under
// which the [Handler] is mounted (such as "https://orders.internal/log-api").
// A query in baseURL (such as a token) goes with every request. A URL
// that is not absolute http or https fails with [store.ErrInvalid].
func NewClient(baseURL string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return nil, fmt.Errorf("httplog: %q is not an absolute http or https URL without a fragment: give the URL the log's handler is mounted at: %w", baseURL, store.ErrInvalid)
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return nil, fmt.Errorf("httplog: the query of %q does not parse: %v: %w", baseURL, err, store.ErrInvalid)
	}
	c := &Client{base: u, http: http.DefaultClient, header: http.Header{}, pageLimit: DefaultMaxLimit}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// ReadLog returns a page of the log after q.After; see [store.Store.ReadLog].
// A limit above the client's page limit ([WithPageLimit]) is read in
// several requests.
func (c *Client) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	if q.Limit <= 0 {
		q.Limit = store.DefaultLogLimit
	}
	var recs []store.Record
	for after := max(q.After, 0); ; { // positions begin at 1: before 0 is from the start, and the server takes no less
		page, err := c.readPage(ctx, after, min(q.Limit-len(recs), c.pageLimit), q.Types)
		if err != nil {
			return nil, err
		}
		if recs == nil {
			recs = page
		} else {
			recs = append(recs, page...)
		}
		if len(recs) == q.Limit || len(page) < c.pageLimit {
			return recs, nil
		}
		after = page[len(page)-1].Position
	}
}

// readPage reads one page of at most limit records after after.
func (c *Client) readPage(ctx context.Context, after int64, limit int, types []string) ([]store.Record, error) {
	v := url.Values{}
	v.Set("after", strconv.FormatInt(after, 10))
	v.Set("limit", strconv.Itoa(limit))
	for _, t := range types {
		v.Add("type", t)
	}
	var p struct {
		Records *[]record `json:"records"`
	}
	if err := c.get(ctx, pathLog, v, &p); err != nil {
		return nil, err
	}
	if p.Records == nil {
		return nil, c.notTheHandler(pathLog, "records")
	}
	recs := make([]store.Record, len(*p.Records))
	last := after
	for i, r := range *p.Records {
		if r.Position <= last {
			return nil, fmt.Errorf("httplog: %s: record %d of the page after %d is at position %d, not after %d: the server broke the log's order: %w", c.base.Redacted(), i, after, r.Position, last, store.ErrCorrupt)
		}
		if missing := r.missing(); missing != "" {
			return nil, fmt.Errorf("httplog: %s: record %d of the page after %d, at position %d, has no %s, which every record of a log has: the server is not an annals log handler, or its answer was changed on the way: %w", c.base.Redacted(), i, after, r.Position, missing, store.ErrCorrupt)
		}
		last = r.Position
		recs[i] = store.Record(r)
	}
	if len(recs) > limit {
		return nil, fmt.Errorf("httplog: %s: %d records for a page of %d: the server broke the log's paging: %w", c.base.Redacted(), len(recs), limit, store.ErrCorrupt)
	}
	return recs, nil
}

// Head returns the position of the last event of the log.
func (c *Client) Head(ctx context.Context) (int64, error) {
	return c.head(ctx, pathHead, nil)
}

// Wait blocks until the log holds an event after position after, or ctx
// is done. It asks the server again each time the server's wait ends
// without one; after a wait that ended early (a server shutting down, a
// short WithMaxWait), it pauses first, longer each time, up to a second.
func (c *Client) Wait(ctx context.Context, after int64) error {
	v := url.Values{"after": {strconv.FormatInt(max(after, 0), 10)}} // any event is after 0, as after a position below it
	pause := time.Duration(0)
	for {
		start := time.Now()
		head, err := c.head(ctx, pathWait, v)
		if err != nil {
			return err
		}
		if head > after {
			return nil
		}
		if time.Since(start) >= minWait {
			pause = 0
			continue
		}
		pause = min(max(2*pause, 10*time.Millisecond), time.Second)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("httplog: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// minWait is how long a wait must have lasted for the client to ask
// again at once.
const minWait = 500 * time.Millisecond

// head reads the head from path, /head or /wait.
func (c *Client) head(ctx context.Context, path string, v url.Values) (int64, error) {
	var h struct {
		Head *int64 `json:"head"`
	}
	if err := c.get(ctx, path, v, &h); err != nil {
		return 0, err
	}
	if h.Head == nil {
		return 0, c.notTheHandler(path, "head")
	}
	return *h.Head, nil
}

// notTheHandler is the error of an answer of 200 that does not hold what
// the log's handler puts in it.
func (c *Client) notTheHandler(path, field string) error {
	return fmt.Errorf("httplog: GET %s%s answered without a %q: check that the URL is where the log's handler is mounted", shortURL(c.base), path, field)
}

// get sends a GET to path with the query v and decodes the answer into
// out, or turns an error answer back into the store's error.
func (c *Client) get(ctx context.Context, path string, v url.Values, out any) error {
	u := c.base.JoinPath(path)
	q := c.base.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("httplog: %w", err)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("httplog: %w", context.Cause(ctx))
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the whole URL
		}
		return fmt.Errorf("httplog: GET %s: %w", shortURL(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.failure(resp, u)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("httplog: %w", context.Cause(ctx))
		}
		return fmt.Errorf("httplog: GET %s: the answer does not decode: %w", shortURL(u), err)
	}
	return nil
}

// failure turns an answer other than 200 into an error.
func (c *Client) failure(resp *http.Response, u *url.URL) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var f failure
	if json.Unmarshal(body, &f) != nil || f.Kind == "" {
		// Not an answer of the log's handler: a proxy's, a wrong URL's.
		hint := "" // a proxy's failure, or the authentication's refusal, says enough
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			hint = ": check that the URL is where the log's handler is mounted"
		}
		return fmt.Errorf("httplog: GET %s answered %s (%q)%s", shortURL(u), resp.Status, strings.TrimSpace(string(body)), hint)
	}
	var kind error
	switch f.Kind {
	case kindInvalid:
		kind = store.ErrInvalid
	case kindCorrupt:
		kind = store.ErrCorrupt
	default:
		return fmt.Errorf("httplog: the server of %s answered %s: %s", shortURL(c.base), resp.Status, f.Error)
	}
	msg := strings.TrimSuffix(f.Error, ": "+kind.Error()) // the server's message ends with it
	return fmt.Errorf("httplog: the server of %s answered %s: %s: %w", shortURL(c.base), resp.Status, msg, kind)
}

// shortURL is u for an error message: without its password, and cut
// short when a long query (many types) makes it long.
func shortURL(u *url.URL) string {
	s := u.Redacted()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
