package store

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// brokenStore is an adapter's store type whose open failed: the opener
// returns a nil pointer to it together with the error.
type brokenStore struct{ Store }

func init() {
	errRefused := errors.New("refused")
	Register("test-typed-nil", func(context.Context, *url.URL) (Store, error) {
		var s *brokenStore
		return s, errRefused
	})
	Register("test-nothing", func(context.Context, *url.URL) (Store, error) { return nil, nil })
}

// Open returns a store or an error, never both: a nil store, not an
// interface holding a nil pointer, whatever the adapter's opener did.
func TestOpenReturnsNoStoreWithAnError(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"test-typed-nil:", "test-nothing:", "no-such-scheme:", "::"} {
		s, err := Open(ctx, u)
		if err == nil {
			t.Errorf("%s: opened without an error", u)
		}
		if s != nil {
			t.Errorf("%s: failed with %v but returned the store %#v", u, err, s)
		}
	}
}

// An empty URL, an unset variable's, is refused with a message that says
// so and names the variable: there is no default store to fall back on.
func TestOpenRefusesAnEmptyURLNamingTheVariable(t *testing.T) {
	for _, u := range []string{"", "  "} {
		s, err := Open(context.Background(), u)
		if s != nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "URL is empty") || !strings.Contains(err.Error(), EnvVar) {
			t.Errorf("Open(%q) = %v, %v; want ErrInvalid saying the URL is empty and naming %s", u, s, err, EnvVar)
		}
	}
}

// A URL with white space at an end, as a file or a shell leaves it, is
// refused saying so: a SQLite path ending in a space would otherwise name
// another file, and the store would be created there.
func TestOpenRefusesWhiteSpaceAroundTheURL(t *testing.T) {
	opened := 0
	Register("test-spaced", func(context.Context, *url.URL) (Store, error) {
		opened++
		return nil, errors.New("opened")
	})
	for _, u := range []string{"test-spaced:/data/x.db ", "test-spaced:/data/x.db\n", " test-spaced:/data/x.db", "\ttest-spaced:x",
		"test-spaced:///data/x.db ?create=true", "test-spaced:///data/x.db%20", "test-spaced:%20x"} {
		_, err := Open(context.Background(), u)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "white space") {
			t.Errorf("Open(%q): %v; want ErrInvalid saying the URL has white space", u, err)
		}
	}
	if opened != 0 {
		t.Errorf("the adapter was asked to open %d URLs with white space", opened)
	}
	if _, err := Open(context.Background(), "test-spaced:/data/my%20events.db"); err == nil || !strings.Contains(err.Error(), "opened") {
		t.Errorf("a URL with a space inside its path: %v; want it given to the adapter", err)
	}
}

// A scheme of one of this module's adapters that the program does not
// link is named with the import that links it.
func TestOpenNamesTheAdapterToImport(t *testing.T) {
	for u, pkg := range map[string]string{
		"sqlite:///var/lib/app.db": "github.com/annals-dev/annals/store/sqlite",
		"postgres://db/app":        "github.com/annals-dev/annals/store/postgres",
		"postgresql://db/app":      "github.com/annals-dev/annals/store/postgres",
		"memory:":                  "github.com/annals-dev/annals/store/memory",
		"SQLite:///var/lib/app.db": "github.com/annals-dev/annals/store/sqlite",
	} {
		s, err := Open(context.Background(), u)
		if s != nil || !errors.Is(err, ErrUnknownScheme) || !strings.Contains(err.Error(), `import _ "`+pkg+`"`) {
			t.Errorf("Open(%q) = %v, %v; want ErrUnknownScheme naming the import of %s", u, s, err, pkg)
		}
	}
}

// A scheme that no adapter of this module has, file: say, is not
// reported as an import away: the error says there is none and lists
// those there are.
func TestOpenSaysThereIsNoSuchAdapter(t *testing.T) {
	for _, u := range []string{"file:///var/lib/app.db", "mysql://db/app"} {
		_, err := Open(context.Background(), u)
		if !errors.Is(err, ErrUnknownScheme) || strings.Contains(err.Error(), "import _") {
			t.Errorf("Open(%q): %v; want ErrUnknownScheme without an import to add", u, err)
			continue
		}
		for _, want := range []string{"Annals has no adapter for it", "sqlite:///", "postgres:", "postgresql:", "memory:"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open(%q): %v; want it to say %q", u, err, want)
			}
		}
	}
}

// A program that links no adapter at all is told so, in words, rather
// than given an empty list.
func TestOpenWithoutAnyAdapterLinked(t *testing.T) {
	adapters.Lock()
	linked := adapters.byScheme
	adapters.byScheme = nil
	adapters.Unlock()
	t.Cleanup(func() {
		adapters.Lock()
		adapters.byScheme = linked
		adapters.Unlock()
	})
	for _, u := range []string{"sqlite:///var/lib/app.db", "file:///var/lib/app.db", "", "::"} {
		_, err := Open(context.Background(), u)
		if err == nil || !strings.Contains(err.Error(), "no store adapter is linked into this program") || strings.Contains(err.Error(), "schemes: ") {
			t.Errorf("Open(%q) with no adapter linked: %v; want it to say that none is", u, err)
		}
	}
}
