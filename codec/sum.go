package codec

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/check"
)

// Sum is the [Mapper] of a sum type of package decider ([decider.Either],
// decider.Sum3 to Sum6), built from a mapper per case: the events of
// combined deciders, persisted by their parts. Build one with [NewSum].
//
// A sum event is stored exactly as its case's value is stored alone by
// the case's mapper: the record's type is the part's registered name and
// its payload the part's data (with the part's compression, encryption
// and personal fields). So a record written by one part's runner reads
// as the sum, and a record of the sum as the part; each part's upcaster
// upcasts its own records; and the sum's type names are its parts'.
//
// A record is decoded by the part that lists its type name (see
// [Mapper].Types), and a part of a [KeyedMapper] reads only records of
// its instances' streams. Two parts may list one name only when both are
// told apart by their streams like that; [NewSum] refuses any other pair.
//
// A Sum is safe for concurrent use.
type Sum[E any] struct {
	parts  []part
	byName map[string][]int // type name → the cases whose parts list it
	err    error
}

var (
	_ Mapper[decider.Either[int, string]] = (*Sum[decider.Either[int, string]])(nil)
	_ Placer[decider.Either[int, string]] = (*Sum[decider.Either[int, string]])(nil)
)

// Part is the mapper of one case of a [Sum], as [NewSum] takes it. Every
// mapper of this package is a Part: a [*JSON], a [*Pipeline], a
// [*KeyedMapper] and a [*Sum]. [PartOf] makes one of any other [Mapper].
type Part interface {
	sumPart() part
}

// PartOf returns m as a [Part], for a [Mapper] that is not of this
// package. It must list its type names (Types), since the sum finds the
// case of a record by them.
func PartOf[E any](m Mapper[E]) Part {
	if p, ok := m.(Part); ok {
		return p
	}
	return mapperPart[E]{m}
}

// NewSum returns the mapper of the sum type E built from one part per
// case, in the order of E's cases: for decider.Either[L, R], the mapper of
// L and then that of R. A part's value type must be its case's type:
// a [*JSON] of an interface case type, a [*KeyedMapper] for a
// [decider.Keyed] case, and a Sum for a case that is itself a sum.
//
//	events := codec.NewSum[decider.Either[BookEvent, MemberEvent]](books, members)
//
// A part of the wrong type, a wrong number of parts and an E that is not a
// sum make it panic: a programming error found at start-up. Parts that
// cannot be told apart are refused as [JSON.RegisterVersion] refuses a
// type: [Sum.Err] reports an error that matches [ErrUnencodable] and names
// the type, and every encode and decode returns it. That is the case of
// two parts that keep their instances in streams whose prefixes meet
// (one is, or begins, the other), whatever their type names; of a type
// name listed by two parts (the same event type registered in two cases,
// say) unless both read only their own instances' streams; of a part that
// lists no type names; of a part that lists a type name no store keeps
// (see [JSON.Register]), which matches [store.ErrInvalid] too; and of a
// part whose own registration was refused.
func NewSum[E any](parts ...Part) *Sum[E] {
	t := reflect.TypeFor[E]()
	sum, ok := any(new(E)).(decider.SumSetter)
	if !ok {
		panic(fmt.Sprintf("annals: codec.NewSum: %v is not a sum of package decider (Either, Sum3 to Sum6)", t))
	}
	cases := sum.CaseTypes()
	if len(parts) != len(cases) {
		panic(fmt.Sprintf("annals: codec.NewSum[%v]: %d parts for %d cases; give one mapper per case, in order", t, len(parts), len(cases)))
	}
	s := &Sum[E]{byName: map[string][]int{}}
	for i, p := range parts {
		if p == nil {
			panic(fmt.Sprintf("annals: codec.NewSum[%v]: part %d is nil", t, i))
		}
		pt := p.sumPart()
		if pt.valueType() != cases[i] {
			panic(fmt.Sprintf("annals: codec.NewSum[%v]: part %d maps %v, and case %d is a %v", t, i, pt.valueType(), i, cases[i]))
		}
		s.parts = append(s.parts, pt)
	}
	s.err = s.check(t)
	return s
}

// check refuses parts that cannot be read back apart.
func (s *Sum[E]) check(t reflect.Type) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("sum %v: %s: %w", t, fmt.Sprintf(format, args...), ErrUnencodable)
	}
	for i, p := range s.parts {
		if err := p.err(); err != nil {
			return fmt.Errorf("sum %v: case %d: %w", t, i, err)
		}
		names := p.types()
		if len(names) == 0 {
			return refuse("case %d (%v) lists no type names, and a sum finds the case of a record by its type name; give the part a mapper that lists them (Types)", i, p.valueType())
		}
		for _, name := range names {
			if err := check.TypeName(name); err != nil {
				return fmt.Errorf("sum %v: case %d (%v) lists a type name that no store keeps: %w: %w", t, i, p.valueType(), err, ErrUnencodable)
			}
		}
		for _, name := range lo.Uniq(names) {
			s.byName[name] = append(s.byName[name], i)
		}
	}
	if err := s.checkPrefixes(refuse); err != nil {
		return err
	}
	names := lo.Keys(s.byName)
	slices.Sort(names)
	for _, name := range names {
		cases := s.byName[name]
		if len(cases) < 2 {
			continue
		}
		// Prefixes that meet were refused above: cases that all keep
		// their instances in streams of their own are told apart by the
		// stream.
		for _, i := range cases {
			if _, ok := s.parts[i].addressed(name); !ok {
				return refuse("type %q is read by cases %v (%s), and its records would not say which; register the type in one case only, or store each case's instances in streams of their own (codec.NewKeyed)",
					name, cases, strings.Join(lo.Map(cases, func(i, _ int) string { return s.parts[i].valueType().String() }), ", "))
			}
		}
	}
	return nil
}

// checkPrefixes refuses two cases that keep their instances in streams
// whose prefixes meet: an instance of one could then share a stream with
// an instance of the other (keys "x-1" under "book-" and "1" under
// "book-x-"), whatever their type names, and each would load the other's
// events as its own.
func (s *Sum[E]) checkPrefixes(refuse func(format string, args ...any) error) error {
	type owned struct {
		prefix string
		owner  int
	}
	var seen []owned
	for i, p := range s.parts {
		var mine []string
		for _, name := range p.types() {
			if ps, ok := p.addressed(name); ok {
				mine = append(mine, ps...)
			}
		}
		mine = lo.Uniq(mine)
		for _, prefix := range mine {
			for _, o := range seen {
				if strings.HasPrefix(prefix, o.prefix) || strings.HasPrefix(o.prefix, prefix) {
					return refuse("case %d (%v) and case %d (%v) keep their instances in streams prefixed %q and %q, which may name one stream; give each kind of instance a prefix that does not begin another's", o.owner, s.parts[o.owner].valueType(), i, p.valueType(), o.prefix, prefix)
				}
			}
		}
		for _, prefix := range mine {
			seen = append(seen, owned{prefix, i})
		}
	}
	return nil
}

// Err returns the refusal of the parts, an error that matches
// [ErrUnencodable], or nil. While it is not nil, every call that encodes
// or decodes returns it.
func (s *Sum[E]) Err() error {
	if s == nil || s.parts == nil {
		return notMade("Sum", "make one with codec.NewSum")
	}
	return s.err
}

// ToEvent implements [Mapper]: the case's value, as its part stores it.
func (s *Sum[E]) ToEvent(ctx context.Context, at Placement, e E, meta store.Metadata) (store.Event, error) {
	if err := s.Err(); err != nil {
		return store.Event{}, err
	}
	i, v := any(e).(decider.Sum).Case()
	return s.parts[i].toEvent(ctx, at, v, meta)
}

// StreamOf implements [Placer]: the stream e's case's part places it in,
// if its part names one (a [*KeyedMapper], or a [Placer] of another
// package given with [PartOf]).
func (s *Sum[E]) StreamOf(e E) (string, bool) {
	if s == nil || s.parts == nil {
		return "", false
	}
	i, v := any(e).(decider.Sum).Case()
	return s.parts[i].streamOf(v)
}

// FromRecord implements [Mapper]: the record decoded by the part that
// reads its type (and, for keyed parts, its stream), as that part's case.
// A record that no part reads fails with an error that matches
// [ErrUnknownEventType].
func (s *Sum[E]) FromRecord(ctx context.Context, r store.Record) (E, error) {
	var e E
	if err := s.Err(); err != nil {
		return e, err
	}
	i, err := s.caseOf(r.StreamID, r.Type)
	if err != nil {
		return e, err
	}
	v, err := s.parts[i].fromRecord(ctx, r)
	if err != nil {
		return e, err
	}
	if err := any(&e).(decider.SumSetter).SetCase(i, v); err != nil {
		return e, fmt.Errorf("decode %q as case %d of %v: %w", r.Type, i, reflect.TypeFor[E](), err)
	}
	return e, nil
}

// caseOf returns the case whose part reads a record of type typ in
// stream streamID.
func (s *Sum[E]) caseOf(streamID, typ string) (int, error) {
	cases := lo.Filter(s.byName[typ], func(i, _ int) bool { return s.parts[i].accepts(streamID, typ) })
	switch len(cases) {
	case 1:
		return cases[0], nil
	case 0:
		return 0, fmt.Errorf("decode %q in stream %q: no case of %v reads it: %w", typ, streamID, reflect.TypeFor[E](), ErrUnknownEventType)
	}
	return 0, fmt.Errorf("decode %q in stream %q: cases %v of %v all read it; give each kind of instance streams of its own: %w", typ, streamID, cases, reflect.TypeFor[E](), ErrUnencodable)
}

// Types implements [Mapper]: the type names of every part, sorted.
func (s *Sum[E]) Types() []string {
	if s == nil {
		return nil
	}
	names := lo.Keys(s.byName)
	slices.Sort(names)
	return names
}

// Sources returns name and every name that the upcaster of a part
// reading name leads from to it, sorted: the names under which the
// records the sum reads as name may be stored (see [Pipeline.Sources]).
// [annals.DCBRunner] widens its queries by them, so that a part's rename
// keeps its old records in the decisions of a combined decider.
func (s *Sum[E]) Sources(name string) []string {
	if s == nil || s.parts == nil {
		return []string{name}
	}
	names := []string{name}
	for _, i := range s.byName[name] {
		names = append(names, sourcesOf(s.parts[i].mapper(), name)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// sourcesOf returns m's Sources of name, or name alone when m has none.
func sourcesOf(m any, name string) []string {
	if src, ok := m.(interface{ Sources(string) []string }); ok {
		return src.Sources(name)
	}
	return []string{name}
}

func (s *Sum[E]) sumPart() part { return sumPart[E]{mapperPart[E]{s}, s} }

// sumPart is a sum as a case of another sum.
type sumPart[E any] struct {
	mapperPart[E]
	s *Sum[E]
}

func (p sumPart[E]) accepts(streamID, typ string) bool {
	_, err := p.s.caseOf(streamID, typ)
	return err == nil
}

func (p sumPart[E]) addressed(name string) ([]string, bool) {
	var prefixes []string
	for _, i := range p.s.byName[name] {
		ps, ok := p.s.parts[i].addressed(name)
		if !ok {
			return nil, false
		}
		prefixes = append(prefixes, ps...)
	}
	return prefixes, true
}

// part is a case's mapper with its value type erased, so that a sum of
// any number of cases holds them in one slice.
type part interface {
	valueType() reflect.Type
	toEvent(ctx context.Context, at Placement, v any, meta store.Metadata) (store.Event, error)
	fromRecord(ctx context.Context, r store.Record) (any, error)
	// streamOf is the stream the part places v in, if it names one.
	streamOf(v any) (string, bool)
	types() []string
	// accepts reports whether a record of type typ, a type the part
	// lists, in stream streamID is one of the part's own.
	accepts(streamID, typ string) bool
	// addressed reports whether the part tells its records of type name
	// from others' by their stream, and the prefixes of those streams
	// when it knows them.
	addressed(name string) (prefixes []string, ok bool)
	err() error
	// mapper is the part's mapper, with its value type erased.
	mapper() any
}

// mapperPart is a plain mapper as a case of a sum.
type mapperPart[E any] struct{ m Mapper[E] }

func (p mapperPart[E]) sumPart() part { return p }

func (p mapperPart[E]) valueType() reflect.Type { return reflect.TypeFor[E]() }

func (p mapperPart[E]) toEvent(ctx context.Context, at Placement, v any, meta store.Metadata) (store.Event, error) {
	e, ok := v.(E)
	if !ok && v != nil {
		return store.Event{}, fmt.Errorf("encode a %T as a %v: %w", v, reflect.TypeFor[E](), decider.ErrCase)
	}
	return p.m.ToEvent(ctx, at, e, meta)
}

func (p mapperPart[E]) fromRecord(ctx context.Context, r store.Record) (any, error) {
	return p.m.FromRecord(ctx, r)
}

func (p mapperPart[E]) streamOf(v any) (string, bool) {
	placer, ok := p.m.(Placer[E])
	e, isE := v.(E)
	if !ok || !isE {
		return "", false
	}
	return placer.StreamOf(e)
}

func (p mapperPart[E]) types() []string { return p.m.Types() }

func (p mapperPart[E]) accepts(string, string) bool { return true }

func (p mapperPart[E]) addressed(string) ([]string, bool) { return nil, false }

func (p mapperPart[E]) err() error { return errOf(p.m) }

func (p mapperPart[E]) mapper() any { return p.m }

// errOf returns the registration error of a mapper that reports one.
func errOf(m any) error {
	if r, ok := m.(interface{ Err() error }); ok {
		return r.Err()
	}
	return nil
}

func (c *JSON[E]) sumPart() part     { return mapperPart[E]{c} }
func (m *Pipeline[T]) sumPart() part { return mapperPart[T]{m} }
