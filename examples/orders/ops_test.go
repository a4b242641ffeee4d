package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annals-dev/annals/ops"
)

// The shop's operator commands work on its durable store from another
// process than the one that ran the commands.
func TestOpsCommandsOnTheShop(t *testing.T) {
	ctx := context.Background()
	cfg := config{url: "sqlite://" + filepath.Join(t.TempDir(), "shop.db"), mode: "sync"}
	if err := run(ctx, &bytes.Buffer{}, cfg); err != nil {
		t.Fatal(err)
	}
	runOps := func(args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := runOps(ctx, config{url: cfg.url}, args, &out, &errs)
		return code, out.String(), errs.String()
	}

	code, out, errs := runOps("status", "-json")
	var status []ops.Status
	if err := json.Unmarshal([]byte(out), &status); code != ops.ExitOK || err != nil {
		t.Fatalf("ops status -json = %d, %v\n%s%s", code, err, out, errs)
	}
	if len(status) != 2 || status[0].Name != "order-summary" || status[1].Name != "fulfilment" || status[0].Lag != 0 || status[0].Head == 0 {
		t.Fatalf("ops status = %+v, want both consumers caught up", status)
	}

	code, out, errs = runOps("rebuild", "order-summary")
	if code != ops.ExitOK || !strings.HasPrefix(out, "rebuilt order-summary: ") || !strings.Contains(errs, "(100.0%)") {
		t.Fatalf("ops rebuild = %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runOps("rebuild", "fulfilment"); code != ops.ExitFailure || !strings.Contains(errs, "cannot be rebuilt") {
		t.Fatalf("ops rebuild fulfilment = %d, %s; want a saga refused", code, errs)
	}
	if code, out, errs := runOps("replay", "fulfilment"); code != ops.ExitOK || !strings.HasPrefix(out, "replayed fulfilment: 0 events") {
		t.Fatalf("ops replay = %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runOps("reset", "order-summary", "0"); code != ops.ExitFailure || !strings.Contains(errs, "-yes") {
		t.Fatalf("ops reset without -yes = %d, %s", code, errs)
	}
	if code, _, _ := runOps("status", "-h"); code != ops.ExitOK {
		t.Fatalf("ops status -h = %d, want 0", code)
	}
}

// The operator commands never create a store: a mistyped SQLite path, or
// a file that holds no store, fails status (and every other command)
// rather than report the checkpoints of a new, empty store as 0; so does
// a memory: store, which has nothing to work on from another process.
func TestOpsCommandsCreateNoStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "shp.db")
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, want string }{
		{"sqlite://" + missing, "does not exist"},
		{"sqlite://" + empty, "holds no annals store"},
		{"memory:", "memory: store lives inside its process"},
	} {
		for _, args := range [][]string{{"status"}, {"replay", "fulfilment"}} {
			var out, errs bytes.Buffer
			if code := runOps(ctx, config{url: c.url}, args, &out, &errs); code != ops.ExitFailure || !strings.Contains(errs.String(), c.want) || out.Len() > 0 {
				t.Errorf("ops %s on %s = %d\nstdout: %s\nstderr: %s\nwant exit 1 and %q", args, c.url, code, out.String(), errs.String(), c.want)
			}
		}
	}
	var out, errs bytes.Buffer
	var failure ops.Failure
	if code := runOps(ctx, config{url: "sqlite://" + missing}, []string{"-json", "status"}, &out, &errs); code != ops.ExitFailure || json.Unmarshal(out.Bytes(), &failure) != nil || !strings.Contains(failure.Error, "does not exist") {
		t.Errorf("ops -json status on a mistyped path = %d\n%s\nwant an ops.Failure saying so", code, out.String())
	}
	out.Reset()
	if code := runOps(ctx, config{url: "sqlite://" + missing}, []string{"status", "-h"}, &out, &errs); code != ops.ExitOK || !strings.Contains(out.String(), "usage:") {
		t.Errorf("ops status -h on a mistyped path = %d\n%s\nwant the help", code, out.String())
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ops on a mistyped path created %s: %v", missing, err)
	}
	if info, err := os.Stat(empty); err != nil || info.Size() != 0 {
		t.Errorf("ops on a file with no store wrote to it: %v, %v", info, err)
	}
}
