package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/vigie-monitoring/vigie/alertrouter/alerts"
	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/internal/clock"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
)

const alertsConfig = `
global:
  resolve_timeout: 5m
rules:
  - matchers: ['alertname="HighLatency"']
    repeat_interval: 1h
    receivers: [ops]
  - matchers: ['severity="page"']
    group_by: [alertname]
    group_wait: 30s
    receivers: [pager]
  - matchers: ['module="http_2xx"']
    receivers: [ops]
receivers:
  - name: ops
  - name: pager
`

func promAlert(labels ...string) notify.Alert {
	a := notify.Alert{Labels: map[string]string{}, Annotations: map[string]string{"summary": "latency above 1s"},
		GeneratorURL: "http://prometheus:9090/graph?g0.expr=x"}
	for i := 0; i+1 < len(labels); i += 2 {
		a.Labels[labels[i]] = labels[i+1]
	}
	return a
}

// ingest posts alerts as the API would and returns what was sent.
func (h *harness) ingest(posted ...notify.Alert) []*notify.Notification {
	h.t.Helper()
	valid, _, err := alerts.Validate(posted)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.step(&ingestRequest{alerts: valid, done: make(chan error, 1)})
}

func TestAlertFiresRefreshesAndExpires(t *testing.T) {
	h := newHarness(t, "", alertsConfig)
	a := promAlert("alertname", "HighLatency", "instance", "shop")
	ns := h.ingest(a)
	if len(ns) != 1 || ns[0].Kind != notify.KindDown || ns[0].Status != notify.StatusFiring || ns[0].Receiver != "ops" {
		t.Fatalf("firing: %s", describe(ns))
	}
	got := ns[0].Alerts[0]
	wantFP := model.LabelSet{"alertname": "HighLatency", "instance": "shop"}.Fingerprint().String()
	if got.Fingerprint != wantFP || !got.StartsAt.Equal(h.now) || !got.EndsAt.IsZero() || got.Annotations["summary"] != "latency above 1s" ||
		got.GeneratorURL != a.GeneratorURL || got.Status != notify.StatusFiring {
		t.Errorf("alert = %+v (fingerprint want %s)", got, wantFP)
	}
	v := h.p.View()
	if len(v.Alerts) != 1 || !v.Alerts[0].EndsAt.Equal(h.now.Add(5*time.Minute)) || v.Alerts[0].State != "active" ||
		!slices.Equal(v.Alerts[0].Receivers, []string{"ops"}) || v.Alerts[0].SilencedBy == nil {
		t.Fatalf("view: %+v", v.Alerts)
	}
	// Refreshed every minute: nothing new, and it does not expire.
	for range 10 {
		h.now = h.now.Add(time.Minute)
		if ns := h.ingest(a); len(ns) != 0 {
			t.Fatalf("refresh notified: %s", describe(ns))
		}
	}
	if v := h.p.View(); !v.Alerts[0].UpdatedAt.Equal(h.now) {
		t.Errorf("updatedAt %s", v.Alerts[0].UpdatedAt)
	}
	// Not refreshed: resolved when endsAt (5m, resolve_timeout) passes.
	if ns := h.wait(5*time.Minute - time.Second); len(ns) != 0 {
		t.Fatalf("before endsAt: %s", describe(ns))
	}
	ns = h.wait(time.Second)
	if len(ns) != 1 || ns[0].Kind != notify.KindUp || ns[0].Status != notify.StatusResolved || !ns[0].Alerts[0].EndsAt.Equal(h.now) {
		t.Fatalf("expiry: %s", describe(ns))
	}
	if v := h.p.View(); len(v.Alerts) != 0 {
		t.Errorf("resolved alert still in the view: %+v", v.Alerts)
	}
	// Firing again later, with the same startsAt: a new incident.
	again := a
	again.StartsAt = t0
	ns = h.ingest(again)
	if len(ns) != 1 || ns[0].Kind != notify.KindDown {
		t.Fatalf("firing again: %s", describe(ns))
	}
}

func TestAlertResolvedByPrometheus(t *testing.T) {
	h := newHarness(t, "", alertsConfig)
	a := promAlert("alertname", "HighLatency", "instance", "shop")
	a.StartsAt, a.EndsAt = h.now.Add(-time.Minute), h.now.Add(4*time.Minute)
	h.ingest(a)
	h.now = h.now.Add(2 * time.Minute)
	a.EndsAt = h.now.Add(-time.Second) // Prometheus sends the resolution
	ns := h.ingest(a)
	if len(ns) != 1 || ns[0].Kind != notify.KindUp || !ns[0].Alerts[0].EndsAt.Equal(a.EndsAt) || !ns[0].Alerts[0].StartsAt.Equal(a.StartsAt) {
		t.Fatalf("resolution: %s %+v", describe(ns), ns[0].Alerts[0])
	}
	// Prometheus keeps sending the resolved alert for a while: nothing.
	if ns := h.ingest(a); len(ns) != 0 {
		t.Fatalf("resolved again: %s", describe(ns))
	}
	// A resolved alert nobody heard of is not announced.
	b := promAlert("alertname", "HighLatency", "instance", "other")
	b.StartsAt, b.EndsAt = h.now.Add(-time.Hour), h.now.Add(-time.Minute)
	if ns := h.ingest(b); len(ns) != 0 || len(h.p.View().Alerts) != 0 {
		t.Fatalf("unknown resolved alert: %s", describe(ns))
	}
}

func TestAlertRepeatIntervalGroupingAndMuting(t *testing.T) {
	m := &fakeMuter{}
	h := newHarnessWith(t, "", alertsConfig, func(o *Options) { o.Muter = m })
	a := promAlert("alertname", "HighLatency", "instance", "shop")
	h.ingest(a)
	h.now = h.now.Add(59 * time.Minute)
	if ns := h.ingest(a); len(ns) != 0 {
		t.Fatalf("early reminder: %s", describe(ns))
	}
	h.now = h.now.Add(time.Minute)
	if ns := h.ingest(a); len(ns) != 1 || ns[0].Kind != notify.KindReminder {
		t.Fatalf("reminder: %s", describe(ns))
	}
	// Grouped by alertname for the pager.
	h.ingest(promAlert("alertname", "DiskFull", "severity", "page", "instance", "db1"))
	h.now = h.now.Add(10 * time.Second)
	h.ingest(promAlert("alertname", "DiskFull", "severity", "page", "instance", "db2"))
	ns := h.wait(20 * time.Second)
	if len(ns) != 1 || ns[0].Receiver != "pager" || instances(ns[0]) != "db1,db2" || ns[0].GroupLabels["alertname"] != "DiskFull" {
		t.Fatalf("grouped: %s", describe(ns))
	}
	// Silenced: recorded, not sent; its view says so.
	m.set("s1", `instance="db3"`)
	if ns := h.ingest(promAlert("alertname", "DiskFull", "severity", "page", "instance", "db3")); len(ns) != 0 {
		t.Fatalf("silenced alert grouped: %s", describe(ns))
	}
	if ns := h.wait(time.Minute); len(ns) != 0 {
		t.Fatalf("silenced alert sent: %s", describe(ns))
	}
	for _, v := range h.p.View().Alerts {
		if v.Labels["instance"] == "db3" && (v.State != "suppressed" || !slices.Equal(v.SilencedBy, []string{"s1"})) {
			t.Errorf("silenced alert view: %+v", v)
		}
	}
}

func TestAlertDependsOnCheck(t *testing.T) {
	h := newHarness(t, "", `
rules:
  - matchers: ['alertname="SlowPage"']
    depends_on: ['instance="gw"']
    receivers: [ops]
  - matchers: ['instance="gw"']
    failures: 1
    receivers: [ops]
receivers:
  - name: ops
`)
	h.targets("gw icmp infra")
	h.probe("gw", "icmp", 0, refused)
	if ns := h.ingest(promAlert("alertname", "SlowPage", "instance", "shop")); len(ns) != 0 {
		t.Fatalf("alert sent while its parent check is down: %s", describe(ns))
	}
	if v := h.p.View().Alerts[0]; v.State != "suppressed" || !slices.Equal(v.InhibitedBy, []string{"icmp gw"}) {
		t.Errorf("view: %+v", v)
	}
}

// TestAlertZeroTimesAreUnset: Alertmanager's clients send
// "0001-01-01T00:00:00Z" for "not set".
func TestAlertZeroTimesAreUnset(t *testing.T) {
	var posted []notify.Alert
	if err := json.Unmarshal([]byte(`[{"labels":{"alertname":"A"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]`), &posted); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "", alertsConfig)
	h.ingest(posted...)
	v := h.p.View()
	if len(v.Alerts) != 1 || !v.Alerts[0].StartsAt.Equal(h.now) || !v.Alerts[0].EndsAt.Equal(h.now.Add(5*time.Minute)) {
		t.Fatalf("view: %+v", v.Alerts)
	}
}

func TestAlertsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, alertsConfig)
	a := promAlert("alertname", "HighLatency", "instance", "shop")
	var upKey string
	if ns := h.ingest(a); len(ns) != 1 {
		t.Fatalf("firing: %s", describe(ns))
	} else {
		upKey = strings.TrimSuffix(ns[0].Key, "|down") + "|up"
	}
	h.store.Close()

	h2 := newHarness(t, dir, alertsConfig)
	h2.now = h.now.Add(time.Minute)
	if v := h2.p.View(); len(v.Alerts) != 1 {
		t.Fatalf("view after restart: %+v", v.Alerts)
	}
	if ns := h2.ingest(a); len(ns) != 0 {
		t.Fatalf("re-announced after restart: %s", describe(ns))
	}
	// Not refreshed any more: it expires, and its recovery closes the
	// incident announced before the restart.
	ns := h2.wait(10 * time.Minute)
	if len(ns) != 1 || ns[0].Kind != notify.KindUp || ns[0].Key != upKey {
		t.Fatalf("expiry after restart: %s (key %v, want %s)", describe(ns), ns, upKey)
	}
	if saved, _ := h2.store.LoadAlerts(); len(saved) != 0 {
		t.Errorf("resolved alert kept in the store: %v", saved)
	}
}

// TestIngestAlertsThroughRun: IngestAlerts hands alerts to the running
// engine and returns once they are saved and visible.
func TestIngestAlertsThroughRun(t *testing.T) {
	cfg, err := config.ParseRouter([]byte(alertsConfig + "exporter:\n  sd_refresh_interval: 1h\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	disp := &fakeDispatcher{}
	e, err := New(Options{Config: cfg, Store: st, Dispatcher: disp, Exporter: nopExporter{}, Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	changes, stop := e.Changes()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	err = e.IngestAlerts(context.Background(), []notify.Alert{promAlert("alertname", "HighLatency", "instance", "shop"), {}})
	if err == nil || !strings.Contains(err.Error(), "alert 1: at least one label pair required") {
		t.Errorf("error = %v", err)
	}
	if v := e.View(); len(v.Alerts) != 1 || v.Alerts[0].Labels["instance"] != "shop" {
		t.Fatalf("view right after IngestAlerts: %+v", v.Alerts)
	}
	if saved, err := st.LoadAlerts(); err != nil || len(saved) != 1 {
		t.Fatalf("saved: %v %v", saved, err)
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("no change signalled")
	}
	if ns := disp.take(); len(ns) != 1 || ns[0].Kind != notify.KindDown {
		t.Fatalf("sent: %s", describe(ns))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := e.IngestAlerts(context.Background(), []notify.Alert{promAlert("alertname", "A")}); !errors.Is(err, ErrStopped) {
		t.Errorf("after Run: %v", err)
	}
}

// TestIngestAlertsCancelled: a client that goes away (its request's
// context ends) is not kept waiting for a pipeline that does not answer.
func TestIngestAlertsCancelled(t *testing.T) {
	h := newHarness(t, "", alertsConfig) // not running: nothing takes the alerts
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.IngestAlerts(ctx, []notify.Alert{promAlert("alertname", "A")}) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("IngestAlerts still waits after its context ended")
	}
}
