package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
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
	h.e.applyConfig(cfg, nopExporter{})
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
// the states are kept and written at the next flush.
func TestCommitFailureDeliversAnyway(t *testing.T) {
	h := newHarness(t, "", baseConfig)
	h.targets("db1:5432 tcp_connect db")
	h.probe("db1:5432", "tcp_connect", 0, refused)
	h.disp.take()
	h.store.Close() // every write fails from now on
	h.now = h.now.Add(15 * time.Second)
	c := h.check("db1:5432", "tcp_connect")
	h.e.inFlight++
	c.inFlight = true
	h.e.handleResult(c, refused, h.now)
	if err := h.e.flush(); err == nil {
		t.Fatal("flush succeeded on a closed store")
	}
	ns := h.disp.take()
	if len(ns) != 1 || ns[0].Kind != notify.KindDown || ns[0].Receiver != "dba" || h.disp.unsaved != 1 {
		t.Fatalf("handed over unsaved: %d (%s)", h.disp.unsaved, summaries(ns))
	}
	if len(h.e.outbox) != 0 || !h.e.dirty[c.id] {
		t.Errorf("after the failure: outbox %d (want 0: handed over), state dirty %v (want true: retried)", len(h.e.outbox), h.e.dirty[c.id])
	}
}
