package pipeline

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-monitoring/vigie/alertrouter/targets"
	"github.com/vigie-monitoring/vigie/alertrouter/view"
)

// TestClusterCheckMetrics: in a router cluster vigie_router_checks and
// vigie_router_checks_flapping count the cluster's checks (this member's
// and the other members' summaries, as the View does), not only the
// checks this member probes; they follow the others' summaries.
func TestClusterCheckMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	peers := &fakePeers{}
	h := newHarnessWith(t, "", peersConfig, func(o *Options) { o.Peers = peers; o.Metrics = NewMetrics(reg) })
	mine := targets.ID("a.example:22", "tcp_connect")
	h.step(owner{owned: targets.OwnerFunc(func(id string) bool { return id == mine })})
	h.targets("a.example:22 tcp_connect g", "b.example:22 tcp_connect g")
	h.probe("a.example:22", "tcp_connect", time.Second, ok)
	h.step(syncNow{})
	want := func(up, down, unknown, flapping float64) {
		t.Helper()
		got := [4]float64{}
		for i, s := range []string{"up", "down", "unknown"} {
			got[i] = gaugeValue(t, reg, "vigie_router_checks", s)
		}
		got[3] = gaugeValue(t, reg, "vigie_router_checks_flapping", "")
		if got != [4]float64{up, down, unknown, flapping} {
			t.Fatalf("up, down, unknown, flapping = %v, want %v", got, [4]float64{up, down, unknown, flapping})
		}
	}
	want(1, 0, 0, 0)

	peers.set(&view.Summary{Member: "r2", Checks: 4, Counts: map[string]int{"up": 1, "down": 2, "unknown": 1, "flapping": 1}})
	h.p.PeersChanged()
	h.step(<-peersSignal(h))
	h.step(syncNow{})
	want(2, 2, 1, 1)

	// This member's own change is counted with the others'.
	h.probe("a.example:22", "tcp_connect", time.Minute, refused)
	h.probe("a.example:22", "tcp_connect", time.Minute, refused)
	h.step(syncNow{})
	want(1, 3, 1, 1)

	// The other member left.
	peers.set()
	h.p.PeersChanged()
	h.step(<-peersSignal(h))
	h.step(syncNow{})
	want(0, 1, 0, 0)
}

// gaugeValue is the value of one series of a gauge (state "": no label)
// registered on reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, state string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if state == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == state) {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{state=%q}", name, state)
	return 0
}
