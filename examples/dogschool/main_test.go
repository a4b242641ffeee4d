package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/pgtest"
	"github.com/annals-dev/annals/store"
	"github.com/annals-dev/annals/store/memory"
)

func TestSchool(t *testing.T) {
	ctx := context.Background()
	s := annals.New(memory.New())
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

// On a durable store a second run finds the first run's dog in the log:
// the example runs unchanged on each store, chosen by URL.
func TestRunTwiceOnDurableStores(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string {
			return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "dogs.db"))
		},
		"postgres": func(t *testing.T) string {
			db := pgtest.New(t)
			return db.URL + "&schema=" + db.Schema
		},
	}
	for scheme, open := range stores {
		t.Run(scheme, func(t *testing.T) {
			url := open(t)
			var outs [2]string
			for i := range outs {
				var out bytes.Buffer
				if err := run(context.Background(), &out, url); err != nil {
					t.Fatalf("run %d: %v", i+1, err)
				}
				outs[i] = out.String()
			}
			for i, want := range []int{3, 6} {
				if !strings.Contains(outs[i], fmt.Sprintf("first %d notifications (store %s)", want, scheme)) {
					t.Errorf("run %d does not announce %d notifications:\n%s", i+1, want, outs[i])
				}
				if n := len(regexp.MustCompile(`(?m)^  #\d+ dog-`).FindAllString(outs[i], -1)); n != want {
					t.Errorf("run %d printed %d notifications, want %d:\n%s", i+1, n, want, outs[i])
				}
			}
			if !strings.Contains(outs[1], "earlier runs' dogs are in the log") {
				t.Errorf("the second run does not say the first run's dogs are there:\n%s", outs[1])
			}
			// The second run's log starts with the first run's dog.
			first := regexp.MustCompile(`registered dog (\S+)`).FindStringSubmatch(outs[0])
			if first == nil || !strings.Contains(outs[1], "#1 dog-"+first[1]) {
				t.Errorf("the second run's log does not start with the first run's dog %v:\n%s", first, outs[1])
			}
		})
	}
}

func TestRunRejectsUnknownStore(t *testing.T) {
	err := run(context.Background(), &bytes.Buffer{}, "nosuch://x")
	if !errors.Is(err, store.ErrUnknownScheme) || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("error = %v, want ErrUnknownScheme naming the memory scheme", err)
	}
}
