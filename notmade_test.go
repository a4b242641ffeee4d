package annals_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/saga"
	"github.com/annals-dev/annals/snapshot"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
	"github.com/annals-dev/annals/upcast"
	"github.com/annals-dev/annals/view"
)

// The parts of a composite of two kinds of twoCounters, for its zero value.
type (
	keyedIncrement   = decider.Keyed[string, increment]
	keyedIncremented = decider.Keyed[string, incremented]
	twoCounters      = decider.Either[keyedIncrement, keyedIncrement]
	twoCounted       = decider.Either[keyedIncremented, keyedIncremented]
	twoCountersState = decider.Pair[map[string]int, map[string]int]
)

// A value that no constructor made (a zero value from var or new, or a
// nil pointer) fails every call that does I/O with an error that matches
// store.ErrInvalid and names the constructor to call, and a constructor
// given nil panics (or, if it returns an error, fails) naming what is
// nil: never a nil-pointer panic deep inside the library.
func TestValuesNoConstructorMadeSayWhichToCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	live := annals.New(memory.New())
	sys := must(annals.NewSystem(live, annals.Async))
	noop := func(context.Context, increment, annals.Cause) error { return nil }
	record := func(context.Context, store.StateTx, store.Record) error { return nil }
	react := saga.Saga[incremented, increment]{React: func(incremented) []increment { return nil }}
	process := saga.Process[int, incremented, increment]{Evolve: func(n int, _ incremented) int { return n }, React: func(int, incremented) []increment { return nil }}
	drain := func(seq func(func(store.Record, error) bool)) error {
		for _, err := range seq {
			return err
		}
		return nil
	}
	const (
		makeStore  = "annals.Open"
		makeRunner = "annals.NewRunner"
		makeSystem = "annals.NewSystem"
		makeSaga   = "annals.NewSaga"
		makeProj   = "annals.NewProjection"
		makeView   = "annals.NewViewProjection"
		makeRelay  = "annals.NewRelay"
	)
	cases := map[string]struct {
		call func() error
		want string // what the error or the panic must say
	}{}
	add := func(name, want string, call func() error) {
		cases[name] = struct {
			call func() error
			want string
		}{call, want}
	}

	for kind, s := range map[string]*annals.Store{"zero": new(annals.Store), "nil": nil} {
		add(kind+" Store: Append", makeStore, func() error { _, err := s.Append(ctx, "a", store.NoStream, []store.Event{{Type: "A"}}); return err })
		add(kind+" Store: AppendIf", makeStore, func() error {
			_, err := s.AppendIf(ctx, "a", store.NoStream, []store.Event{{Type: "A"}}, store.AppendCondition{})
			return err
		})
		add(kind+" Store: ReadStream", makeStore, func() error { return drain(s.ReadStream(ctx, "a", 1)) })
		add(kind+" Store: ReadQuery", makeStore, func() error { return drain(s.ReadQuery(ctx, store.Query{}, 0)) })
		add(kind+" Store: ReadLog", makeStore, func() error { _, err := s.ReadLog(ctx, store.LogQuery{Limit: 1}); return err })
		add(kind+" Store: Head", makeStore, func() error { _, err := s.Head(ctx); return err })
		add(kind+" Store: Wait", makeStore, func() error { return s.Wait(ctx, 0) })
		add(kind+" Store: Checkpoint", makeStore, func() error { _, err := s.Checkpoint(ctx, "c"); return err })
		add(kind+" Store: SetCheckpoint", makeStore, func() error { return s.SetCheckpoint(ctx, "c", 1) })
		add(kind+" Store: Commit", makeStore, func() error { return s.Commit(ctx, "c", 0, 1, func(store.StateTx) error { return nil }) })
		add(kind+" Store: LoadStates", makeStore, func() error { _, err := s.LoadStates(ctx, "v", []string{"k"}); return err })
		add(kind+" Store: SaveSnapshot", makeStore, func() error { return s.SaveSnapshot(ctx, snapshot.Snapshot{StreamID: "a", Version: 1, Type: "A"}) })
		add(kind+" Store: SubjectKey", makeStore, func() error { _, err := s.SubjectKey(ctx, "x"); return err })
		add(kind+" Store: Lock", makeStore, func() error { _, err := s.Lock(ctx, "x"); return err })
		add(kind+" Store: Close", makeStore, func() error { return s.Close() })
		add(kind+" Store: SQL", makeStore, func() error { _, err := annals.SQL[store.StateTx](s); return err })
		add(kind+" Store: Observe", makeStore, func() error { s.Observe(nil); return nil })
		add(kind+" Store: NewRunner", "nil store", func() error { annals.NewRunner(s, counter, counterCodec()); return nil })
		add(kind+" Store: NewSystem", "nil store", func() error { _, err := annals.NewSystem(s, annals.Sync); return err })
		add(kind+" Store: NewRecordProjection", "nil store", func() error { _, err := annals.NewRecordProjection(s, "p", record); return err })
	}
	for kind, r := range map[string]*annals.Runner[increment, incremented, int]{"zero": new(annals.Runner[increment, incremented, int]), "nil": nil} {
		add(kind+" Runner: Handle", makeRunner, func() error { _, err := r.Handle(ctx, "a", increment{}); return err })
		add(kind+" Runner: Load", makeRunner, func() error { _, _, err := r.Load(ctx, "a"); return err })
		add(kind+" Runner: LoadAt", makeRunner, func() error { _, _, err := r.LoadAt(ctx, "a", 1); return err })
		add(kind+" Runner: LoadAsOf", makeRunner, func() error { _, _, err := r.LoadAsOf(ctx, "a", time.Now()); return err })
	}
	for kind, r := range map[string]*annals.DCBRunner[increment, incremented, int]{"zero": new(annals.DCBRunner[increment, incremented, int]), "nil": nil} {
		add(kind+" DCBRunner: Handle", "annals.NewDCBRunner", func() error { _, err := r.Handle(ctx, increment{}); return err })
		add(kind+" DCBRunner: Load", "annals.NewDCBRunner", func() error { _, _, err := r.Load(ctx, increment{}); return err })
	}
	for kind, in := range map[string]*annals.Instances[string, increment, incremented, int]{"zero": new(annals.Instances[string, increment, incremented, int]), "nil": nil} {
		add(kind+" Instances: Handle", "annals.NewInstances", func() error { _, err := in.Handle(ctx, keyedIncrement{Key: "k"}); return err })
		add(kind+" Instances: Load", "annals.NewInstances", func() error { _, _, err := in.Load(ctx, "k"); return err })
		add(kind+" Instances: a part of NewComposite", "annals.NewInstances", func() error {
			annals.NewComposite[twoCounters, twoCounted, twoCountersState](decider.Combine(decider.Many[string](counter), decider.Many[string](counter)), in, in)
			return nil
		})
	}
	for kind, c := range map[string]*annals.Composite[twoCounters, twoCounted, twoCountersState]{"zero": new(annals.Composite[twoCounters, twoCounted, twoCountersState]), "nil": nil} {
		add(kind+" Composite: Handle", "annals.NewComposite", func() error { _, err := c.Handle(ctx, twoCounters{}); return err })
		add(kind+" Composite: Load", "annals.NewComposite", func() error { _, err := c.Load(ctx, twoCountersState{}); return err })
	}
	for kind, sys := range map[string]*annals.System{"zero": new(annals.System), "nil": nil} {
		add(kind+" System: Add", makeSystem, func() error { return sys.Add() })
		add(kind+" System: Run", makeSystem, func() error { return sys.Run(ctx) })
		add(kind+" System: Settle", makeSystem, func() error { return sys.Settle(ctx) })
		add(kind+" System: Status", makeSystem, func() error { _, err := sys.Status(ctx); return err })
		add(kind+" System: WaitQuiet", makeSystem, func() error { return sys.WaitQuiet(ctx) })
		add(kind+" System: Retry", makeSystem, func() error { _, err := sys.Retry(ctx, "c"); return err })
		add(kind+" System: OnError", makeSystem, func() error { sys.OnError(nil); return nil })
	}
	type consumer interface {
		annals.Consumer
		CatchUp(context.Context) (int, error)
	}
	for name, c := range map[string]struct {
		consumer
		want string
	}{
		"zero SagaRunner":     {new(annals.SagaRunner[struct{}, incremented, increment]), makeSaga},
		"nil SagaRunner":      {(*annals.SagaRunner[struct{}, incremented, increment])(nil), makeSaga},
		"zero Projection":     {new(annals.Projection[store.StateTx]), makeProj},
		"nil Projection":      {(*annals.Projection[store.StateTx])(nil), makeProj},
		"zero ViewProjection": {new(annals.ViewProjection[int, incremented]), makeView},
		"nil ViewProjection":  {(*annals.ViewProjection[int, incremented])(nil), makeView},
		"zero Relay":          {new(annals.Relay), makeRelay},
		"nil Relay":           {(*annals.Relay)(nil), makeRelay},
	} {
		add(name+": Position", c.want, func() error { _, err := c.Position(ctx); return err })
		add(name+": Step", c.want, func() error { _, err := c.Step(ctx); return err })
		add(name+": CatchUp", c.want, func() error { _, err := c.CatchUp(ctx); return err })
		add(name+": Run", c.want, func() error { return c.Run(ctx) })
		add(name+": System.Add", c.want, func() error { return sys.Add(c.consumer) })
	}
	add("nil SagaRunner: State", makeSaga, func() error {
		_, err := (*annals.SagaRunner[int, incremented, increment])(nil).State(ctx, "k")
		return err
	})
	add("zero ViewProjection: Get", makeView, func() error { _, err := new(annals.ViewProjection[int, incremented]).Get(ctx, "k"); return err })
	add("nil ViewProjection: Rebuild", makeView, func() error { return (*annals.ViewProjection[int, incremented])(nil).Rebuild(ctx, nil) })
	add("zero Projection: Rebuild", makeProj, func() error {
		return new(annals.Projection[store.StateTx]).Rebuild(ctx, func(context.Context, store.StateTx) error { return nil }, nil)
	})

	at := codec.Placement{StreamID: "a", Version: 1}
	rec := store.Record{StreamID: "a", Version: 1, Type: "Incremented", SchemaVersion: 1, Data: []byte(`{}`)}
	for kind, p := range map[string]*codec.Pipeline[incremented]{"zero": new(codec.Pipeline[incremented]), "nil": nil} {
		add(kind+" Pipeline: ToEvent", "codec.NewMapper", func() error { _, err := p.ToEvent(ctx, at, incremented{}, store.Metadata{}); return err })
		add(kind+" Pipeline: FromRecord", "codec.NewMapper", func() error { _, err := p.FromRecord(ctx, rec); return err })
		add(kind+" Pipeline: in a Runner", "codec.NewMapper", func() error {
			_, err := annals.NewRunner(live, counter, p).Handle(ctx, "pipeline-"+kind, increment{})
			return err
		})
	}
	for kind, j := range map[string]*codec.JSON[incremented]{"zero": new(codec.JSON[incremented]), "nil": nil} {
		add(kind+" JSON: Encode", "codec.NewJSON", func() error { _, _, _, err := j.Encode(incremented{}); return err })
		add(kind+" JSON: FromRecord", "codec.NewJSON", func() error { _, err := j.FromRecord(ctx, rec); return err })
		add(kind+" JSON: Register", "codec.NewJSON", func() error { j.Register("Incremented", incremented{}); return nil })
	}
	for kind, k := range map[string]*codec.KeyedMapper[string, incremented]{"zero": new(codec.KeyedMapper[string, incremented]), "nil": nil} {
		add(kind+" KeyedMapper: ToEvent", "codec.NewKeyed", func() error {
			_, err := k.ToEvent(ctx, at, keyedIncremented{Key: "a"}, store.Metadata{})
			return err
		})
		add(kind+" KeyedMapper: FromRecord", "codec.NewKeyed", func() error { _, err := k.FromRecord(ctx, rec); return err })
	}
	for kind, s := range map[string]*codec.Sum[twoCounted]{"zero": new(codec.Sum[twoCounted]), "nil": nil} {
		add(kind+" Sum: ToEvent", "codec.NewSum", func() error { _, err := s.ToEvent(ctx, at, twoCounted{}, store.Metadata{}); return err })
		add(kind+" Sum: FromRecord", "codec.NewSum", func() error { _, err := s.FromRecord(ctx, rec); return err })
	}

	add("NewRunner, nil mapper", "nil mapper", func() error { annals.NewRunner[increment, incremented, int](live, counter, nil); return nil })
	add("NewRunner, no Evolve", "nil decider's Evolve", func() error {
		annals.NewRunner(live, decider.Decider[increment, incremented, int]{Decide: counter.Decide}, counterCodec())
		return nil
	})
	add("NewRunner, nil option", "option 1 is nil", func() error {
		annals.NewRunner(live, counter, counterCodec(), annals.WithRetries(1), nil)
		return nil
	})
	add("WithTags, nil function", "nil tags function", func() error { annals.WithTags[incremented](nil); return nil })
	add("WithSnapshots, nil state mapper", "nil state mapper", func() error {
		annals.WithSnapshots[int](live, snapshot.Every(10), nil)
		return nil
	})
	add("NewSaga, nil dispatcher", "nil dispatcher", func() error {
		annals.NewSaga[incremented, increment](live, "s", react, counterCodec(), nil)
		return nil
	})
	add("NewSaga, nil option", "option 0 is nil", func() error {
		annals.NewSaga(live, "s", react, counterCodec(), noop, nil)
		return nil
	})
	add("NewProcess, nil key", "nil key function", func() error {
		annals.NewProcess(live, "p", process, counterCodec(), nil, noop)
		return nil
	})
	add("NewViewProjection, nil option", "option 0 is nil", func() error {
		annals.NewViewProjection(live, "v", view.Of(counter), counterCodec(), byStream, nil)
		return nil
	})
	add("NewRecordProjection, nil option", "option 0 is nil", func() error {
		_, err := annals.NewRecordProjection(live, "p", record, nil)
		return err
	})
	add("NewComposite, nil decider", "nil decider", func() error {
		annals.NewComposite[twoCounters, twoCounted, twoCountersState](nil)
		return nil
	})
	add("NewComposite, nil *Instances part", "nil part 1", func() error {
		books := annals.NewInstances(live, counter, codec.NewKeyed(codec.StreamPrefix[string]("book-"), counterCodec()))
		annals.NewComposite[twoCounters, twoCounted, twoCountersState](decider.Combine(decider.Many[string](counter), decider.Many[string](counter)),
			books, (*annals.Instances[string, increment, incremented, int])(nil))
		return nil
	})
	add("codec.NewMapper, nil option", "option 0 is nil", func() error { codec.NewMapper[incremented](counterCodec(), nil); return nil })
	add("codec.KeyringFromEnv, nil getenv", "nil getenv", func() error { _, err := codec.KeyringFromEnv(nil); return err })
	add("codec.ForgetSubject, nil key store", "nil key store", func() error { return codec.ForgetSubject(ctx, nil, "x") })
	add("upcast.JSON, nil function", "nil function", func() error { upcast.JSON(nil); return nil })
	add("nil upcast.Registry: Add", "upcast.New()", func() error {
		(*upcast.Registry)(nil).Add("A", 1, upcast.RenameField("a", "b"))
		return nil
	})

	for name, c := range cases {
		err, panicked := callRecovering(c.call)
		switch {
		case panicked != nil:
			if re, ok := panicked.(runtime.Error); ok {
				t.Errorf("%s: a runtime panic (%v), want a message saying %q", name, re, c.want)
			} else if msg := fmt.Sprint(panicked); !strings.Contains(msg, c.want) {
				t.Errorf("%s: panicked with %q, want a message saying %q", name, msg, c.want)
			}
		case !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: %v, want an error matching store.ErrInvalid saying %q", name, err, c.want)
		}
	}
}

// callRecovering calls f and returns its error, or what it panicked with.
func callRecovering(f func() error) (err error, panicked any) {
	defer func() { panicked = recover() }()
	return f(), nil
}
