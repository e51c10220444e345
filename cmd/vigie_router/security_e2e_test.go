package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vigie-monitoring/vigie/alertrouter/api"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// authSetup writes a --web.config.file with basic auth user ann:s3cret and
// the matching client file for amtool and the CLI.
func authSetup(t *testing.T) (webCfg, clientCfg string) {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg = filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("basic_auth_users:\n  ann: %s\n", hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	clientCfg = filepath.Join(dir, "client.yml")
	if err := os.WriteFile(clientCfg, []byte("basic_auth:\n  username: ann\n  password: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return webCfg, clientCfg
}

// startRouterFlags starts vigie_router with extra flags on a free port and
// waits until it listens.
func startRouterFlags(t *testing.T, cfg string, flags ...string) (*process, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := start(t, filepath.Join(binaries(t), "vigie_router"), append([]string{"--config.file=" + cfg, "--storage.path=" + t.TempDir(),
		"--web.listen-address=" + addr}, flags...)...)
	testenv.WaitForPort(t, addr, 20*time.Second)
	return p, "http://" + addr
}

// startExporter starts the real vigie_exporter on a configuration file
// the test may rewrite; it returns its URL and the file.
func startExporter(t *testing.T, flags ...string) (string, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "vigie.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  http_2xx: {prober: http, timeout: 5s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	start(t, filepath.Join(binaries(t), "vigie_exporter"), append([]string{"--config.file=" + cfg, "--web.listen-address=" + addr}, flags...)...)
	testenv.WaitForPort(t, addr, 20*time.Second)
	return "http://" + addr, cfg
}

// request sends one request, with basic auth when auth, and returns its
// status and body.
func request(t *testing.T, method, url, contentType, body string, auth bool, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
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
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricAuth is metric() behind basic auth.
func metricAuth(t *testing.T, base, series string) float64 {
	t.Helper()
	code, body := request(t, "GET", base+"/metrics", "", "", true, nil)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			_, _ = fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

// silenceJSON is a silence matching every alert, as a cross-site form
// would smuggle it (a text/plain form's body is name=value).
const silenceJSON = `{"matchers":[{"name":"alertname","value":".+","isRegex":true}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"evil","comment":"x","z":"="}`

// TestCrossSiteWritesRefused: with basic auth on and the browser logged in,
// a request a web page of another site makes the browser send (it says so
// with Sec-Fetch-Site, or, in older browsers, Origin) is refused on every
// state-changing endpoint of both binaries; curl, amtool and the page's own
// forms keep working.
func TestCrossSiteWritesRefused(t *testing.T) {
	webCfg, clientCfg := authSetup(t)
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	h := newHook(t) // a receiver whose "Send test" an attacker would press
	cfg := writeConfig(t, fmt.Sprintf("exporter:\n  url: %s\nchecks:\n  interval: 1s\n  timeout: 1s\nreceivers:\n  - name: hook\n    webhook_configs: [{url: %q}]\n", x.srv.URL, h.srv.URL))
	_, router := startRouterFlags(t, cfg, "--web.config.file="+webCfg)
	exporter, exporterCfg := startExporter(t, "--web.config.file="+webCfg)

	id := strings.TrimSpace(amtool(t, router, "--http.config.file="+clientCfg, "silence", "add", "job=legit", "--comment=c", "--author=ann"))
	_, page := request(t, "GET", router+"/", "", "", true, nil)
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(page)
	if token == nil {
		t.Fatal("no token in the page")
	}
	reloadedAt := metricAuth(t, router, "vigie_router_config_last_reload_success_timestamp_seconds")
	// A reload of the exporter would show this module.
	if err := os.WriteFile(exporterCfg, []byte("modules:\n  http_2xx: {prober: http, timeout: 5s}\n  reloaded_by_attacker: {prober: tcp}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	form := "token=" + token[1] + "&matchers=alertname%3D~%22.%2B%22&duration=100d&author=evil&comment=x"
	attacks := []struct{ method, url, contentType, body string }{
		{"POST", router + "/api/v2/silences", "text/plain", silenceJSON},
		{"POST", router + "/api/v2/silences", "application/json", silenceJSON}, // a page could only send this with CORS; refused anyway
		{"POST", router + "/api/v2/alerts", "text/plain", `[{"labels":{"alertname":"Injected"}}]`},
		{"DELETE", router + "/api/v2/silence/" + id, "", ""},
		{"POST", router + "/-/reload", "application/x-www-form-urlencoded", ""},
		{"POST", router + "/silences", "application/x-www-form-urlencoded", form},
		{"POST", router + "/silences/" + id + "/expire", "application/x-www-form-urlencoded", "token=" + token[1]},
		{"POST", router + "/receivers/hook/test", "application/x-www-form-urlencoded", "token=" + token[1]},
		{"POST", exporter + "/-/reload", "application/x-www-form-urlencoded", ""},
	}
	browsers := []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Origin": "http://127.0.0.2:8080"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, // another port of the same host is another origin
		{"Origin": "http://evil.example"},                               // a browser without fetch metadata
	}
	for _, b := range browsers {
		for _, a := range attacks {
			if code, body := request(t, a.method, a.url, a.contentType, a.body, true, b); code != http.StatusForbidden || !strings.Contains(body, "cross-site") {
				t.Errorf("%s %s from %v: %d %s, want 403", a.method, a.url, b, code, body)
			}
		}
	}
	// Nothing changed.
	hc := cliHTTPClient(t, clientCfg)
	c, _ := api.NewClient(router, hc)
	sils, err := c.Silences(t.Context(), nil)
	if err != nil || len(sils) != 1 || sils[0].ID != id || sils[0].Status.State != "active" {
		t.Errorf("silences after the attacks: %+v %v", sils, err)
	}
	if _, body := request(t, "GET", router+"/api/v2/alerts", "", "", true, nil); body != "[]\n" {
		t.Errorf("alerts after the attacks: %s", body)
	}
	if v := metricAuth(t, router, "vigie_router_config_last_reload_success_timestamp_seconds"); v != reloadedAt {
		t.Error("the router reloaded its configuration")
	}
	if _, body := request(t, "GET", exporter+"/config", "", "", true, nil); strings.Contains(body, "reloaded_by_attacker") {
		t.Error("the exporter reloaded its configuration")
	}
	if n := h.count(); n != 0 {
		t.Errorf("%d test notifications sent by cross-site requests", n)
	}
	if v := metricAuth(t, router, "vigie_router_http_cross_origin_refused_total"); v != 24 {
		t.Errorf("router: %v cross-origin refusals counted, want 24", v)
	}
	if v := metricAuth(t, exporter, "vigie_exporter_http_cross_origin_refused_total"); v != 3 {
		t.Errorf("exporter: %v cross-origin refusals counted, want 3", v)
	}
	// Not JSON, even from a non-browser: 415.
	if code, body := request(t, "POST", router+"/api/v2/alerts", "application/x-www-form-urlencoded", `[{"labels":{"alertname":"A"}}]`, true, nil); code != 415 {
		t.Errorf("form-encoded alerts without browser headers: %d %s", code, body)
	}

	// What must keep working: curl, amtool, the page's own form.
	curl := testenv.Binary(t, "curl", "/usr/bin/curl")
	runCurl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(curl, append([]string{"-sS", "-u", "ann:s3cret", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if code := runCurl("-X", "POST", exporter+"/-/reload"); code != "200" {
		t.Errorf("curl -X POST exporter /-/reload: %s", code)
	}
	if _, body := request(t, "GET", exporter+"/config", "", "", true, nil); !strings.Contains(body, "reloaded_by_attacker") {
		t.Error("curl did not reload the exporter")
	}
	if code := runCurl("-X", "POST", router+"/-/reload"); code != "200" {
		t.Errorf("curl -X POST router /-/reload: %s", code)
	}
	if code := runCurl("-H", "Content-Type: application/json", "-d", `[{"labels":{"alertname":"FromCurl"}}]`, router+"/api/v2/alerts"); code != "200" {
		t.Errorf("curl POST alerts: %s", code)
	}
	amtool(t, router, "--http.config.file="+clientCfg, "alert", "add", "alertname=FromAmtool")
	if out := amtool(t, router, "--http.config.file="+clientCfg, "alert", "query"); !strings.Contains(out, "FromCurl") || !strings.Contains(out, "FromAmtool") {
		t.Errorf("amtool alert query:\n%s", out)
	}
	amtool(t, router, "--http.config.file="+clientCfg, "silence", "expire", id)
	code, body := request(t, "POST", router+"/silences", "application/x-www-form-urlencoded",
		"token="+token[1]+"&matchers=job%3D%22web%22&duration=1h&author=ann&comment=from+the+page", true,
		map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": router})
	if code != http.StatusSeeOther {
		t.Errorf("the page's own form: %d %s", code, body)
	}
	if out := amtool(t, router, "--http.config.file="+clientCfg, "silence", "query"); !strings.Contains(out, "from the page") || strings.Contains(out, id) {
		t.Errorf("amtool silence query after expire and the page's form:\n%s", out)
	}
	// The page's own "Send test" button.
	code, body = request(t, "POST", router+"/receivers/hook/test", "application/x-www-form-urlencoded", "token="+token[1], true,
		map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": router})
	if code != http.StatusSeeOther {
		t.Errorf("the page's Send test: %d %s", code, body)
	}
	if m := h.next(t, "test notification"); m.Receiver != "hook" || len(m.Alerts) != 0 {
		t.Errorf("test notification: %+v", m)
	}
}

// TestCrossSiteAttackInChromium: a real browser, logged in to both
// binaries (basic auth), opens a page of another site (127.0.0.2) that
// tries what a hostile page can: a text/plain form carrying a silence, a
// no-cors fetch posting alerts, forms posting /-/reload to the router and
// the exporter and pressing a receiver's "Send test". None of it has any
// effect.
func TestCrossSiteAttackInChromium(t *testing.T) {
	w := newBrowser(t)
	webCfg, _ := authSetup(t)
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	h := newHook(t) // a receiver whose "Send test" an attacker would press
	cfg := writeConfig(t, fmt.Sprintf("exporter:\n  url: %s\nchecks:\n  interval: 1s\n  timeout: 1s\nreceivers:\n  - name: hook\n    webhook_configs: [{url: %q}]\n", x.srv.URL, h.srv.URL))
	_, router := startRouterFlags(t, cfg, "--web.config.file="+webCfg)
	exporter, exporterCfg := startExporter(t, "--web.config.file="+webCfg)
	reloadedAt := metricAuth(t, router, "vigie_router_config_last_reload_success_timestamp_seconds")
	if err := os.WriteFile(exporterCfg, []byte("modules:\n  http_2xx: {prober: http, timeout: 5s}\n  reloaded_by_attacker: {prober: tcp}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The hostile site, on another loopback address.
	name, value, _ := strings.Cut(silenceJSON, `"z":"`)
	name += `"z":"`
	evil := fmt.Sprintf(`<!DOCTYPE html><html><head><title>loading</title></head><body>
<form id="silence" target="sink1" method="post" action="%[1]s/api/v2/silences" enctype="text/plain"><input type="hidden" name='%[3]s' value='%[4]s'></form>
<form id="reload" target="sink2" method="post" action="%[1]s/-/reload"></form>
<form id="xreload" target="sink3" method="post" action="%[2]s/-/reload"></form>
<form id="sendtest" target="sink4" method="post" action="%[1]s/receivers/hook/test"><input type="hidden" name="token" value="guess"></form>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe><iframe name="sink3"></iframe><iframe name="sink4"></iframe>
<script>
function submitted(form, frame) {
  return new Promise(function (done) {
    var f = document.getElementsByName(frame)[0];
    f.onload = done;
    setTimeout(done, 10000);
    document.getElementById(form).submit();
  });
}
(async function () {
  try {
    await fetch(%[5]q, {method: "POST", mode: "no-cors", credentials: "include",
      headers: {"Content-Type": "text/plain"}, body: '[{"labels":{"alertname":"Injected"}}]'});
  } catch (e) {}
  await submitted("silence", "sink1");
  await submitted("reload", "sink2");
  await submitted("xreload", "sink3");
  await submitted("sendtest", "sink4");
  document.title = "done";
})();
</script></body></html>`, router, exporter, name, strings.TrimPrefix(value, "="), router+"/api/v2/alerts")
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	evilSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, evil)
	})}
	go func() { _ = evilSrv.Serve(l) }()
	t.Cleanup(func() { evilSrv.Close() })

	// Logged in: the browser sends the credentials with every request.
	w.cdp("Network.enable", map[string]any{})
	w.cdp("Network.setExtraHTTPHeaders", map[string]any{"headers": map[string]string{
		"Authorization": "Basic " + "YW5uOnMzY3JldA=="}}) // ann:s3cret
	w.open("http://" + l.Addr().String() + "/")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var title string
		w.exec("return document.title;", &title)
		if title == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hostile page did not finish: title %q", title)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, body := request(t, "GET", router+"/api/v2/silences", "", "", true, nil); body != "[]\n" {
		t.Errorf("silences after the attack: %s", body)
	}
	if _, body := request(t, "GET", router+"/api/v2/alerts", "", "", true, nil); body != "[]\n" {
		t.Errorf("alerts after the attack: %s", body)
	}
	if v := metricAuth(t, router, "vigie_router_config_last_reload_success_timestamp_seconds"); v != reloadedAt {
		t.Error("the router reloaded its configuration")
	}
	if _, body := request(t, "GET", exporter+"/config", "", "", true, nil); strings.Contains(body, "reloaded_by_attacker") {
		t.Error("the exporter reloaded its configuration")
	}
	if v := metricAuth(t, router, "vigie_router_http_cross_origin_refused_total"); v != 4 {
		t.Errorf("router: %v cross-origin refusals, want 4 (fetch, silence form, reload form, Send test)", v)
	}
	if n := h.count(); n != 0 {
		t.Errorf("%d test notifications sent by the hostile page", n)
	}
	if v := metricAuth(t, exporter, "vigie_exporter_http_cross_origin_refused_total"); v != 1 {
		t.Errorf("exporter: %v cross-origin refusals, want 1", v)
	}
}

// vmHWM is a process's peak resident memory, in bytes (Linux).
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			_, _ = fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// sseClient reads a live update stream, remembering its largest line and
// whether a line contained a marker.
type sseClient struct {
	mu      sync.Mutex
	largest int
	marker  string
	seen    bool
}

func openEvents(t *testing.T, router, marker string) *sseClient {
	t.Helper()
	resp, err := http.Get(router + "/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	c := &sseClient{marker: marker}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.largest = max(c.largest, len(line))
			c.seen = c.seen || strings.Contains(line, c.marker)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *sseClient) state() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.largest, c.seen
}

// TestHostileClientsStayBounded posts, with the default limits, what took
// the router from 21 MiB to 414 MiB (alerts with 1 MiB labels), a silence
// with a 30 MiB comment and thousands of alerts and silences, with three
// live clients watching: each is refused with a 4xx naming its limit and
// counted, and memory, the page and the live updates stay small.
func TestHostileClientsStayBounded(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	cfg := writeConfig(t, fmt.Sprintf("exporter:\n  url: %s\nchecks:\n  interval: 1s\n  timeout: 1s\n", x.srv.URL))
	p, router := startRouterFlags(t, cfg)
	var clients []*sseClient
	for range 3 {
		clients = append(clients, openEvents(t, router, "and 1900 more, not listed"))
	}
	post := func(path, body string) (int, string) {
		t.Helper()
		return request(t, "POST", router+path, "application/json", body, false, nil)
	}
	alerts := func(from, n, labelBytes int) string {
		var b strings.Builder
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"labels":{"alertname":"Hostile%d","big":%q},"annotations":{"summary":"s"}}`, from+i, strings.Repeat("x", labelBytes))
		}
		b.WriteString("]")
		return b.String()
	}

	mem := func(what string) int64 {
		hwm := vmHWM(t, p.cmd.Process.Pid)
		t.Logf("%s: peak RSS %d MiB, heap in use %.0f MiB", what, hwm>>20, metric(t, router, "go_memstats_heap_inuse_bytes")/(1<<20))
		return hwm
	}
	mem("start")
	// The payload: 4 requests of 30 alerts with 1 MiB labels.
	for i := range 4 {
		if code, body := post("/api/v2/alerts", alerts(i*30, 30, 1<<20)); code != 413 || !strings.Contains(body, "--web.max-request-bytes") {
			t.Fatalf("30 alerts of 1 MiB: %d %.200s", code, body)
		}
	}
	// Each request was refused after reading 4 MiB (the issue: 414 MiB).
	if hwm := mem("after the alerts of 1 MiB"); hwm > 100<<20 {
		t.Errorf("peak RSS %d MiB after refusing the alerts of 1 MiB", hwm>>20)
	}
	// Within the body limit, each alert too large: 400 naming the limit.
	if code, body := post("/api/v2/alerts", alerts(0, 30, 100<<10)); code != 400 || !strings.Contains(body, "--alerts.max-alert-size-bytes=8192") || len(body) > 20<<10 {
		t.Errorf("30 alerts of 100 KiB: %d, %d bytes: %.300s", code, len(body), body)
	}
	// Too many in one request.
	if code, body := post("/api/v2/alerts", alerts(0, 1001, 10)); code != 413 || !strings.Contains(body, "--alerts.max-alerts-per-request=1000") {
		t.Errorf("1001 alerts: %d %.300s", code, body)
	}
	// As many as allowed, nearly of the largest allowed size (in requests
	// within the body limit), then more.
	for i := range 50 {
		if code, body := post("/api/v2/alerts", alerts(i*200, 200, 8000)); code != 200 {
			t.Fatalf("batch %d of 200 alerts of 16 KB: %d %.300s", i, code, body)
		}
	}
	mem("after 10,000 alerts of 8 KB")
	if code, body := post("/api/v2/alerts", alerts(10000, 10, 10)); code != 400 || !strings.Contains(body, "--alerts.max-alerts=10000") {
		t.Errorf("alert 10001: %d %.300s", code, body)
	}
	// Silences: 30 MiB comment, 5 KB comment, and more than the limit.
	sil := func(comment string) string {
		return fmt.Sprintf(`{"matchers":[{"name":"job","value":"x"}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":%q}`, comment)
	}
	if code, body := post("/api/v2/silences", sil(strings.Repeat("c", 30<<20))); code != 413 || !strings.Contains(body, "--web.max-request-bytes") {
		t.Errorf("30 MiB comment: %d %.300s", code, body)
	}
	if code, body := post("/api/v2/silences", sil(strings.Repeat("c", 5000))); code != 400 || !strings.Contains(body, "--silences.max-comment-bytes=4096") {
		t.Errorf("5000-byte comment: %d %.300s", code, body)
	}
	for i := range 2000 {
		if code, body := post("/api/v2/silences", sil(fmt.Sprintf("%d %s", i, strings.Repeat("c", 4000)))); code != 200 {
			t.Fatalf("silence %d: %d %.300s", i, code, body)
		}
	}
	mem("after 2,000 silences of 4 KB")
	if code, body := post("/api/v2/silences", sil("one too many")); code != 400 || !strings.Contains(body, "--silences.max-silences=2000") {
		t.Errorf("silence 2001: %d %.300s", code, body)
	}

	for limit, want := range map[string]float64{"web.max-request-bytes": 5, "alerts.max-alert-size-bytes": 30, "alerts.max-alerts-per-request": 1,
		"alerts.max-alerts": 10, "silences.max-comment-bytes": 1, "silences.max-silences": 1} {
		if v := metric(t, router, fmt.Sprintf(`vigie_router_limit_refused_total{limit=%q}`, limit)); v != want {
			t.Errorf("refusals of %s: %v, want %v", limit, v, want)
		}
	}
	_, page := getBody(t, router+"/")
	if !strings.Contains(page, "10000 alerts, first 100 shown") || !strings.Contains(page, "and 1900 more, not listed") || len(page) > 512<<10 {
		t.Errorf("status page: %d bytes", len(page))
	}
	// The live clients see the new state, in events that stay small.
	waitFor(t, "the live clients' updates", func() bool {
		for _, c := range clients {
			if _, seen := c.state(); !seen {
				return false
			}
		}
		return true
	})
	largest := 0
	for i, c := range clients {
		n, _ := c.state()
		largest = max(largest, n)
		if n > 512<<10 {
			t.Errorf("live client %d: an event of %d bytes", i, n)
		}
	}
	t.Logf("status page %d KiB, largest live update %d KiB", len(page)>>10, largest>>10)
	// 10,000 alerts of 8 KB (80 MB of labels, kept in memory and in the
	// store) and 2,000 silences of 4 KB are the most the default limits
	// let clients make the router keep.
	if hwm := mem("end"); hwm > 450<<20 {
		t.Errorf("router peak RSS %d MiB", hwm>>20)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in time", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerTimeouts: a slow request body and an idle kept-alive connection
// are cut after --web.read-timeout and --web.idle-timeout, while a live
// update stream outlives every timeout and still delivers.
func TestServerTimeouts(t *testing.T) {
	x := newFakeExporter(t, "https://shop.example")
	x.setUp(true)
	cfg := writeConfig(t, fmt.Sprintf("exporter:\n  url: %s\nchecks:\n  interval: 1s\n  timeout: 1s\n", x.srv.URL))
	_, router := startRouterFlags(t, cfg, "--web.read-timeout=1s", "--web.write-timeout=1s", "--web.idle-timeout=1s")
	addr := strings.TrimPrefix(router, "http://")
	stream := openEventsLines(t, router)

	cutAfter := func(what string, talk func(c net.Conn)) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				talk(c)
			}
		}()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		// A close with our unread bytes in the router's buffer is a reset
		// (RFC 1122 4.2.2.13): closed all the same. Only the deadline means
		// the router kept the connection.
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: the router did not close the connection: %v", what, err)
		}
	}
	// A body sent a byte every 100 ms.
	first := true
	cutAfter("slow body", func(c net.Conn) {
		if first {
			fmt.Fprintf(c, "POST /api/v2/alerts HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", addr)
			first = false
		}
		_, _ = c.Write([]byte(" "))
	})
	// A connection kept alive after one request.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /-/healthy HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}

	// The stream has lasted several timeouts; a change still arrives.
	time.Sleep(3 * time.Second)
	if code, body := request(t, "POST", router+"/api/v2/silences", "application/json",
		`{"matchers":[{"name":"job","value":"late"}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"after the timeouts"}`, false, nil); code != 200 {
		t.Fatalf("silence: %d %s", code, body)
	}
	select {
	case <-stream.saw("after the timeouts"):
	case <-time.After(30 * time.Second):
		t.Error("the live stream did not deliver a change made after the timeouts")
	}
}

// linesClient follows a live update stream line by line.
type linesClient struct {
	lines chan string
}

func openEventsLines(t *testing.T, router string) *linesClient {
	t.Helper()
	resp, err := http.Get(router + "/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	c := &linesClient{lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// saw is closed when a line containing s arrives.
func (c *linesClient) saw(s string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for line := range c.lines {
			if strings.Contains(line, s) {
				close(done)
				return
			}
		}
	}()
	return done
}
