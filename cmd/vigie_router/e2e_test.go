package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/notify/webhook"
	"github.com/vigie-monitoring/vigie/alertrouter/store"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// binDir holds vigie_exporter and vigie_router, built once per test run.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var buildOnce sync.Once
var buildErr error

// binaries builds the real programs (once) and returns their directory.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vigie-e2e-")
		if buildErr != nil {
			return
		}
		// go test puts its own GOROOT/bin first in PATH.
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("cannot build the binaries: %w", err)
			return
		}
		for _, name := range []string{"vigie_exporter", "vigie_router"} {
			cmd := exec.Command(goBin, "build", "-o", filepath.Join(binDir, name), "github.com/vigie-monitoring/vigie/cmd/"+name)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// process is a program started by a test; its output is shown when the
// test fails.
type process struct {
	cmd *exec.Cmd
	out *testenv.Buffer
}

func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &testenv.Buffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", filepath.Base(name), p.out)
		}
	})
	return p
}

func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// router starts vigie_router on a free port and waits until it is ready.
func startRouter(t *testing.T, cfgFile, storage string) (*process, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := start(t, filepath.Join(binaries(t), "vigie_router"),
		"--config.file="+cfgFile, "--storage.path="+storage, "--web.listen-address="+addr, "--log.level=debug")
	waitHTTP(t, "http://"+addr+"/-/ready", http.StatusOK)
	return p, "http://" + addr
}

func waitHTTP(t *testing.T, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d in time", url, status)
}

// metric scrapes one sample value (exact series text, e.g.
// `vigie_router_checks{state="down"}`).
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

func waitMetric(t *testing.T, base, series string, cond func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := metric(t, base, series)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v: condition not met in time", series, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probes is how many probes the router has run (all results).
func probes(t *testing.T, base string) float64 {
	t.Helper()
	var n float64
	for _, result := range []string{"success", "failure", "exporter_error"} {
		n += metric(t, base, `vigie_router_probes_total{result="`+result+`"}`)
	}
	return n
}

// waitProbes lets the router run n more probes: what the router would
// still do (a repeated message, a late retry) has had its chance, measured
// in the router's own work rather than in time.
func waitProbes(t *testing.T, base string, n float64) {
	t.Helper()
	start := probes(t, base)
	deadline := time.Now().Add(30 * time.Second)
	for probes(t, base) < start+n {
		if time.Now().After(deadline) {
			t.Fatalf("the router ran fewer than %v probes in time", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// switchableTarget is an HTTP server the test turns off (nothing listens:
// connection refused) and on again, on the same port.
type switchableTarget struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func newTarget(t *testing.T) *switchableTarget {
	st := &switchableTarget{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	st.on(t)
	t.Cleanup(func() { st.off() })
	return st
}

func (s *switchableTarget) url() string { return "http://" + s.addr + "/" }

func (s *switchableTarget) on(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var l net.Listener
	var err error
	for range 50 { // the port may linger a moment after off()
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	s.srv = srv
	// srv, not s.srv: off() may have cleared s.srv before this goroutine runs.
	go func() { _ = srv.Serve(l) }()
}

func (s *switchableTarget) off() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// hook is a webhook receiver recording what it accepted.
type hook struct {
	srv      *httptest.Server
	mu       sync.Mutex
	accepted []webhook.Message
	got      chan webhook.Message
	// answer decides the status of each request (1-based); nil: 200.
	answer func(n int, w http.ResponseWriter, r *http.Request) bool
	n      int
}

func newHook(t *testing.T) *hook {
	h := &hook{got: make(chan webhook.Message, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhook.Message
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("webhook payload: %v\n%s", err, body)
		}
		h.mu.Lock()
		h.n++
		n, answer := h.n, h.answer
		h.mu.Unlock()
		if answer != nil && !answer(n, w, r) {
			return // refused
		}
		h.mu.Lock()
		h.accepted = append(h.accepted, m)
		h.mu.Unlock()
		h.got <- m
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) next(t *testing.T, what string) webhook.Message {
	t.Helper()
	select {
	case m := <-h.got:
		return m
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s notification", what)
		return webhook.Message{}
	}
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.accepted)
}

// sdServer serves a static Prometheus HTTP SD list.
func sdServer(t *testing.T, groups string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, groups)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigie-router.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fastChecks makes the router probe every second and retry deliveries
// quickly, so that end-to-end tests take seconds.
const fastChecks = `
checks:
  interval: 1s
  retry_interval: 200ms
  timeout: 1s
delivery:
  min_backoff: 100ms
  max_backoff: 1s
`

const routerConfig = `
exporter:
  url: %s
  sd_url: %s
  sd_refresh_interval: 1s
` + fastChecks + `rules:
  - matchers: ['module="http_2xx"']
    failures: 2
    successes: 2
    receivers: [hook]
receivers:
  - name: hook
    webhook_configs:
      - url: %s
`

// TestEndToEnd runs the real binaries: the exporter probes an HTTP target
// the test turns off and on; the router announces DOWN after its retries,
// with the reason, and UP after recovery, to a webhook. It runs against
// vigie_exporter (JSON rendition, reason given) and Debian's
// blackbox_exporter (text exposition, no reason).
func TestEndToEnd(t *testing.T) {
	cases := []struct {
		name       string
		exporter   func(t *testing.T) string // returns its URL
		wantReason string
	}{
		{"vigie_exporter", startVigieExporter, "connection refused"},
		{"blackbox_exporter", startBlackboxExporter, "the exporter gives no reason"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := newTarget(t)
			exporterURL := tc.exporter(t)
			requireWorkingHTTPProber(t, exporterURL, target.url())
			sd := sdServer(t, fmt.Sprintf(`[{"targets":[%q],"labels":{"module":"http_2xx","group":"web"}}]`, target.url()))
			h := newHook(t)
			_, router := startRouter(t, writeConfig(t, fmt.Sprintf(routerConfig, exporterURL, sd, h.srv.URL)), t.TempDir())
			waitMetric(t, router, `vigie_router_checks{state="up"}`, func(v float64) bool { return v == 1 })

			target.off()
			down := h.next(t, "DOWN")
			if down.Status != "firing" || down.Version != "4" || down.Receiver != "hook" || len(down.Alerts) != 1 {
				t.Fatalf("DOWN payload: %+v", down)
			}
			a := down.Alerts[0]
			summary := a.Annotations["summary"]
			if a.Labels["instance"] != target.url() || a.Labels["group"] != "web" || !strings.Contains(summary, target.url()) ||
				!strings.Contains(summary, "is DOWN") || !strings.Contains(summary, tc.wantReason) {
				t.Errorf("DOWN alert: labels %v, summary %q", a.Labels, summary)
			}
			// After the configured retries: at least `failures` failed probes.
			if f := metric(t, router, `vigie_router_probes_total{result="failure"}`); f < 2 {
				t.Errorf("DOWN after %v failed probes, want at least 2", f)
			}

			target.on(t)
			up := h.next(t, "UP")
			if up.Status != "resolved" || up.Alerts[0].Labels["instance"] != target.url() ||
				!strings.Contains(up.Alerts[0].Annotations["summary"], "is UP again") || up.Alerts[0].EndsAt.IsZero() {
				t.Errorf("UP payload: %+v", up)
			}
			if !up.Alerts[0].StartsAt.Equal(a.StartsAt) || up.GroupKey != down.GroupKey {
				t.Errorf("UP does not close the DOWN incident: %+v vs %+v", up, down)
			}
			// Nothing else: one DOWN, one UP.
			probes := metric(t, router, `vigie_router_probes_total{result="success"}`)
			waitMetric(t, router, `vigie_router_probes_total{result="success"}`, func(v float64) bool { return v >= probes+3 })
			if n := h.count(); n != 2 {
				t.Errorf("%d notifications, want 2", n)
			}
		})
	}
}

func startVigieExporter(t *testing.T) string {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	// --config.file points nowhere on purpose: the embedded default has http_2xx.
	start(t, filepath.Join(binaries(t), "vigie_exporter"), "--web.listen-address="+addr)
	waitHTTP(t, "http://"+addr+"/-/healthy", http.StatusOK)
	return "http://" + addr
}

func startBlackboxExporter(t *testing.T) string {
	bin := testenv.Binary(t, "prometheus-blackbox-exporter")
	cfg := filepath.Join(t.TempDir(), "blackbox.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  http_2xx:\n    prober: http\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	start(t, bin, "--config.file="+cfg, "--web.listen-address="+addr)
	waitHTTP(t, "http://"+addr+"/-/healthy", http.StatusOK)
	return "http://" + addr
}

// requireWorkingHTTPProber fails fast when the exporter's http prober is
// missing, rather than waiting for notifications that cannot come.
func requireWorkingHTTPProber(t *testing.T, exporterURL, target string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, exporterURL+"/probe?module=http_2xx&target="+target, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if bytes.Contains(body, []byte("not implemented yet")) {
		t.Fatalf("the exporter's http prober is a placeholder: %s", body)
	}
}

// fakeExporter is a multiExporter with one http_2xx target, down until
// the test says otherwise.
type fakeExporter struct {
	*multiExporter
	target string
}

func newFakeExporter(t *testing.T, target string) *fakeExporter {
	groups := fmt.Sprintf(`[{"targets":[%q],"labels":{"module":"http_2xx"}}]`, target)
	return &fakeExporter{newMultiExporter(t, groups, map[string]string{target: "down"}), target}
}

func (x *fakeExporter) setUp(up bool) {
	mode := "down"
	if up {
		mode = "up"
	}
	x.set(x.target, mode)
}

func (x *fakeExporter) probeCount() int { return x.multiExporter.probeCount(x.target) }

// TestSIGKILLBetweenOutboxAndDelivery kills the router while its DOWN
// notification is in the outbox and its delivery in flight; the restarted
// router delivers it once, keeps the check DOWN and does not announce it
// again.
func TestSIGKILLBetweenOutboxAndDelivery(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	h := newHook(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	h.answer = func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			close(arrived)
			<-release // hold the first attempt until the router is dead
			http.Error(w, "too late", http.StatusInternalServerError)
			return false
		}
		return true
	}
	cfg := writeConfig(t, fmt.Sprintf(strings.Replace(routerConfig, "  sd_url: %s\n", "", 1), x.srv.URL, h.srv.URL))
	storage := t.TempDir()
	p, _ := startRouter(t, cfg, storage)
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery attempt")
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	close(release)

	// The notification was in the outbox before it was sent.
	st, err := store.Open(storage)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := st.LoadOutbox()
	checks, _ := st.LoadChecks()
	st.Close()
	if err != nil || len(pending) != 1 || pending[0].Notification.Status != "firing" {
		t.Fatalf("outbox after SIGKILL: %+v, %v", pending, err)
	}
	if c := checks["http_2xx https://shop.example"]; c == nil || c.State != "down" {
		t.Fatalf("state after SIGKILL: %+v", c)
	}

	_, router := startRouter(t, cfg, storage)
	m := h.next(t, "resumed DOWN")
	if m.Status != "firing" || m.Alerts[0].Labels["instance"] != "https://shop.example" ||
		!strings.Contains(m.Alerts[0].Annotations["summary"], "HTTP status 503 not in 2xx") {
		t.Errorf("resumed payload: %+v", m)
	}
	waitMetric(t, router, "vigie_router_outbox_depth", func(v float64) bool { return v == 0 })
	if v := metric(t, router, `vigie_router_checks{state="down"}`); v != 1 {
		t.Errorf("checks down after restart = %v", v)
	}
	// Let the restarted router probe the (still failing) target a few more
	// times: no second DOWN.
	probes := x.probeCount()
	for x.probeCount() < probes+4 {
		time.Sleep(50 * time.Millisecond)
	}
	waitMetric(t, router, "vigie_router_outbox_depth", func(v float64) bool { return v == 0 })
	if n := h.count(); n != 1 {
		t.Errorf("delivered %d times, want once", n)
	}
}

// TestWebhook500Then429ThenOK: the real router delivers once through a
// webhook that fails, then throttles, then accepts.
func TestWebhook500Then429ThenOK(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	h := newHook(t)
	var cmu sync.Mutex
	var codes []int
	h.answer = func(n int, w http.ResponseWriter, r *http.Request) bool {
		cmu.Lock()
		defer cmu.Unlock()
		switch n {
		case 1:
			codes = append(codes, 500)
			http.Error(w, "oops", http.StatusInternalServerError)
			return false
		case 2:
			codes = append(codes, 429)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return false
		}
		codes = append(codes, 200)
		return true
	}
	cfg := writeConfig(t, fmt.Sprintf(strings.Replace(routerConfig, "  sd_url: %s\n", "", 1), x.srv.URL, h.srv.URL))
	_, router := startRouter(t, cfg, t.TempDir())
	h.next(t, "DOWN")
	waitMetric(t, router, "vigie_router_outbox_depth", func(v float64) bool { return v == 0 })
	for series, want := range map[string]float64{
		`vigie_router_notifications_total{integration="webhook",outcome="retried",receiver="hook"}`:   2,
		`vigie_router_notifications_total{integration="webhook",outcome="delivered",receiver="hook"}`: 1,
	} {
		if v := metric(t, router, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	if n := h.count(); n != 1 {
		t.Errorf("delivered %d times", n)
	}
	cmu.Lock()
	if fmt.Sprint(codes) != "[500 429 200]" {
		t.Errorf("answers %v", codes)
	}
	cmu.Unlock()
}

// TestReload: SIGHUP and POST /-/reload apply a good file; a bad one is
// refused with its line and field, and the running configuration stays.
func TestReload(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	good := fmt.Sprintf("exporter:\n  url: %s\nreceivers:\n  - name: log\n    log_configs: [{}]\nrules:\n  - receivers: [log]\n", x.srv.URL)
	cfg := writeConfig(t, good)
	p, router := startRouter(t, cfg, t.TempDir())

	post := func() (int, string) {
		resp, err := http.Post(router+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := post(); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	resp, _ := http.Get(router + "/-/reload")
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d", resp.StatusCode)
	}

	if err := os.WriteFile(cfg, []byte(good+"    failures: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := post()
	if code != 500 || !strings.Contains(body, "line 8") || !strings.Contains(body, "rules.[0].failures: must be at least 1") {
		t.Errorf("bad reload: %d %s", code, body)
	}
	if v := metric(t, router, "vigie_router_config_last_reload_successful"); v != 0 {
		t.Errorf("reload gauge = %v", v)
	}
	// The running configuration is still the good one.
	resp, _ = http.Get(router + "/config")
	running, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(running), "failures: 3") {
		t.Errorf("running config:\n%s", running)
	}

	if err := os.WriteFile(cfg, []byte(strings.Replace(good, "rules:", "checks:\n  interval: 30s\nrules:", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(t, router, "vigie_router_config_last_reload_successful", func(v float64) bool { return v == 1 })
	resp, _ = http.Get(router + "/config")
	running, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(running), "interval: 30s") {
		t.Errorf("config after SIGHUP:\n%s", running)
	}
}

func TestConfigCheck(t *testing.T) {
	bin := filepath.Join(binaries(t), "vigie_router")
	good := writeConfig(t, "receivers:\n  - name: hook\n    webhook_configs:\n      - url: https://hooks.example/x?token=hunter2\nrules:\n  - receivers: [hook]\n")
	if out, err := exec.Command(bin, "--config.check", "--config.file="+good).CombinedOutput(); err != nil {
		t.Errorf("good config: %v\n%s", err, out)
	}
	bad := writeConfig(t, "receivers:\n  - name: hook\n    webhook_configs:\n      - url: ftp://hooks.example/x?token=hunter2\n")
	out, err := exec.Command(bin, "--config.check", "--config.file="+bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("bad config: exit %v", err)
	}
	if !strings.Contains(string(out), "line 4") || !strings.Contains(string(out), "receivers.[0].webhook_configs.[0].url") {
		t.Errorf("bad config output does not name line and field:\n%s", out)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Errorf("secret in output:\n%s", out)
	}
	// Without a file the embedded default is checked.
	cmd := exec.Command(bin, "--config.check")
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "embedded default") {
		t.Errorf("embedded default: %v\n%s", err, out)
	}
}

// Built without promu's -ldflags (binaries runs plain go build), the router
// takes its version from the build information: --version, the build_info
// metric and the Alertmanager status API's versionInfo agree with it.
func TestVersionFromBuildInfo(t *testing.T) {
	bin := filepath.Join(binaries(t), "vigie_router")
	want := testenv.BinaryVersion(t, bin)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != want.VersionLine("vigie_router") {
		t.Errorf("--version says %q, want %q", first, want.VersionLine("vigie_router"))
	}

	cfg := writeConfig(t, "receivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:1/hook\nrules:\n  - receivers: [hook]\n")
	_, base := startRouter(t, cfg, t.TempDir())
	resp, err := http.Get(base + "/api/v2/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		VersionInfo struct{ Version, Revision, BuildDate string } `json:"versionInfo"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	if v := status.VersionInfo; v.Version != want.Version || v.Revision != want.RevisionOrUnknown() || v.BuildDate != want.BuildDate {
		t.Errorf("/api/v2/status versionInfo = %+v, want version %q, revision %q, buildDate %q", v, want.Version, want.RevisionOrUnknown(), want.BuildDate)
	}
	series := fmt.Sprintf(`vigie_router_build_info{branch="",goarch=%q,goos=%q,goversion=%q,revision=%q,tags="unknown",version=%q}`,
		runtime.GOARCH, runtime.GOOS, runtime.Version(), want.RevisionOrUnknown(), want.Version)
	if v := metric(t, base, series); v != 1 {
		t.Errorf("%s = %v, want 1", series, v)
	}
}
