package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store"
)

// Commands.
type (
	// Command is a command to a dog.
	Command interface{ isCommand() }
	// RegisterDog registers a new dog by name.
	RegisterDog struct{ Name string }
	// AddTrick teaches a registered dog a trick.
	AddTrick struct{ Trick string }
)

func (RegisterDog) isCommand() {}
func (AddTrick) isCommand()    {}

// Events.
type (
	// Event is something that happened to a dog.
	Event interface{ isEvent() }
	// Registered says a dog was registered.
	Registered struct {
		Name string `json:"name"`
	}
	// TrickAdded says a dog learnt a trick.
	TrickAdded struct {
		Trick string `json:"trick"`
	}
)

func (Registered) isEvent() {}
func (TrickAdded) isEvent() {}

// Dog is the state of a dog.
type Dog struct {
	Name   string
	Tricks []string
}

// Business-rule rejections.
var (
	ErrAlreadyRegistered = errors.New("dog already registered")
	ErrNotRegistered     = errors.New("dog not registered")
	ErrEmpty             = errors.New("name and trick must not be empty")
)

// Decider is the dog aggregate.
var Decider = decider.Decider[Command, Event, Dog]{
	Decide: func(c Command, d Dog) ([]Event, error) {
		switch c := c.(type) {
		case RegisterDog:
			if d.Name != "" {
				return nil, ErrAlreadyRegistered
			}
			if c.Name == "" {
				return nil, ErrEmpty
			}
			return []Event{Registered{Name: c.Name}}, nil
		case AddTrick:
			if d.Name == "" {
				return nil, ErrNotRegistered
			}
			if c.Trick == "" {
				return nil, ErrEmpty
			}
			return []Event{TrickAdded{Trick: c.Trick}}, nil
		}
		return nil, fmt.Errorf("unknown command %T", c)
	},
	Evolve: func(d Dog, e Event) Dog {
		switch e := e.(type) {
		case Registered:
			d.Name = e.Name
		case TrickAdded:
			// Copy before appending: evolve must not touch a state the
			// caller may still hold.
			d.Tricks = append(slices.Clip(d.Tricks), e.Trick)
		}
		return d
	},
}

// Codec stores dog events as JSON under stable type names.
func Codec() *codec.JSON[Event] {
	return codec.NewJSON[Event]().
		Register("DogRegistered", Registered{}).
		Register("TrickAdded", TrickAdded{})
}

// School is the dog school application.
type School struct {
	dogs *annals.Runner[Command, Event, Dog]
}

// NewSchool returns a dog school on store s.
func NewSchool(s *annals.Store) *School {
	return &School{dogs: annals.NewRunner(s, Decider, Codec())}
}

// RegisterDog registers a dog and returns its ID.
func (s *School) RegisterDog(ctx context.Context, name string) (uuid.UUID, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, err
	}
	_, err = s.dogs.Handle(ctx, streamID(id), RegisterDog{Name: name})
	return id, err
}

// AddTrick teaches dog id a trick.
func (s *School) AddTrick(ctx context.Context, id uuid.UUID, trick string) error {
	_, err := s.dogs.Handle(ctx, streamID(id), AddTrick{Trick: trick})
	return err
}

// GetDog returns dog id, or an error matching store.ErrNotFound.
func (s *School) GetDog(ctx context.Context, id uuid.UUID) (Dog, error) {
	dog, version, err := s.dogs.Load(ctx, streamID(id))
	if err != nil {
		return Dog{}, err
	}
	if version == 0 {
		return Dog{}, fmt.Errorf("dog %s: %w", id, store.ErrNotFound)
	}
	return dog, nil
}

func streamID(id uuid.UUID) string { return "dog-" + id.String() }
