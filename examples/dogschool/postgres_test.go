package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/annals-dev/annals/internal/pgtest"
)

// The dog school runs unchanged on PostgreSQL, chosen by URL, and a second
// run finds the first run's dog in the log.
func TestRunTwiceOnPostgres(t *testing.T) {
	db := pgtest.New(t)
	url := db.URL + "&schema=" + db.Schema
	var outs [2]string
	for i := range outs {
		var out bytes.Buffer
		if err := run(context.Background(), &out, url); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		outs[i] = out.String()
	}
	for i, want := range []int{3, 6} {
		if !strings.Contains(outs[i], fmt.Sprintf("first %d notifications (store postgres)", want)) {
			t.Errorf("run %d does not announce %d notifications:\n%s", i+1, want, outs[i])
		}
		if n := len(regexp.MustCompile(`(?m)^  #\d+ dog-`).FindAllString(outs[i], -1)); n != want {
			t.Errorf("run %d printed %d notifications, want %d:\n%s", i+1, n, want, outs[i])
		}
	}
	first := regexp.MustCompile(`registered dog (\S+)`).FindStringSubmatch(outs[0])
	if first == nil || !strings.Contains(outs[1], "#1 dog-"+first[1]) {
		t.Errorf("the second run's log does not start with the first run's dog %v:\n%s", first, outs[1])
	}
}
