package memory

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/annals-dev/annals/store"
)

func init() {
	store.Register("memory", openURL)
}

// openURL opens the store a "memory:" URL names; store.Open calls it.
func openURL(_ context.Context, u *url.URL) (store.Store, error) {
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("open memory store: %w", err)
	}
	return New(), nil
}

// checkURL refuses a "memory:" URL with anything after the scheme. The
// store would use none of it, and a path such as memory:///var/app.db
// reads as a file that keeps the events, which nothing does. It never
// puts the whole URL, or a parameter's value, in an error: a URL can
// hold secrets.
func checkURL(u *url.URL) error {
	var extra string
	switch {
	case u.User != nil:
		extra = "a user name"
	case u.Host != "":
		extra = fmt.Sprintf("host %q", u.Host)
	case u.Opaque != "":
		extra = fmt.Sprintf("path %q", u.Opaque)
	case u.Path != "":
		extra = fmt.Sprintf("path %q", u.Path)
	case u.RawQuery != "" || u.ForceQuery:
		extra = "a query"
		if q, err := url.ParseQuery(u.RawQuery); err == nil && len(q) > 0 {
			extra = "parameters " + strings.Join(slices.Sorted(maps.Keys(q)), ", ")
		}
	case u.Fragment != "":
		extra = "a #fragment"
	default:
		return nil
	}
	return fmt.Errorf("memory URL has %s, but the memory store takes no path or parameters and keeps nothing once the program ends; write memory:, or for a durable store sqlite:///absolute/path/app.db or postgres://user@host/database: %w",
		extra, store.ErrInvalid)
}
