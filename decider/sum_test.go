package decider_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/annals-dev/annals/decider"
)

// Deciders that echo their command as their event, to build sums of any
// part types through the constructors of a combination.
func echoing[T any]() decider.Decider[T, T, []T] {
	return decider.Decider[T, T, []T]{
		Decide: func(c T, _ []T) ([]T, error) { return []T{c}, nil },
		Evolve: func(s []T, e T) []T { return append(s[:len(s):len(s)], e) },
	}
}

type note struct {
	Text string
	Tags []string
}

// A shape is an interface part: a codec stores its dynamic type.
type (
	shape  interface{ area() int }
	square struct{ Side int }
)

func (s square) area() int { return s.Side * s.Side }

var (
	trio = decider.Combine3(echoing[int](), echoing[note](), echoing[shape]())
	six  = decider.Combine6(echoing[int](), echoing[int](), echoing[int](), echoing[int](), echoing[int](), echoing[int]())

	notes = rapid.Custom(func(t *rapid.T) note {
		return note{Text: rapid.StringN(0, 3, 3).Draw(t, "text"), Tags: rapid.SliceOfN(rapid.StringN(0, 2, 2), -1, 2).Draw(t, "tags")}
	})
	shapes = rapid.Custom(func(t *rapid.T) shape {
		if rapid.Bool().Draw(t, "nil") {
			return nil
		}
		return square{Side: rapid.IntRange(0, 9).Draw(t, "side")}
	})
	trios = rapid.Custom(func(t *rapid.T) decider.Sum3[int, note, shape] {
		switch rapid.IntRange(0, 2).Draw(t, "case") {
		case 0:
			return trio.First(rapid.Int().Draw(t, "int"))
		case 1:
			return trio.Second(notes.Draw(t, "note"))
		}
		return trio.Third(shapes.Draw(t, "shape"))
	})
	pairs = eithers(rapid.Int(), notes)
)

// sumPointer is a pointer to a sum type T.
type sumPointer[T any] interface {
	*T
	decider.SumSetter
}

// A sum taken apart by Case and put together again by SetCase is the
// same value, and the value of its case has the case's type.
func checkRoundTrip[T any, P sumPointer[T]](v T) string {
	i, value := P(&v).Case()
	types := P(&v).CaseTypes()
	if i < 0 || i >= len(types) {
		return fmt.Sprintf("%#v: case %d of %d", v, i, len(types))
	}
	if value != nil && !reflect.TypeOf(value).AssignableTo(types[i]) {
		return fmt.Sprintf("%#v: case %d holds a %T, its type is %v", v, i, value, types[i])
	}
	var back T
	if err := P(&back).SetCase(i, value); err != nil {
		return fmt.Sprintf("%#v: SetCase(%d, %#v): %v", v, i, value, err)
	}
	if !reflect.DeepEqual(back, v) {
		return fmt.Sprintf("%#v taken apart and put together is %#v", v, back)
	}
	return ""
}

func TestSumsRoundTripThroughTheirCases(t *testing.T) {
	t.Run("Either", func(t *testing.T) { lawHolds(t, pairs, checkRoundTrip[decider.Either[int, note]]) })
	t.Run("Sum3", func(t *testing.T) { lawHolds(t, trios, checkRoundTrip[decider.Sum3[int, note, shape]]) })
	t.Run("Sum6", func(t *testing.T) {
		lawHolds(t, sixes, checkRoundTrip[decider.Sum6[int, int, int, int, int, int]])
	})
}

// shifted is a sum whose SetCase puts a value one case further on.
type shifted struct{ decider.Sum3[int, int, int] }

func (s *shifted) SetCase(i int, v any) error { return s.Sum3.SetCase((i+1)%3, v) }

func TestRoundTripCatchesASumThatSetsTheWrongCase(t *testing.T) {
	d := decider.Combine3(echoing[int](), echoing[int](), echoing[int]())
	inputs := rapid.Custom(func(t *rapid.T) shifted {
		n := rapid.Int().Draw(t, "n")
		return shifted{rapid.SampledFrom([]decider.Sum3[int, int, int]{d.First(n), d.Second(n), d.Third(n)}).Draw(t, "sum")}
	})
	lawCatches(t, inputs, checkRoundTrip[shifted])
}

func TestCaseTypesListEachPart(t *testing.T) {
	want := []reflect.Type{reflect.TypeFor[int](), reflect.TypeFor[note](), reflect.TypeFor[shape]()}
	if got := (decider.Sum3[int, note, shape]{}).CaseTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Sum3 case types %v, want %v", got, want)
	}
	if got := (decider.Either[int, note]{}).CaseTypes(); !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("Either case types %v, want %v", got, want[:2])
	}
	if got := (decider.Sum5[int, int, note, int, shape]{}).CaseTypes(); len(got) != 5 || got[2] != want[1] || got[4] != want[2] {
		t.Errorf("Sum5 case types %v", got)
	}
}

func TestSetCaseRefusesWhatDoesNotFit(t *testing.T) {
	for name, c := range map[string]struct {
		index int
		value any
	}{
		"negative index":            {-1, 1},
		"index past the last case":  {3, 1},
		"value of another type":     {0, "one"},
		"nil for a struct case":     {1, nil},
		"a struct for an interface": {2, note{}},
	} {
		s := trio.Second(note{Text: "kept"})
		err := s.SetCase(c.index, c.value)
		if !errors.Is(err, decider.ErrCase) {
			t.Errorf("%s: SetCase(%d, %#v) = %v, want an error that is ErrCase", name, c.index, c.value, err)
		}
		if n, ok := s.Second(); !ok || n.Text != "kept" {
			t.Errorf("%s: a refused SetCase changed the sum to %v", name, s)
		}
	}
	var s decider.Sum3[int, note, shape]
	if err := s.SetCase(2, nil); err != nil {
		t.Errorf("nil for an interface case: %v", err)
	}
	if err := s.SetCase(2, square{Side: 2}); err != nil {
		t.Errorf("a square for the shape case: %v", err)
	}
	var e decider.Either[int, []string]
	if err := e.SetCase(1, nil); err != nil || !e.IsRight() {
		t.Errorf("nil for a slice case: %v, %v", err, e)
	}
}

// The routers of a combination build the case they name, and only the
// accessor of that case finds the value.
func checkRouters[S interface {
	decider.Sum
	fmt.Stringer
}](build []func(int) S, read []func(S) (int, bool), n int) string {
	for i, f := range build {
		s := f(n)
		if j, v := s.Case(); j != i || v != n {
			return fmt.Sprintf("router %d built case %d holding %v", i, j, v)
		}
		for j, get := range read {
			if v, ok := get(s); ok != (i == j) || (ok && v != n) {
				return fmt.Sprintf("router %d: accessor %d says (%v, %t)", i, j, v, ok)
			}
		}
		if want := fmt.Sprintf("%s(%d)", caseNames[i], n); s.String() != want {
			return fmt.Sprintf("router %d: %q, want %q", i, s.String(), want)
		}
	}
	return ""
}

var caseNames = []string{"First", "Second", "Third", "Fourth", "Fifth", "Sixth"}

type sum6 = decider.Sum6[int, int, int, int, int, int]

var sixes = rapid.Custom(func(t *rapid.T) sum6 {
	n := rapid.Int().Draw(t, "n")
	return rapid.SampledFrom([]func(int) sum6{six.First, six.Second, six.Third, six.Fourth, six.Fifth, six.Sixth}).Draw(t, "router")(n)
})

func TestRoutersBuildTheCaseTheyName(t *testing.T) {
	ints := rapid.Int()
	d3 := decider.Combine3(echoing[int](), echoing[int](), echoing[int]())
	type s3 = decider.Sum3[int, int, int]
	t.Run("Combined3 commands", func(t *testing.T) {
		lawHolds(t, ints, func(n int) string {
			return checkRouters([]func(int) s3{d3.First, d3.Second, d3.Third}, []func(s3) (int, bool){s3.First, s3.Second, s3.Third}, n)
		})
	})
	t.Run("Combined3 events", func(t *testing.T) {
		lawHolds(t, ints, func(n int) string {
			return checkRouters([]func(int) s3{d3.FirstEvent, d3.SecondEvent, d3.ThirdEvent}, []func(s3) (int, bool){s3.First, s3.Second, s3.Third}, n)
		})
	})
	d4 := decider.Combine4(echoing[int](), echoing[int](), echoing[int](), echoing[int]())
	type s4 = decider.Sum4[int, int, int, int]
	t.Run("Combined4", func(t *testing.T) {
		lawHolds(t, ints, func(n int) string {
			return checkRouters([]func(int) s4{d4.First, d4.Second, d4.Third, d4.Fourth}, []func(s4) (int, bool){s4.First, s4.Second, s4.Third, s4.Fourth}, n)
		})
		lawHolds(t, ints, func(n int) string {
			return checkRouters([]func(int) s4{d4.FirstEvent, d4.SecondEvent, d4.ThirdEvent, d4.FourthEvent}, []func(s4) (int, bool){s4.First, s4.Second, s4.Third, s4.Fourth}, n)
		})
	})
	d5 := decider.Combine5(echoing[int](), echoing[int](), echoing[int](), echoing[int](), echoing[int]())
	type s5 = decider.Sum5[int, int, int, int, int]
	t.Run("Combined5", func(t *testing.T) {
		lawHolds(t, ints, func(n int) string {
			return checkRouters([]func(int) s5{d5.First, d5.Second, d5.Third, d5.Fourth, d5.Fifth}, []func(s5) (int, bool){s5.First, s5.Second, s5.Third, s5.Fourth, s5.Fifth}, n)
		})
		lawHolds(t, ints, func(n int) string {
			return checkRouters([]func(int) s5{d5.FirstEvent, d5.SecondEvent, d5.ThirdEvent, d5.FourthEvent, d5.FifthEvent}, []func(s5) (int, bool){s5.First, s5.Second, s5.Third, s5.Fourth, s5.Fifth}, n)
		})
	})
	t.Run("Combined6", func(t *testing.T) {
		read := []func(sum6) (int, bool){sum6.First, sum6.Second, sum6.Third, sum6.Fourth, sum6.Fifth, sum6.Sixth}
		lawHolds(t, ints, func(n int) string {
			return checkRouters([]func(int) sum6{six.First, six.Second, six.Third, six.Fourth, six.Fifth, six.Sixth}, read, n)
		})
		lawHolds(t, ints, func(n int) string {
			return checkRouters([]func(int) sum6{six.FirstEvent, six.SecondEvent, six.ThirdEvent, six.FourthEvent, six.FifthEvent, six.SixthEvent}, read, n)
		})
	})
}

func TestRoutersLawCatchesSwappedRouters(t *testing.T) {
	d := decider.Combine3(echoing[int](), echoing[int](), echoing[int]())
	type s3 = decider.Sum3[int, int, int]
	lawCatches(t, rapid.Int(), func(n int) string {
		return checkRouters([]func(int) s3{d.First, d.Third, d.Second}, []func(s3) (int, bool){s3.First, s3.Second, s3.Third}, n)
	})
}

func TestValuesPrintShort(t *testing.T) {
	type Deposited struct{ Amount int }
	bank := decider.Combine3(echoing[Deposited](), echoing[string](), echoing[*Deposited]())
	for _, c := range []struct {
		value      any
		str, gostr string
	}{
		{decider.Left[Deposited, int](Deposited{Amount: 3}), "Left(Deposited{Amount:3})", "decider.Either{Left:decider_test.Deposited{Amount:3}}"},
		{decider.Right[Deposited]("x"), `Right("x")`, `decider.Either{Right:"x"}`},
		{decider.Right[int, []int](nil), "Right([])", "decider.Either{Right:[]int(nil)}"},
		{decider.Right[int]([]int{}), "Right([])", "decider.Either{Right:[]int{}}"},
		{decider.Left[decider.Either[int, string], int](decider.Right[int]("in")), `Left(Right("in"))`, `decider.Either{Left:decider.Either{Right:"in"}}`},
		{bank.Second("deposit"), `Second("deposit")`, `decider.Sum3{Second:"deposit"}`},
		{bank.Third(&Deposited{Amount: 1}), "Third(&Deposited{Amount:1})", "decider.Sum3{Third:&decider_test.Deposited{Amount:1}}"},
		{bank.Third(nil), "Third(nil)", "decider.Sum3{Third:(*decider_test.Deposited)(nil)}"},
		{decider.Pair[bool, int]{First: true, Second: 2}, "{First:true Second:2}", "decider.Pair{First:true, Second:2}"},
		{decider.Tuple3[int, string, []int]{First: 1, Second: "a"}, `{First:1 Second:"a" Third:[]}`, `decider.Tuple3{First:1, Second:"a", Third:[]int(nil)}`},
		{decider.Keyed[string, Deposited]{Key: "acc", Value: Deposited{Amount: 5}}, `{Key:"acc" Value:Deposited{Amount:5}}`, `decider.Keyed{Key:"acc", Value:decider_test.Deposited{Amount:5}}`},
		{decider.Keyed[string, any]{Key: "k"}, `{Key:"k" Value:nil}`, `decider.Keyed{Key:"k", Value:nil}`},
	} {
		if got := fmt.Sprint(c.value); got != c.str {
			t.Errorf("%%v of %#v = %s, want %s", c.value, got, c.str)
		}
		if got := fmt.Sprintf("%#v", c.value); got != c.gostr {
			t.Errorf("%%#v = %s, want %s", got, c.gostr)
		}
	}
	// In a slice or a map, as a failure message shows them.
	history := []decider.Sum3[Deposited, string, *Deposited]{bank.FirstEvent(Deposited{Amount: 3}), bank.SecondEvent("x")}
	if got, want := fmt.Sprint(history), `[First(Deposited{Amount:3}) Second("x")]`; got != want {
		t.Errorf("history prints %s, want %s", got, want)
	}
}

// Each constructor of a sum's case, Sum3First to Sum6Sixth, builds the
// sum that SetCase builds from that case's index and the same value.
func TestSumConstructorsBuildTheirCase(t *testing.T) {
	t.Run("Sum3", func(t *testing.T) {
		checkConstructors(t, decider.Sum3First[int, int, int], decider.Sum3Second[int, int, int], decider.Sum3Third[int, int, int])
	})
	t.Run("Sum4", func(t *testing.T) {
		checkConstructors(t, decider.Sum4First[int, int, int, int], decider.Sum4Second[int, int, int, int], decider.Sum4Third[int, int, int, int],
			decider.Sum4Fourth[int, int, int, int])
	})
	t.Run("Sum5", func(t *testing.T) {
		checkConstructors(t, decider.Sum5First[int, int, int, int, int], decider.Sum5Second[int, int, int, int, int], decider.Sum5Third[int, int, int, int, int],
			decider.Sum5Fourth[int, int, int, int, int], decider.Sum5Fifth[int, int, int, int, int])
	})
	t.Run("Sum6", func(t *testing.T) {
		checkConstructors(t, decider.Sum6First[int, int, int, int, int, int], decider.Sum6Second[int, int, int, int, int, int], decider.Sum6Third[int, int, int, int, int, int],
			decider.Sum6Fourth[int, int, int, int, int, int], decider.Sum6Fifth[int, int, int, int, int, int], decider.Sum6Sixth[int, int, int, int, int, int])
	})
}

// checkConstructors checks that ctors, one per case of T in order, each
// build the case of their index.
func checkConstructors[T any, P sumPointer[T]](t *testing.T, ctors ...func(int) T) {
	var zero T
	if n := len(P(&zero).CaseTypes()); n != len(ctors) {
		t.Fatalf("%d constructors for %d cases", len(ctors), n)
	}
	rapid.Check(t, func(t *rapid.T) {
		i := rapid.IntRange(0, len(ctors)-1).Draw(t, "case")
		x := rapid.Int().Draw(t, "value")
		got := ctors[i](x)
		var want T
		if err := P(&want).SetCase(i, x); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("constructor %d of %d: %#v; SetCase(%d, %d) gives %#v", i, len(ctors), got, i, x, want)
		}
	})
}
