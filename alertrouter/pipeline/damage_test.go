package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-monitoring/vigie/alertrouter/checkstate"
	"github.com/vigie-monitoring/vigie/alertrouter/incident"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

// TestUnparseableSavedState: a saved state the router cannot parse is not
// read as a silent "unknown" (which announced a DOWN a second time): it is
// reported as unreadable, and read as DOWN when receivers were told of an
// incident, unknown when nobody was.
func TestUnparseableSavedState(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Commit(&store.Batch{Checks: map[string]*store.CheckRecord{
		"http_2xx https://told.example": {Target: "https://told.example", Module: "http_2xx", Labels: map[string]string{"group": "web"},
			State: "DOWN", Since: t0, Reason: "connection refused", Notified: map[string]store.Notified{"ops": {At: t0}, "audit": {At: t0}}},
		"http_2xx https://quiet.example": {Target: "https://quiet.example", Module: "http_2xx", Labels: map[string]string{"group": "web"},
			State: "sleeping", Since: t0},
	}, Exporter: &store.CheckRecord{State: "??", Since: t0}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	h := newHarness(t, dir, baseConfig)
	h.now = t0.Add(time.Hour)
	if ns := h.targets("https://told.example http_2xx web", "https://quiet.example http_2xx web"); len(ns) != 0 {
		t.Fatalf("restored states notified: %s", summaries(ns))
	}
	told, quiet := h.check("https://told.example", "http_2xx"), h.check("https://quiet.example", "http_2xx")
	if told.State != checkstate.Down || len(told.notified) != 2 || quiet.State != checkstate.Unknown {
		t.Fatalf("told: %s %v; quiet: %s", told.State, told.notified, quiet.State)
	}
	if got := h.store.UnreadableRecords(); got["checks"] != 2 || got["meta"] != 1 {
		t.Errorf("unreadable = %v, want 2 checks and the exporter's record", got)
	}
	// Still failing: not announced again (reminders are due: it is DOWN
	// since an hour). Recovering: its end is announced.
	for range 3 {
		for _, n := range h.probe("https://told.example", "http_2xx", 15*time.Second, refused) {
			if n.Kind != notify.KindReminder {
				t.Fatalf("the told incident was announced again: %s", summaries([]*notify.Notification{n}))
			}
		}
	}
	h.probe("https://told.example", "http_2xx", 15*time.Second, ok)
	if ns := h.probe("https://told.example", "http_2xx", 15*time.Second, ok); len(ns) != 2 || ns[0].Kind != notify.KindUp {
		t.Errorf("recovery: %s", summaries(ns))
	}
}

// TestStoreDamagedIsAnnounced: a store replaced at start is announced to
// the router's own receivers, committed to the outbox at once.
func TestStoreDamagedIsAnnounced(t *testing.T) {
	d := &store.Damage{
		Path: "/var/lib/vigie/vigie-router.db", MovedTo: "/var/lib/vigie/vigie-router.db.damaged-20261121T100000Z",
		Err: errors.New("store: /var/lib/vigie/vigie-router.db is damaged: reading it panics: invalid page type"), At: t0,
	}
	h := newHarnessWith(t, "", baseConfig, func(o *Options) { o.StoreDamage = d })
	ns := h.disp.take()
	var receivers []string
	for _, n := range ns {
		receivers = append(receivers, n.Receiver)
		a := n.Alerts[0]
		if n.Kind != notify.KindStoreDamaged || a.Labels["alertname"] != incident.AlertStoreDamaged || a.Labels["instance"] != d.Path ||
			!strings.Contains(a.Annotations["summary"], "could not be read and was replaced by an empty one at 10:00 UTC: store: /var/lib/vigie/vigie-router.db is damaged") ||
			!strings.Contains(a.Annotations["description"], "kept as "+d.MovedTo) || !strings.Contains(a.Annotations["description"], "will be announced again") {
			t.Errorf("notification: %+v %v", n, a.Annotations)
		}
	}
	if strings.Join(receivers, ",") != "dba,ops,audit" {
		t.Errorf("receivers %v, want every receiver some rule uses", receivers)
	}
	if out := mustOutbox(t, h.store); len(out) != 3 {
		t.Errorf("outbox holds %d entries, want 3 committed at once", len(out))
	}
	if v := testutil.ToFloat64(h.p.metrics.storeDamaged); v != 1 {
		t.Errorf("vigie_router_store_damaged = %v, want 1", v)
	}
}
