package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/internal/storecopy"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/sqlite"
)

// secret is the key the fixture encrypts with, as ANNALS_CIPHER_KEY
// gives it.
var secret = "k1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// A customer's registration, whose name is personal data.
type registered struct {
	Customer string `json:"customer"`
	Name     string `json:"name" annals:"personal"`
}

func (r registered) DataSubject() string { return r.Customer }

// fixture opens a SQLite store with a dog's three events, a record whose
// encoding names a key nobody has, a customer's registration encrypted
// with the fixture's key and its name encrypted with the customer's, and
// a checkpoint, and returns its URL.
// rawDB opens the SQLite file of a fixture's URL with the driver alone,
// to spoil what no write of the store would write; it is closed when the
// test ends.
func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func fixture(t *testing.T) (string, *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cli.db")
	s, err := sqlite.Open(ctx, path)
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
	if _, err := s.Append(ctx, "secret-1", store.NoStream, []store.Event{{Type: "Sealed", Data: []byte{1, 2, 3}, Encoding: "aes256gcm:k9"}}); err != nil {
		t.Fatal(err)
	}
	key, err := codec.ParseKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := codec.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	m := codec.NewMapper[registered](codec.NewJSON[registered]().Register("Registered", registered{}),
		codec.WithSubjectKeys(s, kr), codec.WithEncryption(kr))
	e, err := m.ToEvent(ctx, codec.Placement{StreamID: "customer-7", Version: 1}, registered{Customer: "c7", Name: "Ada"}, store.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "customer-7", store.NoStream, []store.Event{e}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "summary", 2); err != nil {
		t.Fatal(err)
	}
	return "sqlite://" + path, s
}

// result is what one run of the tool printed and its exit status.
type result struct {
	stdout, stderr string
	status         int
}

// tool runs the tool with ANNALS_STORE set to url and the extra
// environment given as "NAME=value" arguments before the command line.
func tool(t *testing.T, ctx context.Context, url string, args ...string) result {
	t.Helper()
	env := map[string]string{store.EnvVar: url}
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
		k, v, _ := strings.Cut(args[0], "=")
		env[k], args = v, args[1:]
	}
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	status := c.main(ctx, args)
	return result{out.String(), errOut.String(), status}
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func TestCommands(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	for _, c := range []struct {
		args []string
		want []string // lines, each a fragment the line must contain
	}{
		{[]string{"head"}, []string{"5"}},
		{[]string{"checkpoint", "summary"}, []string{"2"}},
		{[]string{"log"}, []string{"1\tdog-1@1\tDogRegistered/v1", "2\tdog-1@2", "3\tdog-1@3", "4\tsecret-1@1\tSealed/v1\t", "5\tcustomer-7@1"}},
		{[]string{"log", "-after", "1", "-limit", "1"}, []string{`{"trick":"sit"}`}},
		{[]string{"log", "-type", "TrickAdded", "-type", "Sealed"}, []string{"2\t", "3\t", "<3 bytes, aes256gcm:k9>"}},
		{[]string{"stream", "-from", "2", "dog-1"}, []string{"dog-1@2", "dog-1@3"}},
		// Flags after the arguments, and the global flags after the command.
		{[]string{"stream", "dog-1", "-from", "3"}, []string{"dog-1@3"}},
		{[]string{"stream", "-store", url, "dog-1", "-from", "3"}, []string{"dog-1@3"}},
		{[]string{"log", "-limit", "1", "--", "-after"}, nil},  // "--" ends the flags: -after is an argument, refused below
		{[]string{"--", "stream", "-from", "2", "dog-1"}, nil}, // and before the command: three stream IDs, refused
	} {
		r := tool(t, ctx, url, c.args...)
		if c.want == nil {
			if r.status != 2 {
				t.Errorf("annals %v: status %d, want 2", c.args, r.status)
			}
			continue
		}
		if r.status != 0 {
			t.Errorf("annals %v: status %d: %s", c.args, r.status, r.stderr)
			continue
		}
		got := lines(r.stdout)
		if len(got) != len(c.want) {
			t.Errorf("annals %v printed %d lines, want %d:\n%s", c.args, len(got), len(c.want), r.stdout)
			continue
		}
		for i, frag := range c.want {
			if !strings.Contains(got[i], frag) {
				t.Errorf("annals %v line %d = %q, want it to contain %q", c.args, i+1, got[i], frag)
			}
		}
	}
}

// Payloads are decrypted, personal fields included, when the keys are in
// the environment, and shown as their size and encoding otherwise.
func TestDecryptsWithKeysFromTheEnvironment(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	without := tool(t, ctx, url, "stream", "customer-7")
	if without.status != 0 || !strings.Contains(without.stdout, "bytes, personal+aes256gcm:k1>") || strings.Contains(without.stdout, "Ada") {
		t.Errorf("without keys: %+v", without)
	}
	// -json says why the payload is unread, in the tool's terms.
	if js := tool(t, ctx, url, "stream", "-json", "customer-7"); js.status != 0 || !strings.Contains(js.stdout, "set ANNALS_CIPHER_KEY") {
		t.Errorf("-json without keys: %+v; want the unread payload to say to set ANNALS_CIPHER_KEY", js)
	}
	with := tool(t, ctx, url, "ANNALS_CIPHER_KEY="+secret, "stream", "customer-7")
	if with.status != 0 || !strings.Contains(with.stdout, `"name":"Ada"`) {
		t.Errorf("with keys: %+v", with)
	}
	js := tool(t, ctx, url, "ANNALS_CIPHER_KEY="+secret, "stream", "-json", "customer-7")
	var rec struct {
		Data     map[string]string `json:"data"`
		Encoding string            `json:"encoding"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &rec); err != nil || rec.Data["name"] != "Ada" || rec.Encoding != "personal+aes256gcm:k1" {
		t.Errorf("-json with keys: %q (%v)", js.stdout, err)
	}
	bad := tool(t, ctx, url, "ANNALS_CIPHER_KEY=k1:short", "log")
	if bad.status != 1 || !strings.Contains(bad.stderr, "ANNALS_CIPHER_KEY") {
		t.Errorf("a malformed key: %+v", bad)
	}
}

// Once its subject is forgotten, a record's payload shows its other
// fields, marked as without the personal ones, and verify counts it
// without calling it a problem.
func TestMarksTheRecordsOfAForgottenSubject(t *testing.T) {
	ctx := context.Background()
	url, s := fixture(t)
	before := tool(t, ctx, url, "ANNALS_CIPHER_KEY="+secret, "stream", "customer-7")
	if before.status != 0 || strings.Contains(before.stdout, forgottenMark) {
		t.Fatalf("before the subject is forgotten: %+v", before)
	}
	if err := codec.ForgetSubject(ctx, s, "c7"); err != nil {
		t.Fatal(err)
	}
	after := tool(t, ctx, url, "ANNALS_CIPHER_KEY="+secret, "stream", "customer-7")
	if after.status != 0 || !strings.Contains(after.stdout, `{"customer":"c7"} `+forgottenMark) {
		t.Errorf("after the subject is forgotten: %+v", after)
	}
	js := tool(t, ctx, url, "ANNALS_CIPHER_KEY="+secret, "log", "-json")
	var forgotten []string
	for _, line := range lines(js.stdout) {
		var rec struct {
			Stream    string `json:"stream"`
			Forgotten bool   `json:"forgotten"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log -json printed %q: %v", line, err)
		}
		if rec.Forgotten {
			forgotten = append(forgotten, rec.Stream)
		}
	}
	if !slices.Equal(forgotten, []string{"customer-7"}) {
		t.Errorf("log -json marks the records of streams %q as forgotten, want customer-7's alone", forgotten)
	}
	v := tool(t, ctx, url, "ANNALS_CIPHER_KEY="+secret, "verify") // fails on the record sealed with k9, which nobody has
	if !strings.Contains(v.stdout, "(1 without the personal fields of forgotten subjects)") {
		t.Errorf("verify: %+v", v)
	}
}

func TestFollowWaitsForNewEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, s := fixture(t)
	done := make(chan result, 1)
	go func() {
		done <- tool(t, ctx, url, "log", "-after", "5", "-type", "TrickAdded", "-follow", "-limit", "1")
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
	case r := <-done:
		if r.status != 0 || !strings.Contains(r.stdout, "7\tdog-1@4\tTrickAdded/v1") || strings.Count(r.stdout, "\n") != 1 {
			t.Fatalf("follow printed %+v, want the one new trick", r)
		}
	case <-ctx.Done():
		t.Fatal("follow did not see the new event")
	}
}

// Following from past the head says so, once, on standard error, rather
// than wait in silence, and prints the events after that position only.
func TestFollowPastTheHeadSaysSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, s := fixture(t)
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	noted := make(chan struct{})
	errOut := &watched{seen: noted, want: "is past the head of the log"}
	var out watched
	c := &cli{stdout: &out, stderr: errOut, getenv: func(k string) string { return map[string]string{store.EnvVar: url}[k] }}
	done := make(chan int, 1)
	go func() {
		done <- c.main(ctx, []string{"log", "-after", strconv.FormatInt(head+2, 10), "-follow", "-limit", "1"})
	}()
	select {
	case <-noted:
	case status := <-done:
		t.Fatalf("log -follow ended (status %d) without a note", status)
	case <-ctx.Done():
		t.Fatal("log -follow from past the head said nothing")
	}
	for v := range int64(3) {
		if _, err := s.Append(ctx, "later", v, []store.Event{{Type: "Later", Data: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case status := <-done:
		out.mu.Lock()
		errOut.mu.Lock()
		defer out.mu.Unlock()
		defer errOut.mu.Unlock()
		want := fmt.Sprintf("%d\tlater@3\tLater/v1", head+3)
		if status != 0 || !strings.HasPrefix(out.buf.String(), want) || strings.Count(out.buf.String(), "\n") != 1 ||
			strings.Count(errOut.buf.String(), "is past the head of the log") != 1 {
			t.Fatalf("follow from past the head: status %d, printed %q and %q; want %q alone, and one note", status, out.buf.String(), errOut.buf.String(), want)
		}
	case <-ctx.Done():
		t.Fatal("follow did not see the event after its position")
	}
}

// watched is an output a test can wait on while the tool writes to it.
type watched struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen chan struct{} // closed when the output holds want
	want string
}

func (w *watched) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return n, err
}

// -follow without -limit follows as tail -f does: past the 100 records
// that -limit's default stops a plain read at, and on to new events.
func TestFollowWithoutALimitGoesOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, s := fixture(t)
	many := make([]store.Event, 150)
	for i := range many {
		many[i] = store.Event{Type: "TrickAdded", Data: []byte(`{"trick":"sit"}`)}
	}
	if _, err := s.Append(ctx, "dog-2", store.NoStream, many); err != nil {
		t.Fatal(err)
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{}) // out's field is set to nil under its lock
	out := &watched{seen: seen, want: fmt.Sprintf("\n%d\tlate@1\t", head+1)}
	c := &cli{stdout: out, stderr: io.Discard, getenv: func(k string) string { return map[string]string{store.EnvVar: url}[k] }}
	following, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() { done <- c.main(following, []string{"log", "-follow"}) }()
	select {
	case status := <-done:
		t.Fatalf("log -follow ended by itself (status %d)", status)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := s.Append(ctx, "late", store.NoStream, []store.Event{{Type: "Late", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-seen:
	case status := <-done:
		t.Fatalf("log -follow ended (status %d) before the new event", status)
	case <-ctx.Done():
		t.Fatal("log -follow did not print the new event")
	}
	stop()
	<-done
	out.mu.Lock()
	defer out.mu.Unlock()
	if n := strings.Count(out.buf.String(), "\n"); int64(n) != head+1 {
		t.Fatalf("log -follow printed %d records; want all %d and the new one", n, head)
	}
}

func TestBadUsage(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	for _, args := range [][]string{{}, {"nosuch"}, {"head", "x"}, {"stream"}, {"checkpoint"}, {"log", "-limit", "-1"}, {"log", "-bogus"}, {"log", "-type", ""}, {"stream", "-from", "-3", "dog-1"}, {"stream", "-from", "0", "dog-1"},
		{"copy", "-from", url}, {"-bogus", "head"}} {
		r := tool(t, ctx, url, args...)
		if r.status != 2 || !strings.Contains(r.stderr, "usage:") {
			t.Errorf("annals %v: %+v, want status 2 and the usage", args, r)
		}
		// A command's own bad usage shows that command's usage.
		if len(args) > 0 && (args[0] == "log" || args[0] == "stream") && !strings.Contains(r.stderr, "usage: annals "+args[0]+" ") {
			t.Errorf("annals %v: %+v, want the usage of %s", args, r, args[0])
		}
	}
	if r := tool(t, ctx, "", "head"); r.status != 2 || !strings.Contains(r.stderr, store.EnvVar) {
		t.Errorf("no store: %+v, want status 2 naming %s", r, store.EnvVar)
	}
	if r := tool(t, ctx, "nosuch://x", "head"); r.status != 1 || !strings.Contains(r.stderr, "not linked") {
		t.Errorf("unknown scheme: %+v", r)
	}
}

// -h prints the usage on stdout and exits 0, for the tool and for each
// command.
func TestHelp(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "commands:"},
		{[]string{"--help"}, "commands:"},
		{[]string{"help"}, "commands:"},
		{[]string{"log", "-h"}, "-follow"},
		{[]string{"stream", "x", "-h"}, "-from"},
		{[]string{"help", "copy"}, "-rebuild"},
		{[]string{"copy", "-h"}, "-keep CONSUMER"},
	} {
		r := tool(t, ctx, "", c.args...)
		if r.status != 0 || !strings.Contains(r.stdout, c.want) || r.stderr != "" {
			t.Errorf("annals %v: %+v, want status 0 and %q on stdout", c.args, r, c.want)
		}
	}
}

// Inspecting never creates a store: a mistyped SQLite path is an error
// that says so, and the file is not created; nor are tables added to a
// SQLite file that holds none.
func TestInspectionNeverCreatesAStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	typo := filepath.Join(dir, "evnets.db")
	for _, cmd := range [][]string{{"head"}, {"log"}, {"consumers"}, {"verify"}, {"stream", "x"}, {"checkpoint", "x"}} {
		r := tool(t, ctx, "sqlite://"+typo, cmd...)
		if r.status != 1 || !strings.Contains(r.stderr, "does not exist") || strings.Contains(r.stderr, "create=false") {
			t.Errorf("annals %v on a missing file: %+v, want status 1 saying it does not exist, and no word of a create=false the URL did not hold", cmd, r)
		}
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Fatalf("inspection created %s: %v", typo, err)
	}
	// A missing directory is named, and nothing says to create it.
	nodir := filepath.Join(dir, "nope", "events.db")
	if r := tool(t, ctx, "sqlite://"+nodir, "head"); r.status != 1 || !strings.Contains(r.stderr, "its directory "+filepath.Dir(nodir)+" does not exist") || strings.Contains(r.stderr, "create it first") {
		t.Errorf("annals head in a missing directory: %+v, want status 1 naming the directory, and no word of creating it", r)
	}
	other := filepath.Join(dir, "other.db")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := tool(t, ctx, "sqlite://"+other, "head"); r.status != 1 || !strings.Contains(r.stderr, "holds no annals store") || strings.Contains(r.stderr, "create=false") {
		t.Errorf("a file without a store: %+v", r)
	}
	if fi, err := os.Stat(other); err != nil || fi.Size() != 0 {
		t.Errorf("inspection wrote to a file that holds no store: %v, %v", fi, err)
	}
	if r := tool(t, ctx, "memory:", "head"); r.status != 1 || !strings.Contains(r.stderr, "inside its program") {
		t.Errorf("memory: %+v", r)
	}
	// Copying from a mistyped path neither creates it nor the target.
	to := filepath.Join(dir, "to.db")
	if r := tool(t, ctx, "", "copy", "-from", "sqlite://"+typo, "-to", "sqlite://"+to); r.status != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("copy from a missing file: %+v", r)
	}
	for _, p := range []string{typo, to} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("copy from a missing file created %s", p)
		}
	}
}

// A stream or consumer that does not exist is an error, status 1, that
// names what there is.
func TestUnknownNamesAreErrors(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"checkpoint", "nobody"}, `consumer "nobody" has no checkpoint in this store (consumers: summary)`},
		{[]string{"consumers", "summary", "nobody"}, `consumer "nobody" has no checkpoint`},
		{[]string{"stream", "missing"}, `stream "missing" has no events`},
		{[]string{"-json", "checkpoint", "nobody"}, `consumer "nobody"`},
		{[]string{"stream", "-json", "missing"}, `stream "missing" has no events`},
	} {
		r := tool(t, ctx, url, c.args...)
		if r.status != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("annals %v: %+v, want status 1 and %q", c.args, r, c.want)
		}
		// Without -json stdout stays empty; with it, the failure is an
		// object a script can parse.
		var failed struct{ Error string }
		if asJSON := slices.Contains(c.args, "-json"); !asJSON && r.stdout != "" ||
			asJSON && (json.Unmarshal([]byte(r.stdout), &failed) != nil || !strings.Contains(failed.Error, c.want)) {
			t.Errorf("annals %v printed %q on stdout", c.args, r.stdout)
		}
	}
}

// -json prints what scripts can parse, before or after the arguments.
func TestJSON(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	var head struct{ Head int64 }
	if r := tool(t, ctx, url, "head", "-json"); r.status != 0 || json.Unmarshal([]byte(r.stdout), &head) != nil || head.Head != 5 {
		t.Errorf("head -json: %+v", r)
	}
	r := tool(t, ctx, url, "-json", "log")
	var recs []map[string]any
	for _, l := range lines(r.stdout) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log -json line %q: %v", l, err)
		}
		recs = append(recs, m)
	}
	if len(recs) != 5 || recs[0]["data"].(map[string]any)["name"] != "Fido" || recs[3]["data_base64"] != "AQID" || recs[3]["unreadable"] == nil {
		t.Errorf("log -json: %v", recs)
	}
	var cps struct {
		Head      int64
		Consumers []struct {
			Name         string
			Checkpoint   int64
			Lag          int64
			StoppedKnown bool `json:"stopped_known"`
		}
	}
	if r := tool(t, ctx, url, "consumers", "-json"); r.status != 0 || json.Unmarshal([]byte(r.stdout), &cps) != nil ||
		len(cps.Consumers) != 1 || cps.Consumers[0].Lag != 3 || cps.Consumers[0].StoppedKnown {
		t.Errorf("consumers -json: %+v", r)
	}
	var ver struct {
		OK     bool
		Events int64
		Unread int64
	}
	if r := tool(t, ctx, url, "verify", "-json"); r.status != 0 || json.Unmarshal([]byte(r.stdout), &ver) != nil || !ver.OK || ver.Events != 5 || ver.Unread != 2 {
		t.Errorf("verify -json: %+v", r)
	}
	// A failure prints {"error":…} on stdout, bad usage included, and
	// the message and usage on stderr.
	for _, c := range []struct {
		url  string
		args []string
		want int
	}{
		{url, []string{"-json", "checkpoint", "nosuch"}, 1},
		{"", []string{"-json", "head"}, 2},
		{url, []string{"-json", "nosuch"}, 2},
		{url, []string{"stream", "-json", "-from", "-3", "dog-1"}, 2},
		// -json after the bad flag that stopped the parse.
		{url, []string{"stream", "-from", "x", "-json", "dog-1"}, 2},
		{url, []string{"-bogus", "--json=true", "head"}, 2},
	} {
		r := tool(t, ctx, c.url, c.args...)
		var failed struct{ Error string }
		if r.status != c.want || json.Unmarshal([]byte(r.stdout), &failed) != nil || failed.Error == "" || !strings.Contains(r.stderr, failed.Error) {
			t.Errorf("annals %v: %+v, want status %d, the error as JSON on stdout and on stderr", c.args, r, c.want)
		}
	}
}

// consumers shows each consumer's checkpoint, lag, the age of the oldest
// event it has not handled, who holds its lease, and that the store does
// not know whether it stopped.
func TestConsumers(t *testing.T) {
	ctx := context.Background()
	url, s := fixture(t)
	if err := s.SetCheckpoint(ctx, "schema:summary", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "caught-up", 5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "restored", 9); err != nil {
		t.Fatal(err)
	}
	lease, err := s.Lock(ctx, "consumer:summary")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	r := tool(t, ctx, url, "consumers")
	out := lines(r.stdout)
	if r.status != 0 || len(out) != 6 {
		t.Fatalf("consumers: %+v", r)
	}
	if !strings.HasPrefix(out[0], "head 5") || !strings.Contains(out[1], "LAG") {
		t.Errorf("header: %q", out[:2])
	}
	if f := strings.Fields(out[2]); f[0] != "caught-up" || f[1] != "5" || f[2] != "0" || f[3] != "-" || f[4] != "none" {
		t.Errorf("caught-up: %q", out[2])
	}
	// A checkpoint past the head (a store restored under newer
	// checkpoints) is no lag of 0 alone: it would skip events.
	if f := strings.Fields(out[3]); f[0] != "restored" || f[1] != "9" || !strings.Contains(out[3], "0, past the head") {
		t.Errorf("restored: %q", out[3])
	}
	if f := strings.Fields(out[4]); f[0] != "summary" || f[1] != "(schema" || f[3] != "2" || f[4] != "3" || !strings.Contains(out[4], "token ") {
		t.Errorf("summary: %q", out[4])
	}
	if !strings.Contains(out[5], "stopped: unknown") {
		t.Errorf("last line: %q", out[5])
	}
	r = tool(t, ctx, url, "-json", "consumers", "restored", "caught-up")
	if r.status != 0 || !strings.Contains(r.stdout, `"past_head":true`) || strings.Count(r.stdout, `"past_head"`) != 1 {
		t.Errorf("consumers -json: %+v; want past_head for restored alone", r)
	}
}

// verify finds a gap in the log, a stream that skips a version and a
// record that does not decrypt with the keys given; it exits 1.
func TestVerifyFindsProblems(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	if r := tool(t, ctx, url, "ANNALS_CIPHER_KEY="+secret, "verify"); r.status != 1 || !strings.Contains(r.stdout, `"secret-1"`) ||
		!strings.Contains(r.stdout, "cannot be read") {
		t.Errorf("verify with a record of an unknown key: %+v", r)
	}
	if r := tool(t, ctx, url, "verify"); r.status != 0 || !strings.Contains(r.stdout, "not read: 2 encrypted") || !strings.HasSuffix(r.stdout, "ok\n") {
		t.Errorf("verify without keys: %+v", r)
	}
	db := rawDB(t, url)
	if _, err := db.ExecContext(ctx, `DELETE FROM annals_events WHERE position = 2`); err != nil {
		t.Fatal(err)
	}
	r := tool(t, ctx, url, "verify")
	if r.status != 1 || !strings.Contains(r.stdout, "the log jumps from position 1 to 3") || !strings.Contains(r.stdout, `stream "dog-1" jumps from version 1 to 3`) ||
		!strings.Contains(r.stderr, "problems") {
		t.Errorf("verify of a log with a gap: %+v", r)
	}
	// stream prints what it finds, and fails on the version it skips.
	r = tool(t, ctx, url, "stream", "dog-1")
	if r.status != 1 || !strings.Contains(r.stdout, "dog-1@3") || !strings.Contains(r.stderr, `stream "dog-1" skips versions (version 3 where 2 should be)`) {
		t.Errorf("stream of a stream with a gap: %+v", r)
	}
	if r := tool(t, ctx, url, "stream", "-from", "3", "dog-1"); r.status != 0 {
		t.Errorf("stream of a stream from after its gap: %+v", r)
	}
	// A type no append writes.
	if _, err := db.ExecContext(ctx, `UPDATE annals_events SET type = '' WHERE position = 3`); err != nil {
		t.Fatal(err)
	}
	if r := tool(t, ctx, url, "verify"); r.status != 1 || !strings.Contains(r.stdout, `event dog-1@3 at position 3 has type "" and schema version 1`) {
		t.Errorf("verify of an event without a type: %+v", r)
	}
}

// A record the store cannot read (its metadata changed by hand) is one
// problem among the others: verify names it and walks on.
func TestVerifyWalksPastARecordItCannotRead(t *testing.T) {
	for _, spoil := range []string{
		`UPDATE annals_events SET metadata = 'not json' WHERE position = 2`,
		`UPDATE annals_events SET tags = 'not json' WHERE position = 2`,
	} {
		t.Run(spoil, func(t *testing.T) {
			ctx := context.Background()
			url, _ := fixture(t)
			db := rawDB(t, url)
			for _, change := range []string{
				spoil,
				`INSERT INTO annals_checkpoints (consumer, position, recorded_at) VALUES ('late', 100, 0)`,
			} {
				if _, err := db.ExecContext(ctx, change); err != nil {
					t.Fatal(err)
				}
			}
			r := tool(t, ctx, url, "verify")
			for _, want := range []string{
				"the record after position 1 cannot be read",
				"the store's records are corrupt",
				"log: 5 events in 3 streams, positions 1 to 5", // the unreadable one counted
				"payloads: 2 of 5 events read",                 // 2 encrypted without keys, 1 unreadable
				`stream "dog-1" jumps from version 1 to 3 at position 3 (the record at position 2, which cannot be read, may be the missing version)`,
				`consumer "late" has checkpoint 100, past the head`,
			} {
				if r.status != 1 || !strings.Contains(r.stdout, want) {
					t.Errorf("verify of a store with an unreadable record: %+v; want status 1 and %q", r, want)
				}
			}
		})
	}
}

// What no append, commit or view writes is a problem verify names, though
// the adapter reads it: a type with a NUL byte, a stream ID that is not
// UTF-8, a view state that is not JSON. The text of the problems prints.
func TestVerifyFindsWhatNoWriteWrites(t *testing.T) {
	ctx := context.Background()
	url, s := fixture(t)
	if err := s.Commit(ctx, "by-dog", 0, 1, func(tx store.StateTx) error {
		return tx.SaveState(ctx, "by-dog", "dog-1", []byte(`{"tricks":1}`))
	}); err != nil {
		t.Fatal(err)
	}
	if r := tool(t, ctx, url, "verify"); r.status != 0 || !strings.Contains(r.stdout, "; 1 view and process states;") {
		t.Fatalf("verify before: %+v", r)
	}
	db := rawDB(t, url)
	for _, spoil := range []string{
		`UPDATE annals_events SET type = 'Dog' || char(0) || 'Registered' WHERE position = 1`,
		`UPDATE annals_events SET stream_id = CAST(x'7365637265742dff' AS TEXT) WHERE position = 4`,
		`UPDATE annals_view_states SET data = CAST('garbage' AS BLOB)`,
	} {
		if _, err := db.ExecContext(ctx, spoil); err != nil {
			t.Fatal(err)
		}
	}
	r := tool(t, ctx, url, "verify")
	for _, want := range []string{
		`event dog-1@1 at position 1 holds what no append writes: type name "Dog\x00Registered" is not valid UTF-8 or contains a NUL byte`,
		`event "secret-\xff"@1 at position 4 holds what no append writes:`,
		`the state of view "by-dog" under key "dog-1" is not JSON`,
	} {
		if r.status != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("verify: %+v; want status 1 and %q", r, want)
		}
	}
	if strings.ContainsFunc(r.stdout, func(c rune) bool { return c < ' ' && c != '\n' || c == utf8.RuneError }) {
		t.Errorf("verify printed characters that do not print: %q", r.stdout)
	}
}

// A payload that decodes but is not JSON, which the library's codecs
// write, is a problem verify names, an empty one included, unless -payload any says the store's
// codec writes another format; stream marks it.
func TestVerifyFindsAPayloadThatIsNotJSON(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	db := rawDB(t, url)
	if _, err := db.ExecContext(ctx, `UPDATE annals_events SET data = CAST('{"trick":"si' AS BLOB) WHERE position = 2`); err != nil {
		t.Fatal(err)
	}
	r := tool(t, ctx, url, "verify")
	if r.status != 1 || !strings.Contains(r.stdout, `event dog-1@2 at position 2 (TrickAdded, encoding "") cannot be read: it is not JSON`) ||
		!strings.Contains(r.stdout, "payloads: 2 of 5 events read") {
		t.Errorf("verify of a payload that is not JSON: %+v", r)
	}
	// An event without data, which a store takes, is not what the
	// library's codecs write, and they refuse to read it: a problem too.
	if _, err := db.ExecContext(ctx, `UPDATE annals_events SET data = CAST('' AS BLOB) WHERE position = 3`); err != nil {
		t.Fatal(err)
	}
	if r := tool(t, ctx, url, "verify"); r.status != 1 || strings.Count(r.stdout, "problem:") != 2 ||
		!strings.Contains(r.stdout, `event dog-1@3 at position 3 (TrickAdded, encoding "") cannot be read: it is not JSON`) || !strings.Contains(r.stdout, "(it is empty)") {
		t.Errorf("verify of an empty payload beside one that is not JSON: %+v, want two problems", r)
	}
	if r := tool(t, ctx, url, "verify", "-payload", "any"); r.status != 0 || !strings.HasSuffix(r.stdout, "ok\n") {
		t.Errorf("verify -payload any: %+v", r)
	}
	if r := tool(t, ctx, url, "verify", "-payload", "xml"); r.status != 2 || !strings.Contains(r.stderr, "-payload is json or any") {
		t.Errorf("verify -payload xml: %+v", r)
	}
	if r := tool(t, ctx, url, "-json", "stream", "dog-1"); r.status != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("stream -json of an empty payload: %+v", r)
	}
	if r := tool(t, ctx, url, "stream", "dog-1"); r.status != 0 || !strings.Contains(r.stdout, "<12 bytes, not JSON>") || !strings.Contains(r.stdout, "<0 bytes, not JSON>") {
		t.Errorf("stream of a payload that is not JSON: %+v", r)
	}
}

// A tagged event shows its tags after its type, as queries find it.
func TestLogShowsTags(t *testing.T) {
	ctx := context.Background()
	url, s := fixture(t)
	if _, err := s.Append(ctx, "user-1", store.NoStream, []store.Event{{Type: "Claimed", Data: []byte(`{}`), Tags: []string{"name:ada", "user:u1"}}}); err != nil {
		t.Fatal(err)
	}
	r := tool(t, ctx, url, "log")
	if r.status != 0 || !strings.Contains(r.stdout, "\tuser-1@1\tClaimed/v1 [name:ada user:u1]\t") || !strings.Contains(r.stdout, "\tdog-1@1\tDogRegistered/v1\t") {
		t.Fatalf("log: %+v", r)
	}
	r = tool(t, ctx, url, "-json", "log")
	if r.status != 0 || !strings.Contains(r.stdout, `"tags":["name:ada","user:u1"]`) {
		t.Fatalf("log -json: %+v", r)
	}
}

// Text output prints one line per record, and nothing a terminal acts
// on: a stream ID, a type, a tag or a consumer name that holds a newline,
// a tab or an escape sequence (a store takes them) is quoted, and a
// payload is printed as compact JSON with such characters escaped, still
// the same JSON.
func TestTextOutputCannotBeForgedOrReachTheTerminal(t *testing.T) {
	ctx := context.Background()
	url, s := fixture(t)
	before := lines(tool(t, ctx, url, "log", "-limit", "0").stdout)
	forged := "acct-1\n99\tacct-9@1\tDeposited/v1\t2026-01-01T00:00:00.000Z\t{\"Amount\":1000000}"
	// JSON: whitespace between tokens, an escaped ESC, and characters JSON
	// takes unescaped that do not print (DEL, a C1 control, a line
	// separator).
	payload := []byte("{\n\t\"note\": \"red \\u001b[31m \x7f \u009b2K \u2028\",\n\t\"n\": 1\n}")
	if _, err := s.Append(ctx, forged, store.NoStream, []store.Event{
		{Type: "Odd\r\x1b[2K", Data: payload, Tags: []string{"t:\x1b[31m"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "view\nfake 9 9", 1); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"log", "-limit", "0"}, {"stream", forged}, {"consumers"}} {
		r := tool(t, ctx, url, args...)
		if r.status != 0 {
			t.Fatalf("%s: %+v", args[0], r)
		}
		for _, line := range lines(r.stdout) {
			if i := strings.IndexFunc(line, func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f || c >= 0x80 && c < 0xa0 || c == 0x2028 }); i >= 0 {
				t.Errorf("%s prints a character that does not print, at byte %d: %q", args[0], i, line)
			}
		}
		if args[0] == "log" {
			if got := lines(r.stdout); len(got) != len(before)+1 {
				t.Errorf("log prints %d lines for %d records: %q", len(got), len(before)+1, r.stdout)
			}
		}
	}
	r := tool(t, ctx, url, "stream", forged)
	fields := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\t")
	if len(fields) != 5 || fields[1] != strconv.Quote(forged)+"@1" {
		t.Fatalf("stream: %d fields %q, want 5, the stream ID quoted", len(fields), fields)
	}
	var got, want any
	if err := json.Unmarshal([]byte(fields[4]), &got); err != nil {
		t.Fatalf("the payload printed is not JSON: %v: %s", err, fields[4])
	}
	if err := json.Unmarshal(payload, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the payload printed reads %v, want %v", got, want)
	}
}

// A copy from a store onto itself is refused, however its URL is spelt.
func TestCopyRefusesTheSameStore(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	path := strings.TrimPrefix(url, "sqlite://")
	for _, to := range []string{url, "sqlite:" + path, "sqlite://" + filepath.Dir(path) + "/./../" + filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)} {
		if r := tool(t, ctx, "", "copy", "-from", url, "-to", to); r.status != 2 || !strings.Contains(r.stderr, "name the same store") {
			t.Errorf("copy -from %s -to %s: %+v, want status 2 and the same store named", url, to, r)
		}
	}
}

// A batch too small or too large for a copy is refused before either
// store is opened: a batch is held in memory whole, and one of billions
// of events ran the tool out of memory.
func TestCopyRefusesABatchOutOfBounds(t *testing.T) {
	ctx := context.Background()
	url, _ := fixture(t)
	to := "sqlite://" + filepath.Join(t.TempDir(), "copy.db")
	for _, batch := range []string{"0", "-1", strconv.Itoa(storecopy.MaxBatch + 1), "99999999999"} {
		r := tool(t, ctx, "", "copy", "-from", url, "-to", to, "-batch", batch)
		if r.status != 2 || !strings.Contains(r.stderr, "give from 1 to "+strconv.Itoa(storecopy.MaxBatch)) {
			t.Errorf("copy -batch %s: %+v, want status 2 and the bounds", batch, r)
		}
	}
	if _, err := os.Stat(strings.TrimPrefix(to, "sqlite://")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused copy left its target: %v", err)
	}
}

// A store without consumers lists none: an empty list in JSON, not null.
func TestConsumersOfAStoreWithoutAny(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "none.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if r := tool(t, ctx, "sqlite://"+path, "-json", "consumers"); r.status != 0 || !strings.Contains(r.stdout, `"consumers":[]`) {
		t.Errorf("consumers -json of a store without any: %+v, want an empty list", r)
	}
}

// operations.md shows the tool's usage as the tool prints it, up to the
// notes after the list of commands.
func TestOperationsShowsTheUsage(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	commands, _, _ := strings.Cut(usage, "\n\nThe store URL")
	if !strings.Contains(string(doc), "```text\n"+commands+"\n```") {
		t.Errorf("docs/operations.md does not show the usage as the tool prints it:\n%s", commands)
	}
}

// A stream's jump in versions names only the unreadable records between
// its two events, which alone can hold the missing versions, and names a
// few of them when there are many.
func TestUnreadNoteNamesOnlyTheRecordsThatMayBeMissing(t *testing.T) {
	for _, c := range []struct {
		unread          []int64
		from, to, nmiss int64
		want            string
	}{
		{nil, 1, 3, 1, ""},
		{[]int64{2}, 1, 3, 1, " (the record at position 2, which cannot be read, may be the missing version)"},
		{[]int64{2}, 6, 8, 2, ""}, // before the stream's previous event
		{[]int64{2, 9}, 6, 8, 2, ""},
		{[]int64{2, 7}, 6, 8, 2, " (the record at position 7, which cannot be read, may be one of the missing versions)"},
		{[]int64{2, 3}, 1, 4, 0, ""},
		{[]int64{2, 3, 4, 5, 6, 7, 8, 20}, 1, 10, 7, " (the records at positions 2, 3, 4, 5, 6 and 2 more, which cannot be read, may hold the missing versions)"},
		{[]int64{2, 3}, 1, 10, 2, " (the records at positions 2, 3, which cannot be read, may hold the missing versions)"},
	} {
		if got := unreadNote(c.unread, c.from, c.to, c.nmiss); got != c.want {
			t.Errorf("unreadNote(%v, %d, %d, %d) = %q, want %q", c.unread, c.from, c.to, c.nmiss, got, c.want)
		}
	}
}
