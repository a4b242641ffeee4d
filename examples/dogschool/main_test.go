package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

func TestSchool(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	school := NewSchool(s)

	id, err := school.RegisterDog(ctx, "Fido")
	if err != nil {
		t.Fatal(err)
	}
	for _, trick := range []string{"roll over", "fetch ball"} {
		if err := school.AddTrick(ctx, id, trick); err != nil {
			t.Fatal(err)
		}
	}
	dog, err := school.GetDog(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if dog.Name != "Fido" || !slices.Equal(dog.Tricks, []string{"roll over", "fetch ball"}) {
		t.Fatalf("dog = %+v", dog)
	}

	notes, err := s.ReadLog(ctx, store.LogQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, n := range notes {
		types = append(types, n.Type)
	}
	if want := []string{"DogRegistered", "TrickAdded", "TrickAdded"}; !slices.Equal(types, want) {
		t.Fatalf("notification types = %v, want %v", types, want)
	}

	if _, err := school.GetDog(ctx, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDog(unknown) error = %v, want ErrNotFound", err)
	}
	if err := school.AddTrick(ctx, uuid.New(), "sit"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("AddTrick(unknown) error = %v, want ErrNotRegistered", err)
	}
	if head, _ := s.Head(ctx); head != 3 {
		t.Fatalf("a rejected command stored events: head = %d, want 3", head)
	}
}

func TestRunPrintsDogAndThreeNotifications(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, "memory:"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, "dog: name=Fido tricks=roll over, fetch ball\n") {
		t.Errorf("output lacks the dog:\n%s", got)
	}
	if !strings.Contains(got, "first 3 notifications") {
		t.Errorf("output lacks the three notifications:\n%s", got)
	}
	if n := len(regexp.MustCompile(`(?m)^  #\d+ dog-`).FindAllString(got, -1)); n != 3 {
		t.Errorf("printed %d notifications, want 3:\n%s", n, got)
	}
}

func TestRunRejectsUnknownStore(t *testing.T) {
	err := run(context.Background(), &bytes.Buffer{}, "nosuch://x")
	if !errors.Is(err, store.ErrUnknownScheme) || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("error = %v, want ErrUnknownScheme naming the memory scheme", err)
	}
}
