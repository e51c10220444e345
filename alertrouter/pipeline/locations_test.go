package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/config"
	"github.com/vigie-monitoring/vigie/alertrouter/exporter"
	"github.com/vigie-monitoring/vigie/alertrouter/incident"
	"github.com/vigie-monitoring/vigie/alertrouter/locations"
	"github.com/vigie-monitoring/vigie/alertrouter/notify"
)

const locationsConfig = `
exporters:
  - {url: http://paris:9115, location: paris}
  - {url: http://berlin:9115, location: berlin}
  - {url: http://ams:9115, location: amsterdam, failures: 3, alert_after: 1m}
checks:
  interval: 60s
  retry_interval: 15s
rules:
  - failures: 2
    successes: 1
    receivers: [ops]
receivers:
  - name: ops
`

// lround is a round from paris, berlin and amsterdam, aggregated as the
// fan-out does.
func lround(h *harness, rs ...exporter.Result) exporter.Result {
	names := []string{"paris", "berlin", "amsterdam"}
	ls := make([]exporter.LocationResult, len(rs))
	for i, r := range rs {
		ls[i] = exporter.LocationResult{Location: names[i], URL: "http://" + names[i] + ":9115", Result: r}
	}
	return locations.Aggregate(ls, h.p.cfg.Checks)
}

var unreachable = exporter.Result{Err: errors.New("exporter unreachable: dial tcp: connection refused")}

func TestLocationsQuorum(t *testing.T) {
	h := newHarness(t, "", locationsConfig)
	const target, module = "https://shop.example", "http_2xx"
	h.targets(target + " " + module + " web")
	h.probe(target, module, 0, lround(h, ok, ok, ok))

	// One location fails: degraded, never DOWN, nothing sent.
	for range 4 {
		if ns := h.probe(target, module, time.Minute, lround(h, refused, ok, ok)); len(ns) != 0 {
			t.Fatalf("one failing location notified:\n%s", summaries(ns))
		}
	}
	if st := h.check(target, module); st.State.String() != "up" {
		t.Fatalf("state %s with one failing location", st.State)
	}
	v := h.p.View()
	if len(v.Degraded) != 1 || len(v.Degraded[0].Locations) != 3 || !v.Degraded[0].Locations[0].Failing ||
		v.Degraded[0].Locations[0].Reason != "connection refused" || v.Degraded[0].Locations[1].Failing {
		t.Fatalf("degraded = %+v, want the check with paris failing", v.Degraded)
	}

	// Two of three: one DOWN after failures: 2 rounds, naming both.
	http503 := exporter.Result{Reason: "HTTP status 503 not in 2xx"}
	if ns := h.probe(target, module, time.Minute, lround(h, refused, http503, ok)); len(ns) != 0 {
		t.Fatalf("DOWN before failures: 2 rounds:\n%s", summaries(ns))
	}
	ns := h.probe(target, module, 15*time.Second, lround(h, refused, http503, ok))
	if len(ns) != 1 || ns[0].Kind != notify.KindDown {
		t.Fatalf("want one DOWN, got:\n%s", summaries(ns))
	}
	a := ns[0].Alerts[0]
	if !strings.Contains(a.Annotations["summary"], "2/3 locations: paris: connection refused; berlin: HTTP status 503 not in 2xx") {
		t.Errorf("DOWN summary = %q", a.Annotations["summary"])
	}
	if got := a.Annotations[incident.AnnotationLocationsFailing]; got != "paris,berlin" {
		t.Errorf("locations_failing = %q", got)
	}
	if len(a.Locations) != 3 || !a.Locations[1].Failing || a.Locations[2].Failing {
		t.Errorf("alert locations = %+v", a.Locations)
	}
	if v := h.p.View(); len(v.Degraded) != 0 {
		t.Errorf("a DOWN check is still degraded: %+v", v.Degraded)
	}

	// Back everywhere: one UP, back from every location.
	ns = h.probe(target, module, 15*time.Second, lround(h, ok, ok, ok))
	if len(ns) != 1 || ns[0].Kind != notify.KindUp || !strings.Contains(ns[0].Alerts[0].Annotations["summary"], "from every location") {
		t.Fatalf("want one UP from every location, got:\n%s", summaries(ns))
	}
}

func TestLocationUnreachable(t *testing.T) {
	h := newHarness(t, "", locationsConfig)
	const target, module = "https://shop.example", "http_2xx"
	h.targets(target + " " + module + " web")
	var sent []*notify.Notification
	// Amsterdam's exporter is gone for 3 minutes while the target fails
	// from paris: 1 of the 2 answering locations is no majority.
	for range 12 {
		sent = append(sent, h.probe(target, module, 15*time.Second, lround(h, refused, ok, unreachable))...)
	}
	if len(sent) != 1 || sent[0].Kind != notify.KindExporterErr || sent[0].Alerts[0].Labels["location"] != "amsterdam" ||
		!strings.Contains(sent[0].Alerts[0].Annotations["summary"], "location amsterdam: exporter http://ams:9115 is unreachable") {
		t.Fatalf("want one exporter-unreachable alert for amsterdam, got:\n%s", summaries(sent))
	}
	if st := h.check(target, module); st.State.String() != "up" {
		t.Fatalf("state %s: an unreachable location failed the target", st.State)
	}
	v := h.p.View()
	if len(v.Locations) != 3 || v.Locations[2].Reachable || !v.Locations[0].Reachable {
		t.Errorf("locations view = %+v", v.Locations)
	}
	// With two left, both failing is the quorum: DOWN says 2/2.
	h.probe(target, module, 15*time.Second, lround(h, refused, refused, unreachable))
	ns := h.probe(target, module, 15*time.Second, lround(h, refused, refused, unreachable))
	if len(ns) != 1 || ns[0].Kind != notify.KindDown || !strings.Contains(ns[0].Alerts[0].Annotations["summary"], "2/2 locations") {
		t.Fatalf("want a DOWN over the two locations left, got:\n%s", summaries(ns))
	}
	// Every exporter unreachable: nothing is known, the state is kept.
	for range 3 {
		if ns := h.probe(target, module, 15*time.Second, lround(h, unreachable, unreachable, unreachable)); len(ns) > 2 {
			t.Fatalf("unexpected:\n%s", summaries(ns))
		}
	}
	if st := h.check(target, module); st.State.String() != "down" {
		t.Fatalf("state %s after rounds no location answered", st.State)
	}
	// Amsterdam answers again: its incident is resolved.
	ns = h.probe(target, module, 15*time.Second, lround(h, ok, ok, ok))
	var resolved int
	for _, n := range ns {
		if n.Kind == notify.KindExporterErr && n.Status == notify.StatusResolved && n.Alerts[0].Labels["location"] == "amsterdam" {
			resolved++
		}
	}
	if resolved != 1 {
		t.Fatalf("want amsterdam's incident resolved once, got:\n%s", summaries(ns))
	}
}

// TestLocationUnreachableSurvivesRestart: a location's incident is saved
// with the exporter's health: after a restart it is not announced again,
// and its end is.
func TestLocationUnreachableSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, locationsConfig)
	const target, module = "https://shop.example", "http_2xx"
	h.targets(target + " " + module + " web")
	var sent []*notify.Notification
	for range 8 {
		sent = append(sent, h.probe(target, module, 15*time.Second, lround(h, ok, ok, unreachable))...)
	}
	if len(sent) != 1 || sent[0].Kind != notify.KindExporterErr {
		t.Fatalf("want amsterdam's alert, got:\n%s", summaries(sent))
	}
	h.store.Close()

	h2 := newHarness(t, dir, locationsConfig)
	h2.now = h.now
	h2.targets(target + " " + module + " web")
	if v := h2.p.View(); len(v.Locations) != 3 || v.Locations[2].Reachable {
		t.Fatalf("amsterdam's incident was not restored: %+v", v.Locations)
	}
	sent = nil
	for range 8 {
		sent = append(sent, h2.probe(target, module, 15*time.Second, lround(h2, ok, ok, unreachable))...)
	}
	if len(sent) != 0 {
		t.Fatalf("announced again after a restart:\n%s", summaries(sent))
	}
	ns := h2.probe(target, module, 15*time.Second, lround(h2, ok, ok, ok))
	if len(ns) != 1 || ns[0].Status != notify.StatusResolved || ns[0].Alerts[0].Labels["location"] != "amsterdam" {
		t.Fatalf("want amsterdam's incident resolved once, got:\n%s", summaries(ns))
	}
}

// TestLocationsReload: a reload adds locations to a one-exporter router
// and removes one whose exporter is unreachable (its incident ends with
// it, once).
func TestLocationsReload(t *testing.T) {
	single := `
exporter: {url: http://paris:9115}
rules:
  - failures: 2
    receivers: [ops]
receivers:
  - name: ops
`
	h := newHarness(t, "", single)
	const target, module = "https://shop.example", "http_2xx"
	h.targets(target + " " + module + " web")
	if v := h.p.View(); len(v.Locations) != 0 {
		t.Fatalf("one exporter shows locations: %+v", v.Locations)
	}
	h.step(reload{cfg: mustParse(t, locationsConfig), client: nopExporter{}})
	if v := h.p.View(); len(v.Locations) != 3 {
		t.Fatalf("locations after reload = %+v", v.Locations)
	}
	var sent []*notify.Notification
	for range 8 {
		sent = append(sent, h.probe(target, module, 15*time.Second, lround(h, ok, ok, unreachable))...)
	}
	if len(sent) != 1 || sent[0].Alerts[0].Labels["location"] != "amsterdam" {
		t.Fatalf("want amsterdam's alert, got:\n%s", summaries(sent))
	}
	two := strings.Replace(locationsConfig, "  - {url: http://ams:9115, location: amsterdam, failures: 3, alert_after: 1m}\n", "", 1)
	ns := h.step(reload{cfg: mustParse(t, two), client: nopExporter{}})
	if len(ns) != 1 || ns[0].Status != notify.StatusResolved || ns[0].Alerts[0].Labels["location"] != "amsterdam" ||
		!strings.Contains(ns[0].Alerts[0].Annotations["summary"], "removed from the configuration") {
		t.Fatalf("want amsterdam's incident closed by its removal, got:\n%s", summaries(ns))
	}
	if v := h.p.View(); len(v.Locations) != 2 {
		t.Fatalf("locations after removal = %+v", v.Locations)
	}
}

func mustParse(t *testing.T, yaml string) *config.RouterConfig {
	t.Helper()
	cfg, err := config.ParseRouter([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
