package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// switchExporter answers probes from a table the test changes.
type switchExporter struct {
	mu      sync.Mutex
	up      map[string]bool
	groups  []TargetGroup
	probes  int
	maxLive int
	live    int
}

func (x *switchExporter) Probe(ctx context.Context, target, module string) Result {
	x.mu.Lock()
	x.probes++
	x.live++
	x.maxLive = max(x.maxLive, x.live)
	up := x.up[target]
	x.mu.Unlock()
	time.Sleep(time.Millisecond)
	x.mu.Lock()
	x.live--
	x.mu.Unlock()
	if up {
		return Result{Success: true}
	}
	return Result{Reason: "connection refused"}
}

func (x *switchExporter) Targets(context.Context) ([]TargetGroup, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.groups, nil
}

func (x *switchExporter) set(target string, up bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.up[target] = up
}

// TestRunLoop runs the real loop on real (short) time: targets from /sd,
// probes on schedule, DOWN after the retries, UP after recovery, states
// flushed on shutdown.
func TestRunLoop(t *testing.T) {
	cfg, err := config.ParseRouter([]byte(`
exporter:
  sd_refresh_interval: 1h
checks:
  interval: 200ms
  retry_interval: 20ms
  timeout: 100ms
  max_concurrency: 3
rules:
  - failures: 2
    successes: 2
    receivers: [ops]
receivers:
  - name: ops
`))
	if err != nil {
		t.Fatal(err)
	}
	x := &switchExporter{up: map[string]bool{}}
	for _, target := range []string{"a", "b", "c", "d", "e", "f"} {
		x.up[target] = true
		x.groups = append(x.groups, TargetGroup{Targets: []string{target}, Labels: map[string]string{"module": "tcp_connect"}})
	}
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	disp := &fakeDispatcher{}
	e, err := New(Options{Config: cfg, Store: st, Dispatcher: disp, Exporter: x})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case <-e.SDDone():
	case <-time.After(5 * time.Second):
		t.Fatal("no target list")
	}

	waitFor := func(what string, cond func([]*notify.Notification) bool) {
		t.Helper()
		var seen []*notify.Notification
		deadline := time.After(10 * time.Second)
		for {
			seen = append(seen, disp.take()...)
			if cond(seen) {
				return
			}
			select {
			case <-deadline:
				t.Fatalf("%s: got %s", what, summaries(seen))
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	x.set("c", false)
	waitFor("DOWN", func(ns []*notify.Notification) bool {
		return len(ns) == 1 && ns[0].Kind == notify.KindDown && ns[0].Alerts[0].Labels["instance"] == "c" &&
			ns[0].Alerts[0].Reason == "connection refused"
	})
	// The View follows (published by the loop, at most every viewMinGap).
	waitView := func(what string, cond func(*View) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond(e.View()) {
			if time.Now().After(deadline) {
				t.Fatalf("view %s: %+v", what, e.View())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitView("with c down", func(v *View) bool {
		return v.Counts["down"] == 1 && v.Counts["up"] == 5 && len(v.Problems) == 1 && v.Problems[0].Target == "c"
	})
	x.set("c", true)
	waitFor("UP", func(ns []*notify.Notification) bool {
		return len(ns) == 1 && ns[0].Kind == notify.KindUp && ns[0].Alerts[0].Labels["instance"] == "c"
	})
	waitView("all up", func(v *View) bool { return v.Counts["up"] == 6 && len(v.Problems) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	if x.maxLive > 3 {
		t.Errorf("%d probes in flight, max_concurrency is 3", x.maxLive)
	}
	x.mu.Unlock()
	saved, err := st.LoadChecks()
	if err != nil || len(saved) != 6 || saved["tcp_connect c"].State != "up" {
		t.Errorf("saved on shutdown: %+v, %v", saved["tcp_connect c"], err)
	}
}
