package benchcompare

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exporterForTest builds vigie_exporter for one test.
func exporterForTest(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs vigie_exporter")
	}
	if err := checkProc(); err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), "vigie_exporter")
	if err := BuildVigie(context.Background(), filepath.Join("..", ".."), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunSDShards: two exporters serve the two shards of the target file;
// together they list every target once, and each answers every kind of
// request as it should (RunSD checks status, encoding and JSON). It
// asserts no timing.
func TestRunSDShards(t *testing.T) {
	o := SDOptions{Exporter: exporterForTest(t), Targets: 3000, Shards: 2, Requests: 5, WorkDir: t.TempDir()}
	rep, err := RunSD(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Exporters) != 2 {
		t.Fatalf("%d exporters reported, want 2", len(rep.Exporters))
	}
	for _, e := range rep.Exporters {
		if e.Targets == 0 || e.Targets == 3000 || len(e.Kinds) != len(SDKinds()) {
			t.Errorf("shard %s: %d targets, %d kinds; want a share of 3000 and every kind", e.Shard, e.Targets, len(e.Kinds))
		}
		for _, k := range e.Kinds {
			if k.Requests != 5 || (k.Kind != SDNotModified) != (k.WireBytes > 0) {
				t.Errorf("shard %s %s: %+v", e.Shard, k.Kind, k)
			}
		}
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "1/2") {
		t.Errorf("text report (%v):\n%s", err, text.String())
	}
}

// TestRunShards: the scheduled load goes through one exporter, then
// through the two that publish the two shards; every probe succeeds and
// each exporter's CPU is measured. It asserts no timing.
func TestRunShards(t *testing.T) {
	o := ShardsOptions{
		Exporter: exporterForTest(t), Targets: 200, HTTPShare: 0.5, Interval: time.Second, Rounds: 1,
		Duration: 2 * time.Second, Warmup: time.Second, Workers: 16, WorkDir: t.TempDir(),
	}
	rep, err := RunShards(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !rep.Valid || len(rep.One) != 1 || len(rep.Sharded) != 1 || len(rep.Sharded[0].Exporters) != 2 {
		t.Fatalf("report:\n%s", text.String())
	}
	sum := 0
	for _, e := range rep.Sharded[0].Exporters {
		sum += e.Targets
		if e.Probes == 0 {
			t.Errorf("shard %s: no probe went through it:\n%s", e.Shard, text.String())
		}
	}
	if sum != 200 || rep.One[0].Exporters[0].Targets != 200 {
		t.Errorf("targets split %d, one exporter %d; want 200:\n%s", sum, rep.One[0].Exporters[0].Targets, text.String())
	}
}
