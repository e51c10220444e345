package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/targets"
)

// TestRecoveryGoesToARemovedReceiver: the recovery of an incident a
// receiver was told about is handed to dispatch even when a reload
// removed that receiver: if its DOWN still waits there, the two must go
// (or expire) together; dispatch decides.
func TestRecoveryGoesToARemovedReceiver(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("https://a.example http_2xx web")
	for range 3 {
		h.probe("https://a.example", "http_2xx", 15*time.Second, refused)
	}
	if ns := h.disp.take(); len(ns) != 0 {
		t.Fatalf("left over: %s", summaries(ns))
	}
	yaml := strings.Replace(baseConfig, "receivers: [ops, audit]", "receivers: [ops]", 1)
	yaml = strings.Replace(yaml, "  - name: audit\n", "", 1)
	cfg, err := config.ParseRouter([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	h.step(reload{cfg: cfg, client: nopExporter{}})
	h.probe("https://a.example", "http_2xx", 15*time.Second, ok)
	ns := h.probe("https://a.example", "http_2xx", 15*time.Second, ok)
	var got []string
	for _, n := range ns {
		if n.Kind == notify.KindUp {
			got = append(got, n.Receiver)
		}
	}
	if strings.Join(got, ",") != "audit,ops" {
		t.Errorf("recoveries to %v, want audit (removed) and ops", got)
	}
}

// TestCommitFailureDeliversAnyway: when the store cannot take a commit,
// its notifications still go to dispatch (to be delivered from memory);
// the states are kept and written again after FlushInterval.
func TestCommitFailureDeliversAnyway(t *testing.T) {
	fs := &flakyStore{}
	h := newHarnessWith(t, "", baseConfig, func(o *Options) { fs.State = o.Store; o.Store = fs })
	h.targets("db1:5432 tcp_connect db")
	h.probe("db1:5432", "tcp_connect", 0, refused)
	h.disp.take()
	fs.failNext(2)
	ns := h.probe("db1:5432", "tcp_connect", 15*time.Second, refused)
	if len(ns) != 1 || ns[0].Kind != notify.KindDown || ns[0].Receiver != "dba" || h.disp.unsaved != 1 {
		t.Fatalf("handed over unsaved: %d (%s)", h.disp.unsaved, summaries(ns))
	}
	id := targets.ID("db1:5432", "tcp_connect")
	if w := h.p.writes; len(w.outbox) != 0 || !w.checks[id] || !w.at.Equal(h.now.Add(time.Second)) {
		t.Fatalf("after the failure: outbox %d (want 0: handed over), state kept %v, retry at %s (want in 1s)", len(w.outbox), w.checks[id], w.at)
	}
	// The next write is the clock's, after FlushInterval: it fails again,
	// and is tried again; then it works.
	h.now = h.now.Add(time.Second)
	h.p.turn(h.now, tick{})
	if fs.commits != 2 || !h.p.writes.checks[id] {
		t.Fatalf("retry: %d commits, state kept %v", fs.commits, h.p.writes.checks[id])
	}
	h.now = h.now.Add(time.Second)
	h.p.turn(h.now, tick{})
	if saved, _ := h.store.LoadChecks(); saved[id] == nil || saved[id].State != "down" || len(saved[id].Notified) != 1 {
		t.Fatalf("not saved after the store came back: %+v", saved[id])
	}
	if !h.p.writes.empty() || !h.p.writes.at.IsZero() {
		t.Errorf("writes left: %+v", h.p.writes)
	}
}
