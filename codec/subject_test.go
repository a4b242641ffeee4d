package codec_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/annals-dev/annals/internal/testdomain"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

func shreddingMapper(s store.KeyStore, master *codec.Keyring) *codec.Pipeline[testdomain.AccountEvent] {
	return codec.NewMapper(testdomain.AccountCodec(), codec.WithUpcaster(testdomain.AccountUpcaster()), codec.WithSubjectKeys(s, master))
}

func TestForgettingACustomer(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	master := testdomain.MustKeyring(t, testdomain.TestKey1)
	r := annals.NewRunner(s, testdomain.Accounts, shreddingMapper(s, master))
	for _, c := range []struct{ stream, customer, holder string }{{"account-1", "c-1", "Ann Smith"}, {"account-2", "c-2", "Bob Jones"}} {
		if _, err := r.Handle(ctx, c.stream, testdomain.AccountCmd{Open: true, CustomerID: c.customer, Holder: c.holder, Email: c.customer + "@example.com"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Handle(ctx, c.stream, testdomain.AccountCmd{Amount: 250}); err != nil {
			t.Fatal(err)
		}
	}
	for rec := range s.ReadStream(ctx, "account-1", 0) {
		if bytes.Contains(rec.Data, []byte("Ann Smith")) || bytes.Contains(rec.Data, []byte("c-1@example")) {
			t.Fatalf("personal data readable in the stored record %s", rec.Data)
		}
	}

	if err := codec.ForgetSubject(ctx, s, "c-1"); err != nil {
		t.Fatal(err)
	}
	a, v, err := r.Load(ctx, "account-1")
	if err != nil {
		t.Fatalf("load a forgotten customer's account: %v", err)
	}
	if want := (testdomain.Account{CustomerID: "c-1", Balance: 250, Deposits: 1}); a != want || v != 2 {
		t.Fatalf("forgotten customer's account: %+v at %d, want %+v at 2", a, v, want)
	}
	var opened testdomain.AccountEvent
	for rec := range s.ReadStream(ctx, "account-1", 1) {
		opened, err = shreddingMapper(s, master).FromRecord(ctx, rec)
		break
	}
	if err != nil || opened != (testdomain.AccountOpened{CustomerID: "c-1"}) {
		t.Fatalf("forgotten opening decodes as %+v, %v; want the customer ID alone", opened, err)
	}
	if b, _, err := r.Load(ctx, "account-2"); err != nil || b.Holder != "Bob Jones" {
		t.Fatalf("another customer after forgetting c-1: %+v, %v", b, err)
	}

	// The customer comes back: new events get a new key; old ones stay forgotten.
	if _, err := r.Handle(ctx, "account-3", testdomain.AccountCmd{Open: true, CustomerID: "c-1", Holder: "Ann Smith"}); err != nil {
		t.Fatal(err)
	}
	if a3, _, err := r.Load(ctx, "account-3"); err != nil || a3.Holder != "Ann Smith" {
		t.Fatalf("a new account of a returning customer: %+v, %v", a3, err)
	}
	if a, _, _ := r.Load(ctx, "account-1"); a.Holder != "" {
		t.Fatalf("the old account got its forgotten holder back: %+v", a)
	}
	if err := codec.ForgetSubject(ctx, s, "c-1"); err != nil {
		t.Fatalf("forgetting twice: %v", err)
	}
	if err := codec.ForgetSubject(ctx, s, ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("forgetting an empty subject: %v, want ErrInvalid", err)
	}
}

func TestSubjectKeysAreWrappedByTheMasterKey(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	appendAll(t, s, shreddingMapper(s, testdomain.MustKeyring(t, testdomain.TestKey1)), "a", testdomain.AccountOpened{CustomerID: "c-9", Holder: "Eve"})
	k, err := s.SubjectKey(ctx, "c-9")
	if err != nil {
		t.Fatal(err)
	}
	if k.KeyID != "k1" || len(k.Wrapped) != codec.KeySize+28 {
		t.Fatalf("stored key: master %q, %d wrapped bytes; want k1 and a sealed 32-byte key", k.KeyID, len(k.Wrapped))
	}
	// The master key rotates; keys wrapped by k1 still open with k1 in the ring.
	rotated := shreddingMapper(s, testdomain.MustKeyring(t, testdomain.TestKey2, testdomain.TestKey1))
	for rec := range s.ReadStream(ctx, "a", 0) {
		if e, err := rotated.FromRecord(ctx, rec); err != nil || e.(testdomain.AccountOpened).Holder != "Eve" {
			t.Fatalf("after rotating the master key: %+v, %v", e, err)
		}
		_, err := shreddingMapper(s, testdomain.MustKeyring(t, testdomain.TestKey2)).FromRecord(ctx, rec)
		wantDecryptError(t, "subject key without its master key", err, "k1")
	}
}

func TestPersonalRecordsNeedSubjectKeysToRead(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	rec := appendAll(t, s, shreddingMapper(s, testdomain.MustKeyring(t, testdomain.TestKey1)), "a", testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann"})[0]
	_, err := codec.NewMapper(testdomain.AccountCodec()).FromRecord(ctx, rec)
	if !errors.Is(err, codec.ErrDecrypt) || !strings.Contains(err.Error(), "WithSubjectKeys") {
		t.Fatalf("reading personal data without subject keys: %v; want ErrDecrypt saying what to configure", err)
	}
}

func TestTamperedPersonalEnvelopeFails(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	m := shreddingMapper(s, testdomain.MustKeyring(t, testdomain.TestKey1))
	recs := appendAll(t, s, m, "a", testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann"}, testdomain.AccountOpened{CustomerID: "c-2", Holder: "Bob"})
	var env map[string]json.RawMessage
	if err := json.Unmarshal(recs[0].Data, &env); err != nil {
		t.Fatalf("envelope: %v", err)
	}
	edit := func(key, value string) store.Record {
		e := map[string]json.RawMessage{}
		for k, v := range env {
			e[k] = v
		}
		e[key] = json.RawMessage(value)
		r := recs[0]
		r.Data, _ = json.Marshal(e)
		return r
	}
	var sealed []byte
	json.Unmarshal(env["personal"], &sealed)
	sealed[len(sealed)-1] ^= 1
	flipped, _ := json.Marshal(base64.StdEncoding.EncodeToString(sealed))
	withoutCheck := func(r store.Record) store.Record { // as written before envelopes named their key
		var e map[string]json.RawMessage
		json.Unmarshal(r.Data, &e)
		delete(e, "key")
		r.Data, _ = json.Marshal(e)
		return r
	}
	for name, r := range map[string]store.Record{
		"flipped bit":                     edit("personal", string(flipped)),
		"another subject's key":           withoutCheck(edit("subject", `"c-2"`)),
		"personal data of another record": withData(recs[0], recs[1]),
	} {
		got, err := m.FromRecord(ctx, r)
		if !errors.Is(err, codec.ErrDecrypt) {
			t.Errorf("%s: %+v, %v; want ErrDecrypt", name, got, err)
		}
	}
	// The check names a key, not a subject: an envelope moved to another
	// subject's name reads as one sealed with a key that subject no longer
	// has, as forgotten (the record's other bytes are WithEncryption's to
	// guard).
	if got, err := m.FromRecord(ctx, edit("subject", `"c-2"`)); err != nil || got != (testdomain.AccountOpened{CustomerID: "c-1"}) {
		t.Errorf("an envelope moved to another subject: %+v, %v; want its personal fields forgotten", got, err)
	}
	for name, r := range map[string]store.Record{
		"not JSON":           {StreamID: "a", Version: 1, Type: "AccountOpened", SchemaVersion: 2, Data: []byte("{"), Encoding: "personal"},
		"unknown field":      edit("extra", "1"),
		"data not an object": edit("data", "[1]"),
	} {
		if got, err := m.FromRecord(ctx, r); err == nil {
			t.Errorf("%s: decoded as %+v", name, got)
		}
	}
}

type (
	typoTag struct {
		ID   string
		Name string `annals:"persnal"`
	}
	hiddenPersonal struct {
		ID   string
		Name string `json:"-" annals:"personal"`
	}
	inner struct {
		Name string `annals:"personal"`
	}
	embeddedPersonal struct {
		ID string
		inner
	}
	nestedPersonal struct {
		ID      string
		Holders []*inner
	}
	selfMarshaling struct {
		ID   string
		Name string `annals:"personal"`
	}
	noSubject struct {
		ID   string
		Name string `annals:"personal"`
	}
	allOptional struct {
		ID   string `json:"id"`
		Name string `json:"name,omitempty" annals:"personal"`
	}
	onPointer struct {
		ID   string
		Name string `annals:"personal"`
	}
	untaggedSubject struct {
		ID   string
		Name string `annals:"personal"`
	}
	oddJSONName struct {
		ID    string
		Email string `json:"e'mail" annals:"personal"` // encoding/json ignores the name, and writes "Email"
	}
)

func (e oddJSONName) DataSubject() string { return e.ID }

func (e typoTag) DataSubject() string          { return e.ID }
func (e hiddenPersonal) DataSubject() string   { return e.ID }
func (e embeddedPersonal) DataSubject() string { return e.ID }
func (e nestedPersonal) DataSubject() string   { return e.ID }
func (e selfMarshaling) DataSubject() string   { return e.ID }
func (e noSubject) DataSubject() string        { return "" }
func (e *onPointer) DataSubject() string       { return e.ID }
func (e allOptional) DataSubject() string      { return e.ID }

func (e selfMarshaling) MarshalJSON() ([]byte, error) { return []byte(`{"n":"` + e.Name + `"}`), nil }

func TestPersonalFieldMistakesAreErrors(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	jc := codec.NewJSON[any]().
		Register("typo", typoTag{}).Register("hidden", hiddenPersonal{}).
		Register("self", selfMarshaling{}).Register("nosubject", noSubject{}).
		Register("embedded", embeddedPersonal{}).Register("nested", nestedPersonal{}).
		Register("pointer", onPointer{}).Register("untagged", untaggedSubject{}).
		Register("map", map[string]allOptional{}).Register("slice", []*allOptional{})
	m := codec.NewMapper(jc, codec.WithSubjectKeys(s, testdomain.MustKeyring(t, testdomain.TestKey1)))
	for _, c := range []struct {
		event any
		want  string
	}{
		{typoTag{ID: "c", Name: "x"}, `unknown tag annals:"persnal"`},
		{hiddenPersonal{ID: "c", Name: "x"}, "not encoded"},
		{selfMarshaling{ID: "c", Name: "x"}, "MarshalJSON"},
		{noSubject{ID: "c", Name: "x"}, "data subject ID is empty"},
		{embeddedPersonal{ID: "c", inner: inner{Name: "x"}}, "embedded struct"},
		{nestedPersonal{ID: "c", Holders: []*inner{{Name: "x"}}}, "only top-level fields can be personal"},
		{onPointer{ID: "c", Name: "x"}, "pointer receiver"},
		{untaggedSubject{ID: "c", Name: "x"}, "give it a method DataSubject() string"},
		{map[string]allOptional{"c": {ID: "c", Name: "x"}}, "in a map, slice or array"},
		{[]*allOptional{{ID: "c", Name: "x"}}, "in a map, slice or array"},
	} {
		_, err := m.ToEvent(ctx, codec.Placement{StreamID: "s", Version: 1}, c.event, store.Metadata{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T: %v; want an error saying %q", c.event, err, c.want)
		}
		if _, empty := c.event.(noSubject); !empty && !errors.Is(err, codec.ErrUnencodable) {
			t.Errorf("%T: %v; want an error matching codec.ErrUnencodable", c.event, err)
		}
	}
}

func TestNoPersonalDataNoKey(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	jc := codec.NewJSON[any]().Register("opt", allOptional{})
	m := codec.NewMapper(jc, codec.WithSubjectKeys(s, testdomain.MustKeyring(t, testdomain.TestKey1)))
	ev, err := m.ToEvent(ctx, codec.Placement{StreamID: "s", Version: 1}, allOptional{ID: "c-1"}, store.Metadata{})
	if err != nil || ev.Encoding != "" || string(ev.Data) != `{"id":"c-1"}` {
		t.Fatalf("event without personal values: %s (encoding %q), %v; want it plain", ev.Data, ev.Encoding, err)
	}
	if _, err := s.SubjectKey(ctx, "c-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a key was created for a subject with no personal data stored: %v", err)
	}
}

// emptyPersonal has personal fields that JSON always writes, empty or
// not: a string and a pointer.
type emptyPersonal struct {
	ID    string  `json:"id"`
	Name  string  `json:"name" annals:"personal"`
	Email *string `json:"email" annals:"personal"`
	Tags  []string
}

func (e emptyPersonal) DataSubject() string { return e.ID }

// A personal field that is an empty string or null holds nothing to seal:
// it stays in clear and makes no key, so that the state of a forgotten
// subject, whose personal fields read back empty, is stored without
// giving the subject a key again. Any other value is sealed.
func TestEmptyPersonalFieldsMakeNoKey(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	jc := codec.NewJSON[any]().Register("empty", emptyPersonal{Name: "n", Email: new("e"), Tags: []string{"t"}})
	m := codec.NewMapper(jc, codec.WithSubjectKeys(s, testdomain.MustKeyring(t, testdomain.TestKey1)))
	at := codec.Placement{StreamID: "s", Version: 1}

	if err := codec.ForgetSubject(ctx, s, "c-1"); err != nil {
		t.Fatal(err)
	}
	forgotten := emptyPersonal{ID: "c-1", Tags: []string{}}
	ev, err := m.ToEvent(ctx, at, forgotten, store.Metadata{})
	if err != nil || ev.Encoding != "" || string(ev.Data) != `{"id":"c-1","name":"","email":null,"Tags":[]}` {
		t.Fatalf("value with empty personal fields: %s (encoding %q), %v; want it plain", ev.Data, ev.Encoding, err)
	}
	if _, err := s.SubjectKey(ctx, "c-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a forgotten subject got a key again for empty personal fields: %v", err)
	}

	email := "ann@example.com"
	for _, v := range []emptyPersonal{
		{ID: "c-2", Name: "Ann", Tags: []string{}},
		{ID: "c-3", Email: &email, Tags: []string{"x"}},
		{ID: "c-4", Name: "Ann", Email: &email, Tags: []string{}},
	} {
		ev, err := m.ToEvent(ctx, at, v, store.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if ev.Encoding == "" || bytes.Contains(ev.Data, []byte(`"Ann"`)) || bytes.Contains(ev.Data, []byte("ann@example")) {
			t.Fatalf("%+v stored as %s (encoding %q): personal data in clear", v, ev.Data, ev.Encoding)
		}
		got, err := m.FromRecord(ctx, recordOf(at, ev))
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("%+v reads back as %+v, %v", v, got, err)
		}
	}
}

func TestConcurrentWritersAgreeOnASubjectKey(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	m := shreddingMapper(s, testdomain.MustKeyring(t, testdomain.TestKey1))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			stream := fmt.Sprintf("account-%d", i)
			ev, err := m.ToEvent(ctx, codec.Placement{StreamID: stream, Version: 1}, testdomain.AccountOpened{CustomerID: "shared", Holder: fmt.Sprint("Holder ", i)}, store.Metadata{})
			if err == nil {
				_, err = s.Append(ctx, stream, store.NoStream, []store.Event{ev})
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 16 {
		for rec := range s.ReadStream(ctx, fmt.Sprintf("account-%d", i), 0) {
			e, err := m.FromRecord(ctx, rec)
			if err != nil || e.(testdomain.AccountOpened).Holder != fmt.Sprint("Holder ", i) {
				t.Fatalf("writer %d's event: %+v, %v", i, e, err)
			}
		}
	}
}

// A field whose json name encoding/json ignores is written under its Go
// name: it is found there, and sealed, not stored in clear.
func TestAPersonalFieldIsFoundUnderTheNameJSONWrites(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	m := codec.NewMapper(codec.NewJSON[any]().Register("odd", oddJSONName{}), codec.WithSubjectKeys(s, testdomain.MustKeyring(t, testdomain.TestKey1)))
	ev, err := m.ToEvent(ctx, codec.Placement{StreamID: "s", Version: 1}, oddJSONName{ID: "c-1", Email: "dave@secret.example"}, store.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ev.Data, []byte("secret")) {
		t.Fatalf("personal data stored in clear: %s", ev.Data)
	}
	got, err := m.FromRecord(ctx, store.Record{ID: ev.ID, StreamID: "s", Version: 1, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Encoding: ev.Encoding, Data: ev.Data})
	if err != nil || got != (oddJSONName{ID: "c-1", Email: "dave@secret.example"}) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}

// A subject forgotten and then seen again gets a new key: the events
// sealed with the old one read as forgotten, those sealed with the new
// one read whole, and the stream loads (it did not: the old envelopes
// were opened with the new key and failed as tampered).
func TestASubjectSeenAgainAfterBeingForgotten(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
	master := testdomain.MustKeyring(t, testdomain.TestKey1)
	r := annals.NewRunner(s, testdomain.Accounts, shreddingMapper(s, master))
	if _, err := r.Handle(ctx, "account-1", testdomain.AccountCmd{Open: true, CustomerID: "c-1", Holder: "Ann Smith"}); err != nil {
		t.Fatal(err)
	}
	if err := codec.ForgetSubject(ctx, s, "c-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Handle(ctx, "account-2", testdomain.AccountCmd{Open: true, CustomerID: "c-1", Holder: "Ann Jones"}); err != nil {
		t.Fatal(err)
	}
	for stream, want := range map[string]testdomain.AccountEvent{
		"account-1": testdomain.AccountOpened{CustomerID: "c-1"},
		"account-2": testdomain.AccountOpened{CustomerID: "c-1", Holder: "Ann Jones"},
	} {
		for rec := range s.ReadStream(ctx, stream, 1) {
			got, err := shreddingMapper(s, master).FromRecord(ctx, rec)
			if err != nil || got != want {
				t.Errorf("%s: %+v, %v; want %+v", stream, got, err, want)
			}
		}
	}
	if _, err := r.Handle(ctx, "account-1", testdomain.AccountCmd{Amount: 10}); err != nil {
		t.Fatalf("a command on the forgotten account after the subject came back: %v", err)
	}
}

func TestPersonalField(t *testing.T) {
	type contact struct {
		Email string `annals:"personal"`
	}
	type hidden struct {
		Note  string `json:"-" annals:"personal"`
		email string `annals:"personal"`
		Count int
	}
	for name, c := range map[string]struct {
		typ  reflect.Type
		want string
	}{
		"a field":         {reflect.TypeFor[contact](), "Email"},
		"through a slice": {reflect.TypeFor[struct{ Contacts []*contact }](), "Email"},
		"through a map":   {reflect.TypeFor[map[string]contact](), "Email"},
		// A field JSON leaves out is found all the same: a type's own
		// MarshalJSON may write it.
		"unexported, or json:\"-\"": {reflect.TypeFor[hidden](), "Note"},
		"none":                      {reflect.TypeFor[struct{ Count int }](), ""},
		"not a struct":              {reflect.TypeFor[int](), ""},
		"nil":                       {nil, ""},
	} {
		got := codec.PersonalField(c.typ)
		if c.want == "" && got != "" || c.want != "" && !strings.HasSuffix(got, "."+c.want) {
			t.Errorf("%s: PersonalField = %q, want %q", name, got, c.want)
		}
	}
	_ = hidden{}.email
}

// lostDelete is a key store whose deletes lose their answer: each
// reports an unknown outcome, having deleted the key when deletes is set.
type lostDelete struct {
	*memory.Store
	deletes bool
}

func (s lostDelete) DeleteSubjectKey(ctx context.Context, subject string) error {
	if s.deletes {
		if err := s.Store.DeleteSubjectKey(ctx, subject); err != nil {
			return err
		}
	}
	return fmt.Errorf("delete key of data subject %q: %w (connection reset)", subject, store.ErrOutcomeUnknown)
}

// A delete whose answer was lost is settled by the key: gone, the subject
// is forgotten; there, the unknown outcome stands.
func TestForgetSubjectSettlesALostAnswerByTheKey(t *testing.T) {
	ctx := context.Background()
	for _, deletes := range []bool{true, false} {
		m := memory.New()
		if _, err := m.CreateSubjectKey(ctx, store.SubjectKey{Subject: "c-1", KeyID: "k1", Wrapped: []byte("wrapped")}); err != nil {
			t.Fatal(err)
		}
		err := codec.ForgetSubject(ctx, lostDelete{m, deletes}, "c-1")
		_, lerr := m.SubjectKey(ctx, "c-1")
		switch {
		case deletes && err != nil:
			t.Errorf("a delete that took effect and lost its answer: ForgetSubject = %v, want nil (the key is gone: %v)", err, lerr)
		case !deletes && !errors.Is(err, store.ErrOutcomeUnknown):
			t.Errorf("a delete that did not take effect: ForgetSubject = %v, want the unknown outcome (the key is there: %v)", err, lerr)
		}
	}
}

// lostCreate is a key store whose key creations lose their answer: each
// reports an unknown outcome, having created the key when creates is set.
type lostCreate struct {
	*memory.Store
	creates bool
}

func (s lostCreate) CreateSubjectKey(ctx context.Context, k store.SubjectKey) (store.SubjectKey, error) {
	if s.creates {
		if _, err := s.Store.CreateSubjectKey(ctx, k); err != nil {
			return store.SubjectKey{}, err
		}
	}
	return store.SubjectKey{}, fmt.Errorf("create key of data subject %q: %w (connection reset)", k.Subject, store.ErrOutcomeUnknown)
}

// A subject's key whose creation lost its answer is settled by looking it
// up: created, the command goes on with it and is stored; not created,
// the command stored nothing and says so, not that it may have stored.
func TestACreatedKeyWhoseAnswerWasLostIsLookedUp(t *testing.T) {
	ctx := context.Background()
	master := testdomain.MustKeyring(t, testdomain.TestKey1)
	for _, creates := range []bool{true, false} {
		ks := lostCreate{memory.New(), creates}
		s := annals.New(ks)
		r := annals.NewRunner(s, testdomain.Accounts, shreddingMapper(ks, master))
		res, err := r.Handle(ctx, "account-1", testdomain.AccountCmd{Open: true, CustomerID: "c-1", Holder: "Ann Smith", Email: "ann@example.com"})
		head, _ := s.Head(ctx)
		switch {
		case creates && (err != nil || head != 1):
			t.Errorf("the key was created: Handle = %+v, %v, head %d; want the command stored", res, err, head)
		case !creates && (err == nil || errors.Is(err, store.ErrOutcomeUnknown) || annals.OutcomeOf(err) != annals.OutcomeFailed || head != 0):
			t.Errorf("the key was not created: Handle = %v (outcome %v), head %d; want nothing stored, and said so", err, annals.OutcomeOf(err), head)
		}
	}
}
