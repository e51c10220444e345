package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// restartableExporter is a vigie_exporter on a fixed address whose static
// target file the test rewrites, and which it kills and starts again.
type restartableExporter struct {
	t       *testing.T
	dir     string
	addr    string
	process *process
}

func newRestartableExporter(t *testing.T, targets string) *restartableExporter {
	t.Helper()
	x := &restartableExporter{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	x.writeTargets(targets)
	_ = os.WriteFile(filepath.Join(x.dir, "vigie.yml"), []byte(`modules:
  http_2xx:
    prober: http
    timeout: 1s
    http:
      preferred_ip_protocol: ip4
discovery:
  static:
    - files: [`+filepath.Join(x.dir, "targets.yml")+`]
      refresh_interval: 200ms
`), 0o644)
	x.start()
	return x
}

func (x *restartableExporter) url() string { return "http://" + x.addr }

func (x *restartableExporter) writeTargets(content string) {
	x.t.Helper()
	tmp := filepath.Join(x.dir, ".targets.yml.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		x.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(x.dir, "targets.yml")); err != nil {
		x.t.Fatal(err)
	}
}

func (x *restartableExporter) start() {
	x.t.Helper()
	x.process = start(x.t, filepath.Join(binaries(x.t), "vigie_exporter"),
		"--config.file="+filepath.Join(x.dir, "vigie.yml"), "--web.listen-address="+x.addr)
	waitHTTP(x.t, x.url()+"/-/healthy", http.StatusOK)
}

func (x *restartableExporter) restart() {
	x.t.Helper()
	x.process.kill()
	x.start()
}

// sd fetches the exporter's /sd.
func (x *restartableExporter) sd() (int, string) {
	x.t.Helper()
	resp, err := http.Get(x.url() + "/sd")
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestDiscoveryCollapseIsNoFalseUP: with a check announced DOWN, the
// exporter is restarted with a broken target file. Its /sd answers 503
// naming the file and the error (not an empty list), the router keeps its
// checks and sends nothing — no "UP … removed from discovery", and no new
// DOWN once the file is fixed. Then a valid but empty file: the router's
// removal guard holds the removal (metric) instead of resolving at once.
// The recovery, when it comes, closes the original incident.
func TestDiscoveryCollapseIsNoFalseUP(t *testing.T) {
	down, up := newTarget(t), newTarget(t)
	down.off()
	goodTargets := fmt.Sprintf("- targets: [%q, %q]\n  modules: [http_2xx]\n  labels: {group: web}\n", down.url(), up.url())
	x := newRestartableExporter(t, goodTargets)
	waitHTTP(t, x.url()+"/sd", http.StatusOK)
	tg, tokenFile := startTelegram(t)
	// A guard that never confirms within the test: its hold is observable.
	cfg := strings.Replace(fmt.Sprintf(telegramRouterConfig, x.url(), tg.URL, tokenFile),
		"  sd_refresh_interval: 1s\n", "  sd_refresh_interval: 1s\n  sd_removal_guard: {confirmations: 1000}\n", 1)
	_, router := startRouter(t, writeConfig(t, cfg), t.TempDir())
	first := waitMessages(t, tg, 1, "DOWN")[0]
	if !strings.Contains(first.PlainText, "DOWN") || !strings.Contains(first.PlainText, down.url()) {
		t.Fatalf("first message:\n%s", first.PlainText)
	}
	waitMetric(t, router, `vigie_router_checks{state="up"}`, func(v float64) bool { return v == 1 })

	// The exporter comes back with a broken target file.
	x.writeTargets(goodTargets + "  lables: {oops: 1}\n")
	x.restart()
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, body := x.sd()
		if code == http.StatusOK {
			t.Fatalf("/sd with a broken file from the start answered 200: %q", body)
		}
		if code == http.StatusServiceUnavailable && strings.Contains(body, "static[0]: static:"+filepath.Join(x.dir, "targets.yml")) &&
			strings.Contains(body, "line 4: field lables not found") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/sd with a broken file from the start: %d %q, want 503 naming the file and the error", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Several target-list fetches fail meanwhile; the router keeps its checks.
	sdErrors := metric(t, router, `vigie_router_exporter_errors_total{endpoint="sd"}`)
	waitMetric(t, router, `vigie_router_exporter_errors_total{endpoint="sd"}`, func(v float64) bool { return v >= sdErrors+3 })
	if v := metric(t, router, "vigie_router_sd_checks"); v != 2 {
		t.Errorf("vigie_router_sd_checks = %v while /sd fails, want 2", v)
	}
	if v := metric(t, router, `vigie_router_checks{state="down"}`); v != 1 {
		t.Errorf("checks down = %v while /sd fails, want 1", v)
	}

	// Fixed: the same list again; nothing to say.
	x.writeTargets(goodTargets)
	waitHTTP(t, x.url()+"/sd", http.StatusOK)
	probes := metric(t, router, `vigie_router_probes_total{result="failure"}`)
	waitMetric(t, router, `vigie_router_probes_total{result="failure"}`, func(v float64) bool { return v >= probes+3 })

	// A valid, empty file: a real list without targets, but it would remove
	// every check. The guard holds the removal and says so.
	x.writeTargets("[]\n")
	waitMetric(t, router, "vigie_router_sd_removals_held", func(v float64) bool { return v == 2 })
	held := metric(t, router, "vigie_router_sd_lists_held_total")
	waitMetric(t, router, "vigie_router_sd_lists_held_total", func(v float64) bool { return v >= held+2 })
	if v := metric(t, router, `vigie_router_checks{state="down"}`); v != 1 {
		t.Errorf("checks down = %v while the removal is held, want 1", v)
	}
	x.writeTargets(goodTargets)
	waitMetric(t, router, "vigie_router_sd_removals_held", func(v float64) bool { return v == 0 })
	if ms := tg.Messages(); len(ms) != 1 {
		t.Fatalf("%d messages, want only the first DOWN: %+v", len(ms), ms)
	}

	// The target recovers: the UP closes the incident announced at first.
	down.on(t)
	upMsg := waitMessages(t, tg, 2, "UP")[1]
	if !strings.Contains(upMsg.PlainText, "UP") || !strings.Contains(upMsg.PlainText, "back up after") || strings.Contains(upMsg.PlainText, "removed") {
		t.Errorf("UP message:\n%s", upMsg.PlainText)
	}
	waitProbes(t, router, 2)
	if n := len(tg.Messages()); n != 2 {
		t.Errorf("%d messages, want 2 (one DOWN, one UP): %+v", n, tg.Messages())
	}
}
