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

	"github.com/annals-dev/annals/store"
)

// Client reads a log that a [Handler] serves. It is a [store.Log]: give
// it to a consumer with annals.WithSource, and the consumer follows the
// log of a database it holds no credentials for, keeping its checkpoint
// and read model in its own store. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	http   *http.Client
	header http.Header
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

// NewClient returns a client of the log served at baseURL, the URL under
// which the [Handler] is mounted (such as "https://orders.internal/log-api").
// A URL that is not absolute http or https fails with [store.ErrInvalid].
func NewClient(baseURL string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("httplog: %q is not an absolute http or https URL: give the URL the log's handler is mounted at: %w", baseURL, store.ErrInvalid)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: http.DefaultClient, header: http.Header{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// ReadLog returns a page of the log after q.After; see [store.Store.ReadLog].
func (c *Client) ReadLog(ctx context.Context, q store.LogQuery) ([]store.Record, error) {
	v := url.Values{}
	v.Set("after", strconv.FormatInt(q.After, 10))
	v.Set("limit", strconv.Itoa(q.Limit))
	for _, t := range q.Types {
		v.Add("type", t)
	}
	var p page
	if err := c.get(ctx, pathLog, v, &p); err != nil {
		return nil, fmt.Errorf("read the log after %d: %w", q.After, err)
	}
	recs := make([]store.Record, len(p.Records))
	last := q.After
	for i, r := range p.Records {
		if r.Position <= last {
			return nil, fmt.Errorf("read the log after %d from %s: record %d is at position %d, not after %d: the server broke the log's order: %w", q.After, c.base.Redacted(), i, r.Position, last, store.ErrCorrupt)
		}
		last = r.Position
		recs[i] = store.Record(r)
	}
	return recs, nil
}

// Head returns the position of the last event of the log.
func (c *Client) Head(ctx context.Context) (int64, error) {
	var h head
	if err := c.get(ctx, pathHead, nil, &h); err != nil {
		return 0, fmt.Errorf("read the head of the log: %w", err)
	}
	return h.Head, nil
}

// Wait blocks until the log holds an event after position after, or ctx
// is done. It asks the server again each time the server's longest wait
// passes without one.
func (c *Client) Wait(ctx context.Context, after int64) error {
	v := url.Values{"after": {strconv.FormatInt(after, 10)}}
	for {
		var h head
		if err := c.get(ctx, pathWait, v, &h); err != nil {
			return fmt.Errorf("wait for the log to pass %d: %w", after, err)
		}
		if h.Head > after {
			return nil
		}
	}
}

// get sends a GET to path with the query v and decodes the answer into
// out, or turns an error answer back into the store's error.
func (c *Client) get(ctx context.Context, path string, v url.Values, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = v.Encode()
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
		return fmt.Errorf("httplog: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.failure(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("httplog: %w", context.Cause(ctx))
		}
		return fmt.Errorf("httplog: GET %s: the answer does not decode: %w", u.Redacted(), err)
	}
	return nil
}

// failure turns an answer other than 200 into an error.
func (c *Client) failure(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var f failure
	if json.Unmarshal(body, &f) != nil || f.Kind == "" {
		// Not an answer of the log's handler: a proxy's, a wrong URL's.
		hint := "" // a proxy's failure, or the authentication's refusal, says enough
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			hint = ": check that the URL is where the log's handler is mounted"
		}
		return fmt.Errorf("httplog: GET %s answered %s (%q)%s",
			resp.Request.URL.Redacted(), resp.Status, strings.TrimSpace(string(body)), hint)
	}
	msg := fmt.Sprintf("httplog: the server of %s answered %s: %s", c.base.Redacted(), resp.Status, f.Error)
	switch f.Kind {
	case kindInvalid:
		return fmt.Errorf("%s: %w", msg, store.ErrInvalid)
	case kindCorrupt:
		return fmt.Errorf("%s: %w", msg, store.ErrCorrupt)
	default:
		return errors.New(msg)
	}
}
