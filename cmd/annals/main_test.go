package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals/store"
)

// fixture opens a SQLite store with a dog's three events, an encrypted-
// looking one and a checkpoint, and returns its URL.
func fixture(t *testing.T) (string, store.Store) {
	t.Helper()
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "cli.db")
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Append(ctx, "dog-1", store.NoStream, []store.Event{
		{Type: "DogRegistered", Data: []byte(`{"name":"Fido"}`)},
		{Type: "TrickAdded", Data: []byte(`{"trick":"sit"}`)},
		{Type: "TrickAdded", Data: []byte(`{"trick":"roll"}`)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "secret-1", store.NoStream, []store.Event{{Type: "Sealed", Data: []byte{1, 2, 3}, Encoding: "aes256gcm:k1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "summary", 2); err != nil {
		t.Fatal(err)
	}
	return url, s
}

func annals(t *testing.T, ctx context.Context, url string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(ctx, args, &out, func(k string) string {
		if k == store.EnvVar {
			return url
		}
		return ""
	})
	return out.String(), err
}

func TestCommands(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	for _, c := range []struct {
		args []string
		want []string // lines, each a fragment the line must contain
	}{
		{[]string{"head"}, []string{"4"}},
		{[]string{"checkpoint", "summary"}, []string{"2"}},
		{[]string{"checkpoint", "nobody"}, []string{"0"}},
		{[]string{"log"}, []string{"1\tdog-1@1\tDogRegistered/v1", "2\tdog-1@2", "3\tdog-1@3", `4	secret-1@1	Sealed/v1`}},
		{[]string{"log", "-after", "1", "-limit", "1"}, []string{`{"trick":"sit"}`}},
		{[]string{"log", "-type", "TrickAdded", "-type", "Sealed"}, []string{"2\t", "3\t", "<3 bytes, aes256gcm:k1>"}},
		{[]string{"stream", "-from", "2", "dog-1"}, []string{"dog-1@2", "dog-1@3"}},
	} {
		out, err := annals(t, ctx, url, c.args...)
		if err != nil {
			t.Errorf("annals %v: %v", c.args, err)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(c.want) {
			t.Errorf("annals %v printed %d lines, want %d:\n%s", c.args, len(lines), len(c.want), out)
			continue
		}
		for i, frag := range c.want {
			if !strings.Contains(lines[i], frag) {
				t.Errorf("annals %v line %d = %q, want it to contain %q", c.args, i+1, lines[i], frag)
			}
		}
	}
}

func TestFollowWaitsForNewEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, s := fixture(t)
	done := make(chan string, 1)
	go func() {
		out, err := annals(t, ctx, url, "log", "-after", "4", "-type", "TrickAdded", "-follow", "-limit", "1")
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	// An event of another type first: the follower must not stop or skip.
	time.Sleep(50 * time.Millisecond)
	if _, err := s.Append(ctx, "other", store.NoStream, []store.Event{{Type: "Unrelated", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "dog-1", 3, []store.Event{{Type: "TrickAdded", Data: []byte(`{"trick":"fetch"}`)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-done:
		if !strings.Contains(out, `6	dog-1@4	TrickAdded/v1`) || strings.Count(out, "\n") != 1 {
			t.Fatalf("follow printed %q, want the one new trick", out)
		}
	case <-ctx.Done():
		t.Fatal("follow did not see the new event")
	}
}

func TestBadUsage(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	for _, args := range [][]string{{}, {"nosuch"}, {"head", "x"}, {"stream"}, {"checkpoint"}, {"log", "-limit", "-1"}, {"log", "-bogus"}} {
		if _, err := annals(t, ctx, url, args...); !errors.Is(err, errUsage) {
			t.Errorf("annals %v: %v, want a usage error", args, err)
		}
	}
	if _, err := annals(t, ctx, "", "head"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), store.EnvVar) {
		t.Errorf("no store: %v, want a usage error naming %s", err, store.EnvVar)
	}
	if _, err := annals(t, ctx, url, "stream", "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing stream: %v, want store.ErrNotFound", err)
	}
	if _, err := annals(t, ctx, "nosuch://x", "head"); !errors.Is(err, store.ErrUnknownScheme) {
		t.Errorf("unknown scheme: %v, want store.ErrUnknownScheme", err)
	}
}

// A tagged event shows its tags after its type, as queries find it.
func TestLogShowsTags(t *testing.T) {
	ctx := context.Background()
	url, s := fixture(t)
	if _, err := s.Append(ctx, "user-1", store.NoStream, []store.Event{{Type: "Claimed", Data: []byte(`{}`), Tags: []string{"name:ada", "user:u1"}}}); err != nil {
		t.Fatal(err)
	}
	out, err := annals(t, ctx, url, "log")
	if err != nil || !strings.Contains(out, "5\tuser-1@1\tClaimed/v1 [name:ada user:u1]\t") || !strings.Contains(out, "1\tdog-1@1\tDogRegistered/v1\t") {
		t.Fatalf("log: %v\n%s", err, out)
	}
}
