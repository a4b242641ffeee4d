package main

import (
	"bytes"
	"context"
	"encoding/json"
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
