package codec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/annals-dev/annals/internal/testdomain"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/samber/lo"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/upcast"
)

// Parts of the sums under test: each stored under names of its own.
type (
	lit struct {
		Watts int `json:"watts"`
	}
	rung    struct{ Times int }
	noted   struct{ Text string }
	counted struct{ N int }
	flagged struct{ On bool }
)

func litCodec() *codec.JSON[lit]     { return codec.NewJSON[lit]().Register("Lit", lit{}) }
func rungCodec() *codec.JSON[rung]   { return codec.NewJSON[rung]().Register("Rung", rung{}) }
func notedCodec() *codec.JSON[noted] { return codec.NewJSON[noted]().Register("Noted", noted{}) }
func countedCodec() *codec.JSON[counted] {
	return codec.NewJSON[counted]().Register("Counted", counted{})
}
func flaggedCodec() *codec.JSON[flagged] {
	return codec.NewJSON[flagged]().Register("Flagged", flagged{})
}

var (
	bells = codec.StreamPrefix[string]("bell-")
	lamps = codec.StreamPrefix[int]("lamp-")
)

// sumCase is one case of a sum under test: its mapper, plain or with an
// upcaster, its values, the stream its values are stored in, and how
// its mapper stores a value alone.
type sumCase struct {
	part   func(upcasting bool) codec.Part
	values *rapid.Generator[any]
	stream func(v any) string
	alone  func(ctx context.Context, at codec.Placement, v any) (store.Event, error)
}

// caseOf returns the mapper of a case as a Part and how it stores a
// value alone.
func caseOf[E any](mapper func(upcasting bool) codec.Mapper[E], values *rapid.Generator[E], stream func(E) string) sumCase {
	return sumCase{
		part:   func(up bool) codec.Part { return codec.PartOf(mapper(up)) },
		values: rapid.Map(values, func(e E) any { return e }),
		stream: func(v any) string { return stream(v.(E)) },
		alone: func(ctx context.Context, at codec.Placement, v any) (store.Event, error) {
			return mapper(false).ToEvent(ctx, at, v.(E), store.Metadata{})
		},
	}
}

func plainCase[E any](c func() *codec.JSON[E]) func(bool) codec.Mapper[E] {
	return func(bool) codec.Mapper[E] { return c() }
}

func anyStream[E any](E) string { return "some-stream" }

// The cases, in the order the sums take them. Case 0 is upcast when
// asked; case 1 and case 5 are keyed, stored in their instances' streams.
var sumCases = []sumCase{
	caseOf(func(up bool) codec.Mapper[testdomain.AccountEvent] {
		if up {
			return codec.NewMapper(testdomain.AccountCodec(), codec.WithUpcaster(testdomain.AccountUpcaster()))
		}
		return testdomain.AccountCodec()
	}, genAccountEvent, anyStream),
	caseOf(func(up bool) codec.Mapper[decider.Keyed[string, rung]] {
		return codec.NewKeyed(bells, rungCodec())
	}, rapid.Custom(func(t *rapid.T) decider.Keyed[string, rung] {
		return decider.Keyed[string, rung]{Key: rapid.StringMatching(`[a-z0-9-]{0,8}`).Draw(t, "bell"), Value: rung{Times: rapid.Int().Draw(t, "times")}}
	}), func(k decider.Keyed[string, rung]) string { return bells.Stream(k.Key) }),
	caseOf(plainCase(notedCodec), rapid.Custom(func(t *rapid.T) noted { return noted{Text: rapid.String().Draw(t, "text")} }), anyStream),
	caseOf(plainCase(countedCodec), rapid.Custom(func(t *rapid.T) counted { return counted{N: rapid.Int().Draw(t, "n")} }), anyStream),
	caseOf(plainCase(flaggedCodec), rapid.Custom(func(t *rapid.T) flagged { return flagged{On: rapid.Bool().Draw(t, "on")} }), anyStream),
	caseOf(func(bool) codec.Mapper[decider.Keyed[int, lit]] {
		return codec.NewKeyed(lamps, litCodec())
	}, rapid.Custom(func(t *rapid.T) decider.Keyed[int, lit] {
		return decider.Keyed[int, lit]{Key: rapid.Int().Draw(t, "lamp"), Value: lit{Watts: rapid.Int().Draw(t, "watts")}}
	}), func(k decider.Keyed[int, lit]) string { return lamps.Stream(k.Key) }),
}

// recordOf is the record a store keeps of ev, appended at at.
func recordOf(at codec.Placement, ev store.Event) store.Record {
	return store.Record{ID: ev.ID, StreamID: at.StreamID, Version: at.Version, Position: 1, Type: ev.Type,
		SchemaVersion: max(ev.SchemaVersion, 1), Data: ev.Data, Encoding: ev.Encoding, Metadata: ev.Metadata}
}

// sumOf returns the sum E holding v as case i.
func sumOf[E any](t testdomain.Fataler, i int, v any) E {
	var e E
	if err := any(&e).(decider.SumSetter).SetCase(i, v); err != nil {
		t.Fatalf("case %d of %v: %v", i, reflect.TypeFor[E](), err)
	}
	return e
}

// checkSumRoundTrip checks, with each case's mapper plain and with case
// 0 upcasting, that every value of E is stored as its case's value alone
// and reads back as itself, that the sum names the stream of a keyed
// case's instance (StreamOf) and no other, and, with the upcaster, that
// a record of an old schema of case 0 reads as old.
func checkSumRoundTrip[E any](t *testing.T, cases []sumCase, old E) {
	ctx := context.Background()
	for _, upcasting := range []bool{false, true} {
		t.Run(fmt.Sprintf("upcasting=%v", upcasting), func(t *testing.T) {
			m := codec.NewSum[E](lo.Map(cases, func(c sumCase, _ int) codec.Part { return c.part(upcasting) })...)
			if err := m.Err(); err != nil {
				t.Fatal(err)
			}
			rapid.Check(t, func(t *rapid.T) {
				i := rapid.IntRange(0, len(cases)-1).Draw(t, "case")
				v := cases[i].values.Draw(t, "value")
				e := sumOf[E](t, i, v)
				at := codec.Placement{StreamID: cases[i].stream(v), Version: rapid.Int64Range(1, 9).Draw(t, "version"), ID: uuid.New()}
				// A keyed case names its instance's stream; others none.
				if stream, ok := m.StreamOf(e); ok != (at.StreamID != anyStream(e)) || ok && stream != at.StreamID {
					t.Fatalf("StreamOf(%v) = %q, %v; want %q placed by its part", e, stream, ok, at.StreamID)
				}
				ev, err := m.ToEvent(ctx, at, e, store.Metadata{})
				if err != nil {
					t.Fatal(err)
				}
				alone, err := cases[i].alone(ctx, at, v)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(ev, alone) {
					t.Fatalf("%v stored as\n%+v\nits part alone as\n%+v", e, ev, alone)
				}
				got, err := m.FromRecord(ctx, recordOf(at, ev))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, e) {
					t.Fatalf("%#v read back as %#v", e, got)
				}
			})
			if !upcasting {
				return
			}
			rec := store.Record{StreamID: "old", Version: 1, Type: "Deposited", SchemaVersion: 1, Data: []byte(`{"cents":7}`)}
			got, err := m.FromRecord(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, old) {
				t.Fatalf("old record read as %v, want %v", got, old)
			}
		})
	}
}

// deposited is the sum E holding, as case 0, the deposit of an old
// record: {"cents":7} of type "Deposited" v1.
func deposited[E any](t testdomain.Fataler) E {
	return sumOf[E](t, 0, testdomain.AccountEvent(testdomain.MoneyDeposited{Amount: 7}))
}

func TestSumRoundTrip(t *testing.T) {
	type (
		acct  = testdomain.AccountEvent
		bell  = decider.Keyed[string, rung]
		lamp  = decider.Keyed[int, lit]
		inner = decider.Either[acct, bell]
	)
	t.Run("Either", func(t *testing.T) { checkSumRoundTrip(t, sumCases[:2], deposited[decider.Either[acct, bell]](t)) })
	t.Run("Sum3", func(t *testing.T) { checkSumRoundTrip(t, sumCases[:3], deposited[decider.Sum3[acct, bell, noted]](t)) })
	t.Run("Sum4", func(t *testing.T) {
		checkSumRoundTrip(t, sumCases[:4], deposited[decider.Sum4[acct, bell, noted, counted]](t))
	})
	t.Run("Sum5", func(t *testing.T) {
		checkSumRoundTrip(t, sumCases[:5], deposited[decider.Sum5[acct, bell, noted, counted, flagged]](t))
	})
	t.Run("Sum6", func(t *testing.T) {
		checkSumRoundTrip(t, sumCases, deposited[decider.Sum6[acct, bell, noted, counted, flagged, lamp]](t))
	})
	t.Run("nested", func(t *testing.T) {
		// Either[Either[acct, bell], lamp]: the first case is a sum of
		// its own, whose part is a Sum.
		nested := sumCase{
			part: func(up bool) codec.Part {
				return codec.NewSum[inner](sumCases[0].part(up), sumCases[1].part(up))
			},
			values: rapid.Custom(func(t *rapid.T) any {
				i := rapid.IntRange(0, 1).Draw(t, "inner case")
				return sumOf[inner](t, i, sumCases[i].values.Draw(t, "inner value"))
			}),
			stream: func(v any) string {
				i, x := v.(inner).Case()
				return sumCases[i].stream(x)
			},
			alone: func(ctx context.Context, at codec.Placement, v any) (store.Event, error) {
				i, x := v.(inner).Case()
				return sumCases[i].alone(ctx, at, x)
			},
		}
		checkSumRoundTrip(t, []sumCase{nested, sumCases[5]}, sumOf[decider.Either[inner, lamp]](t, 0, deposited[inner](t)))
	})
}

// A product of package decider is a plain struct: JSON stores it field by
// field, and an upcaster of its type name upcasts a change in one of its
// parts.
func checkProductRoundTrip[P any](t *testing.T, values *rapid.Generator[P]) {
	ctx := context.Background()
	plainCodec := codec.NewJSON[P]().RegisterVersion("Product", 2, *new(P))
	if err := plainCodec.Err(); err != nil {
		t.Fatal(err)
	}
	// Version 1 of the first part called watts "w".
	renameInFirst := upcast.JSON(func(obj map[string]json.RawMessage) error {
		var first map[string]json.RawMessage
		if err := json.Unmarshal(obj["First"], &first); err != nil {
			return err
		}
		first["watts"] = first["w"]
		delete(first, "w")
		data, err := json.Marshal(first)
		obj["First"] = data
		return err
	})
	upcasting := codec.NewMapper(plainCodec, codec.WithUpcaster(upcast.New().Add("Product", 1, renameInFirst)))
	for name, m := range map[string]codec.Mapper[P]{"JSON": plainCodec, "upcasting": upcasting} {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				p := values.Draw(t, "product")
				at := codec.Placement{StreamID: "s", Version: 1, ID: uuid.New()}
				ev, err := m.ToEvent(ctx, at, p, store.Metadata{})
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.FromRecord(ctx, recordOf(at, ev))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, p) {
					t.Fatalf("%#v read back as %#v", p, got)
				}
			})
		})
	}
	// A record of version 1 reads, upcast, with its first part's watts.
	var old map[string]any
	data, _ := json.Marshal(*new(P))
	if err := json.Unmarshal(data, &old); err != nil {
		t.Fatal(err)
	}
	old["First"] = map[string]any{"w": 40}
	data, _ = json.Marshal(old)
	got, err := upcasting.FromRecord(ctx, store.Record{StreamID: "s", Version: 1, Type: "Product", SchemaVersion: 1, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if first := reflect.ValueOf(got).FieldByName("First").Interface(); first != (lit{Watts: 40}) {
		t.Fatalf("old record's first part read as %#v, want 40 watts", first)
	}
}

func TestProductRoundTrip(t *testing.T) {
	gLit := rapid.Custom(func(t *rapid.T) lit { return lit{Watts: rapid.Int().Draw(t, "watts")} })
	gNoted := rapid.Custom(func(t *rapid.T) noted { return noted{Text: rapid.String().Draw(t, "text")} })
	gCounts := rapid.MapOf(rapid.String(), rapid.Custom(func(t *rapid.T) counted { return counted{N: rapid.Int().Draw(t, "n")} }))
	gFlag := rapid.Custom(func(t *rapid.T) flagged { return flagged{On: rapid.Bool().Draw(t, "on")} })
	gRungs := rapid.SliceOf(rapid.Custom(func(t *rapid.T) rung { return rung{Times: rapid.Int().Draw(t, "times")} }))
	gKeyed := rapid.Custom(func(t *rapid.T) decider.Keyed[string, noted] {
		return decider.Keyed[string, noted]{Key: rapid.String().Draw(t, "key"), Value: gNoted.Draw(t, "value")}
	})
	t.Run("Pair", func(t *testing.T) {
		checkProductRoundTrip(t, rapid.Custom(func(t *rapid.T) decider.Pair[lit, noted] {
			return decider.Pair[lit, noted]{First: gLit.Draw(t, "1"), Second: gNoted.Draw(t, "2")}
		}))
	})
	t.Run("Tuple3", func(t *testing.T) {
		checkProductRoundTrip(t, rapid.Custom(func(t *rapid.T) decider.Tuple3[lit, noted, map[string]counted] {
			return decider.Tuple3[lit, noted, map[string]counted]{First: gLit.Draw(t, "1"), Second: gNoted.Draw(t, "2"), Third: gCounts.Draw(t, "3")}
		}))
	})
	t.Run("Tuple4", func(t *testing.T) {
		checkProductRoundTrip(t, rapid.Custom(func(t *rapid.T) decider.Tuple4[lit, noted, map[string]counted, flagged] {
			return decider.Tuple4[lit, noted, map[string]counted, flagged]{First: gLit.Draw(t, "1"), Second: gNoted.Draw(t, "2"), Third: gCounts.Draw(t, "3"), Fourth: gFlag.Draw(t, "4")}
		}))
	})
	t.Run("Tuple5", func(t *testing.T) {
		checkProductRoundTrip(t, rapid.Custom(func(t *rapid.T) decider.Tuple5[lit, noted, map[string]counted, flagged, []rung] {
			return decider.Tuple5[lit, noted, map[string]counted, flagged, []rung]{First: gLit.Draw(t, "1"), Second: gNoted.Draw(t, "2"), Third: gCounts.Draw(t, "3"), Fourth: gFlag.Draw(t, "4"), Fifth: gRungs.Draw(t, "5")}
		}))
	})
	t.Run("Tuple6", func(t *testing.T) {
		checkProductRoundTrip(t, rapid.Custom(func(t *rapid.T) decider.Tuple6[lit, noted, map[string]counted, flagged, []rung, decider.Keyed[string, noted]] {
			return decider.Tuple6[lit, noted, map[string]counted, flagged, []rung, decider.Keyed[string, noted]]{First: gLit.Draw(t, "1"), Second: gNoted.Draw(t, "2"), Third: gCounts.Draw(t, "3"), Fourth: gFlag.Draw(t, "4"), Fifth: gRungs.Draw(t, "5"), Sixth: gKeyed.Draw(t, "6")}
		}))
	})
	// A Keyed of a concrete value, stored outside an instance's stream,
	// is a plain struct too, key and value.
	t.Run("Keyed as a struct", func(t *testing.T) {
		checkProductRoundTrip(t, rapid.Custom(func(t *rapid.T) decider.Pair[lit, decider.Keyed[string, noted]] {
			return decider.Pair[lit, decider.Keyed[string, noted]]{First: gLit.Draw(t, "1"), Second: gKeyed.Draw(t, "2")}
		}))
	})
}

// A Keyed event in its instance's stream is stored as its value alone,
// by the value's mapper (plain or upcasting), and its key comes back
// from the stream.
func TestKeyedRoundTrip(t *testing.T) {
	ctx := context.Background()
	accounts := codec.StreamPrefix[uuid.UUID]("account-")
	for name, m := range map[string]*codec.KeyedMapper[uuid.UUID, testdomain.AccountEvent]{
		"JSON":      codec.NewKeyed(accounts, codec.Mapper[testdomain.AccountEvent](testdomain.AccountCodec())),
		"upcasting": codec.NewKeyed(accounts, codec.Mapper[testdomain.AccountEvent](codec.NewMapper(testdomain.AccountCodec(), codec.WithUpcaster(testdomain.AccountUpcaster())))),
	} {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				k := decider.Keyed[uuid.UUID, testdomain.AccountEvent]{Key: uuid.New(), Value: genAccountEvent.Draw(t, "event")}
				at := codec.Placement{StreamID: accounts.Stream(k.Key), Version: 3, ID: uuid.New()}
				ev, err := m.ToEvent(ctx, at, k, store.Metadata{})
				if err != nil {
					t.Fatal(err)
				}
				alone, err := testdomain.AccountCodec().ToEvent(ctx, at, k.Value, store.Metadata{})
				if err != nil || !reflect.DeepEqual(ev, alone) {
					t.Fatalf("stored as %+v, its value alone as %+v (%v)", ev, alone, err)
				}
				got, err := m.FromRecord(ctx, recordOf(at, ev))
				if err != nil || !reflect.DeepEqual(got, k) {
					t.Fatalf("%#v read back as %#v, %v", k, got, err)
				}
			})
		})
	}
	t.Run("old schema", func(t *testing.T) {
		m := codec.NewKeyed(accounts, codec.Mapper[testdomain.AccountEvent](codec.NewMapper(testdomain.AccountCodec(), codec.WithUpcaster(testdomain.AccountUpcaster()))))
		key := uuid.New()
		got, err := m.FromRecord(ctx, store.Record{StreamID: accounts.Stream(key), Version: 1, Type: "Deposited", SchemaVersion: 1, Data: []byte(`{"cents":7}`)})
		if want := (decider.Keyed[uuid.UUID, testdomain.AccountEvent]{Key: key, Value: testdomain.MoneyDeposited{Amount: 7}}); err != nil || got != want {
			t.Fatalf("old record read as %v, %v; want %v", got, err, want)
		}
	})
	t.Run("wrong stream", func(t *testing.T) {
		m := codec.NewKeyed(accounts, codec.Mapper[testdomain.AccountEvent](testdomain.AccountCodec()))
		k := decider.Keyed[uuid.UUID, testdomain.AccountEvent]{Key: uuid.New(), Value: testdomain.MoneyDeposited{Amount: 1}}
		_, err := m.ToEvent(ctx, codec.Placement{StreamID: "account-" + uuid.NewString(), Version: 1}, k, store.Metadata{})
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("an event placed in another instance's stream: %v, want ErrInvalid", err)
		}
		_, err = m.FromRecord(ctx, store.Record{StreamID: "ledger", Version: 1, Type: "MoneyDeposited", SchemaVersion: 2, Data: []byte(`{}`)})
		if !errors.Is(err, codec.ErrUnknownEventType) {
			t.Fatalf("a record of a stream that is no instance's: %v, want ErrUnknownEventType", err)
		}
	})
	// Streams whose Key does not invert Stream are refused at the first
	// event, before it is stored for an instance that would never load it.
	t.Run("Key does not invert Stream", func(t *testing.T) {
		for name, key := range map[string]func(string) (string, bool){
			"another key": func(id string) (string, bool) {
				k, ok := strings.CutPrefix(id, "b-")
				return strings.ToUpper(k), ok
			},
			"no key": func(string) (string, bool) { return "", false },
		} {
			m := codec.NewKeyed(codec.Streams[string]{Stream: func(k string) string { return "b-" + k }, Key: key}, codec.Mapper[testdomain.AccountEvent](testdomain.AccountCodec()))
			_, err := m.ToEvent(ctx, codec.Placement{StreamID: "b-dune", Version: 1}, decider.Keyed[string, testdomain.AccountEvent]{Key: "dune", Value: testdomain.MoneyDeposited{Amount: 1}}, store.Metadata{})
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "must invert Stream") {
				t.Errorf("%s: %v; want store.ErrInvalid saying Key must invert Stream", name, err)
			}
		}
		// A key read back unequal to itself by ==, but naming the same
		// stream, is the same instance: a time.Time comes back without
		// its monotonic reading and, here, in another location.
		days := codec.StreamPrefix[time.Time]("day-")
		day := time.Now().In(time.FixedZone("CET", 3600))
		m := codec.NewKeyed(days, codec.Mapper[testdomain.AccountEvent](testdomain.AccountCodec()))
		if back, _ := days.Key(days.Stream(day)); back == day {
			t.Fatal("the time came back equal by ==; the case tests nothing")
		}
		if _, err := m.ToEvent(ctx, codec.Placement{StreamID: days.Stream(day), Version: 1}, decider.Keyed[time.Time, testdomain.AccountEvent]{Key: day, Value: testdomain.MoneyDeposited{Amount: 1}}, store.Metadata{}); err != nil {
			t.Errorf("a time key that names its stream back: %v", err)
		}
	})
}

type isbn string

func TestStreamPrefix(t *testing.T) {
	checkStreams(t, codec.StreamPrefix[string]("book-"), rapid.String())
	checkStreams(t, codec.StreamPrefix[isbn]("book-"), rapid.Map(rapid.String(), func(s string) isbn { return isbn(s) }))
	checkStreams(t, codec.StreamPrefix[int]("n-"), rapid.Int())
	checkStreams(t, codec.StreamPrefix[int8]("n-"), rapid.Int8())
	checkStreams(t, codec.StreamPrefix[uint64]("n-"), rapid.Uint64())
	checkStreams(t, codec.StreamPrefix[uuid.UUID]("u-"), rapid.Custom(func(t *rapid.T) uuid.UUID {
		return uuid.UUID(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "bytes"))
	}))

	n := codec.StreamPrefix[int]("n-")
	for _, stream := range []string{"n-07", "n-+7", "n-", "n-x", "m-7", "n-300000000000000000000"} {
		if k, ok := n.Key(stream); ok {
			t.Errorf("Key(%q) = %d, true; want no instance: Stream(%d) is %q", stream, k, k, n.Stream(k))
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "has no text form") {
			t.Errorf("StreamPrefix of a struct key: panic %v, want one saying it has no text form", r)
		}
	}()
	codec.StreamPrefix[struct{ A int }]("x-")
}

// checkStreams checks that a stream names one key and gives it back.
func checkStreams[K comparable](t *testing.T, st codec.Streams[K], keys *rapid.Generator[K]) {
	t.Helper()
	rapid.Check(t, func(t *rapid.T) {
		k := keys.Draw(t, "key")
		got, ok := st.Key(st.Stream(k))
		if !ok || got != k {
			t.Fatalf("Key(Stream(%v)) = %v, %v", k, got, ok)
		}
	})
}

func TestSumRefusesCasesItCannotTellApart(t *testing.T) {
	type (
		twice = decider.Either[testdomain.AccountEvent, testdomain.AccountEvent]
		bells = decider.Either[decider.Keyed[string, rung], decider.Keyed[string, rung]]
	)
	for _, c := range []struct {
		name string
		err  error
		says string
	}{
		{"one codec in two cases", codec.NewSum[twice](testdomain.AccountCodec(), testdomain.AccountCodec()).Err(), `type "AccountOpened" is read by cases [0 1]`},
		{"one name in two codecs", codec.NewSum[decider.Either[lit, noted]](litCodec(), codec.NewJSON[noted]().Register("Lit", noted{})).Err(), `type "Lit" is read by cases [0 1]`},
		{"prefixes that meet", codec.NewSum[bells](codec.NewKeyed(codec.StreamPrefix[string]("bell-"), rungCodec()), codec.NewKeyed(codec.StreamPrefix[string]("bell-tower-"), rungCodec())).Err(), `in streams prefixed "bell-" and "bell-tower-"`},
		{"a refused part", codec.NewSum[decider.Either[lit, any]](litCodec(), codec.NewJSON[any]().Register("Hidden", hidden{})).Err(), "case 1: register \"Hidden\""},
		{"a part that lists no names", codec.NewSum[decider.Either[lit, noted]](litCodec(), codec.PartOf[noted](silent{})).Err(), "case 1 (codec_test.noted) lists no type names"},
		{"a codec that registered nothing", codec.NewSum[decider.Either[lit, noted]](litCodec(), codec.NewJSON[noted]()).Err(), "case 1 (codec_test.noted) lists no type names"},
		{"prefixes that meet, types apart", codec.NewSum[decider.Either[decider.Keyed[string, lit], decider.Keyed[string, noted]]](codec.NewKeyed(codec.StreamPrefix[string]("item-"), litCodec()), codec.NewKeyed(codec.StreamPrefix[string]("item-"), notedCodec())).Err(), `in streams prefixed "item-" and "item-"`},
		{"one prefix beginning another, types apart", codec.NewSum[decider.Either[decider.Keyed[string, lit], decider.Keyed[string, noted]]](codec.NewKeyed(codec.StreamPrefix[string]("book-x-"), litCodec()), codec.NewKeyed(codec.StreamPrefix[string]("book-"), notedCodec())).Err(), `keep their instances in streams prefixed "book-x-" and "book-", which may name one stream`},
		{"prefixes that meet in a nested sum's case", codec.NewSum[decider.Either[decider.Keyed[string, lit], decider.Either[decider.Keyed[string, noted], lit]]](codec.NewKeyed(codec.StreamPrefix[string]("a-"), litCodec()), codec.NewSum[decider.Either[decider.Keyed[string, noted], lit]](codec.NewKeyed(codec.StreamPrefix[string]("a-b-"), notedCodec()), codec.NewJSON[lit]().Register("Other", lit{}))).Err(), `prefixed "a-" and "a-b-"`},
	} {
		if !errors.Is(c.err, codec.ErrUnencodable) || !strings.Contains(fmt.Sprint(c.err), c.says) {
			t.Errorf("%s: %v, want ErrUnencodable saying %q", c.name, c.err, c.says)
		}
	}

	// Keyed cases whose prefixes never meet share names: the stream says
	// which case a record is.
	ctx := context.Background()
	m := codec.NewSum[bells](codec.NewKeyed(codec.StreamPrefix[string]("front-"), rungCodec()), codec.NewKeyed(codec.StreamPrefix[string]("back-"), rungCodec()))
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	for _, e := range []bells{
		decider.Left[decider.Keyed[string, rung], decider.Keyed[string, rung]](decider.Keyed[string, rung]{Key: "a", Value: rung{1}}),
		decider.Right[decider.Keyed[string, rung]](decider.Keyed[string, rung]{Key: "a", Value: rung{2}}),
	} {
		i, v := e.Case()
		at := codec.Placement{StreamID: []string{"front-", "back-"}[i] + v.(decider.Keyed[string, rung]).Key, Version: 1}
		ev, err := m.ToEvent(ctx, at, e, store.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := m.FromRecord(ctx, recordOf(at, ev)); err != nil || got != e {
			t.Errorf("%v read back as %v, %v", e, got, err)
		}
	}
	if _, err := m.FromRecord(ctx, store.Record{StreamID: "side-a", Type: "Rung", SchemaVersion: 1, Data: []byte(`{}`)}); !errors.Is(err, codec.ErrUnknownEventType) {
		t.Errorf("a record no case reads: %v, want ErrUnknownEventType", err)
	}
}

// silent is a mapper that cannot list its type names.
type silent struct{}

func (silent) ToEvent(context.Context, codec.Placement, noted, store.Metadata) (store.Event, error) {
	return store.Event{}, nil
}
func (silent) FromRecord(context.Context, store.Record) (noted, error) { return noted{}, nil }
func (silent) Types() []string                                         { return nil }

func TestNewSumPanicsOnAProgrammingError(t *testing.T) {
	for name, f := range map[string]func(){
		"not a sum":      func() { codec.NewSum[noted](notedCodec()) },
		"too few parts":  func() { codec.NewSum[decider.Sum3[lit, noted, rung]](litCodec(), notedCodec()) },
		"a wrong part":   func() { codec.NewSum[decider.Either[lit, noted]](notedCodec(), litCodec()) },
		"keyed by value": func() { codec.NewSum[decider.Either[lit, decider.Keyed[string, noted]]](litCodec(), notedCodec()) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// JSON alone still refuses what it would store without its content, and
// says which mapper stores it.
func TestJSONPointsSumsToTheirMappers(t *testing.T) {
	for sample, says := range map[any]string{
		decider.Right[lit](noted{}):                              "build their mapper with codec.NewSum",
		decider.Keyed[string, testdomain.AccountEvent]{Key: "k"}: "build its mapper with codec.NewKeyed",
		decider.Pair[lit, decider.Either[lit, noted]]{}:          "at .Second, decider.Either",
		decider.Keyed[string, decider.Either[lit, lit]]{}:        "codec.NewSum",
	} {
		err := codec.NewJSON[any]().Register("X", sample).Err()
		if !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), says) {
			t.Errorf("register %T: %v, want ErrUnencodable saying %q", sample, err, says)
		}
	}
}
