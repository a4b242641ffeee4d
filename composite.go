package annals

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/samber/lo"

	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
)

// Composite runs a combined decider whose parts are stored apart: each
// command goes to the runner of its part, which loads, decides and
// appends in its own streams. A composite of [decider.Many] parts, such as
// decider.Combine(decider.Many[string](book), decider.Many[string](member))
// or Combine3 of three, runs each part's instances one stream per
// instance with an [Instances].
//
// Routing follows the algebra's sums: a command of the composite is a
// sum ([decider.Either], decider.Sum3 to Sum6) whose case says the part,
// so a composite of any number of parts is routed the same way, and a
// part may itself be a Composite for a nested sum.
//
// A command's events are appended to one stream of one part, atomically
// as every append is; a decision that would touch several instances is
// several commands, coordinated by a process (see [decider.FanOut] on
// atomicity), or one decision of a [DCBRunner] whose query covers them,
// with the instances' events tagged for it (see [NewInstances]).
//
// A Composite is safe for concurrent use.
type Composite[C, E, S any] struct {
	parts   []part
	initial func() S
	events  *codec.Sum[E]
}

// Part is a part of a [Composite]: an [*Instances] for a [decider.Many]
// part, or a [*Composite] for a part that is itself combined.
type Part interface {
	part() part
	notMade() error
}

// part is a runner of a composite's part, with its types erased so that
// a composite of any number of parts holds them in one slice.
type part interface {
	// handle handles a command of the part's command type.
	handle(ctx context.Context, cmd any, opts []HandleOption) (partResult, error)
	// types returns the part's command, event and state types.
	types() (command, event, state reflect.Type)
	// events returns the mapper of the part's events, read from the log.
	events() codec.Part
	// load loads the instances that like, a state of the part, holds.
	load(ctx context.Context, like any) (any, error)
	store() *Store
}

// partResult is a part's [Result], with answered set when there is one.
type partResult struct {
	answered  bool
	events    []any
	state     any
	version   int64
	duplicate bool
}

// NewComposite returns the runner of the combined decider d whose part i,
// the decider of d's command case i, runs with parts[i]:
//
//	library := decider.Combine(decider.Many[string](book.Decider), decider.Many[string](member.Decider))
//	lending := annals.NewComposite(library, books, members)
//
// d may be a [decider.Decider] or the value [decider.Combine3] to Combine6
// returns, as it is. Its commands and events must be sums of package
// decider with one case per part, its state a [decider.Pair] or a tuple
// with one field per part, and part i must run the commands, events and
// state of case i and field i: an *Instances[K, C, E, S] is the part of a
// decider.Many[K] of a Decider[C, E, S]. A d of another shape, parts that
// do not fit it, parts on different stores, and parts whose events
// [codec.NewSum] cannot read apart (above all, instances in streams whose
// prefixes meet: "ord-" and "ord-inv-" both name "ord-inv-1") make
// NewComposite panic: a programming error found at start-up.
//
// The composite runs its parts' deciders, not d: build each part with the
// decider that d combines in its place. proptest.CompositeEqualsPure
// checks that the stored composite and d agree.
func NewComposite[C, E, S any](d decider.Stepper[C, E, S], parts ...Part) *Composite[C, E, S] {
	mustGive("annals.NewComposite", given{lo.IsNil(d), "decider", "the combined decider, such as decider.Combine(decider.Many[string](a), decider.Many[string](b))"})
	for i, p := range parts {
		mustGive("annals.NewComposite", given{lo.IsNil(p), fmt.Sprintf("part %d", i), "an *Instances from annals.NewInstances, or a *Composite from annals.NewComposite"})
		if err := p.notMade(); err != nil {
			panic(fmt.Sprintf("annals: annals.NewComposite: part %d: %v", i, err))
		}
	}
	c := &Composite[C, E, S]{parts: lo.Map(parts, func(p Part, _ int) part { return p.part() }), initial: d.InitialState}
	commands, events := caseTypes[C](), caseTypes[E]()
	state := reflect.TypeFor[S]()
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("annals: annals.NewComposite: a composite of %v: %s", reflect.TypeFor[C](), fmt.Sprintf(format, args...)))
	}
	switch {
	case commands == nil || events == nil:
		fail("its commands and events must be sums of package decider (Either, Sum3 to Sum6) with a case per part, and they are %v and %v", reflect.TypeFor[C](), reflect.TypeFor[E]())
	case len(commands) != len(parts):
		fail("%d parts for %d cases; give one part per case, in order", len(parts), len(commands))
	case state.Kind() != reflect.Struct || state.NumField() != len(parts):
		fail("its state must have a field per part, as a decider.Pair or a tuple has, and it is a %v", state)
	}
	for i, p := range c.parts {
		command, event, st := p.types()
		if command != commands[i] || event != events[i] || st != state.Field(i).Type {
			fail("part %d runs %v commands, %v events and a %v state, and case %d of the composite has %v commands, %v events and a %v state",
				i, command, event, st, i, commands[i], events[i], state.Field(i).Type)
		}
		if p.store() != c.parts[0].store() {
			fail("part %d runs on another store than part 0; build every part on the same store", i)
		}
	}
	c.events = codec.NewSum[E](lo.Map(c.parts, func(p part, _ int) codec.Part { return p.events() })...)
	if err := c.events.Err(); err != nil {
		// Parts whose records cannot be told apart, above all parts
		// whose streams may meet, would load each other's events as
		// their own and decide on them.
		fail("its parts' events cannot be read apart: %s", strings.TrimSuffix(err.Error(), ": "+codec.ErrUnencodable.Error()))
	}
	return c
}

// caseTypes returns the types of the cases of the sum T, or nil when T is
// not a sum.
func caseTypes[T any]() []reflect.Type {
	if s, ok := any(new(T)).(decider.SumSetter); ok {
		return s.CaseTypes()
	}
	return nil
}

// Handle sends cmd to the part its case names, which handles it as
// [Runner.Handle] does, with the same outcomes. The Result's Events are
// the part's events as events of the composite; its Version is the
// version of the stream the command went to; and its State is the
// composite's state as far as the command knows it: the state of the
// instance the command went to, in its place, with every other part and
// instance in the initial state.
func (c *Composite[C, E, S]) Handle(ctx context.Context, cmd C, opts ...HandleOption) (Result[E, S], error) {
	if err := c.notMade(); err != nil {
		return Result[E, S]{}, err
	}
	i, v := any(cmd).(decider.Sum).Case()
	pr, err := c.parts[i].handle(ctx, v, opts)
	if !pr.answered {
		return Result[E, S]{}, err
	}
	res := Result[E, S]{State: c.initial(), Version: pr.version, Duplicate: pr.duplicate}
	reflect.ValueOf(&res.State).Elem().Field(i).Set(reflect.ValueOf(pr.state))
	if len(pr.events) > 0 {
		res.Events = make([]E, len(pr.events))
	}
	for j, e := range pr.events {
		if serr := any(&res.Events[j]).(decider.SumSetter).SetCase(i, e); serr != nil {
			panic(fmt.Sprintf("annals: Composite.Handle: part %d returned an event that does not fit its case: %v", i, serr)) // NewComposite checked the types
		}
	}
	return res, err
}

// Load returns the current state of the instances that like holds: for
// each part, the state of every instance in like's place for the part,
// loaded from its stream (or its snapshot), never from a runner's cache
// ([WithCache]). Given the state a fold of the pure composite reached,
// it returns what the store holds of the same instances, which must be
// equal. Loading an instance as [Instances.Load] does is the
// usual way to read one.
func (c *Composite[C, E, S]) Load(ctx context.Context, like S) (S, error) {
	if err := c.notMade(); err != nil {
		var zero S
		return zero, err
	}
	out := c.initial()
	for i, p := range c.parts {
		st, err := p.load(ctx, reflect.ValueOf(like).Field(i).Interface())
		if err != nil {
			return out, err
		}
		reflect.ValueOf(&out).Elem().Field(i).Set(reflect.ValueOf(st))
	}
	return out, nil
}

// Events returns the mapper of the composite's events, built from its
// parts' mappers with [codec.NewSum]: a view or a process of the
// composite reads its events from the global log with it, each
// instance's with its key.
func (c *Composite[C, E, S]) Events() *codec.Sum[E] {
	if c == nil {
		return nil
	}
	return c.events
}

// notMade returns the error of a call on c when NewComposite did not
// make it.
func (c *Composite[C, E, S]) notMade() error {
	if c == nil || len(c.parts) == 0 {
		return errNotMade("Composite", makeComposite)
	}
	return nil
}

func (c *Composite[C, E, S]) part() part { return compositePart[C, E, S]{c} }

// compositePart is a composite as a part of another.
type compositePart[C, E, S any] struct{ c *Composite[C, E, S] }

func (p compositePart[C, E, S]) handle(ctx context.Context, cmd any, opts []HandleOption) (partResult, error) {
	res, err := p.c.Handle(ctx, cmd.(C), opts...)
	if !answered(err) {
		return partResult{}, err
	}
	return partResult{
		answered:  true,
		events:    lo.Map(res.Events, func(e E, _ int) any { return e }),
		state:     res.State,
		version:   res.Version,
		duplicate: res.Duplicate,
	}, err
}

func (p compositePart[C, E, S]) types() (command, event, state reflect.Type) {
	return reflect.TypeFor[C](), reflect.TypeFor[E](), reflect.TypeFor[S]()
}

func (p compositePart[C, E, S]) events() codec.Part { return p.c.events }

func (p compositePart[C, E, S]) load(ctx context.Context, like any) (any, error) {
	return p.c.Load(ctx, like.(S))
}

func (p compositePart[C, E, S]) store() *Store { return p.c.parts[0].store() }
