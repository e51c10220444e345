package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigie-monitoring/vigie/alertrouter/notify/webhook"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// locationExporter is one real vigie_exporter standing for a location:
// its http_2xx module accepts 2xx, or (broken) only 204, so that the
// test's target fails from this location only, switched by a reload of
// the exporter's configuration.
type locationExporter struct {
	name, dir, url string
	proc           *process
}

func startLocationExporter(t *testing.T, name, targetURL string) *locationExporter {
	t.Helper()
	x := &locationExporter{name: name, dir: t.TempDir()}
	targets := fmt.Sprintf("- targets: [%q]\n  modules: [http_2xx]\n  labels: {group: web}\n", targetURL)
	if err := os.WriteFile(filepath.Join(x.dir, "targets.yml"), []byte(targets), 0o644); err != nil {
		t.Fatal(err)
	}
	x.write(t, false)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	x.url = "http://" + addr
	x.proc = start(t, filepath.Join(binaries(t), "vigie_exporter"), "--config.file="+filepath.Join(x.dir, "vigie.yml"), "--web.listen-address="+addr)
	waitHTTP(t, x.url+"/sd", http.StatusOK)
	return x
}

func (x *locationExporter) write(t *testing.T, broken bool) {
	t.Helper()
	codes := "[]"
	if broken {
		codes = "[204]"
	}
	cfg := fmt.Sprintf(`modules:
  http_2xx:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: %s
discovery:
  static:
    - files: [%s]
`, codes, filepath.Join(x.dir, "targets.yml"))
	if err := os.WriteFile(filepath.Join(x.dir, "vigie.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// set breaks (or mends) the location's module and reloads the exporter.
func (x *locationExporter) set(t *testing.T, broken bool) {
	t.Helper()
	x.write(t, broken)
	resp, err := http.Post(x.url+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload of %s: HTTP %d: %s", x.name, resp.StatusCode, body)
	}
}

const locationsRouterConfig = `
exporters:
  - {url: %s, location: paris, sd_refresh_interval: 1s}
  - {url: %s, location: berlin, sd_refresh_interval: 1s}
  - {url: %s, location: amsterdam, sd: false, failures: 2, alert_after: 1s}
checks:
  # Probes with room to spare on a loaded machine: a location whose probe
  # times out would fail (or not count) where the test does not expect it.
  interval: 3s
  retry_interval: 300ms
  timeout: 3s
delivery:
  min_backoff: 100ms
  max_backoff: 1s
rules:
  - matchers: ['group="web"']
    failures: 2
    successes: 2
    receivers: [hook]
receivers:
  - name: hook
    webhook_configs:
      - url: %s
`

// waitRounds waits until location has given n more results of kind
// (success, failure, exporter_error) than it had.
func waitRounds(t *testing.T, router, location, result string, n float64) {
	t.Helper()
	series := fmt.Sprintf(`vigie_router_location_probes_total{location=%q,result=%q}`, location, result)
	before := metricOr0(t, router, series)
	waitMetric(t, router, series, func(v float64) bool { return v >= before+n })
}

func metricOr0(t *testing.T, router, series string) float64 {
	t.Helper()
	resp, err := http.Get(router + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), series+" ") {
		return 0
	}
	return metric(t, router, series)
}

func summaryOf(m webhook.Message) string {
	if len(m.Alerts) == 0 {
		return ""
	}
	return m.Alerts[0].Annotations["summary"]
}

// TestLocationsEndToEnd: three real exporters on loopback, one target
// whose module is broken in some locations by a reload of their
// exporter: the router announces DOWN only when a quorum (a majority)
// of the locations agree, names them, and treats a killed exporter as
// one location alert, never as a target failure.
func TestLocationsEndToEnd(t *testing.T) {
	target := newTarget(t)
	paris := startLocationExporter(t, "paris", target.url())
	berlin := startLocationExporter(t, "berlin", target.url())
	ams := startLocationExporter(t, "amsterdam", target.url())
	hk := newHook(t)
	_, router := startRouter(t, writeConfig(t, fmt.Sprintf(locationsRouterConfig, paris.url, berlin.url, ams.url, hk.srv.URL)), t.TempDir())
	waitMetric(t, router, `vigie_router_checks{state="up"}`, func(v float64) bool { return v == 1 })
	for _, loc := range []string{"paris", "berlin", "amsterdam"} {
		if up := metric(t, router, fmt.Sprintf(`vigie_router_location_up{location=%q}`, loc)); up != 1 {
			t.Fatalf("location %s up = %v", loc, up)
		}
	}

	// One location failing: degraded on the page, no message.
	paris.set(t, true)
	waitRounds(t, router, "paris", "failure", 4)
	if n := hk.count(); n != 0 {
		t.Fatalf("%d messages with one location failing, want none: %+v", n, hk.accepted)
	}
	page := get(t, router+"/")
	if !strings.Contains(page, `class="location-failing" data-location="paris"`) || !strings.Contains(page, "HTTP status 200 not in [204]") {
		t.Errorf("the page does not show the check degraded from paris:\n%s", page)
	}

	// Two: one DOWN naming both, 2/3.
	berlin.set(t, true)
	down := hk.next(t, "DOWN")
	s := summaryOf(down)
	for _, want := range []string{"DOWN", "2/3 locations", "paris: HTTP status 200 not in [204]", "berlin: HTTP status 200 not in [204]"} {
		if !strings.Contains(s, want) {
			t.Errorf("DOWN lacks %q: %s", want, s)
		}
	}
	if got := down.Alerts[0].Annotations["locations_failing"]; got != "paris,berlin" {
		t.Errorf("locations_failing = %q", got)
	}
	if api := get(t, router+"/api/v2/alerts"); !strings.Contains(api, `"locations_failing":"paris,berlin"`) || !strings.Contains(api, `"alertname":"ProbeFailed"`) {
		t.Errorf("GET /api/v2/alerts does not carry the DOWN check and its failing locations:\n%s", api)
	}

	// Back: one UP, from every location.
	paris.set(t, false)
	berlin.set(t, false)
	up := hk.next(t, "UP")
	if s := summaryOf(up); up.Status != "resolved" || !strings.Contains(s, "from every location") {
		t.Errorf("UP: %s %s", up.Status, s)
	}

	// Down everywhere: 3/3.
	target.off()
	down = hk.next(t, "DOWN everywhere")
	if s := summaryOf(down); !strings.Contains(s, "3/3 locations") || !strings.Contains(s, "amsterdam: ") {
		t.Errorf("DOWN everywhere: %s", s)
	}
	target.on(t)
	if up := hk.next(t, "UP"); up.Status != "resolved" {
		t.Errorf("want the recovery, got %+v", up)
	}

	// Amsterdam's exporter killed: one location alert, the target stays
	// UP, and the quorum is over the two left.
	ams.proc.kill()
	alert := hk.next(t, "exporter unreachable")
	if l := alert.Alerts[0].Labels; l["alertname"] != "ExporterUnreachable" || l["location"] != "amsterdam" {
		t.Fatalf("want amsterdam's exporter-unreachable alert, got %+v", alert.Alerts[0])
	}
	waitMetric(t, router, `vigie_router_location_up{location="amsterdam"}`, func(v float64) bool { return v == 0 })
	paris.set(t, true) // 1 of the 2 left: not a majority
	waitRounds(t, router, "paris", "failure", 4)
	if n := hk.count(); n != 5 {
		t.Fatalf("%d messages, want 5 (DOWN, UP, DOWN, UP, exporter unreachable): one location of two is no quorum", n)
	}
	if v := metric(t, router, `vigie_router_checks{state="up"}`); v != 1 {
		t.Fatalf("checks up = %v after amsterdam was killed", v)
	}
	berlin.set(t, true)
	down = hk.next(t, "DOWN over the two left")
	if s := summaryOf(down); !strings.Contains(s, "2/2 locations") || !strings.Contains(s, "amsterdam") {
		t.Errorf("DOWN over two: %s", s)
	}
	// Nothing more while it stays down.
	waitRounds(t, router, "berlin", "failure", 3)
	if n := hk.count(); n != 6 {
		t.Errorf("%d messages, want 6", n)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
