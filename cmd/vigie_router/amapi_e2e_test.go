package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/vigie-monitoring/vigie/alertrouter/api"
	"github.com/vigie-monitoring/vigie/alertrouter/cli"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// runCLI runs `vigie_router <args>` (a silence command) and returns its
// standard output; it fails the test when the command fails.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := cliResult(args...)
	if err != nil {
		t.Fatalf("vigie_router %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func cliResult(args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(binDir, "vigie_router"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return string(out), stderr.String(), err
}

var amtoolVersionWarning = regexp.MustCompile(`(?m)^Warning: amtool version \(.*\) and alertmanager version \(.*\) are different\.\n?`)

// amtool runs the real amtool against a router.
func amtool(t *testing.T, router string, args ...string) string {
	t.Helper()
	bin := testenv.Binary(t, "amtool", "/usr/bin/amtool")
	cmd := exec.Command(bin, append([]string{"--alertmanager.url=" + router}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir()}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	if rest := amtoolVersionWarning.ReplaceAllString(stderr.String(), ""); strings.TrimSpace(rest) != "" {
		t.Errorf("amtool %s complained: %s", strings.Join(args, " "), rest)
	}
	return string(out)
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func stop(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("router exit: %v\n%s", err, p.out)
	}
}

// TestSilencesEndToEnd: silences made with `vigie_router silence` and with
// amtool on a real router are the same silences, show on the status page
// and in the metrics, and survive a restart.
func TestSilencesEndToEnd(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	h := newHook(t)
	cfg := writeConfig(t, fmt.Sprintf(strings.Replace(routerConfig, "  sd_url: %s\n", "", 1), x.srv.URL, h.srv.URL))
	storage := t.TempDir()
	p, router := startRouter(t, cfg, storage)
	url := "--router.url=" + router

	id := strings.TrimSpace(runCLI(t, "silence", "add", url, `instance="https://shop.example"`, "--comment=shop migration", "--author=ann", "--duration=2h"))
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("silence add printed %q", id)
	}
	viaAmtool := strings.TrimSpace(amtool(t, router, "silence", "add", "alertname=HighLatency", "--comment=tuning", "--author=bob", "--duration=1h"))

	list := runCLI(t, "silence", "list", url)
	for _, want := range []string{id, viaAmtool, `instance="https://shop.example"`, "shop migration", "ann", "active", `alertname="HighLatency"`} {
		if !strings.Contains(list, want) {
			t.Errorf("silence list lacks %q:\n%s", want, list)
		}
	}
	if got := strings.Fields(amtool(t, router, "silence", "query", "-q")); len(got) != 2 {
		t.Errorf("amtool silence query -q: %v", got)
	}
	// Expire the amtool one with the CLI, and check with amtool.
	if out := strings.TrimSpace(runCLI(t, "silence", "expire", url, viaAmtool)); out != viaAmtool {
		t.Errorf("expire printed %q", out)
	}
	if got := strings.TrimSpace(amtool(t, router, "silence", "query", "-q")); got != id {
		t.Errorf("active silences after expire: %q, want %s", got, id)
	}
	if got := strings.TrimSpace(runCLI(t, "silence", "list", url, "--expired", "-q")); got != viaAmtool {
		t.Errorf("expired silences: %q", got)
	}
	// Errors are said and exit 1.
	if _, errOut, err := cliResult("silence", "expire", url, viaAmtool); err == nil || !strings.Contains(errOut, "already expired") {
		t.Errorf("expiring twice: %v %s", err, errOut)
	}
	if _, errOut, err := cliResult("silence", "add", url, "X", "--author=a"); err == nil || !strings.Contains(errOut, "a comment is required") {
		t.Errorf("add without comment: %v %s", err, errOut)
	}

	if v := metric(t, router, `vigie_router_silences{state="active"}`); v != 1 {
		t.Errorf("active silences metric = %v", v)
	}
	if v := metric(t, router, `vigie_router_silences{state="expired"}`); v != 1 {
		t.Errorf("expired silences metric = %v", v)
	}
	_, page := getBody(t, router+"/")
	if !strings.Contains(page, id) || !strings.Contains(page, "shop migration") || !strings.Contains(page, `id="count-silences">1<`) {
		t.Errorf("status page lacks the silence")
	}

	// Restart on the same storage: the silences are still there.
	stop(t, p)
	_, router = startRouter(t, cfg, storage)
	url = "--router.url=" + router
	if got := strings.TrimSpace(runCLI(t, "silence", "list", url, "-q")); got != id {
		t.Errorf("active silences after restart: %q", got)
	}
	if got := strings.TrimSpace(amtool(t, router, "silence", "query", "-q", "--expired")); got != viaAmtool {
		t.Errorf("expired silences after restart: %q", got)
	}

	// The restored silence mutes: the check goes DOWN (and shows it, muted
	// by the silence) but nobody is told; once the silence is expired, the
	// DOWN is announced.
	x.setUp(false)
	waitMetric(t, router, `vigie_router_checks{state="down"}`, func(v float64) bool { return v == 1 })
	probes := x.probeCount()
	for x.probeCount() < probes+3 {
		time.Sleep(50 * time.Millisecond)
	}
	if n := h.count(); n != 0 {
		t.Fatalf("%d notifications while silenced", n)
	}
	_, page = getBody(t, router+"/")
	if !strings.Contains(page, "HTTP status 503 not in 2xx") || !strings.Contains(page, id[:8]) {
		t.Errorf("status page does not show the DOWN check muted by %s", id)
	}
	runCLI(t, "silence", "expire", url, id)
	down := h.next(t, "DOWN after the silence expired")
	if down.Status != "firing" || down.Alerts[0].Labels["instance"] != "https://shop.example" {
		t.Errorf("DOWN after the silence: %+v", down)
	}
	// The status page lists it, delivered.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, page = getBody(t, router+"/")
		if i := strings.Index(page, `id="notifications"`); i >= 0 && strings.Contains(page[i:], "https://shop.example (http_2xx)") &&
			strings.Contains(page[i:], `<span class="state delivered">delivered</span>`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status page does not show the delivered DOWN:\n%s", page)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWebConfigAuth: behind --web.config.file basic auth, the status page,
// its live updates, its forms, the API, the CLI (--http.config.file) and
// amtool all work with credentials, and nothing without.
func TestWebConfigAuth(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("basic_auth_users:\n  ann: %s\n", hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	clientCfg := filepath.Join(dir, "client.yml")
	if err := os.WriteFile(clientCfg, []byte("basic_auth:\n  username: ann\n  password: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := writeConfig(t, fmt.Sprintf("exporter:\n  url: %s\nchecks:\n  interval: 1s\n  timeout: 1s\n", x.srv.URL))
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	router := "http://" + addr
	start(t, filepath.Join(binaries(t), "vigie_router"), "--config.file="+cfg, "--storage.path="+t.TempDir(),
		"--web.listen-address="+addr, "--web.config.file="+webCfg)
	testenv.WaitForPort(t, addr, 20*time.Second)

	do := func(method, path string, body io.Reader, auth bool, header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, router+path, body)
		if auth {
			req.SetBasicAuth("ann", "s3cret")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, path := range []string{"/", "/events", "/api/v2/status", "/api/v2/silences", "/metrics"} {
		if resp := do("GET", path, nil, false, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d", path, resp.StatusCode)
		}
	}
	resp := do("GET", "/", nil, true, nil)
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(page), `id="summary"`) || !strings.Contains(string(page), `name="author" required value="ann"`) {
		t.Fatalf("page with credentials: %d\n%s", resp.StatusCode, page)
	}
	// Live updates stream behind the auth.
	resp = do("GET", "/events", nil, true, nil)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	gotUpdate := false
	for sc.Scan() {
		if sc.Text() == "event: update" {
			gotUpdate = true
			break
		}
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || !gotUpdate {
		t.Errorf("events with credentials: %d %s, update seen: %v", resp.StatusCode, resp.Header.Get("Content-Type"), gotUpdate)
	}
	resp.Body.Close()

	// The form, with the page's token.
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(string(page))
	if token == nil {
		t.Fatal("no token in the page")
	}
	form := "token=" + token[1] + "&matchers=instance%3D%22https%3A%2F%2Fshop.example%22&duration=1h&author=ann&comment=via+the+page"
	resp = do("POST", "/silences", strings.NewReader(form), true, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": router, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("form: %d %s", resp.StatusCode, b)
	}

	// The CLI: refused without credentials, fine with --http.config.file.
	if _, errOut, err := cliResult("silence", "list", "--router.url="+router); err == nil || !strings.Contains(errOut, "401") {
		t.Errorf("CLI without credentials: %v %s", err, errOut)
	}
	out := runCLI(t, "silence", "list", "--router.url="+router, "--http.config.file="+clientCfg)
	if !strings.Contains(out, "via the page") {
		t.Errorf("CLI list:\n%s", out)
	}
	out = amtool(t, router, "--http.config.file="+clientCfg, "silence", "query")
	if !strings.Contains(out, "via the page") {
		t.Errorf("amtool with credentials:\n%s", out)
	}
}

// TestPrometheusAlertsEndToEnd: a real Prometheus evaluates a rule on a
// metric the test flips and sends its alert to the router
// (alerting.alertmanagers, API v2); the router lists it and routes it to
// a webhook, firing then resolved.
func TestPrometheusAlertsEndToEnd(t *testing.T) {
	promBin := testenv.Binary(t, "prometheus", "/usr/bin/prometheus")
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	h := newHook(t)

	var mu = make(chan float64, 1)
	mu <- 0
	metrics := newMetricServer(t, mu)

	cfg := writeConfig(t, fmt.Sprintf(`
exporter:
  url: %s
checks:
  interval: 1s
  timeout: 1s
rules:
  - matchers: ['alertname="TestDown"']
    group_wait: 0s
    receivers: [hook]
receivers:
  - name: hook
    webhook_configs:
      - url: %s
`, x.srv.URL, h.srv.URL))
	_, router := startRouter(t, cfg, t.TempDir())

	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(`groups:
  - name: test
    interval: 1s
    rules:
      - alert: TestDown
        expr: test_down == 1
        for: 0s
        labels:
          severity: page
        annotations:
          summary: "the test target is down"
`), 0o644)
	routerHost := strings.TrimPrefix(router, "http://")
	_ = os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: test
    static_configs: [{targets: [%q]}]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs: [{targets: [%q]}]
`, metrics, routerHost)), 0o644)
	promAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	start(t, promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--web.external-url=http://"+promAddr+"/", "--rules.alert.resend-delay=1s")
	waitHTTP(t, "http://"+promAddr+"/-/ready", http.StatusOK)

	<-mu
	mu <- 1
	firing := h.next(t, "firing TestDown")
	if firing.Status != "firing" || len(firing.Alerts) != 1 || firing.Alerts[0].Labels["alertname"] != "TestDown" ||
		firing.Alerts[0].Labels["severity"] != "page" || firing.Alerts[0].Annotations["summary"] != "the test target is down" ||
		!strings.Contains(firing.Alerts[0].GeneratorURL, promAddr) {
		t.Errorf("firing payload: %+v", firing)
	}
	if v := metric(t, router, `vigie_router_alerts_received_total`); v < 1 {
		t.Errorf("alerts received = %v", v)
	}
	_, body := getBody(t, router+"/api/v2/alerts")
	var alerts []api.GettableAlert
	if err := json.Unmarshal([]byte(body), &alerts); err != nil || len(alerts) != 1 || alerts[0].Labels["alertname"] != "TestDown" ||
		len(alerts[0].Receivers) != 1 || alerts[0].Receivers[0].Name != "hook" {
		t.Errorf("GET /api/v2/alerts: %v %s", err, body)
	}
	if out := amtool(t, router, "alert", "query"); !strings.Contains(out, "TestDown") {
		t.Errorf("amtool alert query:\n%s", out)
	}

	<-mu
	mu <- 0
	resolved := h.next(t, "resolved TestDown")
	if resolved.Status != "resolved" || resolved.Alerts[0].Labels["alertname"] != "TestDown" || resolved.Alerts[0].EndsAt.IsZero() {
		t.Errorf("resolved payload: %+v", resolved)
	}
}

// newMetricServer serves `test_down <v>`, v read from (and put back on)
// the channel; it returns host:port.
func newMetricServer(t *testing.T, v chan float64) string {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		val := <-v
		v <- val
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP test_down Whether the test says its target is down.\n# TYPE test_down gauge\ntest_down %g\n", val)
	})}
	go func() { _ = srv.ListenAndServe() }()
	t.Cleanup(func() { srv.Close() })
	testenv.WaitForPort(t, addr, 5*time.Second)
	return addr
}

// TestStatusPageInChromium drives the real router's status page in
// headless Chromium, behind basic auth: the page renders, a check going
// DOWN and a silence added with the CLI appear without a reload, the
// silence form creates a silence (seen by the API) and its button expires
// it. A screenshot is saved ($VIGIE_ARTIFACTS, else the test's temporary
// directory).
func TestStatusPageInChromium(t *testing.T) {
	w := newBrowser(t)
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	h := newHook(t)
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("basic_auth_users:\n  ann: %s\n", hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	clientCfg := filepath.Join(dir, "client.yml")
	if err := os.WriteFile(clientCfg, []byte("basic_auth:\n  username: ann\n  password: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(strings.Replace(routerConfig, "  sd_url: %s\n", "", 1), x.srv.URL, h.srv.URL))
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	router := "http://" + addr
	start(t, filepath.Join(binaries(t), "vigie_router"), "--config.file="+cfg, "--storage.path="+t.TempDir(),
		"--web.listen-address="+addr, "--web.config.file="+webCfg)
	testenv.WaitForPort(t, addr, 20*time.Second)

	// The browser sends the credentials with every request, the live
	// stream and the forms included.
	w.cdp("Network.enable", map[string]any{})
	w.cdp("Network.setExtraHTTPHeaders", map[string]any{"headers": map[string]string{
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ann:s3cret"))}})
	w.open(router + "/")
	w.mustFind("#summary")
	w.waitText("#live", "live")
	t.Cleanup(func() {
		if t.Failed() {
			saveScreenshot(t, w, "status-page-failure.png")
		}
	})

	// Changes arrive without a reload: a marker set in the page survives.
	w.exec("window.vigieMarker = 42; return null;", nil)
	noReload := func(what string) {
		t.Helper()
		var marker float64
		w.exec("return window.vigieMarker || 0;", &marker)
		if marker != 42 {
			t.Fatalf("the page was reloaded: %s did not apply in place", what)
		}
	}
	sil := strings.TrimSpace(runCLI(t, "silence", "add", "--router.url="+router, "--http.config.file="+clientCfg,
		`instance="https://other.example"`, "--comment=added from the CLI", "--author=bob"))
	w.waitText("#silences", "added from the CLI")
	w.waitText("#count-silences", "1")
	noReload("a silence added with the CLI")

	// The form creates a silence the API sees.
	w.typeInto("#matchers", `instance="https://shop.example", module="http_2xx"`)
	w.typeInto("#comment", "investigating, from Chromium")
	w.click("#silence-submit")
	w.waitText("#flash", "created")
	w.waitText("#silences", "investigating, from Chromium")
	hc := cliHTTPClient(t, clientCfg)
	c, _ := api.NewClient(router, hc)
	list, err := c.Silences(t.Context(), []string{`instance="https://shop.example"`})
	if err != nil || len(list) != 1 || list[0].Comment != "investigating, from Chromium" || list[0].CreatedBy != "ann" || list[0].Status.State != "active" {
		t.Fatalf("silence made with the form, seen by the API: %+v, %v", list, err)
	}

	// Expire the CLI's silence with its button.
	w.click(fmt.Sprintf("tr[data-silence=%q] button.expire", sil))
	w.waitText("#flash", "expired")
	if got, err := c.Silence(t.Context(), sil); err != nil || got.Status.State != "expired" {
		t.Errorf("after the expire button: %+v, %v", got, err)
	}

	// A check going DOWN appears without a reload, with its reason.
	w.waitText("#count-up", "1")
	w.exec("window.vigieMarker = 42; return null;", nil)
	x.setUp(false)
	w.waitText("#problems", "https://shop.example")
	w.waitText("#problems", "HTTP status 503 not in 2xx")
	w.waitText("#count-down", "1")
	noReload("a check going DOWN")
	var title string
	w.exec("return document.title;", &title)
	if title != "1 down · vigie router" {
		t.Errorf("title %q", title)
	}
	// "Silence…" on the DOWN check fills the form with its matchers.
	w.click("#problems a[href*='silence=']")
	w.mustFind("#silence-form")
	var matchers string
	w.exec("return document.getElementById('matchers').value;", &matchers)
	if matchers != `instance="https://shop.example", module="http_2xx"` {
		t.Errorf("form prefilled with %q", matchers)
	}
	saveScreenshot(t, w, "status-page.png")
}

// saveScreenshot saves the browser's page as PNG in $VIGIE_ARTIFACTS (else
// the test's temporary directory) and logs where.
func saveScreenshot(t *testing.T, w *webDriver, name string) {
	t.Helper()
	w.exec("window.scrollTo(0, 0); return null;", nil)
	png := w.screenshot()
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	dir := os.Getenv("VIGIE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the status page: %s (%d bytes)", path, len(png))
}

func cliHTTPClient(t *testing.T, file string) *http.Client {
	t.Helper()
	hc, err := cli.HTTPClient(file)
	if err != nil {
		t.Fatal(err)
	}
	return hc
}
