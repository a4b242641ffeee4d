package codec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/annals-dev/annals/internal/testdomain"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones of TestEncodeRefusesATimeJSONWouldMove
	"unicode/utf8"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
)

// Types whose values JSON would store without their content.
type (
	onlyUnexported struct {
		amount int
		note   string
	}
	// partlyHidden has content JSON stores and one field it does not.
	partlyHidden struct {
		Guest  string
		nights int
	}
	// noCopy holds nothing, and a field of it loses nothing.
	noCopy struct{}
	// guarded has a field that holds nothing beside its content.
	guarded struct {
		Guest string
		_     noCopy
		nc    noCopy
	}
	// price fills its unexported field from what JSON stores, with an
	// UnmarshalJSON of its own.
	price struct {
		Amount string
		cents  int64
	}
	// marshalOnly writes its unexported field with a MarshalJSON of its
	// own, and has no method to read it back: JSON decodes what it wrote
	// field by field, and leaves nights 0.
	marshalOnly struct {
		Guest  string
		nights int
	}
	// marshalOnlyPtr is marshalOnly with its MarshalJSON on the pointer.
	marshalOnlyPtr struct {
		Guest  string
		nights int
	}
	// replying holds, beside its content, a channel and a function,
	// which are not data.
	replying struct {
		Amount int
		reply  chan error
		hook   func()
	}
	// partlyDashed leaves its unexported field out on purpose.
	partlyDashed struct {
		Guest string
		cache int `json:"-"`
	}
	// eitherLike is decider.Either by another name: one of two values,
	// with the choice in an unexported flag.
	eitherLike struct {
		left    testdomain.AccountOpened
		right   testdomain.MoneyDeposited
		isRight bool
	}
	hidden       struct{ secret string }
	nestedField  struct{ Inner hidden }
	nestedSlice  struct{ Items []hidden }
	nestedMap    struct{ ByID map[string]hidden }
	nestedPtr    struct{ Next *hidden }
	nestedDeep   struct{ Lines []map[string]*nestedField }
	chanField    struct{ Done chan struct{} }
	funcField    struct{ Hook func() }
	complexField struct{ Z complex128 }
	ifaceField   struct{ Err error }
	structKey    struct{ Scores map[hidden]int }
	// stamped embeds time.Time, whose MarshalJSON is promoted to it: JSON
	// would store the time and lose Note.
	stamped struct {
		time.Time
		Note string
	}
	// ptrMarshal declares its marshaler on the pointer, which JSON does
	// not call for a value held in an interface.
	ptrMarshal struct{ n int }
	// forgetful marshals its content and ignores it when unmarshalling.
	forgetful struct{ n int }
	// capped changes its value on the way back.
	capped    struct{ N int }
	bigValues struct{ Totals map[string]big.Int }
	// JSON encodes the fields of an unexported embedded pointer but
	// cannot allocate it when decoding.
	embeddedPtr      struct{ *hidden2 }
	namedEmbeddedPtr struct {
		*hidden2 `json:"h"`
	}
	hidden2 struct{ Note string }
	// panicky's MarshalJSON panics on the sample.
	panicky struct{ N int }
	// allDash has a field, and JSON stores none: every value is {}.
	allDash struct {
		A int `json:"-"`
	}
	allDashHidden struct {
		a int `json:"-"`
	}
	embeddedAllDash struct{ allDash }
	dashedEmbedding struct {
		hidden2 `json:"-"`
	}
	nestedAllDash struct {
		N     int
		Inner allDash
	}
	// twoShadows embeds two X at the same depth, and JSON drops both.
	shadowA    struct{ X, A int }
	shadowB    struct{ X, B int }
	twoShadows struct {
		shadowA
		shadowB
	}
	// baseTwice reaches base.ID and base.Version by two paths of the same
	// depth, and JSON drops both.
	leftBase  struct{ base }
	rightBase struct{ base }
	baseTwice struct {
		leftBase
		rightBase
		Amount int
	}
	TaggedN struct {
		N int `json:"n"`
	}
	TaggedM struct {
		M int `json:"n"`
	}
)

// Types of fields tagged with the same name, which go vet reports, built
// at run time.
var (
	// sameTag has two fields tagged "x".
	sameTag = reflect.New(reflect.StructOf([]reflect.StructField{
		{Name: "A", Type: reflect.TypeFor[int](), Tag: `json:"x"`},
		{Name: "B", Type: reflect.TypeFor[int](), Tag: `json:"x"`},
	})).Elem().Interface()
	// twoTagged embeds two fields tagged "n" at the same depth.
	twoTagged = reflect.New(reflect.StructOf([]reflect.StructField{
		{Name: "TaggedN", Type: reflect.TypeFor[TaggedN](), Anonymous: true},
		{Name: "TaggedM", Type: reflect.TypeFor[TaggedM](), Anonymous: true},
	})).Elem().Interface()
)

func (m marshalOnly) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"Guest": m.Guest, "nights": m.nights})
}

func (m *marshalOnlyPtr) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"Guest": m.Guest, "nights": m.nights})
}

func (p panicky) MarshalJSON() ([]byte, error) { panic("no") }
func (p *panicky) UnmarshalJSON([]byte) error  { return nil }

func (p *ptrMarshal) MarshalJSON() ([]byte, error) { return json.Marshal(p.n) }
func (p *ptrMarshal) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &p.n) }

func (f forgetful) MarshalJSON() ([]byte, error) { return json.Marshal(f.n) }
func (f *forgetful) UnmarshalJSON([]byte) error  { return nil }

func (c *capped) UnmarshalJSON(b []byte) error {
	var v struct{ N int }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	c.N = min(v.N, 10)
	return nil
}

func (p *price) UnmarshalJSON(b []byte) error {
	var v struct{ Amount string }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	whole, frac, _ := strings.Cut(v.Amount, ".")
	w, err := strconv.ParseInt(whole+frac, 10, 64)
	p.Amount, p.cents = v.Amount, w
	return err
}

func TestRegisterRefusesWhatJSONWouldLose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sample any
		says   string // part of the error that says what is wrong
	}{
		{"only unexported fields", onlyUnexported{}, "no exported fields (only amount, note)"},
		{"an unexported field beside exported ones", partlyHidden{Guest: "Ada", nights: 2}, `has unexported fields (nights) that JSON neither writes nor reads, so what they hold is lost; export them, tag them json:"-"`},
		{"an unexported field in a nested struct", struct{ Stay partlyHidden }{}, "at .Stay, codec_test.partlyHidden has unexported fields (nights)"},
		{"a MarshalJSON and an unexported field", marshalOnly{Guest: "Ada"}, `implements MarshalJSON but its pointer has no UnmarshalJSON or UnmarshalText, and JSON cannot decode into its unexported fields (nights), so what they hold is lost; implement UnmarshalJSON on *codec_test.marshalOnly`},
		{"a MarshalJSON and an unexported field, nested", struct{ Stay marshalOnly }{}, "at .Stay, codec_test.marshalOnly implements MarshalJSON but its pointer has no UnmarshalJSON or UnmarshalText, and JSON cannot decode into its unexported fields (nights)"},
		{"a pointer MarshalJSON and an unexported field", &marshalOnlyPtr{Guest: "Ada"}, "the type implements MarshalJSON but its pointer has no UnmarshalJSON or UnmarshalText, and JSON cannot decode into its unexported fields (nights)"},
		{"a pointer MarshalJSON and an unexported field, in a slice", struct{ Stays []marshalOnlyPtr }{}, "at .Stays[], codec_test.marshalOnlyPtr implements MarshalJSON"},
		{"decider.Either", decider.Left[testdomain.AccountOpened, testdomain.MoneyDeposited](testdomain.AccountOpened{CustomerID: "c-1"}), "no exported fields (only left, right, isRight)"},
		{"zero decider.Either", decider.Either[int, string]{}, "no exported fields"},
		{"Either-like struct", eitherLike{}, "no exported fields"},
		{"nested struct field", nestedField{}, "at .Inner, codec_test.hidden has no exported fields"},
		{"nested in a slice", nestedSlice{}, "at .Items[], codec_test.hidden"},
		{"nested in a map", nestedMap{}, "at .ByID[…], codec_test.hidden"},
		{"nested behind a pointer", nestedPtr{}, "at .Next, codec_test.hidden"},
		{"nested deep", nestedDeep{}, "at .Lines[][…].Inner, codec_test.hidden"},
		{"chan field", chanField{}, "is a chan, which JSON cannot encode"},
		{"func field", funcField{}, "is a func, which JSON cannot encode"},
		{"complex field", complexField{}, "is a complex128, which JSON cannot encode"},
		{"interface field", ifaceField{}, "is an interface other than any"},
		{"struct map key", structKey{}, "is the key type of a map"},
		{"embedded time.Time", stamped{}, "gets MarshalJSON from its embedded time.Time"},
		{"pointer MarshalJSON", ptrMarshal{}, "declares MarshalJSON on its pointer"},
		{"big.Int map values", bigValues{}, "at .Totals[…], big.Int declares MarshalJSON on its pointer"},
		{"unexported embedded pointer", embeddedPtr{&hidden2{"n"}}, "embeds *codec_test.hidden2, a pointer to an unexported struct"},
		{"named unexported embedded pointer", namedEmbeddedPtr{}, "embeds *codec_test.hidden2"},
		{"sample whose MarshalJSON panics", panicky{}, "panics when the sample is encoded and decoded"},
		{"sample that forgets", forgetful{n: 7}, "the sample encodes as 7 and decodes to a value that encodes as 0"},
		{"sample that changes", capped{N: 50}, `the sample encodes as {"N":50} and decodes to a value that encodes as {"N":10}`},
		{"every field tagged -", allDash{A: 1}, `has fields, every one tagged json:"-" (A), so JSON would store every value as {}; for an event with no content declare an empty struct`},
		{"unexported field tagged -", allDashHidden{}, `every one tagged json:"-" (a)`},
		{"embedded struct whose fields are tagged -", embeddedAllDash{}, `every one tagged json:"-" (A)`},
		{"embedded struct tagged -", dashedEmbedding{}, `every one tagged json:"-" (hidden2)`},
		{"nested struct whose fields are tagged -", nestedAllDash{}, `at .Inner, codec_test.allDash has fields, every one tagged json:"-"`},
		{"embedded fields of the same name", twoShadows{}, `has fields .shadowA.X and .shadowB.X that JSON names "X" at the same depth, so JSON stores none of them; give one of them another name with a json tag`},
		{"a struct embedded twice", baseTwice{}, `has fields .leftBase.base.ID and .rightBase.base.ID that JSON names "ID"`},
		{"embedded fields of the same tag", twoTagged, `has fields .TaggedN.N and .TaggedM.M that JSON names "n"`},
		{"fields of the same tag", sameTag, `has fields .A and .B that JSON names "x"`},
		{"a text-only number in a slice", palette{}, "at .Colors[], codec_test.colorOnly implements MarshalText but its pointer has no UnmarshalText"},
		{"a text-only map key", byColor{}, "at .Counts (key), codec_test.colorOnly is the key type of a map, and implements MarshalText"},
		{"a text-only struct", wallet{}, "at .Items[], codec_test.moneyText implements MarshalText but its pointer has no UnmarshalText"},
		{"a redacting string", withSecret{}, "at .S, codec_test.redacted implements MarshalJSON but its pointer has no UnmarshalJSON"},
		{"a struct that writes a string", purse{}, `at .Items[], codec_test.moneyString implements MarshalJSON, which writes "0.00 EUR" for a zero value`},
		// The sample's round trip loses the number too, but the reason is
		// the interface, not a method of the type's.
		{"a large integer in a field of type any", struct{ V any }{int64(1) << 60}, "at .V, int64 is the number 1152921504606846976, held below an interface (any)"},
		{"a large integer in a map of any", struct{ M map[string]any }{map[string]any{"a": uint64(1) << 60}}, "held below an interface (any), which JSON decodes as a float64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := codec.NewJSON[any]().Register("Good", testdomain.MoneyDeposited{}).Register("Bad", tc.sample)
			err := c.Err()
			if !errors.Is(err, codec.ErrUnencodable) {
				t.Fatalf("Err() = %v, want ErrUnencodable", err)
			}
			goType := fmt.Sprintf("(%v)", reflect.TypeOf(tc.sample))
			for _, part := range []string{`register "Bad"`, goType, tc.says} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
			if !strings.Contains(err.Error(), "; ") {
				t.Errorf("error %q does not say what to do", err)
			}
			nothingWorks(t, c, err)
		})
	}
}

// nothingWorks checks that every call of the codec, and of a pipeline
// around it, that encodes or decodes returns the registration error.
func nothingWorks(t *testing.T, c *codec.JSON[any], want error) {
	t.Helper()
	ctx := context.Background()
	good := testdomain.MoneyDeposited{Amount: 5}
	rec := store.Record{StreamID: "s", Version: 1, Type: "Good", SchemaVersion: 1, Data: []byte(`{"amount":5}`)}
	snap := snapshot.Snapshot{StreamID: "s", Version: 1, Type: "Good", SchemaVersion: 1, Data: []byte(`{"amount":5}`)}
	p := codec.NewMapper[any](c, codec.WithCompression())
	calls := map[string]func() error{
		"Encode": func() error { _, _, _, err := c.Encode(good); return err },
		"Decode": func() error { _, err := c.Decode("Good", 1, []byte(`{"amount":5}`)); return err },
		"ToEvent": func() error {
			_, err := c.ToEvent(ctx, codec.Placement{StreamID: "s", Version: 1}, good, store.Metadata{})
			return err
		},
		"FromRecord":   func() error { _, err := c.FromRecord(ctx, rec); return err },
		"ToSnapshot":   func() error { _, err := c.ToSnapshot(ctx, "s", 1, good); return err },
		"FromSnapshot": func() error { _, err := c.FromSnapshot(ctx, snap); return err },
		"Pipeline.Err": p.Err,
		"Pipeline.ToEvent": func() error {
			_, err := p.ToEvent(ctx, codec.Placement{StreamID: "s", Version: 1}, good, store.Metadata{})
			return err
		},
		"Pipeline.FromRecord":   func() error { _, err := p.FromRecord(ctx, rec); return err },
		"Pipeline.ToSnapshot":   func() error { _, err := p.ToSnapshot(ctx, "s", 1, good); return err },
		"Pipeline.FromSnapshot": func() error { _, err := p.FromSnapshot(ctx, snap); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, want) || !errors.Is(err, codec.ErrUnencodable) {
			t.Errorf("%s after a refused registration: %v, want %v", name, err, want)
		}
	}
}

// The first refusal is the one reported, and a refused type is not
// registered.
func TestRegisterKeepsTheFirstRefusal(t *testing.T) {
	c := codec.NewJSON[any]().Register("A", onlyUnexported{}).Register("B", chanField{}).Register("C", testdomain.MoneyDeposited{})
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), `"A"`) {
		t.Fatalf("Err() = %v, want the refusal of A", err)
	}
	if got := c.Types(); len(got) != 0 {
		t.Errorf("Types() = %v after refusing the first registration, want none", got)
	}
}

// Snapshot states go through the same registration.
func TestRegisterRefusesStateTypes(t *testing.T) {
	type state struct {
		balance  int64
		deposits int
	}
	states := codec.NewJSON[state]().Register("Account", state{})
	if !errors.Is(states.Err(), codec.ErrUnencodable) {
		t.Fatalf("Err() = %v, want ErrUnencodable", states.Err())
	}
	if _, err := states.ToSnapshot(context.Background(), "a-1", 3, state{balance: 10, deposits: 1}); !errors.Is(err, codec.ErrUnencodable) {
		t.Fatalf("ToSnapshot: %v, want ErrUnencodable", err)
	}
	m := codec.NewMapper[state](states)
	if _, err := m.ToSnapshot(context.Background(), "a-1", 3, state{balance: 10, deposits: 1}); !errors.Is(err, codec.ErrUnencodable) {
		t.Fatalf("Pipeline.ToSnapshot: %v, want ErrUnencodable", err)
	}
}

// What a field of type any holds is known only from the value: Encode
// refuses a value whose content JSON would drop, without spoiling the
// codec.
func TestEncodeRefusesUnencodableContentOfAny(t *testing.T) {
	type note struct {
		Attrs map[string]any
		Extra any
	}
	c := codec.NewJSON[any]().Register("Note", note{})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := c.Encode(note{Attrs: map[string]any{"choice": decider.Right[int]("x")}})
	if !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), `at .Attrs["choice"], decider.Either`) {
		t.Fatalf("Encode with an Either in an any field: %v, want ErrUnencodable naming the field", err)
	}
	_, _, _, err = c.Encode(note{Extra: []any{1, nestedField{}}})
	if !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "at .Extra[1].Inner, codec_test.hidden") {
		t.Fatalf("Encode with a nested hidden struct in an any field: %v", err)
	}
	if c.Err() != nil {
		t.Fatalf("a refused value spoiled the codec: %v", c.Err())
	}
	_, _, data, err := c.Encode(note{Attrs: map[string]any{"n": 1.5, "tags": []any{"a"}}, Extra: testdomain.MoneyDeposited{Amount: 3}})
	if err != nil || string(data) != `{"Attrs":{"n":1.5,"tags":["a"]},"Extra":{"amount":3}}` {
		t.Fatalf("Encode of encodable content: %s, %v", data, err)
	}
}

// A value encoding/json itself cannot write (a NaN, an infinity, a cycle
// of pointers, a channel held in a field of type any, a MarshalJSON that
// fails) is refused with ErrUnencodable and advice, by a codec and by
// JSONCheck.Marshal alike; the error still matches encoding/json's own.
func TestEncodeRefusesWhatJSONCannotWrite(t *testing.T) {
	type (
		reading struct {
			Value float64
			Extra any
		}
		link struct{ Next *link }
		// loop is walked for its times and what its any holds.
		loop struct {
			At    time.Time
			Extra any
			Next  *loop
		}
	)
	cycle := &link{}
	cycle.Next = cycle
	walked := &loop{Extra: 1}
	walked.Next = walked
	c := codec.NewJSON[any]().Register("Reading", reading{}).Register("Link", link{}).Register("Loop", loop{}).Register("Failing", failingMarshal{})
	var (
		value     *json.UnsupportedValueError
		marshaler *json.MarshalerError
	)
	for _, tc := range []struct {
		name   string
		v      any
		as     any
		advice string
	}{
		{"NaN", reading{Value: math.NaN()}, &value, "no form for a float's NaN"},
		{"infinity", reading{Extra: []any{math.Inf(-1)}}, &value, "no form for a float's NaN"},
		{"cycle", *cycle, &value, "cycle of pointers"},
		{"cycle of a value walked", *walked, &value, "cycle of pointers"},
		{"channel in any", reading{Extra: make(chan int)}, nil, "chan"},
		{"failing MarshalJSON", failingMarshal{N: -1}, &marshaler, "own MarshalJSON"},
	} {
		for doing, encode := range map[string]func() error{
			"Encode":            func() error { _, _, _, err := c.Encode(tc.v); return err },
			"JSONCheck.Marshal": func() error { _, err := new(codec.JSONCheck).Marshal("encode", tc.v); return err },
		} {
			err := encode()
			if !errors.Is(err, codec.ErrUnencodable) || (tc.as != nil && !errors.As(err, tc.as)) || !strings.Contains(err.Error(), tc.advice) {
				t.Errorf("%s of a %s: %v; want ErrUnencodable, encoding/json's error and %q", doing, tc.name, err, tc.advice)
			}
		}
	}
	if c.Err() != nil {
		t.Fatalf("a refused value spoiled the codec: %v", c.Err())
	}
}

// Numbers at the edges: an empty json.Number, which encoding/json writes
// as 0; zeros written many ways; and numbers too small for a float64,
// however large their exponent (the check of those does not grow with it).
func TestEncodeJSONNumberEdges(t *testing.T) {
	type measured struct{ Attrs map[string]any }
	c := codec.NewJSON[measured]().Register("Measured", measured{})
	for n, stored := range map[string]bool{
		"": true, "0": true, "-0": true, "0.000": true, "0e-99999": true, "-0.0E+5": true,
		"1e-400": false, "1e-1000000": false, "-2.5e-9999999": false,
		"1" + strings.Repeat("0", 900): false,
	} {
		_, _, data, err := c.Encode(measured{map[string]any{"n": json.Number(n)}})
		if stored && err != nil || !stored && !errors.Is(err, codec.ErrUnencodable) {
			t.Errorf("json.Number(%.20q): %s, %v; want stored %v", n, data, err, stored)
		}
	}
}

// JSON writes a time's offset to the minute, so a time in a zone whose
// offset has seconds (local mean times before the 20th century's zones)
// would be read back as another instant: Encode refuses it, wherever the
// time stands in the event, and stores every other time to read back as
// the same instant.
func TestEncodeRefusesATimeJSONWouldMove(t *testing.T) {
	type (
		stamp struct{ time.Time } // written as its time
		shift struct {
			At      time.Time
			Ends    *time.Time
			Breaks  []time.Time
			ByName  map[string]time.Time
			Stamped stamp
			ByTime  map[time.Time]int
		}
	)
	c := codec.NewJSON[shift]().Register("Shift", shift{})
	zones := []string{"UTC", "Europe/Amsterdam", "Africa/Monrovia", "Europe/Dublin", "Asia/Kolkata", "America/New_York", "Asia/Kathmandu"}
	rapid.Check(t, func(t *rapid.T) {
		loc, err := time.LoadLocation(rapid.SampledFrom(zones).Draw(t, "zone"))
		if err != nil {
			t.Fatal(err)
		}
		tm := time.Unix(rapid.Int64Range(-4e9, 2e9).Draw(t, "unix"), 0).In(loc)
		var v shift
		switch where := rapid.IntRange(0, 5).Draw(t, "where"); where {
		case 0:
			v.At = tm
		case 1:
			v.Ends = &tm
		case 2:
			v.Breaks = []time.Time{time.Unix(0, 0).UTC(), tm}
		case 3:
			v.ByName = map[string]time.Time{"lunch": tm}
		case 4:
			v.Stamped = stamp{tm}
		case 5:
			v.ByTime = map[time.Time]int{tm: 1}
		}
		raw, _ := json.Marshal(tm)
		var back time.Time
		moves := json.Unmarshal(raw, &back) != nil || !back.Equal(tm)
		_, _, data, err := c.Encode(v)
		switch {
		case moves && (!errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "to the minute")):
			t.Fatalf("%v stored as %s, %v; it reads back as %v: want ErrUnencodable", tm, data, err, back)
		case !moves && err != nil:
			t.Fatalf("%v: %v; want it stored", tm, err)
		}
	})
	amsterdam, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(1930, 1, 1, 12, 0, 0, 0, amsterdam)
	if err := new(codec.JSONCheck).Check("encode the state", shift{At: old}); !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "field .At") {
		t.Fatalf("JSONCheck.Check of %v: %v; want ErrUnencodable naming the field", old, err)
	}
}

// failingMarshal is a type whose MarshalJSON fails for a negative N.
type failingMarshal struct{ N int }

func (f failingMarshal) MarshalJSON() ([]byte, error) {
	if f.N < 0 {
		return nil, errors.New("no JSON for a negative N")
	}
	return json.Marshal(f.N)
}

func (f *failingMarshal) UnmarshalJSON(data []byte) error { return json.Unmarshal(data, &f.N) }

// JSON stores each byte of a string that is not valid UTF-8 as U+FFFD,
// so the value would come back changed: Encode refuses it, naming the
// field, without spoiling the codec. Bytes are stored as []byte.
func TestEncodeRefusesInvalidUTF8(t *testing.T) {
	type (
		name  struct{ Name string }
		lines struct {
			Items []struct{ Note *string }
			Tags  map[string]int
			Extra any
		}
	)
	bad := "ab\xffcd"
	c := codec.NewJSON[any]().Register("Name", name{}).Register("Lines", lines{}).Register("Text", "").Register("Plain", plain{})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v    any
		says string
	}{
		{name{bad}, `encode "Name" (codec_test.name): field .Name holds a string that is not valid UTF-8: JSON would store it changed; store bytes as []byte`},
		{lines{Items: []struct{ Note *string }{{}, {&bad}}}, "field .Items[1].Note holds a string that is not valid UTF-8"},
		{lines{Tags: map[string]int{"ok": 1, bad: 2}}, "a key of field .Tags holds a string that is not valid UTF-8"},
		{lines{Extra: map[string]any{"k": []any{1.0, bad}}}, `field .Extra["k"][1] holds a string`},
		{bad, "the value holds a string that is not valid UTF-8"},
	} {
		_, _, data, err := c.Encode(tc.v)
		if !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Encode(%#v) = %s, %v; want ErrUnencodable saying %q", tc.v, data, err, tc.says)
		}
	}
	_, err := codec.NewMapper[any](c).ToEvent(context.Background(), codec.Placement{StreamID: "s", Version: 1}, name{bad}, store.Metadata{})
	if !errors.Is(err, codec.ErrUnencodable) {
		t.Errorf("Pipeline.ToEvent: %v, want ErrUnencodable", err)
	}
	if c.Err() != nil {
		t.Fatalf("a refused value spoiled the codec: %v", c.Err())
	}
	// What JSON stores as it is: U+FFFD itself, the text \ufffd, bytes,
	// and what a marshaler writes.
	for _, v := range []any{
		name{"a\ufffdb"},
		name{`a\ufffdb`},
		plain{Raw: []byte{0xff}, Tags: []string{"\ufffd"}},
		lines{Extra: json.RawMessage(`"\ufffd"`)},
	} {
		if _, _, _, err := c.Encode(v); err != nil {
			t.Errorf("Encode(%#v): %v", v, err)
		}
	}
}

// Whatever the bytes of a string, Encode refuses it or it comes back as
// it went in.
func TestEncodeNeverChangesAString(t *testing.T) {
	c := acceptedCodec(t)
	rapid.Check(t, func(t *rapid.T) {
		s := string(rapid.SliceOf(rapid.Byte()).Draw(t, "bytes"))
		v := plain{ID: s, Tags: []string{s}, Counts: map[string]int{s: 1}, Ref: &s}
		name, version, data, err := c.Encode(v)
		if !utf8.ValidString(s) {
			if !errors.Is(err, codec.ErrUnencodable) {
				t.Fatalf("Encode of %q: %s, %v; want ErrUnencodable", s, data, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode of %q: %v", s, err)
		}
		got, err := c.Decode(name, version, data)
		if err != nil {
			t.Fatal(err)
		}
		sameValue(t, v, got)
	})
}

// Types that JSON stores with their content.
type (
	plain struct {
		ID     string
		Amount int64
		Rate   float64
		OK     bool
		Raw    []byte
		Tags   []string
		Counts map[string]int
		ByNum  map[int]string
		Ref    *string
		Code   [3]uint16
	}
	marker struct{}
	// money marshals itself: its fields are unexported.
	money struct {
		cents    int64
		currency string
	}
	// temperature has a value MarshalJSON and the usual pointer
	// UnmarshalJSON.
	temperature struct{ milli int64 }
	timed       struct {
		At       time.Time
		Deadline *time.Time
		ID       uuid.UUID
	}
	base struct {
		ID      string
		Version int
	}
	Detail     struct{ Note string }
	embeddings struct {
		base
		*Detail `json:"detail,omitempty"`
		Amount  int
	}
	// ownTime embeds time.Time and declares its own marshalers, which
	// encode every field.
	ownTime struct {
		time.Time
		Note string
	}
	onlyTime struct{ time.Time }
	tree     struct {
		Label    string
		Children []*tree
	}
	// ignored leaves out what is not its content.
	ignored struct {
		Name  string
		Cache map[string]int `json:"-"`
		_     [0]func()
	}
	nestedOK struct {
		Lines   []map[string]*base
		Amounts map[string]money
		Temps   []temperature
		Raw     json.RawMessage
		Meta    map[string]any
	}
	pointerOK struct{ n int }
	// someDash leaves out a part and stores the rest.
	someDash struct {
		allDash
		N     int
		cache int `json:"-"`
	}
	// emptyParts has fields that hold nothing: it is a marker too.
	emptyParts struct {
		marker
		_ int
	}
	// shadowed's own X hides the embedded ones, as in Go: v.X is its own.
	shadowed struct {
		shadowA
		shadowB
		X int
	}
	// taggedWins's field tagged "X" hides shadowA.X at the same depth.
	renamedX struct {
		Y int `json:"X"`
	}
	taggedWins struct {
		shadowA
		renamedX
	}
)

func (m money) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Cents    int64  `json:"cents"`
		Currency string `json:"currency"`
	}{m.cents, m.currency})
}

func (m *money) UnmarshalJSON(b []byte) error {
	var v struct {
		Cents    int64  `json:"cents"`
		Currency string `json:"currency"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	m.cents, m.currency = v.Cents, v.Currency
	return nil
}

func (t temperature) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%dmC", t.milli), nil }
func (t *temperature) UnmarshalText(b []byte) error {
	_, err := fmt.Sscanf(string(b), "%dmC", &t.milli)
	return err
}

func (o ownTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		At   time.Time
		Note string
	}{o.Time, o.Note})
}

func (o *ownTime) UnmarshalJSON(b []byte) error {
	var v struct {
		At   time.Time
		Note string
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.Time, o.Note = v.At, v.Note
	return nil
}

func (p *pointerOK) MarshalJSON() ([]byte, error) { return json.Marshal(p.n) }
func (p *pointerOK) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &p.n) }

var (
	when    = time.Date(2024, 5, 1, 12, 30, 0, 123456789, time.UTC)
	ref     = "ref"
	samples = map[string]any{
		"Plain":       plain{ID: "p-1", Amount: -3, Rate: 0.25, OK: true, Raw: []byte{0, 1}, Tags: []string{"a"}, Counts: map[string]int{"x": 1}, ByNum: map[int]string{2: "two"}, Ref: &ref, Code: [3]uint16{1, 2, 3}},
		"Marker":      marker{},
		"Money":       money{cents: 1250, currency: "EUR"},
		"Temperature": temperature{milli: -4500},
		"Timed":       timed{At: when, Deadline: &when, ID: uuid.MustParse("01890a5d-ac96-774b-bcce-b302099a8057")},
		"Time":        when,
		"Embeddings":  embeddings{base: base{ID: "e", Version: 2}, Detail: &Detail{Note: "n"}, Amount: 4},
		"OwnTime":     ownTime{Time: when, Note: "kept"},
		"OnlyTime":    onlyTime{when},
		"Tree":        tree{Label: "root", Children: []*tree{{Label: "leaf"}}},
		"Ignored":     ignored{Name: "n"},
		"NestedOK":    nestedOK{Lines: []map[string]*base{{"a": {ID: "a"}}}, Amounts: map[string]money{"x": {1, "EUR"}}, Temps: []temperature{{20}}, Raw: json.RawMessage(`{"k":1}`), Meta: map[string]any{"n": 1.0, "s": "v"}},
		"PointerOK":   &pointerOK{n: 9},
		"Bytes":       []byte("abc"),
		"Scores":      map[string][]int{"a": {1, 2}},
		"Account":     testdomain.Account{CustomerID: "c", Holder: "h", Balance: 3, Deposits: 1},
		"SomeDash":    someDash{N: 2},
		"EmptyParts":  emptyParts{},
		"Shadowed":    shadowed{shadowA: shadowA{A: 1}, shadowB: shadowB{B: 2}, X: 3},
		"TaggedWins":  taggedWins{shadowA{A: 1}, renamedX{Y: 4}},
		"DashedCache": partlyDashed{Guest: "Ada"},
		"Guarded":     guarded{Guest: "Ada"},
		"Replying":    replying{Amount: 3},
		"Price":       price{Amount: "1.50", cents: 150},
	}
)

func acceptedCodec(t testing.TB) *codec.JSON[any] {
	c := codec.NewJSON[any]()
	for name, sample := range samples {
		c.Register(name, sample)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("registering accepted types: %v", err)
	}
	return c
}

func TestRegisterAcceptsWhatJSONKeeps(t *testing.T) {
	c := acceptedCodec(t)
	ctx := context.Background()
	p := codec.NewMapper[any](c, codec.WithCompression())
	if p.Err() != nil {
		t.Fatal(p.Err())
	}
	for name, sample := range samples {
		t.Run(name, func(t *testing.T) {
			ev, err := p.ToEvent(ctx, codec.Placement{StreamID: "s", Version: 1}, sample, store.Metadata{})
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type != name {
				t.Fatalf("stored as %q, want %q", ev.Type, name)
			}
			got, err := p.FromRecord(ctx, store.Record{ID: ev.ID, StreamID: "s", Version: 1, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data, Encoding: ev.Encoding})
			if err != nil {
				t.Fatal(err)
			}
			sameValue(t, sample, got)
		})
	}
}

// sameValue checks that got is want, or encodes as want does (a time.Time
// that lost its monotonic reading, a float64 in a field of type any).
func sameValue(t interface {
	Helper()
	Fatalf(string, ...any)
}, want, got any) {
	t.Helper()
	if reflect.DeepEqual(want, got) {
		return
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) || reflect.TypeOf(want) != reflect.TypeOf(got) {
		t.Fatalf("round trip changed the value:\n want %T %+v (%s)\n  got %T %+v (%s)", want, want, a, got, got, b)
	}
}

// Any value of an accepted type comes back from the codec as it went in.
func TestAcceptedTypesRoundTrip(t *testing.T) {
	c := acceptedCodec(t)
	gen := rapid.OneOf(
		rapid.Make[plain]().AsAny(),
		rapid.Make[marker]().AsAny(),
		rapid.Custom(func(t *rapid.T) any {
			v := embeddings{base: rapid.Make[base]().Draw(t, "base"), Amount: rapid.Int().Draw(t, "amount")}
			if rapid.Bool().Draw(t, "inner") {
				v.Detail = &Detail{Note: rapid.String().Draw(t, "note")}
			}
			return v
		}),
		genTree(3).AsAny(),
		rapid.Make[map[string][]int]().AsAny(),
		rapid.Make[[]byte]().AsAny(),
		rapid.Make[testdomain.Account]().AsAny(),
		rapid.Custom(func(t *rapid.T) any {
			return money{cents: rapid.Int64().Draw(t, "cents"), currency: rapid.StringOfN(rapid.RuneFrom([]rune("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), 3, 3, -1).Draw(t, "currency")}
		}),
		rapid.Custom(func(t *rapid.T) any {
			return temperature{milli: rapid.Int64().Draw(t, "milli")}
		}),
		rapid.Custom(func(t *rapid.T) any {
			at := time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "sec"), rapid.Int64Range(0, 999_999_999).Draw(t, "nsec")).UTC()
			v := timed{At: at, ID: uuid.UUID(rapid.Make[[16]byte]().Draw(t, "id"))}
			if rapid.Bool().Draw(t, "deadline") {
				v.Deadline = &at
			}
			return v
		}),
		rapid.Custom(func(t *rapid.T) any {
			return ownTime{Time: time.Unix(rapid.Int64Range(0, 1<<34).Draw(t, "sec"), 0).UTC(), Note: rapid.String().Draw(t, "note")}
		}),
		rapid.Custom(func(t *rapid.T) any {
			return nestedOK{
				Lines:   rapid.SliceOf(rapid.MapOf(rapid.String(), rapid.Ptr(rapid.Make[base](), true))).Draw(t, "lines"),
				Amounts: rapid.MapOf(rapid.String(), rapid.Custom(func(t *rapid.T) money { return money{cents: rapid.Int64().Draw(t, "c")} })).Draw(t, "amounts"),
				Temps:   rapid.SliceOf(rapid.Custom(func(t *rapid.T) temperature { return temperature{rapid.Int64().Draw(t, "m")} })).Draw(t, "temps"),
				Raw:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, rapid.Int().Draw(t, "raw"))),
			}
		}),
		rapid.Custom(func(t *rapid.T) any { return &pointerOK{n: rapid.Int().Draw(t, "n")} }),
		rapid.Custom(func(t *rapid.T) any { return someDash{N: rapid.Int().Draw(t, "n")} }),
		rapid.Just[any](emptyParts{}),
		rapid.Custom(func(t *rapid.T) any { // the hidden X are left out
			return shadowed{shadowA: shadowA{A: rapid.Int().Draw(t, "a")}, shadowB: shadowB{B: rapid.Int().Draw(t, "b")}, X: rapid.Int().Draw(t, "x")}
		}),
		rapid.Custom(func(t *rapid.T) any {
			return taggedWins{shadowA{A: rapid.Int().Draw(t, "a")}, renamedX{Y: rapid.Int().Draw(t, "y")}}
		}),
	)
	rapid.Check(t, func(t *rapid.T) {
		v := gen.Draw(t, "value")
		name, version, data, err := c.Encode(v)
		if err != nil {
			t.Fatalf("encode %#v: %v", v, err)
		}
		got, err := c.Decode(name, version, data)
		if err != nil {
			t.Fatalf("decode %s %s: %v", name, data, err)
		}
		sameValue(t, v, got)
	})
}

func genTree(depth int) *rapid.Generator[tree] {
	return rapid.Custom(func(t *rapid.T) tree {
		v := tree{Label: rapid.String().Draw(t, "label")}
		if depth > 0 {
			v.Children = rapid.SliceOfN(rapid.Ptr(genTree(depth-1), true), 0, 3).Draw(t, "children")
		}
		return v
	})
}

// A field hidden by another of its JSON name, shallower or tagged at its
// depth, is left out as encoding/json leaves it out: the type is
// accepted, since in Go too v.X names the field that hides the others,
// and the hidden field is not stored. Only fields of which JSON stores
// none are refused.
func TestRegisterAcceptsHiddenFields(t *testing.T) {
	c := acceptedCodec(t)
	for _, tc := range []struct {
		v, back any
		want    string
	}{
		{shadowed{shadowA: shadowA{X: 9, A: 1}, shadowB: shadowB{X: 8}, X: 3}, shadowed{shadowA: shadowA{A: 1}, X: 3}, `{"A":1,"B":0,"X":3}`},
		{taggedWins{shadowA{X: 9, A: 1}, renamedX{Y: 4}}, taggedWins{shadowA{A: 1}, renamedX{Y: 4}}, `{"A":1,"X":4}`},
	} {
		name, version, data, err := c.Encode(tc.v)
		if err != nil || string(data) != tc.want {
			t.Fatalf("Encode(%+v) = %s, %v; want %s", tc.v, data, err, tc.want)
		}
		got, err := c.Decode(name, version, data)
		if err != nil || got != tc.back {
			t.Fatalf("Decode(%s) = %+v, %v; want %+v", data, got, err, tc.back)
		}
	}
}

// A consumer filters the log by its mapper's types through the Mapper
// interface, whatever the mapper.
func TestMapperTypes(t *testing.T) {
	c := codec.NewJSON[any]().Register("B", testdomain.MoneyDeposited{}).Register("A", testdomain.AccountOpened{})
	for name, m := range map[string]codec.Mapper[any]{"JSON": c, "Pipeline": codec.NewMapper[any](c, codec.WithUpcaster(testdomain.AccountUpcaster()))} {
		got := m.Types()
		if !slices.IsSorted(got) || !slices.Contains(got, "A") || !slices.Contains(got, "B") {
			t.Errorf("%s.Types() = %v, want the registered names, sorted", name, got)
		}
	}
}

// Types that write themselves but cannot read back what they wrote, which
// a zero sample at the top does not reach.
type (
	colorOnly int
	palette   struct{ Colors []colorOnly }
	byColor   struct{ Counts map[colorOnly]int }
	moneyText struct {
		Cents    int64
		Currency string
	}
	wallet      struct{ Items []moneyText }
	moneyString struct{ Cents int64 }
	purse       struct{ Items []moneyString }
	redacted    string
	withSecret  struct{ S redacted }
)

func (c colorOnly) MarshalText() ([]byte, error) { return []byte([]string{"red", "blue"}[c%2]), nil }
func (m moneyText) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%d.%02d %s", m.Cents/100, m.Cents%100, m.Currency), nil
}
func (redacted) MarshalJSON() ([]byte, error) { return []byte(`"***"`), nil }

// JSON decodes a number below an interface as a float64: an integer that
// a float64 holds exactly is stored, and one that it does not is refused
// rather than read back changed. An integer in a field of its own type is
// stored whatever its size.
func TestEncodeRefusesAnIntegerAFloatWouldChange(t *testing.T) {
	type counted struct {
		Total int64
		Attrs map[string]any
		Extra any
	}
	c := codec.NewJSON[any]().Register("Counted", counted{})
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.OneOf(rapid.Int64(), rapid.Int64Range(-1<<54, 1<<54)).Draw(t, "n")
		where := rapid.IntRange(0, 3).Draw(t, "where")
		v := counted{Total: n}
		switch where {
		case 1:
			v.Attrs = map[string]any{"n": n}
		case 2:
			v.Extra = []any{"a", struct{ N uint64 }{uint64(max(n, 0))}}
		case 3:
			v.Extra = &struct{ Inner []int64 }{[]int64{0, n}}
		}
		_, _, data, err := c.Encode(v)
		inRange := func(x int64) bool { return x <= 1<<53 && x >= -(1<<53) }
		exact := where == 0 || inRange(n)
		if where == 2 {
			exact = inRange(max(n, 0))
		}
		switch {
		case exact && err != nil:
			t.Fatalf("Encode(%+v) = %v; want it stored", v, err)
		case !exact && (!errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "held below an interface")):
			t.Fatalf("Encode(%+v) = %s, %v; want ErrUnencodable", v, data, err)
		case exact && where == 1:
			back, err := c.Decode("Counted", 1, data)
			if err != nil || back.(counted).Attrs["n"] != float64(n) || int64(back.(counted).Attrs["n"].(float64)) != n {
				t.Fatalf("%d stored as %s read back as %v, %v", n, data, back, err)
			}
		}
	})
}

// A json.Number below an interface is written as the number it holds,
// which reads back as a float64: it is stored when that float64 writes
// the same number again, and refused otherwise, never stored to be read
// back as another number.
func TestEncodeRefusesAJSONNumberAFloatWouldChange(t *testing.T) {
	type measured struct{ Attrs map[string]any }
	c := codec.NewJSON[measured]().Register("Measured", measured{})
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.OneOf(
			rapid.Map(rapid.Int64(), func(x int64) string { return strconv.FormatInt(x, 10) }),
			rapid.Map(rapid.Int64Range(-1<<54, 1<<54), func(x int64) string { return strconv.FormatInt(x, 10) }),
			rapid.Map(rapid.Float64(), func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }),
			rapid.StringMatching(`-?[1-9][0-9]{0,25}(\.[0-9]{1,25})?(e-?[1-9][0-9]?)?`),
		).Draw(t, "n")
		_, _, data, err := c.Encode(measured{map[string]any{"n": json.Number(n)}})
		// What a field of type any reads, written again.
		var read map[string]any
		holds := json.Unmarshal([]byte(`{"n":`+n+`}`), &read) == nil
		if holds {
			again, _ := json.Marshal(read["n"])
			want, ok1 := new(big.Rat).SetString(n)
			got, ok2 := new(big.Rat).SetString(string(again))
			holds = ok1 && ok2 && want.Cmp(got) == 0
		}
		switch {
		case holds && err != nil:
			t.Fatalf("json.Number(%s): %v; want it stored", n, err)
		case !holds && !errors.Is(err, codec.ErrUnencodable):
			t.Fatalf("json.Number(%s) stored as %s, %v; it reads back as another number: want ErrUnencodable", n, data, err)
		}
	})
}

func (m moneyString) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `"%d.%02d EUR"`, m.Cents/100, m.Cents%100), nil
}

// booked is an event registered by its pointer or by its value below.
type booked struct{ Room string }

// An event whose pointer is registered, where its value is encoded (or
// the other way round), is refused saying which of the two is registered,
// under which name; an event of a type not registered at all, saying how
// to register it.
func TestEncodeSaysWhenThePointerIsRegistered(t *testing.T) {
	byPointer := codec.NewJSON[any]().Register("Booked", &booked{})
	if _, _, _, err := byPointer.Encode(booked{Room: "1"}); !errors.Is(err, codec.ErrUnknownEventType) || !strings.Contains(err.Error(), `*codec_test.booked is, as "Booked"`) {
		t.Errorf("a value whose pointer is registered: %v, want ErrUnknownEventType naming the pointer's registration", err)
	}
	byValue := codec.NewJSON[any]().Register("Booked", booked{})
	if _, _, _, err := byValue.Encode(&booked{Room: "1"}); !errors.Is(err, codec.ErrUnknownEventType) || !strings.Contains(err.Error(), `codec_test.booked is, as "Booked"`) {
		t.Errorf("a pointer whose value is registered: %v, want ErrUnknownEventType naming the value's registration", err)
	}
	if _, _, _, err := byValue.Encode(partlyHidden{}); !errors.Is(err, codec.ErrUnknownEventType) || strings.Contains(err.Error(), " is, as ") || !strings.Contains(err.Error(), `.Register("partlyHidden", codec_test.partlyHidden{})`) {
		t.Errorf("a type unrelated to any registered one: %v, want ErrUnknownEventType saying how to register it", err)
	}
	if _, _, _, err := byValue.Encode(nil); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "returned a nil event") {
		t.Errorf("a nil event: %v, want store.ErrInvalid saying a nil event was returned", err)
	}
}

// blanked writes every value as {}, as a MarshalJSON that forgot its
// fields does, and reads nothing back.
type blanked struct{ Amount int }

func (blanked) MarshalJSON() ([]byte, error) { return []byte(`{}`), nil }
func (*blanked) UnmarshalJSON([]byte) error  { return nil }

// codeText writes itself as text, and a value without a code as "".
type codeText struct{ Code, Note string }

func (c codeText) MarshalText() ([]byte, error) { return []byte(c.Code), nil }
func (c *codeText) UnmarshalText(b []byte) error {
	c.Code = string(b)
	return nil
}

// A type's own MarshalJSON or MarshalText that writes a value as it
// writes the zero value has dropped its content: {} (or "") would be
// stored for it. Registering a filled sample refuses the type, and a zero
// sample, which cannot show it, leaves it to Encode, which refuses every
// such value and takes the zero value. A type JSON writes field by field
// is not asked: an empty slice that is not nil, tagged omitempty, writes
// as nil does and loses nothing.
func TestAValueItsOwnMarshalerWritesAsZeroIsRefused(t *testing.T) {
	if err := codec.NewJSON[any]().Register("Blanked", blanked{Amount: 5}).Err(); !errors.Is(err, codec.ErrUnencodable) || !strings.Contains(err.Error(), "MarshalJSON leaves out") {
		t.Errorf("register a filled sample written as {}: %v; want ErrUnencodable naming MarshalJSON", err)
	}
	c := codec.NewJSON[any]().Register("Blanked", blanked{}).Register("Code", codeText{})
	if err := c.Err(); err != nil {
		t.Fatalf("register zero samples: %v", err)
	}
	for _, v := range []any{blanked{Amount: 5}, codeText{Note: "lost"}} {
		if _, _, data, err := c.Encode(v); !errors.Is(err, codec.ErrUnencodable) {
			t.Errorf("encode %#v: %s, %v; want ErrUnencodable", v, data, err)
		}
	}
	for _, v := range []any{blanked{}, codeText{}, codeText{Code: "x"}} {
		if _, _, _, err := c.Encode(v); err != nil {
			t.Errorf("encode %#v: %v; want it taken", v, err)
		}
	}
	type listed struct {
		Items []string `json:",omitempty"`
	}
	plain := codec.NewJSON[any]().Register("Listed", listed{Items: []string{}})
	if _, _, _, err := plain.Encode(listed{Items: []string{}}); plain.Err() != nil || err != nil {
		t.Errorf("an empty list tagged omitempty: %v, %v; want it taken", plain.Err(), err)
	}
}
