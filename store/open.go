package store

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// EnvVar is the environment variable from which applications read the
// store URL, by convention: memory:, sqlite:///path/app.db, postgres://….
const EnvVar = "ANNALS_STORE"

// Opener opens a store from a parsed URL. Adapters register one per scheme.
// It returns a store or an error, never both: a failed open returns a nil
// Store, not an interface holding a nil pointer, on which Close would
// panic.
type Opener func(ctx context.Context, u *url.URL) (Store, error)

// adapters is the registry of linked adapters. Like database/sql's driver
// registry it is process-wide: registration happens in adapters' init
// functions, so a binary links only the adapters it imports.
var adapters struct {
	sync.RWMutex
	byScheme map[string]Opener
}

// Register makes an adapter available to [Open] under a URL scheme. Adapter
// packages call it from init. It panics if the scheme is registered twice,
// or open is nil.
func Register(scheme string, open Opener) {
	if open == nil {
		panic("annals: store.Register: nil opener for scheme " + scheme + ": give the function that opens a store of the scheme's URLs")
	}
	adapters.Lock()
	defer adapters.Unlock()
	if adapters.byScheme == nil {
		adapters.byScheme = map[string]Opener{}
	}
	if _, dup := adapters.byScheme[scheme]; dup {
		panic("annals: store adapter registered twice for scheme " + scheme)
	}
	adapters.byScheme[scheme] = open
}

// Schemes returns the URL schemes of the adapters linked into the program,
// sorted.
func Schemes() []string {
	adapters.RLock()
	defer adapters.RUnlock()
	return slices.Sorted(maps.Keys(adapters.byScheme))
}

// adapterPackages are the packages of this module's adapters, by the
// schemes they register: an error for a scheme that is not linked names
// the import that links it.
var adapterPackages = map[string]string{
	"memory":     "github.com/annals-dev/annals/store/memory",
	"postgres":   "github.com/annals-dev/annals/store/postgres",
	"postgresql": "github.com/annals-dev/annals/store/postgres",
	"sqlite":     "github.com/annals-dev/annals/store/sqlite",
}

// linked says, for an error, which adapters the program links.
func linked() string {
	schemes := Schemes()
	if len(schemes) == 0 {
		return "no store adapter is linked into this program"
	}
	return "linked schemes: " + strings.Join(schemes, ", ")
}

// Open opens the store a URL names, with the adapter registered for its
// scheme: "memory:", "sqlite:///abs/path.db", "postgres://user@host/db"….
// The adapter's package must be imported, usually for its side effect:
//
//	import _ "github.com/annals-dev/annals/store/sqlite"
//
// An unknown scheme or a malformed URL fails with an error that matches
// [ErrUnknownScheme] or [ErrInvalid] and lists the linked schemes; for a
// scheme of this module's adapters it names the package to import, and
// for any other it lists the adapters there are. An
// empty URL, what an unset [EnvVar] gives, is malformed too: Open has no
// default store, so that a deployment that forgot the variable fails at
// start rather than run on a store that vanishes with the process. Open
// returns a store or an error, never both: when it fails, the Store is
// nil and there is nothing to close.
func Open(ctx context.Context, rawURL string) (Store, error) {
	if strings.TrimSpace(rawURL) == "" {
		// Never a default: a deployment that forgot the variable would
		// write to a store that vanishes with the process.
		return nil, fmt.Errorf("open store: the URL is empty; is %s set? Give a URL such as sqlite:///var/lib/app/events.db, or memory: for tests (%s): %w",
			EnvVar, linked(), ErrInvalid)
	}
	if strings.TrimSpace(rawURL) != rawURL {
		// A path may hold spaces, but not at its ends: such a URL came
		// from a file or a shell that kept a newline or a space.
		return nil, fmt.Errorf("open store: the URL begins or ends with white space (a newline or a space from the file or the shell that set %s?); remove it: %w", EnvVar, ErrInvalid)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		// The URL is left out of the message: it may hold a password.
		return nil, fmt.Errorf("open store: not a URL of the form scheme:… (%s): %w", linked(), ErrInvalid)
	}
	p := u.Path
	if u.Opaque != "" {
		p, _ = url.PathUnescape(u.Opaque) // "" when it cannot: the adapter says what is wrong
	}
	if strings.TrimSpace(p) != p {
		return nil, fmt.Errorf("open store: the URL's path %q begins or ends with white space (%%20 counts too); remove it: %w", p, ErrInvalid)
	}
	adapters.RLock()
	open, ok := adapters.byScheme[u.Scheme]
	adapters.RUnlock()
	if pkg, ours := adapterPackages[u.Scheme]; !ok && ours {
		return nil, fmt.Errorf("open store: scheme %q is not linked into this program; link its adapter with import _ %q (%s): %w",
			u.Scheme, pkg, linked(), ErrUnknownScheme)
	}
	if !ok {
		return nil, fmt.Errorf("open store: scheme %q is not linked into this program, and Annals has no adapter for it: "+
			"its adapters are sqlite: (a database file, sqlite:///path/app.db), postgres: or postgresql: (postgres://user@host/database) and memory: (for tests); "+
			"an adapter of another module is linked by importing its package (%s): %w",
			u.Scheme, linked(), ErrUnknownScheme)
	}
	s, err := open(ctx, u)
	switch {
	case err != nil:
		// Whatever the opener returned beside its error is not a store
		// the caller could use or close.
		return nil, err
	case s == nil:
		return nil, fmt.Errorf("open store: the adapter of scheme %q returned neither a store nor an error", u.Scheme)
	}
	return s, nil
}
